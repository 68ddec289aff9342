"""Newest-first lists (`recordOrder=descending`), without Spark: the options, the walk down
to the newest record delivered (`NewestFirstOffset`, `DescendingWalk`), replays, and the
`ending_before`-style cursor chain whose pages are read oldest first.

An in-memory newest-first list stands in for the API: opaque string ids, Stripe's
`starting_after` / `ending_before` / `has_more`, page numbers, and a `since_id`-style filter.
"""

from __future__ import annotations

import json
import pickle
import random
import string
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType

from rest_stream.decoders.jsonpath import compile_path, extract_records
from rest_stream.driver.walk_cache import carried
from rest_stream.errors import RestOffsetError, RestOptionError
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.http.pages import Page
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import parse_options
from rest_stream.partitions import PagesUnit
from rest_stream.positions import CursorOffset, NewestFirstOffset, offset_kind
from rest_stream.positions.walk import DescendingWalk, Walk, walk_of

URL = "https://api.example.com/v1/events"
SCHEMA = StructType([StructField("id", StringType()), StructField("n", LongType())])

#: Stripe's way down a newest-first list.
STRIPE = {
    "url": URL + "?limit=3",
    "recordsPath": "$.data[*]",
    "offsetType": "cursor",
    "recordOrder": "descending",
    "recordOffsetPath": "$.id",
    "pagination": "cursor",
    "nextPagePath": "$.data[-1:].id",
    "nextPageParam": "starting_after",
    "hasMorePath": "$.has_more",
}


class Feed:
    """A newest-first list in memory: records `{"id": "evt_…", "n": k}` (n counts up as they
    are added), read `limit` at a time with `starting_after`, `ending_before`, `page` or
    `since` (the records above an id, `since_id`-style)."""

    def __init__(self, count: int = 0, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.items: list[dict[str, Any]] = []  # oldest first
        self.requests: list[dict[str, str]] = []
        self.after_request: Callable[[], None] | None = None
        self.add(count)

    def add(self, count: int) -> list[dict[str, Any]]:
        new = []
        for _ in range(count):
            opaque = "".join(self.rng.choice(string.ascii_letters) for _ in range(12))
            new.append({"id": f"evt_{opaque}", "n": len(self.items) + len(new) + 1})
        self.items.extend(new)
        return new

    def ns(self, records: Iterable[dict[str, Any]]) -> list[int]:
        return [r["n"] for r in records]

    def newest_first(self) -> list[dict[str, Any]]:
        return self.items[::-1]

    def index(self, listed: list[dict[str, Any]], record_id: str) -> int:
        return next(i for i, r in enumerate(listed) if r["id"] == record_id)

    def answer(self, params: dict[str, str]) -> Any:
        self.requests.append(params)
        limit = int(params.get("limit", 3))
        listed = self.newest_first()
        if params.get("since"):
            listed = listed[: self.index(listed, params["since"])]
        if params.get("starting_after"):
            below = listed[self.index(listed, params["starting_after"]) + 1 :]
            page, more = below[:limit], len(below) > limit
        elif params.get("ending_before"):
            above = listed[: self.index(listed, params["ending_before"])]
            page, more = above[-limit:], len(above) > limit
        elif params.get("page"):
            first = (int(params["page"]) - 1) * limit
            page, more = listed[first : first + limit], len(listed) > first + limit
        else:
            page, more = listed[:limit], len(listed) > limit
        if self.after_request is not None:
            self.after_request()
        return {"object": "list", "data": [dict(r) for r in page], "has_more": more}


class FakeFetcher:
    """`PageFetcher`'s `fetch` over a `Feed`."""

    def __init__(self, feed: Feed, records_path: str = "$.data[*]") -> None:
        self.feed = feed
        self.records_path = compile_path(records_path)

    def fetch(self, spec: RequestSpec, *, keep_body: bool = False, decode: bool = True) -> Page:
        parts = urlsplit(spec.url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(spec.params)
        document = self.feed.answer(params)
        url = f"{URL}?{urlencode(params)}"
        body = orjson.dumps(document) if keep_body else b""
        return Page(extract_records(document, self.records_path), document, {}, url, 200, body, url)


def kind_of(**raw: str) -> Any:
    return offset_kind(parse_options({**STRIPE, **raw}))


def poll(
    feed: Feed, position: Any, budget: int | None = None, **raw: str
) -> tuple[list[int], Any, DescendingWalk]:
    """One poll from `position`: the records delivered (by `n`), the position after them."""
    kind = kind_of(**raw)
    walk = walk_of(
        kind,
        FakeFetcher(feed),
        {},
        position,
        max_records=budget,
        max_pages=kind.stream.max_pages_per_batch,
    )
    assert isinstance(walk, DescendingWalk)
    records = [r for walked in walk for r in walked.records]
    return feed.ns(records), walk.position, walk


def replay(feed: Feed, start: Any, end: Any, taken: int | None = None, **raw: str) -> list[int]:
    walk = walk_of(kind_of(**raw), FakeFetcher(feed), {}, start, end=end, expected=taken)
    records = [r for walked in walk for r in walked.records]
    assert walk.position == end and walk.records == len(records)
    return feed.ns(records)


# --- options ---------------------------------------------------------------------------------


def test_a_newest_first_walk_needs_no_offset_field_and_reads_ids_from_records() -> None:
    kind = kind_of()
    assert isinstance(kind, NewestFirstOffset)
    stream = kind.stream
    assert stream.walks_down and stream.offset_field is None and stream.offset_path is None
    assert kind.initial() == {"newest": None}
    assert kind_of(initialOffset="evt_abc").initial() == {"newest": "evt_abc"}
    first = kind.request({}, kind.initial())
    assert first.url == URL + "?limit=3" and first.params == ()
    since = kind_of(offsetField="since_id")
    assert since.request({}, {"newest": "evt_x"}).params == (("since_id", "evt_x"),)


@pytest.mark.parametrize(
    ("raw", "option", "expected"),
    [
        (
            {"recordOrder": "ascending"},
            "recordOffsetPath",
            "recordOrder descending beside it (offsetType cursor reads record ids only to walk "
            "a newest-first list down to the newest record delivered)",
        ),
        ({"offsetPath": "$.data[-1:].id"}, "offsetPath", "no value with recordOrder=descending"),
        ({"offsetHeader": "X-Next"}, "offsetHeader", "no value with recordOrder=descending"),
    ],
)
def test_newest_first_options_that_would_be_ignored_are_refused(
    raw: dict[str, str], option: str, expected: str
) -> None:
    with pytest.raises(RestOptionError) as info:
        parse_options({**STRIPE, **raw})
    assert info.value.option == option and info.value.expected.startswith(expected)


def test_a_walk_down_with_a_stop_condition_but_no_way_down_is_refused() -> None:
    with pytest.raises(RestOptionError) as info:
        parse_options({**STRIPE, "pagination": "none", "nextPagePath": "", "nextPageParam": ""})
    assert info.value.option == "pagination"
    assert info.value.expected.startswith("a way down the list beside hasMorePath")


def test_record_order_applies_only_to_cursor_positions() -> None:
    with pytest.raises(RestOptionError) as info:
        parse_options(
            {
                "url": URL,
                "offsetType": "incremental",
                "offsetField": "id",
                "recordOrder": "descending",
            }
        )
    assert info.value.expected == (
        "offsetType cursor beside it (offsetType incremental does not use recordOrder)"
    )


def test_the_ending_before_chain_reads_pages_reversed_and_pages_one_at_a_time() -> None:
    raw = {
        "url": URL + "?limit=3",
        "recordsPath": "$.data[*]",
        "offsetType": "cursor",
        "offsetField": "ending_before",
        "offsetPath": "$.data[0].id",
        "recordOrder": "descending",
    }
    kind = offset_kind(parse_options(raw))
    assert isinstance(kind, CursorOffset) and kind.newest_first
    assert not isinstance(kind, NewestFirstOffset)
    with pytest.raises(RestOptionError) as info:
        parse_options(
            {**raw, "pagination": "cursor", "nextPagePath": "$.x", "nextPageParam": "after"}
        )
    assert info.value.option == "pagination"


# --- the walk down ---------------------------------------------------------------------------


def test_the_first_poll_reads_the_whole_list_oldest_first() -> None:
    feed = Feed(10)
    delivered, position, walk = poll(feed, {"newest": None})
    assert delivered == list(range(1, 11))
    assert position == {"newest": feed.items[-1]["id"]} and walk.caught_up
    assert walk.pages == 4 and walk.records == 10
    assert [r.get("starting_after", "") for r in feed.requests] == [
        "",
        feed.items[7]["id"],
        feed.items[4]["id"],
        feed.items[1]["id"],
    ]


def test_a_poll_reads_down_to_the_newest_record_delivered_and_no_further() -> None:
    feed = Feed(10)
    _, position, _ = poll(feed, {"newest": None})
    feed.requests.clear()
    assert poll(feed, position)[0] == []  # nothing new: one request, no records
    assert len(feed.requests) == 1
    feed.add(4)
    delivered, after, walk = poll(feed, position)
    assert delivered == [11, 12, 13, 14] and after == {"newest": feed.items[-1]["id"]}
    assert walk.pages == 2 and walk.caught_up  # the second page holds the position


def test_a_budget_delivers_the_oldest_first_and_polls_read_every_record_once() -> None:
    feed = Feed(11)
    position: Any = {"newest": None}
    delivered: list[int] = []
    for round_ in range(20):
        got, position, walk = poll(feed, position, budget=4)
        assert len(got) <= 4
        delivered += got
        if round_ % 3 == 0:
            feed.add(2)  # records arrive between polls, at the top
        if walk.caught_up and round_ > 12:
            break
    assert delivered == list(range(1, len(feed.items) + 1))


def test_a_replay_takes_exactly_the_logged_records_though_more_arrived() -> None:
    feed = Feed(8)
    first, start, _ = poll(feed, {"newest": None})
    feed.add(5)
    got, end, walk = poll(feed, start, budget=3)
    assert got == [9, 10, 11]
    feed.add(4)  # a crash, and more records before the restart
    assert replay(feed, start, end, taken=walk.records) == [9, 10, 11]
    assert replay(feed, {"newest": None}, start) == first


def test_a_replay_whose_logged_end_is_gone_fails() -> None:
    feed = Feed(6)
    _, start, _ = poll(feed, {"newest": None})
    feed.add(3)
    _, end, _ = poll(feed, start)
    feed.items = [r for r in feed.items if r["id"] != end["newest"]]
    with pytest.raises(RestOffsetError, match="the logged end, record 'evt_.*', is no longer"):
        replay(feed, start, end)


def test_a_position_no_longer_listed_fails_instead_of_reading_the_history_again() -> None:
    feed = Feed(6)
    _, position, _ = poll(feed, {"newest": None})
    feed.items.pop()  # the newest record delivered is deleted
    feed.add(2)
    with pytest.raises(RestOffsetError, match="reached the end of the list without it"):
        poll(feed, position)


def test_a_walk_down_longer_than_max_pages_per_batch_fails_naming_the_option() -> None:
    feed = Feed(10)
    with pytest.raises(
        RestOffsetError,
        match="the end of the list .* within maxPagesPerBatch=3 "
        "pages: raise maxPagesPerBatch .or set initialOffset",
    ):
        poll(feed, {"newest": None}, maxPagesPerBatch="3")
    _, position, _ = poll(feed, {"newest": None}, maxPagesPerBatch="4")
    feed.add(9)
    with pytest.raises(
        RestOffsetError,
        match="the newest record delivered, 'evt_.*', within "
        "maxPagesPerBatch=3 pages: raise maxPagesPerBatch$",
    ):
        poll(feed, position, maxPagesPerBatch="3")


def test_initial_offset_starts_after_a_known_record() -> None:
    feed = Feed(9)
    delivered, _, _ = poll(feed, {"newest": feed.items[4]["id"]})
    assert delivered == [6, 7, 8, 9]


def test_ids_are_compared_by_equality_whatever_their_json_type() -> None:
    feed = Feed(5)
    for number, record in enumerate(feed.items, start=1):
        record["id"] = number * 10  # whole-number ids, not in any order the walk relies on
    feed.items[2]["id"], feed.items[3]["id"] = 99, 1
    delivered, position, _ = poll(feed, {"newest": "99"})  # initialOffset is text
    assert delivered == [4, 5] and position == {"newest": 50}


def test_a_record_without_an_id_fails() -> None:
    feed = Feed(3)
    del feed.items[1]["id"]
    with pytest.raises(RestOffsetError, match="has no id at recordOffsetPath=\\$.id"):
        poll(feed, {"newest": None})


def test_page_numbers_that_shift_as_records_arrive_repeat_nothing() -> None:
    feed = Feed(9)
    _, position, _ = poll(feed, {"newest": None})
    feed.add(7)
    arrivals = iter([2, 0, 0, 0])
    feed.after_request = lambda: feed.add(next(arrivals, 0))  # two arrive during the walk
    raw = {
        "pagination": "page",
        "nextPageParam": "page",
        "pageSize": "3",
        "nextPagePath": "",
        "hasMorePath": "",
    }
    delivered, position, _ = poll(feed, position, **raw)
    assert delivered == list(range(10, 17))  # the two that arrived wait for the next poll
    feed.after_request = None
    assert poll(feed, position, **raw)[0] == [17, 18]


def test_a_since_id_filter_reaches_the_end_of_the_list_without_the_position() -> None:
    feed = Feed(7)
    _, position, _ = poll(feed, {"newest": None}, offsetField="since")
    feed.add(5)
    delivered, position, walk = poll(feed, position, offsetField="since")
    assert delivered == [8, 9, 10, 11, 12] and walk.pages == 2
    assert feed.requests[-2]["since"] == feed.items[6]["id"]


def test_carried_pages_give_executors_the_records_oldest_first() -> None:
    feed = Feed(10)
    kind = kind_of()
    start = {"newest": feed.items[1]["id"]}
    walk = walk_of(kind, FakeFetcher(feed), {}, start, max_records=6, keep_body=True)
    pages = carried(walk)
    assert [p.reverse for p in pages] == [True] * len(pages)
    reader = PartitionReader(kind.options, SCHEMA)
    rows = [r for _, records in reader._carried(PagesUnit("{}", {}, tuple(pages))) for r in records]
    assert [r["n"] for r in rows] == [3, 4, 5, 6, 7, 8]
    assert sum(p.stop - p.first for p in pages) == 6 == walk.records


def test_a_batch_read_walks_the_whole_list_unbounded() -> None:
    feed = Feed(400)
    walk = walk_of(kind_of(), FakeFetcher(feed), {}, {"newest": None})
    assert feed.ns(r for w in walk for r in w.records) == list(range(1, 401))


# --- the reader: a batch, a crash before its commit, and its replay -------------------------


def stripe_reader(**raw: str) -> Any:
    from rest_stream.stream_reader import RestStreamReader

    return RestStreamReader(parse_options({**STRIPE, "streamingInterval": "0", **raw}), SCHEMA)


def test_the_stream_reader_replays_a_logged_batch_with_its_records_after_appends(
    httpx_mock: Any,
) -> None:
    from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows

    feed = Feed(7)

    def answer(request: Any) -> Any:
        import httpx

        params = dict(parse_qsl(urlsplit(str(request.url)).query, keep_blank_values=True))
        return httpx.Response(200, json=feed.answer(params))

    httpx_mock.add_callback(answer, is_reusable=True)
    stream = stripe_reader()
    start = stream.initialOffset()
    first = stream.latestOffset(start, ReadAllAvailable())
    assert first == {"streams": {"{}": {"newest": feed.items[-1]["id"]}}, "taken": {"{}": 7}}
    assert stream.latestOffset(first, ReadAllAvailable()) == first  # nothing new, no batch

    def rows(reader: Any, lo: Any, hi: Any) -> list[int]:
        batches = [b for part in reader.partitions(lo, hi) for b in reader.read(part)]
        return [n for b in batches for n in b.column("n").to_pylist()]

    assert rows(stream, start, first) == list(range(1, 8))
    feed.add(5)
    second = stream.latestOffset(first, ReadMaxRows(3))
    assert second["taken"] == {"{}": 3}
    assert stream.reportLatestOffset() == {"streams": {"{}": {"newest": feed.items[-1]["id"]}}}
    feed.add(2)  # a crash between the offset log and the commit, then two more records
    fresh = pickle.loads(pickle.dumps(stream))  # a restart: nothing walked is kept
    assert rows(fresh, first, second) == [8, 9, 10]
    third = fresh.latestOffset(second, ReadAllAvailable())
    assert rows(fresh, second, third) == [11, 12, 13, 14]
    feed.items = [r for r in feed.items if r["n"] != 9]  # a record of the batch disappears
    with pytest.raises(RestOffsetError, match="after 2 of its 3 records"):
        pickle.loads(pickle.dumps(stream)).partitions(first, second)
    assert json.loads(json.dumps(third)) == third


# --- the ending_before chain: pages reversed --------------------------------------------------


def ending_before(**raw: str) -> CursorOffset:
    kind = offset_kind(
        parse_options(
            {
                "url": URL + "?limit=3",
                "recordsPath": "$.data[*]",
                "offsetType": "cursor",
                "offsetField": "ending_before",
                "offsetPath": "$.data[0].id",
                "recordOrder": "descending",
                "hasMorePath": "$.has_more",
                **raw,
            }
        )
    )
    assert isinstance(kind, CursorOffset)
    return kind


def test_an_ending_before_chain_reads_forward_oldest_first_and_a_grown_page_once() -> None:
    feed = Feed(5)
    kind = ending_before()
    start = {"cursor": feed.items[0]["id"], "skip": 0}
    walk = Walk(kind, FakeFetcher(feed), {}, start, keep_body=True)
    pages = carried(walk)
    assert walk.position == {"cursor": feed.items[3]["id"], "skip": 1}
    assert [p.reverse for p in pages] == [True, True]
    reader = PartitionReader(kind.options, SCHEMA)
    rows = [r for _, rs in reader._carried(PagesUnit("{}", {}, tuple(pages))) for r in rs]
    assert [r["n"] for r in rows] == [2, 3, 4, 5]
    feed.add(3)  # the last page (one record) grows at its end, read oldest first
    walk = Walk(kind, FakeFetcher(feed), {}, walk.position)
    assert feed.ns(r for w in walk for r in w.records) == [6, 7, 8]


def test_an_ending_before_replay_takes_the_logged_records_of_a_page_that_grew() -> None:
    feed = Feed(3)
    kind = ending_before()
    start = {"cursor": feed.items[0]["id"], "skip": 0}
    walk = Walk(kind, FakeFetcher(feed), {}, start)
    assert feed.ns(r for w in walk for r in w.records) == [2, 3]
    end, taken = walk.position, walk.records
    feed.add(1)  # the page at the start's cursor grows: newest first, at its top
    again = Walk(kind, FakeFetcher(feed), {}, start, end=end, expected=taken)
    assert feed.ns(r for w in again for r in w.records) == [2, 3] and again.position == end
