"""Streaming on real Spark against the real demo API: every offset kind, exactly once.

Each test streams into a parquet sink with a checkpoint (`availableNow`), appends records
to the API, runs again from the same checkpoint and checks every id arrived exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from rest_stream.demo import DemoApi
from tests.streaming import run_to_end, start_stream


def run_once(spark: Any, options: dict[str, str], work: Path) -> Any:
    """One availableNow run of a stream into `work/sink` with checkpoint `work/checkpoint`."""
    return run_to_end(start_stream(spark, options, work))


def sink_ids(spark: Any, work: Path) -> list[int]:
    """Every id the sink holds (committed files only), sorted, duplicates kept."""
    rows = spark.read.parquet(str(work / "sink")).select("id").collect()
    return sorted(r["id"] for r in rows)


def last_offset(work: Path) -> dict[str, Any]:
    """The source offset of the newest batch in the checkpoint's offset log."""
    logs = sorted(_batch_files(work / "checkpoint" / "offsets"), key=lambda p: int(p.name))
    return json.loads(logs[-1].read_text().strip().splitlines()[-1])


def _batch_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.isdigit()] if folder.exists() else []


def expected_ids(api: DemoApi, region: str | None = None) -> list[int]:
    return sorted(r["id"] for r in api.records(region))


def assert_exactly_once_across_append(
    spark: Any, api: DemoApi, options: dict[str, str], work: Path, append: int = 37
) -> None:
    run_once(spark, options, work)
    assert sink_ids(spark, work) == expected_ids(api)
    api.append(append)
    run_once(spark, options, work)
    assert sink_ids(spark, work) == expected_ids(api)


#: Pages decoded straight to Arrow (the default records path finds `data` in a page's first
#: bytes) and the general path (a slice is no plain chain of fields: orjson + conversion).
RECORDS_PATHS = pytest.mark.parametrize(
    "records_path", [{}, {"recordsPath": "$.data[0:]"}], ids=["decoded", "general"]
)


def test_timestamp_since_with_bearer_streams_every_record_once(spark, demo_api, tmp_path):
    api = demo_api(300, bearer_token="tok-123")
    options = {
        "url": f"{api.url}/events?since={{since}}&limit=50",
        "authType": "Bearer",
        "oauthToken": "tok-123",
        "offsetType": "timestamp",
        "offsetField": "since",
        "offsetPath": "$.next_since",
        "recordOffsetPath": "$.ts",
        "latestOffsetUrl": f"{api.url}/latest",
        "latestOffsetPath": "$.max_ts",
        "numPartitions": "3",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)
    assert all(r.headers.get("authorization") == "Bearer tok-123" for r in api.requests)
    assert last_offset(tmp_path)["streams"]["{}"] == api.records()[-1]["ts"]


@RECORDS_PATHS
def test_timestamp_range_ends_at_the_clock_without_a_probe(spark, demo_api, tmp_path, records_path):
    api = demo_api(200)  # every record is in the past: base_ts is in 2023
    options = {
        "url": f"{api.url}/events?since={{since}}&limit=50",
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.ts",
        "timestampLagSeconds": "5",
        **records_path,
    }
    before = time.time()
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 201))
    position = last_offset(tmp_path)["streams"]["{}"]
    # the horizon: the start of the last whole second before now − lag (at least 2 s back)
    assert before - 5 - 2 <= position <= time.time() - 5 - 1


def test_timestamp_without_record_path_walks_the_offset_chain(spark, demo_api, tmp_path):
    api = demo_api(120)
    options = {
        "url": f"{api.url}/events?since={{since}}&limit=25",
        "offsetType": "timestamp",
        "offsetField": "since",
        "offsetPath": "$.next_since",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)


@RECORDS_PATHS
def test_iso_timestamps_stream_every_record_once(spark, demo_api, tmp_path, records_path):
    api = demo_api(80)
    options = {
        "url": f"{api.url}/events?since={{since}}&limit=30&format=iso",
        "offsetType": "timestamp",
        "offsetField": "since",
        "timestampFormat": "iso8601",
        "initialOffset": "2023-01-01T00:00:00Z",
        "recordOffsetPath": "$.ts",
        "latestOffsetUrl": f"{api.url}/latest?format=iso",
        "latestOffsetPath": "$.max_ts",
        **records_path,
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)
    position = last_offset(tmp_path)["streams"]["{}"]
    assert isinstance(position, str) and position.endswith("Z")


def test_opaque_cursor_from_empty_initial_offset(spark, demo_api, tmp_path):
    api = demo_api(230)
    options = {
        "url": f"{api.url}/cursor?cursor={{next_cursor}}&limit=40",
        "offsetType": "cursor",
        "offsetField": "next_cursor",
        "initialOffset": "",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)


def test_cursor_taken_from_a_response_header(spark, demo_api, tmp_path):
    api = demo_api(90)
    options = {
        "url": f"{api.url}/cursor?limit=25",
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetHeader": "X-Next-Cursor",
        "recordsPath": "$.data[*]",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)
    cursors = [r.query.get("cursor") for r in api.requests if r.path == "/cursor"]
    assert any(cursors)  # later pages were asked with the header's cursor


def test_input_rows_ride_along_in_streaming_output(spark, demo_api, tmp_path):
    api = demo_api(40)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=15",
        "inputData": '[{"region": "eu"}, {"region": "us"}]',
        "includeInputsInOutput": "true",
        "offsetType": "incremental",
        "offsetField": "since_id",
    }
    run_once(spark, options, tmp_path)
    rows = spark.read.parquet(str(tmp_path / "sink")).select("id", "region", "_input").collect()
    assert sorted(r["id"] for r in rows) == list(range(1, 41))
    assert all(r["_input"]["region"] == r["region"] for r in rows)


def test_starting_after_last_id_picked_by_offset_path(spark, demo_api, tmp_path):
    api = demo_api(150)
    options = {
        "url": f"{api.url}/stripe?starting_after={{last_id}}&limit=40",
        "offsetType": "cursor",
        "offsetField": "last_id",
        "offsetPath": "$.data[-1:].id",
        "recordsPath": "$.data[*]",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)
    assert last_offset(tmp_path)["streams"]["{}"]["cursor"] == api.record_count()


@RECORDS_PATHS
def test_incremental_ids_with_search_for_the_end(spark, demo_api, tmp_path, records_path):
    api = demo_api(500)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=60",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "numPartitions": "2",
        **records_path,
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)
    assert last_offset(tmp_path)["streams"]["{}"] == api.record_count() + 1


def test_incremental_ids_with_latest_offset_probe(spark, demo_api, tmp_path):
    api = demo_api(400)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=60",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{api.url}/latest",
        "latestOffsetPath": "$.max_id",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path)
    assert any(r.path == "/latest" for r in api.requests)


@RECORDS_PATHS
def test_page_numbers_partial_last_page_fills_later_without_duplicates(
    spark, demo_api, tmp_path, records_path
):
    api = demo_api(230)  # pages of 50: the fifth page holds 30 records
    options = {
        "url": f"{api.url}/pages?page={{page}}&per_page=50",
        "offsetType": "page",
        "offsetField": "page",
        "pageSize": "50",
        "numPartitions": "3",
        **records_path,
    }
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 231))
    assert last_offset(tmp_path)["streams"]["{}"] == 230
    api.append(15)  # the partial page grows to 45 records
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 246))
    api.append(60)  # page five fills, page six is full, page seven starts
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 306))


def test_link_header_pagination_streams_every_record_once(spark, demo_api, tmp_path):
    api = demo_api(140)
    options = {"url": f"{api.url}/linked?limit=30", "offsetType": "link"}
    assert_exactly_once_across_append(spark, api, options, tmp_path)


def test_two_input_streams_are_fetched_at_once_and_both_checkpointed(spark, demo_api, tmp_path):
    api = demo_api(200, latency_ms=60)
    options = {
        "url": f"{api.url}/cursor?limit=20",
        "inputData": '[{"region": "eu"}, {"region": "us"}]',
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetPath": "$.next_cursor",
    }
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == expected_ids(api)
    streams = last_offset(tmp_path)["streams"]
    assert set(streams) == {'{"region":"eu"}', '{"region":"us"}'}
    assert all(position["cursor"] for position in streams.values())
    assert api.max_concurrency("/cursor") >= 2


def test_backfill_of_ten_thousand_records_runs_four_partitions_at_once(spark, demo_api, tmp_path):
    api = demo_api(10_000, latency_ms=15)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=500",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{api.url}/latest",
        "latestOffsetPath": "$.max_id",
        "numPartitions": "4",
    }
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 10_001))
    starts = {int(r.query["since_id"]) for r in api.requests if r.path == "/items"}
    assert {0, 2500, 5000, 7500} <= starts  # the four sub-ranges [0,2500) ... [7500,10001)
    assert api.max_concurrency("/items") >= 2


def test_batch_size_bounds_every_micro_batch_and_available_now_ends(spark, demo_api, tmp_path):
    api = demo_api(900)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=70",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "batchSize": "200",
    }
    query = run_once(spark, options, tmp_path)
    sizes = [p.numInputRows for p in query.recentProgress if p.numInputRows]
    assert sizes and max(sizes) <= 200 and sum(sizes) == 900
    assert sink_ids(spark, tmp_path) == list(range(1, 901))


@RECORDS_PATHS
def test_batch_size_bounds_cursor_micro_batches_inside_pages(
    spark, demo_api, tmp_path, records_path
):
    api = demo_api(500)
    options = {
        "url": f"{api.url}/cursor?limit=75",
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetPath": "$.next_cursor",
        "batchSize": "200",
        **records_path,
    }
    query = run_once(spark, options, tmp_path)
    sizes = [p.numInputRows for p in query.recentProgress if p.numInputRows]
    assert max(sizes) <= 200 and sum(sizes) == 500
    assert sink_ids(spark, tmp_path) == list(range(1, 501))


_KILLED_STREAM = textwrap.dedent(
    """
    import os, sys
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    url, work = sys.argv[1], sys.argv[2]
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    query = (spark.readStream.format("rest")
             .option("url", url + "/cursor?limit=25").option("offsetType", "cursor")
             .option("offsetField", "cursor").option("offsetPath", "$.next_cursor")
             .option("batchSize", "90").load()
             .writeStream.format("parquet").option("path", work + "/sink")
             .option("checkpointLocation", work + "/checkpoint")
             .trigger(processingTime="0 seconds").start())
    query.awaitTermination()
    """
)


def test_sigkill_mid_batch_then_restart_loses_and_duplicates_nothing(spark, demo_api, tmp_path):
    api = demo_api(1500, latency_ms=40)
    script = tmp_path / "stream.py"
    script.write_text(_KILLED_STREAM)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    process = subprocess.Popen(
        [sys.executable, str(script), api.url, str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    offsets, commits = tmp_path / "checkpoint" / "offsets", tmp_path / "checkpoint" / "commits"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            logged = {p.name for p in _batch_files(offsets)}
            done = {p.name for p in _batch_files(commits)}
            if len(done) >= 2 and logged - done:
                break
            assert process.poll() is None, "the stream exited before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("the stream never reached a second committed batch")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    assert logged - done, "killed while a batch was logged but not committed"
    ids_before = sink_ids(spark, tmp_path)
    assert len(ids_before) < 1500
    api.latency_ms = 0
    options = {
        "url": f"{api.url}/cursor?limit=25",
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetPath": "$.next_cursor",
        "batchSize": "90",  # cuts pages of 25: a replay must stop inside a page
    }
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 1501))


def test_streaming_interval_spaces_polls_of_a_caught_up_stream(spark, demo_api, tmp_path):
    api = demo_api(30)
    options = {
        "url": f"{api.url}/cursor?limit=50",
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetPath": "$.next_cursor",
        "streamingInterval": "1.5",
    }
    query = start_stream(
        spark,
        options,
        tmp_path,
        sink="memory",
        name="interval_q",
        trigger={"processingTime": "0 seconds"},
    )
    try:
        deadline = time.monotonic() + 60
        while spark.sql("select count(*) from interval_q").first()[0] < 30:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        polls_before = sum(1 for r in api.requests if r.path == "/cursor")
        time.sleep(4)
        polls = sum(1 for r in api.requests if r.path == "/cursor") - polls_before
        assert polls <= 5  # one poll per 1.5 s while caught up, not one per trigger
        api.append(5)
        while spark.sql("select count(*) from interval_q").first()[0] < 35:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        query.stop()
    ids = sorted(r["id"] for r in spark.sql("select id from interval_q").collect())
    assert ids == list(range(1, 36))


def test_record_without_id_fails_naming_record_offset_path(spark, demo_api, tmp_path):
    api = demo_api(20)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "recordOffsetPath": "$.missing_id",
    }
    with pytest.raises(Exception, match=r"recordOffsetPath=\$\.missing_id"):
        run_once(spark, options, tmp_path)


def test_response_without_next_offset_fails_naming_offset_path(spark, demo_api, tmp_path):
    api = demo_api(20)
    options = {
        "url": f"{api.url}/events?since={{since}}",
        "offsetType": "timestamp",
        "offsetField": "since",
        "offsetPath": "$.no_such_field",
    }
    with pytest.raises(Exception, match=r"no next offset at offsetPath=\$\.no_such_field"):
        run_once(spark, options, tmp_path)


def test_a_records_path_typo_fails_and_the_fixed_option_resumes_from_the_same_checkpoint(
    spark, demo_api, tmp_path
):
    """`$.dta[*]` for `$.data[*]`: the query fails naming the path and the URL before any
    offset is logged (it used to finish with 0 rows and a checkpoint at the chain's end);
    with the option fixed, the same checkpoint reads every record."""
    api = demo_api(1000)
    options = {
        "url": f"{api.url}/cursor?cursor={{next_cursor}}&limit=100",
        "offsetType": "cursor",
        "offsetField": "next_cursor",
        "recordsPath": "$.dta[*]",
    }
    schema = "id bigint, name string"
    with pytest.raises(Exception) as info:
        run_to_end(start_stream(spark, options, tmp_path, schema=schema))
    error = str(info.value)
    assert f"Response of {api.url}/cursor?cursor=&limit=100 (HTTP 200) has no records at " in error
    assert "recordsPath=$.dta[*]: no field 'dta' (its fields are: data, next_cursor)" in error
    assert _batch_files(tmp_path / "checkpoint" / "offsets") == []  # the position never moved
    fixed = {**options, "recordsPath": "$.data[*]"}
    run_to_end(start_stream(spark, fixed, tmp_path, schema=schema))
    assert sink_ids(spark, tmp_path) == list(range(1, 1001))


def test_a_page_size_above_what_the_api_serves_fails_instead_of_stopping_silently(
    spark, demo_api, tmp_path
):
    api = demo_api(1500)  # the demo API serves at most 1000 records per page
    options = {  # `offset` shares the check: tests/test_latest.py
        "url": api.url + "/pages?page={page}&per_page=2000",
        "offsetType": "page",
        "offsetField": "page",
        "pageSize": "2000",
    }
    with pytest.raises(Exception, match=r"returned 1000 records, fewer than pageSize=2000, yet"):
        run_once(spark, options, tmp_path)


def test_max_requests_per_second_is_shared_by_the_tasks(spark, demo_api):
    api = demo_api(50)
    rows = json.dumps([{"region": "eu", "limit": 1}] * 12)
    df = (
        spark.read.format("rest")
        .option("url", f"{api.url}/items")
        .option("inputData", rows)
        .option("numPartitions", "2")
        .option("maxRequestsPerSecond", "8")
        .schema("id bigint")
        .load()
    )
    assert df.count() == 12
    starts = sorted(r.start for r in api.requests if r.path == "/items")
    window = 0.5  # at 8 requests/s at most ~4 start in any half second (+1 per task burst)
    most = max(sum(1 for t in starts if s <= t < s + window) for s in starts)
    assert most <= 6


def test_many_streams_are_probed_numpartitions_times_request_concurrency_at_once(
    spark, demo_api, tmp_path
):
    """On Spark, the driver probes its streams `numPartitions × requestConcurrency` at a
    time (2 × 4 here), and every record of every stream arrives once."""
    regions = tuple(f"r{i}" for i in range(24))
    api = demo_api(24 * 5, regions=regions, latency_ms=60)
    options = {
        "url": f"{api.url}/items?region={{region}}&since_id={{since_id}}&limit=50",
        "inputData": json.dumps([{"region": r} for r in regions]),
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{api.url}/latest?region={{region}}",
        "latestOffsetPath": "$.max_id",
        "numPartitions": "2",
        "requestConcurrency": "4",
    }
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == list(range(1, 24 * 5 + 1))
    assert api.max_concurrency("/latest") == 2 * 4


def test_a_trigger_as_long_as_the_streaming_interval_polls_at_every_trigger(
    spark, demo_api, tmp_path
):
    """`streamingInterval` runs from the start of one poll to the start of the next, less a
    tenth: a caught-up stream under `processingTime` of the same interval is probed at every
    trigger, not at every other one."""
    api = demo_api(20)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=50",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{api.url}/latest",
        "latestOffsetPath": "$.max_id",
        "streamingInterval": "1",
    }
    query = start_stream(spark, options, tmp_path, trigger={"processingTime": "1 second"})
    try:
        deadline = time.monotonic() + 60
        while len([r for r in api.requests if r.path == "/latest"]) < 6:
            assert query.exception() is None, query.exception()
            assert time.monotonic() < deadline, "fewer than 6 probes in 60 s"
            time.sleep(0.2)
    finally:
        query.stop()
    probes = sorted(r.start for r in api.requests if r.path == "/latest")
    gaps = sorted(b - a for a, b in zip(probes[1:], probes[2:]))  # after the first batch
    assert gaps[len(gaps) // 2] < 1.5, gaps  # every other trigger would be about 2 s
    assert sink_ids(spark, tmp_path) == list(range(1, 21))
