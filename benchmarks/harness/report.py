"""Medians over repeats, the ratios against baseline and limit, the table and the JSON file.

Records/s, pages/s and the ratios use the wall time excluding Spark start-up (first request →
done), as the harness's issue specifies; the table also shows the start-up, the end-to-end
time and the end-to-end ratio against the limit (which has no start-up), so the two views
sit side by side.

Rows are grouped by latency, then requestConcurrency: the baseline (one request in flight,
whatever the setting) comes first in its latency and is the ÷ baseline reference of every
requestConcurrency; ÷ limit pairs the limit of the same latency, requestConcurrency and
numPartitions.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.measurements.variants import RunResult

TABLE_ORDER = ("baseline", "batch", "stream", "limit")

LEGEND = (
    "wall: first request the API logged → sink done, i.e. excluding Spark start-up; records/s, "
    "pages/s, ÷ baseline and ÷ limit use it.\n"
    "start-up: load() → that first request (Spark's query start plus any work the source does "
    "before its first request); 0 for limit, which has no Spark.\n"
    "e2e: load() → sink done; ÷ limit e2e is end-to-end records/s over the limit's (its wall is "
    "its end to end).\n"
    "requestConcurrency: requests in flight per task (limit: per process); in flight max = "
    "tasks at once × requestConcurrency. The baseline (–) always has one in flight and runs "
    "once per latency for every requestConcurrency.\n"
    "÷ baseline: multiple of the baseline's records/s (same latency); ÷ limit: share of the "
    "limit's at the same latency, requestConcurrency and numPartitions. Each column is its own "
    "median over repeats, so start-up + wall need not equal e2e exactly."
)


@dataclass
class Summary:
    """One table row: a variant at one latency, requestConcurrency (None for the baseline)
    and partition count, medians over repeats; `concurrency` is the in-flight maximum."""

    latency_ms: float
    request_concurrency: int | None
    variant: str
    partitions: int | None
    runs: int
    wall_s: float | None
    wall_range: tuple[float, float] | None
    startup_s: float | None
    e2e_s: float | None
    span_s: float | None
    records_per_s: float | None
    pages_per_s: float | None
    e2e_records_per_s: float | None
    concurrency: int
    peak_in_flight: int
    rss_mb: float | None
    other_load: float | None
    vs_baseline: float | None = None
    vs_limit: float | None = None
    vs_limit_e2e: float | None = None
    errors: int = 0


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return statistics.median(found) if found else None


def summarize(results: Sequence[RunResult]) -> list[Summary]:
    """Timed runs (not warm-ups) grouped by (latency, requestConcurrency, variant,
    partitions), with ratios; sorted by latency, then requestConcurrency (baseline first), in
    the order they ran."""
    groups: dict[tuple[float, int | None, str, int | None], list[RunResult]] = {}
    for result in results:
        if result.repeat >= 0:
            key = (result.latency_ms, result.request_concurrency, result.variant, result.partitions)
            groups.setdefault(key, []).append(result)
    rows = []
    for (latency, level, variant, partitions), runs in groups.items():
        good = [r for r in runs if r.error is None]
        wall = _median(r.wall_s for r in good)
        e2e = _median(r.e2e_s for r in good)
        pages = good[0].pages if good else 0
        records = good[0].records if good else 0
        rows.append(
            Summary(
                latency_ms=latency,
                request_concurrency=level,
                variant=variant,
                partitions=partitions,
                runs=len(good),
                wall_s=wall,
                wall_range=(min(r.wall_s for r in good), max(r.wall_s for r in good))
                if good
                else None,
                startup_s=_median(r.startup_s for r in good),
                e2e_s=e2e,
                span_s=_median(r.span_s for r in good),
                records_per_s=records / wall if wall else None,
                pages_per_s=pages / wall if wall else None,
                e2e_records_per_s=records / e2e if e2e else None,
                concurrency=runs[0].concurrency,
                peak_in_flight=max(r.peak_in_flight for r in runs),
                rss_mb=max((r.rss_mb for r in good if r.rss_mb is not None), default=None),
                other_load=_median(r.other_load for r in good),
                errors=len(runs) - len(good),
            )
        )
    _add_ratios(rows)
    order = {v: i for i, v in enumerate(TABLE_ORDER)}
    latencies = list(dict.fromkeys(r.latency_ms for r in results))
    levels = [None] + list(dict.fromkeys(k[1] for k in groups if k[1] is not None))
    rows.sort(
        key=lambda r: (
            latencies.index(r.latency_ms),
            levels.index(r.request_concurrency),
            order[r.variant],
            r.partitions or 0,
        )
    )
    return rows


def _add_ratios(rows: list[Summary]) -> None:
    """Batch and stream rows against the baseline (same latency; one for every
    requestConcurrency) and the limit (same latency, requestConcurrency and partitions):
    excluding start-up, and end to end against the limit."""
    by_key = {(r.latency_ms, r.request_concurrency, r.variant, r.partitions): r for r in rows}
    for row in rows:
        if row.variant not in ("batch", "stream") or not row.records_per_s:
            continue
        baseline = by_key.get((row.latency_ms, None, "baseline", None))
        limit = by_key.get((row.latency_ms, row.request_concurrency, "limit", row.partitions))
        if baseline and baseline.records_per_s:
            row.vs_baseline = row.records_per_s / baseline.records_per_s
        if limit and limit.records_per_s:
            row.vs_limit = row.records_per_s / limit.records_per_s
        if limit and limit.e2e_records_per_s and row.e2e_records_per_s:
            row.vs_limit_e2e = row.e2e_records_per_s / limit.e2e_records_per_s


def _num(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _wall(row: Summary) -> str:
    if row.wall_s is None or row.wall_range is None:
        return "–"
    low, high = row.wall_range
    spread = f" ({low:.2f}–{high:.2f})" if row.runs > 1 else ""
    return f"{row.wall_s:.2f}{spread}"


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def format_table(rows: Sequence[Summary]) -> str:
    """A Markdown table of `rows` (`LEGEND` explains the columns)."""
    header = (
        "| latency | requestConcurrency | variant | numPartitions | in flight (max / seen) | "
        "records/s | pages/s | wall s excl. start-up (min–max) | start-up s | e2e s | "
        "API span s | peak RSS MB | ÷ baseline | ÷ limit | ÷ limit e2e | other load | runs |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for r in rows:
        runs = f"{r.runs}" + (f" ({r.errors} failed)" if r.errors else "")
        lines.append(
            f"| {r.latency_ms:g} ms | {r.request_concurrency or '–'} | {r.variant} | "
            f"{r.partitions or '–'} | {r.concurrency} / {r.peak_in_flight} | "
            f"{_num(r.records_per_s, ',.0f')} | {_num(r.pages_per_s, ',.1f')} | {_wall(r)} | "
            f"{_num(r.startup_s, '.2f')} | "
            f"{_num(r.e2e_s, '.2f')} | {_num(r.span_s, '.2f')} | {_num(r.rss_mb, '.0f')} | "
            f"{_times(r.vs_baseline)} | {_pct(r.vs_limit)} | {_pct(r.vs_limit_e2e)} | "
            f"{_pct(r.other_load)} | {runs} |"
        )
    return "\n".join(lines)


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
