"""The stream reader's driver-side planning, without Spark (no network for split plans)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from pyspark.sql.streaming.datasource import ReadAllAvailable
from pyspark.sql.types import LongType, StructField, StructType

from rest_stream.options.parse import parse_options
from rest_stream.partitions import RangeUnit, WorkPartition
from rest_stream.stream_reader import RestStreamReader

SCHEMA = StructType([StructField("id", LongType())])


def reader(**raw: str) -> RestStreamReader:
    options = {
        "url": "https://api.example.com/items?since_id={since_id}",
        "offsetType": "incremental",
        "offsetField": "since_id",
        **raw,
    }
    return RestStreamReader(parse_options(options), SCHEMA)


def test_initial_offset_has_one_sorted_position_per_stream() -> None:
    stream = reader(inputData='[{"region": "us"}, {"region": "eu"}]', initialOffset="7")
    assert stream.initialOffset() == {"streams": {'{"region":"eu"}': 7, '{"region":"us"}': 7}}


def test_a_logged_stream_removed_from_input_data_is_still_replayed() -> None:
    stream = reader(inputData='[{"region": "eu"}]', numPartitions="2")
    start = {"streams": {'{"region":"eu"}': 0, '{"region":"us"}': 10}}
    end = {"streams": {'{"region":"eu"}': 0, '{"region":"us"}': 30}}
    parts = stream.partitions(start, end)
    assert all(isinstance(p, WorkPartition) for p in parts) and len(parts) <= 2
    units = [u for p in parts for u in p.units]
    assert all(isinstance(u, RangeUnit) and u.row == {"region": "us"} for u in units)
    covered = sorted((u.start, u.end) for u in units)
    assert covered[0][0] == 10 and covered[-1][1] == 30
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))


def test_an_empty_range_plans_nothing() -> None:
    stream = reader()
    offset = {"streams": {"{}": 5}}
    assert stream.partitions(offset, offset) == []


def test_the_reader_pickles_without_its_driver_state() -> None:
    stream = reader(authType="Bearer", oauthToken="s3cret-tok")
    stream.fetcher  # noqa: B018 - the driver's HTTP session exists now
    copy = pickle.loads(pickle.dumps(stream))
    assert copy._fetcher is None and copy.options == stream.options
    assert "s3cret-tok" not in repr(
        stream.partitions({"streams": {"{}": 0}}, {"streams": {"{}": 9}})
    )


def test_a_replay_after_a_restart_plans_with_the_parent_rows(httpx_mock) -> None:  # type: ignore[no-untyped-def]
    """Spark calls partitions() first after a restart: the rows come from the parent list,
    not only from the streamKey fields kept in the offset."""
    from rest_stream.partitions import RangeUnit

    httpx_mock.add_response(
        url="https://api.example.com/streams", json=[{"region": "eu", "shard": 3}]
    )
    stream = reader(
        inputDataUrl="https://api.example.com/streams", streamKey="region", numPartitions="1"
    )
    parts = stream.partitions(
        {"streams": {'{"region":"eu"}': 0}}, {"streams": {'{"region":"eu"}': 9}}
    )
    units = [u for p in parts for u in p.units]
    assert units and all(isinstance(u, RangeUnit) for u in units)
    assert {tuple(sorted(u.row.items())) for u in units} == {(("region", "eu"), ("shard", 3))}


def cursor_reader(rows: list[int]) -> tuple[RestStreamReader, Any]:
    """A cursor stream over an after-last-id API (pages of 5) and the callback serving it."""
    import httpx

    def api(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after") or 0)
        data = [i for i in rows if i > after][:5]
        following = str(data[-1]) if data else None
        return httpx.Response(200, json={"data": [{"id": i} for i in data], "next": following})

    stream = reader(
        url="https://api.example.com/items?after={after}",
        offsetType="cursor",
        offsetField="after",
        offsetPath="$.next",
        recordsPath="$.data[*]",
        initialOffset="",
    )
    return stream, api


def first_batch(httpx_mock: Any, rows: list[int]) -> tuple[RestStreamReader, Any, Any]:
    """A cursor stream over `rows` and the (start, end) of its first batch."""
    from pyspark.sql.streaming.datasource import ReadAllAvailable

    stream, api = cursor_reader(rows)
    httpx_mock.add_callback(api, is_reusable=True)
    start = stream.initialOffset()
    return stream, start, stream.latestOffset(start, ReadAllAvailable())


def test_a_walked_batch_logs_the_records_it_took_and_an_idle_poll_moves_nothing(
    httpx_mock,  # type: ignore[no-untyped-def]
) -> None:
    from pyspark.sql.streaming.datasource import ReadAllAvailable

    stream, start, end = first_batch(httpx_mock, list(range(1, 8)))
    assert end == {"streams": {"{}": {"cursor": "7", "skip": 0}}, "taken": {"{}": 7}}
    assert stream.latestOffset(end, ReadAllAvailable()) == end  # no empty batch


def test_a_replay_reads_the_logged_count_and_fails_when_the_api_lost_records(
    httpx_mock,  # type: ignore[no-untyped-def]
) -> None:
    from rest_stream.errors import RestOffsetError
    from rest_stream.partitions import PagesUnit

    rows = list(range(1, 8))
    stream, start, end = first_batch(httpx_mock, rows)
    rows.extend([8, 9])  # the last page grew: it names "9" now
    fresh = pickle.loads(pickle.dumps(stream))  # a restart: no walked pages kept
    units = [u for part in fresh.partitions(start, end) for u in part.units]
    assert all(isinstance(u, PagesUnit) for u in units)
    assert sum(u.weight for u in units) == 7  # not the 9 records the pages hold now
    legacy = {"streams": end["streams"]}  # an offset logged before counts were kept
    with pytest.raises(RestOffsetError, match="not at the logged end"):
        pickle.loads(pickle.dumps(stream)).partitions(start, legacy)
    del rows[1:4]  # the API lost three records: six are left of the batch's seven
    with pytest.raises(RestOffsetError, match="after 6 of its 7 records"):
        pickle.loads(pickle.dumps(stream)).partitions(start, end)


def test_streams_a_parent_no_longer_lists_are_retired_after_the_grace_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rest_stream.stream_reader import time as clock
    from tests.loopback import Loopback, Reply, Seen

    listed = [{"name": f"s{i}"} for i in range(3)]

    def api(seen: Seen) -> Reply:
        if seen.path == "/parents":
            return Reply.json(listed)
        return Reply.json([])  # every stream is caught up

    with Loopback(api) as server:
        stream = RestStreamReader(
            parse_options(
                {
                    "url": server.url + "/items?since_id={since_id}",
                    "offsetType": "incremental",
                    "offsetField": "since_id",
                    "inputDataUrl": server.url + "/parents",
                    "streamKey": "name",
                    "queryType": "inline",
                    "streamingInterval": "0",
                    "streamRetireSeconds": "60",
                }
            ),
            SCHEMA,
        )
        now = [1_000.0]
        monkeypatch.setattr(clock, "time", lambda: now[0])
        offset = stream.initialOffset()
        assert len(offset["streams"]) == 3
        del listed[0]  # s0 leaves the parent list
        offset = stream.latestOffset(offset, stream.getDefaultReadLimit())
        assert offset["unlisted"] == {'{"name":"s0"}': 1_000.0}
        assert '{"name":"s0"}' in offset["streams"]  # kept within the grace period
        now[0] += 61
        offset = stream.latestOffset(offset, stream.getDefaultReadLimit())
        assert sorted(offset["streams"]) == ['{"name":"s1"}', '{"name":"s2"}']
        assert "unlisted" not in offset
        assert stream.partitions(offset, offset) == []


def test_the_offset_of_ten_thousand_streams_stays_small_per_stream() -> None:
    from rest_stream.driver.planner import make_offset

    positions = {f'{{"repo":"org/repository-{i:05d}"}}': 1_700_000_000 + i for i in range(10_000)}
    size = len(json.dumps(make_offset(positions)))
    own = sum(len(json.dumps(key)) + len(str(value)) + 4 for key, value in positions.items())
    assert size <= own + 20  # per stream: its key, its position and separators, nothing more
    assert size / 10_000 < 52  # 51 bytes a stream here, in docs/offsets.md


def test_a_timestamp_batch_under_batch_size_reads_and_replays_the_same_records(
    httpx_mock,  # type: ignore[no-untyped-def]
) -> None:
    """batchSize cuts a timestamp batch at a timestamp: its first read (the pages the driver
    walked) and its replay after a restart (a range read again by time) both hold exactly
    the records with start < ts <= end, on pages that list the newest first."""
    import httpx
    from pyspark.sql.streaming.datasource import ReadMaxRows

    times = [10, 11, 11, 12, 13, 13, 13, 14, 15, 15, 16, 17, 18, 18, 19, 20]

    def api(request: httpx.Request) -> httpx.Response:
        since = int(request.url.params["since"])
        page = [{"id": i, "ts": t} for i, t in enumerate(times) if t > since][:4]
        return httpx.Response(200, json={"data": page[::-1]})  # the oldest four, newest first

    httpx_mock.add_callback(api, is_reusable=True)
    schema = StructType([StructField("id", LongType()), StructField("ts", LongType())])
    options = parse_options(
        {
            "url": "https://api.example.com/events?since={since}",
            "offsetType": "timestamp",
            "offsetField": "since",
            "recordOffsetPath": "$.ts",
            "recordsPath": "$.data[*]",
            "numPartitions": "1",
        }
    )
    stream = RestStreamReader(options, schema)
    position, seen = stream.initialOffset(), []
    for _ in range(20):
        end = stream.latestOffset(position, ReadMaxRows(3))
        if end == position:
            break
        lo, hi = position["streams"]["{}"], end["streams"]["{}"]
        first = read_ids(stream, stream.partitions(position, end))
        restarted = pickle.loads(pickle.dumps(stream))  # no walked pages: a range read
        replay = read_ids(restarted, restarted.partitions(position, end))
        assert first == replay == [i for i, t in enumerate(times) if lo < t <= hi]
        seen += first
        position = end
    assert seen == list(range(len(times)))


def read_ids(stream: RestStreamReader, partitions: list[Any]) -> list[int]:
    return sorted(r["id"] for p in partitions for b in stream.read(p) for r in b.to_pylist())


def test_an_error_object_fails_the_poll_and_the_position_stays_for_the_next_one(
    httpx_mock,  # type: ignore[no-untyped-def]
) -> None:
    """Without recordsPath, `{"error": ...}` with HTTP 200 is no page of zero records: the poll
    fails before any end is chosen, and once the API answers again the stream reads from
    where it stood."""
    import httpx
    from pyspark.sql.streaming.datasource import ReadAllAvailable

    from rest_stream.errors import RestResponseError

    broken = [True]

    def api(request: httpx.Request) -> httpx.Response:
        if broken[0]:
            return httpx.Response(200, json={"error": "quota exceeded"})
        after = int(request.url.params.get("after") or 0)
        data = [i for i in range(1, 8) if i > after][:5]
        return httpx.Response(200, json={"data": [{"id": i} for i in data], "next": None})

    httpx_mock.add_callback(api, is_reusable=True)
    stream = reader(
        url="https://api.example.com/items?after={after}",
        offsetType="cursor",
        offsetField="after",
        offsetPath="$.next",
        initialOffset="",
    )
    start = stream.initialOffset()
    with pytest.raises(RestResponseError, match="is an error, not records"):
        stream.latestOffset(start, ReadAllAvailable())
    broken[0] = False
    end = stream.latestOffset(start, ReadAllAvailable())
    assert end == {"streams": {"{}": {"cursor": "", "skip": 5}}, "taken": {"{}": 5}}


def test_a_probe_that_misses_its_path_fails_the_poll_for_a_timestamp_stream(
    httpx_mock,  # type: ignore[no-untyped-def]
) -> None:
    """It used to stall the stream silently (the end stayed at the start)."""
    from pyspark.sql.streaming.datasource import ReadAllAvailable

    from rest_stream.errors import RestOffsetError

    httpx_mock.add_response(url="https://api.example.com/latest", json={"newest_ts": 1700000000})
    stream = reader(
        url="https://api.example.com/events?since={since}",
        offsetType="timestamp",
        offsetField="since",
        recordOffsetPath="$.ts",
        latestOffsetUrl="https://api.example.com/latest",
        latestOffsetPath="$.max_ts",
    )
    with pytest.raises(RestOffsetError, match=r"no value at latestOffsetPath=\$\.max_ts"):
        stream.latestOffset(stream.initialOffset(), ReadAllAvailable())


@pytest.mark.parametrize("probe", [True, False], ids=["probe", "end search"])
@pytest.mark.parametrize(("partitions", "width"), [("2", "4"), ("1", "3")])
def test_the_driver_polls_its_streams_as_many_at_once_as_a_batch_reads(
    partitions: str, width: str, probe: bool
) -> None:
    """Each stream's probe, or its end search, goes out `numPartitions × requestConcurrency`
    requests at a time: a poll of many small streams is not held to one task's width."""
    from rest_stream.demo.server import DemoApi

    regions = tuple(f"r{i}" for i in range(24))
    probe_options = {
        "latestOffsetUrl": "{base}/latest?region={region}",
        "latestOffsetPath": "$.max_id",
    }
    with DemoApi(48 * 25, regions=regions, latency_ms=60) as api:
        options = {
            "url": api.url + "/items?region={region}&since_id={since_id}&limit=5",
            "inputData": json.dumps([{"region": r} for r in regions]),
            "offsetType": "incremental",
            "offsetField": "since_id",
            "numPartitions": partitions,
            "requestConcurrency": width,
        }
        if probe:
            options |= {k: v.replace("{base}", api.url) for k, v in probe_options.items()}
        stream = RestStreamReader(parse_options(options), SCHEMA)
        try:
            end = stream.latestOffset(stream.initialOffset(), ReadAllAvailable())
        finally:
            stream.stop()
        assert len(end["streams"]) == len(regions)
        assert api.max_concurrency("/latest" if probe else "/items") == int(partitions) * int(
            width
        )
