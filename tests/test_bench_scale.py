"""The scale benchmarks (`benchmarks.many_streams`, `benchmarks.freshness`) at tiny sizes: their
numbers agree with each other (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import many_streams


def test_many_streams_plans_every_stream_once_per_poll(tmp_path: Path) -> None:
    output = tmp_path / "many_streams.json"
    argv = ["--streams", "4,9", "--records", "2", "--polls", "3", "--new", "1"]
    assert many_streams.main([*argv, "--read", "--no-spark", "--output", str(output)]) == 0
    payload = json.loads(output.read_text())
    assert payload["spark"] is None
    for planning, streams in zip(payload["planning"], (4, 9)):
        polls = planning["polls"]
        assert planning["streams"] == streams and len(polls) == 3
        assert planning["initial_requests"] == 0  # inputData: no list to fetch
        assert planning["exactly_once"] is True
        for poll in polls:
            assert poll["requests"] == streams  # one /latest probe per stream
            assert poll["streams_advanced"] == streams
            assert 1 <= poll["partitions"] <= max(2, streams)
            assert poll["units"] >= streams  # a sub-range (or more) per stream, packed
        assert [p["records_read"] for p in polls] == [streams * 2, streams, streams]
        summary = planning["summary"]
        assert summary["first_requests"] == streams
        assert summary["requests_per_poll"] == streams
        assert summary["offset_bytes"] == polls[-1]["offset_bytes"]
        assert summary["offset_bytes_per_stream"] == pytest.approx(
            polls[-1]["offset_bytes"] / streams
        )
        first = polls[0]["latest_s"] + polls[0]["partitions_s"]
        assert summary["first_planning_s"] == pytest.approx(first)
        later = sorted(p["latest_s"] + p["partitions_s"] for p in polls[1:])
        assert later[0] <= summary["planning_s"] <= later[-1]
        # every stream's key is in the offset
        assert polls[-1]["offset_bytes"] > streams * len('"{\\"region\\":\\"r0\\"}": 1')


def test_freshness_delivers_every_appended_record_once(spark, tmp_path):
    from benchmarks import freshness

    run = freshness.measure(spark, 2000, 1.5, trigger_s=0.25, interval_s=0.25, warm_records=50)
    assert run.error == ""
    assert run.appended == 3000  # rate × duration, the last tick appends what is due
    assert run.warm_records == 50
    assert run.delivered == run.distinct == 3050 and run.lost == run.duplicated == 0
    assert run.exactly_once
    assert sum(rows for _, _, rows in run.batch_lags) == run.delivered
    lag = run.lag
    assert 0 <= lag["min"] <= lag["p50"] <= lag["p95"] <= lag["max"]
    assert run.first_append < run.last_delivery
    assert run.delivered_per_s > 0 and run.appended_per_s > 0
    assert run.progress["micro_batches"] >= 1
    args = freshness.parse_args(["--rates", "2000", "--duration", "1.5"])
    path = freshness.write_json(tmp_path / "freshness.json", args, [run])
    saved = json.loads(path.read_text())["runs"][0]
    assert saved["appended"] == 3000 and saved["exactly_once"] is True
    assert saved["lag"]["p95"] == lag["p95"]
    assert "| 2,000 |" in freshness.table([run])


def test_the_full_preset_runs_both_at_their_defaults(spark, monkeypatch):
    from benchmarks import freshness, idle_hour
    from benchmarks.harness.run import parse_args, run_scale

    assert parse_args(["--preset", "full"]).scale is True
    assert parse_args(["--preset", "smoke"]).scale is False
    assert parse_args(["--preset", "full", "--no-scale"]).scale is False
    # the defaults, made tiny
    monkeypatch.setattr(many_streams, "STREAMS", (3,))
    monkeypatch.setattr(many_streams, "SPARK_STREAMS", 6)
    monkeypatch.setattr(many_streams, "RECORDS", 2)
    monkeypatch.setattr(many_streams, "POLLS", 2)
    monkeypatch.setattr(freshness, "RATE", 1000.0)
    monkeypatch.setattr(freshness, "DURATION", 1.0)
    tiny = idle_hour.parser().parse_args(["--repos", "2", "--issues", "150", "--minutes", "3"])
    monkeypatch.setattr(idle_hour, "DEFAULTS", tiny)
    scale = run_scale(spark)
    assert scale.error == ""
    run = scale.spark
    assert run.exactly_once and run.received == run.distinct == 12
    assert run.requests >= 6  # a read of each stream's page
    assert scale.freshness.appended == 1000 and scale.freshness.exactly_once
    saved = json.loads(json.dumps(scale.to_json()))
    assert saved["many_streams"]["spark"]["exactly_once"] is True
    assert saved["many_streams"]["planning"][0]["summary"]["streams"] == 3
    assert saved["freshness"]["appended"] == 1000
    plain, conditional = saved["idle_hour"]["plain"], saved["idle_hour"]["conditional"]
    assert plain["catch_up_records"] == conditional["catch_up_records"] == 300
    # each poll: the repository list and each repository's last page, answered 200 or 304
    assert plain["hour"]["statuses"] == {"200": 9} and conditional["hour"]["statuses"] == {"304": 9}
    assert set(saved["freshness"]["cpu_us_per_record"]) == {
        "appender",
        "api_serving_and_sink",
        "jvm",
        "python_workers",
    }
    text = scale.describe()
    assert "| 3 |" in text and "| 1,000 |" in text and "every record exactly once" in text
    assert "| conditional | 9 | 0 | 9 |" in text
