"""Timestamp offsets: epoch seconds, epoch milliseconds or ISO-8601, to microseconds and back."""

from __future__ import annotations

import time
from datetime import datetime, timezone

_MICROS = {"seconds": 1_000_000, "millis": 1_000}


def parse_timestamp(value: object, timestamp_format: str) -> int:
    """Microseconds since the epoch of `value` in `timestamp_format`; ValueError if not one."""
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
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_timestamp(micros: int, timestamp_format: str) -> int | float | str:
    """`micros` in `timestamp_format`: a number for epoch formats (an int when whole, so
    a fractional position is never floored back before records already read), a UTC
    ISO-8601 string else."""
    if timestamp_format in _MICROS:
        unit = _MICROS[timestamp_format]
        return micros // unit if micros % unit == 0 else micros / unit
    moment = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
    if micros % 1_000_000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_micros() -> int:
    """The clock, in microseconds since the epoch."""
    return time.time_ns() // 1_000
