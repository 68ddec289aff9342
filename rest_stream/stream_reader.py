"""`RestStreamReader`: the full `DataSourceStreamReader` with partitioned offsets.

It answers Spark's calls and delegates the rest to named parts: the stream list
(`streams.StreamList`), the poll schedule (`schedule.PollSchedule`), the end finder
(`latest.EndFinder`), chain walks and their cache (`walks`), and planning (`planner`).
Executors run `read()` in a fresh instance: each partition carries its whole plan.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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

from rest_stream.driver.ends import EndFinder
from rest_stream.driver.page_size import PageSizeCheck
from rest_stream.driver.planner import (
    STREAMS,
    TAKEN,
    WINDOW,
    Keep,
    make_offset,
    plan_batch,
    share,
    with_rate_shares,
)
from rest_stream.driver.retirement import UNLISTED, retire
from rest_stream.driver.schedule import PollSchedule
from rest_stream.driver.stream_list import StreamList
from rest_stream.driver.walk_cache import ByteBudget, WalkCache, carried, position_key
from rest_stream.errors import RestOffsetError, RestOptionError
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.http.pages import PageFetcher
from rest_stream.options.parse import RestOptions
from rest_stream.partitions import CarriedPage
from rest_stream.positions import LookbackRange, OffsetKind, Position, RangeKind, offset_kind
from rest_stream.positions.walk import walk_of
from rest_stream.schema import record_field_names

log = logging.getLogger("rest_stream.stream_reader")


@dataclass
class Poll:
    """What one `latestOffset` call shares across its streams."""

    kind: OffsetKind
    budget: int | None  # records per stream (a share of `batchSize`), or None
    bytes_left: ByteBudget  # `maxBytesPerBatch` for the pages walked, across every stream
    walked: dict[str, int] = field(default_factory=dict)  # records each walked stream took


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
        self._available: dict[str, Any] = {}
        self._page_sizes = PageSizeCheck()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_fetcher=None, _fetcher_lock=None, walks=None, _available={})
        state.update(_page_sizes=PageSizeCheck())
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fetcher_lock = threading.Lock()
        self.walks = WalkCache()

    @property
    def kind(self) -> OffsetKind:
        """The offset kind (`offsetType`)."""
        return offset_kind(self.options)

    @property
    def fetcher(self) -> PageFetcher:
        """The driver's one HTTP session (created on first use, under a lock; never
        pickled)."""
        with self._fetcher_lock:
            if self._fetcher is None:
                rate = self.options.max_requests_per_second
                fields = record_field_names(self.schema, self.options)
                self._fetcher = PageFetcher(self.options, rate_limit=rate, record_fields=fields)
            return self._fetcher

    # -- offsets ----------------------------------------------------------------------------
    def initialOffset(self) -> dict[str, Any]:
        """Every stream at `initialOffset`."""
        keys = list(self.streams.current(self.fetcher))
        if self.options.stream.start_latest:
            return make_offset(self._map(self._latest, keys))
        initial = self.kind.initial()
        return make_offset({key: initial for key in keys})

    def _latest(self, key: str) -> Position:
        """Where the stream of `key` ends now (`initialOffset=latest`): a range's end, or the
        end of a chain walked without keeping its records."""
        kind = self.kind
        if isinstance(kind, RangeKind):
            return self._find_end(kind, key, kind.initial())
        position, row = kind.initial(), self.streams.row(key)
        while True:
            walk = walk_of(
                kind,
                self.fetcher,
                row,
                position,
                max_pages=self.options.stream.max_pages_per_batch,
            )
            for _ in walk:
                pass
            if walk.caught_up or position_key(walk.position) == position_key(position):
                return walk.position
            position = walk.position

    def getDefaultReadLimit(self) -> ReadLimit:
        """`ReadMaxRows(batchSize)` when `batchSize` is set, else all available."""
        size = self.options.stream.batch_size
        return ReadMaxRows(size) if size else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        """Fix each stream's end at the first `latestOffset` call; later calls stop there."""
        self.schedule.available_now = True

    def latestOffset(self, start: dict[str, Any], limit: ReadLimit) -> dict[str, Any]:
        """Each stream's end for the next batch, within `limit` and `streamingInterval`."""
        kind, fetcher = self.kind, self.fetcher
        requests_before, unchanged_before = fetcher.requests, fetcher.session.kept.served
        streams = self.streams.current(fetcher)
        positions = dict(start.get(STREAMS, {}))
        late: list[str] = []
        if self.options.stream.start_latest:  # a stream listed later starts at its end
            late = [key for key in streams if key not in positions]
            positions.update(self._map(self._latest, late))
        current = {key: positions.get(key, kind.initial()) for key in streams}
        budget = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        per_stream = share(budget, len(streams)) if budget else None
        if self.schedule.available_now and isinstance(kind, RangeKind):
            targets = self.schedule.targets or {}
            new = [key for key in streams if key not in targets]  # listed later by a parent
            targets.update(self._map(lambda k: self._find_end(kind, k, current[k]), new))
            self.schedule.targets = targets
        due = self.schedule.oldest_first(
            [key for key in streams if self.schedule.due(key) and key not in late]
        )
        poll = Poll(kind, per_stream, ByteBudget(self.options.stream.max_bytes_per_batch))
        lookback = kind if isinstance(kind, LookbackRange) else None
        windows = dict(start.get(WINDOW, {})) if lookback else {}

        def advance(key: str) -> tuple[Position, Any]:
            end = self._advance(poll, key, current[key])
            if lookback is None:
                return end, None
            return self._look_back(lookback, key, current[key], windows.get(key), end)

        advanced = self._map(advance, due)
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
        self._log_poll(
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
        return make_offset(self._available) if self._available else None

    def _map(self, work: Callable[[str], Any], keys: list[str]) -> dict[str, Any]:
        """`work` over `keys`, `requestConcurrency` at a time (the driver's requests)."""
        if len(keys) <= 1:
            return {key: work(key) for key in keys}
        width = max(1, min(self.options.request_concurrency, len(keys)))
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="rest-poll") as pool:
            return dict(zip(keys, pool.map(work, keys)))

    def _find_end(self, kind: RangeKind, key: str, start: Position) -> Position:
        finder = EndFinder(kind, self.fetcher, page_sizes=self._page_sizes)
        return finder.end(self.streams.row(key), start, key)

    def _advance(self, poll: Poll, key: str, start: Position) -> Position:
        kind, budget = poll.kind, poll.budget
        if isinstance(kind, RangeKind) and (budget is None or kind.counts_records):
            end = self.schedule.target(key)
            if end is None:
                end = self._find_end(kind, key, start)
            self._available[key] = end
            self.schedule.polled(key)
            capped = end if budget is None else min(end, kind.advance(start, budget))
            if capped == end:
                self.schedule.caught_up(key)
            return start if kind.reached(start, capped) else capped
        return self._walk(poll, key, start)

    def _look_back(
        self, kind: LookbackRange, key: str, start: Position, kept: Any, end: Position
    ) -> tuple[Position, Any]:
        """The end and window (as the offset keeps it) of a stream with `lookbackSeconds`:
        the window before `end` read again (`LookbackRange.look_back`)."""
        window = kind.window(kept, start)
        row = self.streams.row(key)
        end, window = kind.look_back(self.fetcher, row, start, window, end, stream=key)
        return end, kind.window_offset(window, end)

    def _walk(self, poll: Poll, key: str, start: Position) -> Position:
        kind = poll.kind
        walk = walk_of(
            kind,
            self.fetcher,
            self.streams.row(key),
            start,
            end=self.schedule.target(key),
            max_records=poll.budget,
            max_pages=self.options.stream.max_pages_per_batch,
            keep_body=True,
            byte_budget=poll.bytes_left,
        )
        pages = carried(walk)
        if walk.pages:
            self.schedule.polled(key)
        if walk.caught_up:
            self.schedule.caught_up(key)
        if pages and not isinstance(kind, LookbackRange):  # its batches read the window again
            self.walks.put(key, start, walk.position, pages)
        if not isinstance(kind, RangeKind):  # a walked range replays as a range
            poll.walked[key] = walk.records
        self._available[key] = walk.latest
        return walk.position

    def _log_poll(
        self,
        total: int,
        due: list[str],
        current: dict[str, Any],
        ends: dict[str, Any],
        requests: int,
        unchanged: int = 0,
    ) -> None:
        moved = {k: v for k, v in ends.items() if position_key(v) != position_key(current[k])}
        shown = ", ".join(
            f"{self.options.redact(k)}: {position_key(current[k])} → {position_key(v)}"
            for k, v in list(moved.items())[:5]
        )
        more = f" (+{len(moved) - 5} more)" if len(moved) > 5 else ""
        log.info(
            "poll: %d of %d streams due, %d requests (%d answered 304 Not Modified), "
            "%d streams advance%s%s",
            len(due),
            total,
            requests,
            unchanged,
            len(moved),
            f": {shown}" if shown else "",
            more,
        )

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

        walked = self._map(lambda k: self._pages(kind, k, *bounds[k], taken.get(k)), changed)
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

    def _pages(
        self, kind: OffsetKind, key: str, lo: Position, hi: Position, taken: int | None
    ) -> list[CarriedPage] | None:
        """The pages walked for `[lo, hi)`: cached, walked again on a replay (exactly the
        `taken` records the logged batch took, when the offset says), or None for a range to
        read on executors."""
        cached = self.walks.take(key, lo, hi)
        if cached is not None:
            return cached
        if isinstance(kind, RangeKind):
            return None  # a walked range replays as a range: its ends fall between timestamps
        row = self.streams.row(key)
        walk = walk_of(kind, self.fetcher, row, lo, end=hi, keep_body=True, expected=taken)
        pages = carried(walk)
        short = taken is not None and walk.records != taken
        if short or position_key(walk.position) != position_key(hi):
            counts = f" after {walk.records} of its {taken} records" if taken is not None else ""
            raise RestOffsetError(
                f"Replaying stream {self.options.redact(key)} from {position_key(lo)} ended at "
                f"{position_key(walk.position)}{counts}, not at the logged end "
                f"{position_key(hi)}: the API no longer serves the same pages."
            )
        return pages

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
