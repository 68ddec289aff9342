"""Where a splittable range ends: a probe (`latestOffsetUrl`), the clock, or a search."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rest_stream.errors import RestOffsetError
from rest_stream.extract import compile_path
from rest_stream.offsets import IncrementalOffset, OffsetKind, PageOffset, Position, TimestampOffset
from rest_stream.template import build_request
from rest_stream.timestamps import now_micros


class EndFinder:
    """Finds the current end of a stream for a splittable offset kind."""

    def __init__(self, kind: OffsetKind, fetcher: Any) -> None:
        self.kind = kind
        self.fetcher = fetcher
        self.stream = kind.stream
        self.requests = 0

    def end(self, row: Mapping[str, Any], start: Position) -> Position:
        """The end of `row`'s stream now; never before `start`."""
        if self.stream.latest_offset_url:
            end = self._probe(row)
        elif isinstance(self.kind, TimestampOffset):
            lag = int(self.stream.timestamp_lag_seconds * 1_000_000)
            end = self.kind.native(now_micros() - lag)
        elif isinstance(self.kind, IncrementalOffset):
            end = self._search_ids(row, start)
        elif isinstance(self.kind, PageOffset):
            end = self._search_pages(row, start)
        else:
            raise TypeError(f"offsetType {self.kind.name} has no end to find")
        return start if self.kind.reached(start, end) else end

    def _fetch(self, spec: Any) -> Any:
        self.requests += 1
        return self.fetcher.fetch(spec)

    def _probe(self, row: Mapping[str, Any]) -> Position:
        options = self.kind.options
        probe_options = dataclasses.replace(
            options, url=self.stream.latest_offset_url, method="GET"
        )
        page = self._fetch(build_request(probe_options, row))
        path = compile_path(self.stream.latest_offset_path or "$", option="latestOffsetPath")
        value = path.first(page.document)
        if isinstance(value, list):
            value = value[-1] if value else None
        if value is None:
            if isinstance(self.kind, TimestampOffset) or page.document in ([], {}):
                return self.kind.initial()
            raise RestOffsetError(
                f"{page.source} has no value at latestOffsetPath={path.text}; "
                f"response starts: {str(page.document)[:200]!r}"
            )
        try:
            if isinstance(self.kind, PageOffset):
                return self._end_of_page(row, _whole(value))
            return self.kind.end_from_probe(value)
        except (TypeError, ValueError):
            raise RestOffsetError(
                f"{page.source}: latestOffsetPath={path.text} gives {value!r}, not a "
                f"{'timestamp' if isinstance(self.kind, TimestampOffset) else 'whole number'}"
            ) from None

    def _end_of_page(self, row: Mapping[str, Any], number: int) -> int:
        kind = self.kind
        assert isinstance(kind, PageOffset)
        if number < kind.first_page:
            return 0
        page = self._fetch(kind.request(row, (number - kind.first_page) * kind.page_size))
        return kind.end_of_page(number, len(page.records))

    def _search_ids(self, row: Mapping[str, Any], start: int) -> int:
        """Largest id + 1, by galloping then bisecting on "is any id >= x?"."""
        kind = self.kind
        assert isinstance(kind, IncrementalOffset)

        def after(x: int) -> int | None:
            page = self._fetch(kind.request(row, x))
            return max(kind.record_ids(page)) + 1 if page.records else None

        found = after(start)
        if found is None:
            return start
        low, step, high = found, 1, None
        while high is None:
            probe = after(low + step - 1)
            if probe is None:
                high = low + step - 1
            else:
                low, step = max(low, probe), step * 2
        while low < high:
            middle = (low + high) // 2
            probe = after(middle)
            if probe is None:
                high = middle
            else:
                low = max(low, probe)
        return low

    def _search_pages(self, row: Mapping[str, Any], start: int) -> int:
        """The position after the last record, by galloping then bisecting on page numbers."""
        kind = self.kind
        assert isinstance(kind, PageOffset)
        sizes: dict[int, int] = {}

        def size(number: int) -> int:
            if number not in sizes:
                position = (number - kind.first_page) * kind.page_size
                sizes[number] = len(self._fetch(kind.request(row, position)).records)
            return sizes[number]

        low = kind.page_of(start)
        if size(low) < kind.page_size:
            return max(start, kind.end_of_page(low, size(low)))
        step, high = 1, None
        while high is None:
            number = low + step
            if size(number) == kind.page_size:
                low, step = number, step * 2
            elif size(number) > 0:
                return kind.end_of_page(number, size(number))
            else:
                high = number
        while high - low > 1:
            middle = (low + high) // 2
            if size(middle) == kind.page_size:
                low = middle
            elif size(middle) > 0:
                return kind.end_of_page(middle, size(middle))
            else:
                high = middle
        return kind.end_of_page(low, kind.page_size)


def _whole(value: Any) -> int:
    """`value` as a whole number; ValueError for anything else (no silent truncation)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)
