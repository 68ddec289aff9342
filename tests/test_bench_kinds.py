"""The benchmark harness's offset kinds without Spark (`harness.kinds`, `harness.server`,
`comparators.limit`, `comparators.baseline`): the coverage check of each kind's requests, the
rest_stream options, the limit's shares, and the limit and the baseline reading every record
of a small in-process demo API, per kind and in the many-streams case."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from benchmarks.comparators.baseline import SeedStreamReader
from benchmarks.comparators.limit import measure, share_urls
from benchmarks.harness.config import OFFSET_KINDS, SCHEMAS
from benchmarks.harness.kinds import KINDS, TIMESTAMP_BASE, kind, page_address
from benchmarks.harness.server import BenchServer, uncovered_ids
from rest_stream.demo import DemoApi
from rest_stream.demo.server import encode_cursor

RECORDS, SIZE = 1_234, 100


def test_timestamp_base_is_the_demo_default() -> None:
    """The own-process server (`python -m rest_stream.demo.server`) sets no base_ts."""
    assert DemoApi(0).base_ts == TIMESTAMP_BASE


def test_every_benchmarked_kind_has_a_row() -> None:
    assert set(OFFSET_KINDS) <= set(KINDS)
    assert [name for name in OFFSET_KINDS if kind(name).chain] == ["cursor", "link"]
    with pytest.raises(ValueError, match="known"):
        kind("clock")


@pytest.mark.parametrize(
    ("name", "query", "ids"),
    [
        ("page", {"page": "3", "per_page": "500"}, (1001, 1500)),
        ("incremental", {"since_id": "1001", "limit": "500"}, (1001, 1500)),
        ("timestamp", {"since": str(TIMESTAMP_BASE + 1000), "limit": "500"}, (1001, 1500)),
        ("timestamp", {"since": str(TIMESTAMP_BASE + 999), "limit": "500"}, (1000, 1499)),
        ("timestamp", {"since": "0", "limit": "10"}, (1, 10)),
        ("offset", {"offset": "1000", "limit": "500"}, (1001, 1500)),
        ("cursor", {"cursor": "", "limit": "500"}, (1, 500)),
        ("cursor", {"cursor": encode_cursor(1000), "limit": "500"}, (1001, 1500)),
        ("link", {"in": "body", "limit": "500"}, (1, 500)),
        ("link", {"after": "1000", "limit": "500", "in": "body"}, (1001, 1500)),
    ],
)
def test_requested_ids(name: str, query: dict[str, str], ids: tuple[int, int]) -> None:
    assert kind(name).requested(query, 500) == ids


def test_uncovered_ids_of_since_chains() -> None:
    def since(*ids_before: int) -> Iterator[dict[str, str]]:
        return ({"since": str(TIMESTAMP_BASE + k), "limit": "10"} for k in ids_before)

    timestamp = kind("timestamp")
    assert uncovered_ids(since(0, 10, 20), 25, 10, timestamp) == []
    assert uncovered_ids(since(0, 9, 18), 25, 10, timestamp) == []  # overlapping pages
    assert uncovered_ids(since(0, 20), 25, 10, timestamp) == [(11, 20)]
    assert uncovered_ids(since(0), 25, 10, timestamp) == [(11, 25)]
    assert uncovered_ids([], 5, 10, timestamp) == [(1, 5)]


def test_page_address() -> None:
    assert page_address("http://h", "timestamp", 500, 1000) == (
        f"http://h/events?limit=500&since={TIMESTAMP_BASE + 1000}",
        0,
    )
    assert page_address("http://h", "page", 500, 1200) == (
        "http://h/pages?per_page=500&page=3",
        200,
    )
    with pytest.raises(ValueError, match="chain"):
        page_address("http://h", "cursor", 500, 0)


def test_rest_options_leave_defaults_unset() -> None:
    server = BenchServer(10, 5, offset_kind="timestamp")
    server._url = "http://h"
    options = server.rest_options()
    assert options["url"] == "http://h/events?limit=5&since={since}"
    assert options["offsetType"] == "timestamp" and options["recordOffsetPath"] == "$.ts"
    assert options["latestOffsetUrl"] == "http://h/latest"
    assert "numPartitions" not in options and "requestConcurrency" not in options
    assert server.rest_options(8, 2)["numPartitions"] == "8"
    server.offset_kind = "cursor"
    cursor = server.rest_options()
    assert cursor["url"] == "http://h/cursor?limit=5&cursor={cursor}"
    assert (cursor["offsetType"], cursor["offsetPath"]) == ("cursor", "$.next_cursor")
    server.offset_kind = "incremental"
    assert "latestOffsetUrl" not in server.rest_options()  # the end search, by default


@pytest.mark.parametrize(
    ("name", "url", "path"),
    [
        ("incremental", "http://h/latest", "$.max_id"),
        ("page", "http://h/latest?per_page=5", "$.last_page"),
        ("offset", "http://h/latest", "$.total"),
        ("timestamp", "http://h/latest", "$.max_ts"),
    ],
)
def test_probe_options(name: str, url: str, path: str) -> None:
    server = BenchServer(10, 5, offset_kind=name, probe=True)
    server._url = "http://h"
    options = server.rest_options()
    assert (options["latestOffsetUrl"], options["latestOffsetPath"]) == (url, path)


def test_shapes_have_their_schemas() -> None:
    nested, flat = BenchServer(10, 5), BenchServer(10, 5, shape="flat")
    assert nested.shape == "nested" and nested.schema == SCHEMAS["nested"]
    assert flat.schema.fieldNames() == nested.schema.fieldNames()[:7]
    assert flat.api.shape == "flat"
    with pytest.raises(ValueError, match="shape"):
        BenchServer(10, 5, shape="wide")


def test_many_streams_options() -> None:
    server = BenchServer(200, 50, offset_kind="incremental", streams=10)
    server._url = "http://h"
    options = server.rest_options()
    assert [row["region"] for row in json.loads(options["inputData"])] == [
        f"r{i}" for i in range(10)
    ]
    assert options["latestOffsetUrl"] == "http://h/latest?region={region}"
    assert options["latestOffsetPath"] == "$.max_id"
    with pytest.raises(ValueError):
        BenchServer(2_000, 50, streams=10)  # 200 records a stream: more than a page


@pytest.fixture(scope="module")
def api() -> Iterator[BenchServer]:
    with BenchServer(RECORDS, SIZE) as server:
        yield server


@pytest.mark.parametrize("name", OFFSET_KINDS)
@pytest.mark.parametrize("shares", [1, 3])
def test_limit_reads_every_record_once(api: BenchServer, name: str, shares: int) -> None:
    api.offset_kind = name
    api.reset()
    records = pages = 0
    for share in range(1 if kind(name).chain else shares):
        result = measure(api.url, name, SIZE, 4, share=share, shares=shares)
        records += result.records
        pages += result.pages
    assert records == RECORDS
    assert pages == api.pages == api.requests()  # no page asked twice
    assert api.uncovered() == []
    if kind(name).chain:
        assert api.peak_in_flight() == 1


def test_limit_shares_split_the_pages(api: BenchServer) -> None:
    urls = [
        u for share in range(3) for u in share_urls(api.url, "page", SIZE, share, 3, total=RECORDS)
    ]
    assert len(urls) == len(set(urls)) == api.pages


@pytest.mark.parametrize("name", OFFSET_KINDS)
def test_baseline_reads_every_record_in_order(api: BenchServer, name: str) -> None:
    api.offset_kind = name
    api.reset()
    reader = SeedStreamReader({"url": api.url, "pagesize": str(SIZE), "offsetkind": name})
    start = reader.initialOffset()
    rows, end = reader.read(start)
    assert [row[0] for row in rows] == list(range(1, RECORDS + 1))
    assert api.uncovered() == []
    again, same = reader.read(end)
    assert list(again) == [] and same == end


def test_baseline_rows_follow_the_schema_of_the_shape() -> None:
    with BenchServer(40, 20, shape="nested") as server:
        options = {"url": server.url, "pagesize": "20", "offsetkind": "page", "shape": "nested"}
        rows, _ = SeedStreamReader(options).read({"position": 0})
    fields = SCHEMAS["nested"].fieldNames()
    by_id = {row[0]: dict(zip(fields, row)) for row in rows}
    assert len(by_id) == 40
    assert by_id[1]["geo"] == (-89.63, -179.47) and by_id[9]["geo"] is None
    assert by_id[7]["category"] is None and by_id[17]["tags"] is None
    assert by_id[3]["tags"] == ["t3", "t4", "t5"]


def test_baseline_replays_a_timestamp_range(api: BenchServer) -> None:
    reader = SeedStreamReader({"url": api.url, "pagesize": str(SIZE), "offsetkind": "timestamp"})
    middle = {"since": TIMESTAMP_BASE + 150}
    replay = [row[0] for row in reader.readBetweenOffsets(middle, {"since": TIMESTAMP_BASE + 420})]
    assert replay == list(range(151, 421))


def test_baseline_replays_a_cursor_range(api: BenchServer) -> None:
    reader = SeedStreamReader({"url": api.url, "pagesize": str(SIZE), "offsetkind": "cursor"})
    cursor = f"{api.url}/cursor?limit={SIZE}&cursor="
    start, end = {"url": cursor + encode_cursor(200)}, {"url": cursor + encode_cursor(500)}
    assert [row[0] for row in reader.readBetweenOffsets(start, end)] == list(range(201, 501))


def test_baseline_reads_and_replays_a_link_chain(api: BenchServer) -> None:
    reader = SeedStreamReader({"url": api.url, "pagesize": str(SIZE), "offsetkind": "link"})
    start = reader.initialOffset()
    rows, end = reader.read(start)
    assert [row[0] for row in rows] == list(range(1, api.records + 1))
    assert end["url"].startswith(f"{api.url}/linked?after=")  # the last page, past its records
    assert end["skip"] == api.records % SIZE
    middle = {"url": f"{api.url}/linked?after=200&limit={SIZE}&in=body"}
    tail = {"url": f"{api.url}/linked?after=500&limit={SIZE}&in=body"}
    assert [row[0] for row in reader.readBetweenOffsets(middle, tail)] == list(range(201, 501))


def test_many_streams_limit_and_coverage() -> None:
    with BenchServer(2_000, 50, offset_kind="incremental", streams=100) as server:
        body = httpx.get(f"{server.url}/items?region=r7&since_id=1&limit=50").json()
        assert [r["id"] for r in body["data"]] == list(range(8, 2_001, 100))
        server.reset()
        records = sum(
            measure(server.url, "incremental", 50, 4, share=s, shares=2, streams=100).records
            for s in range(2)
        )
        assert records == 2_000 and server.requests() == 100
        probes = [e for e in server.api.requests if e.path == "/latest"]
        assert sorted(e.query["region"] for e in probes) == sorted(f"r{i}" for i in range(100))
        assert server.uncovered() == []
        server.reset()
        httpx.get(server.stream_url(3))
        assert len(server.uncovered()) == 2_000 - 20
