"""Where a splittable range ends: a probe (`latestOffsetUrl`), the clock, or a search."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rest_stream.decoders.jsonpath import compile_path
from rest_stream.driver.page_size import PageSizeCheck
from rest_stream.errors import RestOffsetError
from rest_stream.http.template import build_request
from rest_stream.positions import (
    IncrementalOffset,
    PageOffset,
    Position,
    RangeKind,
    RecordCountKind,
    TimestampRange,
)


class EndFinder:
    """Finds the current end of a stream for a range kind: the probe when one is set, else
    the search the kind declares (`end_search`). A `page`/`offset` search that ends on a
    short page has it checked (`page_sizes`, kept by the reader across polls)."""

    def __init__(
        self, kind: RangeKind, fetcher: Any, page_sizes: PageSizeCheck | None = None
    ) -> None:
        self.kind = kind
        self.fetcher = fetcher
        self.stream = kind.stream
        self.requests = 0
        self.page_sizes = PageSizeCheck() if page_sizes is None else page_sizes

    def end(self, row: Mapping[str, Any], start: Position, stream: str = "{}") -> Position:
        """The end of `row`'s stream (named `stream`) now; never before `start`."""
        search = self.kind.end_search
        if self.stream.latest_offset_url:
            end = self._probe(row, self.stream.latest_offset_url)
        elif search == "clock":
            assert isinstance(self.kind, TimestampRange)
            end = self.kind.end_from_clock(like=start)
        elif search == "ids":
            end = self._search_ids(row, start)
        elif search == "records":
            end = self._search_pages(row, start, stream)
        else:
            raise TypeError(f"offsetType {self.kind.name} has no end to find")
        return start if self.kind.reached(start, end) else end

    def _fetch(self, spec: Any, *, records: bool = True) -> Any:
        self.requests += 1
        return self.fetcher.fetch(spec, records=records)

    def _probe(self, row: Mapping[str, Any], url: str) -> Position:
        options = self.kind.options
        probe_options = dataclasses.replace(options, url=url, method="GET")
        page = self._fetch(
            dataclasses.replace(build_request(probe_options, row), as_json=True), records=False
        )
        path = compile_path(self.stream.latest_offset_path or "$", option="latestOffsetPath")
        value = path.value(page.document)
        if value is None:
            # null there, or an empty answer, says "nothing yet"; a path that matches nothing
            # is a wrong path (or an error): never taken as no data, whatever the kind
            if page.document in ([], {}) or path.present(page.document):
                return self.kind.initial()
            raise RestOffsetError(
                f"{page.source} has no value at latestOffsetPath={path.text} (the path matches "
                "nothing; null there would say there are no records yet): check "
                "latestOffsetPath; response starts: "
                f"{self.kind.options.redact(str(page.document))[:200]!r}"
            )
        try:
            if isinstance(self.kind, PageOffset):
                return self._end_of_page(row, _whole(value))
            return self.kind.end_from_probe(value)
        except (TypeError, ValueError):
            raise RestOffsetError(
                f"{page.source}: latestOffsetPath={path.text} gives {value!r}, not a "
                f"{'timestamp' if isinstance(self.kind, TimestampRange) else 'whole number'}"
            ) from None

    def _end_of_page(self, row: Mapping[str, Any], number: int) -> int:
        """The end when the probe names the last page number: that page is measured."""
        kind = self.kind
        assert isinstance(kind, PageOffset)
        if number < kind.first:
            return 0
        page = kind.checked(self._fetch(kind.index_request(row, number - kind.first)))
        return kind.end_of_page(number - kind.first, len(page.records))

    def _width(self) -> int:
        """Probes sent at once in a search round (`requestConcurrency`)."""
        return max(1, self.kind.options.request_concurrency)

    def _fetch_many(self, specs: list[Any]) -> list[Any]:
        self.requests += len(specs)
        return list(self.fetcher.fetch_ordered(specs))

    def _search_ids(self, row: Mapping[str, Any], start: int) -> int:
        """Largest id + 1, galloping then cutting on "is any id >= x?", several x at once."""
        kind = self.kind
        assert isinstance(kind, IncrementalOffset)

        def after(xs: list[int]) -> list[int | None]:
            pages = self._fetch_many([kind.request(row, x) for x in xs])
            found: list[int | None] = []
            for x, page in zip(xs, pages):
                following = max(kind.record_ids(page)) + 1 if page.records else None
                if following is not None and following <= x:  # the search would never end
                    raise RestOffsetError(
                        f"Offset does not advance: {page.source} returned ids up to "
                        f"{following - 1}, below {kind.field}={x} (does the API honour it?)"
                    )
                found.append(following)
            return found

        found = after([start])[0]
        if found is None:
            return start
        width, low, step, high = self._width(), found, 1, None
        while high is None:
            xs = [low + step * 2**i - 1 for i in range(width)]
            for x, probe in zip(xs, after(xs)):
                if probe is None:
                    high = x
                    break
                low = max(low, probe)
            step *= 2**width
        while low < high:
            xs = sorted({low + (high - low) * j // (width + 1) for j in range(1, width + 1)})
            for x, probe in zip(xs, after(xs)):
                if probe is None:
                    high = x
                    break
                low = max(low, probe)
        return low

    def _search_pages(self, row: Mapping[str, Any], start: int, stream: str) -> int:
        """The position after the last record, galloping then cutting on page indices
        (pages of `pageSize` records from the first), with several pages asked at once."""
        kind = self.kind
        assert isinstance(kind, RecordCountKind)
        full = kind.page_size
        sizes: dict[int, int] = {}
        short: dict[int, Any] = {}

        def measure(indices: list[int]) -> list[int]:
            todo = [n for n in dict.fromkeys(indices) if n not in sizes]
            specs = [kind.index_request(row, n) for n in todo]
            for index, page in zip(todo, self._fetch_many(specs)):
                sizes[index] = len(kind.checked(page).records)
                if 0 < len(page.records) < full:
                    short[index] = page
                elif len(page.records) == full:
                    self.page_sizes.saw_full_page(stream)
            return indices

        def last_page(index: int) -> int:
            """The end on the short `index`-th page, once the page size is checked."""
            self.page_sizes.check(self._fetch, kind, stream, row, index, short[index])
            return kind.end_of_page(index, sizes[index])

        low = start // full
        measure([low])
        if sizes[low] < full:
            return max(start, last_page(low) if sizes[low] else kind.end_of_page(low, 0))
        width, step, high = self._width(), 1, None

        def scan(indices: list[int]) -> int | None:
            """Move `low`/`high` over measured pages; the end once a partial page shows."""
            nonlocal low, high
            for index in measure(indices):
                if sizes[index] == full:
                    low = index
                elif sizes[index] > 0:
                    return last_page(index)
                else:
                    high = index
                    break
            return None

        while high is None:
            if (end := scan([low + step * 2**i for i in range(width)])) is not None:
                return end
            step *= 2**width
        while high - low > 1:
            points = {low + (high - low) * j // (width + 1) for j in range(1, width + 1)}
            if (end := scan(sorted(points - {low}))) is not None:
                return end
        return kind.end_of_page(low, full)


def _whole(value: Any) -> int:
    """`value` as a whole number; ValueError for anything else (no silent truncation)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)
