"""Planning: stream keys, the stored offset, and offset ranges or rows to partitions."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from rest_stream.driver import planner
from rest_stream.driver.planner import (
    STREAMS,
    make_offset,
    pack,
    page_units,
    plan_batch,
    plan_rows,
    range_units,
    share,
    stream_key,
    stream_rows,
    task_count,
)
from rest_stream.options.parse import parse_options
from rest_stream.partitions import CarriedPage, PagesUnit, RangeUnit, RowsPartition, WorkPartition
from rest_stream.positions import offset_kind

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


def test_task_count_and_share(monkeypatch: pytest.MonkeyPatch) -> None:
    assert task_count(8) == 8
    monkeypatch.setattr(planner.os, "cpu_count", lambda: 6)
    assert planner.default_parallelism() == 6
    assert task_count(None) == 6
    monkeypatch.setattr(planner.os, "cpu_count", lambda: None)
    assert planner.default_parallelism() == 2
    monkeypatch.setattr(planner.os, "cpu_count", lambda: 1)
    assert planner.default_parallelism() == 2
    assert (share(10, 3), share(10, 0), share(2, 5)) == (3, 10, 1)


def incremental_kind() -> Any:
    return offset_kind(
        parse_options({"url": URL, "offsetType": "incremental", "offsetField": "id"})
    )


def test_range_units_give_each_stream_pieces_by_size() -> None:
    kind = incremental_kind()
    ranges = [("k1", {"r": 1}, 0, 100), ("k2", {"r": 2}, 50, 53)]
    units = range_units(kind, ranges, 8)
    assert [(u.stream, u.start, u.end) for u in units if u.stream == "k2"] == [("k2", 50, 53)]
    big = [(u.start, u.end) for u in units if u.stream == "k1"]
    assert big[0][0] == 0 and big[-1][1] == 100 and len(big) == 8
    assert all(a[1] == b[0] for a, b in zip(big, big[1:]))
    assert sum(u.weight for u in units) == 103
    assert range_units(kind, [], 4) == []


def test_plan_batch_splits_one_backfill_over_every_task() -> None:
    kind = incremental_kind()
    plan = plan_batch(kind, [("k", {}, 0, 8000)], [], 8, 4)
    assert len(plan) == 8
    assert all(len(p.units) == 4 for p in plan)
    covered = sorted((u.start, u.end) for p in plan for u in p.units)
    assert covered[0][0] == 0 and covered[-1][1] == 8000
    assert all(a[1] == b[0] for a, b in zip(covered, covered[1:]))
    loads = [sum(u.weight for u in p.units) for p in plan]
    assert max(loads) - min(loads) <= 2


def test_plan_batch_never_exceeds_num_partitions_with_many_small_streams() -> None:
    kind = incremental_kind()
    ranges = [(f"s{i:04}", {"i": i}, 0, 20 + i % 7) for i in range(1000)]
    for tasks in (1, 2, 8, 13):
        plan = plan_batch(kind, ranges, [], tasks, 4)
        assert len(plan) == tasks
        streams = sorted(u.stream for p in plan for u in p.units)
        assert streams == sorted(key for key, *_ in ranges)  # every stream once
        loads = [sum(u.weight for u in p.units) for p in plan]
        assert max(loads) - min(loads) <= 26  # one unit at most between tasks


def test_plan_batch_for_pages_aligns_units_to_pages() -> None:
    options = parse_options(
        {"url": URL, "offsetType": "page", "offsetField": "page", "pageSize": "25"}
    )
    plan = plan_batch(offset_kind(options), [("k", {}, 10, 110)], [], 3, 1)
    assert sorted((u.start, u.end) for p in plan for u in p.units) == [
        (10, 50),
        (50, 100),
        (100, 110),
    ]


def test_page_units_chunk_adjacent_pages() -> None:
    pages = [CarriedPage(b"[%d]" % i, f"{URL}?p={i}", 200, 0, 1) for i in range(5)]
    units = page_units("k", {"r": 1}, pages, 2)
    assert units == [
        PagesUnit("k", {"r": 1}, tuple(pages[0:3])),
        PagesUnit("k", {"r": 1}, tuple(pages[3:5])),
    ]
    for parts in range(1, 9):
        units = page_units("k", {}, pages, parts)
        assert 1 <= len(units) <= min(parts, 5)
        assert [p for unit in units for p in unit.pages] == pages
    assert page_units("k", {}, pages, 0) == [PagesUnit("k", {}, tuple(pages))]
    assert page_units("k", {}, [], 4) == []


def test_walked_streams_share_tasks() -> None:
    pages = [CarriedPage(b"[1]", URL, 200, 0, 1)]
    walked = [(f"s{i}", {"i": i}, pages) for i in range(200)]
    plan = plan_batch(None, [], walked, 4, 4)
    assert len(plan) == 4
    assert sorted(u.stream for p in plan for u in p.units) == sorted(w[0] for w in walked)


def test_pack_is_deterministic() -> None:
    kind = incremental_kind()
    ranges = [(f"s{i}", {}, 0, 10 + i) for i in range(30)]
    assert plan_batch(kind, ranges, [], 4, 2) == plan_batch(kind, ranges, [], 4, 2)
    assert pack([], 4) == []


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
    unit = RangeUnit('{"r":1}', {"r": 1, "token": "x"}, 0, 10)
    assert repr(unit) == "RangeUnit(stream='{\"r\":1}', start=0, end=10)"
    pages = PagesUnit("k", {}, (CarriedPage(b"[1]", URL, 200, 0, 1),))
    assert repr(pages) == "PagesUnit(stream='k', pages=1, bytes=3)"
    partition = WorkPartition((unit, pages))
    assert pickle.loads(pickle.dumps(partition)) == partition
    assert repr(partition) == "WorkPartition(units=2, streams=2)"
    rows = RowsPartition(({"token": "x"},))
    assert repr(rows) == "RowsPartition(rows=1)"


def test_with_rate_shares() -> None:
    from rest_stream.driver.planner import with_rate_shares

    plan = plan_rows([{"i": i} for i in range(4)], 4)
    shared = with_rate_shares(plan, 10.0)
    assert [p.rate_limit for p in shared] == [2.5, 2.5, 2.5, 2.5]
    assert [p.rows for p in shared] == [p.rows for p in plan]
    assert with_rate_shares(plan, None) == plan
    assert with_rate_shares([], 10.0) == []
    work = [WorkPartition((RangeUnit("k", {}, 0, 5),)), WorkPartition((RangeUnit("k", {}, 5, 9),))]
    assert [p.rate_limit for p in with_rate_shares(work, 1.0)] == [0.5, 0.5]


def test_stream_key_fields_name_a_stream() -> None:
    rows = stream_rows([{"repo": "a", "stars": 1}, {"repo": "b", "stars": 2}], ["repo"])
    assert list(rows) == ['{"repo":"a"}', '{"repo":"b"}']
    assert rows['{"repo":"a"}'] == {"repo": "a", "stars": 1}
    grown = stream_rows([{"repo": "a", "stars": 5, "topic": "x"}], ["repo"])
    assert list(grown) == ['{"repo":"a"}']  # another field does not restart the stream


def test_rows_sharing_a_stream_key_are_refused_not_merged() -> None:
    from rest_stream.errors import RestOptionError

    rows = [{"repo": "a", "branch": "main"}, {"repo": "a", "branch": "dev"}]
    with pytest.raises(RestOptionError, match="streamKey"):
        stream_rows(rows, ["repo"])
    assert len(stream_rows(rows, ["repo", "branch"])) == 2
    assert len(stream_rows([{"n": 1}, {"n": 1}])) == 1  # the same row twice is one stream
