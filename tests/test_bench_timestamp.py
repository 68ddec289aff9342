"""The benchmark harness's `timestamp` offset kind without Spark: the limit's range split, the
coverage check of `/events` requests, the rest_stream options, and the baseline's and the
limit's `since` chains against a small in-process demo API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from benchmarks.comparators.baseline import SeedStreamReader
from benchmarks.comparators.limit import measure_chain, timestamp_shares
from benchmarks.harness.run import parse_args
from benchmarks.harness.server import (
    TIMESTAMP_BASE,
    BenchServer,
    page_address,
    requested_ids,
    uncovered_ids,
)
from rest_stream.demo import DemoApi


def test_timestamp_base_is_the_demo_default() -> None:
    """The own-process server (`python -m rest_stream.demo.server`) sets no base_ts."""
    assert DemoApi(0).base_ts == TIMESTAMP_BASE


@pytest.mark.parametrize(
    ("records", "processes", "page_size"),
    [(20_000, 1, 500), (20_000, 2, 500), (20_000, 3, 500), (1_234, 4, 100), (300, 8, 100)],
)
def test_timestamp_shares_are_contiguous_and_on_pages(
    records: int, processes: int, page_size: int
) -> None:
    since, newest = TIMESTAMP_BASE, TIMESTAMP_BASE + records
    shares = timestamp_shares(since, newest, processes, page_size)
    assert len(shares) == processes
    assert shares[0][0] == since and shares[-1][1] == newest
    assert all(a <= b for a, b in shares)
    assert all(shares[i][1] == shares[i + 1][0] for i in range(processes - 1))
    assert all((a - since) % page_size == 0 for a, _ in shares)
    sizes = [b - a for a, b in shares]
    assert sum(sizes) == records
    full = sizes[:-1]
    assert max(full, default=0) - min(full, default=0) <= page_size


def test_timestamp_shares_of_nothing() -> None:
    assert timestamp_shares(10, 10, 3, 5) == [(10, 10)] * 3
    with pytest.raises(ValueError):
        timestamp_shares(0, 10, 0, 5)


def test_requested_ids_per_kind() -> None:
    assert requested_ids({"page": "3", "per_page": "500"}, 500) == (1001, 1500)
    assert requested_ids({"since_id": "1001", "limit": "500"}, 500) == (1001, 1500)
    assert requested_ids({"since": str(TIMESTAMP_BASE + 1000), "limit": "500"}, 500) == (
        1001,
        1500,
    )
    assert requested_ids({"since": str(TIMESTAMP_BASE + 999), "limit": "500"}, 500) == (
        1000,
        1499,
    )
    assert requested_ids({"since": "0", "limit": "10"}, 500) == (1, 10)


def test_uncovered_ids_of_since_chains() -> None:
    def since(*ids_before: int) -> Iterator[dict[str, str]]:
        return ({"since": str(TIMESTAMP_BASE + k), "limit": "10"} for k in ids_before)

    assert uncovered_ids(since(0, 10, 20), 25, 10) == []
    assert uncovered_ids(since(0, 9, 18), 25, 10) == []  # overlapping pages (rest_stream)
    assert uncovered_ids(since(0, 20), 25, 10) == [(11, 20)]
    assert uncovered_ids(since(0), 25, 10) == [(11, 25)]
    assert uncovered_ids([], 5, 10) == [(1, 5)]


def test_page_address_and_rest_options_for_timestamp() -> None:
    url, skip = page_address("http://h", "timestamp", 500, 1000)
    assert (url, skip) == (f"http://h/events?limit=500&since={TIMESTAMP_BASE + 1000}", 0)
    server = BenchServer(10, 5, offset_kind="timestamp")
    server._url = "http://h"
    options = server.rest_options(4, 8)
    assert options["url"] == "http://h/events?limit=5&since={since}"
    assert options["offsetType"] == "timestamp" and options["offsetField"] == "since"
    assert options["recordOffsetPath"] == "$.ts" and options["recordsPath"] == "$.data"
    assert options["initialOffset"] == str(TIMESTAMP_BASE)
    assert options["latestOffsetUrl"] == "http://h/latest"
    assert options["latestOffsetPath"] == "$.max_ts"
    assert (options["numPartitions"], options["requestConcurrency"]) == ("4", "8")
    assert server.timestamp_span() == (TIMESTAMP_BASE, TIMESTAMP_BASE + 10)
    with pytest.raises(ValueError):
        BenchServer(10, 5, offset_kind="clock")


def test_cli_accepts_timestamp() -> None:
    assert parse_args(["--offset-kind", "timestamp"]).offset_kind == "timestamp"


@pytest.fixture
def server() -> Iterator[BenchServer]:
    with BenchServer(1_234, 100, offset_kind="timestamp") as api:
        api.reset()
        yield api


def test_latest_reports_the_newest_ts(server: BenchServer) -> None:
    import httpx

    body = httpx.get(f"{server.url}/latest").json()
    assert body["max_ts"] == server.timestamp_span()[1]


@pytest.mark.parametrize("processes", [1, 3, 16])
def test_limit_chains_read_every_record_once(server: BenchServer, processes: int) -> None:
    total = pages = 0
    for since, until in timestamp_shares(*server.timestamp_span(), processes, 100):
        result = measure_chain(server.url, 100, since, until)
        total += result.records
        pages += result.pages
    assert total == server.records
    assert pages == server.pages  # shares on whole pages: no page asked twice
    assert server.requests() == server.pages
    assert server.uncovered() == []
    assert server.peak_in_flight() == 1


def test_baseline_walks_since_from_page_to_page(server: BenchServer) -> None:
    reader = SeedStreamReader({"url": server.url, "pagesize": "100", "offsetkind": "timestamp"})
    start = reader.initialOffset()
    assert start == {"since": TIMESTAMP_BASE}
    rows, end = reader.read(start)
    ids = [row[0] for row in rows]
    assert ids == list(range(1, server.records + 1))
    assert end == {"since": server.timestamp_span()[1]}
    assert server.uncovered() == []
    again, same = reader.read(end)
    assert list(again) == [] and same == end
    middle = {"since": TIMESTAMP_BASE + 150}
    replay = [row[0] for row in reader.readBetweenOffsets(middle, {"since": TIMESTAMP_BASE + 420})]
    assert replay == list(range(151, 421))
