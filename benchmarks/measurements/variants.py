"""One timed run of one variant against the benchmark server, with its checks.

For the Spark variants the end-to-end time `e2e_s` starts when the reader is defined
(`spark.read...load()`) and ends when the noop sink has every record; the Spark session and
its workers already exist (the harness warms each variant up once). `startup_s` is the part
before the first request the API logged (Spark's query start, plus whatever the source does
before it asks for anything) and `wall_s` the rest: the wall time excluding start-up, which
records/s and the ratios use. For `limit` (no Spark) `wall_s` = `e2e_s` is its child
processes' own span, from the first request to the last parse (`benchmarks.comparators.limit`), and
`startup_s` is 0.

`request_concurrency` is rest_stream's `requestConcurrency` of the run (requests in flight per
task; for `limit` per process), None for the baseline, which always has one request in flight;
`concurrency` is the resulting maximum in flight over all tasks.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from benchmarks.comparators.limit import run_processes
from benchmarks.diagnostics.rss import WorkerRssSampler
from benchmarks.harness.config import SCHEMA
from benchmarks.harness.load import CpuWatch
from benchmarks.harness.server import BenchServer


@dataclass
class RunResult:
    """What one run measured. `repeat` is -1 for a warm-up run; `wall_s` excludes start-up
    (first request → done), `startup_s` is start → first request and `e2e_s` their sum;
    `span_s` is the time from the first data request to the last answer (the API's view);
    `request_concurrency` the `requestConcurrency` setting (None for the baseline) and
    `concurrency` the requests in flight it allows at most over all tasks; `other_load` the
    share of the machine's cores other processes used meanwhile."""

    variant: str
    partitions: int | None
    latency_ms: float
    request_concurrency: int | None
    repeat: int
    wall_s: float
    startup_s: float
    e2e_s: float
    span_s: float
    records: int
    pages: int
    requests: int
    concurrency: int
    peak_in_flight: int
    rss_mb: float | None
    rss_total_mb: float | None
    other_load: float = 0.0
    error: str | None = None

    @property
    def records_per_s(self) -> float:
        """Records per second of wall time excluding start-up."""
        return self.records / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def e2e_records_per_s(self) -> float:
        """Records per second end to end (start-up included)."""
        return self.records / self.e2e_s if self.e2e_s > 0 else 0.0


class Runner:
    """Runs variants against one server in one Spark session; `concurrency` is the
    `requestConcurrency` of a run that names none."""

    def __init__(
        self,
        spark: SparkSession,
        server: BenchServer,
        sampler: WorkerRssSampler,
        *,
        concurrency: int,
        slots: int,
    ) -> None:
        self.spark = spark
        self.server = server
        self.sampler = sampler
        self.concurrency = concurrency
        self.slots = slots

    def total_concurrency(
        self, variant: str, partitions: int | None, concurrency: int | None = None
    ) -> int:
        """Requests in flight at most: tasks running at once × `requestConcurrency` (default
        the runner's; × 1 for `incremental` and `timestamp`, whose next request depends on the
        last answer)."""
        if variant == "baseline":
            return 1
        per_task = (concurrency or self.concurrency) if self.server.offset_kind == "page" else 1
        return min(partitions or 1, self.slots) * per_task

    def run(
        self, variant: str, partitions: int | None, repeat: int, concurrency: int | None = None
    ) -> RunResult:
        """One run at `requestConcurrency` `concurrency` (default the runner's; ignored by the
        baseline); failures and wrong counts come back as `error`, never raised."""
        request_concurrency = None if variant == "baseline" else concurrency or self.concurrency
        action: Callable[[int | None, int, bool], tuple[int, float | None, float | None]] = {
            "batch": self._batch,
            "stream": self._stream,
            "baseline": self._baseline,
            "limit": self._limit,
        }[variant]
        self.server.reset()
        self.sampler.reset()
        error = None
        records, own_wall, own_rss = 0, None, None
        watch = CpuWatch()
        started = time.perf_counter()
        try:
            records, own_wall, own_rss = action(partitions, request_concurrency or 1, repeat < 0)
        except Exception as exc:  # a broken variant is reported, the others still run
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        elapsed = time.perf_counter() - started
        if own_wall is not None:  # limit: its own span; no Spark, so no start-up
            startup, e2e = 0.0, own_wall
        else:  # the server's log is stamped with this process's perf_counter, as `started` is
            first = self.server.first_request_at()
            startup = 0.0 if first is None else min(max(0.0, first - started), elapsed)
            e2e = elapsed
        other = watch.other_share(elapsed)
        peak = self.sampler.read()
        gaps = self.server.uncovered()
        if error is None and gaps:
            error = f"ids never requested: {gaps[:3]}"
        if error is None and records != self.server.records:
            error = f"read {records} records, expected {self.server.records}"
        return RunResult(
            variant=variant,
            partitions=partitions,
            latency_ms=self.server.latency_ms,
            request_concurrency=request_concurrency,
            repeat=repeat,
            wall_s=e2e - startup,
            startup_s=startup,
            e2e_s=e2e,
            span_s=self.server.span_s(),
            records=records,
            pages=self.server.pages,
            requests=self.server.requests(),
            concurrency=self.total_concurrency(variant, partitions, request_concurrency),
            peak_in_flight=self.server.peak_in_flight(),
            rss_mb=own_rss if variant == "limit" else peak.single_mb,
            rss_total_mb=own_rss if variant == "limit" else peak.total_mb,
            other_load=other,
            error=error,
        )

    # -- the variants (partitions, requestConcurrency, warm-up?) ----------------------------
    # -- → (records read, own wall or None, own RSS or None) ---------------------------------
    def _rest(self, partitions: int | None, concurrency: int, reader: Any) -> Any:
        options = self.server.rest_options(partitions or 1, concurrency)
        return reader.format("rest").schema(SCHEMA).options(**options).load()

    def _batch(
        self, partitions: int | None, concurrency: int, check: bool
    ) -> tuple[int, None, None]:
        frame: DataFrame = self._rest(partitions, concurrency, self.spark.read)
        frame.write.format("noop").mode("overwrite").save()
        if check:  # exact count, outside the timed runs
            return frame.count(), None, None
        return self.server.records, None, None

    def _stream(
        self, partitions: int | None, concurrency: int, check: bool
    ) -> tuple[int, None, None]:
        frame = self._rest(partitions, concurrency, self.spark.readStream)
        return self._until_done(frame), None, None

    def _baseline(
        self, partitions: int | None, concurrency: int, check: bool
    ) -> tuple[int, None, None]:
        frame = (
            self.spark.readStream.format("bench_seed")
            .schema(SCHEMA)
            .option("url", self.server.url)
            .option("pageSize", str(self.server.page_size))
            .option("offsetKind", self.server.offset_kind)
            .load()
        )
        return self._until_done(frame), None, None

    def _until_done(self, frame: DataFrame) -> int:
        """Run `frame` to the noop sink with `availableNow` and a fresh checkpoint."""
        checkpoint = tempfile.mkdtemp(prefix="rest-bench-ckpt-")
        try:
            query = (
                frame.writeStream.format("noop")
                .option("checkpointLocation", checkpoint)
                .trigger(availableNow=True)
                .start()
            )
            query.awaitTermination()
            if query.exception() is not None:
                raise RuntimeError(str(query.exception()))
            return sum(int(p["numInputRows"]) for p in query.recentProgress)
        finally:
            shutil.rmtree(checkpoint, ignore_errors=True)

    def _limit(
        self, partitions: int | None, concurrency: int, check: bool
    ) -> tuple[int, float, float]:
        processes = min(partitions or 1, self.slots)
        result = run_processes(
            self.server.url,
            self.server.offset_kind,
            self.server.page_size,
            self.server.pages,
            processes=processes,
            concurrency=self.total_concurrency("limit", partitions, concurrency) // processes,
            span=self.server.timestamp_span() if self.server.offset_kind == "timestamp" else None,
        )
        return result.records, result.seconds, result.peak_rss_mb
