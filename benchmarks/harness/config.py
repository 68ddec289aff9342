"""What a benchmark run measures: presets of scenarios, CLI overrides, the schema every
variant reads.

A scenario is one dataset (records, streams) read with a set of offset kinds at a set of
latencies, by a set of variants, each Spark variant under a set of *settings*
(`numPartitions`, `requestConcurrency`; None = not set, i.e. rest_stream's default). The limit
runs once per distinct number of requests in flight its Spark runs need (see
`comparators.limit`), the baseline once per kind and latency.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"

#: batch = spark.read, stream = readStream availableNow, baseline = seed-style simple reader,
#: limit = the best any client can do with the same requests in flight (no Spark).
VARIANTS = ("batch", "stream", "baseline", "limit")
SPARK_VARIANTS = ("batch", "stream")
OFFSET_KINDS = ("page", "offset", "incremental", "timestamp", "cursor", "link")
#: rest_stream's `requestConcurrency` default (`rest_stream.options.parse`).
DEFAULT_CONCURRENCY = 4

Setting = tuple[int | None, int | None]
"""(numPartitions, requestConcurrency) of a Spark run; None = the option is not set."""
DEFAULT: Setting = (None, None)

#: Record shapes of `rest_stream.demo.DemoApi` the scenarios read: "nested" (shaped like a
#: real API's records: an array of strings, a nested object, nulls and missing fields; the
#: default) and "flat" (the same scalar fields, never null).
SHAPES = ("nested", "flat")

_SCALARS = [
    StructField("id", LongType()),
    StructField("ts", LongType()),
    StructField("name", StringType()),
    StructField("value", DoubleType()),
    StructField("active", BooleanType()),
    StructField("category", StringType()),
    StructField("score", LongType()),
]
#: Each shape's full schema, given explicitly so no variant samples one.
SCHEMAS: dict[str, StructType] = {
    "nested": StructType(
        [
            *_SCALARS,
            StructField("tags", ArrayType(StringType())),
            StructField(
                "geo",
                StructType([StructField("lat", DoubleType()), StructField("lon", DoubleType())]),
            ),
        ]
    ),
    "flat": StructType(_SCALARS),
    "demo": StructType(
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
    ),
}
#: The schema of the default records (`SCHEMAS["nested"]`).
SCHEMA = SCHEMAS[SHAPES[0]]


def setting_label(setting: Setting) -> str:
    """`default`, `numPartitions 8`, `requestConcurrency 8`, or both."""
    partitions, concurrency = setting
    parts = [f"numPartitions {partitions}"] if partitions is not None else []
    parts += [f"requestConcurrency {concurrency}"] if concurrency is not None else []
    return ", ".join(parts) or "default"


@dataclass(frozen=True)
class Scenario:
    """One dataset and what reads it. `streams` > 1: that many `inputData` streams of
    `records / streams` records each (incremental ids; `harness.server`). `partition_counts`
    records each micro-batch's input partitions (a `foreachBatch` sink instead of noop);
    `probe` finds an incremental stream's end with `/latest` instead of an end search (always
    so with several streams). `shapes`: the record shapes read, one API each (`SHAPES`)."""

    name: str
    records: int
    kinds: tuple[str, ...]
    latencies_ms: tuple[float, ...]
    settings: tuple[Setting, ...]
    variants: tuple[str, ...]
    repeats: int
    streams: int = 1
    warmup: bool = True
    partition_counts: bool = False
    probe: bool = False
    shapes: tuple[str, ...] = SHAPES

    def replace(self, **changes: object) -> Scenario:
        """A copy with `changes` (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


@dataclass(frozen=True)
class BenchConfig:
    """One invocation of the harness."""

    preset: str
    scenarios: tuple[Scenario, ...]
    page_size: int = 500
    memory: bool = False
    memory_records: int = 1_000_000
    floor_runs: int = 5
    output: Path = RESULTS
    charts: bool = True
    #: the scale benchmarks after the scenarios: `many_streams` (planning at 1,000 and
    #: 10,000 streams, a Spark run of 10,000) and `freshness` (100,000 records/s for 30 s)
    scale: bool = False

    def replace(self, **changes: object) -> BenchConfig:
        """A copy with `changes` (None values are ignored)."""
        given = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **given)  # type: ignore[arg-type]


N8: Setting = (8, None)

# The full preset aims at 15–20 minutes on 2 idle cores (3 repeats; the 1M run without
# warm-up and without the baseline, which would hold a million tuples on the driver; the
# streams comparison at 20 ms only: a 1000-stream run took 89 s on a heavily loaded machine).
# The scale benchmarks add about 3 minutes.

PRESETS: dict[str, BenchConfig] = {
    "full": BenchConfig(
        preset="full",
        scenarios=(
            Scenario(
                "kinds",
                records=200_000,
                kinds=OFFSET_KINDS,
                latencies_ms=(0.0, 20.0),
                settings=(DEFAULT, N8),
                variants=VARIANTS,
                repeats=3,
            ),
            Scenario(
                "1M",
                records=1_000_000,
                kinds=("incremental", "page"),
                latencies_ms=(20.0,),
                settings=(N8,),
                variants=("batch", "stream", "limit"),
                repeats=3,
                probe=True,
            ),
            Scenario(
                "sweep",
                records=200_000,
                kinds=("page",),
                latencies_ms=(20.0,),
                settings=((1, None), (2, None), (4, None), (8, None)),
                variants=("stream", "limit"),
                repeats=3,
                warmup=False,
                shapes=("nested",),
            ),
            Scenario(
                "1 stream",
                records=20_000,
                kinds=("incremental",),
                latencies_ms=(20.0,),
                settings=(DEFAULT, N8),
                variants=("stream", "limit"),
                repeats=3,
                partition_counts=True,
                probe=True,
                shapes=("nested",),
            ),
            Scenario(
                "1000 streams",
                records=20_000,
                kinds=("incremental",),
                latencies_ms=(20.0,),
                settings=(DEFAULT, N8),
                variants=("stream", "limit"),
                repeats=3,
                streams=1000,
                partition_counts=True,
                warmup=False,  # "1 stream" just warmed the same path
                shapes=("nested",),
            ),
        ),
        memory=True,
        scale=True,
    ),
    "smoke": BenchConfig(
        preset="smoke",
        scenarios=(
            Scenario(
                "kinds",
                records=20_000,
                kinds=OFFSET_KINDS,
                latencies_ms=(5.0,),
                settings=(DEFAULT, N8),
                variants=VARIANTS,
                repeats=1,
            ),
            Scenario(
                "100 streams",
                records=2_000,
                kinds=("incremental",),
                latencies_ms=(5.0,),
                settings=(DEFAULT,),
                variants=("stream", "limit"),
                repeats=1,
                streams=100,
                partition_counts=True,
                warmup=False,
                shapes=("nested",),
            ),
        ),
        floor_runs=3,
        charts=True,
    ),
}
