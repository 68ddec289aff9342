"""What every offset kind shares, and the two families they fall into.

- `RangeKind`: positions that can be compared and cut without fetching (ids, timestamps
  read from the records, record counts). The driver finds an end, splits `[start, end)` and
  executors read sub-ranges, several at once.
- `ChainKind`: the next position comes only from the page itself (cursors, links, a
  timestamp the response names). The driver walks the chain and the pages travel in the
  partitions.

A kind declares what it can do as class data (`splittable`, `counts_records`,
`end_search`, `walkable`), so callers never probe with sentinel calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pyarrow as pa

from rest_stream.decoders.arrow_json import ArrowRecords
from rest_stream.decoders.jsonpath import CompiledPath, compile_path
from rest_stream.errors import RestOffsetError
from rest_stream.http.request import RequestSpec
from rest_stream.http.template import build_request
from rest_stream.options.parse import RestOptions
from rest_stream.pagination import ResultSet

Position = Any
SourcedRecords = tuple[str, Any]
log = logging.getLogger("rest_stream.positions")


class Fetcher(Protocol):
    """What the offset kinds need to read pages (`rest_stream.http.pages.PageFetcher`)."""

    def fetch(
        self,
        spec: RequestSpec,
        *,
        keep_body: bool = False,
        decode: bool = True,
        records: bool = True,
    ) -> Any: ...

    def fetch_ordered(self, specs: Any) -> Iterator[Any]: ...


@dataclass(frozen=True)
class Step:
    """What a page of a chain gives: records `[first, stop)` of it (or, with `keep`, the
    records at those indices, in order: a `timestamp` walk takes records by time, wherever
    they are in the page), and the next position."""

    first: int
    stop: int
    next: Position
    caught_up: bool
    keep: tuple[int, ...] | None = None
    #: What the page at `next` must confirm before the walk may stand there (`confirm`).
    check: Any = None


class StopChain(Exception):
    """A bad offset under `onBadOffset=stop`: end the chain where it is."""


class OffsetKind:
    """What every kind shares: where a position goes in the request, and bad offsets."""

    name: ClassVar[str] = ""
    #: `[start, end)` can be cut into sub-ranges read at the same time (a `RangeKind`).
    splittable: ClassVar[bool] = False
    #: `advance(start, n)` bounds a range to at most n records without fetching.
    counts_records: ClassVar[bool] = False
    #: How the end is found without a probe: "ids", "records", "clock", or None.
    end_search: ClassVar[str | None] = None
    #: The kind can be walked page by page (`step`) to honour a record budget.
    walkable: ClassVar[bool] = False

    def __init__(self, options: RestOptions) -> None:
        self.options = options
        self.stream = options.stream
        self.field = options.stream.offset_field or ""
        self.offset_path: CompiledPath | None = (
            compile_path(self.stream.offset_path) if self.stream.offset_path else None
        )
        self.record_path: CompiledPath | None = (
            compile_path(self.stream.record_offset_path) if self.stream.record_offset_path else None
        )
        #: The pages of one answer (`pagination`), bounded by `maxPagesPerBatch`.
        self.answers = ResultSet(options, max_pages=self.stream.max_pages_per_batch)

    def initial(self) -> Position:
        """The position a new stream starts at (`initialOffset`)."""
        raise NotImplementedError

    def request(self, row: Mapping[str, Any], position: Position) -> RequestSpec:
        """The request that reads the page at `position`."""
        return build_request(self.options, row, {self.field: self.offset_value(position)})

    def fetch_at(
        self,
        fetcher: Fetcher,
        row: Mapping[str, Any],
        position: Position,
        *,
        keep_body: bool = False,
        enough: Any = None,
    ) -> Any:
        """The page at `position`: with `pagination`, every page of the answer read as one
        (cut at `maxPagesPerBatch`, or once `enough(page)`; `Page.more` then says so)."""
        if not self.answers.paginated:
            return fetcher.fetch(self.request(row, position), keep_body=keep_body)
        at = {self.field: self.offset_value(position)}

        def build(values: Mapping[str, Any], url: str | None) -> RequestSpec:
            return build_request(self.options, row, {**at, **values}, url=url)

        return self.answers.fetch(fetcher, build, keep_body=keep_body, enough=enough)

    def offset_value(self, position: Position) -> Any:
        """The value substituted for `{offsetField}`."""
        return position

    def reached(self, position: Position, end: Position) -> bool:
        """Whether a stream at `position` has reached `end`."""
        return position == end

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        """Whether ranges can be read from pages decoded to Arrow with these fields (name →
        Arrow type): None when they cannot; else the byte strings whose presence in a body
        sends that page the general path (it may name an offset only the document holds)."""
        return None

    def bad_offset(self, message: str) -> None:
        """Raise `RestOffsetError`, or stop the chain under `onBadOffset=stop`."""
        if self.stream.on_bad_offset == "stop":
            log.warning("%s; stopping this stream here (onBadOffset=stop)", message)
            raise StopChain(message)
        raise RestOffsetError(message + " (set onBadOffset=stop to stop the stream there instead)")

    # -- walking page by page (chain kinds, and range kinds that are `walkable`) -------------
    def step(self, position: Position, page: Any, budget: int | None) -> Step:
        """The records of `page` to keep and the position after them."""
        raise NotImplementedError(f"offsetType {self.name} is not walked page by page")

    def confirm(self, check: Any, page: Any) -> None:
        """Raise when `page`, the page after a step that asked for a `check`, shows that the
        step's page was cut where records would be skipped."""

    def records_until(self, position: Position, end: Position) -> int | None:
        """Most records a walk at `position` may take before `end`, when the page at
        `position` is where `end` lies (a replay must stop exactly there); else None."""
        return None

    # -- helpers for kinds that read a value from each record --------------------------------
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
        column = self._record_column(page)
        if column is not None:
            return column.to_pylist()
        return [self.record_path.first(record) for record in page.records]

    def _record_column(self, page: Any) -> pa.Array | None:
        """The `recordOffsetPath` column of a decoded page (a plain field of the schema), when
        it has no nulls; else None."""
        records, name = page.records, self._record_field()
        if isinstance(records, ArrowRecords) and name in records.batch.schema.names:
            column = records.batch.column(name)
            if column.null_count == 0:
                return column
        return None


class ChainKind(OffsetKind):
    """A kind whose next position comes from the page (dlt's paginator shape): `request`
    sets up a request for a position, `step` reads a response into the next position."""

    walkable: ClassVar[bool] = True


class RangeKind(OffsetKind):
    """A kind whose ranges `[start, end)` can be found, cut and read without walking."""

    splittable: ClassVar[bool] = True
    #: Reading a range is a chain of requests, each after the previous page (ids, times),
    #: rather than requests whose positions are known up front (page numbers, offsets).
    chained_reads: ClassVar[bool] = True

    def split(self, start: Position, end: Position, parts: int) -> list[tuple[Position, Position]]:
        """`[start, end)` cut into at most `parts` adjacent, non-empty sub-ranges."""
        raise NotImplementedError

    def weight(self, start: Position, end: Position) -> float:
        """How much `[start, end)` is expected to hold, to balance tasks (any unit)."""
        raise NotImplementedError

    def count_bound(self, start: Position, end: Position) -> int | None:
        """Most records `[start, end)` can hold, or None when that cannot be known."""
        return None

    def advance(self, start: Position, records: int) -> Position:
        """The position `records` records after `start` (kinds that count records)."""
        raise NotImplementedError(f"offsetType {self.name} does not count records")

    def end_from_probe(self, value: Any) -> Position:
        """The end position given the probe's value (`latestOffsetPath`)."""
        raise NotImplementedError

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: Position, end: Position
    ) -> Iterator[SourcedRecords]:
        """The records of `[start, end)`, page by page, each with the page's URL."""
        raise NotImplementedError

    def range_stopped(self, message: str) -> None:
        """A bad offset inside a range Spark already logged: always an error, as stopping
        there would skip the rest of a logged range (`onBadOffset=stop` applies only where
        the driver chooses an end)."""
        raise RestOffsetError(
            message + " (inside a range already planned: the rest of it cannot be skipped)"
        )


class CountedRange(RangeKind):
    """Range kinds whose positions are whole numbers with `[start, end)` holding at most
    `end - start` records (ids, record counts)."""

    counts_records: ClassVar[bool] = True

    def count_bound(self, start: int, end: int) -> int:
        return max(0, end - start)

    def weight(self, start: int, end: int) -> float:
        return float(max(0, end - start))

    def advance(self, start: int, records: int) -> int:
        return start + records

    def reached(self, position: int, end: int) -> bool:
        return position >= end


def even_cuts(lo: int, hi: int, parts: int, align: int = 1) -> list[tuple[int, int]]:
    """`[lo, hi)` cut into at most `parts` ranges of near-equal size, cut points on `align`.

    >>> even_cuts(0, 10, 3)
    [(0, 3), (3, 6), (6, 10)]
    >>> even_cuts(0, 10, 3, align=4)
    [(0, 4), (4, 8), (8, 10)]
    """
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
