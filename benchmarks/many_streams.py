"""`python -m benchmarks.many_streams`: what planning costs the driver with 10,000 streams,
and one Spark run that reads them all.

The API is `rest_stream.demo.DemoApi` (`shape="nested"`) on loopback through
`harness.server.BenchServer`: N regions `r0 … r{N-1}`, `--records` records each (the demo
deals ids round-robin, so stream `rK` holds ids K+1, K+1+N, …). The options are the ones a user
writes for many small streams (`BenchServer.rest_options`): `inputData` of N rows
`{"region": "rK"}`, `offsetType=incremental` over `/items?since_id=…`, and a `latestOffsetUrl`
probe per stream (`/latest?region={region}`, `$.max_id`) instead of an end search.

Planning (no Spark): the stream reader's driver calls are driven directly, as Spark's Python
streaming source runner calls them: `initialOffset`, then per poll `latestOffset` (all
available), `partitions(start, end)` and `commit(end)`. The poll schedule's clock is simulated
(`idle_hour.SimulatedClock`): each poll moves it by `streamingInterval`, so every stream is due
at every poll and nobody waits. Poll 1 reads every stream's backlog (the "first poll", shown
apart); before each later poll `--new` records per stream are appended (`DemoApi.append`,
round-robin), so every stream advances at every poll. For each poll:

- planning s: wall time of `latestOffset` + `partitions` (the two calls that plan a batch);
  the median is over the later polls; `latestOffset` and `partitions` are also shown apart;
- runner s: what Spark's runner adds around them in the same process: `json.dumps` of the
  end offset and `json.loads` of start and end (Spark hands offsets over as JSON), and the
  pickling of every input partition;
- commit s: `commit(end)`;
- requests: requests the API logged during the poll's `latestOffset` + `partitions`;
- partitions: input partitions planned (at most `numPartitions`, default max(2, CPUs));
- offset B/stream: `len(json.dumps(end))` (UTF-8 bytes, what the runner hands Spark to write
  to its offset log) divided by N.

`--read` also reads every planned partition in this process (`reader.read`) and checks that
each record arrived exactly once (slow at 10,000 streams; the tests use it at tiny sizes).

Then one end-to-end run on `local[2]` (`harness.session`; `--no-spark` skips it):
`readStream` with the same options at `--spark-streams` streams (10,000),
`trigger(availableNow=True)`, a `foreachBatch` sink that collects each micro-batch's `id`
column (`toArrow`); wall time from `start()` to the end of `awaitTermination()` (the Spark
session already up), and a check that every record arrived exactly once. About 30 s at
10,000 streams × 3 records on 2 shared cores, plus the session's start.

JSON: `benchmarks/results/many_streams.json` (`--output`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.config import ROOT
from benchmarks.idle_hour import SimulatedClock, simulated_time

RESULTS = ROOT / "benchmarks" / "results" / "many_streams.json"
PAGE_SIZE = 100  # records per page; every stream's backlog fits one page
STREAMS = (1000, 10_000)  # N of the planning measurement
RECORDS = 3  # records per stream
POLLS = 6  # polls (the first shown apart)
NEW = 1  # records per stream appended before each later poll
SPARK_STREAMS = 10_000  # N of the Spark run


@dataclass
class PollResult:
    """One poll of the driver calls (module docstring)."""

    poll: int
    latest_s: float
    partitions_s: float
    runner_s: float
    commit_s: float
    requests: int
    partitions: int
    units: int
    streams_advanced: int
    offset_bytes: int
    records_read: int | None = None

    @property
    def planning_s(self) -> float:
        return self.latest_s + self.partitions_s


@dataclass
class Planning:
    """The planning measurement at one N."""

    streams: int
    records_per_stream: int
    new_per_poll: int
    polls: list[PollResult]
    initial_s: float
    initial_requests: int
    initial_offset_bytes: int
    exactly_once: bool | None = None  # with --read
    summary: dict[str, Any] = field(default_factory=dict)


def summarize(p: Planning) -> dict[str, Any]:
    """The row of the table: the first poll and the medians of the later polls."""
    first, later = p.polls[0], p.polls[1:] or p.polls[:1]

    def med(name: str) -> float:
        return statistics.median(getattr(r, name) for r in later)

    return {
        "streams": p.streams,
        "first_planning_s": first.planning_s,
        "first_requests": first.requests,
        "first_partitions": first.partitions,
        "planning_s": med("planning_s"),
        "latest_s": med("latest_s"),
        "partitions_s": med("partitions_s"),
        "runner_s": med("runner_s"),
        "commit_s": med("commit_s"),
        "requests_per_poll": med("requests"),
        "partitions": med("partitions"),
        "streams_advanced": med("streams_advanced"),
        "offset_bytes": later[-1].offset_bytes,
        "offset_bytes_per_stream": later[-1].offset_bytes / p.streams,
        "initial_s": p.initial_s,
        "exactly_once": p.exactly_once,
    }


def streams_api(streams: int, records: int) -> Any:
    """The API of `streams` streams × `records` nested records, incremental ids with a
    `/latest?region=` probe each (a `BenchServer`, not started)."""
    from benchmarks.harness.server import BenchServer

    return BenchServer(
        streams * records,
        PAGE_SIZE,
        offset_kind="incremental",
        streams=streams,
        probe=True,
        shape="nested",
    )


def plan_polls(
    streams: int,
    records: int,
    polls: int,
    new: int,
    *,
    read: bool = False,
    partitions: int | None = None,
) -> Planning:
    """`initialOffset`, then `polls` polls of `latestOffset` + `partitions` + `commit`."""
    from pyspark.sql.streaming.datasource import ReadAllAvailable

    from rest_stream.options.parse import parse_options
    from rest_stream.stream_reader import RestStreamReader

    server = streams_api(streams, records)
    clock = SimulatedClock()
    seen: Counter[int] = Counter()
    results: list[PollResult] = []
    with server:
        options = parse_options(server.rest_options(partitions=partitions))
        reader = RestStreamReader(options, server.schema)
        interval = options.stream.streaming_interval
        try:
            with simulated_time(clock):
                server.reset()
                started = time.perf_counter()
                start = reader.initialOffset()
                initial_s = time.perf_counter() - started
                initial_requests = len(server.api.requests)
                initial_bytes = len(json.dumps(start).encode())
                for n in range(1, polls + 1):
                    clock.now += interval
                    if n > 1 and new:
                        server.api.append(new * streams)  # round-robin: `new` per stream
                    server.reset()
                    t0 = time.perf_counter()
                    end = reader.latestOffset(start, ReadAllAvailable())
                    t1 = time.perf_counter()
                    planned = reader.partitions(start, end) if end != start else []
                    t2 = time.perf_counter()
                    requests = len(server.api.requests)
                    # what Spark's runner does around the calls: offsets as JSON, partitions
                    # pickled
                    text = json.dumps(end)
                    json.loads(json.dumps(start))
                    json.loads(text)
                    for partition in planned:
                        pickle.dumps(partition)
                    t3 = time.perf_counter()
                    read_count = None
                    if read:
                        read_count = 0
                        for partition in planned:
                            for batch in reader.read(partition):
                                ids = batch.column("id").to_pylist()
                                seen.update(ids)
                                read_count += len(ids)
                    t4 = time.perf_counter()
                    reader.commit(end)
                    t5 = time.perf_counter()
                    before, after = start.get("streams", {}), end.get("streams", {})
                    advanced = sum(1 for k, v in after.items() if before.get(k) != v)
                    results.append(
                        PollResult(
                            poll=n,
                            latest_s=t1 - t0,
                            partitions_s=t2 - t1,
                            runner_s=t3 - t2,
                            commit_s=t5 - t4,
                            requests=requests,
                            partitions=len(planned),
                            units=sum(len(getattr(p, "units", ())) for p in planned),
                            streams_advanced=advanced,
                            offset_bytes=len(text.encode()),
                            records_read=read_count,
                        )
                    )
                    start = end
        finally:
            reader.stop()
        total = server.api.record_count()
    exactly_once = None
    if read:
        exactly_once = set(seen) == set(range(1, total + 1)) and all(c == 1 for c in seen.values())
    planning = Planning(
        streams,
        records,
        new,
        results,
        initial_s,
        initial_requests,
        initial_bytes,
        exactly_once,
    )
    planning.summary = summarize(planning)
    return planning


@dataclass
class SparkRun:
    """The end-to-end Spark run."""

    streams: int
    records: int
    wall_s: float
    batches: int
    received: int
    distinct: int
    missing: int
    duplicated: int
    requests: int
    error: str = ""

    @property
    def exactly_once(self) -> bool:
        return not self.error and self.missing == 0 and self.duplicated == 0


def spark_run(spark: Any, streams: int, records: int, partitions: int | None = None) -> SparkRun:
    """Every record of `streams` streams × `records` through `readStream` availableNow into
    a `foreachBatch` sink that collects the ids, on `spark` (with the `rest` format
    registered); wall time from `start()` to the end."""
    server = streams_api(streams, records)
    ids: list[int] = []
    batches = 0

    def sink(df: Any, batch_id: int) -> None:
        nonlocal batches
        batches += 1
        ids.extend(df.select("id").toArrow().column("id").to_pylist())

    error = ""
    wall = 0.0
    with server, tempfile.TemporaryDirectory(prefix="many_streams-") as checkpoint:
        options = server.rest_options(partitions=partitions)
        frame = spark.readStream.format("rest").options(**options)
        frame = frame.schema(server.schema).load()
        server.reset()
        started = time.perf_counter()
        query = (
            frame.writeStream.foreachBatch(sink)
            .trigger(availableNow=True)
            .option("checkpointLocation", checkpoint)
            .start()
        )
        try:
            query.awaitTermination()
        except Exception as exc:  # reported, not raised: the table still prints
            error = f"{type(exc).__name__}: {str(exc)[:300]}"
        wall = time.perf_counter() - started
        requests = server.requests()
    counts = Counter(ids)
    expected = set(range(1, streams * records + 1))
    return SparkRun(
        streams,
        records,
        wall,
        batches,
        len(ids),
        len(counts),
        len(expected - set(counts)),
        sum(1 for c in counts.values() if c > 1) + len(set(counts) - expected),
        requests,
        error,
    )


# --- the report -------------------------------------------------------------------------------


def table(plannings: list[Planning]) -> str:
    lines = [
        "| streams | first poll: planning s / requests / partitions | planning s per poll "
        "(latestOffset + partitions) | runner s | commit s | requests per poll "
        "| partitions | offset B | B per stream |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in plannings:
        s = p.summary
        lines.append(
            f"| {s['streams']:,} | {s['first_planning_s']:.2f} / {s['first_requests']:,} / "
            f"{s['first_partitions']} | {s['planning_s']:.2f} ({s['latest_s']:.2f} + "
            f"{s['partitions_s']:.2f}) | {s['runner_s']:.3f} | {s['commit_s']:.3f} "
            f"| {s['requests_per_poll']:,.0f} | {s['partitions']:.0f} "
            f"| {s['offset_bytes']:,} | {s['offset_bytes_per_stream']:.1f} |"
        )
    return "\n".join(lines)


def describe_spark(run: SparkRun) -> str:
    verdict = "every record exactly once" if run.exactly_once else "NOT exactly once"
    text = (
        f"Spark local[2], availableNow, foreachBatch: {run.streams:,} streams × {run.records} "
        f"records in {run.wall_s:.1f} s ({run.batches} micro-batch(es), {run.requests:,} data "
        f"requests): {run.received:,} received, {run.distinct:,} distinct, {run.missing} "
        f"missing, {run.duplicated} duplicated: {verdict}"
    )
    return text + (f" ({run.error})" if run.error else "")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.many_streams", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--streams", type=_ints, default=list(STREAMS), help="N, comma-separated")
    parser.add_argument("--records", type=int, default=RECORDS, help="records per stream")
    parser.add_argument("--polls", type=int, default=POLLS, help="polls (the first apart)")
    parser.add_argument("--new", type=int, default=NEW, help="records per stream between polls")
    parser.add_argument("--partitions", type=int, help="numPartitions (default: rest_stream's)")
    parser.add_argument("--read", action="store_true", help="read the partitions, check ids")
    parser.add_argument(
        "--spark",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the end-to-end Spark run (--no-spark skips it)",
    )
    parser.add_argument(
        "--spark-streams", type=int, default=SPARK_STREAMS, help="streams of the Spark run"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON path")
    args = parser.parse_args(argv)
    plannings = []
    for n in args.streams:
        plannings.append(
            plan_polls(
                n, args.records, args.polls, args.new, read=args.read, partitions=args.partitions
            )
        )
        print(f"  {n:,} streams planned", flush=True)
    print(
        f"\nmany streams: incremental ids with a /latest probe per stream, {args.records} "
        f"records per stream, {args.polls} polls (+{args.new} per stream before each later "
        "one); medians over the later polls"
    )
    print(table(plannings))
    failed = any(p.exactly_once is False for p in plannings)
    if args.read:
        print(
            "read in-process: "
            + ", ".join(
                f"{p.streams:,}: {'exactly once' if p.exactly_once else 'NOT exactly once'}"
                for p in plannings
            )
        )
    run = None
    if args.spark:
        from benchmarks.harness.session import create_session

        spark = create_session()
        try:
            run = spark_run(spark, args.spark_streams, args.records, args.partitions)
        finally:
            spark.stop()
        print(describe_spark(run))
        failed = failed or not run.exactly_once
    payload = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "planning": [asdict(p) for p in plannings],
        "spark": None if run is None else {**asdict(run), "exactly_once": run.exactly_once},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(payload, indent=2))
    print(f"JSON: {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
