"""Where a run's wall time goes, read from the API's request log.

`python -m benchmarks.diagnostics.timeline [--latency-ms 20] [--partitions 2] [--repeats 3]`

For `batch`, `stream` and `baseline`: start → first request (Spark: query start, reader
process), the end search (rest_stream's driver finding where the data ends: the requests
before the last `pages` ones), end search → first data request (planning, task launch), the
data requests (fetch, parse, convert, transfer), and last answer → done (commit, teardown).
Medians over the repeats, after one warm-up run of each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from benchmarks.diagnostics.rss import WorkerRssSampler
from benchmarks.harness.server import BenchServer
from benchmarks.measurements.variants import Job, Runner

PHASES = (
    "start → first request",
    "end search",
    "planning → first data request",
    "data requests",
    "last answer → done",
    "wall",
)


def phases(
    server: BenchServer, started: float, finished: float, *, search: bool = True
) -> tuple[dict[str, float], int]:
    """Seconds of each phase of the run just logged, and the number of end-search requests
    (`search=False`: every request reads data, as the baseline's do)."""
    entries = sorted(server._data_entries(), key=lambda e: e.start)
    cut = len(entries) - server.pages if search else 0
    probes, data = entries[:cut], entries[cut:]
    first = (probes or data)[0].start
    searched = max((e.end for e in probes), default=first)
    last = max(e.end for e in data)
    return {
        PHASES[0]: first - started,
        PHASES[1]: searched - first,
        PHASES[2]: data[0].start - searched,
        PHASES[3]: last - data[0].start,
        PHASES[4]: finished - last,
        PHASES[5]: finished - started,
    }, len(probes)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the phases of batch, stream and baseline runs."""
    prog = "python -m benchmarks.diagnostics.timeline"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from benchmarks.harness.session import create_session, task_slots

    spark = create_session()
    sampler = WorkerRssSampler()
    variants = ("batch", "stream", "baseline")
    found: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    searches: dict[str, int] = {}
    try:
        with BenchServer(args.records, args.page_size, latency_ms=args.latency_ms) as server:
            server.warm()
            runner = Runner(spark, server, sampler, slots=task_slots(spark))
            for repeat in range(-1, args.repeats):
                for variant in variants:
                    started = time.perf_counter()
                    job = Job(variant, args.partitions, args.concurrency)
                    result = runner.run(job, repeat)
                    finished = time.perf_counter()
                    if result.error:
                        raise RuntimeError(f"{variant}: {result.error}")
                    if repeat >= 0:
                        timing, searches[variant] = phases(
                            server, started, finished, search=variant != "baseline"
                        )
                        found[variant].append(timing)
    finally:
        spark.stop()
    print(
        f"\n{args.records:,} records, {args.latency_ms:g} ms, numPartitions {args.partitions}, "
        f"requestConcurrency {args.concurrency}; medians of {args.repeats} (seconds)"
    )
    print("| phase | " + " | ".join(variants) + " |")
    print("|---|" + "---|" * len(variants))
    for phase in PHASES:
        cells = [statistics.median(t[phase] for t in found[v]) for v in variants]
        print(f"| {phase} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    print("| end-search requests | " + " | ".join(str(searches[v]) for v in variants) + " |")


if __name__ == "__main__":
    main()
