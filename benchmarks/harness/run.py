"""`python -m benchmarks.run --preset smoke|full`: every variant in ONE invocation, interleaved.

Each configuration (latency × requestConcurrency × variant × numPartitions) runs `--repeats`
times; a repeat walks the partition counts and, within each, the requestConcurrency values (in
reverse every other repeat), and alternates the variants (their order rotates between
repeats), so drift on a shared machine hits every variant alike. The baseline (one request in
flight, no numPartitions) runs once per repeat, first or last in turn, and serves as the
÷ baseline reference of every requestConcurrency. The table shows medians; records/s and
the ratios use the wall time excluding Spark start-up (first request → done), next to the
start-up and end-to-end times. Under it, the floor: Spark's own cost per `availableNow` query
of a source that returns one row. Nothing about timing is asserted: the exit status is 1 only
when a variant, the floor or the memory check failed or lost records.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.comparators.floor import describe as describe_floor
from benchmarks.comparators.floor import measure as measure_floor
from benchmarks.diagnostics.memory import describe as describe_memory
from benchmarks.diagnostics.memory import memory_check
from benchmarks.harness.config import OFFSET_KINDS, PRESETS, VARIANTS, BenchConfig
from benchmarks.harness.machine import describe as describe_machine
from benchmarks.harness.machine import machine_info
from benchmarks.harness.report import LEGEND, format_table, summarize, write_json
from benchmarks.measurements.variants import Runner, RunResult


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def _variants(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown variants {unknown}; known: {VARIANTS}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig:
    """The preset with the command line's overrides applied."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness.run", description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="smoke")
    parser.add_argument("--records", type=int, help="records the API serves")
    parser.add_argument("--page-size", type=int, help="records per page")
    parser.add_argument("--latency-ms", type=_floats, help="per-request latency(ies), e.g. 20,0")
    parser.add_argument("--partitions", type=_ints, help="numPartitions values, e.g. 1,2,4,8")
    parser.add_argument("--repeats", type=int, help="timed runs of each configuration")
    parser.add_argument("--variants", type=_variants, help=f"subset of {','.join(VARIANTS)}")
    parser.add_argument(
        "--concurrency",
        type=_ints,
        help="requestConcurrency value(s) per task, e.g. 4,8 (smoke 4, full 4,8)",
    )
    parser.add_argument(
        "--offset-kind", choices=OFFSET_KINDS, help="page (default), incremental or timestamp"
    )
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument("--memory", action="store_true", default=None, help="run the memory check")
    memory.add_argument("--no-memory", dest="memory", action="store_false", help="skip it")
    parser.add_argument("--memory-records", type=int, help="records of the memory check (1M)")
    parser.add_argument(
        "--no-warmup", dest="warmup", action="store_false", default=None, help="skip warm-ups"
    )
    parser.add_argument(
        "--floor-runs", type=int, help="timed queries of the one-row floor source (0 skips)"
    )
    parser.add_argument("--output", help="JSON path (default benchmarks/results/latest.json)")
    args = parser.parse_args(argv)
    if args.concurrency is not None and (not args.concurrency or min(args.concurrency) < 1):
        parser.error("--concurrency needs one or more values ≥ 1")
    return PRESETS[args.preset].replace(
        records=args.records,
        page_size=args.page_size,
        latencies_ms=args.latency_ms,
        partitions=args.partitions,
        repeats=args.repeats,
        variants=args.variants,
        concurrency=args.concurrency,
        offset_kind=args.offset_kind,
        memory=args.memory,
        memory_records=args.memory_records,
        warmup=args.warmup,
        floor_runs=args.floor_runs,
        output=Path(args.output) if args.output else None,
    )


Run = tuple[str, int | None, int | None]
"""(variant, numPartitions, requestConcurrency); both None for the baseline."""


def schedule(config: BenchConfig, repeat: int) -> list[Run]:
    """The runs of one repeat: per partition count and requestConcurrency (reversed on odd
    repeats) the variants, in an order rotated by repeat; the baseline once, first on even
    repeats and last on odd ones."""
    split = [v for v in config.variants if v != "baseline"]
    turn = repeat % max(1, len(split))
    order = split[turn:] + split[:turn]
    levels = config.concurrency if repeat % 2 == 0 else config.concurrency[::-1]
    runs: list[Run] = [(v, n, c) for n in config.partitions for c in levels for v in order]
    if "baseline" in config.variants:
        runs.insert(0 if repeat % 2 == 0 else len(runs), ("baseline", None, None))
    return runs


def _log(result: RunResult) -> None:
    label = "warm-up" if result.repeat < 0 else f"repeat {result.repeat + 1}"
    status = result.error or (
        f"{result.wall_s:6.2f} s (+{result.startup_s:.2f} s start-up)  "
        f"{result.records_per_s:10,.0f} rec/s  "
        f"in flight {result.peak_in_flight}  RSS {result.rss_mb or 0:.0f} MB"
    )
    parts = f"N={result.partitions}" if result.partitions else "N=–"
    level = f"c={result.request_concurrency or '–'}"
    print(
        f"  [{result.latency_ms:g} ms] {result.variant:8} {parts:5} {level:5} {label:9} {status}",
        flush=True,
    )


def run_all(config: BenchConfig, runner: Runner) -> list[RunResult]:
    """Per latency: warm every variant up once (at the most partitions and the highest
    requestConcurrency), then the interleaved repeats."""
    results: list[RunResult] = []
    for latency in config.latencies_ms:
        runner.server.latency_ms = latency
        runner.server.warm()
        plan: list[tuple[Run, int]] = []
        if config.warmup:
            top, most = max(config.partitions), max(config.concurrency)
            plan += [
                ((v, None, None) if v == "baseline" else (v, top, most), -1)
                for v in config.variants
            ]
        for repeat in range(config.repeats):
            plan += [(run, repeat) for run in schedule(config, repeat)]
        for (variant, partitions, concurrency), repeat in plan:
            results.append(runner.run(variant, partitions, repeat, concurrency))
            _log(results[-1])
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table and the JSON path; 1 if a run failed."""
    config = parse_args(argv)
    from benchmarks.diagnostics.rss import WorkerRssSampler
    from benchmarks.harness.server import BenchServer
    from benchmarks.harness.session import create_session, task_slots

    machine = machine_info()
    print(f"rest_stream benchmarks, preset {config.preset}: {describe_machine(machine)}")
    started = time.perf_counter()
    spark = create_session()
    slots = task_slots(spark)
    print(f"Spark session up in {time.perf_counter() - started:.1f} s ({slots} task slots)")
    sampler = WorkerRssSampler().start()
    check = floor = None
    try:
        with BenchServer(config.records, config.page_size, offset_kind=config.offset_kind) as api:
            runner = Runner(spark, api, sampler, concurrency=config.concurrency[0], slots=slots)
            results = run_all(config, runner)
        if config.floor_runs > 0:
            floor = measure_floor(spark, config.floor_runs, warmup=config.warmup)
        if config.memory:
            check = memory_check(
                spark,
                sampler,
                records=config.memory_records,
                page_size=config.page_size,
                concurrency=config.concurrency[0],
                slots=slots,
            )
    finally:
        sampler.stop()
        spark.stop()
    rows = summarize(results)
    print(
        f"\n{config.records:,} records, {config.page_size}/page ({config.pages} pages), "
        f"{config.offset_kind} offsets, requestConcurrency "
        f"{', '.join(map(str, config.concurrency))}, "
        f"{slots} task slots; medians of {config.repeats} repeat(s)"
    )
    print(format_table(rows))
    print(LEGEND)
    if floor is not None:
        print(describe_floor(floor))
    if check is not None:
        print(describe_memory(check))
    payload = {"config": config, "machine": machine, "summary": rows, "floor": floor}
    payload |= {"memory": check}
    payload |= {"runs": results, "total_seconds": time.perf_counter() - started}
    print(f"\nJSON: {write_json(config.output, payload)}")
    print(f"Total {time.perf_counter() - started:.0f} s")
    failed = [r for r in results if r.error] + [x for x in (check, floor) if x and x.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
