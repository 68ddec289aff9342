"""`timestamp`: the API returns records after `{offsetField}` (an exclusive bound).

Position: the newest timestamp read, in the API's own format. Range `(start, end]`.

- With `recordOffsetPath`, times are read from the records: `TimestampRange`, a range kind
  (split by time, ends from a probe or the clock).
- Without it, the response names the next timestamp (`offsetPath`): `TimestampChain`.

A second (or millisecond) that is still filling is never read past by a range: records may
still join it, and `since=<it>` would exclude them. Range ends and walks stop at the
*horizon*, the last whole unit before `now - timestampLagSeconds`. A chain trusts the next
offset the response names.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from rest_stream.decoders.arrow_json import select
from rest_stream.errors import RestOffsetError
from rest_stream.options.parse import RestOptions
from rest_stream.positions.base import (
    ChainKind,
    Fetcher,
    OffsetKind,
    RangeKind,
    SourcedRecords,
    Step,
    StopChain,
    even_cuts,
)
from rest_stream.positions.timestamps import format_timestamp, now_micros, parse_timestamp


class TimestampOffset(OffsetKind):
    """What both timestamp kinds share: the format, the unit and the horizon."""

    name = "timestamp"

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        self.format = self.stream.timestamp_format
        self.unit = {"seconds": 1_000_000, "millis": 1_000}.get(self.format, 1)

    def initial(self) -> Any:
        initial = self.stream.initial_offset
        return self.native(parse_timestamp(initial, self.format), like=initial)

    def native(self, micros: int, like: Any = None) -> Any:
        """A position in the API's own format: the style of `like` (a value the API gave, or
        a position), or as `timestampFormat` spells it out."""
        return format_timestamp(
            micros, self.format, self.stream.initial_offset if like is None else like
        )

    def micros(self, position: Any) -> int:
        """A position as microseconds since the epoch."""
        return parse_timestamp(position, self.format)

    def reached(self, position: Any, end: Any) -> bool:
        return self.micros(position) >= self.micros(end)

    def horizon(self) -> int:
        """The newest time that is surely complete: the start of the last whole second
        (millisecond with `timestampFormat=millis`) before `now - timestampLagSeconds`.
        The current one may still be filling, and `since=<it>` would exclude the records
        that join it later."""
        hold = 1_000 if self.format == "millis" else 1_000_000
        clock = now_micros() - int(self.stream.timestamp_lag_seconds * 1_000_000)
        return clock - clock % hold - hold

    def next_from_body(self, page: Any) -> int | None:
        """The next position the response names (`offsetPath`), in microseconds."""
        if self.offset_path is None or page.document is None:
            return None
        value = self.offset_path.value(page.document)
        if value is None:
            return None
        try:
            return parse_timestamp(value, self.format)
        except (ValueError, TypeError):
            raise RestOffsetError(
                f"{page.source}: offsetPath={self.offset_path.text} gives {value!r}, "
                f"not a timestamp in timestampFormat={self.format}"
            ) from None


class TimestampChain(TimestampOffset, ChainKind):
    """Timestamps the response names (`offsetPath`, e.g. `$.next_since`); records are taken
    whole page by page, and the named offset is trusted (it may be the server's clock)."""

    def step(self, position: Any, page: Any, budget: int | None) -> Step:
        if not page.records:
            return Step(0, 0, position, True)
        current = self.micros(position)
        following = self.next_from_body(page)
        if following is None:
            raise RestOffsetError(
                f"{page.source} has no next offset at offsetPath={self.stream.offset_path}; "
                "set offsetPath or recordOffsetPath to where the timestamp is"
            )
        if following <= current:
            try:
                self.bad_offset(
                    f"Offset does not advance: {page.source} gives "
                    f"{self.native(following, like=position)}, not after {self.field}={position}"
                )
            except StopChain:
                return Step(0, 0, position, True)
        named = self.offset_path.value(page.document) if self.offset_path else None
        return Step(0, len(page.records), self.native(following, like=named), False)


class TimestampRange(TimestampOffset, RangeKind):
    """Timestamps read from each record (`recordOffsetPath`): ranges split by time."""

    end_search: ClassVar[str | None] = "clock"
    walkable: ClassVar[bool] = True

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        """Decoded pages serve when the timestamp is a plain field of the schema and
        `offsetPath` is a plain chain of fields; a body that holds the last field's name as a
        JSON key (`"next_since"`) takes the general path, which reads the response's own next
        offset. (A key written with escaped ASCII letters would slip past: no API does that.)"""
        name = self._record_field()
        if name is None or name not in fields:
            return None
        kind = fields[name]
        if not (pa.types.is_integer(kind) or pa.types.is_float64(kind) or pa.types.is_string(kind)):
            return None
        if self.offset_path is None:
            return ()
        if not self.offset_path.steps:
            return None
        return (json.dumps(self.offset_path.steps[-1]).encode(),)

    def record_times(self, page: Any) -> list[int]:
        """The timestamp of every record of `page` (`recordOffsetPath`), in microseconds."""
        assert self.record_path is not None
        times = []
        for index, value in enumerate(self._record_values(page)):
            try:
                times.append(parse_timestamp(value, self.format))
            except (ValueError, TypeError):
                raise RestOffsetError(
                    f"Record {index} of {page.source}: recordOffsetPath={self.record_path.text} "
                    f"gives {value!r}, not a timestamp in timestampFormat={self.format}"
                ) from None
        return times

    def time_array(self, page: Any) -> np.ndarray[Any, Any] | None:
        """The timestamps of a decoded page in microseconds, as an array, where its column
        holds epoch seconds or milliseconds (whole or decimal numbers, no nulls) small enough
        to be converted exactly as `parse_timestamp` converts each (`round(float(value) *
        unit)`); None where `record_times` must read them (ISO-8601 strings, say)."""
        if self.format not in ("seconds", "millis"):
            return None
        column = self._record_column(page)
        if column is None or len(column) == 0:
            return None
        values = column.to_numpy()
        if pa.types.is_integer(column.type):
            bound = _EXACT // self.unit  # float(value) * unit is exact below 2**53
            if int(values.max()) >= bound or int(values.min()) <= -bound:
                return None
            return values.astype(np.int64) * self.unit
        if pa.types.is_float64(column.type):
            scaled = values * float(self.unit)
            if not np.isfinite(scaled).all() or float(np.abs(scaled).max()) >= _EXACT:
                return None
            return np.round(scaled).astype(np.int64)  # half to even, as round() does
        return None

    def split(self, start: Any, end: Any, parts: int) -> list[tuple[Any, Any]]:
        """Cut points on whole seconds (milliseconds with `millis`): an API comparing ISO
        strings orders `...:15Z` after `...:15.75Z`, so a cut inside a second would not
        bound the same records."""
        align = 1_000 if self.format == "millis" else 1_000_000
        cuts = even_cuts(self.micros(start), self.micros(end), parts, align=align)
        return [(self.native(a, like=start), self.native(b, like=start)) for a, b in cuts]

    def weight(self, start: Any, end: Any) -> float:
        return float(max(0, self.micros(end) - self.micros(start)) / self.unit)

    def end_from_probe(self, value: Any) -> Any:
        return self.native(min(parse_timestamp(value, self.format), self.horizon()), like=value)

    def end_from_clock(self, like: Any = None) -> Any:
        """The end when no probe is set: the horizon (in the style of `like`)."""
        return self.native(self.horizon(), like=like)

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: Any, end: Any
    ) -> Iterator[SourcedRecords]:
        position, stop = self.micros(start), self.micros(end)
        cut: OneTimestamp | None = None  # the last page, when it may be cut inside its one time
        largest = 0  # the most records a page of this read held: the API serves that many

        def fetch(at: int) -> Any:
            return self.fetch_at(
                fetcher,
                row,
                self.native(at, like=start),
                enough=lambda part: bool(part.records) and max(self.record_times(part)) > stop,
            )

        while position < stop:
            page = fetch(position)
            found = self.time_array(page)
            times = np.asarray(self.record_times(page), dtype=object) if found is None else found
            if cut is not None:
                self.confirm(cut, page)
            fresh = times[times > position]
            if not fresh.size:
                if times.size and int(times.max()) < position:
                    self.range_stopped(self._backwards(page, int(times.max()), position))
                return
            complete = self._complete(page, fresh, stop)
            cut = self._one_timestamp(page, fresh, complete, stop)
            last = min(complete, stop)
            if position < int(times.min()) and int(times.max()) <= last:
                yield page.source, page.records
            else:
                inside = np.flatnonzero((times > position) & (times <= last)).tolist()
                yield page.source, select(page.records, inside)
            if complete >= stop:
                # the next range starts after it: ask now, unless a page of this read held
                # more records than it (a page shorter than the API serves is not cut)
                if cut is not None and len(page.records) >= largest:
                    self.confirm(cut, fetch(complete))
                return
            largest = max(largest, len(page.records))
            position = complete

    def _one_timestamp(
        self, page: Any, fresh: Times, complete: int, stop: int
    ) -> OneTimestamp | None:
        """What the next page must confirm when every new record of `page` shares the
        timestamp it was read to (`complete`, at most `stop`) and nothing says the answer was
        whole: the API may have cut it inside that timestamp (see `confirm`)."""
        if not _oldest(fresh) == _newest(fresh) == complete <= stop:
            return None
        if self.answers.paginated and not page.more:
            return None  # every page of the answer was read
        return OneTimestamp(complete, self.horizon(), page.source, len(fresh), page.more)

    def confirm(self, cut: OneTimestamp, page: Any) -> None:
        """Fail when `page`, asked for after `cut.at`, shows that the page before it (whose
        new records were all at `cut.at`) was cut by the API inside `cut.at`: the records at
        it after the cut cannot be asked for with an exclusive bound, and would be skipped.

        It shows so when it holds a record the page before could have held: one after
        `cut.at` and no later than the horizon when that page was read (so one the API had
        then); only a page cut at the API's page size leaves it out. An API whose bound is
        inclusive answers with the records at `cut.at` again: then more of them than the
        page before held shows the cut."""
        times = self.record_times(page) if page.records else []
        again = sum(1 for t in times if t == cut.at)
        if again:
            if again <= cut.records:
                return
        elif not any(cut.at < t <= cut.limit for t in times):
            return
        at = self.native(cut.at)
        options = "raise maxPagesPerBatch, or " if cut.more else ""
        raise RestOffsetError(
            f"{cut.source} returned {cut.records} new records, every one at {at}, and "
            f"{page.source} returns records that page could have held: the API "
            f"cut that page at its page size inside {at}, and the records at {at} after the cut "
            f"cannot be asked for with {self.field}= (an exclusive bound): they would be "
            f"skipped. To read them, {options}set pagination (every page of an answer is then "
            "read), or ask the API for pages that hold every record of one timestamp (a larger "
            "limit in url)"
        )

    def _backwards(self, page: Any, newest: int, position: int) -> str:
        return (
            f"Offset goes backwards: {page.source} returned timestamps up to "
            f"{self.native(newest, like=position)}, before {self.field}="
            f"{self.native(position, like=position)}"
        )

    def step(self, position: Any, page: Any, budget: int | None) -> Step:
        """The records of `page` with `position < t <= cut`, wherever they are in the page
        (an API may order a page otherwise, or repeat records at `position`), and `cut`: the
        newest timestamp the page surely covers, or, under `budget`, an earlier one that
        never splits equal timestamps. A replay reads the range `(position, cut]` by time,
        so it takes the same records."""
        if not page.records:
            return Step(0, 0, position, True)
        current = self.micros(position)
        times = self.record_times(page)
        fresh = sorted(t for t in times if t > current)
        if not fresh:
            if max(times) < current:
                with contextlib.suppress(StopChain):
                    self.bad_offset(self._backwards(page, max(times), current))
            return Step(0, 0, position, True)
        horizon = self.horizon()
        complete = min(self._complete(page, fresh, horizon), horizon)
        eligible = [t for t in fresh if t <= complete]
        if not eligible:
            return Step(0, 0, position, True)
        cut = _cut_time(eligible, budget)
        whole = cut == eligible[-1]
        following = complete if whole else cut
        keep = [k for k, t in enumerate(times) if current < t <= cut]
        held_back = whole and fresh[-1] > horizon
        example = self._record_values(page)[keep[0]]  # the API's own style for the position
        first, stop = keep[0], keep[-1] + 1
        picked = None if stop - first == len(keep) else tuple(keep)  # a slice when it is one
        check = self._one_timestamp(page, fresh, complete, horizon) if whole else None
        native = self.native(following, like=example)
        return Step(first, stop, native, held_back, picked, check)

    def _complete(self, page: Any, fresh: Times, stop: int | None) -> int:
        """How far `page` surely covers: the response's own next offset when it names one
        past the page's newest record, else `_complete_until`."""
        named = self.next_from_body(page)
        newest = _newest(fresh)
        if named is not None and named > newest:
            return named
        if self.answers.paginated and not page.more:
            return newest  # every page of the answer was read: nothing of it is cut
        return _complete_until(fresh, stop)


#: Timestamps in microseconds: a list, or an array (int64, or Python ints as objects).
Times = list[int] | np.ndarray[Any, Any]
#: Below 2**53 a float holds every whole number exactly.
_EXACT = 2**53


def _newest(times: Times) -> int:
    return int(times.max()) if isinstance(times, np.ndarray) else max(times)


def _oldest(times: Times) -> int:
    return int(times.min()) if isinstance(times, np.ndarray) else min(times)


@dataclass(frozen=True)
class OneTimestamp:
    """A page whose new records all share the timestamp `at` it was read to: the page after
    it must show that the API did not cut it inside `at` (`TimestampRange.confirm`)."""

    at: int
    limit: int  # the horizon when the page was read: every record up to it existed then
    source: str
    records: int
    more: bool  # the answer was cut at maxPagesPerBatch


def _complete_until(times: Times, stop: int | None) -> int:
    """The newest timestamp of a page that is surely complete.

    A page cut by the API's page size may hold only part of the records that share its newest
    timestamp: the next request (`since` = an exclusive bound) must start before it. When every
    record shares one timestamp, or the newest is past `stop`, the page's newest is taken.
    """
    newest = _newest(times)
    if stop is not None and newest > stop:
        return newest
    if isinstance(times, np.ndarray):
        older = times[times < newest]
        return int(older.max()) if older.size else newest
    before = [t for t in times if t < newest]
    return max(before) if before else newest


def _cut_time(times: list[int], budget: int | None) -> int:
    """The newest timestamp of `times` (sorted) to take every record up to: at most `budget`
    records, never splitting equal timestamps; the oldest timestamp whole when it alone
    holds more than `budget`."""
    if budget is None or budget >= len(times):
        return times[-1]
    fits = [t for t in times if bisect.bisect_right(times, t) <= max(budget, 1)]
    return fits[-1] if fits else times[0]
