"""The SVG charts of a run (`harness.charts`) on a synthetic result: cheap, no Spark."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from benchmarks.harness.charts import kinds_scenario, partitions_scenario, write_charts
from benchmarks.harness.config import OFFSET_KINDS
from benchmarks.harness.report import Summary, summarize
from benchmarks.measurements.variants import RunResult


def result(
    scenario: str,
    kind: str,
    latency: float,
    variant: str,
    e2e: float,
    *,
    partitions: int | None = None,
    in_flight: int = 8,
) -> RunResult:
    return RunResult(
        variant=variant,
        partitions=partitions,
        latency_ms=latency,
        request_concurrency=None,
        repeat=0,
        wall_s=e2e * 0.7,
        startup_s=e2e * 0.3 if variant != "limit" else 0.0,
        e2e_s=e2e,
        span_s=e2e * 0.6,
        records=200_000,
        pages=400,
        requests=400,
        concurrency=1 if variant == "baseline" else in_flight,
        peak_in_flight=1,
        rss_mb=100.0,
        rss_total_mb=100.0,
        kind=kind,
        scenario=scenario,
    )


@pytest.fixture(scope="module")
def rows() -> list[Summary]:
    results = []
    for latency in (0.0, 20.0):
        for i, kind in enumerate(OFFSET_KINDS):
            chain = kind == "cursor"
            n = 1 if chain else 8
            results += [
                result("kinds", kind, latency, "baseline", 12.0 + i),
                result("kinds", kind, latency, "batch", 2.0 + i, in_flight=n),
                result("kinds", kind, latency, "stream", 3.0 + i, in_flight=n),
                result("kinds", kind, latency, "stream", 3.5 + i, partitions=8, in_flight=n),
                result("kinds", kind, latency, "limit", 1.0 + i, in_flight=n),
            ]
    for n in (1, 2, 4, 8):
        level = 4 * min(n, 2)
        results.append(
            result("sweep", "page", 20.0, "stream", 4.0 / n, partitions=n, in_flight=level)
        )
    results += [
        result("sweep", "page", 20.0, "limit", 1.0, in_flight=4),
        result("sweep", "page", 20.0, "limit", 0.6, in_flight=8),
    ]
    return summarize(results)


def svg_text(path: Path) -> str:
    text = path.read_text()
    root = ElementTree.fromstring(text)  # well-formed XML
    assert root.tag.endswith("svg")
    return text


@pytest.fixture(scope="module")
def charts(rows: list[Summary], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_charts(rows, tmp_path_factory.mktemp("charts"), stem="run")


def test_charts_are_svg_and_name_every_kind(charts: list[Path]) -> None:
    assert [p.name for p in charts] == ["run-kinds.svg", "run-partitions.svg"]
    kinds = svg_text(charts[0])
    for kind in OFFSET_KINDS:
        assert kind in kinds
    for label in ("baseline", "limit", "stream, default", "stream, numPartitions 8", "20 ms"):
        assert label in kinds
    partitions = svg_text(charts[1])
    assert "numPartitions" in partitions and "paired limit" in partitions


def test_scenario_choice(rows: list[Summary]) -> None:
    assert kinds_scenario(rows) == "kinds"
    assert partitions_scenario(rows, default_partitions=2) == "sweep"
    assert kinds_scenario([]) is None and partitions_scenario([], 2) is None


def test_no_partitions_chart_without_two_partition_counts(
    rows: list[Summary], tmp_path: Path
) -> None:
    only = [r for r in rows if r.scenario == "kinds" and r.partitions is None]
    assert [p.name for p in write_charts(only, tmp_path)] == ["latest-kinds.svg"]
