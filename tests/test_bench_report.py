"""The benchmark report's arithmetic (`harness.report`, `measurements.variants`): medians,
records/s on the wall time excluding Spark start-up, the ratios (also across several
requestConcurrency values sharing one baseline), failed runs, and the harness's schedule. No
Spark, no server: hand-built `RunResult`s, and fakes for the `Runner` and `run_all` tests."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness.config import PRESETS
from benchmarks.harness.report import Summary, format_table, summarize, write_json
from benchmarks.harness.run import parse_args, run_all, schedule
from benchmarks.measurements.variants import Runner, RunResult

RECORDS, PAGES = 20_000, 40


def run(
    variant: str,
    wall: float,
    startup: float = 0.0,
    *,
    partitions: int | None = 2,
    repeat: int = 0,
    latency: float = 20.0,
    concurrency: int = 4,
    error: str | None = None,
) -> RunResult:
    """A run of `RECORDS` records over `PAGES` pages at requestConcurrency `concurrency` (none
    for the baseline); `e2e_s` = start-up + wall."""
    baseline = variant == "baseline"
    return RunResult(
        variant=variant,
        partitions=None if baseline else partitions,
        latency_ms=latency,
        request_concurrency=None if baseline else concurrency,
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


def row(
    rows: list[Summary], variant: str, partitions: int | None = 2, concurrency: int = 4
) -> Summary:
    """The one row of `variant` (at `partitions` and `concurrency`, None for the baseline)."""
    level: int | None = concurrency
    if variant == "baseline":
        partitions = level = None
    found = [
        r
        for r in rows
        if r.variant == variant and r.partitions == partitions and r.request_concurrency == level
    ]
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


@pytest.fixture
def levels() -> list[RunResult]:
    """20 ms, requestConcurrency 4 and 8, three repeats: ONE baseline (6 s) per repeat, batch
    3 s / limit 2 s at 4 and batch 2 s / limit 0.5 s at 8 (start-up 1 s for batch)."""
    results = []
    for i in range(3):
        order = (4, 8) if i % 2 == 0 else (8, 4)
        results.append(run("baseline", 6.0, 1.0, repeat=i))
        for level in order:
            batch, limit = (3.0, 2.0) if level == 4 else (2.0, 0.5)
            results += [
                run("batch", batch, 1.0, concurrency=level, repeat=i),
                run("limit", limit, concurrency=level, repeat=i),
            ]
    return results


def test_one_baseline_row_shared_by_every_concurrency(levels: list[RunResult]) -> None:
    rows = summarize(levels)
    baselines = [r for r in rows if r.variant == "baseline"]
    assert len(baselines) == 1
    assert baselines[0].request_concurrency is None and baselines[0].runs == 3
    assert row(rows, "batch", concurrency=4).vs_baseline == pytest.approx(6.0 / 3.0)
    assert row(rows, "batch", concurrency=8).vs_baseline == pytest.approx(6.0 / 2.0)


def test_limit_ratio_pairs_the_same_concurrency(levels: list[RunResult]) -> None:
    rows = summarize(levels)
    at4, at8 = row(rows, "batch", concurrency=4), row(rows, "batch", concurrency=8)
    # the other concurrency's limit would give 0.5 / 3 and 2 / 2
    assert at4.vs_limit == pytest.approx(2.0 / 3.0)
    assert at8.vs_limit == pytest.approx(0.5 / 2.0)
    assert at4.vs_limit_e2e == pytest.approx(2.0 / 4.0)
    assert at8.vs_limit_e2e == pytest.approx(0.5 / 3.0)


def test_no_limit_at_that_concurrency_means_no_limit_ratio(levels: list[RunResult]) -> None:
    rows = summarize([*levels, run("batch", 1.0, concurrency=16)])
    at16 = row(rows, "batch", concurrency=16)
    assert at16.vs_limit is None and at16.vs_limit_e2e is None  # never the limit at 4 or 8
    assert at16.vs_baseline == pytest.approx(6.0)


def test_rows_grouped_by_latency_then_concurrency(levels: list[RunResult]) -> None:
    fast = [
        run(
            r.variant,
            r.wall_s,
            latency=0.0,
            concurrency=r.request_concurrency or 4,
            repeat=r.repeat,
        )
        for r in levels
    ]
    rows = summarize([*levels, *fast])
    assert [(r.latency_ms, r.request_concurrency, r.variant) for r in rows] == [
        (lat, level, variant)
        for lat in (20.0, 0.0)
        for level, variant in [
            (None, "baseline"),
            (4, "batch"),
            (4, "limit"),
            (8, "batch"),
            (8, "limit"),
        ]
    ]
    table = format_table(rows).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[:3] == ["latency", "requestConcurrency", "variant"]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:7]]
    assert [c[1] for c in cells] == ["–", "4", "4", "8", "8"]


def test_json_carries_the_concurrency(levels: list[RunResult], tmp_path: Path) -> None:
    payload = {"config": PRESETS["full"], "summary": summarize(levels), "runs": levels}
    data = json.loads(write_json(tmp_path / "b.json", payload).read_text())
    assert data["config"]["concurrency"] == [4, 8]
    assert [s["request_concurrency"] for s in data["summary"]] == [None, 4, 4, 8, 8]
    assert Counter(r["request_concurrency"] for r in data["runs"]) == {None: 3, 4: 6, 8: 6}


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

    def warm(self) -> None:
        pass

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

    def stream(partitions: int | None, concurrency: int, check: bool) -> tuple[int, None, None]:
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
    monkeypatch.setattr(bench, "_limit", lambda partitions, level, check: (RECORDS, 1.5, 50.0))
    result = bench.run("limit", 2, 0)
    assert (result.startup_s, result.wall_s, result.e2e_s) == (0.0, 1.5, 1.5)
    assert result.rss_mb == 50.0


def test_runner_passes_the_concurrency_of_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = runner(FakeServer())
    seen: list[int] = []

    def batch(partitions: int | None, concurrency: int, check: bool) -> tuple[int, None, None]:
        seen.append(concurrency)
        return RECORDS, None, None

    monkeypatch.setattr(bench, "_batch", batch)
    monkeypatch.setattr(bench, "_baseline", lambda partitions, level, check: (RECORDS, None, None))
    at8, default = bench.run("batch", 2, 0, concurrency=8), bench.run("batch", 2, 0)
    assert seen == [8, 4]
    assert (at8.request_concurrency, at8.concurrency) == (8, 16)  # 2 slots × 8
    assert (default.request_concurrency, default.concurrency) == (4, 8)
    baseline = bench.run("baseline", None, 0, concurrency=8)
    assert (baseline.request_concurrency, baseline.concurrency) == (None, 1)


def test_concurrency_option_takes_a_list() -> None:
    assert parse_args(["--preset", "smoke"]).concurrency == (4,)
    assert parse_args(["--preset", "full"]).concurrency == (4, 8)
    assert parse_args(["--preset", "smoke", "--concurrency", "2,4"]).concurrency == (2, 4)
    with pytest.raises(SystemExit):
        parse_args(["--concurrency", "0,4"])


BOTH = PRESETS["smoke"].replace(partitions=(1, 4), concurrency=(4, 8), repeats=4)
SPLIT = ("batch", "stream", "limit")


def test_schedule_interleaves_variants_and_concurrencies() -> None:
    firsts = []
    for repeat in range(BOTH.repeats):
        runs = schedule(BOTH, repeat)
        assert runs.count(("baseline", None, None)) == 1
        assert runs.index(("baseline", None, None)) == (0 if repeat % 2 == 0 else len(runs) - 1)
        others = [r for r in runs if r[0] != "baseline"]
        expected = [(v, n, c) for v in SPLIT for n in (1, 4) for c in (4, 8)]
        assert sorted(others) == sorted(expected)
        blocks = [others[i : i + 3] for i in range(0, len(others), 3)]
        for block in blocks:  # the variants alternate at each (numPartitions, concurrency)
            assert {v for v, _, _ in block} == set(SPLIT)
            assert len({(n, c) for _, n, c in block}) == 1
        assert [c for _, _, c in others[::3]] == ([4, 8] if repeat % 2 == 0 else [8, 4]) * 2
        firsts.append(others[0][0])
    assert firsts[:3] == ["batch", "stream", "limit"]  # the order rotates


class FakeRunner:
    """Records `run_all`'s calls; every run takes 1 s."""

    def __init__(self) -> None:
        self.server = FakeServer()
        self.calls: list[tuple[float, str, int | None, int | None, int]] = []

    def run(
        self, variant: str, partitions: int | None, repeat: int, concurrency: int | None = None
    ) -> RunResult:
        latency = self.server.latency_ms
        self.calls.append((latency, variant, partitions, concurrency, repeat))
        level = concurrency or 4  # the baseline has none (`run` drops it)
        return run(
            variant, 1.0, partitions=partitions, repeat=repeat, latency=latency, concurrency=level
        )


def test_run_all_runs_the_baseline_once_per_latency_and_repeat() -> None:
    config = BOTH.replace(latencies_ms=(20.0, 0.0), repeats=3)
    fake = FakeRunner()
    results = run_all(config, fake)  # type: ignore[arg-type]
    calls = Counter(fake.calls)
    for latency in (20.0, 0.0):
        warm = [c for c in fake.calls if c[0] == latency and c[4] < 0]
        assert sorted(warm) == sorted(
            [(latency, "baseline", None, None, -1)]
            + [(latency, v, 4, 8, -1) for v in SPLIT]  # most partitions, highest concurrency
        )
        for repeat in range(3):
            assert calls[(latency, "baseline", None, None, repeat)] == 1
            for v in SPLIT:
                for n in (1, 4):
                    for c in (4, 8):
                        assert calls[(latency, v, n, c, repeat)] == 1
    assert len(fake.calls) == 2 * (4 + 3 * (1 + 3 * 2 * 2))
    rows = summarize(results)
    assert [r.latency_ms for r in rows if r.variant == "baseline"] == [20.0, 0.0]
    assert all(r.vs_baseline == pytest.approx(1.0) for r in rows if r.variant == "batch")
