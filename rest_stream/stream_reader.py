"""`RestStreamReader`: the full `DataSourceStreamReader` with partitioned offsets.

It answers Spark's calls and delegates the rest to named parts under `driver/`: the stream
list (`StreamList`), the poll schedule (`PollSchedule`), each stream's end in a poll
(`advance.StreamEnds`), the pages of a walked batch (`replay.BatchPages`, from the walk
cache or walked again), stream retirement (`retirement`) and planning (`planner`).
Executors run `read()` in a fresh instance: each partition carries its whole plan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
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

from rest_stream.driver.advance import Poll, StreamEnds, concurrently, log_poll
from rest_stream.driver.planner import (
    STREAMS,
    TAKEN,
    WINDOW,
    Keep,
    driver_width,
    make_offset,
    plan_batch,
    share,
    with_rate_shares,
)
from rest_stream.driver.replay import BatchPages
from rest_stream.driver.retirement import UNLISTED, retire
from rest_stream.driver.schedule import PollSchedule
from rest_stream.driver.stream_list import StreamList
from rest_stream.driver.walk_cache import ByteBudget, WalkCache, position_key
from rest_stream.errors import RestOptionError
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.http.pages import PageFetcher
from rest_stream.options.parse import RestOptions
from rest_stream.partitions import CarriedPage
from rest_stream.positions import LookbackRange, OffsetKind, Position, RangeKind, offset_kind
from rest_stream.schema import record_field_names

log = logging.getLogger("rest_stream.stream_reader")


class RestStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Streams a REST API: one position per `inputData` row, exactly once across restarts.

    Spark builds it through `spark.readStream.format("rest")`; see `docs/offsets.md`.

    >>> df = (spark.readStream.format("rest").option("url", api.url + "/items?since_id={id}")
    ...       .option("offsetType", "incremental").option("offsetField", "id").load())
    >>> df.isStreaming
    True
    """

    def __init__(self, options: RestOptions, schema: StructType) -> None:
        if options.stream.offset_type is None:
            raise RestOptionError(
                "offsetType",
                None,
                "an offset kind for readStream (incremental, timestamp, cursor, page, offset "
                "or link): a stream needs positions to resume from",
            )
        self.options = options
        self.schema = schema
        self.streams = StreamList(options, refresh_every=options.stream.streaming_interval)
        self.schedule = PollSchedule(options.stream.streaming_interval)
        self.walks = WalkCache()
        self._fetcher: PageFetcher | None = None
        self._fetcher_lock = threading.Lock()
        self._parts()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_fetcher=None, _fetcher_lock=None, walks=None)
        state.update(stream_ends=None, batch_pages=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fetcher_lock = threading.Lock()
        self.walks = WalkCache()
        self._parts()

    def _parts(self) -> None:
        """The driver's parts that hold walked pages and the session: made anew, never
        pickled."""

        def fetcher() -> PageFetcher:
            return self.fetcher  # built on first use, under its lock

        streams, walks = self.streams, self.walks
        self.stream_ends = StreamEnds(self.options, fetcher, streams, self.schedule, walks)
        self.batch_pages = BatchPages(self.options, fetcher, streams, walks)

    @property
    def kind(self) -> OffsetKind:
        """The offset kind (`offsetType`)."""
        return offset_kind(self.options)

    @property
    def driver_width(self) -> int:
        """Requests the driver sends at once across its streams: as many as one batch's
        tasks send together (`numPartitions × requestConcurrency`, at most 64)."""
        return driver_width(self.options.num_partitions, self.options.request_concurrency)

    @property
    def fetcher(self) -> PageFetcher:
        """The driver's one HTTP session (created on first use, under a lock; never
        pickled)."""
        with self._fetcher_lock:
            if self._fetcher is None:
                rate = self.options.max_requests_per_second
                fields = record_field_names(self.schema, self.options)
                self._fetcher = PageFetcher(
                    self.options,
                    rate_limit=rate,
                    record_fields=fields,
                    connections=max(self.driver_width, 8),
                    pool_width=self.driver_width,
                )
            return self._fetcher

    # -- offsets ----------------------------------------------------------------------------
    def initialOffset(self) -> dict[str, Any]:
        """Every stream at `initialOffset`."""
        kind, width = self.kind, self.driver_width
        keys = list(self.streams.current(self.fetcher))
        if self.options.stream.start_latest:
            latest = self.stream_ends.latest
            return make_offset(concurrently(lambda k: latest(kind, k), keys, width))
        initial = kind.initial()
        return make_offset({key: initial for key in keys})

    def getDefaultReadLimit(self) -> ReadLimit:
        """`ReadMaxRows(batchSize)` when `batchSize` is set, else all available."""
        size = self.options.stream.batch_size
        return ReadMaxRows(size) if size else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        """Fix each stream's end at the first `latestOffset` call; later calls stop there."""
        self.schedule.available_now = True

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        """Each stream's end for the next batch, within `limit` and `streamingInterval`."""
        kind, fetcher, width = self.kind, self.fetcher, self.driver_width
        self.schedule.begin()
        requests_before, unchanged_before = fetcher.requests, fetcher.session.kept.served
        streams = self.streams.current(fetcher)
        positions = dict(start.get(STREAMS, {}))
        late: list[str] = []
        if self.options.stream.start_latest:  # a stream listed later starts at its end
            late = [key for key in streams if key not in positions]
            positions.update(concurrently(lambda k: self.stream_ends.latest(kind, k), late, width))
        current = {key: positions.get(key, kind.initial()) for key in streams}
        budget = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        per_stream = share(budget, len(streams)) if budget else None
        if self.schedule.available_now and isinstance(kind, RangeKind):
            targets = self.schedule.targets or {}
            new = [key for key in streams if key not in targets]  # listed later by a parent
            find_end = self.stream_ends.find_end
            targets.update(concurrently(lambda k: find_end(kind, k, current[k]), new, width))
            self.schedule.targets = targets
        due = self.schedule.oldest_first(
            [key for key in streams if self.schedule.due(key) and key not in late]
        )
        poll = Poll(kind, per_stream, ByteBudget(self.options.stream.max_bytes_per_batch))
        lookback = kind if isinstance(kind, LookbackRange) else None
        windows = dict(start.get(WINDOW, {})) if lookback else {}

        def advance(key: str) -> tuple[Position, Any]:
            end = self.stream_ends.advance(poll, key, current[key])
            if lookback is None:
                return end, None
            return self.stream_ends.look_back(lookback, key, current[key], windows.get(key), end)

        advanced = concurrently(advance, due, width)
        ends = {key: end for key, (end, _) in advanced.items()}
        if lookback is not None:
            windows.update({key: window for key, (_, window) in advanced.items()})
        positions.update(current)
        positions.update(ends)
        moved = {
            key: records
            for key, records in poll.walked.items()
            if position_key(ends[key]) != position_key(current[key])
        }
        taken = moved or start.get(TAKEN, {})  # nothing moved: the same offset, no batch
        unlisted: dict[str, float] = {}
        if self.streams.from_parent:
            positions, unlisted, retired = retire(
                positions,
                streams,
                start.get(UNLISTED, {}),
                time.time(),
                self.options.stream.stream_retire_seconds,
            )
            if retired:
                log.info(
                    "retired %d streams the parent list has not listed for over %g s",
                    len(retired),
                    self.options.stream.stream_retire_seconds,
                )
        log_poll(
            self.options,
            len(streams),
            due,
            current,
            ends,
            fetcher.requests - requests_before,
            fetcher.session.kept.served - unchanged_before,
        )
        return make_offset(positions, taken, unlisted, windows)

    def reportLatestOffset(self) -> dict[str, Any] | None:
        """The newest position known per stream, beyond what `batchSize` let into the last
        batch, so a query's progress shows its lag (`sources[].latestOffset`)."""
        available = self.stream_ends.available
        return make_offset(available) if available else None

    # -- planning ---------------------------------------------------------------------------
    def partitions(self, start: dict[str, Any], end: dict[str, Any]) -> list[InputPartition]:
        """The plan of one batch: sub-ranges and the pages walked for it (walked again on a
        replay), packed into at most `numPartitions` tasks."""
        kind = self.kind
        if not self.streams.loaded:
            self.streams.current(self.fetcher)  # a replay after a restart needs the rows
        starts, ends, taken = start.get(STREAMS, {}), end.get(STREAMS, {}), end.get(TAKEN, {})
        latest = self.options.stream.start_latest  # a stream new in `end` starts there

        def first(key: str) -> Position:
            return starts.get(key, ends[key] if latest else kind.initial())

        lookback = kind if isinstance(kind, LookbackRange) else None
        before, after = start.get(WINDOW, {}), end.get(WINDOW, {})
        changed = [
            k
            for k in ends
            if position_key(first(k)) != position_key(ends[k])
            or (lookback and position_key(before.get(k)) != position_key(after.get(k)))
        ]
        bounds = {key: (first(key), ends[key]) for key in changed}
        keep: Keep | None = None
        if lookback is not None:  # read from the start's window on, deliver what is new
            windows = {
                k: (lookback.window(before.get(k), lo), lookback.window(after.get(k), hi))
                for k, (lo, hi) in bounds.items()
            }
            bounds = {
                k: (lookback.native(windows[k][0].start, like=lo), hi)
                for k, (lo, hi) in bounds.items()
            }

            def dedup(key: str, lo: Position, hi: Position) -> Any:
                return lookback.dedup(*windows[key], lo, hi)

            keep = dedup

        def walked_pages(key: str) -> list[CarriedPage] | None:
            return self.batch_pages.pages(kind, key, *bounds[key], taken.get(key))

        walked: dict[str, Any]
        if isinstance(kind, RangeKind):  # cached walks only: nothing to fetch
            walked = {key: walked_pages(key) for key in changed}
        else:
            walked = concurrently(walked_pages, changed, self.driver_width)
        ranges = [(k, self.streams.row(k), *bounds[k]) for k in changed if walked[k] is None]
        pages = [(k, self.streams.row(k), walked[k]) for k in changed if walked[k] is not None]
        range_kind = kind if isinstance(kind, RangeKind) else None
        plan = plan_batch(
            range_kind,
            ranges,
            pages,
            self.options.num_partitions,
            self.options.request_concurrency,
            keep,
        )
        return with_rate_shares(plan, self.options.max_requests_per_second)

    def commit(self, end: dict[str, Any]) -> None:
        """Forget walked pages of batches before `end`."""
        self.walks.forget_before(end.get(STREAMS, {}))

    def stop(self) -> None:
        """Close the driver's HTTP session."""
        with self._fetcher_lock:
            fetcher, self._fetcher = self._fetcher, None
        if fetcher is not None:
            fetcher.close()
        self.walks.clear()

    # -- executors --------------------------------------------------------------------------
    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """Arrow record batches of one partition (runs on an executor)."""
        yield from PartitionReader(self.options, self.schema).read(partition)
