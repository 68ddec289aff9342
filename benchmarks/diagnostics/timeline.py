"""Start-up and the rest of a run, phase by phase: the API's request log and the first row in
the sink.

`python -m benchmarks.diagnostics.timeline [--records 1000000] [--latency-ms 20]
[--partitions 8] [--kind incremental] [--shape nested] [--no-probe] [--repeats 3]`

A batch read (`save()`) and an `availableNow` stream (`start()`) of the same range, in turn,
into `bench_first_row` (`diagnostics.first_row`: a sink that notes when the first row
reaches it). Seconds from `start()` / `save()`:

- start → first request: Spark's start of the query up to the first request the API sees
  (a stream: the source's own Python process, its imports, `initialOffset`; a batch: the
  planning worker);
- first request → first data request: the probe (or end search), the offset log,
  `partitions()` and the launch of the tasks;
- first data request → first row in the sink: the first page's round trip, decoding, the
  hand-over to the JVM and on to the sink;
- first row → last answer, last answer → done (commit, the stream's last poll).

This sink is slower than the noop sink of `benchmarks.run` after the first row (it turns every
row back into Arrow) and a stream also sets up its Python writer before the source starts,
so the first phase of a stream is longer here than `benchmarks.run`'s start-up column; the
two phases between the first request and the first row are what this diagnostic adds.
Streams also show Spark's `durationMs` (summed over micro-batches). Medians over the
repeats, after one warm-up run of each.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from benchmarks.diagnostics.first_row import FirstRowSink, first_row
from benchmarks.harness.config import OFFSET_KINDS, SHAPES
from benchmarks.harness.server import BenchServer

PHASES = (
    "start → first request",
    "first request → first data request",
    "first data request → first row in the sink",
    "first row → last answer",
    "last answer → done",
    "e2e (this sink)",
)
DURATIONS = ("latestOffset", "walCommit", "queryPlanning", "addBatch", "commitOffsets")


def run_once(
    spark: SparkSession, server: BenchServer, variant: str, options: dict[str, str]
) -> tuple[dict[str, float], dict[str, float]]:
    """One run of `variant` ("batch" or "stream"): its phases and (stream) Spark's durations."""
    work = Path(tempfile.mkdtemp(prefix="rest-timeline-"))
    stamp = work / "first-row.jsonl"
    server.reset()
    durations: dict[str, float] = {}
    try:
        if variant == "stream":
            frame = spark.readStream.format("rest").schema(server.schema).options(**options)
            writer = (
                frame.load()
                .writeStream.format("bench_first_row")
                .option("stampPath", str(stamp))
                .option("checkpointLocation", str(work / "checkpoint"))
                .trigger(availableNow=True)
            )
            started = time.perf_counter()
            query = writer.start()
            query.awaitTermination()
            finished = time.perf_counter()
            for update in query.recentProgress:
                for name, ms in (update["durationMs"] or {}).items():
                    durations[name] = durations.get(name, 0.0) + ms / 1000
        else:
            frame = spark.read.format("rest").schema(server.schema).options(**options).load()
            save = frame.write.format("bench_first_row").option("stampPath", str(stamp))
            started = time.perf_counter()
            save.mode("append").save()
            finished = time.perf_counter()
        first_sink, rows = first_row(stamp)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = server.first_request_at()
    data = server.first_data_request_at()
    last = server.last_answer_at()
    if rows != server.records or None in (first, data, last, first_sink):
        raise RuntimeError(f"{variant}: {rows} rows of {server.records}, or no request logged")
    assert first is not None and data is not None and last is not None
    assert first_sink is not None
    return {
        PHASES[0]: first - started,
        PHASES[1]: data - first,
        PHASES[2]: first_sink - data,
        PHASES[3]: last - first_sink,
        PHASES[4]: finished - last,
        PHASES[5]: finished - started,
    }, durations


def _medians(found: list[dict[str, float]], names: Sequence[str]) -> list[float | None]:
    return [statistics.median(t[n] for t in found) if found else None for n in names]


def main(argv: Sequence[str] | None = None) -> None:
    """Print the phases of batch and stream runs."""
    prog = "python -m benchmarks.diagnostics.timeline"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--kind", choices=[k for k in OFFSET_KINDS if k != "cursor"])
    parser.add_argument("--shape", choices=SHAPES, default=SHAPES[0])
    parser.add_argument("--no-probe", dest="probe", action="store_false", help="end searches")
    parser.add_argument("--repeats", type=int, default=3)
    parser.set_defaults(kind="incremental")
    args = parser.parse_args(argv)
    from benchmarks.harness.session import create_session

    spark = create_session()
    spark.dataSource.register(FirstRowSink)
    variants = ("batch", "stream")
    found: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    spark_ms: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    server = BenchServer(
        args.records,
        args.page_size,
        offset_kind=args.kind,
        probe=args.probe,
        shape=args.shape,
    )
    try:
        with server:
            server.warm()
            server.latency_ms = args.latency_ms
            options = server.rest_options(args.partitions, args.concurrency)
            for repeat in range(-1, args.repeats):
                for variant in variants if repeat % 2 else variants[::-1]:
                    phases, durations = run_once(spark, server, variant, options)
                    if repeat >= 0:
                        found[variant].append(phases)
                        spark_ms[variant].append(durations)
                    print(
                        f"  {variant:6} {'warm-up' if repeat < 0 else f'repeat {repeat + 1}'}: "
                        + ", ".join(f"{k} {v:.2f}" for k, v in phases.items()),
                        flush=True,
                    )
    finally:
        spark.stop()
    print(
        f"\n{args.records:,} {args.shape} records, {args.kind}"
        f"{' with a probe' if args.probe else ''}, {args.latency_ms:g} ms, "
        f"numPartitions {args.partitions}, requestConcurrency {args.concurrency or 'default'}; "
        f"seconds, medians of {args.repeats}"
    )
    print("| phase | " + " | ".join(variants) + " |")
    print("|---|" + "---|" * len(variants))
    columns = [_medians(found[v], PHASES) for v in variants]
    for i, phase in enumerate(PHASES):
        print(f"| {phase} | " + " | ".join(_cell(column[i]) for column in columns) + " |")
    stream = spark_ms["stream"]
    if stream:
        cells = _medians(stream, DURATIONS)
        print(
            "stream durationMs (s): "
            + ", ".join(f"{name} {_cell(cell)}" for name, cell in zip(DURATIONS, cells))
        )


def _cell(value: Any) -> str:
    return "–" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
