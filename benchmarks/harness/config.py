"""What a benchmark run measures: presets, CLI overrides and the schema every variant reads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"

#: batch = spark.read, stream = readStream availableNow, baseline = seed-style simple reader,
#: limit = async httpx without Spark (the ceiling).
VARIANTS = ("batch", "stream", "baseline", "limit")
OFFSET_KINDS = ("page", "incremental", "timestamp")

#: The records of `rest_stream.demo.DemoApi`, given explicitly so no variant samples a schema.
SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("ts", LongType()),
        StructField("region", StringType()),
        StructField("name", StringType()),
        StructField("value", DoubleType()),
        StructField("tags", ArrayType(StringType())),
        StructField(
            "meta",
            StructType([StructField("source", StringType()), StructField("score", LongType())]),
        ),
    ]
)


@dataclass(frozen=True)
class BenchConfig:
    """One invocation of the harness; every field can be overridden from the command line.

    `concurrency` holds the `requestConcurrency` values (requests in flight per task) the
    batch, stream and limit variants run at; the baseline (one request in flight) runs once
    for all of them, and the memory check uses the first.
    """

    preset: str
    records: int
    page_size: int
    latencies_ms: tuple[float, ...]
    partitions: tuple[int, ...]
    repeats: int
    variants: tuple[str, ...] = VARIANTS
    concurrency: tuple[int, ...] = (4,)
    offset_kind: str = "page"
    memory: bool = False
    memory_records: int = 1_000_000
    warmup: bool = True
    floor_runs: int = 5
    output: Path = RESULTS

    @property
    def pages(self) -> int:
        """Data pages the dataset fills."""
        return -(-self.records // self.page_size)

    def replace(self, **changes: object) -> BenchConfig:
        """A copy with `changes` (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


PRESETS: dict[str, BenchConfig] = {
    "full": BenchConfig(
        preset="full",
        records=200_000,
        page_size=500,
        latencies_ms=(20.0, 0.0),
        partitions=(1, 2, 4, 8),
        repeats=5,
        concurrency=(4, 8),
        memory=True,
    ),
    "smoke": BenchConfig(
        preset="smoke",
        records=20_000,
        page_size=500,
        latencies_ms=(5.0,),
        partitions=(1, 4),
        repeats=1,
        floor_runs=3,
    ),
}
