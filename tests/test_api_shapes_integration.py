"""Real API shapes on real Spark against the demo API: next URLs in the body, offset/limit
paging split across tasks, and streams listed by a parent endpoint. Each checks exactly once
across appends and a restart from the checkpoint."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_stream_integration import (
    assert_exactly_once_across_append,
    expected_ids,
    last_offset,
    run_once,
    sink_ids,
)


@pytest.mark.parametrize(
    ("style", "path", "records"),
    [
        ("body", "$.next_url", "$.data[*]"),  # relative next URLs
        ("odata", '$."@odata.nextLink"', "$.value[*]"),
    ],
)
def test_link_from_the_body_follows_every_page_exactly_once(
    spark, demo_api, tmp_path, style, path, records
):
    api = demo_api(230)
    options = {
        "url": f"{api.url}/linked?limit=40&in={style}",
        "offsetType": "link",
        "offsetPath": path,
        "recordsPath": records,
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path, append=55)
    afters = [r.query.get("after") for r in api.requests if r.path == "/linked"]
    assert len([a for a in afters if a]) >= 5  # every next page was asked for
    position = last_offset(tmp_path)["streams"]["{}"]
    assert position["cursor"].startswith(f"{api.url}/linked?after=")


def test_link_from_the_body_keeps_the_api_key_out_of_the_checkpoint(spark, demo_api, tmp_path):
    api = demo_api(90, api_key="k3y-in-query-77")
    options = {
        "url": f"{api.url}/linked?limit=25&in=body",
        "offsetType": "link",
        "offsetPath": "$.next_url",
        "recordsPath": "$.data[*]",
        "authType": "ApiKey",
        "apiKey": "k3y-in-query-77",
        "apiKeyParam": "api_key",
    }
    run_once(spark, options, tmp_path)
    assert sink_ids(spark, tmp_path) == expected_ids(api)
    stored = b"".join(p.read_bytes() for p in (tmp_path / "checkpoint").rglob("*") if p.is_file())
    assert b"k3y-in-query-77" not in stored


def test_offset_limit_ranges_split_over_tasks_exactly_once(spark, demo_api, tmp_path):
    api = demo_api(4000, latency_ms=5)
    options = {
        "url": f"{api.url}/offset?offset={{offset}}&limit=200",
        "offsetType": "offset",
        "offsetField": "offset",
        "pageSize": "200",
        "latestOffsetUrl": f"{api.url}/offset?limit=1",
        "latestOffsetPath": "$.total",
        "numPartitions": "4",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path, append=130)
    offsets = sorted(int(r.query["offset"]) for r in api.requests if "offset" in r.query)
    assert 4000 in offsets  # the partial last page was asked again from where it stopped
    assert api.max_concurrency("/offset") >= 2


def test_offset_limit_end_found_by_a_search(spark, demo_api, tmp_path):
    api = demo_api(1234)
    options = {
        "url": f"{api.url}/offset?offset={{offset}}&limit=100",
        "offsetType": "offset",
        "offsetField": "offset",
        "pageSize": "100",
        "numPartitions": "3",
    }
    assert_exactly_once_across_append(spark, api, options, tmp_path, append=66)


def per_region(spark: Any, tmp_path: Any) -> dict[str, list[int]]:
    rows = spark.read.parquet(str(tmp_path / "sink")).select("id", "region").collect()
    found: dict[str, list[int]] = {}
    for row in rows:
        found.setdefault(row["region"], []).append(row["id"])
    return {k: sorted(v) for k, v in found.items()}


def test_streams_listed_by_a_parent_endpoint_grow_between_runs(spark, demo_api, tmp_path):
    api = demo_api(60, regions=("eu", "us"))
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=25",
        "inputDataUrl": f"{api.url}/streams",
        "inputDataPath": "$.streams[*]",
        "streamKey": "region",
        "offsetType": "incremental",
        "offsetField": "since_id",
    }
    run_once(spark, options, tmp_path)
    assert per_region(spark, tmp_path) == {r: expected_ids(api, r) for r in ("eu", "us")}
    api.add_stream("ap", records=15)  # a new parent row: a new stream from initialOffset
    api.append(10)
    run_once(spark, options, tmp_path)
    assert per_region(spark, tmp_path) == {r: expected_ids(api, r) for r in ("eu", "us", "ap")}
    assert set(last_offset(tmp_path)["streams"]) == {
        '{"region":"ap"}',
        '{"region":"eu"}',
        '{"region":"us"}',
    }


def test_batch_fan_out_reads_one_stream_per_parent_row(spark, demo_api):
    api = demo_api(40, regions=("eu", "us", "ap"))
    frame = (
        spark.read.format("rest")
        .option("url", f"{api.url}/items?limit=100")
        .option("inputDataUrl", f"{api.url}/streams")
        .option("inputDataPath", "$.streams[*]")
        .option("recordsPath", "$.data[*]")
        .load()
    )
    assert sorted(r["id"] for r in frame.select("id").collect()) == expected_ids(api)
