"""SVG charts of a run's summary rows, written next to its JSON (matplotlib, Agg backend).

- `<stem>-kinds.svg`: end-to-end records/s per offset kind (x) of each variant and setting
  (bars), against the baseline and the limit it pairs with, one panel per record shape (rows)
  and latency (columns); log scale, the limit bars labelled with their requests in flight.
- `<stem>-partitions.svg`: end-to-end records/s (and excluding start-up, dotted) of the Spark
  variants against `numPartitions` (default = rest_stream's, i.e. max(2, CPUs)), with the
  paired limit dashed, per latency, for the first kind and shape of the scenario that varies
  `numPartitions` the most (the `sweep` of `full`: page numbers at 20 ms).

Text stays text (`svg.fonttype` none), so a chart can be searched for its kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness.report import Summary

COLOURS = {"baseline": "#9e9e9e", "batch": "#1f77b4", "stream": "#2ca02c", "limit": "#d62728"}


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "rest_stream"  # stable ids: diffable files
    import matplotlib.pyplot as plt

    return plt


def _series(row: Summary) -> str:
    if row.variant == "limit":
        return "limit"
    return row.variant if row.variant == "baseline" else f"{row.variant}, {row.setting}"


def kinds_scenario(rows: Sequence[Summary]) -> str | None:
    """The scenario covering the most offset kinds (the first of equals)."""
    kinds: dict[str, set[str]] = {}
    for row in rows:
        kinds.setdefault(row.scenario, set()).add(row.kind)
    return max(kinds, key=lambda name: len(kinds[name]), default=None)


def partitions_scenario(rows: Sequence[Summary], default_partitions: int) -> str | None:
    """The scenario whose Spark rows cover the most `numPartitions` values (≥ 2)."""
    counts: dict[str, set[int]] = {}
    for row in rows:
        if row.variant in ("batch", "stream") and row.e2e_records_per_s:
            counts.setdefault(row.scenario, set()).add(row.partitions or default_partitions)
    best = max(counts, key=lambda name: len(counts[name]), default=None)
    return best if best is not None and len(counts[best]) >= 2 else None


def kinds_chart(rows: Sequence[Summary], path: Path, scenario: str) -> Path:
    """The records/s per kind chart of `scenario`'s rows."""
    plt = _pyplot()
    mine = [r for r in rows if r.scenario == scenario and r.e2e_records_per_s]
    latencies = list(dict.fromkeys(r.latency_ms for r in mine))
    shapes = list(dict.fromkeys(r.shape for r in mine))
    kinds = list(dict.fromkeys(r.kind for r in mine))
    series = list(dict.fromkeys(_series(r) for r in mine if r.variant != "limit"))
    series.append("limit")
    panels = max(1, len(latencies))
    figure, axes = plt.subplots(
        max(1, len(shapes)),
        panels,
        figsize=(max(10.0, 6.5 * panels), 5.5 * max(1, len(shapes))),
        squeeze=False,
    )
    width = 0.8 / len(series)
    cells = [
        (axis, shape, latency)
        for line, shape in zip(axes, shapes)
        for axis, latency in zip(line, latencies)
    ]
    for axis, shape, latency in cells:
        here = [r for r in mine if r.shape == shape and r.latency_ms == latency]
        for i, name in enumerate(series):
            for k, kind in enumerate(kinds):
                found = [r for r in here if r.kind == kind and _series(r) == name]
                if name == "limit":  # several limits (one per N): the bar of the largest
                    found = sorted(found, key=lambda r: r.concurrency)[-1:]
                if not found:
                    continue
                row = found[0]
                x = k - 0.4 + width * (i + 0.5)
                axis.bar(
                    x,
                    row.e2e_records_per_s,
                    width,
                    color=COLOURS[row.variant],
                    alpha=1.0 if "numPartitions" not in name else 0.55,
                    label=name,
                )
                if row.variant == "limit":
                    axis.annotate(
                        f"{row.concurrency}",
                        (x, row.e2e_records_per_s),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        axis.set_xticks(range(len(kinds)), kinds)
        axis.set_yscale("log")
        lowest = min(((r.e2e_records_per_s or 1.0) for r in here), default=1.0)
        axis.set_ylim(bottom=lowest / 2)
        axis.set_ylabel("records/s, end to end (log)")
        axis.set_title(f"{scenario}, {shape} records: {latency:g} ms per request")
        axis.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    columns = min(len(unique), 3 * panels)
    figure.legend(unique.values(), unique.keys(), loc="lower center", ncol=columns, fontsize=8)
    figure.suptitle(
        "rest_stream, the seed-style baseline and the limit (number: requests in flight)"
    )
    figure.tight_layout(rect=(0, 0.1 / max(1, len(shapes)), 1, 1))
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)
    return path


def partitions_chart(
    rows: Sequence[Summary], path: Path, scenario: str, default_partitions: int
) -> Path:
    """Records/s against numPartitions for `scenario`'s rows."""
    plt = _pyplot()
    kind, shape = next((r.kind, r.shape) for r in rows if r.scenario == scenario)
    mine = [r for r in rows if r.scenario == scenario and r.kind == kind and r.shape == shape]
    figure, axis = plt.subplots(figsize=(8, 5.5))
    latencies = list(dict.fromkeys(r.latency_ms for r in mine))
    limits = {(r.latency_ms, r.concurrency): r for r in mine if r.variant == "limit"}
    for latency in latencies:
        paired: dict[int, Summary] = {}
        for variant in ("batch", "stream"):
            points = sorted(
                (
                    (r.partitions or default_partitions, r)
                    for r in mine
                    if r.latency_ms == latency
                    and r.variant == variant
                    and r.e2e_records_per_s
                    and r.request_concurrency is None
                ),
                key=lambda point: point[0],
            )
            if len(points) < 2:
                continue
            xs = [x for x, _ in points]
            label = f"{latency:g} ms, {variant}"
            colour = COLOURS[variant]
            axis.plot(
                xs,
                [r.e2e_records_per_s for _, r in points],
                "o-",
                color=colour,
                label=f"{label}, end to end",
            )
            axis.plot(
                xs,
                [r.records_per_s for _, r in points],
                "o:",
                color=colour,
                label=f"{label}, excl. start-up",
            )
            for x, r in points:
                limit = limits.get((latency, r.concurrency))
                if limit is not None:
                    paired[x] = limit
        if paired:
            xs = sorted(paired)
            axis.plot(
                xs,
                [paired[x].e2e_records_per_s for x in xs],
                "s--",
                color=COLOURS["limit"],
                label=f"{latency:g} ms, paired limit",
            )
            for x in xs:
                axis.annotate(
                    f"{paired[x].concurrency}",
                    (x, paired[x].e2e_records_per_s),
                    textcoords="offset points",
                    xytext=(0, 4),
                    ha="center",
                    fontsize=7,
                )
    axis.set_xscale("log", base=2)
    ticks = sorted({r.partitions or default_partitions for r in mine if r.variant != "limit"})
    axis.set_xticks(ticks, [str(x) for x in ticks])
    axis.set_xlabel("numPartitions")
    axis.set_ylabel("records/s")
    axis.set_ylim(bottom=0)
    axis.set_title(
        f"{scenario}, {kind}, {shape} records: records/s against numPartitions "
        "(limit: number in flight)"
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)
    return path


def write_charts(
    rows: Sequence[Summary], folder: Path, *, stem: str = "latest", default_partitions: int = 2
) -> list[Path]:
    """Write the charts the rows allow; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    scenario = kinds_scenario(rows)
    if scenario is not None:
        written.append(kinds_chart(rows, folder / f"{stem}-kinds.svg", scenario))
    sweep = partitions_scenario(rows, default_partitions)
    if sweep is not None:
        written.append(
            partitions_chart(rows, folder / f"{stem}-partitions.svg", sweep, default_partitions)
        )
    return written
