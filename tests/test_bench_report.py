"""The benchmark report's arithmetic (`harness.report`, `measurements.variants`): medians,
end-to-end records/s as the headline, the ratios against the baseline and the limit paired by
requests in flight, failed runs, the harness's schedule and plan. No Spark, no server:
hand-built `RunResult`s, and fakes for the `Runner` tests."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from benchmarks.comparators.limit import in_flight, split
from benchmarks.harness.config import DEFAULT, PRESETS, Scenario, setting_label
from benchmarks.harness.load import cpu_by_kind
from benchmarks.harness.report import (
    Summary,
    describe_streams,
    format_table,
    summarize,
    write_json,
)
from benchmarks.harness.run import describe_plan, parse_args, plan, schedule
from benchmarks.measurements.variants import Job, Runner, RunResult, paired_in_flight

RECORDS, PAGES, SLOTS = 20_000, 40, 2


def run(
    variant: str,
    wall: float,
    startup: float = 0.0,
    *,
    partitions: int | None = None,
    concurrency: int | None = None,
    in_flight: int = 8,
    repeat: int = 0,
    latency: float = 20.0,
    kind: str = "page",
    scenario: str = "kinds",
    error: str | None = None,
    batches: list[int] | None = None,
    shape: str = "nested",
    cpu: float | None = None,
) -> RunResult:
    """A run of `RECORDS` records over `PAGES` pages; `e2e_s` = start-up + wall; `cpu` CPU
    seconds (None: not measured)."""
    baseline = variant == "baseline"
    return RunResult(
        variant=variant,
        partitions=partitions,
        latency_ms=latency,
        request_concurrency=concurrency,
        repeat=repeat,
        wall_s=wall,
        startup_s=startup,
        e2e_s=startup + wall,
        span_s=wall * 0.9,
        records=RECORDS,
        pages=PAGES,
        requests=PAGES,
        concurrency=1 if baseline else in_flight,
        peak_in_flight=1,
        rss_mb=100.0,
        rss_total_mb=150.0,
        error=error,
        kind=kind,
        scenario=scenario,
        batch_partitions=batches,
        shape=shape,
        cpu_s=cpu,
    )


def row(rows: list[Summary], variant: str, **match: Any) -> Summary:
    """The one row of `variant` whose fields equal `match`."""
    found = [
        r
        for r in rows
        if r.variant == variant and all(getattr(r, k) == v for k, v in match.items())
    ]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def rows() -> list[Summary]:
    """Three repeats of baseline, stream (default and numPartitions 8, both 8 in flight on
    2 slots) and the limit at 8, plus warm-ups that must not count."""
    results = [
        run("baseline", 8.0, 0.8, repeat=-1),
        run("stream", 99.0, 9.0, repeat=-1),
        run("limit", 99.0, repeat=-1),
        *[run("baseline", w, s, repeat=i) for i, (w, s) in enumerate([(4, 1), (5, 1), (6, 1)])],
        *[run("stream", w, s, repeat=i) for i, (w, s) in enumerate([(3, 1), (1, 1), (2, 1)])],
        *[run("stream", w, 1.0, partitions=8, repeat=i) for i, w in enumerate([4, 4, 4])],
        *[run("limit", w, repeat=i) for i, w in enumerate([0.5, 0.4, 0.6])],
    ]
    return summarize(results)


def test_run_rates() -> None:
    result = run("stream", 2.0, 3.0)
    assert result.records_per_s == pytest.approx(RECORDS / 2.0)
    assert result.e2e_records_per_s == pytest.approx(RECORDS / 5.0)


def test_medians_over_timed_runs_only(rows: list[Summary]) -> None:
    stream = row(rows, "stream", partitions=None)
    assert stream.runs == 3 and stream.errors == 0
    assert stream.e2e_s == pytest.approx(3.0)  # median of 4, 2, 3
    assert stream.e2e_range == (2.0, 4.0)
    assert stream.wall_s == pytest.approx(2.0)
    assert stream.startup_s == pytest.approx(1.0)


def test_headline_is_end_to_end(rows: list[Summary]) -> None:
    stream = row(rows, "stream", partitions=None)
    assert stream.e2e_records_per_s == pytest.approx(RECORDS / 3.0)
    assert stream.records_per_s == pytest.approx(RECORDS / 2.0)
    limit = row(rows, "limit")
    assert limit.startup_s == 0.0
    assert limit.e2e_s == limit.wall_s == pytest.approx(0.5)


def test_ratios_are_end_to_end_with_the_paired_limit(rows: list[Summary]) -> None:
    stream = row(rows, "stream", partitions=None)
    assert stream.vs_baseline == pytest.approx(6.0 / 3.0)  # baseline e2e median 6 s
    assert stream.vs_limit == pytest.approx(0.5 / 3.0)
    assert stream.vs_limit_wall == pytest.approx(0.5 / 2.0)
    eight = row(rows, "stream", partitions=8)
    assert eight.concurrency == 8  # numPartitions 8 on 2 slots × 4: the same limit
    assert eight.vs_limit == pytest.approx(0.5 / 5.0)
    for other in ("baseline", "limit"):
        assert row(rows, other).vs_baseline is None
        assert row(rows, other).vs_limit is None


def test_limit_pairs_by_requests_in_flight_kind_latency_and_scenario() -> None:
    rows = summarize(
        [
            run("stream", 2.0, 1.0, partitions=1, in_flight=4),
            run("stream", 2.0, 1.0, partitions=4, in_flight=8),
            run("limit", 0.5, in_flight=4),
            run("limit", 1.0, in_flight=8),
            run("limit", 0.1, in_flight=8, latency=0.0),
            run("limit", 0.1, in_flight=8, kind="incremental"),
            run("limit", 0.1, in_flight=8, scenario="1M"),
        ]
    )
    assert row(rows, "stream", partitions=1).vs_limit == pytest.approx(0.5 / 3.0)
    assert row(rows, "stream", partitions=4).vs_limit == pytest.approx(1.0 / 3.0)
    assert row(rows, "stream", partitions=4).vs_baseline is None  # no baseline ran


def test_no_limit_at_that_number_in_flight_means_no_ratio() -> None:
    rows = summarize([run("stream", 1.0, in_flight=16), run("limit", 0.5, in_flight=8)])
    assert row(rows, "stream").vs_limit is None


def test_shapes_are_rows_of_their_own_each_with_its_limit() -> None:
    rows = summarize(
        [
            run("stream", 2.0, 1.0, shape="nested"),
            run("stream", 1.0, 1.0, shape="flat"),
            run("limit", 1.5, shape="nested"),
            run("limit", 0.5, shape="flat"),
        ]
    )
    assert row(rows, "stream", shape="nested").vs_limit == pytest.approx(1.5 / 3.0)
    assert row(rows, "stream", shape="flat").vs_limit == pytest.approx(0.5 / 2.0)
    assert [r.shape for r in rows] == ["nested", "nested", "flat", "flat"]


def test_stream_against_batch_and_cpu_per_million_records() -> None:
    rows = summarize(
        [
            *[run("batch", w, 0.2, cpu=c, repeat=i) for i, (w, c) in enumerate([(2, 1), (3, 2)])],
            *[run("stream", w, 1.0, cpu=c, repeat=i) for i, (w, c) in enumerate([(3, 2), (4, 3)])],
            run("stream", 3.0, 1.0, partitions=8, cpu=2.0),
            run("limit", 1.0, cpu=0.5),
            run("limit", 1.0, cpu=0.5, repeat=1),
        ]
    )
    batch, stream = row(rows, "batch"), row(rows, "stream", partitions=None)
    assert batch.cpu_per_million == pytest.approx(1.5 * 1_000_000 / RECORDS)
    assert stream.cpu_per_million == pytest.approx(2.5 * 1_000_000 / RECORDS)
    assert stream.vs_batch == pytest.approx(2.7 / 4.5)  # e2e medians: batch 2.7 s, stream 4.5 s
    assert row(rows, "stream", partitions=8).vs_batch is None  # no batch at that setting
    assert batch.vs_batch is None
    assert stream.cpu_vs_limit == pytest.approx(2.5 / 0.5)
    assert row(rows, "limit").cpu_vs_limit is None
    table = format_table(rows)
    assert "| 60 % |" in table and "| 5.0× |" in table


def test_cpu_of_a_spark_run_split_between_python_and_the_jvm() -> None:
    runs = [run("batch", 1.0, cpu=3.0, repeat=i) for i in range(3)]
    for result, (python, jvm) in zip(runs, [(2.0, 1.0), (2.2, 0.8), (1.8, 1.2)]):
        result.python_cpu_s, result.jvm_cpu_s = python, jvm
    (batch,) = summarize(runs)
    assert batch.python_cpu_per_million == pytest.approx(2.0 * 1_000_000 / RECORDS)
    assert batch.jvm_cpu_per_million == pytest.approx(1.0 * 1_000_000 / RECORDS)
    assert "| 100.00 / 50.00 |" in format_table([batch])
    split = cpu_by_kind()
    assert set(split) == {"jvm", "python", "other"} and min(split.values()) >= 0


def test_paired_in_flight() -> None:
    # numPartitions 8 on 2 slots with the default requestConcurrency 4 → 8 in flight
    assert paired_in_flight(Job("stream", 8), "page", SLOTS) == 8
    assert paired_in_flight(Job("stream", 1), "page", SLOTS) == 4
    assert paired_in_flight(Job("batch", 2, 8), "incremental", SLOTS) == 16
    assert paired_in_flight(Job("stream", 8), "cursor", SLOTS) == 1  # a chain
    assert paired_in_flight(Job("stream", 8), "cursor", SLOTS, streams=10) == 8
    assert paired_in_flight(Job("baseline"), "page", SLOTS) == 1
    assert paired_in_flight(Job("limit", in_flight=6), "page", SLOTS) == 6
    assert in_flight("timestamp", 4, 8, SLOTS) == 8


def test_limit_split_over_processes() -> None:
    assert split(8, 2) == (2, 4)
    assert split(4, 2) == (2, 2)
    assert split(1, 2) == (1, 1)
    assert split(9, 2) == (1, 9)  # never fewer requests in flight than asked


def test_batch_partitions_checked_against_num_partitions() -> None:
    rows = summarize(
        [
            run("stream", 1.0, batches=[2, 2], repeat=0),
            run("stream", 1.0, batches=[2, 1], repeat=1),
            run("stream", 1.0, partitions=8, batches=[8, 3]),
            run("stream", 1.0, partitions=4, batches=[5]),
        ],
        default_partitions=2,
    )
    default = row(rows, "stream", partitions=None)
    assert default.batch_partitions == [1, 2] and default.partitions_ok
    assert row(rows, "stream", partitions=8).partitions_ok
    assert row(rows, "stream", partitions=4).partitions_ok is False
    table = format_table(rows)
    assert "| 1, 2 |" in table and "> numPartitions!" in table


def test_many_streams_compared_with_one_stream_of_as_many_records() -> None:
    many = [run("stream", 9.0, 1.0, scenario="1000 streams", batches=[1000]) for _ in range(2)]
    for result in many:
        result.streams = 1000
    rows = summarize(
        [
            *many,
            run("stream", 1.0, 1.0, scenario="1 stream", batches=[2]),
            run("stream", 0.5, scenario="kinds"),  # no partition counts: not the comparison
            run("limit", 0.5, scenario="1000 streams"),
        ]
    )
    (line,) = describe_streams(rows)
    assert line.startswith("1000 streams × 20 records (page, 20 ms, default): e2e 10.00 s")
    assert "5.0× the 2.00 s of one stream of 20,000" in line
    assert "1000 (> numPartitions!)" in line and "(one stream: 2)" in line


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
    assert stream.e2e_s == pytest.approx(4.0)
    batch = row(rows, "batch")
    assert (batch.runs, batch.errors) == (0, 1)
    assert batch.e2e_s is batch.e2e_records_per_s is batch.records_per_s is None
    assert "0 (1 failed)" in format_table(rows)


def test_table_cells(rows: list[Summary]) -> None:
    table = format_table(rows).splitlines()
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    line = next(line for line in table if "| stream | default |" in line)
    cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
    assert cells["e2e s (min–max)"] == "3.00 (2.00–4.00)"
    assert cells["records/s e2e"] == "6,667"
    assert cells["÷ baseline"] == "2.0×"
    assert cells["÷ limit @ N"] == "17 % @ 8"
    assert cells["÷ limit excl. start-up"] == "25 % @ 8"
    assert cells["in flight (paired / seen)"] == "8 / 1"
    limit = next(line for line in table if "| limit |" in line)
    assert "| 8 in flight |" in limit
    assert [line.split("|")[5].strip() for line in table[2:]] == [
        "baseline",
        "stream",
        "stream",
        "limit",
    ]


def test_setting_labels() -> None:
    assert setting_label(DEFAULT) == "default"
    assert setting_label((8, None)) == "numPartitions 8"
    assert setting_label((2, 8)) == "numPartitions 2, requestConcurrency 8"


def test_json_round_trip(rows: list[Summary], tmp_path: Path) -> None:
    payload = {"config": PRESETS["full"], "summary": rows}
    data = json.loads(write_json(tmp_path / "b.json", payload).read_text())
    assert {s["variant"] for s in data["summary"]} == {"baseline", "stream", "limit"}
    kinds = {k for s in data["config"]["scenarios"] for k in s["kinds"]}
    assert kinds == {"page", "offset", "incremental", "timestamp", "cursor", "link"}


class FakeServer:
    """What `Runner.run` reads of a `BenchServer`; `first` is the first request's time."""

    records, pages, latency_ms, offset_kind, streams = RECORDS, PAGES, 20.0, "page", 1
    shape = "nested"
    first: float | None = None

    def reset(self) -> None:
        self.first = None

    def first_request_at(self) -> float | None:
        return self.first

    def first_data_request_at(self) -> float | None:
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
    return Runner(None, server, FakeSampler(), slots=SLOTS)  # type: ignore[arg-type]


def test_runner_times_from_start_and_splits_at_the_first_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = FakeServer()
    bench = runner(server)

    def stream(job: Job, check: bool) -> tuple[int, None, None, None]:
        time.sleep(0.05)  # building the query: not timed
        bench._start_clock()  # query.start()
        time.sleep(0.03)  # "Spark start-up"
        server.first = time.perf_counter()
        time.sleep(0.02)  # "reading"
        return RECORDS, None, None, None

    monkeypatch.setattr(bench, "_stream", stream)
    result = bench.run(Job("stream"), 0)
    assert result.error is None
    assert result.startup_s >= 0.03 and result.wall_s >= 0.02
    assert result.e2e_s < 0.05 + 0.03 + 0.02
    assert result.startup_s + result.wall_s == pytest.approx(result.e2e_s)
    assert result.first_data_s == pytest.approx(result.startup_s)
    assert result.concurrency == 8  # default numPartitions (≥ 2) on 2 slots × 4
    assert result.cpu_s is not None and result.cpu_s >= 0  # this process's children
    assert result.api_cpu_s is not None and result.api_cpu_s >= 0  # this process


def test_runner_gives_limit_no_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = runner(FakeServer())
    monkeypatch.setattr(bench, "_limit", lambda job, check: (RECORDS, 1.5, 50.0, 0.8))
    result = bench.run(Job("limit", in_flight=4), 0)
    assert (result.startup_s, result.wall_s, result.e2e_s) == (0.0, 1.5, 1.5)
    assert (result.rss_mb, result.concurrency) == (50.0, 4)
    assert result.cpu_s == 0.8  # the limit's processes' own
    assert result.cpu_per_million == pytest.approx(0.8 * 1_000_000 / RECORDS)


def test_runner_reports_lost_records(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = runner(FakeServer())
    monkeypatch.setattr(bench, "_batch", lambda job, check: (RECORDS - 1, None, None, None))
    assert "expected 20000" in (bench.run(Job("batch", 8), 0).error or "")


SCENARIO = Scenario(
    "s",
    records=RECORDS,
    kinds=("page", "cursor"),
    latencies_ms=(0.0, 20.0),
    settings=(DEFAULT, (8, None), (1, None)),
    variants=("batch", "stream", "baseline", "limit"),
    repeats=4,
)


def test_schedule_pairs_one_limit_per_number_in_flight() -> None:
    for repeat in range(SCENARIO.repeats):
        jobs = schedule(SCENARIO, "page", repeat, SLOTS)
        assert jobs.count(Job("baseline")) == 1
        assert jobs.index(Job("baseline")) == (0 if repeat % 2 == 0 else len(jobs) - 1)
        limits = sorted(j.in_flight for j in jobs if j.variant == "limit")
        assert limits == [4, 8]  # default and numPartitions 8 share the limit at 8
        spark = [(j.variant, j.partitions) for j in jobs if j.variant in ("batch", "stream")]
        assert sorted(spark, key=str) == sorted(
            [(v, n) for v in ("batch", "stream") for n in (None, 8, 1)], key=str
        )
    cursor = schedule(SCENARIO, "cursor", 0, SLOTS)
    assert [j.in_flight for j in cursor if j.variant == "limit"] == [1]


def test_schedule_alternates_setting_order_and_rotates_variants() -> None:
    firsts, orders = [], []
    for repeat in range(4):
        jobs = [j for j in schedule(SCENARIO, "page", repeat, SLOTS) if j.variant != "baseline"]
        firsts.append(jobs[0].variant)
        orders.append(list(dict.fromkeys(j.partitions for j in jobs if j.variant != "limit")))
    assert orders[0] == [None, 8, 1] and orders[1] == [1, 8, None]
    assert len(set(firsts)) > 1


def test_plan_counts_and_warm_ups() -> None:
    blocks = plan(SCENARIO, SLOTS)
    assert [(kind, latency) for kind, latency, _ in blocks] == [
        ("page", 0.0),
        ("page", 20.0),
        ("cursor", 0.0),
        ("cursor", 20.0),
    ]
    page_jobs = blocks[0][2]
    warm = [job for job, repeat in page_jobs if repeat < 0]
    assert [j.variant for j in warm][0] == "baseline"
    assert Counter(j.variant for j in warm) == {"baseline": 1, "batch": 1, "stream": 1, "limit": 1}
    timed = Counter(repeat for _, repeat in page_jobs if repeat >= 0)
    assert timed == {r: 1 + 6 + 2 for r in range(4)}
    text = describe_plan(PRESETS["smoke"].replace(scenarios=(SCENARIO,)), SLOTS)
    total = sum(len(jobs) for _, _, jobs in blocks) * len(SCENARIO.shapes)  # an API per shape
    assert SCENARIO.shapes == ("nested", "flat")
    assert text.startswith(f"Planned: {total} runs")
    later = [[j.variant for j, r in jobs if r < 0] for _, _, jobs in blocks[1:]]
    assert later == [[], ["batch", "stream", "limit"], []]  # per kind; the baseline once


def test_full_preset_covers_every_kind_both_latencies_and_the_extra_cases() -> None:
    full = {s.name: s for s in PRESETS["full"].scenarios}
    kinds = full["kinds"]
    assert set(kinds.kinds) == {"page", "offset", "incremental", "timestamp", "cursor", "link"}
    assert set(kinds.latencies_ms) == {0.0, 20.0}
    assert kinds.settings == (DEFAULT, (8, None))
    million = full["1M"]
    assert million.records == 1_000_000 and million.probe
    assert set(million.variants) == {"batch", "stream", "limit"}
    assert "incremental" in million.kinds and million.settings == ((8, None),)
    assert kinds.shapes == million.shapes == ("nested", "flat")
    assert {n for n, _ in full["sweep"].settings} == {1, 2, 4, 8}
    many, one = full["1000 streams"], full["1 stream"]
    assert (many.streams, many.records) == (1000, 20_000) and one.records == 20_000
    assert many.partition_counts and one.partition_counts
    assert (many.kinds, many.latencies_ms, many.settings) == (
        one.kinds,
        one.latencies_ms,
        one.settings,
    )
    assert PRESETS["full"].page_size == 500


def test_cli_overrides() -> None:
    config = parse_args(["--preset", "smoke", "--partitions", "default,8", "--repeats", "2"])
    kinds = config.scenarios[0]
    assert kinds.settings == (DEFAULT, (8, None)) and kinds.repeats == 2
    config = parse_args(["--offset-kind", "cursor", "--records", "1000", "--scenarios", "kinds"])
    assert [s.name for s in config.scenarios] == ["kinds"]
    assert config.scenarios[0].kinds == ("cursor",) and config.scenarios[0].records == 1000
    config = parse_args(["--concurrency", "4,8"])
    assert config.scenarios[0].settings == ((None, 4), (None, 8))
    streams = parse_args(["--records", "7"]).scenarios[1]
    assert streams.records == PRESETS["smoke"].scenarios[1].records  # not a single stream
    with pytest.raises(SystemExit):
        parse_args(["--partitions", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--offset-kind", "clock"])
    with pytest.raises(SystemExit):
        parse_args(["--scenarios", "nope"])
    assert {s.shapes for s in parse_args(["--shapes", "flat"]).scenarios} == {("flat",)}
    assert {s.shapes for s in parse_args(["--shapes", "demo"]).scenarios} == {("demo",)}
    with pytest.raises(SystemExit):
        parse_args(["--shapes", "wide"])
