"""Kinds whose position counts records: `page` numbers and `offset`/`limit` paging.

Position: records read since the start. Range `[start, end)`: record indices
`start <= i < end`. A partial page is read again later from where it stopped.

Positions are only right while every full page holds exactly `pageSize` records: a page
that holds more fails at once (`checked`), wherever it is seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from rest_stream.errors import RestOffsetError
from rest_stream.options.parse import RestOptions
from rest_stream.positions.base import CountedRange, Fetcher, SourcedRecords, Step, even_cuts


class RecordCountKind(CountedRange):
    """Pages of `pageSize` records whose requests are known from the position alone."""

    end_search: ClassVar[str | None] = "records"
    chained_reads: ClassVar[bool] = False
    walkable: ClassVar[bool] = True

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        assert self.stream.page_size is not None
        self.page_size = self.stream.page_size
        self.first = int(self.stream.initial_offset)

    def initial(self) -> int:
        return 0

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        return ()

    def page_start(self, position: int) -> int:
        """The position of the first record of the request that reads `position`."""
        raise NotImplementedError

    def split(self, start: int, end: int, parts: int) -> list[tuple[int, int]]:
        return even_cuts(start, end, parts, align=self.page_size)

    def end_of_page(self, index: int, records_on_it: int) -> int:
        """The position after the last record of the `index`-th page (from 0)."""
        return index * self.page_size + records_on_it

    def index_request(self, row: Mapping[str, Any], index: int) -> Any:
        """The request of the `index`-th page (from 0)."""
        return self.request(row, index * self.page_size)

    def request_after_short_page(self, row: Mapping[str, Any], index: int, count: int) -> Any:
        """The request for what follows the `index`-th page when it held only `count`
        records: empty, unless the API serves fewer records per page than `pageSize`."""
        raise NotImplementedError

    #: What a page larger than `pageSize` does to positions of this kind.
    oversize_effect: ClassVar[str] = ""

    def checked(self, page: Any) -> Any:
        """`page`, or `RestOffsetError` when it holds more than `pageSize` records: positions
        count `pageSize` records a page, so every page after it would be misplaced."""
        if len(page.records) > self.page_size:
            raise RestOffsetError(
                f"{page.source} returned {len(page.records)} records, more than pageSize="
                f"{self.page_size}: {self.oversize_effect}. Set pageSize to the number of "
                "records the API returns on a full page (or ask it for pageSize records)"
            )
        return page

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: int, end: int
    ) -> Iterator[SourcedRecords]:
        firsts = range(self.page_start(start), end, self.page_size)
        specs = (self.request(row, first) for first in firsts)
        for first, page in zip(firsts, fetcher.fetch_ordered(specs)):
            self.checked(page)
            skip, stop = max(0, start - first), min(len(page.records), end - first)
            if skip < stop:
                yield page.source, page.records[skip:stop]
            if len(page.records) < self.page_size:
                if first + len(page.records) < end:
                    raise self.short_page(page, first, end)
                return

    def short_page(self, page: Any, first: int, end: int) -> RestOffsetError:
        """A page shorter than `pageSize` before the end: the API caps its pages below
        `pageSize`, or serves fewer records than it did (the rest would be skipped)."""
        return RestOffsetError(
            f"{page.source} returned {len(page.records)} records, fewer than pageSize="
            f"{self.page_size}, before the end of the range ({end - first} more expected): "
            "set pageSize to the most records the API returns in one page"
        )

    def step(self, position: int, page: Any, budget: int | None) -> Step:
        skip = position - self.page_start(position)
        count = len(self.checked(page).records)
        if count <= skip:
            return Step(0, 0, position, True)
        take = count - skip if budget is None else min(count - skip, budget)
        caught_up = count < self.page_size and skip + take == count
        return Step(skip, skip + take, position + take, caught_up)


class PageOffset(RecordCountKind):
    """Page numbers: page = `initialOffset + position // pageSize`."""

    name = "page"
    oversize_effect = "page numbers would skip the records past pageSize on every page"

    def page_start(self, position: int) -> int:
        return position - position % self.page_size

    def page_of(self, position: int) -> int:
        """The page number that holds record `position`."""
        return self.first + position // self.page_size

    def offset_value(self, position: int) -> int:
        return self.page_of(position)

    def request_after_short_page(self, row: Mapping[str, Any], index: int, count: int) -> Any:
        return self.index_request(row, index + 1)

    def end_from_probe(self, value: Any) -> int:
        """The probe names the last page number: `EndFinder` measures that page."""
        raise TypeError("the last page must be measured")


class RecordOffset(RecordCountKind):
    """`offset`/`limit` paging: `{offsetField}` = `initialOffset + position` records skipped,
    `pageSize` = the limit the URL asks for. The probe names the total count."""

    name = "offset"
    oversize_effect = "offsets would read the records past pageSize again"

    def page_start(self, position: int) -> int:
        return position

    def offset_value(self, position: int) -> int:
        return self.first + position

    def request_after_short_page(self, row: Mapping[str, Any], index: int, count: int) -> Any:
        return self.request(row, index * self.page_size + count)

    def end_from_probe(self, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return max(0, int(value) - self.first)
