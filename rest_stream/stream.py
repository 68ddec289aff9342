"""`RestStreamReader`: the full `DataSourceStreamReader` with partitioned offsets.

The driver-side instance finds each stream's end (`latestOffset`), walks cursor chains
(keeping the pages it read, so executors never fetch them again) and plans partitions.
Executors run `read()` in a fresh instance: each partition carries its whole plan.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
from pyspark.sql.datasource import DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    SupportsTriggerAvailableNow,
)
from pyspark.sql.types import StructType

from rest_stream.chains import Walk
from rest_stream.errors import RestOffsetError
from rest_stream.latest import EndFinder
from rest_stream.offsets import OffsetKind, Position, offset_kind
from rest_stream.options import RestOptions
from rest_stream.pages import PageFetcher
from rest_stream.partitions import CarriedPage
from rest_stream.planner import (
    STREAMS,
    make_offset,
    parts_per_stream,
    plan_pages,
    plan_ranges,
    share,
    stream_rows,
    with_rate_shares,
)
from rest_stream.reading import PartitionReader

log = logging.getLogger("rest_stream.stream")


def _key(position: Position) -> str:
    return json.dumps(position, sort_keys=True)


def _carried(walk: Walk) -> list[CarriedPage]:
    """Walk the chain; each page's body and the slice of it that belongs to the batch."""
    return [CarriedPage(w.page.body, w.page.source, w.page.status, w.first, w.stop) for w in walk]


class RestStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Streams a REST API: one position per `inputData` row, exactly once across restarts.

    >>> spark.readStream.format("rest").option("url", "https://api/items?since_id={id}") \\
    ...     .option("offsetType", "incremental").option("offsetField", "id").load()
    """

    def __init__(self, options: RestOptions, schema: StructType) -> None:
        self.options = options
        self.schema = schema
        self.streams = stream_rows(options.input_data)
        self._fetcher: PageFetcher | None = None
        self._walks: dict[tuple[str, str], tuple[Position, list[CarriedPage]]] = {}
        self._polled: dict[str, float] = {}
        self._target: dict[str, Position] | None = None
        self._available_now = False
        self._latest: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_fetcher=None, _walks={}, _latest=None)
        return state

    @property
    def kind(self) -> OffsetKind:
        """The offset kind (`offsetType`)."""
        return offset_kind(self.options)

    @property
    def fetcher(self) -> PageFetcher:
        """The driver's HTTP session (created on first use, never pickled)."""
        if self._fetcher is None:
            self._fetcher = PageFetcher(
                self.options, rate_limit=self.options.max_requests_per_second
            )
        return self._fetcher

    # -- offsets ----------------------------------------------------------------------------
    def initialOffset(self) -> dict[str, Any]:
        """Every stream at `initialOffset`."""
        initial = self.kind.initial()
        return make_offset({key: initial for key in self.streams})

    def getDefaultReadLimit(self) -> ReadLimit:
        """`ReadMaxRows(batchSize)` when `batchSize` is set, else all available."""
        size = self.options.stream.batch_size
        return ReadMaxRows(size) if size else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        """Fix each stream's end at the first `latestOffset` call; later calls stop there."""
        self._available_now = True

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        """Each stream's end for the next batch, within `limit` and `streamingInterval`."""
        kind = self.kind
        positions = dict(start.get(STREAMS, {}))
        current = {key: positions.get(key, kind.initial()) for key in self.streams}
        budget = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        per_stream = share(budget, len(self.streams)) if budget else None
        if self._available_now and self._target is None and kind.splittable:
            self._target = self._map(lambda k: self._find_end(kind, k, current[k]))
        self.fetcher  # noqa: B018 - created here, before threads share it
        due = [key for key in self.streams if self._due(key)]
        ends = self._map(lambda k: self._advance(kind, k, current[k], per_stream), due)
        positions.update(current)
        positions.update(ends)
        self._latest = make_offset(positions)
        return self._latest

    def reportLatestOffset(self) -> dict[str, Any] | None:
        """The end the last `latestOffset` call found."""
        return self._latest

    def _map(self, work: Any, keys: list[str] | None = None) -> dict[str, Any]:
        keys = list(self.streams) if keys is None else keys
        if len(keys) <= 1:
            return {key: work(key) for key in keys}
        with ThreadPoolExecutor(max_workers=min(8, len(keys))) as pool:
            return dict(zip(keys, pool.map(work, keys)))

    def _due(self, key: str) -> bool:
        if self._available_now:
            return True
        last = self._polled.get(key)
        return last is None or time.monotonic() - last >= self.options.stream.streaming_interval

    def _find_end(self, kind: OffsetKind, key: str, start: Position) -> Position:
        return EndFinder(kind, self.fetcher).end(self.streams[key], start)

    def _advance(self, kind: OffsetKind, key: str, start: Position, budget: int | None) -> Position:
        if kind.splittable and (budget is None or kind.counts_records):
            end = self._target[key] if self._target else self._find_end(kind, key, start)
            capped = end if budget is None else min(end, kind.advance(start, budget))
            if capped == end:
                self._polled[key] = time.monotonic()
            return start if kind.reached(start, capped) else capped
        return self._walk(kind, key, start, budget)

    def _walk(self, kind: OffsetKind, key: str, start: Position, budget: int | None) -> Position:
        walk = Walk(
            kind,
            self.fetcher,
            self.streams[key],
            start,
            end=self._target.get(key) if self._target else None,
            max_records=budget,
            max_pages=self.options.stream.max_pages_per_batch,
            keep_body=True,
        )
        pages = _carried(walk)
        if walk.caught_up:
            self._polled[key] = time.monotonic()
        if pages:
            self._walks[(key, _key(start))] = (walk.position, pages)
        return walk.position

    # -- planning ---------------------------------------------------------------------------
    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[InputPartition]:
        """The plan of one batch: sub-ranges, or the pages walked for it (again on replay)."""
        kind = self.kind
        starts, ends = start.get(STREAMS, {}), end.get(STREAMS, {})
        ranges, planned = [], []
        changed = [k for k in ends if _key(starts.get(k, kind.initial())) != _key(ends[k])]
        parts = parts_per_stream(self.options.num_partitions, len(changed))
        for key in changed:
            lo, hi = starts.get(key, kind.initial()), ends[key]
            pages = self._pages(kind, key, lo, hi)
            if pages is not None:
                planned += plan_pages(key, self._row(key), pages, parts)
            else:
                ranges.append((key, self._row(key), lo, hi))
        split = plan_ranges(kind, ranges, self.options.num_partitions)
        return planned + with_rate_shares(split, self.options.max_requests_per_second)

    def _pages(
        self, kind: OffsetKind, key: str, lo: Position, hi: Position
    ) -> list[CarriedPage] | None:
        cached = self._walks.pop((key, _key(lo)), None)
        if cached is not None and _key(cached[0]) == _key(hi):
            return cached[1]
        if kind.splittable:
            return None
        walk = Walk(kind, self.fetcher, self._row(key), lo, end=hi, keep_body=True)
        pages = _carried(walk)
        if _key(walk.position) != _key(hi):
            raise RestOffsetError(
                f"Replaying stream {key} from {_key(lo)} ended at {_key(walk.position)}, not "
                f"at the logged end {_key(hi)}: the API no longer serves the same pages."
            )
        return pages

    def _row(self, key: str) -> dict[str, Any]:
        """The input row of a stream; a stream logged in the checkpoint but since removed
        from `inputData` is still replayed (its key is its row)."""
        row = self.streams.get(key)
        return row if row is not None else json.loads(key)

    def commit(self, end: dict[str, Any]) -> None:
        """Forget walked pages of batches before `end`."""
        done = {(k, _key(v)) for k, v in end.get(STREAMS, {}).items()}
        self._walks = {k: v for k, v in self._walks.items() if k in done}

    def stop(self) -> None:
        """Close the driver's HTTP session."""
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None

    # -- executors --------------------------------------------------------------------------
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """Arrow record batches of one partition (runs on an executor)."""
        yield from PartitionReader(self.options, self.schema).read(partition)
