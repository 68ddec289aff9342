"""Timestamp offsets: epoch seconds, epoch milliseconds or ISO-8601, to microseconds and back.

A position goes back to the API in the API's own format: an ISO-8601 position is written in
the style of a value the API gave (its fraction digits, `T` or space, `Z`, `+0000` or
`+00:00`), or as a `timestampFormat` pattern spells it out (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`).
It is never written with more fraction digits than it needs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone

_MICROS = {"seconds": 1_000_000, "millis": 1_000}
#: `+0000` / `-0530` at the end: Python before 3.11 parses only `+00:00`.
_COMPACT_ZONE = re.compile(r"([+-])(\d\d)(\d\d)$")
_ISO = re.compile(
    r"^\d{4}-\d\d-\d\d(?P<sep>[T ])\d\d:\d\d(:\d\d)?(?:[.,](?P<fraction>\d+))?"
    r"(?P<zone>Z|z|[+-]\d\d:?\d\d)?$"
)
#: Tokens of a `timestampFormat` pattern (Java's `DateTimeFormatter` letters Spark users know).
_PATTERN_TOKEN = re.compile(r"'[^']*'|y+|M+|d+|H+|m+|s+|S+|X+|Z+|.", re.DOTALL)


def is_pattern(timestamp_format: str) -> bool:
    """Whether `timestampFormat` is a pattern (it holds `yyyy`) rather than a named format."""
    return "yyyy" in timestamp_format


def parse_timestamp(value: object, timestamp_format: str) -> int:
    """Microseconds since the epoch of `value` in `timestamp_format`; ValueError if not one.

    >>> parse_timestamp("2026-01-01T00:00:00.000+0000", "iso8601")
    1767225600000000
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if timestamp_format in _MICROS:
        number = float(value) if isinstance(value, (int, float, str)) else float("nan")
        if number != number:
            raise ValueError(f"not a timestamp: {value!r}")
        return round(number * _MICROS[timestamp_format])
    if not isinstance(value, str):
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    text = value.strip()
    if text in ("", "0"):
        return 0
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = _COMPACT_ZONE.sub(r"\1\2:\3", text)
    match = re.search(r"[.,](\d{7,})", text)  # more than microseconds: keep microseconds
    if match:
        text = text[: match.start(1)] + match.group(1)[:6] + text[match.end(1) :]
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True)
class IsoStyle:
    """How an API writes ISO-8601 times: fraction digits, date/time separator, zone suffix.

    >>> style = IsoStyle.of("2026-01-01T00:00:00.000+0000")
    >>> style.render(1767225600_250000)
    '2026-01-01T00:00:00.250+0000'
    >>> IsoStyle.of("2026-01-01T00:00:00Z").render(1767225600_250000)
    '2026-01-01T00:00:00.25Z'
    """

    digits: int = 0
    separator: str = "T"
    zone: str = "Z"

    @classmethod
    def of(cls, example: object) -> IsoStyle:
        """The style of `example`, or the default (`Z`, as few digits as needed) when it is
        not an ISO-8601 string."""
        match = _ISO.match(example.strip()) if isinstance(example, str) else None
        if match is None:
            return cls()
        zone = match.group("zone") or ""
        zone = "Z" if zone in ("Z", "z") else ("+00:00" if ":" in zone else "+0000" if zone else "")
        return cls(len(match.group("fraction") or ""), match.group("sep"), zone)

    def render(self, micros: int) -> str:
        moment = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
        moment = moment.replace(microsecond=micros % 1_000_000)
        text = moment.strftime(f"%Y-%m-%d{self.separator}%H:%M:%S")
        needed = len(f"{micros % 1_000_000:06d}".rstrip("0"))
        digits = max(self.digits, needed)
        if digits:
            text += "." + f"{micros % 1_000_000:06d}"[:digits].ljust(digits, "0")
        return text + self.zone


def render_pattern(micros: int, pattern: str) -> str:
    """`micros` (UTC) written as a `timestampFormat` pattern: `yyyy MM dd HH mm ss`, `S…` for
    fraction digits, `X`/`XXX` (`Z` at UTC), `Z` (`+0000`), `'quoted'` text.

    >>> render_pattern(1767225600_250000, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
    '2026-01-01T00:00:00.250Z'
    """
    moment = datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc)
    fields = {
        "y": f"{moment.year:04d}",
        "M": f"{moment.month:02d}",
        "d": f"{moment.day:02d}",
        "H": f"{moment.hour:02d}",
        "m": f"{moment.minute:02d}",
        "s": f"{moment.second:02d}",
    }
    out = []
    for token in _PATTERN_TOKEN.findall(pattern):
        head = token[0]
        if head == "'":
            out.append(token[1:-1] or "'")
        elif head in fields:
            out.append(fields[head])
        elif head == "S":
            out.append(f"{micros % 1_000_000:06d}"[: len(token)].ljust(len(token), "0"))
        elif head == "X":
            out.append("Z")
        elif head == "Z":
            out.append("+0000" if len(token) < 4 else "Z" if len(token) == 5 else "GMT")
        else:
            out.append(token)
    return "".join(out)


def format_timestamp(micros: int, timestamp_format: str, like: object = None) -> int | float | str:
    """`micros` in `timestamp_format`: a number for epoch formats (an int when whole, so
    a fractional position is never floored back before records already read); for ISO-8601
    the style of `like` (a value the API gave), else `Z` with as few digits as needed; a
    pattern as it spells out."""
    if timestamp_format in _MICROS:
        unit = _MICROS[timestamp_format]
        return micros // unit if micros % unit == 0 else micros / unit
    if is_pattern(timestamp_format):
        return render_pattern(micros, timestamp_format)
    return IsoStyle.of(like).render(micros)


def now_micros() -> int:
    """The clock, in microseconds since the epoch."""
    return time.time_ns() // 1_000
