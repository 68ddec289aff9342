"""`lookbackSeconds`: a `timestamp` range that reads the last seconds before its position
again at every poll, and delivers only the record versions it has not delivered before.

Terms:

- a *record version* is a record's key (`primaryKeyPath`) at its timestamp
  (`recordOffsetPath`); the same key with a newer timestamp (an update) is another version;
- its *digest* is 8 bytes of BLAKE2b over the key (canonical JSON) and the timestamp in
  microseconds;
- a stream's *window* is a timestamp `from` and the digests of the versions the stream
  delivered with a timestamp after `from`, grouped by the `every` seconds their timestamp
  falls in (about a sixtieth of `lookbackSeconds`, from 1 to 60 seconds).

With its position `P` and window `(W, D)`, a stream has delivered every version it read up to
`W`, and exactly the versions listed in `D` after `W`. The offset keeps each window beside the
positions (`planner.WINDOW`):

    {"streams": {"{}": 1700003600},
     "window": {"{}": {"every": 60, "from": 1700000000,
                       "seen": {"1700000040": "q83vASNFZ4k=...", ...}}}}

A batch from `(P_s, W_s, D_s)` to `(P_e, W_e, D_e)` reads `(W_s, P_e]` and delivers a version
with digest `d` and timestamp `t` when `d` is not in `D_s`, and `t <= W_e` or `d` is in `D_e`.
Both sets are in the offsets Spark logged, so a replay delivers the same versions: one that
appeared after the batch was planned, past `W_e`, is not in `D_e` and waits for the next
batch, which reads from `W_e` on. The driver plans `(P_e, W_e, D_e)` by reading the window
`(W_e, P_e]` (`W_e = P_e - lookbackSeconds`, never before `W_s`); `D_e` is `D_s` without the
digests at or before `W_e`, and every digest read after it.

A record is read again for `lookbackSeconds` after the position passes its timestamp, so one
that appears up to `lookbackSeconds` (plus `timestampLagSeconds`) after its timestamp is
delivered, once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from rest_stream.decoders.arrow_json import select
from rest_stream.decoders.jsonpath import compile_path
from rest_stream.errors import RestOffsetError
from rest_stream.options.parse import RestOptions
from rest_stream.positions.base import Fetcher, SourcedRecords
from rest_stream.positions.times import TimestampRange

log = logging.getLogger("rest_stream.positions")

#: Bytes of a version's digest.
DIGEST_BYTES = 8
_SECOND = 1_000_000
#: The keys of a window in the offset.
FROM, SEEN, EVERY = "from", "seen", "every"
#: The most seconds a group of digests spans.
MAX_EVERY = 60


def group_seconds(lookback: float) -> int:
    """How many seconds of timestamps a window groups together for `lookbackSeconds`: about
    a sixtieth of it, so a window keeps at most ~2% more than it must, from 1 to 60.

    >>> group_seconds(30), group_seconds(600), group_seconds(86_400)
    (1, 10, 60)
    """
    return max(1, min(MAX_EVERY, int(lookback // 60)))


def digest(key: Any, micros: int) -> bytes:
    """The digest of a record version: its key (as canonical JSON) at a timestamp.

    >>> digest(7, 1_700_000_000_000_000).hex()
    '9c25692572d694a3'
    >>> digest(7, 1_700_000_001_000_000) != digest(7, 1_700_000_000_000_000)
    True
    """
    text = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    data = f"{text}\x00{micros}".encode()
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest()


def _split(blob: bytes) -> Iterator[bytes]:
    return (blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES))


@dataclass(frozen=True)
class Window:
    """Where a stream's window starts (`start`, microseconds) and the digests it delivered
    after that, grouped by the `every` seconds their timestamp falls in (the group's first
    second → its sorted digests, joined)."""

    start: int
    buckets: Mapping[int, bytes] = field(default_factory=dict)
    every: int = 1

    def _last(self, group: int) -> int:
        """The last microsecond of the group that starts at second `group`."""
        return (group + self.every) * _SECOND - 1

    @property
    def count(self) -> int:
        """How many versions the window lists."""
        return sum(len(blob) for blob in self.buckets.values()) // DIGEST_BYTES

    def digests(self) -> set[bytes]:
        return {d for blob in self.buckets.values() for d in _split(blob)}

    def within(self, lo: int, hi: int) -> bytes:
        """The digests of the groups that overlap `(lo, hi]`, joined."""
        return b"".join(
            blob
            for group, blob in sorted(self.buckets.items())
            if group * _SECOND <= hi and self._last(group) > lo
        )

    def advanced(self, start: int, found: Mapping[bytes, int]) -> Window:
        """The window from `start` on: the groups that may still hold a timestamp after it,
        and the `found` digests (digest → timestamp) after it.

        >>> w = Window(0).advanced(0, {b"a" * 8: 1_500_000, b"b" * 8: 3_000_000})
        >>> sorted(w.buckets), w.advanced(2_000_000, {}).count
        ([1, 3], 1)
        """
        grouped: dict[int, set[bytes]] = {}
        for group, blob in self.buckets.items():
            if self._last(group) > start:
                grouped.setdefault(group, set()).update(_split(blob))
        for item, micros in found.items():
            if micros > start:
                second = micros // _SECOND
                grouped.setdefault(second - second % self.every, set()).add(item)
        buckets = {g: b"".join(sorted(grouped[g])) for g in sorted(grouped)}
        return Window(start, buckets, self.every)

    def to_offset(self, native_start: Any) -> dict[str, Any]:
        """The window as the offset keeps it (`native_start`: `start` in the position's
        format)."""
        seen = {str(g): base64.b64encode(blob).decode() for g, blob in self.buckets.items()}
        return {EVERY: self.every, FROM: native_start, SEEN: dict(sorted(seen.items()))}

    @classmethod
    def from_offset(cls, value: Mapping[str, Any], start: int) -> Window:
        """A window the offset kept (`start`: its `from` in microseconds)."""
        seen = value.get(SEEN) or {}
        buckets = {int(g): base64.b64decode(blob) for g, blob in seen.items()}
        return cls(start, buckets, int(value.get(EVERY) or 1))


@dataclass(frozen=True)
class Dedup:
    """What a sub-range of a batch delivers: versions not in `seen` (the start's window),
    and past `cut` (the end's window start) only those `listed` (the end's new digests).
    Both as joined digests, so a partition pickles small; the sets are built on the
    executor."""

    seen: bytes
    listed: bytes
    cut: int

    def select(
        self, kind: LookbackRange, pages: Iterable[SourcedRecords]
    ) -> Iterator[SourcedRecords]:
        """The records of `pages` to deliver, once each (an API may list a version twice)."""
        seen, listed = set(_split(self.seen)), set(_split(self.listed))
        delivered: set[bytes] = set()
        for source, records in pages:
            keep = []
            for index, (item, micros) in enumerate(kind.versions(source, records)):
                if item in seen or item in delivered or (micros > self.cut and item not in listed):
                    continue
                delivered.add(item)
                keep.append(index)
            yield source, (records if len(keep) == len(records) else select(records, keep))

    def __repr__(self) -> str:
        return (
            f"Dedup(seen={len(self.seen) // DIGEST_BYTES}, "
            f"listed={len(self.listed) // DIGEST_BYTES}, cut={self.cut})"
        )


class LookbackRange(TimestampRange):
    """A `timestamp` range with `lookbackSeconds`: every batch reads again from its window's
    start, and its offset keeps the window (see the module's doc).

    Pages take the general path (no Arrow decoding): a digest is taken of the key as the
    JSON parser gives it, the same on the driver and on executors."""

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        seconds, path = self.stream.lookback_seconds, self.stream.primary_key_path
        if seconds is None or path is None:
            raise ValueError("LookbackRange needs lookbackSeconds and primaryKeyPath")
        self.lookback = round(seconds * _SECOND)
        self.every = group_seconds(seconds)
        self.key_path = compile_path(path, option="primaryKeyPath")
        self.max_keys = self.stream.lookback_max_keys

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        return None

    # -- versions ----------------------------------------------------------------------------
    def versions(self, source: str, records: Any) -> list[tuple[bytes, int]]:
        """The digest and timestamp (microseconds) of every record of a page."""
        times = self.record_times(SimpleNamespace(records=records, source=source))
        found = []
        for index, (record, micros) in enumerate(zip(records, times)):
            key = self.key_path.first(record)
            if key is None:
                raise RestOffsetError(
                    f"Record {index} of {source} has no value at primaryKeyPath="
                    f"{self.key_path.text}: lookbackSeconds needs a key on every record"
                )
            found.append((digest(key, micros), micros))
        return found

    # -- windows in offsets ------------------------------------------------------------------
    def window(self, value: Mapping[str, Any] | None, position: Any) -> Window:
        """A stream's window as the offset keeps it; none kept: empty, from `position` (a
        window keeps the grouping it started with, whatever `lookbackSeconds` is now)."""
        if not value:
            return Window(self.micros(position), every=self.every)
        return Window.from_offset(value, self.micros(value[FROM]))

    def window_offset(self, window: Window, position: Any) -> dict[str, Any] | None:
        """`window` as the offset keeps it beside `position`; None for an empty window that
        starts at the position (what a missing window means)."""
        if not window.buckets and window.start == self.micros(position):
            return None  # `window(None, position)` gives it back
        return window.to_offset(self.native(window.start, like=position))

    def _align(self, micros: int) -> int:
        """`micros` down to a whole second (millisecond with `millis`), as cuts are: an API
        that compares ISO strings bounds the same records."""
        unit = 1_000 if self.format == "millis" else _SECOND
        return micros - micros % unit

    # -- the driver: a poll ------------------------------------------------------------------
    def look_back(
        self,
        fetcher: Fetcher,
        row: Mapping[str, Any],
        position: Any,
        window: Window,
        end: Any,
        stream: str = "{}",
    ) -> tuple[Any, Window]:
        """The end of a stream's next batch and its window, given its `position`, `window`
        and the `end` the poll found: reads the window before `end` (and, when the batch is
        short, everything from the window's start, so a poll that finds no version to
        deliver leaves the stream where it is and plans no batch)."""
        current, stop = self.micros(position), self.micros(end)
        start = max(window.start, self._align(stop - self.lookback))
        whole = stop - current <= self.lookback
        seen = window.digests()
        found: dict[bytes, int] = {}  # every version after `start`: the next window's
        fresh: set[bytes] = set()  # the versions not delivered before
        late = 0
        reading = self.native(window.start if whole else start, like=position)
        for source, records in self.read_range(fetcher, row, reading, end):
            for item, micros in self.versions(source, records):
                if item not in seen and item not in fresh:
                    fresh.add(item)
                    late += micros <= current
                if micros > start:
                    found[item] = micros
                    if len(found) > self.max_keys:
                        raise self._too_many(stream, len(found))
        if whole and not fresh:
            return position, window
        advanced = window.advanced(start, found)
        if advanced.count > self.max_keys:
            raise self._too_many(stream, advanced.count)
        if late:
            log.info(
                "lookback: %d records of stream %s appeared late, with timestamps at or before "
                "its position %s; the next batch delivers them",
                late,
                self.options.redact(stream),
                position,
            )
        return end, advanced

    def _too_many(self, stream: str, count: int) -> RestOffsetError:
        return RestOffsetError(
            f"The lookback window of stream {self.options.redact(stream)} holds {count} record "
            f"versions, more than "
            f"lookbackMaxKeys={self.max_keys}: raise lookbackMaxKeys (each version adds about "
            "11 bytes to every offset Spark logs) or lower lookbackSeconds="
            f"{self.lookback / _SECOND:g}"
        )

    # -- planning: what each sub-range delivers ----------------------------------------------
    def dedup(self, before: Window, after: Window, lo: Any, hi: Any) -> Dedup:
        """The filter of the sub-range `(lo, hi]` of a batch from window `before` to
        `after`."""
        low, high = self.micros(lo), self.micros(hi)
        seen = before.within(low, high)
        known = set(_split(seen))
        listed = b"".join(d for d in _split(after.within(low, high)) if d not in known)
        return Dedup(seen, listed, after.start)
