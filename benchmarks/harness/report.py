"""Medians over repeats, the ratios against baseline and limit, the table and the JSON file.

The headline is **end to end**: from `query.start()` (or the batch `save()`) to the last
record in the sink; records/s e2e, ÷ baseline and ÷ limit use it. The wall time excluding
Spark's start-up (first request → done) and its ratio to the limit are the secondary columns.
Every ratio compares medians of runs interleaved in the SAME invocation:

- ÷ baseline: the seed-style baseline of the same scenario, kind and latency;
- ÷ limit: the limit of the same scenario, shape, kind and latency at the number of
  requests in flight the Spark run is paired with (`requestConcurrency` × task slots used; 1
  for a cursor chain), shown in the column's header cell as `@ N`;
- ÷ batch (stream rows): the batch read of the same range with the same setting;
- CPU ÷ limit: CPU seconds per record over the paired limit's.

CPU per 1M records is the median over repeats of each run's CPU seconds (user + system of
every process of the contender: JVM and Python workers, or the limit's processes) scaled to
1 000 000 records; the API server's own CPU is shown apart (`measurements.variants`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness.config import setting_label
from benchmarks.measurements.variants import RunResult

TABLE_ORDER = ("baseline", "batch", "stream", "limit")

LEGEND = (
    "e2e: query.start() (batch: save()) → the last record in the sink, Spark session already "
    "up; records/s e2e, ÷ baseline and ÷ limit use it (the limit has no start-up: its e2e is "
    "its first request → last parse, /latest included).\n"
    "start-up: start() → the first request the API logged; excl. start-up: that request → "
    "done, and ÷ limit on it.\n"
    "setting: the options set besides the kind's (default = numPartitions and "
    "requestConcurrency left to rest_stream: max(2, CPUs) and 4).\n"
    "in flight: paired = requestConcurrency × task slots the run uses (1 for a cursor chain; "
    "limit: its own), seen = most requests the API had open at once.\n"
    "÷ limit @ N: over the limit at N requests in flight, same scenario, shape, kind and "
    "latency; ÷ baseline: over the seed-style baseline, same scenario, shape, kind and "
    "latency; ÷ batch: a stream over the batch read of the same range and setting.\n"
    "first data s: start() → the first data request (past the probe or end search, the "
    "offset log, planning and task launch).\n"
    "CPU s/1M: CPU seconds (user + system, every process of the contender: the JVM and "
    "Spark's Python workers, or the limit's processes) per 1,000,000 records; Python / JVM: "
    "a Spark run's split between the Python processes under the JVM and the JVM's own; "
    "CPU ÷ limit: over the paired limit's; API CPU s/1M: the demo API's (the harness "
    "process).\n"
    "batch partitions: input partitions of each micro-batch (foreachBatch + "
    "df.rdd.getNumPartitions()), checked ≤ numPartitions; those runs use that foreachBatch "
    "sink instead of noop: compare them with each other."
)


@dataclass
class Summary:
    """One table row: a variant at one scenario, kind, latency and setting, medians over
    repeats; `concurrency` is the paired number of requests in flight."""

    scenario: str
    kind: str
    streams: int
    shape: str
    records: int
    latency_ms: float
    variant: str
    partitions: int | None
    request_concurrency: int | None
    concurrency: int
    runs: int
    e2e_s: float | None
    e2e_range: tuple[float, float] | None
    e2e_records_per_s: float | None
    startup_s: float | None
    wall_s: float | None
    records_per_s: float | None
    pages_per_s: float | None
    span_s: float | None
    peak_in_flight: int
    rss_mb: float | None
    other_load: float | None
    batch_partitions: list[int] | None = None
    partitions_ok: bool | None = None
    vs_baseline: float | None = None
    vs_limit: float | None = None
    vs_limit_wall: float | None = None
    errors: int = 0
    first_data_s: float | None = None
    cpu_per_million: float | None = None
    api_cpu_per_million: float | None = None
    python_cpu_per_million: float | None = None
    jvm_cpu_per_million: float | None = None
    vs_batch: float | None = None
    cpu_vs_limit: float | None = None
    durations_ms: dict[str, float] | None = None

    @property
    def setting(self) -> str:
        """`default`, `numPartitions 8`, …; `N in flight` for the limit, `–` for the baseline."""
        if self.variant == "limit":
            return f"{self.concurrency} in flight"
        if self.variant == "baseline":
            return "–"
        return setting_label((self.partitions, self.request_concurrency))


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


Key = tuple[str, str, str, float, str, int | None, int | None, int]


def _key(r: RunResult) -> Key:
    return (
        r.scenario,
        r.shape,
        r.kind,
        r.latency_ms,
        r.variant,
        r.partitions,
        r.request_concurrency,
        r.concurrency,
    )


def summarize(results: Sequence[RunResult], default_partitions: int = 2) -> list[Summary]:
    """Timed runs (not warm-ups) grouped by (scenario, kind, latency, variant, setting), with
    ratios; in the order the scenarios, kinds and latencies ran, then `TABLE_ORDER`.
    `default_partitions` is rest_stream's `numPartitions` when it is not set (the bound of
    the batch-partitions check)."""
    groups: dict[Key, list[RunResult]] = {}
    for result in results:
        if result.repeat >= 0:
            groups.setdefault(_key(result), []).append(result)
    rows = []
    for key, runs in groups.items():
        scenario, shape, kind, latency, variant, partitions, level, concurrency = key
        good = [r for r in runs if r.error is None]
        wall = _median(r.wall_s for r in good)
        e2e = _median(r.e2e_s for r in good)
        pages = good[0].pages if good else 0
        records = good[0].records if good else 0
        counts = [n for r in good for n in (r.batch_partitions or [])]
        bound = partitions or default_partitions
        rows.append(
            Summary(
                scenario=scenario,
                kind=kind,
                shape=shape,
                streams=runs[0].streams,
                records=max((r.records for r in runs), default=0),
                latency_ms=latency,
                variant=variant,
                partitions=partitions,
                request_concurrency=level,
                concurrency=concurrency,
                runs=len(good),
                e2e_s=e2e,
                e2e_range=(min(r.e2e_s for r in good), max(r.e2e_s for r in good))
                if good
                else None,
                e2e_records_per_s=records / e2e if e2e else None,
                startup_s=_median(r.startup_s for r in good),
                wall_s=wall,
                records_per_s=records / wall if wall else None,
                pages_per_s=pages / wall if wall else None,
                span_s=_median(r.span_s for r in good),
                peak_in_flight=max(r.peak_in_flight for r in runs),
                rss_mb=max((r.rss_mb for r in good if r.rss_mb is not None), default=None),
                other_load=_median(r.other_load for r in good),
                batch_partitions=sorted(set(counts)) if counts else None,
                partitions_ok=max(counts) <= bound if counts else None,
                errors=len(runs) - len(good),
                first_data_s=_median(r.first_data_s for r in good if r.first_data_s is not None),
                cpu_per_million=_median(
                    r.cpu_per_million for r in good if r.cpu_per_million is not None
                ),
                api_cpu_per_million=_median(
                    r.api_cpu_s * 1_000_000 / r.records
                    for r in good
                    if r.api_cpu_s is not None and r.records > 0
                ),
                durations_ms=_median_durations(good),
                python_cpu_per_million=_per_million(good, "python_cpu_s"),
                jvm_cpu_per_million=_per_million(good, "jvm_cpu_s"),
            )
        )
    _add_ratios(rows)
    order = {v: i for i, v in enumerate(TABLE_ORDER)}
    blocks = list(dict.fromkeys((r.scenario, r.shape, r.kind, r.latency_ms) for r in results))
    settings = list(dict.fromkeys((r.partitions, r.request_concurrency) for r in results))
    rows.sort(
        key=lambda r: (
            blocks.index((r.scenario, r.shape, r.kind, r.latency_ms)),
            order[r.variant],
            settings.index((r.partitions, r.request_concurrency)),
            r.concurrency,
        )
    )
    return rows


def _per_million(runs: Sequence[RunResult], name: str) -> float | None:
    """Median over `runs` of the CPU seconds `name` per 1 000 000 records."""
    found = [(getattr(r, name), r.records) for r in runs]
    return _median(v * 1_000_000 / n for v, n in found if v is not None and n > 0)


def _median_durations(runs: Sequence[RunResult]) -> dict[str, float] | None:
    """Median of each of Spark's `durationMs` phases over the runs that have them."""
    found = [r.durations_ms for r in runs if r.durations_ms]
    if not found:
        return None
    names = dict.fromkeys(name for d in found for name in d)
    return {name: statistics.median(d.get(name, 0) for d in found) for name in names}


def _add_ratios(rows: list[Summary]) -> None:
    """Batch and stream rows against the baseline, the paired limit and (streams) the batch
    read (module docstring)."""
    block = lambda r: (r.scenario, r.shape, r.kind, r.latency_ms)  # noqa: E731
    baselines = {block(r): r for r in rows if r.variant == "baseline"}
    limits = {(*block(r), r.concurrency): r for r in rows if r.variant == "limit"}
    batches = {
        (*block(r), r.partitions, r.request_concurrency): r for r in rows if r.variant == "batch"
    }
    for row in rows:
        if row.variant not in ("batch", "stream") or not row.e2e_records_per_s:
            continue
        baseline = baselines.get(block(row))
        limit = limits.get((*block(row), row.concurrency))
        if baseline and baseline.e2e_records_per_s:
            row.vs_baseline = row.e2e_records_per_s / baseline.e2e_records_per_s
        if limit and limit.e2e_records_per_s:
            row.vs_limit = row.e2e_records_per_s / limit.e2e_records_per_s
        if limit and limit.records_per_s and row.records_per_s:
            row.vs_limit_wall = row.records_per_s / limit.records_per_s
        if limit and limit.cpu_per_million and row.cpu_per_million is not None:
            row.cpu_vs_limit = row.cpu_per_million / limit.cpu_per_million
        batch = batches.get((*block(row), row.partitions, row.request_concurrency))
        if row.variant == "stream" and batch and batch.e2e_records_per_s:
            row.vs_batch = row.e2e_records_per_s / batch.e2e_records_per_s


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _spread(value: float | None, spread: tuple[float, float] | None, runs: int) -> str:
    if value is None or spread is None:
        return "–"
    low, high = spread
    return f"{value:.2f}" + (f" ({low:.2f}–{high:.2f})" if runs > 1 else "")


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _split(row: Summary) -> str:
    if row.python_cpu_per_million is None or row.jvm_cpu_per_million is None:
        return "–"
    return f"{row.python_cpu_per_million:.2f} / {row.jvm_cpu_per_million:.2f}"


def _limit_ratio(row: Summary, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{_pct(value)} @ {row.concurrency}"


def _batches(row: Summary) -> str:
    if not row.batch_partitions:
        return "–"
    counts = ", ".join(map(str, row.batch_partitions))
    return counts + ("" if row.partitions_ok else " (> numPartitions!)")


HEADER = (
    "| scenario | kind | shape | latency | variant | setting | in flight (paired / seen) | "
    "e2e s (min–max) | records/s e2e | ÷ baseline | ÷ limit @ N | ÷ batch | CPU s/1M | "
    "Python / JVM CPU s/1M | CPU ÷ limit | API CPU s/1M | start-up s | first data s | "
    "s excl. start-up | records/s excl. start-up | ÷ limit excl. start-up | "
    "batch partitions | peak RSS MB | other load | runs |"
)


def format_table(rows: Sequence[Summary]) -> str:
    """A Markdown table of `rows` (`LEGEND` explains the columns)."""
    lines = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    for r in rows:
        runs = f"{r.runs}" + (f" ({r.errors} failed)" if r.errors else "")
        scenario = f"{r.scenario} ({r.records:,} rec.)"
        lines.append(
            f"| {scenario} | {r.kind} | {r.shape} | {r.latency_ms:g} ms | {r.variant} | "
            f"{r.setting} | "
            f"{r.concurrency} / {r.peak_in_flight} | {_spread(r.e2e_s, r.e2e_range, r.runs)} | "
            f"{_num(r.e2e_records_per_s, ',.0f')} | {_times(r.vs_baseline)} | "
            f"{_limit_ratio(r, r.vs_limit)} | {_pct(r.vs_batch)} | "
            f"{_num(r.cpu_per_million, '.2f')} | {_split(r)} | {_times(r.cpu_vs_limit)} | "
            f"{_num(r.api_cpu_per_million, '.2f')} | {_num(r.startup_s, '.2f')} | "
            f"{_num(r.first_data_s, '.2f')} | "
            f"{_num(r.wall_s, '.2f')} | {_num(r.records_per_s, ',.0f')} | "
            f"{_limit_ratio(r, r.vs_limit_wall)} | {_batches(r)} | {_num(r.rss_mb, '.0f')} | "
            f"{_pct(r.other_load)} | {runs} |"
        )
    return "\n".join(lines)


def describe_streams(rows: Sequence[Summary]) -> list[str]:
    """One line per many-streams row: its end-to-end time against the single stream of as
    many records (same kind, latency and setting; the streams comparison)."""
    single = {
        (
            r.records,
            r.shape,
            r.kind,
            r.latency_ms,
            r.variant,
            r.partitions,
            r.request_concurrency,
        ): r
        for r in rows
        if r.streams == 1 and r.batch_partitions is not None
    }
    lines = []
    for row in rows:
        if row.streams <= 1 or row.variant not in ("batch", "stream") or row.e2e_s is None:
            continue
        key = (row.records, row.shape, row.kind, row.latency_ms, row.variant, row.partitions)
        one = single.get((*key, row.request_concurrency))
        if one is None or one.e2e_s is None:
            continue
        lines.append(
            f"{row.streams} streams × {row.records // row.streams:,} records "
            f"({row.kind}, {row.latency_ms:g} ms, {row.setting}): e2e {row.e2e_s:.2f} s, "
            f"{row.e2e_s / one.e2e_s:.1f}× the {one.e2e_s:.2f} s of one stream of "
            f"{one.records:,}; input partitions per micro-batch {_batches(row)} "
            f"(one stream: {_batches(one)})"
        )
    return lines


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write `payload` (dataclasses allowed) as indented JSON; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    return path


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")
