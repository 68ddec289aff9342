"""One timed run of one variant against the benchmark server, with its checks.

**End to end** (`e2e_s`, the headline) runs from `query.start()` (stream, baseline) or the
batch write's `save()` to the sink having every record (`awaitTermination` / `save`
returning); the Spark session and its workers already exist. `startup_s` is the part before
the first request the API logged (Spark's query start, plus whatever the source does before
it asks for anything) and `wall_s` the rest: the secondary, start-up-excluded view. For
`limit` (no Spark) `e2e_s` = `wall_s` is its child processes' own span, from the first
request to the last parse (`comparators.limit`), and `startup_s` is 0. `first_data_s` runs
from the start to the first data request (past the probe or end search, the offset log and
the planning: the time before any record can be read).

**CPU** (`cpu_s`, user + system over the same span as `e2e_s`): for Spark runs every process
under this one (the JVM, Spark's Python workers, the driver-side source runner); for the
limit its child processes' own; a Spark run's is also split into the JVM's own threads
(`jvm_cpu_s`) and the Python processes under it (`python_cpu_s`). `api_cpu_s` is this
process's own: the API server (and the harness, idle while a run waits), which serves every
variant alike. A stream run also keeps
Spark's `durationMs` of its micro-batches, summed (`latestOffset`, `addBatch`, …).

`partitions` / `request_concurrency` are the `numPartitions` / `requestConcurrency` options
of the run, None when not set (rest_stream's default). `concurrency` is the number of
requests in flight the run is paired with: for Spark runs `requestConcurrency` × the task
slots the run uses (1 for a chain kind), for the limit its own, for the baseline 1.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from benchmarks.comparators.limit import in_flight, run_processes, split
from benchmarks.diagnostics.rss import WorkerRssSampler
from benchmarks.harness.config import DEFAULT_CONCURRENCY
from benchmarks.harness.load import CpuWatch, cpu_by_kind, own_cpu_s
from benchmarks.harness.server import BenchServer
from rest_stream.driver.planner import default_parallelism


@dataclass(frozen=True)
class Job:
    """One run to do: a variant, the options of a Spark run (None = not set), the requests in
    flight of a limit run (0 = derived from the options)."""

    variant: str
    partitions: int | None = None
    concurrency: int | None = None
    in_flight: int = 0


def paired_in_flight(job: Job, kind_name: str, slots: int, streams: int = 1) -> int:
    """The requests in flight of the limit a Spark `job` is compared with: its
    `requestConcurrency` (default 4) × the task slots it uses (min(`numPartitions`, default
    max(2, CPUs)), slots)), 1 for one stream of a chain kind."""
    if job.variant == "limit":
        return job.in_flight
    if job.variant == "baseline":
        return 1
    partitions = job.partitions or default_parallelism()
    concurrency = job.concurrency or DEFAULT_CONCURRENCY
    return in_flight(kind_name, concurrency, partitions, slots, streams)


@dataclass
class RunResult:
    """What one run measured (see the module docstring). `repeat` is -1 for a warm-up run;
    `span_s` is the time from the first data request to the last answer (the API's view);
    `other_load` the share of the machine's cores other processes used meanwhile;
    `batch_partitions` the input partitions of each micro-batch, when recorded."""

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
    cpu_s: float | None = None
    api_cpu_s: float | None = None
    first_data_s: float | None = None
    jvm_cpu_s: float | None = None
    python_cpu_s: float | None = None
    shape: str = "nested"
    durations_ms: dict[str, int] | None = field(default=None)
    kind: str = "page"
    scenario: str = ""
    streams: int = 1
    batch_partitions: list[int] | None = field(default=None)

    @property
    def records_per_s(self) -> float:
        """Records per second of wall time excluding start-up."""
        return self.records / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def e2e_records_per_s(self) -> float:
        """Records per second end to end (start-up included): the headline."""
        return self.records / self.e2e_s if self.e2e_s > 0 else 0.0

    @property
    def cpu_per_million(self) -> float | None:
        """CPU seconds per 1 000 000 records (`cpu_s`)."""
        if self.cpu_s is None or self.records <= 0:
            return None
        return self.cpu_s * 1_000_000 / self.records


Outcome = tuple[int, float | None, float | None, float | None]
"""(records read, own wall or None, own RSS or None, own CPU or None) of one variant."""


class Runner:
    """Runs variants against one server in one Spark session on `slots` task slots.
    `partition_counts`: stream runs record each micro-batch's input partitions."""

    def __init__(
        self,
        spark: SparkSession,
        server: BenchServer,
        sampler: WorkerRssSampler,
        *,
        slots: int,
        scenario: str = "",
        partition_counts: bool = False,
    ) -> None:
        self.spark = spark
        self.server = server
        self.sampler = sampler
        self.slots = slots
        self.scenario = scenario
        self.partition_counts = partition_counts
        self._t0: float | None = None
        self._batches: list[int] | None = None
        self._durations: dict[str, int] | None = None

    def total_concurrency(self, job: Job) -> int:
        """Requests in flight the run is paired with (`paired_in_flight`)."""
        return paired_in_flight(job, self.server.offset_kind, self.slots, self.server.streams)

    def run(self, job: Job, repeat: int) -> RunResult:
        """One run; failures and wrong counts come back as `error`, never raised."""
        action: Callable[[Job, bool], Outcome] = {
            "batch": self._batch,
            "stream": self._stream,
            "baseline": self._baseline,
            "limit": self._limit,
        }[job.variant]
        self.server.reset()
        self.sampler.reset()
        self._t0, self._batches, self._durations = None, None, None
        self._cpu0: tuple[dict[str, float], float] | None = None
        error = None
        records, own_wall, own_rss, own_cpu = 0, None, None, None
        watch = CpuWatch()
        started = time.perf_counter()
        try:
            records, own_wall, own_rss, own_cpu = action(job, repeat < 0)
        except Exception as exc:  # a broken variant is reported, the others still run
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        finished = time.perf_counter()
        cpu_now = (cpu_by_kind(), own_cpu_s())
        cpu_s, api_cpu_s, first_data = own_cpu, None, None
        jvm_cpu_s = python_cpu_s = None
        if self._cpu0 is not None:
            api_cpu_s = cpu_now[1] - self._cpu0[1]
            spent = {k: cpu_now[0][k] - self._cpu0[0].get(k, 0.0) for k in cpu_now[0]}
            if own_cpu is None:  # a Spark run: everything under this process
                cpu_s = sum(spent.values())
                jvm_cpu_s, python_cpu_s = spent["jvm"], spent["python"]
        if own_wall is not None:  # limit: its own span; no Spark, so no start-up
            startup, e2e = 0.0, own_wall
        else:  # the server's log is stamped with this process's perf_counter, as `t0` is
            t0 = self._t0 if self._t0 is not None else started
            e2e = finished - t0
            first = self.server.first_request_at()
            startup = 0.0 if first is None else min(max(0.0, first - t0), e2e)
            data = self.server.first_data_request_at()
            first_data = None if data is None else min(max(0.0, data - t0), e2e)
        other = watch.other_share(finished - started)
        peak = self.sampler.read()
        gaps = self.server.uncovered()
        if error is None and gaps:
            error = f"ids never requested: {gaps[:3]}"
        if error is None and records != self.server.records:
            error = f"read {records} records, expected {self.server.records}"
        is_limit = job.variant == "limit"
        return RunResult(
            variant=job.variant,
            partitions=job.partitions,
            latency_ms=self.server.latency_ms,
            request_concurrency=job.concurrency,
            repeat=repeat,
            wall_s=e2e - startup,
            startup_s=startup,
            e2e_s=e2e,
            span_s=self.server.span_s(),
            records=records,
            pages=self.server.pages,
            requests=self.server.requests(),
            concurrency=self.total_concurrency(job),
            peak_in_flight=self.server.peak_in_flight(),
            rss_mb=own_rss if is_limit else peak.single_mb,
            rss_total_mb=own_rss if is_limit else peak.total_mb,
            other_load=other,
            error=error,
            kind=self.server.offset_kind,
            scenario=self.scenario,
            streams=self.server.streams,
            batch_partitions=self._batches,
            cpu_s=cpu_s,
            api_cpu_s=api_cpu_s,
            jvm_cpu_s=jvm_cpu_s,
            python_cpu_s=python_cpu_s,
            first_data_s=first_data,
            shape=self.server.shape,
            durations_ms=self._durations,
        )

    def _start_clock(self) -> None:
        """Mark the start of the timed span: `t0` and the CPU counters."""
        self._cpu0 = (cpu_by_kind(), own_cpu_s())
        self._t0 = time.perf_counter()

    # -- the variants (job, warm-up?) → (records read, own wall or None, own RSS or None) --
    def _rest(self, job: Job, reader: Any) -> Any:
        options = self.server.rest_options(job.partitions, job.concurrency)
        return reader.format("rest").schema(self.server.schema).options(**options).load()

    def _batch(self, job: Job, check: bool) -> Outcome:
        frame: DataFrame = self._rest(job, self.spark.read)
        writer = frame.write.format("noop").mode("overwrite")
        self._start_clock()
        writer.save()
        if check:  # exact count, outside the timed runs
            return frame.count(), None, None, None
        return self.server.records, None, None, None

    def _stream(self, job: Job, check: bool) -> Outcome:
        frame = self._rest(job, self.spark.readStream)
        return self._until_done(frame), None, None, None

    def _baseline(self, job: Job, check: bool) -> Outcome:
        frame = (
            self.spark.readStream.format("bench_seed")
            .schema(self.server.schema)
            .option("url", self.server.url)
            .option("pageSize", str(self.server.page_size))
            .option("offsetKind", self.server.offset_kind)
            .option("shape", self.server.shape)
            .load()
        )
        return self._until_done(frame), None, None, None

    def _until_done(self, frame: DataFrame) -> int:
        """Run `frame` to the noop sink (or a `foreachBatch` that notes each micro-batch's
        input partitions, then writes to noop) with `availableNow` and a fresh checkpoint."""
        checkpoint = tempfile.mkdtemp(prefix="rest-bench-ckpt-")
        try:
            writer = frame.writeStream.option("checkpointLocation", checkpoint)
            if self.partition_counts:
                counts: list[int] = []

                def each(batch: DataFrame, batch_id: int) -> None:
                    counts.append(batch.rdd.getNumPartitions())
                    batch.write.format("noop").mode("overwrite").save()

                writer = writer.foreachBatch(each)
                self._batches = counts
            else:
                writer = writer.format("noop")
            writer = writer.trigger(availableNow=True)
            self._start_clock()
            query = writer.start()
            query.awaitTermination()
            if query.exception() is not None:
                raise RuntimeError(str(query.exception()))
            progress = query.recentProgress
            durations: dict[str, int] = {}
            for update in progress:
                for name, ms in (update["durationMs"] or {}).items():
                    durations[name] = durations.get(name, 0) + int(ms)
            self._durations = durations
            return sum(int(p["numInputRows"]) for p in progress)
        finally:
            shutil.rmtree(checkpoint, ignore_errors=True)

    def _limit(self, job: Job, check: bool) -> Outcome:
        total = self.total_concurrency(job)
        processes, concurrency = split(total, self.slots)
        self._start_clock()  # the API's CPU; the limit's own comes from its children
        result = run_processes(
            self.server.url,
            self.server.offset_kind,
            self.server.page_size,
            processes=processes,
            concurrency=concurrency,
            streams=self.server.streams,
        )
        return result.records, result.seconds, result.peak_rss_mb, result.cpu_s
