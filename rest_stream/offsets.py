"""The offset kinds: one class per `offsetType`, each answering the same questions.

- where does a position go in the request (`request`),
- what comes after a page (`step`, for chains walked page by page),
- for kinds whose range can be split: how to read `[start, end)` (`read_range`), how many
  records a range holds at most (`count_bound`) and how to cut it in n (`split`).

Positions are JSON values stored in Spark's checkpoint:

| kind          | position                      | range `(start, end)`                           |
|---------------|-------------------------------|------------------------------------------------|
| `incremental` | next id to read (int)         | ids `start <= id < end`                        |
| `page`        | records read since the first  | record indices `start <= i < end`; page =      |
|               | page (int)                    | `initialOffset + i // pageSize`                |
| `timestamp`   | newest timestamp read         | timestamps `start < ts <= end`                 |
| `cursor`      | `{"cursor": c, "skip": k}`    | the chain from c; the first k records of c's   |
| `link`        | `{"cursor": url, "skip": k}`  | page were read already                         |
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pyarrow as pa

from rest_stream.arrow_json import ArrowRecords, select
from rest_stream.errors import RestOffsetError
from rest_stream.extract import compile_path
from rest_stream.options import RestOptions
from rest_stream.request import RequestSpec
from rest_stream.template import build_request
from rest_stream.timestamps import format_timestamp, parse_timestamp

Position = Any
Records = list[Any]
SourcedRecords = tuple[str, list[Any]]
log = logging.getLogger("rest_stream.offsets")


class Fetcher(Protocol):
    """What the offset kinds need to read pages (`rest_stream.pages.PageFetcher`)."""

    def fetch(self, spec: RequestSpec, *, keep_body: bool = False) -> Any: ...

    def fetch_ordered(self, specs: Any) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Step:
    """What a page of a chain gives: records `[first, stop)` of it, and the next position."""

    first: int
    stop: int
    next: Position
    caught_up: bool


class StopChain(Exception):
    """A bad offset under `onBadOffset=stop`: end the chain where it is."""


class OffsetKind:
    """Base of the offset kinds; see the module docstring for the positions."""

    name: ClassVar[str] = ""

    def __init__(self, options: RestOptions) -> None:
        self.options = options
        self.stream = options.stream
        self.field = options.stream.offset_field or ""
        self.offset_path = (
            compile_path(self.stream.offset_path) if self.stream.offset_path else None
        )
        self.record_path = (
            compile_path(self.stream.record_offset_path) if self.stream.record_offset_path else None
        )

    # -- every kind -------------------------------------------------------------------------
    def initial(self) -> Position:
        """The position a new stream starts at (`initialOffset`)."""
        raise NotImplementedError

    def request(self, row: Mapping[str, Any], position: Position) -> RequestSpec:
        """The request that reads the page at `position`."""
        return build_request(self.options, row, {self.field: self.offset_value(position)})

    def offset_value(self, position: Position) -> Any:
        """The value substituted for `{offsetField}`."""
        return position

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        """Whether `read_range` can work on pages decoded to Arrow with these fields (name →
        Arrow type): None when it cannot; else the byte strings whose presence in a body sends
        that page the general path (it may name an offset that only the document holds)."""
        return None

    def _record_field(self) -> str | None:
        """The record field `recordOffsetPath` names, when it is a plain `$.field`."""
        path = self.record_path
        if path is None or path.steps is None or len(path.steps) != 1 or path.wildcard:
            return None
        return path.steps[0]

    def _record_values(self, page: Any) -> list[Any]:
        """The `recordOffsetPath` value of every record of `page`: a decoded page's column
        when it has one without nulls, else looked up record by record."""
        assert self.record_path is not None
        records, name = page.records, self._record_field()
        if isinstance(records, ArrowRecords) and name in records.batch.schema.names:
            column = records.batch.column(name)
            if column.null_count == 0:
                return column.to_pylist()
        return [self.record_path.first(record) for record in records]

    @property
    def splittable(self) -> bool:
        """Whether `[start, end)` can be cut into sub-ranges read at the same time."""
        return False

    def reached(self, position: Position, end: Position) -> bool:
        """Whether a chain at `position` has reached `end`."""
        return position == end

    def bad_offset(self, message: str) -> None:
        """Raise `RestOffsetError`, or stop the chain under `onBadOffset=stop`."""
        if self.stream.on_bad_offset == "stop":
            log.warning("%s; stopping this stream here (onBadOffset=stop)", message)
            raise StopChain(message)
        raise RestOffsetError(message + " (set onBadOffset=stop to stop the stream there instead)")

    # -- chains -----------------------------------------------------------------------------
    def step(self, position: Position, page: Any, budget: int | None) -> Step:
        """The records of `page` to keep and the position after them."""
        raise NotImplementedError

    def records_until(self, position: Position, end: Position) -> int | None:
        """Most records a chain at `position` may take before `end`, when the page at
        `position` is where `end` lies (a replay must stop exactly there); else None."""
        return None

    # -- splittable kinds -------------------------------------------------------------------
    def count_bound(self, start: Position, end: Position) -> int | None:
        """Most records `[start, end)` can hold, or None when that cannot be known."""
        return None

    def advance(self, start: Position, records: int) -> Position:
        """The position `records` records after `start` (kinds with a count bound)."""
        raise NotImplementedError

    def split(self, start: Position, end: Position, parts: int) -> list[tuple[Position, Position]]:
        """`[start, end)` cut into at most `parts` adjacent sub-ranges."""
        return [(start, end)]

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: Position, end: Position
    ) -> Iterator[SourcedRecords]:
        """The records of `[start, end)`, page by page, each with the page's URL."""
        raise NotImplementedError

    def end_from_probe(self, value: Any) -> Position:
        """The end position given the probe's newest value (`latestOffsetPath`)."""
        raise NotImplementedError


def _even_cuts(lo: int, hi: int, parts: int, align: int = 1) -> list[tuple[int, int]]:
    """`[lo, hi)` cut into at most `parts` ranges of near-equal size, cut points on `align`."""
    size = hi - lo
    if size <= 0:
        return []
    parts = max(1, min(parts, -(-size // align)))
    cuts = [lo]
    for k in range(1, parts):
        point = lo + (size * k) // parts
        point = ((point + align - 1) // align) * align if align > 1 else point
        if cuts[-1] < point < hi:
            cuts.append(point)
    cuts.append(hi)
    return list(zip(cuts, cuts[1:]))


class IncrementalOffset(OffsetKind):
    """Ids: the API returns records with id >= `{offsetField}`; next = largest id + 1."""

    name = "incremental"

    def initial(self) -> int:
        return int(self.stream.initial_offset)

    @property
    def splittable(self) -> bool:
        return True

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        name = self._record_field()
        return () if name in fields and pa.types.is_integer(fields[name]) else None

    def record_ids(self, page: Any) -> list[int]:
        """The id of every record of `page` (`recordOffsetPath`)."""
        assert self.record_path is not None
        ids = []
        for index, value in enumerate(self._record_values(page)):
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise RestOffsetError(
                    f"Record {index} of {page.source} has no whole-number id at "
                    f"recordOffsetPath={self.record_path.text} (found {value!r})"
                )
            try:
                ids.append(int(value))
            except ValueError:
                raise RestOffsetError(
                    f"Record {index} of {page.source}: recordOffsetPath="
                    f"{self.record_path.text} gives {value!r}, not a whole number"
                ) from None
        return ids

    def count_bound(self, start: int, end: int) -> int:
        return max(0, end - start)

    def advance(self, start: int, records: int) -> int:
        return start + records

    def reached(self, position: int, end: int) -> bool:
        return position >= end

    def split(self, start: int, end: int, parts: int) -> list[tuple[int, int]]:
        return _even_cuts(start, end, parts)

    def end_from_probe(self, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value) + 1

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: int, end: int
    ) -> Iterator[SourcedRecords]:
        position = start
        while position < end:
            page = fetcher.fetch(self.request(row, position))
            if not page.records:
                return
            ids = self.record_ids(page)
            if position <= min(ids) and max(ids) < end:
                yield page.source, page.records
            else:
                inside = [k for k, i in enumerate(ids) if position <= i < end]
                yield page.source, select(page.records, inside)
            following = max(ids) + 1
            if following <= position:
                try:
                    self.bad_offset(
                        f"Offset does not advance: {page.source} returned ids up to "
                        f"{following - 1}, below {self.field}={position}"
                    )
                except StopChain:
                    return
            position = following

    def step(self, position: int, page: Any, budget: int | None) -> Step:
        if not page.records:
            return Step(0, 0, position, True)
        ids = self.record_ids(page)
        return Step(0, len(page.records), max(max(ids) + 1, position), False)


class PageOffset(OffsetKind):
    """Page numbers: position = records read; page = `initialOffset + position // pageSize`."""

    name = "page"

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        assert self.stream.page_size is not None
        self.page_size = self.stream.page_size
        self.first_page = int(self.stream.initial_offset)

    def initial(self) -> int:
        return 0

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        return ()

    @property
    def splittable(self) -> bool:
        return True

    def page_of(self, position: int) -> int:
        """The page number that holds record `position`."""
        return self.first_page + position // self.page_size

    def offset_value(self, position: int) -> int:
        return self.page_of(position)

    def count_bound(self, start: int, end: int) -> int:
        return max(0, end - start)

    def advance(self, start: int, records: int) -> int:
        return start + records

    def reached(self, position: int, end: int) -> bool:
        return position >= end

    def split(self, start: int, end: int, parts: int) -> list[tuple[int, int]]:
        return _even_cuts(start, end, parts, align=self.page_size)

    def end_of_page(self, page_number: int, records_on_it: int) -> int:
        """The position after the last record of page `page_number`."""
        return (page_number - self.first_page) * self.page_size + records_on_it

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: int, end: int
    ) -> Iterator[SourcedRecords]:
        numbers = range(self.page_of(start), self.page_of(end - 1) + 1)
        specs = (self.request(row, (n - self.first_page) * self.page_size) for n in numbers)
        for number, page in zip(numbers, fetcher.fetch_ordered(specs)):
            base = (number - self.first_page) * self.page_size
            first, stop = max(0, start - base), min(len(page.records), end - base)
            if first < stop:
                yield page.source, page.records[first:stop]
            if len(page.records) < self.page_size:
                return

    def step(self, position: int, page: Any, budget: int | None) -> Step:
        skip = position % self.page_size
        count = len(page.records)
        if count <= skip:
            return Step(0, 0, position, True)
        take = count - skip if budget is None else min(count - skip, budget)
        caught_up = count < self.page_size and skip + take == count
        return Step(skip, skip + take, position + take, caught_up)


class TimestampOffset(OffsetKind):
    """Timestamps: the API returns records after `{offsetField}`; next = newest timestamp."""

    name = "timestamp"

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        self.format = self.stream.timestamp_format
        self.unit = {"seconds": 1_000_000, "millis": 1_000}.get(self.format, 1)

    def initial(self) -> Any:
        return self.native(parse_timestamp(self.stream.initial_offset, self.format))

    def native(self, micros: int) -> Any:
        """A position in the API's own format."""
        return format_timestamp(micros, self.format)

    def micros(self, position: Any) -> int:
        """A position as microseconds since the epoch."""
        return parse_timestamp(position, self.format)

    @property
    def splittable(self) -> bool:
        return self.record_path is not None

    def reached(self, position: Any, end: Any) -> bool:
        return self.micros(position) >= self.micros(end)

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        """Decoded pages serve when the timestamp is a plain field of the schema and
        `offsetPath` is a plain chain of fields; a body that holds the last field's name as a
        JSON key (`"next_since"`) takes the general path, which reads the response's own next
        offset. (A key written with escaped ASCII letters would slip past: no API does that.)"""
        name = self._record_field()
        if name not in fields:
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

    def next_from_body(self, page: Any) -> int | None:
        """The next position the response names (`offsetPath`), in microseconds."""
        if self.offset_path is None:
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

    def split(self, start: Any, end: Any, parts: int) -> list[tuple[Any, Any]]:
        cuts = _even_cuts(self.micros(start), self.micros(end), parts, align=self.unit)
        return [(self.native(a), self.native(b)) for a, b in cuts]

    def end_from_probe(self, value: Any) -> Any:
        return self.native(parse_timestamp(value, self.format))

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: Any, end: Any
    ) -> Iterator[SourcedRecords]:
        position, stop = self.micros(start), self.micros(end)
        while position < stop:
            page = fetcher.fetch(self.request(row, self.native(position)))
            times = self.record_times(page)
            fresh = [t for t in times if t > position]
            if not fresh:
                if times and max(times) < position:
                    self._not_advancing(page, max(times), position)
                return
            complete = self._complete(page, fresh, stop)
            last = min(complete, stop)
            if position < min(times) and max(times) <= last:
                yield page.source, page.records
            else:
                inside = [k for k, t in enumerate(times) if position < t <= last]
                yield page.source, select(page.records, inside)
            if complete >= stop:
                return
            position = complete

    def _not_advancing(self, page: Any, newest: int, position: int) -> None:
        with contextlib.suppress(StopChain):
            self.bad_offset(
                f"Offset goes backwards: {page.source} returned timestamps up to "
                f"{self.native(newest)}, before {self.field}={self.native(position)}"
            )

    def step(self, position: Any, page: Any, budget: int | None) -> Step:
        if not page.records:
            return Step(0, 0, position, True)
        current = self.micros(position)
        if self.record_path is None:
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
                        f"{self.native(following)}, not after {self.field}={position}"
                    )
                except StopChain:
                    return Step(0, 0, position, True)
            return Step(0, len(page.records), self.native(following), False)
        times = self.record_times(page)
        first = next((i for i, t in enumerate(times) if t > current), len(times))
        if first == len(times):
            if max(times) < current:
                self._not_advancing(page, max(times), current)
            return Step(0, 0, position, True)
        fresh = times[first:]
        complete = self._complete(page, fresh, None)
        eligible = [t for t in fresh if t <= complete]
        take = _cut_at_distinct(eligible, budget)
        following = complete if take == len(eligible) else max(eligible[:take])
        return Step(first, first + take, self.native(following), False)

    def _complete(self, page: Any, fresh: list[int], stop: int | None) -> int:
        """How far `page` surely covers: the response's own next offset when it names one
        past the page's newest record, else `_complete_until`."""
        named = self.next_from_body(page)
        if named is not None and named > max(fresh):
            return named
        return _complete_until(fresh, stop)


def _complete_until(times: list[int], stop: int | None) -> int:
    """The newest timestamp of a page that is surely complete.

    A page cut by the API's page size may hold only part of the records that share its newest
    timestamp: the next request (`since` = an exclusive bound) must start before it. When every
    record shares one timestamp, or the newest is past `stop`, the page's newest is taken.
    """
    newest = max(times)
    if stop is not None and newest > stop:
        return newest
    older = [t for t in times if t < newest]
    return max(older) if older else newest


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


class CursorOffset(OffsetKind):
    """Opaque cursors: the next one from `offsetPath` in the body or the `offsetHeader`."""

    name = "cursor"

    def initial(self) -> dict[str, Any]:
        return {"cursor": self.stream.initial_offset, "skip": 0}

    def offset_value(self, position: Mapping[str, Any]) -> Any:
        return position["cursor"]

    def records_until(self, position: Mapping[str, Any], end: Mapping[str, Any]) -> int | None:
        if position["cursor"] != end["cursor"]:
            return None
        return max(0, int(end.get("skip", 0)) - int(position.get("skip", 0)))

    def next_cursor(self, page: Any) -> Any:
        """The cursor after `page`, or None when the response names none."""
        if self.stream.offset_header:
            return page.headers.get(self.stream.offset_header.lower()) or None
        if self.offset_path is None:
            return None
        value = self.offset_path.value(page.document)
        return None if value in ("", None) else value

    def step(self, position: Mapping[str, Any], page: Any, budget: int | None) -> Step:
        cursor, skip = position["cursor"], int(position.get("skip", 0))
        count = len(page.records)
        if count <= skip:
            following = self.next_cursor(page)  # a page read before may now name a next one
            if count == skip and following is not None and following != cursor:
                return Step(count, count, {"cursor": following, "skip": 0}, False)
            return Step(0, 0, dict(position), True)
        take = count - skip if budget is None else min(count - skip, max(budget, 1))
        if skip + take < count:
            return Step(skip, skip + take, {"cursor": cursor, "skip": skip + take}, False)
        following = self.next_cursor(page)
        if following is None or following == cursor:
            return Step(skip, count, {"cursor": cursor, "skip": count}, True)
        return Step(skip, count, {"cursor": following, "skip": 0}, False)


_LINK_NEXT = re.compile(r"<([^>]*)>\s*;[^,]*?\brel\s*=\s*\"?[^\",]*\bnext\b", re.IGNORECASE)


class LinkOffset(CursorOffset):
    """Link headers: the next page's URL from `Link: <...>; rel="next"`."""

    name = "link"

    def request(self, row: Mapping[str, Any], position: Position) -> RequestSpec:
        if not position["cursor"]:
            return build_request(self.options, row)
        return build_request(self.options, row, url=position["cursor"])

    def next_cursor(self, page: Any) -> Any:
        match = _LINK_NEXT.search(page.headers.get("link", ""))
        if match is None:
            return None
        return self._without_api_key(urljoin(page.request_url, match.group(1)))

    def _without_api_key(self, url: str) -> str:
        param = self.options.auth.api_key_param
        if not param:
            return url
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
        return urlunsplit(parts._replace(query=urlencode(query)))


KINDS: dict[str, type[OffsetKind]] = {
    kind.name: kind
    for kind in (IncrementalOffset, PageOffset, TimestampOffset, CursorOffset, LinkOffset)
}


def offset_kind(options: RestOptions) -> OffsetKind:
    """The offset kind of `options` (`offsetType`)."""
    assert options.stream.offset_type is not None
    return KINDS[options.stream.offset_type](options)
