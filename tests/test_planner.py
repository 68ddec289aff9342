"""Planning: stream keys, the stored offset, and offset ranges or rows to partitions."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from rest_stream import planner
from rest_stream.offsets import offset_kind
from rest_stream.options import parse_options
from rest_stream.partitions import CarriedPage, PagesPartition, RangePartition, RowsPartition
from rest_stream.planner import (
    STREAMS,
    make_offset,
    parts_per_stream,
    plan_pages,
    plan_ranges,
    plan_rows,
    share,
    stream_key,
    stream_rows,
)

URL = "https://api.example.com/items"


def test_stream_key_is_stable_and_order_independent() -> None:
    assert stream_key({}) == "{}"
    assert stream_key({"region": "eu", "n": 1}) == '{"n":1,"region":"eu"}'
    assert stream_key({"n": 1, "region": "eu"}) == stream_key({"region": "eu", "n": 1})
    nested = {"b": {"y": 2, "x": [1, {"d": 1, "c": 2}]}, "a": None}
    assert stream_key(nested) == '{"a":null,"b":{"x":[1,{"c":2,"d":1}],"y":2}}'
    assert stream_key({"s": "é"}) == '{"s":"\\u00e9"}'
    assert stream_key({"n": 1}) != stream_key({"n": "1"})
    assert json.loads(stream_key(nested)) == nested


def test_stream_rows() -> None:
    assert stream_rows([]) == {"{}": {}}
    rows = stream_rows([{"region": "us"}, {"region": "eu", "n": 2}, {"region": "ap"}])
    assert list(rows) == ['{"n":2,"region":"eu"}', '{"region":"ap"}', '{"region":"us"}']
    assert rows['{"region":"ap"}'] == {"region": "ap"}
    assert list(stream_rows([{"b": 1, "a": 2}])) == ['{"a":2,"b":1}']


def test_adding_a_stream_keeps_the_other_keys() -> None:
    before = stream_rows([{"region": "eu"}, {"region": "us"}])
    after = stream_rows([{"region": "us"}, {"region": "ap"}, {"region": "eu"}])
    assert set(before) < set(after)


def test_make_offset_sorts_keys_at_every_level() -> None:
    offset = make_offset({"b": {"skip": 0, "cursor": "x"}, "a": 5, "c": {"z": {"b": 1, "a": 2}}})
    assert offset == {
        STREAMS: {"a": 5, "b": {"cursor": "x", "skip": 0}, "c": {"z": {"a": 2, "b": 1}}}
    }
    assert list(offset[STREAMS]) == ["a", "b", "c"]
    assert list(offset[STREAMS]["b"]) == ["cursor", "skip"]
    assert list(offset[STREAMS]["c"]["z"]) == ["a", "b"]
    assert json.dumps(offset) == (
        '{"streams": {"a": 5, "b": {"cursor": "x", "skip": 0}, "c": {"z": {"a": 2, "b": 1}}}}'
    )
    assert make_offset({}) == {STREAMS: {}}


def test_make_offset_is_independent_of_insertion_order() -> None:
    one = make_offset({"x": {"skip": 1, "cursor": "c"}, "a": 1})
    two = make_offset({"a": 1, "x": {"cursor": "c", "skip": 1}})
    assert json.dumps(one) == json.dumps(two)


def test_parts_per_stream_and_share(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parts_per_stream(8, 1) == 8
    assert parts_per_stream(8, 3) == 2
    assert parts_per_stream(8, 8) == 1
    assert parts_per_stream(8, 20) == 1
    assert parts_per_stream(8, 0) == 8
    monkeypatch.setattr(planner.os, "cpu_count", lambda: 6)
    assert planner.default_parallelism() == 6
    assert parts_per_stream(None, 2) == 3
    monkeypatch.setattr(planner.os, "cpu_count", lambda: None)
    assert planner.default_parallelism() == 2
    monkeypatch.setattr(planner.os, "cpu_count", lambda: 1)
    assert planner.default_parallelism() == 2
    assert (share(10, 3), share(10, 0), share(2, 5)) == (3, 10, 1)


def test_plan_ranges() -> None:
    kind = offset_kind(
        parse_options({"url": URL, "offsetType": "incremental", "offsetField": "id"})
    )
    ranges = [("k1", {"r": 1}, 0, 100), ("k2", {"r": 2}, 50, 53), ("k3", {"r": 3}, 7, 7)]
    plan = plan_ranges(kind, ranges, 8)  # 8 // 3 = 2 parts per stream
    assert plan == [
        RangePartition("k1", {"r": 1}, 0, 50),
        RangePartition("k1", {"r": 1}, 50, 100),
        RangePartition("k2", {"r": 2}, 50, 51),
        RangePartition("k2", {"r": 2}, 51, 53),
    ]
    assert plan_ranges(kind, [("k", {}, 0, 10)], 4) == [
        RangePartition("k", {}, 0, 2),
        RangePartition("k", {}, 2, 5),
        RangePartition("k", {}, 5, 7),
        RangePartition("k", {}, 7, 10),
    ]
    assert plan_ranges(kind, [], 4) == []


def test_plan_ranges_for_pages_align_to_pages() -> None:
    options = parse_options(
        {"url": URL, "offsetType": "page", "offsetField": "page", "pageSize": "25"}
    )
    plan = plan_ranges(offset_kind(options), [("k", {}, 10, 110)], 3)
    assert [(p.start, p.end) for p in plan] == [(10, 50), (50, 100), (100, 110)]


def test_plan_pages_chunks_adjacent_pages() -> None:
    pages = [CarriedPage(b"[%d]" % i, f"{URL}?p={i}", 200, 0, 1) for i in range(5)]
    plan = plan_pages("k", {"r": 1}, pages, 2)
    assert plan == [
        PagesPartition("k", {"r": 1}, tuple(pages[0:3])),
        PagesPartition("k", {"r": 1}, tuple(pages[3:5])),
    ]
    for parts in range(1, 9):
        plan = plan_pages("k", {}, pages, parts)
        assert 1 <= len(plan) <= min(parts, 5)
        assert [p for part in plan for p in part.pages] == pages
    assert len(plan_pages("k", {}, pages, 5)) == 5
    assert plan_pages("k", {}, pages, 0) == [PagesPartition("k", {}, tuple(pages))]
    assert plan_pages("k", {}, [], 4) == []


def test_plan_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[dict[str, Any]] = [{"i": i} for i in range(7)]
    assert plan_rows(rows, 3) == [
        RowsPartition(tuple(rows[0:3])),
        RowsPartition(tuple(rows[3:6])),
        RowsPartition(tuple(rows[6:7])),
    ]
    for parts in range(1, 10):
        plan = plan_rows(rows, parts)
        assert 1 <= len(plan) <= parts
        assert [r for part in plan for r in part.rows] == rows
    assert plan_rows([], 4) == [RowsPartition(({},))]
    assert plan_rows(rows[:2], 10) == [RowsPartition((rows[0],)), RowsPartition((rows[1],))]
    monkeypatch.setattr(planner.os, "cpu_count", lambda: 4)
    assert len(plan_rows(rows, None)) == 4


def test_partitions_pickle_and_hide_rows_in_repr() -> None:
    partition = RangePartition('{"r":1}', {"r": 1}, 0, 10)
    assert pickle.loads(pickle.dumps(partition)) == partition
    assert repr(partition) == "RangePartition(stream='{\"r\":1}', start=0, end=10)"
    rows = RowsPartition(({"token": "x"},))
    assert repr(rows) == "RowsPartition(rows=1)"
    pages = PagesPartition("k", {}, (CarriedPage(b"[1]", URL, 200, 0, 1),))
    assert repr(pages) == "PagesPartition(stream='k', pages=1, bytes=3)"
    assert pickle.loads(pickle.dumps(pages)) == pages


def test_with_rate_shares() -> None:
    from rest_stream.planner import with_rate_shares

    plan = plan_rows([{"i": i} for i in range(4)], 4)
    shared = with_rate_shares(plan, 10.0)
    assert [p.rate_limit for p in shared] == [2.5, 2.5, 2.5, 2.5]
    assert [p.rows for p in shared] == [p.rows for p in plan]
    assert with_rate_shares(plan, None) == plan
    assert with_rate_shares([], 10.0) == []
    ranges = [RangePartition("k", {}, 0, 5), RangePartition("k", {}, 5, 9)]
    assert with_rate_shares(ranges, 1.0) == [
        RangePartition("k", {}, 0, 5, 0.5),
        RangePartition("k", {}, 5, 9, 0.5),
    ]
