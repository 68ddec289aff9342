"""The memory check: 1 000 000 records in ONE task (batch read, page kind, noop sink).

Target: the Python worker's peak RSS stays under 300 MB, i.e. memory is bounded by a few
pages, never by the range length.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import SparkSession

from benchmarks.diagnostics.rss import WorkerRssSampler
from benchmarks.harness.server import BenchServer
from benchmarks.measurements.variants import Job, Runner

TARGET_MB = 300.0


@dataclass
class MemoryCheck:
    """Peak RSS of the largest Python worker while one task read every record.

    `idle_rss_mb` is the largest worker before the run (imports, earlier runs); `wall_s` and
    `records_per_s` exclude Spark start-up, as in the table.
    """

    records: int
    page_size: int
    concurrency: int
    idle_rss_mb: float
    peak_rss_mb: float | None
    wall_s: float
    records_per_s: float
    target_mb: float = TARGET_MB
    met: bool = False
    error: str | None = None


def memory_check(
    spark: SparkSession,
    sampler: WorkerRssSampler,
    *,
    records: int = 1_000_000,
    page_size: int = 500,
    concurrency: int = 4,
    slots: int = 2,
) -> MemoryCheck:
    """Serve `records` records at 0 ms, read them in one batch task, report the peak RSS."""
    with BenchServer(records, page_size) as server:
        server.warm()
        runner = Runner(spark, server, sampler, slots=slots)
        idle = sampler.largest_now()
        result = runner.run(Job("batch", 1, concurrency), repeat=0)
    peak = result.rss_mb
    return MemoryCheck(
        records=records,
        page_size=page_size,
        concurrency=concurrency,
        idle_rss_mb=idle,
        peak_rss_mb=peak,
        wall_s=result.wall_s,
        records_per_s=result.records_per_s,
        met=result.error is None and peak is not None and peak < TARGET_MB,
        error=result.error,
    )


def describe(check: MemoryCheck) -> str:
    """One line for the console and the docs."""
    if check.error:
        return f"memory check failed: {check.error}"
    verdict = "met" if check.met else "NOT met"
    return (
        f"memory: {check.records:,} records in one task (page kind, {check.page_size}/page, "
        f"requestConcurrency {check.concurrency}): peak worker RSS {check.peak_rss_mb:.0f} MB "
        f"(idle before {check.idle_rss_mb:.0f} MB; target < {check.target_mb:.0f} MB: "
        f"{verdict}), {check.wall_s:.1f} s, {check.records_per_s:,.0f} records/s"
    )
