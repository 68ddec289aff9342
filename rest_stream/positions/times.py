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

import contextlib
import json
from collections.abc import Iterator, Mapping
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
        while position < stop:
            page = self.fetch_at(
                fetcher,
                row,
                self.native(position, like=start),
                enough=lambda part: bool(part.records) and max(self.record_times(part)) > stop,
            )
            found = self.time_array(page)
            times = np.asarray(self.record_times(page), dtype=object) if found is None else found
            fresh = times[times > position]
            if not fresh.size:
                if times.size and int(times.max()) < position:
                    self.range_stopped(self._backwards(page, int(times.max()), position))
                return
            complete = self._complete(page, fresh, stop)
            last = min(complete, stop)
            if position < int(times.min()) and int(times.max()) <= last:
                yield page.source, page.records
            else:
                inside = np.flatnonzero((times > position) & (times <= last)).tolist()
                yield page.source, select(page.records, inside)
            if complete >= stop:
                return
            position = complete

    def _backwards(self, page: Any, newest: int, position: int) -> str:
        return (
            f"Offset goes backwards: {page.source} returned timestamps up to "
            f"{self.native(newest, like=position)}, before {self.field}="
            f"{self.native(position, like=position)}"
        )

    def step(self, position: Any, page: Any, budget: int | None) -> Step:
        if not page.records:
            return Step(0, 0, position, True)
        current = self.micros(position)
        times = self.record_times(page)
        first = next((i for i, t in enumerate(times) if t > current), len(times))
        if first == len(times):
            if max(times) < current:
                with contextlib.suppress(StopChain):
                    self.bad_offset(self._backwards(page, max(times), current))
            return Step(0, 0, position, True)
        fresh, horizon = times[first:], self.horizon()
        complete = min(self._complete(page, fresh, horizon), horizon)
        eligible = [t for t in fresh if t <= complete]
        if not eligible:
            return Step(0, 0, position, True)
        take = _cut_at_distinct(eligible, budget)
        following = complete if take == len(eligible) else max(eligible[:take])
        held_back = take == len(eligible) and max(fresh) > horizon
        example = self._record_values(page)[first]  # the API's own style for the position
        return Step(first, first + take, self.native(following, like=example), held_back)

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


def _cut_at_distinct(times: list[int], budget: int | None) -> int:
    """How many leading records to take: at most `budget`, never splitting equal timestamps."""
    if budget is None or budget >= len(times):
        return len(times)
    ordered = sorted(range(len(times)), key=times.__getitem__)
    if ordered != list(range(len(times))):
        return len(times)
    cut = max(budget, 1)
    while 0 < cut < len(times) and times[cut - 1] == times[cut]:
        cut -= 1
    if cut == 0:
        cut = 1
        while cut < len(times) and times[cut] == times[0]:
            cut += 1
    return cut
