"""Spark's own per-query cost: a trivial stream source, `bench_floor`, read with `availableNow`.

The source returns one row (`initialOffset` {"p": 0}, `latestOffset` {"p": 1}). Spark calls it
in a Python process of its own, so it notes the wall clock (`time.time()`, which processes
share) of its first `initialOffset` call in the file named by option `stampPath`. `measure`
runs the query to the noop sink with a fresh checkpoint, once to warm up and then `runs`
times, like the stream and baseline variants; the medians are what any source pays per query
before and around its own work.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadLimit, SupportsTriggerAvailableNow


class FloorStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """One offset step holding one row; stamps its first `initialOffset` call."""

    def __init__(self, stamp_path: str) -> None:
        self.stamp_path = stamp_path
        self._stamped = False

    def initialOffset(self) -> dict[str, int]:
        """Nothing read yet; the first call appends `time.time()` to the stamp file."""
        if not self._stamped:
            with open(self.stamp_path, "a") as stamp:
                stamp.write(f"{time.time()!r}\n")
            self._stamped = True
        return {"p": 0}

    def prepareForTriggerAvailableNow(self) -> None:
        """The end is fixed already."""

    def latestOffset(self, start: dict[str, int], limit: ReadLimit) -> dict[str, int]:
        """Always one step."""
        return {"p": 1}

    def partitions(self, start: dict[str, int], end: dict[str, int]) -> list[InputPartition]:
        """One partition."""
        return [InputPartition(0)]

    def read(self, partition: InputPartition) -> Iterator[tuple[int]]:
        """The one row."""
        yield (1,)

    def commit(self, end: dict[str, int]) -> None:
        """Nothing to clean up."""


class FloorDataSource(DataSource):
    """Format `bench_floor`: option `stampPath` (a file the source may append to)."""

    @classmethod
    def name(cls) -> str:
        """The format name."""
        return "bench_floor"

    def schema(self) -> str:
        """One int column."""
        return "x int"

    def streamReader(self, schema: object) -> DataSourceStreamReader:
        """The stamping reader."""
        options = {k.lower(): v for k, v in self.options.items()}
        return FloorStreamReader(options["stamppath"])


@dataclass
class FloorRun:
    """One query: `total_s` from `load()` to `awaitTermination` returning, `before_source_s`
    from `load()` to `initialOffset` being called, and the rows the sink got."""

    total_s: float
    before_source_s: float
    rows: int


@dataclass
class Floor:
    """Medians of the timed runs (None if every run failed)."""

    runs: list[FloorRun] = field(default_factory=list)
    total_s: float | None = None
    before_source_s: float | None = None
    error: str | None = None


def run_once(spark: SparkSession) -> FloorRun:
    """One `bench_floor` query to the noop sink with a fresh checkpoint."""
    workdir = Path(tempfile.mkdtemp(prefix="rest-bench-floor-"))
    stamp = workdir / "stamp"
    try:
        started_wall = time.time()
        started = time.perf_counter()
        frame = spark.readStream.format("bench_floor").option("stampPath", str(stamp)).load()
        query = (
            frame.writeStream.format("noop")
            .option("checkpointLocation", str(workdir / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()
        total = time.perf_counter() - started
        if query.exception() is not None:
            raise RuntimeError(str(query.exception()))
        rows = sum(int(p["numInputRows"]) for p in query.recentProgress)
        if rows != 1:
            raise RuntimeError(f"the floor source gave {rows} rows, expected 1")
        called = float(stamp.read_text().split()[0])
        return FloorRun(total_s=total, before_source_s=called - started_wall, rows=rows)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(spark: SparkSession, runs: int = 5, *, warmup: bool = True) -> Floor:
    """One warm-up query (if `warmup`) and `runs` timed ones; failures come back as `error`."""
    floor = Floor()
    try:
        if warmup:
            run_once(spark)
        for _ in range(runs):
            floor.runs.append(run_once(spark))
    except Exception as exc:  # reported, the benchmark's other results still stand
        floor.error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    if floor.runs:
        floor.total_s = statistics.median(r.total_s for r in floor.runs)
        floor.before_source_s = statistics.median(r.before_source_s for r in floor.runs)
    return floor


def describe(floor: Floor) -> str:
    """One line for the console, under the table."""
    if floor.error or floor.total_s is None or floor.before_source_s is None:
        return f"floor measurement failed: {floor.error or 'no runs'}"
    return (
        f"Spark's own per-query cost, a source that returns one row: {floor.total_s:.2f} s "
        f"total, {floor.before_source_s:.2f} s before the source is first called "
        f"(medians of {len(floor.runs)} availableNow queries to the noop sink)"
    )
