"""The benchmark report's arithmetic (`benchmarks.report`, `benchmarks.variants`): medians,
records/s on the wall time excluding Spark start-up, the ratios, failed runs. No Spark, no
server: hand-built `RunResult`s, and fakes for the one `Runner.run` test."""

from __future__ import annotations

import time
from typing import Any

import pytest

from benchmarks.report import Summary, format_table, summarize
from benchmarks.variants import Runner, RunResult

RECORDS, PAGES = 20_000, 40


def run(
    variant: str,
    wall: float,
    startup: float = 0.0,
    *,
    partitions: int | None = 2,
    repeat: int = 0,
    latency: float = 20.0,
    error: str | None = None,
) -> RunResult:
    """A run of `RECORDS` records over `PAGES` pages; `e2e_s` = start-up + wall."""
    return RunResult(
        variant=variant,
        partitions=None if variant == "baseline" else partitions,
        latency_ms=latency,
        repeat=repeat,
        wall_s=wall,
        startup_s=startup,
        e2e_s=startup + wall,
        span_s=wall * 0.9,
        records=RECORDS,
        pages=PAGES,
        requests=PAGES,
        concurrency=8,
        peak_in_flight=8,
        rss_mb=100.0,
        rss_total_mb=150.0,
        error=error,
    )


def row(rows: list[Summary], variant: str, partitions: int | None = 2) -> Summary:
    """The one row of `variant` (at `partitions`, None for the baseline)."""
    if variant == "baseline":
        partitions = None
    found = [r for r in rows if r.variant == variant and r.partitions == partitions]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def rows() -> list[Summary]:
    """Three repeats of baseline, stream and limit, plus warm-ups that must not count."""
    results = [
        run("baseline", 8.0, 0.8, repeat=-1),
        run("stream", 99.0, 9.0, repeat=-1),
        run("limit", 99.0, repeat=-1),
        *[run("baseline", w, s, repeat=i) for i, (w, s) in enumerate([(4, 1), (5, 0.8), (6, 0.9)])],
        *[run("stream", w, s, repeat=i) for i, (w, s) in enumerate([(3, 1), (1, 0.7), (2, 0.8)])],
        *[run("limit", w, repeat=i) for i, w in enumerate([0.5, 0.4, 0.6])],
    ]
    return summarize(results)


def test_run_rates_use_the_wall_time_excluding_start_up() -> None:
    result = run("stream", 2.0, 3.0)
    assert result.records_per_s == pytest.approx(RECORDS / 2.0)
    assert result.e2e_records_per_s == pytest.approx(RECORDS / 5.0)


def test_medians_over_timed_runs_only(rows: list[Summary]) -> None:
    stream = row(rows, "stream")
    assert stream.runs == 3 and stream.errors == 0
    assert stream.wall_s == pytest.approx(2.0)
    assert stream.wall_range == (1, 3)
    assert stream.startup_s == pytest.approx(0.8)
    assert stream.e2e_s == pytest.approx(2.8)  # median of 4, 1.7, 2.8
    assert stream.span_s == pytest.approx(1.8)


def test_rates_exclude_start_up(rows: list[Summary]) -> None:
    stream = row(rows, "stream")
    assert stream.records_per_s == pytest.approx(RECORDS / 2.0)
    assert stream.pages_per_s == pytest.approx(PAGES / 2.0)
    assert stream.e2e_records_per_s == pytest.approx(RECORDS / 2.8)


def test_limit_has_no_start_up(rows: list[Summary]) -> None:
    limit = row(rows, "limit")
    assert limit.startup_s == 0.0
    assert limit.e2e_s == limit.wall_s == pytest.approx(0.5)


def test_ratios(rows: list[Summary]) -> None:
    stream = row(rows, "stream")
    assert stream.vs_baseline == pytest.approx(5.0 / 2.0)  # baseline median wall 5 s
    assert stream.vs_limit == pytest.approx(0.5 / 2.0)
    assert stream.vs_limit_e2e == pytest.approx(0.5 / 2.8)
    for other in ("baseline", "limit"):
        assert row(rows, other).vs_baseline is None
        assert row(rows, other).vs_limit is None
        assert row(rows, other).vs_limit_e2e is None


def test_ratios_pair_the_limit_of_the_same_partitions_and_latency() -> None:
    rows = summarize(
        [
            run("batch", 2.0, 1.0, partitions=4),
            run("limit", 0.5, partitions=2),
            run("limit", 1.0, partitions=4),
            run("limit", 0.1, partitions=4, latency=0.0),
        ]
    )
    batch = row(rows, "batch", 4)
    assert batch.vs_limit == pytest.approx(0.5)
    assert batch.vs_limit_e2e == pytest.approx(1.0 / 3.0)
    assert batch.vs_baseline is None  # no baseline ran


def test_failed_runs_are_counted_and_left_out() -> None:
    rows = summarize(
        [
            run("stream", 2.0, 1.0, repeat=0),
            run("stream", 50.0, 1.0, repeat=1, error="read 3 records, expected 20000"),
            run("stream", 4.0, 1.0, repeat=2),
            run("batch", 1.0, repeat=0, error="boom"),
        ]
    )
    stream = row(rows, "stream")
    assert (stream.runs, stream.errors) == (2, 1)
    assert stream.wall_s == pytest.approx(3.0)
    assert stream.wall_range == (2.0, 4.0)
    batch = row(rows, "batch")
    assert (batch.runs, batch.errors) == (0, 1)
    assert batch.wall_s is batch.records_per_s is batch.e2e_s is None
    assert "0 (1 failed)" in format_table(rows)


def test_table_shows_start_up_e2e_and_both_limit_ratios(rows: list[Summary]) -> None:
    table = format_table(rows).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    new = {"wall s excl. start-up (min–max)", "start-up s", "e2e s", "÷ limit e2e"}
    assert new <= set(header)
    line = next(line for line in table if "| stream |" in line)
    cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
    assert cells["records/s"] == "10,000"
    assert cells["wall s excl. start-up (min–max)"] == "2.00 (1.00–3.00)"
    assert cells["start-up s"] == "0.80"
    assert cells["e2e s"] == "2.80"
    assert cells["÷ baseline"] == "2.5×"
    assert cells["÷ limit"] == "25 %"
    assert cells["÷ limit e2e"] == "18 %"


class FakeServer:
    """What `Runner.run` reads of a `BenchServer`; `first` is the first request's time."""

    records, pages, latency_ms, offset_kind = RECORDS, PAGES, 20.0, "page"
    first: float | None = None

    def reset(self) -> None:
        self.first = None

    def first_request_at(self) -> float | None:
        return self.first

    def uncovered(self) -> list[tuple[int, int]]:
        return []

    def span_s(self) -> float:
        return 0.0

    def requests(self) -> int:
        return PAGES

    def peak_in_flight(self) -> int:
        return 1


class FakeSampler:
    """A worker-RSS sampler that saw nothing."""

    def reset(self) -> None:
        pass

    def read(self) -> Any:
        return type("Peak", (), {"single_mb": 1.0, "total_mb": 1.0})()


def runner(server: FakeServer) -> Runner:
    return Runner(None, server, FakeSampler(), concurrency=4, slots=2)  # type: ignore[arg-type]


def test_runner_splits_start_up_at_the_first_logged_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = FakeServer()

    def stream(partitions: int | None, check: bool) -> tuple[int, None, None]:
        time.sleep(0.03)  # "Spark start-up"
        server.first = time.perf_counter()
        time.sleep(0.02)  # "reading"
        return RECORDS, None, None

    bench = runner(server)
    monkeypatch.setattr(bench, "_stream", stream)
    result = bench.run("stream", 2, 0)
    assert result.error is None
    assert result.startup_s >= 0.03 and result.wall_s >= 0.02
    assert result.startup_s + result.wall_s == pytest.approx(result.e2e_s)
    assert result.e2e_s < 1.0


def test_runner_gives_limit_no_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    bench = runner(server)
    monkeypatch.setattr(bench, "_limit", lambda partitions, check: (RECORDS, 1.5, 50.0))
    result = bench.run("limit", 2, 0)
    assert (result.startup_s, result.wall_s, result.e2e_s) == (0.0, 1.5, 1.5)
    assert result.rss_mb == 50.0
