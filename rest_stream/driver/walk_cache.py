"""Pages the driver walked for a batch: kept until the batch is planned, bounded in bytes
across every stream (`maxBytesPerBatch`)."""

from __future__ import annotations

import json
import threading
from typing import Any

from rest_stream.partitions import CarriedPage
from rest_stream.positions.walk import DescendingWalk, Walk


def position_key(position: Any) -> str:
    """A position as canonical JSON (Spark compares offsets as strings)."""
    return json.dumps(position, sort_keys=True)


class ByteBudget:
    """Bytes of pages one batch may walk, shared by every stream's walk (thread-safe)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.spent = 0
        self._lock = threading.Lock()

    def spend(self, size: int) -> None:
        with self._lock:
            self.spent += size

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self.spent >= self.limit


def carried(walk: Walk | DescendingWalk) -> list[CarriedPage]:
    """Walk the chain: each page's body and the slice of it that belongs to the batch (of its
    records in reverse when the page was read oldest first)."""
    pages = []
    for walked in walk:
        start = 0  # a paginated answer travels as its pages, each with its share of the slice
        for part in walked.page.parts or (walked.page,):
            count = len(part.records)
            keep = None
            first, stop = max(walked.first - start, 0), min(walked.stop - start, count)
            if walked.keep is not None:  # records picked by time: this part's, by index
                keep = tuple(k - start for k in walked.keep if start <= k < start + count)
                first, stop = (keep[0], keep[-1] + 1) if keep else (0, 0)
            if stop > first:
                pages.append(
                    CarriedPage(
                        part.body, part.source, part.status, first, stop, part.reversed, keep
                    )
                )
            start += count
    return pages


class WalkCache:
    """Walked pages by (stream, start), with the end they reach; forgotten at commit."""

    def __init__(self) -> None:
        self._pages: dict[tuple[str, str], tuple[Any, list[CarriedPage]]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, start: Any, end: Any, pages: list[CarriedPage]) -> None:
        with self._lock:
            self._pages[(key, position_key(start))] = (end, pages)

    def take(self, key: str, start: Any, end: Any) -> list[CarriedPage] | None:
        """The pages walked from `start` when they reach exactly `end`, else None."""
        with self._lock:
            cached = self._pages.pop((key, position_key(start)), None)
        if cached is not None and position_key(cached[0]) == position_key(end):
            return cached[1]
        return None

    def forget_before(self, end: dict[str, Any]) -> None:
        """Drop pages of batches that ended before `end` (Spark committed them)."""
        done = {(k, position_key(v)) for k, v in end.items()}
        with self._lock:
            self._pages = {k: v for k, v in self._pages.items() if k in done}

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
