"""`python -m benchmarks.run --preset smoke|full`: every scenario in ONE invocation.

A preset is a list of scenarios (`harness.config`). Per scenario, one loopback API serves its
records; per offset kind its pages are warmed once at 0 ms, then per latency each variant
is warmed up once per kind (if the scenario says so; the baseline once per scenario) and the
repeats run. A repeat walks the settings
(in reverse on odd repeats); at each setting the Spark variants and, the first time its
number of requests in flight comes up, the limit they pair with, in an order rotated by
repeat; the baseline once, first on even repeats and last on odd ones. So drift on a shared
machine hits every variant alike, and every ratio compares runs of the same invocation. The
table shows medians; the headline is end to end (`harness.report`). Under it, the floor
(Spark's own per-query cost) and, in `full`, the memory check and the scale benchmarks
(`benchmarks.many_streams`, `benchmarks.freshness`, at their defaults, on the same session,
and `benchmarks.idle_hour`);
next to the JSON, SVG charts (`harness.charts`). Nothing about timing is asserted: the exit
status is 1 only when a variant, the floor or the memory check failed or lost records, or a
scale benchmark lost or duplicated one.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.comparators.floor import describe as describe_floor
from benchmarks.comparators.floor import measure as measure_floor
from benchmarks.diagnostics.memory import describe as describe_memory
from benchmarks.diagnostics.memory import memory_check
from benchmarks.harness.config import (
    OFFSET_KINDS,
    PRESETS,
    SCHEMAS,
    SPARK_VARIANTS,
    VARIANTS,
    BenchConfig,
    Scenario,
    Setting,
)
from benchmarks.harness.machine import describe as describe_machine
from benchmarks.harness.machine import machine_info
from benchmarks.harness.report import (
    LEGEND,
    describe_streams,
    format_table,
    summarize,
    write_json,
)
from benchmarks.measurements.variants import Job, Runner, RunResult, paired_in_flight
from rest_stream.driver.planner import default_parallelism


def _names(text: str, known: Sequence[str], what: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; known: {', '.join(known)}")
    return names


def _optional_ints(text: str) -> tuple[int | None, ...]:
    """`default,8` → (None, 8)."""
    values: list[int | None] = []
    for part in (p.strip() for p in text.split(",")):
        if part in ("default", "-"):
            values.append(None)
        elif part:
            if int(part) < 1:
                raise argparse.ArgumentTypeError("values must be ≥ 1 (or 'default')")
            values.append(int(part))
    if not values:
        raise argparse.ArgumentTypeError("give one or more values")
    return tuple(values)


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(part) for part in text.split(",") if part.strip())


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig:
    """The preset with the command line's overrides applied."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="smoke")
    parser.add_argument("--scenarios", help="subset of the preset's scenarios, by name")
    parser.add_argument("--records", type=int, help="records of the single-stream scenarios")
    parser.add_argument("--page-size", type=int, help="records per page (500)")
    parser.add_argument("--latency-ms", type=_floats, help="per-request latency(ies), e.g. 0,20")
    parser.add_argument(
        "--offset-kind",
        "--kinds",
        dest="kinds",
        type=lambda t: _names(t, OFFSET_KINDS, "offset kinds"),
        help=f"kinds of the single-stream scenarios, some of {','.join(OFFSET_KINDS)}",
    )
    parser.add_argument(
        "--shapes",
        type=lambda t: _names(t, tuple(SCHEMAS), "record shapes"),
        help=f"record shapes of every scenario, some of {','.join(SCHEMAS)} (default "
        "nested,flat; demo: the demo API's default records)",
    )
    parser.add_argument(
        "--partitions", type=_optional_ints, help="numPartitions values, e.g. default,8"
    )
    parser.add_argument(
        "--concurrency", type=_optional_ints, help="requestConcurrency values, e.g. default,8"
    )
    parser.add_argument("--repeats", type=int, help="timed runs of each configuration")
    parser.add_argument(
        "--variants", type=lambda t: _names(t, VARIANTS, "variants"), help=",".join(VARIANTS)
    )
    memory = parser.add_mutually_exclusive_group()
    memory.add_argument("--memory", action="store_true", default=None, help="run the memory check")
    memory.add_argument("--no-memory", dest="memory", action="store_false", help="skip it")
    parser.add_argument("--memory-records", type=int, help="records of the memory check (1M)")
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument(
        "--scale",
        action="store_true",
        default=None,
        help="run the scale benchmarks (many_streams, freshness, idle_hour; in full)",
    )
    scale.add_argument("--no-scale", dest="scale", action="store_false", help="skip them")
    parser.add_argument(
        "--no-warmup", dest="warmup", action="store_false", default=None, help="skip warm-ups"
    )
    parser.add_argument("--floor-runs", type=int, help="queries of the one-row floor (0 skips)")
    parser.add_argument(
        "--no-charts", dest="charts", action="store_false", default=None, help="no SVG charts"
    )
    parser.add_argument("--output", help="JSON path (default benchmarks/results/latest.json)")
    args = parser.parse_args(argv)
    config = PRESETS[args.preset]
    scenarios = list(config.scenarios)
    if args.scenarios:
        known = [s.name for s in scenarios]
        wanted = [name.strip() for name in args.scenarios.split(",") if name.strip()]
        if not wanted or set(wanted) - set(known):
            parser.error(f"--scenarios: known are {', '.join(known)}")
        scenarios = [s for s in scenarios if s.name in wanted]
    settings: tuple[Setting, ...] | None = None
    if args.partitions or args.concurrency:
        settings = tuple(
            (n, c) for n in args.partitions or (None,) for c in args.concurrency or (None,)
        )
    changed = []
    for scenario in scenarios:
        single = scenario.streams == 1 and not scenario.partition_counts
        variants = args.variants and tuple(v for v in args.variants if v in VARIANTS)
        if variants and scenario.streams > 1:
            variants = tuple(v for v in variants if v != "baseline")
        changed.append(
            scenario.replace(
                records=args.records if single else None,
                kinds=args.kinds if single else None,
                latencies_ms=args.latency_ms,
                settings=settings,
                repeats=args.repeats,
                variants=variants or None,
                warmup=False if args.warmup is False else None,
                shapes=args.shapes,
            )
        )
    return config.replace(
        scenarios=tuple(changed),
        page_size=args.page_size,
        memory=args.memory,
        memory_records=args.memory_records,
        scale=args.scale,
        floor_runs=args.floor_runs,
        charts=args.charts,
        output=Path(args.output) if args.output else None,
    )


def schedule(scenario: Scenario, kind: str, repeat: int, slots: int) -> list[Job]:
    """The runs of one repeat of one kind and latency (module docstring)."""
    spark = [v for v in SPARK_VARIANTS if v in scenario.variants]
    settings = scenario.settings if repeat % 2 == 0 else scenario.settings[::-1]
    runs: list[Job] = []
    limits: set[int] = set()
    for partitions, concurrency in settings:
        group = [Job(v, partitions, concurrency) for v in spark]
        if "limit" in scenario.variants:
            paired = paired_in_flight(
                Job("stream", partitions, concurrency), kind, slots, scenario.streams
            )
            if paired not in limits:
                limits.add(paired)
                group.append(Job("limit", in_flight=paired))
        turn = repeat % max(1, len(group))
        runs += group[turn:] + group[:turn]
    if "baseline" in scenario.variants and scenario.streams == 1:
        runs.insert(0 if repeat % 2 == 0 else len(runs), Job("baseline"))
    return runs


def warmups(scenario: Scenario, kind: str, slots: int, *, baseline: bool = True) -> list[Job]:
    """One run of each variant at the scenario's first setting (none if the scenario has no
    warm-up; the baseline only if `baseline`)."""
    if not scenario.warmup:
        return []
    first = schedule(scenario.replace(settings=scenario.settings[:1]), kind, 0, slots)
    first = [job for job in first if baseline or job.variant != "baseline"]
    return sorted(first, key=lambda job: job.variant != "baseline")


def plan(scenario: Scenario, slots: int) -> list[tuple[str, float, list[tuple[Job, int]]]]:
    """Per (kind, latency): the jobs with their repeat (-1 = warm-up), in order. Warm-ups
    come in the first latency of each kind (the code paths do not depend on latency), the
    baseline's only in the scenario's first block."""
    blocks = []
    for k, kind in enumerate(scenario.kinds):
        for i, latency in enumerate(scenario.latencies_ms):
            warm = warmups(scenario, kind, slots, baseline=k == 0) if i == 0 else []
            jobs = [(job, -1) for job in warm]
            for repeat in range(scenario.repeats):
                jobs += [(job, repeat) for job in schedule(scenario, kind, repeat, slots)]
            blocks.append((kind, latency, jobs))
    return blocks


def _log(result: RunResult) -> None:
    label = "warm-up" if result.repeat < 0 else f"repeat {result.repeat + 1}"
    cpu = result.cpu_per_million
    status = result.error or (
        f"e2e {result.e2e_s:6.2f} s (start-up {result.startup_s:.2f} s)  "
        f"{result.e2e_records_per_s:10,.0f} rec/s e2e  "
        f"CPU {'–' if cpu is None else f'{cpu:.2f}'} s/1M  "
        f"in flight {result.concurrency}/{result.peak_in_flight}  RSS {result.rss_mb or 0:.0f} MB"
    )
    if result.batch_partitions:
        status += f"  batch partitions {result.batch_partitions}"
    setting = "–"
    if result.variant == "limit":
        setting = f"N={result.concurrency}"
    elif result.variant != "baseline":
        setting = f"P={result.partitions or 'dflt'},c={result.request_concurrency or 'dflt'}"
    print(
        f"  [{result.scenario} {result.shape} {result.kind} {result.latency_ms:g} ms] "
        f"{result.variant:8} "
        f"{setting:14} {label:9} {status}",
        flush=True,
    )


def run_scenario(scenario: Scenario, runner: Runner) -> list[RunResult]:
    """Every block of `scenario` on `runner`'s server (module docstring)."""
    results: list[RunResult] = []
    server = runner.server
    warmed = None
    for kind, latency, jobs in plan(scenario, runner.slots):
        if kind != warmed:
            server.offset_kind = kind
            server.latency_ms = 0.0
            server.warm()  # every page cached at 0 ms, before the latency applies
            warmed = kind
        server.latency_ms = latency
        for job, repeat in jobs:
            results.append(runner.run(job, repeat))
            _log(results[-1])
    return results


def describe_plan(config: BenchConfig, slots: int) -> str:
    """The planned runs per scenario and in total, for the console."""
    lines, total = [], 0
    for scenario in config.scenarios:
        blocks = plan(scenario, slots)
        shapes = len(scenario.shapes)
        runs = shapes * sum(len(jobs) for _, _, jobs in blocks)
        warm = shapes * sum(1 for _, _, jobs in blocks for _, r in jobs if r < 0)
        total += runs
        streams = f", {scenario.streams} streams" if scenario.streams > 1 else ""
        lines.append(
            f"  {scenario.name}: {scenario.records:,} records{streams}, "
            f"{'/'.join(scenario.shapes)} records, kinds {'/'.join(scenario.kinds)}, "
            f"latency {'/'.join(f'{x:g}' for x in scenario.latencies_ms)} ms, "
            f"{scenario.repeats} repeat(s): {runs} runs ({warm} warm-ups)"
        )
    return f"Planned: {total} runs\n" + "\n".join(lines)


@dataclass
class Scale:
    """The scale benchmarks at their defaults (`benchmarks.many_streams`,
    `benchmarks.freshness` on the harness's session, `benchmarks.idle_hour`), run after the
    scenarios."""

    planning: list[Any]  # many_streams.Planning per N
    spark: Any  # many_streams.SparkRun
    freshness: Any  # freshness.Freshness
    idle: tuple[Any, Any] | None = None  # idle_hour.Outcome: plain GETs, conditional GETs

    @property
    def error(self) -> str:
        if not self.spark.exactly_once:
            return "many_streams: not every record exactly once"
        if not self.freshness.exactly_once:
            return "freshness: not every record exactly once"
        if self.idle is not None and any(o.error for o in self.idle):
            return "idle_hour: " + "; ".join(o.error for o in self.idle if o.error)
        return ""

    def describe(self) -> str:
        from benchmarks import freshness, idle_hour, many_streams

        parts = [
            "\nmany streams (benchmarks.many_streams): driver planning per poll, medians "
            "over the later polls",
            many_streams.table(self.planning),
            many_streams.describe_spark(self.spark),
            "\nfreshness (benchmarks.freshness): lag from append to the sink",
            freshness.table([self.freshness]),
        ]
        if self.idle is not None:
            parts += ["\n(benchmarks.idle_hour)", idle_hour.report(idle_hour.DEFAULTS, *self.idle)]
        return "\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "many_streams": {
                "planning": [asdict(p) for p in self.planning],
                "spark": asdict(self.spark) | {"exactly_once": self.spark.exactly_once},
            },
            "freshness": self.freshness.to_json(),
            "idle_hour": (
                {name: asdict(o) for name, o in zip(("plain", "conditional"), self.idle)}
                if self.idle is not None
                else None
            ),
        }


def run_scale(spark: Any) -> Scale:
    """`many_streams` and `freshness` at their defaults on `spark`, and `idle_hour`."""
    from benchmarks import freshness, idle_hour, many_streams

    ms = many_streams
    planning = [ms.plan_polls(n, ms.RECORDS, ms.POLLS, ms.NEW) for n in ms.STREAMS]
    print("  many streams: planning measured", flush=True)
    run = ms.spark_run(spark, ms.SPARK_STREAMS, ms.RECORDS)
    print(f"  many streams: {ms.describe_spark(run)}", flush=True)
    fresh = freshness.measure(spark, freshness.RATE, freshness.DURATION)
    print("  freshness measured", flush=True)
    idle = idle_hour.measure(idle_hour.DEFAULTS)
    print("  idle hour measured", flush=True)
    return Scale(planning, run, fresh, idle)


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
    print(describe_plan(config, slots), flush=True)
    sampler = WorkerRssSampler().start()
    results: list[RunResult] = []
    check = floor = None
    scale: Scale | None = None
    try:
        for scenario in config.scenarios:
            for shape in scenario.shapes:  # one API per shape
                server = BenchServer(
                    scenario.records,
                    config.page_size,
                    offset_kind=scenario.kinds[0],
                    streams=scenario.streams,
                    probe=scenario.probe,
                    shape=shape,
                )
                with server:
                    runner = Runner(
                        spark,
                        server,
                        sampler,
                        slots=slots,
                        scenario=scenario.name,
                        partition_counts=scenario.partition_counts,
                    )
                    results += run_scenario(scenario, runner)
        if config.floor_runs > 0:
            floor = measure_floor(spark, config.floor_runs, warmup=True)
        if config.memory:
            check = memory_check(
                spark, sampler, records=config.memory_records, page_size=config.page_size
            )
        if config.scale:
            scale = run_scale(spark)
    finally:
        sampler.stop()
        spark.stop()
    rows = summarize(results, default_partitions=default_parallelism())
    print(
        f"\n{config.page_size} records/page, {slots} task slots, rest_stream's default "
        f"numPartitions {default_parallelism()}; medians over repeats"
    )
    print(format_table(rows))
    print(LEGEND)
    for line in describe_streams(rows):
        print(line)
    if floor is not None:
        print(describe_floor(floor))
    if check is not None:
        print(describe_memory(check))
    if scale is not None:
        print(scale.describe())
    payload = {"config": config, "machine": machine, "summary": rows, "floor": floor}
    payload |= {"memory": check, "scale": None if scale is None else scale.to_json()}
    payload |= {"runs": results, "total_seconds": time.perf_counter() - started}
    path = write_json(config.output, payload)
    print(f"\nJSON: {path}")
    if config.charts:
        from benchmarks.harness.charts import write_charts

        charts = write_charts(
            rows, path.parent, stem=path.stem, default_partitions=default_parallelism()
        )
        for chart in charts:
            print(f"chart: {chart}")
    print(f"Total {time.perf_counter() - started:.0f} s")
    failed = [r for r in results if r.error] + [x for x in (check, floor, scale) if x and x.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
