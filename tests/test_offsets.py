"""The offset kinds (positions, requests, splitting, reading ranges, chain steps) and `Walk`.

An in-memory fake API stands in for `PageFetcher`: each test's handler maps a request's path
and query parameters to a JSON document, so every request and record is exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
import pytest
from pytest_httpx import HTTPXMock

from rest_stream.decoders.jsonpath import compile_path, extract_records
from rest_stream.errors import RestOffsetError
from rest_stream.http.pages import Page, PageFetcher
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import parse_options
from rest_stream.positions import (
    BodyLinkOffset,
    ChainKind,
    CursorOffset,
    IncrementalOffset,
    LinkOffset,
    OffsetKind,
    PageOffset,
    RangeKind,
    RecordOffset,
    Step,
    StopChain,
    TimestampOffset,
    _cut_time,
    offset_kind,
)
from rest_stream.positions.walk import Walk

URL = "https://api.example.com/items"
Handler = Callable[[str, dict[str, str]], Any]


class FakeApi:
    """`fetch`/`fetch_ordered` over `handler(path, params) -> document or (document, headers)`."""

    def __init__(self, handler: Handler, records_path: str | None = None) -> None:
        self.handler = handler
        self.records_path = compile_path(records_path) if records_path else None
        self.requests: list[dict[str, str]] = []
        self.kept_bodies = 0

    def fetch(
        self,
        spec: RequestSpec,
        *,
        keep_body: bool = False,
        decode: bool = True,
        records: bool = True,
    ) -> Page:
        parts = urlsplit(spec.url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(spec.params)
        self.requests.append(params)
        answer = self.handler(parts.path, params)
        document, headers = answer if isinstance(answer, tuple) else (answer, {})
        url = spec.url
        if spec.params:
            url += ("&" if parts.query else "?") + urlencode(spec.params)
        body = orjson.dumps(document) if keep_body else b""
        self.kept_bodies += keep_body
        found = extract_records(document, self.records_path) if records else []
        lowered = {k.lower(): v for k, v in headers.items()}
        return Page(found, document, lowered, url, 200, body, url)

    def fetch_ordered(self, specs: Iterable[RequestSpec]) -> Iterator[Page]:
        for spec in specs:
            yield self.fetch(spec)


def page_of(records: list[Any], url: str = URL, **headers: str) -> Page:
    return Page(records, records, {k.lower(): v for k, v in headers.items()}, url, 200, b"", url)


def kind_of(**raw: str) -> OffsetKind:
    return offset_kind(parse_options({"url": URL, **raw}))


def flat(chunks: Iterable[tuple[str, list[Any]]]) -> list[Any]:
    return [record for _, records in chunks for record in records]


def assert_exact_cover(ranges: list[tuple[Any, Any]], start: Any, end: Any, parts: int) -> None:
    """`ranges` are adjacent, non-empty, at most `parts`, from `start` to `end`."""
    assert len(ranges) <= parts
    if start >= end:
        assert ranges == []
        return
    assert ranges[0][0] == start
    assert ranges[-1][1] == end
    for (_, hi), (lo, _) in itertools.pairwise(ranges):
        assert hi == lo
    assert all(lo < hi for lo, hi in ranges)


# --- incremental ------------------------------------------------------------------------------

IDS = [0, 1, 2, 5, 7, 8, 10, 11, 15, 20]


def ids_api(ids: list[int], limit: int = 3, field: str = "since") -> FakeApi:
    def handler(path: str, params: dict[str, str]) -> Any:
        since = int(params[field])
        return [{"id": i, "n": f"r{i}"} for i in sorted(ids) if i >= since][:limit]

    return FakeApi(handler)


def incremental(**raw: str) -> IncrementalOffset:
    kind = kind_of(offsetType="incremental", offsetField="since", **raw)
    assert isinstance(kind, IncrementalOffset)
    return kind


def test_incremental_initial_and_request() -> None:
    assert incremental().initial() == 0
    assert incremental(initialOffset="17").initial() == 17
    kind = incremental()
    assert kind.request({"region": "eu"}, 7) == RequestSpec(
        "GET", URL, params=(("region", "eu"), ("since", "7"))
    )
    kind = kind_of(url=URL + "?since_id={since}", offsetType="incremental", offsetField="since")
    assert kind.request({}, 7) == RequestSpec("GET", URL + "?since_id=7")
    assert kind.splittable is True


def test_incremental_bounds() -> None:
    kind = incremental()
    assert kind.count_bound(3, 10) == 7
    assert kind.count_bound(10, 3) == 0
    assert kind.advance(3, 4) == 7
    assert kind.reached(10, 10) and kind.reached(11, 10) and not kind.reached(9, 10)
    assert kind.end_from_probe(41) == 42
    assert kind.end_from_probe("41") == 42


def test_incremental_split_covers_exactly() -> None:
    kind = incremental()
    for start in range(0, 9):
        for end in range(start - 2, start + 40, 3):
            for parts in range(1, 9):
                ranges = kind.split(start, end, parts)
                assert_exact_cover(ranges, start, end, parts)
                if end - start >= parts:
                    assert len(ranges) == parts
                    sizes = [hi - lo for lo, hi in ranges]
                    assert max(sizes) - min(sizes) <= 1


def test_incremental_read_range_edges() -> None:
    api = ids_api(IDS)
    kind = incremental()
    assert [r["id"] for r in flat(kind.read_range(api, {}, 5, 10))] == [5, 7, 8]
    assert [p["since"] for p in api.requests] == ["5", "9"]
    assert [r["id"] for r in flat(kind.read_range(api, {}, 10, 11))] == [10]
    assert [r["id"] for r in flat(kind.read_range(api, {}, 3, 5))] == []
    assert [r["id"] for r in flat(kind.read_range(api, {}, 15, 100))] == [15, 20]
    assert flat(kind.read_range(api, {}, 21, 30)) == []
    assert flat(kind.read_range(api, {}, 5, 5)) == []


def test_incremental_read_range_sources() -> None:
    chunks = list(incremental().read_range(ids_api(IDS), {"region": "eu"}, 0, 6))
    assert chunks == [
        (URL + "?region=eu&since=0", [{"id": i, "n": f"r{i}"} for i in (0, 1, 2)]),
        (URL + "?region=eu&since=3", [{"id": 5, "n": "r5"}]),
    ]


def test_incremental_splits_read_every_record_once() -> None:
    kind = incremental()
    for limit in (1, 2, 3, 50):
        for parts in range(1, 8):
            api = ids_api(IDS, limit)
            got = []
            for lo, hi in kind.split(0, 21, parts):
                got += [r["id"] for r in flat(kind.read_range(api, {}, lo, hi))]
            assert got == IDS


def test_incremental_keeps_only_the_range_when_the_api_ignores_bounds() -> None:
    def handler(path: str, params: dict[str, str]) -> Any:  # ids >= since - 3, unbounded
        since = int(params["since"])
        return [{"id": i} for i in IDS if i >= since - 3][:4]

    kind = incremental()
    assert [r["id"] for r in flat(kind.read_range(FakeApi(handler), {}, 5, 11))] == [5, 7, 8, 10]


def test_incremental_bad_offset() -> None:
    def stuck(path: str, params: dict[str, str]) -> Any:
        return [{"id": 0}, {"id": 1}, {"id": 2}]

    with pytest.raises(RestOffsetError) as info:
        list(incremental().read_range(FakeApi(stuck), {}, 5, 10))
    assert str(info.value) == (
        f"Offset does not advance: {URL}?since=5 returned ids up to 2, below since=5 "
        "(inside a range already planned: the rest of it cannot be skipped)"
    )


def test_stop_on_bad_offset_never_skips_the_rest_of_a_logged_range() -> None:
    """`onBadOffset=stop` applies where the driver chooses an end; inside a range Spark has
    logged, stopping would drop the records after the bad page, so it is an error."""

    def stuck(path: str, params: dict[str, str]) -> Any:
        return [{"id": 0}, {"id": 1}, {"id": 2}]

    api = FakeApi(stuck)
    with pytest.raises(RestOffsetError, match="cannot be skipped"):
        list(incremental(onBadOffset="stop").read_range(api, {}, 5, 10))
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"x": 1},
            "Record 1 of {url} has no whole-number id at recordOffsetPath=$.id (found None)",
        ),
        (
            {"id": True},
            "Record 1 of {url} has no whole-number id at recordOffsetPath=$.id (found True)",
        ),
        (
            {"id": 1.5},
            "Record 1 of {url} has no whole-number id at recordOffsetPath=$.id (found 1.5)",
        ),
        ({"id": "abc"}, "Record 1 of {url}: recordOffsetPath=$.id gives 'abc', not a whole number"),
    ],
)
def test_incremental_bad_record_ids(record: dict[str, Any], message: str) -> None:
    kind = incremental()
    with pytest.raises(RestOffsetError) as info:
        kind.record_ids(page_of([{"id": 1}, record]))
    assert str(info.value) == message.format(url=URL)
    assert kind.record_ids(page_of([{"id": "12"}, {"id": 3}])) == [12, 3]


def test_incremental_record_offset_path() -> None:
    kind = incremental(recordOffsetPath="$.meta.seq")
    assert kind.record_ids(page_of([{"meta": {"seq": 4}}, {"meta": {"seq": 9}}])) == [4, 9]


def test_kinds_declare_their_capabilities() -> None:
    """Range kinds split and count; chain kinds walk; nobody probes with sentinel calls."""
    timestamps = kind_of(offsetType="timestamp", offsetField="since", recordOffsetPath="$.ts")
    rows = [
        (incremental(), True, True, "ids", False),
        (paged(), True, True, "records", True),
        (kind_of(offsetType="offset", offsetField="o", pageSize="10"), True, True, "records", True),
        (timestamps, True, False, "clock", True),
        (kind_of(offsetType="timestamp", offsetField="since"), False, False, None, True),
        (cursor(), False, False, None, True),
        (kind_of(offsetType="link"), False, False, None, True),
        (kind_of(offsetType="link", offsetPath="$.next_url"), False, False, None, True),
    ]
    for kind, splittable, counts, search, walkable in rows:
        assert (kind.splittable, kind.counts_records, kind.end_search, kind.walkable) == (
            splittable,
            counts,
            search,
            walkable,
        ), kind.name
        assert isinstance(kind, RangeKind if splittable else ChainKind)


# --- page -------------------------------------------------------------------------------------

ROWS = [{"n": i} for i in range(47)]


def pages_api(rows: list[Any], size: int = 10, first: int = 1) -> FakeApi:
    def handler(path: str, params: dict[str, str]) -> Any:
        number = int(params["page"]) - first
        return {"total": len(rows), "items": rows[number * size : (number + 1) * size]}

    return FakeApi(handler)


def paged(**raw: str) -> PageOffset:
    kind = kind_of(offsetType="page", offsetField="page", pageSize="10", **raw)
    assert isinstance(kind, PageOffset)
    return kind


def test_page_positions() -> None:
    kind = paged()
    assert kind.initial() == 0
    assert [kind.page_of(p) for p in (0, 9, 10, 25, 46)] == [1, 1, 2, 3, 5]
    assert kind.offset_value(25) == 3
    assert kind.request({"q": "x"}, 25) == RequestSpec(
        "GET", URL, params=(("q", "x"), ("page", "3"))
    )
    zero = paged(initialOffset="0")
    assert zero.initial() == 0
    assert [zero.page_of(p) for p in (0, 9, 10)] == [0, 0, 1]
    assert kind.end_of_page(3, 4) == 34  # the 4th page (index 3) holds 4 records
    assert kind.index_request({}, 2) == kind.request({}, 20)
    assert kind.count_bound(5, 25) == 20 and kind.count_bound(25, 5) == 0
    assert kind.advance(5, 20) == 25
    assert kind.reached(25, 25) and not kind.reached(24, 25)


def test_page_split_covers_exactly_on_page_boundaries() -> None:
    kind = paged()
    for start in (0, 1, 9, 10, 25):
        for end in range(start, start + 75, 7):
            for parts in range(1, 9):
                ranges = kind.split(start, end, parts)
                assert_exact_cover(ranges, start, end, parts)
                assert all(lo % 10 == 0 for lo, _ in ranges[1:])
                pages = [
                    set(range(kind.page_of(lo), kind.page_of(hi - 1) + 1)) for lo, hi in ranges
                ]
                for a, b in itertools.combinations(pages, 2):
                    assert not a & b  # no page is read by two sub-ranges


def test_page_read_range_edges() -> None:
    kind = paged()
    api = pages_api(ROWS)
    assert flat(kind.read_range(api, {}, 25, 47)) == ROWS[25:47]
    assert [p["page"] for p in api.requests] == ["3", "4", "5"]
    assert flat(kind.read_range(api, {}, 3, 7)) == ROWS[3:7]
    assert flat(kind.read_range(api, {}, 9, 11)) == ROWS[9:11]
    assert flat(kind.read_range(api, {}, 20, 30)) == ROWS[20:30]
    assert flat(kind.read_range(api, {}, 45, 45)) == []
    api.requests.clear()
    assert flat(kind.read_range(api, {}, 0, 47)) == ROWS  # ends in the partial last page
    assert [p["page"] for p in api.requests] == ["1", "2", "3", "4", "5"]


def test_a_short_page_before_the_end_of_a_range_is_an_error_not_a_silent_end() -> None:
    """An API that caps its pages below pageSize (or serves fewer records than its end said)
    would otherwise end the range early and skip the rest."""
    with pytest.raises(RestOffsetError, match=r"returned 7 records, fewer than pageSize=10"):
        list(paged().read_range(pages_api(ROWS), {}, 0, 100))
    capped = kind_of(
        url=URL + "?limit=10", offsetType="offset", offsetField="offset", pageSize="10"
    )
    with pytest.raises(RestOffsetError, match="set pageSize"):
        list(capped.read_range(offsets_api(5), {}, 0, 30))


def test_a_page_larger_than_page_size_fails_naming_both_sizes() -> None:
    """An API serving 15 records a page for pageSize=10: page numbers would skip 5 records at
    every page, offsets would read 5 twice. Nothing is emitted past the first such page."""
    kind = paged()
    api = pages_api(ROWS, size=15)
    chunks = kind.read_range(api, {}, 0, 40)
    with pytest.raises(RestOffsetError) as info:
        next(chunks)
    assert str(info.value) == (
        f"{URL}?page=1 returned 15 records, more than pageSize=10: page numbers would skip the "
        "records past pageSize on every page. Set pageSize to the number of records the API "
        "returns on a full page (or ask it for pageSize records)"
    )
    with pytest.raises(RestOffsetError, match="returned 15 records, more than pageSize=10"):
        kind.step(0, page_of(ROWS[:15]), None)
    offsets = kind_of(url=URL, offsetType="offset", offsetField="offset", pageSize="10")

    def unlimited(path: str, params: dict[str, str]) -> Any:
        return {"data": ROWS[int(params["offset"]) :][:12]}

    with pytest.raises(RestOffsetError, match="12 records, more than pageSize=10: offsets would"):
        list(offsets.read_range(FakeApi(unlimited, "$.data"), {}, 0, 30))


def test_page_read_range_exact_multiple_and_empty() -> None:
    kind = paged()
    api = pages_api(ROWS[:40])
    assert flat(kind.read_range(api, {}, 30, 40)) == ROWS[30:40]
    assert [p["page"] for p in api.requests] == ["4"]
    with pytest.raises(RestOffsetError, match="returned 0 records"):
        list(kind.read_range(pages_api([]), {}, 0, 30))


def test_page_read_range_sources() -> None:
    chunks = list(paged().read_range(pages_api(ROWS), {}, 15, 25))
    assert chunks == [(URL + "?page=2", ROWS[15:20]), (URL + "?page=3", ROWS[20:25])]


def test_page_splits_read_every_record_once() -> None:
    kind = paged(initialOffset="0")
    for count in (0, 9, 10, 40, 47):
        rows = ROWS[:count]
        for parts in range(1, 7):
            for start in (0, 4):
                api = pages_api(rows, first=0)
                got = []
                for lo, hi in kind.split(start, max(start, count), parts):
                    got += flat(kind.read_range(api, {}, lo, hi))
                assert got == rows[start:]


def test_page_step() -> None:
    kind = paged()
    full = page_of(ROWS[:10])
    assert kind.step(0, full, None) == Step(0, 10, 10, False)
    assert kind.step(10, page_of(ROWS[10:14]), None) == Step(0, 4, 14, True)
    assert kind.step(14, page_of(ROWS[10:14]), None) == Step(0, 0, 14, True)  # nothing new
    assert kind.step(14, page_of(ROWS[10:17]), None) == Step(4, 7, 17, True)  # page grew
    assert kind.step(14, page_of(ROWS[10:20]), None) == Step(4, 10, 20, False)
    assert kind.step(14, page_of(ROWS[10:20]), 2) == Step(4, 6, 16, False)
    assert kind.step(10, page_of([]), None) == Step(0, 0, 10, True)


def test_page_step_cut_by_budget_is_not_caught_up() -> None:
    assert paged().step(0, page_of(ROWS[:10]), 3) == Step(0, 3, 3, False)


# --- timestamp --------------------------------------------------------------------------------

EVENTS = [
    {"id": 1, "ts": 10},
    {"id": 2, "ts": 10},
    {"id": 3, "ts": 20},
    {"id": 4, "ts": 20},
    {"id": 5, "ts": 30},
    {"id": 6, "ts": 40},
    {"id": 7, "ts": 41},
]


def events_api(
    events: list[dict[str, Any]], limit: int = 100, inclusive: bool = False, fmt: str = "seconds"
) -> FakeApi:
    from rest_stream.positions.timestamps import parse_timestamp

    def handler(path: str, params: dict[str, str]) -> Any:
        since = parse_timestamp(params["since"], fmt)
        times = [parse_timestamp(e["ts"], fmt) for e in events]
        kept = [e for e, t in zip(events, times) if t > since or (inclusive and t == since)]
        return {"data": kept[:limit], "next": None}

    return FakeApi(handler, records_path="$.data[*]")


def timestamped(**raw: str) -> TimestampOffset:
    base = {"offsetType": "timestamp", "offsetField": "since", "recordOffsetPath": "$.ts"}
    kind = kind_of(**{**base, **raw})
    assert isinstance(kind, TimestampOffset)
    return kind


def test_timestamp_initial_and_request() -> None:
    assert timestamped().initial() == 0
    assert timestamped(initialOffset="1700000000").initial() == 1700000000
    assert timestamped(timestampFormat="millis", initialOffset="1700000000123").initial() == (
        1700000000123
    )
    iso = timestamped(timestampFormat="iso8601")
    assert iso.initial() == "1970-01-01T00:00:00Z"
    assert timestamped(
        timestampFormat="iso8601", initialOffset="2024-01-02T03:04:05+01:00"
    ).initial() == ("2024-01-02T02:04:05+00:00")  # in UTC, written in the style it was given
    assert iso.request({}, "2024-01-01T00:00:00Z") == RequestSpec(
        "GET", URL, params=(("since", "2024-01-01T00:00:00Z"),)
    )
    kind = kind_of(url=URL + "?after={since}", offsetType="timestamp", offsetField="since")
    assert kind.request({}, "2024-01-01T00:00:00Z") == RequestSpec(
        "GET", URL + "?after=2024-01-01T00%3A00%3A00Z"
    )
    assert timestamped().splittable is True
    assert kind.splittable is False


def test_timestamp_bounds() -> None:
    kind = timestamped()
    assert kind.reached(30, 30) and kind.reached(31, 30) and not kind.reached(29, 30)
    assert kind.count_bound(0, 10) is None
    assert kind.end_from_probe("41") == 41
    iso = timestamped(timestampFormat="iso8601")
    assert iso.end_from_probe("2024-01-01T00:00:00.5+00:00") == "2024-01-01T00:00:00.5+00:00"
    assert iso.reached("2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z")


@pytest.mark.parametrize("fmt", ["seconds", "millis"])
def test_timestamp_split_covers_exactly_epoch(fmt: str) -> None:
    kind = timestamped(timestampFormat=fmt)
    for start in (0, 5, 1700000000):
        for length in range(0, 40, 3):
            for parts in range(1, 9):
                ranges = kind.split(start, start + length, parts)
                assert_exact_cover(ranges, start, start + length, parts)
                assert all(isinstance(v, int) for r in ranges for v in r)


def test_timestamp_split_covers_exactly_iso() -> None:
    kind = timestamped(timestampFormat="iso8601")
    start = "2024-01-01T00:00:00Z"
    for end in (
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.000007Z",
        "2024-01-01T00:00:10Z",
        "2024-03-01T12:00:00.5Z",
    ):
        for parts in range(1, 9):
            ranges = kind.split(start, end, parts)
            micros = [(kind.micros(lo), kind.micros(hi)) for lo, hi in ranges]
            assert_exact_cover(micros, kind.micros(start), kind.micros(end), parts)


def test_timestamp_read_range_edges() -> None:
    kind = timestamped()
    for inclusive in (False, True):
        api = events_api(EVENTS, limit=4, inclusive=inclusive)
        got = flat(kind.read_range(api, {}, 10, 30))
        assert [e["id"] for e in got] == [3, 4, 5]  # ts == start dropped, ts == end kept
        assert [e["id"] for e in flat(kind.read_range(api, {}, 0, 10))] == [1, 2]
        assert [e["id"] for e in flat(kind.read_range(api, {}, 40, 41))] == [7]
        assert flat(kind.read_range(api, {}, 30, 30)) == []
    api = events_api(EVENTS, limit=4)  # an API that returns records after `since`
    assert [e["id"] for e in flat(kind.read_range(api, {}, 40, 100))] == [7]
    assert flat(kind.read_range(api, {}, 41, 100)) == []
    assert flat(kind.read_range(api, {}, 20, 20)) == []


def test_timestamp_read_range_iso() -> None:
    events = [{"id": i, "ts": f"2024-01-01T00:00:{s:02d}Z"} for i, s in enumerate([1, 2, 2, 5, 9])]
    kind = timestamped(timestampFormat="iso8601")
    api = events_api(events, limit=3, fmt="iso8601")
    got = flat(kind.read_range(api, {}, "2024-01-01T00:00:01Z", "2024-01-01T00:00:05Z"))
    assert [e["id"] for e in got] == [1, 2, 3]
    # a full page (limit 3) may hold only part of its newest timestamp: ask again from the one
    # before it, so no record sharing that timestamp is lost
    assert [r["since"] for r in api.requests] == ["2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"]
    got = flat(kind.read_range(api, {}, "2024-01-01T00:00:00Z", "2024-01-01T00:00:02Z"))
    assert [e["id"] for e in got] == [0, 1, 2]


def test_timestamp_splits_read_every_record_once() -> None:
    kind = timestamped()
    for parts in range(1, 9):
        for start, end in ((0, 41), (0, 100), (10, 41), (15, 40)):
            api = events_api(EVENTS, limit=4)
            got = []
            for lo, hi in kind.split(start, end, parts):
                got += [e["id"] for e in flat(kind.read_range(api, {}, lo, hi))]
            assert got == [e["id"] for e in EVENTS if start < e["ts"] <= end]


def test_timestamp_bad_offset() -> None:
    def stuck(path: str, params: dict[str, str]) -> Any:
        return {"data": [{"ts": 5}, {"ts": 7}]}

    api = FakeApi(stuck, records_path="$.data[*]")
    with pytest.raises(RestOffsetError) as info:
        list(timestamped().read_range(api, {}, 10, 30))
    assert str(info.value).startswith(
        f"Offset goes backwards: {URL}?since=10 returned timestamps up to 7, before since=10"
    )
    with pytest.raises(RestOffsetError, match="cannot be skipped"):
        list(timestamped(onBadOffset="stop").read_range(api, {}, 10, 30))
    with pytest.raises(RestOffsetError, match="Offset goes backwards"):
        timestamped().step(10, api.fetch(timestamped().request({}, 10)), None)
    stop = timestamped(onBadOffset="stop")
    assert stop.step(10, api.fetch(stop.request({}, 10)), None) == Step(0, 0, 10, True)


def test_timestamp_bad_record_value() -> None:
    with pytest.raises(RestOffsetError) as info:
        timestamped().record_times(page_of([{"ts": 1}, {"ts": "soon"}]))
    assert str(info.value) == (
        f"Record 1 of {URL}: recordOffsetPath=$.ts gives 'soon', not a timestamp in "
        "timestampFormat=seconds"
    )
    assert timestamped().record_times(page_of([{"ts": "1.5"}, {"ts": 2}])) == [1_500_000, 2_000_000]


@pytest.mark.parametrize(
    ("times", "budget", "cut"),
    [
        ([1, 2, 2, 3], None, 3),
        ([1, 2, 2, 3], 4, 3),
        ([1, 2, 2, 3], 9, 3),
        ([1, 2, 2, 3], 1, 1),
        ([1, 2, 2, 3], 2, 1),  # would split the 2s: back off
        ([1, 2, 2, 3], 3, 2),
        ([2, 2, 3], 1, 2),  # cannot back off to nothing: take the whole first group
        ([2, 2, 2], 1, 2),
        ([2, 2, 3], 0, 2),
    ],
)
def test_cut_time(times: list[int], budget: int | None, cut: int) -> None:
    assert _cut_time(times, budget) == cut


def test_timestamp_step() -> None:
    kind = timestamped(recordsPath="$.data[*]", offsetPath="$.next")
    events = [{"ts": 10}, {"ts": 20}, {"ts": 20}, {"ts": 30}]
    page = Page(events, {"data": events, "next": 50}, {}, URL, 200)
    assert kind.step(5, page, None) == Step(0, 4, 50, False)  # offsetPath beyond the last
    assert kind.step(5, page, 2) == Step(0, 1, 10, False)
    assert kind.step(5, page, 3) == Step(0, 3, 20, False)
    page = Page(events, {"data": events}, {}, URL, 200)
    assert kind.step(5, page, None) == Step(0, 3, 20, False)  # the 30s may go on: next page
    last = Page(events[3:], {"data": events[3:]}, {}, URL, 200)
    step = kind.step(20, last, None)  # one timestamp: take it, the next page must confirm
    assert (step.first, step.stop, step.next, step.caught_up) == (0, 1, 30, False)
    assert (step.check.at, step.check.records) == (30_000_000, 1)
    assert kind.step(5, page_of([]), None) == Step(0, 0, 5, True)


def test_timestamp_step_without_record_path() -> None:
    kind = kind_of(offsetType="timestamp", offsetField="since", offsetPath="$.meta.newest")
    page = Page([{"a": 1}], {"meta": {"newest": 99}}, {}, URL, 200)
    assert kind.step(5, page, None) == Step(0, 1, 99, False)
    with pytest.raises(RestOffsetError) as info:
        kind.step(5, Page([{"a": 1}], {"meta": {}}, {}, URL, 200), None)
    assert str(info.value) == (
        f"{URL} has no next offset at offsetPath=$.meta.newest; set offsetPath or "
        "recordOffsetPath to where the timestamp is"
    )
    with pytest.raises(RestOffsetError, match="offsetPath=\\$.meta.newest gives 'x'"):
        kind.step(5, Page([{"a": 1}], {"meta": {"newest": "x"}}, {}, URL, 200), None)


def test_timestamp_walk_with_budgets_reads_every_record_once() -> None:
    events = [{"id": i, "ts": t} for i, t in enumerate([1, 2, 2, 2, 3, 4, 4, 5, 6, 6])]
    kind = timestamped()
    for budget in range(1, 8):
        api = events_api(events)
        position, got = kind.initial(), []
        for _ in range(20):
            walk = Walk(kind, api, {}, position, max_records=budget)
            got += [e["id"] for w in walk for e in w.records]
            position = walk.position
            if walk.caught_up:
                break
        assert got == list(range(10))
        assert position == 6


def test_a_timestamp_walk_cuts_by_time_on_pages_in_any_order() -> None:
    """Under batchSize a batch ends at a timestamp: it takes exactly the records with
    start < t <= cut, wherever they are in a page (newest first here, records at `since`
    repeated by an inclusive API), and its replay, a range read by time, takes the same."""
    times = [1, 2, 2, 3, 4, 4, 4, 5, 6, 6, 7, 8, 8, 9]
    events = [{"id": i, "ts": t} for i, t in enumerate(times)]

    def handler(path: str, params: dict[str, str]) -> Any:
        since = int(params["since"])
        page = [e for e in events if e["ts"] >= since][:5]  # inclusive: `since` comes again
        return {"data": page[::-1]}  # the oldest records after `since`, newest first

    kind = timestamped()
    for budget in range(1, 9):
        api = FakeApi(handler, records_path="$.data[*]")
        position, got = kind.initial(), []
        for _ in range(30):
            walk = Walk(kind, api, {}, position, max_records=budget)
            batch = sorted(e["id"] for w in walk for e in w.records)
            start, position = position, walk.position
            assert batch == [e["id"] for e in events if start < e["ts"] <= position]
            replay = flat(kind.read_range(api, {}, start, position))
            assert sorted(e["id"] for e in replay) == batch
            got += batch
            if walk.caught_up:
                break
        assert got == [e["id"] for e in events], budget


def test_a_timestamp_step_takes_the_records_of_its_cut_wherever_they_are() -> None:
    kind = timestamped()
    page = page_of([{"ts": 30}, {"ts": 10}, {"ts": 5}, {"ts": 20}, {"ts": 10}, {"ts": 40}])
    step = kind.step(5, page, 3)  # 10, 10, 20: the 30 and 40 wait (40 is the page's newest)
    assert (step.next, step.keep) == (20, (1, 3, 4))
    assert kind.step(5, page, None).keep == (0, 1, 3, 4)  # up to 30: the 40 may go on


ONE_SECOND_CUT = [1, 5, 5, 5, 5, 6, 7]  # four records at 5: a page of 3 cuts inside them


@pytest.mark.parametrize("inclusive", [False, True])
def test_a_page_cut_inside_one_timestamp_fails_instead_of_skipping_the_rest_of_it(
    inclusive: bool,
) -> None:
    """`since=5` cannot ask for the fourth record at 5: when the page after shows that the
    API cut the page of 5s at its size, the read fails, in a range and in a walk, and the
    walk has not moved past the 5s."""
    events = [{"id": i, "ts": t} for i, t in enumerate(ONE_SECOND_CUT)]
    kind = timestamped()
    with pytest.raises(RestOffsetError) as info:
        list(kind.read_range(events_api(events, limit=3, inclusive=inclusive), {}, 0, 10))
    assert str(info.value).startswith(
        f"{URL}?since=1 returned {2 if inclusive else 3} new records, every one at 5, and "
        f"{URL}?since=5 returns records that page could have held: the API cut that page at "
        "its page size inside 5"
    )
    assert "set pagination" in str(info.value)
    for budget in (None, 3, 4):  # the walk stops on the 5s (budget 3 or 4) or goes on
        api = events_api(events, limit=3, inclusive=inclusive)
        walk = Walk(kind, api, {}, 1, max_records=budget)
        with pytest.raises(RestOffsetError, match="cut that page at its page size inside 5"):
            list(walk)


def test_a_page_of_one_timestamp_that_holds_all_of_it_is_read_on() -> None:
    """No false alarm: the page after holds nothing the page could have held (the tail), or,
    from an inclusive API, no more records at that timestamp than the page did."""
    kind = timestamped()
    for inclusive, times in ((False, [1, 5, 5, 5]), (True, [1, 5, 5])):
        tail = [{"id": i, "ts": t} for i, t in enumerate(times)]
        api = events_api(tail, limit=3, inclusive=inclusive)
        assert [e["id"] for e in flat(kind.read_range(api, {}, 0, 10))] == list(range(len(tail)))
        walk = Walk(kind, events_api(tail, limit=3, inclusive=inclusive), {}, 1, max_records=9)
        assert [e["id"] for w in walk for e in w.records] == list(range(1, len(tail)))
    # since=1 answers 1, 5, 5 (the 1 again): every 5, as since=5 shows with 5, 5, 6
    exact = [{"id": i, "ts": t} for i, t in enumerate([1, 5, 5, 6, 7])]
    api = events_api(exact, limit=3, inclusive=True)
    assert [e["id"] for e in flat(kind.read_range(api, {}, 0, 10))] == [0, 1, 2, 3, 4]


def test_a_range_ending_on_a_page_of_one_timestamp_asks_after_it_only_when_it_may_be_cut() -> None:
    """The next range starts after the end: a last page at one timestamp is confirmed with
    one more request, unless an earlier page of the read held more records (it is not full)."""
    kind = timestamped()
    events = [{"id": i, "ts": t} for i, t in enumerate([1, 2, 3, 4, 4, 5])]
    past = events_api(events, limit=3)  # pages 1 2 3, 3 4 4, 4 4 5: the last goes past 4
    assert [e["id"] for e in flat(kind.read_range(past, {}, 0, 4))] == [0, 1, 2, 3, 4]
    assert [r["since"] for r in past.requests] == ["0", "2", "3"]
    single = events_api([{"id": 0, "ts": 4}], limit=3)
    assert [e["id"] for e in flat(kind.read_range(single, {}, 0, 4))] == [0]
    assert [r["since"] for r in single.requests] == ["0", "4"]  # a lone page: confirmed
    tail = events_api(events[:5], limit=3)  # pages 1 2 3, 3 4 4, then 4 4: shorter than 3
    assert [e["id"] for e in flat(kind.read_range(tail, {}, 0, 4))] == [0, 1, 2, 3, 4]
    assert [r["since"] for r in tail.requests] == ["0", "2", "3"]


def test_with_pagination_an_answer_of_one_timestamp_is_read_whole() -> None:
    """pagination reads every page of an answer: its records at one timestamp are all read,
    and nothing is left to confirm."""
    events = [{"id": i, "ts": t} for i, t in enumerate(ONE_SECOND_CUT)]

    def handler(path: str, params: dict[str, str]) -> Any:
        since, part = int(params["since"]), int(params.get("part", 0))
        fresh = [e for e in events if e["ts"] > since]
        page = fresh[part * 3 : part * 3 + 3]
        more = part * 3 + 3 < len(fresh)
        return {"data": page, "next": f"{URL}?since={since}&part={part + 1}" if more else None}

    kind = timestamped(pagination="nextUrl", nextPagePath="$.next")
    api = FakeApi(handler, records_path="$.data[*]")
    assert [e["id"] for e in flat(kind.read_range(api, {}, 0, 10))] == list(range(7))
    walk = Walk(kind, FakeApi(handler, records_path="$.data[*]"), {}, 0)
    assert [e["id"] for w in walk for e in w.records] == list(range(7))


# --- cursor -----------------------------------------------------------------------------------


def cursor(**raw: str) -> CursorOffset:
    kind = kind_of(offsetType="cursor", offsetField="cursor", **raw)
    assert isinstance(kind, CursorOffset)
    return kind


def doc_page(records: list[Any], next_cursor: Any = None, **headers: str) -> Page:
    document = {"items": records, "cursor": next_cursor}
    return Page(records, document, {k.lower(): v for k, v in headers.items()}, URL, 200)


def test_cursor_initial_and_request() -> None:
    kind = cursor()
    assert kind.initial() == {"cursor": "", "skip": 0}
    assert cursor(initialOffset="abc").initial() == {"cursor": "abc", "skip": 0}
    assert kind.request({}, {"cursor": "", "skip": 0}) == RequestSpec("GET", URL)
    assert kind.request({"q": 1}, {"cursor": "c/1", "skip": 2}) == RequestSpec(
        "GET", URL, params=(("q", "1"), ("cursor", "c/1"))
    )
    assert kind.splittable is False
    assert not hasattr(kind, "split")


def test_cursor_step_rules() -> None:
    kind = cursor()
    at = {"cursor": "c1", "skip": 0}
    three = ["a", "b", "c"]
    assert kind.step(at, doc_page([]), None) == Step(0, 0, at, True)  # empty: stay
    assert kind.step(at, doc_page(three, "c2"), None) == Step(
        0, 3, {"cursor": "c2", "skip": 0}, False
    )
    # no next cursor: stay on this page, remembering what was read
    assert kind.step(at, doc_page(three), None) == Step(0, 3, {"cursor": "c1", "skip": 3}, True)
    assert kind.step(at, doc_page(three, ""), None) == Step(0, 3, {"cursor": "c1", "skip": 3}, True)
    assert kind.step(at, doc_page(three, "c1"), None) == Step(
        0, 3, {"cursor": "c1", "skip": 3}, True
    )  # the same cursor again
    # a budget cuts inside the page
    assert kind.step(at, doc_page(three, "c2"), 2) == Step(0, 2, {"cursor": "c1", "skip": 2}, False)
    assert kind.step(at, doc_page(three, "c2"), 0) == Step(0, 1, {"cursor": "c1", "skip": 1}, False)
    cut = {"cursor": "c1", "skip": 2}
    assert kind.step(cut, doc_page(three, "c2"), 5) == Step(
        2, 3, {"cursor": "c2", "skip": 0}, False
    )
    assert kind.step(cut, doc_page(three, "c2"), 1) == Step(
        2, 3, {"cursor": "c2", "skip": 0}, False
    )
    # the page was read to its end before and has not grown
    done = {"cursor": "c1", "skip": 3}
    assert kind.step(done, doc_page(three), None) == Step(0, 0, done, True)
    # ... and it grew
    assert kind.step(done, doc_page([*three, "d", "e"]), None) == Step(
        3, 5, {"cursor": "c1", "skip": 5}, True
    )
    assert kind.step(done, doc_page([*three, "d"], "c2"), None) == Step(
        3, 4, {"cursor": "c2", "skip": 0}, False
    )


def test_cursor_next_from_path_and_header() -> None:
    kind = cursor(offsetPath="$.meta.next")
    page = Page([1], {"meta": {"next": ["x", "y"]}}, {}, URL, 200)
    assert kind.next_cursor(page) == "y"
    assert kind.next_cursor(Page([1], {"meta": {"next": 7}}, {}, URL, 200)) == 7
    assert kind.next_cursor(Page([1], {"meta": {}}, {}, URL, 200)) is None
    header = cursor(offsetHeader="X-Next-Cursor")
    assert header.next_cursor(page_of([1], **{"x-next-cursor": "h2"})) == "h2"
    assert header.next_cursor(page_of([1], **{"x-next-cursor": ""})) is None
    assert header.next_cursor(page_of([1])) is None


# --- link -------------------------------------------------------------------------------------


def link(**raw: str) -> LinkOffset:
    kind = kind_of(offsetType="link", **raw)
    assert isinstance(kind, LinkOffset)
    return kind


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://a.io/x?page=2>; rel="next"', "https://a.io/x?page=2"),
        ("<https://a.io/x?page=2>; rel=next", "https://a.io/x?page=2"),
        ('<https://a.io/x?page=2>;rel="next"', "https://a.io/x?page=2"),
        ('<https://a.io/x?page=2>; REL="Next"', "https://a.io/x?page=2"),
        ('<https://a.io/x?page=2>; rel="next last"', "https://a.io/x?page=2"),
        (
            '<https://a.io/x?page=1>; rel="prev", <https://a.io/x?page=3>; rel="next", '
            '<https://a.io/x?page=9>; rel="last"',
            "https://a.io/x?page=3",
        ),
        ('<https://a.io/x?page=1>; rel="prev"; title="next"', None),
        ('<https://a.io/x?ids=1,2&page=3>; rel="next"', "https://a.io/x?ids=1,2&page=3"),
        ('<https://a.io/x?page=9>; rel="last"', None),
        ('<https://a.io/x?page=9>; rel="nextpage"', None),
        ("", None),
    ],
)
def test_link_header_parsing(header: str, expected: str | None) -> None:
    here = "https://a.io/x?page=1"
    page = page_of([1], here, link=header) if header else page_of([1], here)
    assert link().next_cursor(page) == expected


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("?page=2", "https://api.example.com/v1/items?page=2"),
        ("items?page=2", "https://api.example.com/v1/items?page=2"),
        ("/v2/items?page=2", "https://api.example.com/v2/items?page=2"),
    ],
)
def test_link_relative_urls(target: str, expected: str) -> None:
    request_url = "https://api.example.com/v1/items?page=1"
    page = Page([1], [1], {"link": f'<{target}>; rel="next"'}, request_url, 200, b"", request_url)
    assert link().next_cursor(page) == expected


def test_a_next_link_to_another_origin_needs_follow_redirects_all() -> None:
    request_url = "https://api.example.com/v1/items?page=1"
    header = '<//other.example.com/items?page=2>; rel="next"'
    page = Page([1], [1], {"link": header}, request_url, 200, b"", request_url)
    with pytest.raises(RestOffsetError, match=r"another origin, https://other.example.com:443"):
        link().next_cursor(page)
    assert link(followRedirects="all").next_cursor(page) == "https://other.example.com/items?page=2"


def test_link_strips_api_key_param() -> None:
    kind = link(authType="apikey", apiKey="s3cret-key", apiKeyParam="api_key")
    request_url = "https://api.example.com/v1/items?api_key=s3cret-key&page=1"
    header = '</v1/items?page=2&api_key=s3cret-key&q=a+b>; rel="next"'
    page = Page([1], [1], {"link": header}, URL, 200, b"", request_url)
    assert kind.next_cursor(page) == "https://api.example.com/v1/items?page=2&q=a+b"


def test_link_request_and_step() -> None:
    kind = kind_of(url=URL + "?q={q}", offsetType="link")
    assert kind.initial() == {"cursor": "", "skip": 0}
    assert kind.request({"q": "x"}, kind.initial()) == RequestSpec("GET", URL + "?q=x")
    nxt = "https://api.example.com/items?q=x&page=2"
    assert kind.request({"q": "x"}, {"cursor": nxt, "skip": 0}) == RequestSpec("GET", nxt)
    page = page_of([1, 2], link=f'<{nxt}>; rel="next"')
    assert kind.step(kind.initial(), page, None) == Step(0, 2, {"cursor": nxt, "skip": 0}, False)
    assert kind.step({"cursor": nxt, "skip": 0}, page_of([3]), None) == Step(
        0, 1, {"cursor": nxt, "skip": 1}, True
    )


def test_link_walk_over_http_keeps_the_api_key_out_of_positions(httpx_mock: HTTPXMock) -> None:
    options = parse_options(
        {
            "url": "https://api.example.com/v1/items?q=x",
            "offsetType": "link",
            "authType": "apikey",
            "apiKey": "s3cret-key",
            "apiKeyParam": "api_key",
            "requestConcurrency": "1",
        }
    )
    first = "https://api.example.com/v1/items?q=x&api_key=s3cret-key"
    second = "https://api.example.com/v1/items?q=x&page=2&api_key=s3cret-key"
    third = "https://api.example.com/v1/items?q=x&page=3&api_key=s3cret-key"
    httpx_mock.add_response(
        url=first,
        json=[{"id": 1}, {"id": 2}],
        headers={"Link": '<?q=x&page=2&api_key=s3cret-key>; rel="next"'},
    )
    httpx_mock.add_response(
        url=second,
        json=[{"id": 3}],
        headers={"Link": '</v1/items?q=x&page=3>; rel="next", </v1/items?q=x>; rel="first"'},
    )
    httpx_mock.add_response(url=third, json=[{"id": 4}])
    kind = offset_kind(options)
    with PageFetcher(options) as fetcher:
        walk = Walk(kind, fetcher, {}, kind.initial())
        records = [r["id"] for w in walk for r in w.records]
    assert records == [1, 2, 3, 4]
    assert walk.position == {
        "cursor": "https://api.example.com/v1/items?q=x&page=3",
        "skip": 1,
    }
    assert walk.caught_up is True
    assert [str(r.url) for r in httpx_mock.get_requests()] == [first, second, third]


# --- bad offsets, StopChain -------------------------------------------------------------------


def test_bad_offset_raises_or_stops() -> None:
    with pytest.raises(RestOffsetError) as info:
        cursor().bad_offset("went backwards")
    assert str(info.value) == (
        "went backwards (set onBadOffset=stop to stop the stream there instead)"
    )
    with pytest.raises(StopChain):
        cursor(onBadOffset="stop").bad_offset("went backwards")


# --- Walk -------------------------------------------------------------------------------------


def chain_api(pages: dict[str, tuple[list[Any], str | None]]) -> FakeApi:
    """Cursor → (records, next cursor) of a chain; the empty cursor is the first page."""

    def handler(path: str, params: dict[str, str]) -> Any:
        records, following = pages[params.get("cursor", "")]
        return {"items": records, "cursor": following}

    return FakeApi(handler, records_path="$.items")


CHAIN = {
    "": ([1, 2, 3], "c1"),
    "c1": ([4, 5, 6], "c2"),
    "c2": ([7], "c3"),
    "c3": ([8, 9], None),
}


def test_walk_to_the_end_of_the_chain() -> None:
    api = chain_api(CHAIN)
    kind = cursor()
    walk = Walk(kind, api, {}, kind.initial())
    pages = list(walk)
    assert [w.records for w in pages] == [[1, 2, 3], [4, 5, 6], [7], [8, 9]]
    assert walk.position == {"cursor": "c3", "skip": 2}
    assert (walk.caught_up, walk.records, walk.pages) == (True, 9, 4)
    assert [p.get("cursor", "") for p in api.requests] == ["", "c1", "c2", "c3"]
    # nothing new: one request, no pages, same position
    again = Walk(kind, api, {}, walk.position)
    assert list(again) == []
    assert (again.position, again.caught_up, again.pages) == (walk.position, True, 1)


def test_walk_stops_at_end() -> None:
    api = chain_api(CHAIN)
    kind = cursor()
    end = {"cursor": "c2", "skip": 0}
    walk = Walk(kind, api, {}, kind.initial(), end=end)
    assert [r for w in walk for r in w.records] == [1, 2, 3, 4, 5, 6]
    assert walk.position == end and walk.caught_up is False
    assert len(api.requests) == 2
    at_end = Walk(kind, api, {}, end, end=end)
    assert list(at_end) == [] and at_end.pages == 0


def test_walk_stops_at_max_records() -> None:
    api = chain_api(CHAIN)
    kind = cursor()
    walk = Walk(kind, api, {}, kind.initial(), max_records=5)
    assert [(w.first, w.stop, w.records) for w in walk] == [(0, 3, [1, 2, 3]), (0, 2, [4, 5])]
    assert walk.position == {"cursor": "c1", "skip": 2}
    assert (walk.records, walk.caught_up) == (5, False)
    rest = Walk(kind, api, {}, walk.position, max_records=5)
    assert [r for w in rest for r in w.records] == [6, 7, 8, 9]
    assert rest.position == {"cursor": "c3", "skip": 2} and rest.caught_up is True


def test_walk_in_budgets_reads_the_chain_once() -> None:
    kind = cursor()
    for budget in range(1, 11):
        api = chain_api(CHAIN)
        position, got = kind.initial(), []
        for _ in range(20):
            walk = Walk(kind, api, {}, position, max_records=budget)
            batch = [r for w in walk for r in w.records]
            assert len(batch) <= budget
            got += batch
            position = walk.position
            if walk.caught_up:
                break
        assert got == list(range(1, 10))
        assert position == {"cursor": "c3", "skip": 2}


def test_walk_stops_at_max_pages() -> None:
    api = chain_api(CHAIN)
    kind = cursor()
    walk = Walk(kind, api, {}, kind.initial(), max_pages=2, keep_body=True)
    pages = list(walk)
    assert [w.records for w in pages] == [[1, 2, 3], [4, 5, 6]]
    assert orjson.loads(pages[0].page.body) == {"items": [1, 2, 3], "cursor": "c1"}
    assert api.kept_bodies == 2
    assert walk.position == {"cursor": "c2", "skip": 0}
    assert (walk.pages, walk.caught_up) == (2, False)


def test_walk_detects_loops() -> None:
    loop = {"": ([1], "c1"), "c1": ([2], "c2"), "c2": ([3], "c1")}
    kind = cursor()
    with pytest.raises(RestOffsetError) as info:
        list(Walk(kind, chain_api(loop), {}, kind.initial()))
    assert str(info.value).startswith(
        'Offset loops: position {"cursor": "c1", "skip": 0} was seen before'
    )
    stop = cursor(onBadOffset="stop")
    walk = Walk(stop, chain_api(loop), {}, stop.initial())
    assert [r for w in walk for r in w.records] == [1, 2, 3]
    assert walk.position == {"cursor": "c1", "skip": 0}
    assert walk.caught_up is True


def test_walk_stops_on_a_bad_timestamp_under_stop() -> None:
    def stuck(path: str, params: dict[str, str]) -> Any:
        return {"data": [{"ts": 5}]}

    kind = timestamped(onBadOffset="stop")
    walk = Walk(kind, FakeApi(stuck, records_path="$.data[*]"), {}, 10)
    assert list(walk) == []
    assert (walk.position, walk.caught_up) == (10, True)


def test_cursor_walk_loop_is_detected() -> None:
    def loop(path: str, params: dict[str, str]) -> Any:
        return {"data": [{"id": 0}], "next": "b" if params.get("cursor") == "a" else "a"}

    with pytest.raises(RestOffsetError, match="Offset loops"):
        list(Walk(cursor(offsetPath="$.next"), FakeApi(loop, "$.data[*]"), {}, cursor().initial()))


def test_timestamp_page_cut_inside_equal_timestamps_loses_nothing() -> None:
    # every group of equal timestamps is smaller than a page: nothing may be lost
    events = [{"id": i, "ts": t} for i, t in enumerate([1, 2, 3, 3, 4, 5, 5, 6], start=1)]
    kind = timestamped()
    for limit in (3, 4, 5, 9):
        api = events_api(events, limit=limit)
        got = [e["id"] for e in flat(kind.read_range(api, {}, 0, 10))]
        assert got == [1, 2, 3, 4, 5, 6, 7, 8], limit


# --- review fixes: chains that grow, replays that must stop exactly at the logged end ---------


def growing_cursor_api(pages: dict[str, tuple[list[int], str | None]]) -> FakeApi:
    """A cursor API whose pages (ids, next cursor) the test changes between calls."""

    def handler(path: str, params: dict[str, str]) -> Any:
        ids, following = pages[params.get("cursor", "")]
        return {"data": [{"id": i} for i in ids], "next": following}

    return FakeApi(handler, records_path="$.data[*]")


def test_a_page_read_to_its_end_that_later_names_a_next_cursor_is_followed() -> None:
    kind = cursor(offsetPath="$.next", recordsPath="$.data[*]")
    pages: dict[str, tuple[list[int], str | None]] = {"": ([1, 2, 3], None)}
    api = growing_cursor_api(pages)
    first = Walk(kind, api, {}, kind.initial())
    assert [r["id"] for w in first for r in w.records] == [1, 2, 3]
    assert first.position == {"cursor": "", "skip": 3}
    pages[""] = ([1, 2, 3], "p2")  # the full page now links to a next one
    pages["p2"] = ([4, 5], None)
    second = Walk(kind, api, {}, first.position)
    assert [r["id"] for w in second for r in w.records] == [4, 5]
    assert second.position == {"cursor": "p2", "skip": 2}


def test_replay_of_a_batch_cut_inside_a_page_stops_at_the_logged_end() -> None:
    kind = cursor(offsetPath="$.next", recordsPath="$.data[*]")
    pages: dict[str, tuple[list[int], str | None]] = {"": ([1, 2, 3, 4, 5], "p2")}
    api = growing_cursor_api(pages)
    logged = Walk(kind, api, {}, kind.initial(), max_records=2)
    assert [r["id"] for w in logged for r in w.records] == [1, 2]
    replay = Walk(kind, api, {}, kind.initial(), end=logged.position)
    assert [r["id"] for w in replay for r in w.records] == [1, 2]
    assert replay.position == logged.position == {"cursor": "", "skip": 2}


def test_replay_of_a_caught_up_batch_after_its_page_grew_stops_at_the_logged_end() -> None:
    kind = cursor(offsetPath="$.next", recordsPath="$.data[*]")
    pages: dict[str, tuple[list[int], str | None]] = {"": ([1, 2], None)}
    api = growing_cursor_api(pages)
    logged = Walk(kind, api, {}, kind.initial())
    assert [r["id"] for w in logged for r in w.records] == [1, 2]
    assert logged.position == {"cursor": "", "skip": 2} and logged.caught_up
    pages[""] = ([1, 2, 3], None)  # grew before the restart
    replay = Walk(kind, api, {}, kind.initial(), end=logged.position)
    assert [r["id"] for w in replay for r in w.records] == [1, 2]
    after = Walk(kind, api, {}, replay.position)
    assert [r["id"] for w in after for r in w.records] == [3]


def after_last_id_api(rows: list[int], limit: int) -> FakeApi:
    """Stripe's shape: `?cursor=<last id>` pages on, and every page names its last id."""

    def handler(path: str, params: dict[str, str]) -> Any:
        after = int(params.get("cursor") or 0)
        data = [i for i in rows if i > after][:limit]
        return {"data": [{"id": i} for i in data], "next": str(data[-1]) if data else None}

    return FakeApi(handler, records_path="$.data[*]")


def test_replay_of_a_grown_last_page_that_names_another_cursor_takes_the_logged_count() -> None:
    kind = cursor(offsetPath="$.next", recordsPath="$.data[*]")
    rows = list(range(1, 8))  # pages of 5 and 2: the second can grow
    api = after_last_id_api(rows, limit=5)
    logged = Walk(kind, api, {}, kind.initial())
    assert [r["id"] for w in logged for r in w.records] == rows
    assert logged.position == {"cursor": "7", "skip": 0}
    rows.extend([8, 9])  # the last page grew, and now names "9"
    strict = Walk(kind, api, {}, kind.initial(), end=logged.position)
    assert len([r for w in strict for r in w.records]) == 9 and strict.position != logged.position
    replay = Walk(kind, api, {}, kind.initial(), end=logged.position, expected=logged.records)
    assert [r["id"] for w in replay for r in w.records] == list(range(1, 8))
    assert replay.position == logged.position
    after = Walk(kind, api, {}, replay.position)
    assert [r["id"] for w in after for r in w.records] == [8, 9]


def test_replay_takes_the_logged_count_when_appends_raced_the_walk() -> None:
    kind = cursor(offsetPath="$.next", recordsPath="$.data[*]")
    rows = [1, 2, 3]
    api = after_last_id_api(rows, limit=5)
    first = api.fetch(kind.request({}, kind.initial()))  # page 1 is partial: [1, 2, 3]
    rows.extend([4, 5, 6])  # then records arrive before the walk asks for the next page
    logged = Walk(kind, api, {}, {"cursor": "3", "skip": 0})
    assert [r["id"] for w in logged for r in w.records] == [4, 5, 6]
    start, taken = kind.initial(), len(first.records) + logged.records
    replay = Walk(kind, api, {}, start, end=logged.position, expected=taken)
    assert [r["id"] for w in replay for r in w.records] == [1, 2, 3, 4, 5, 6]
    assert replay.position == logged.position


def test_replay_of_a_timestamp_chain_whose_last_page_grew_takes_the_logged_count() -> None:
    events = [{"id": i, "ts": 100 + i} for i in range(1, 5)]

    def handler(path: str, params: dict[str, str]) -> Any:
        kept = [e for e in events if e["ts"] > int(params["since"])][:3]
        return {"data": kept, "next": kept[-1]["ts"] if kept else None}

    kind = kind_of(offsetType="timestamp", offsetField="since", offsetPath="$.next")
    api = FakeApi(handler, records_path="$.data[*]")
    logged = Walk(kind, api, {}, 100)
    assert [r["id"] for w in logged for r in w.records] == [1, 2, 3, 4]
    assert logged.position == 104
    events.append({"id": 5, "ts": 105})  # the last page grew and names 105
    replay = Walk(kind, api, {}, 100, end=104, expected=logged.records)
    assert [r["id"] for w in replay for r in w.records] == [1, 2, 3, 4]
    assert replay.position == 104


def test_a_replay_that_finds_fewer_records_than_logged_reaches_the_end_short_of_its_count() -> None:
    kind = cursor(offsetPath="$.next", recordsPath="$.data[*]")
    rows = list(range(1, 8))
    api = after_last_id_api(rows, limit=5)
    logged = Walk(kind, api, {}, kind.initial())
    assert len([r for w in logged for r in w.records]) == 7
    del rows[2]  # the API lost a record
    replay = Walk(kind, api, {}, kind.initial(), end=logged.position, expected=logged.records)
    list(replay)
    assert replay.position == logged.position  # only the count tells (`_pages` fails on it)
    assert replay.records == 6 < replay.expected == 7


def test_fractional_second_timestamps_are_never_read_twice() -> None:
    events = [{"id": i, "ts": t} for i, t in enumerate([100.25, 100.5, 100.75, 101.5], start=1)]
    kind = timestamped()
    api = events_api(events, limit=2)
    walk = Walk(kind, api, {}, 100, max_records=10)
    assert [r["id"] for w in walk for r in w.records] == [1, 2, 3, 4]
    assert walk.position == 101.5
    parts = kind.split(100, 101.5, 3)
    assert parts[0][0] == 100 and parts[-1][1] == 101.5
    got = [
        e["id"] for lo, hi in parts for e in flat(kind.read_range(events_api(events), {}, lo, hi))
    ]
    assert got == [1, 2, 3, 4]


# --- body links -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "document", "expected"),
    [
        (
            "$.next_url",
            {"next_url": "/v1/items?after=9"},
            "https://api.example.com/v1/items?after=9",
        ),
        (
            '$."@odata.nextLink"',
            {"@odata.nextLink": "https://api.example.com/v1/items?$skip=10"},
            "https://api.example.com/v1/items?$skip=10",
        ),
        ("$._links.next.href", {"_links": {"next": {"href": "?page=2"}}}, URL + "?page=2"),
        ("$.links.next", {"links": {"next": None}}, None),
        ("$.nextRecordsUrl", {"nextRecordsUrl": ""}, None),
    ],
)
def test_body_link_next_url(path: str, document: dict[str, Any], expected: str | None) -> None:
    kind = kind_of(offsetType="link", offsetPath=path)
    assert isinstance(kind, BodyLinkOffset)
    page = Page([1], document, {}, URL, 200, b"", URL + "?page=1")
    assert kind.next_cursor(page) == expected


def test_body_link_rejects_a_value_that_is_not_a_url() -> None:
    kind = kind_of(offsetType="link", offsetPath="$.next")
    page = Page([1], {"next": 7}, {}, URL, 200, b"", URL)
    with pytest.raises(RestOffsetError, match=r"offsetPath=\$\.next gives 7, not a URL"):
        kind.next_cursor(page)
    page = Page([1], {"next": "javascript:alert(1)"}, {}, URL, 200, b"", URL)
    with pytest.raises(RestOffsetError, match="not http"):
        kind.next_cursor(page)


def test_body_link_keeps_the_api_key_out_of_stored_urls() -> None:
    kind = kind_of(
        offsetType="link",
        offsetPath="$.next_url",
        authType="apikey",
        apiKey="s3cret-key",
        apiKeyParam="api_key",
    )
    page = Page([1], {"next_url": "/v1/items?after=3&api_key=s3cret-key"}, {}, URL, 200, b"", URL)
    assert kind.next_cursor(page) == "https://api.example.com/v1/items?after=3"


def test_body_link_walk_replays_a_grown_last_page_without_duplicates() -> None:
    rows = [{"id": i} for i in range(1, 8)]

    def handler(path: str, params: dict[str, str]) -> Any:
        after = int(params.get("after", 0))
        data = [r for r in rows if r["id"] > after][:3]
        more = data and data[-1]["id"] < rows[-1]["id"]
        return {"data": data, "next_url": f"/items?after={data[-1]['id']}" if more else None}

    kind = kind_of(url=URL, offsetType="link", offsetPath="$.next_url")
    api = FakeApi(handler, "$.data[*]")
    walk = Walk(kind, api, {}, kind.initial())
    assert [r["id"] for w in walk for r in w.records] == [1, 2, 3, 4, 5, 6, 7]
    assert walk.position == {"cursor": "https://api.example.com/items?after=6", "skip": 1}
    rows.extend({"id": i} for i in range(8, 11))
    again = Walk(kind, api, {}, walk.position)
    assert [r["id"] for w in again for r in w.records] == [8, 9, 10]


# --- a next position that is absent is not an end -----------------------------------------------


def keyed_chain(next_key: str, last: str = "absent") -> Callable[[str, dict[str, str]], Any]:
    """Cursor chains over 7 records, 3 a page, whose next cursor is at `next_key`; the last
    page names none with null ("null") or leaves the key out ("absent", OData's way)."""
    rows = list(range(1, 8))

    def handler(path: str, params: dict[str, str]) -> Any:
        after = int(params.get("cursor") or 0)
        data = [r for r in rows if r > after][:3]
        page: dict[str, Any] = {"data": data}
        if data and data[-1] < rows[-1]:
            page[next_key] = str(data[-1])
        elif last == "null":
            page[next_key] = None
        return page

    return handler


def test_a_cursor_path_that_matches_nothing_on_the_first_page_fails() -> None:
    """A typo in offsetPath: the chain would stop after its first page and stall there,
    silently. The walk fails instead, and the position has not moved."""
    api = FakeApi(keyed_chain("next_cursor"), "$.data[*]")
    kind = cursor(offsetPath="$.next_cursr")
    walk = Walk(kind, api, {}, kind.initial())
    with pytest.raises(RestOffsetError) as info:
        list(walk)
    assert str(info.value).startswith(
        f"{URL} names no next page: offsetPath=$.next_cursr matches nothing on the "
        "stream's first page (the key is absent;"
    )
    assert walk.position == kind.initial() and walk.records == 0


@pytest.mark.parametrize("last", ["null", "absent"])
def test_a_chain_ends_on_null_or_on_a_key_left_out_after_the_chain_has_shown_it(last: str) -> None:
    api = FakeApi(keyed_chain("next_cursor", last), "$.data[*]")
    kind = cursor(offsetPath="$.next_cursor")
    walk = Walk(kind, api, {}, kind.initial())
    assert [r for w in walk for r in w.records] == [1, 2, 3, 4, 5, 6, 7]
    assert (walk.position, walk.caught_up) == ({"cursor": "6", "skip": 1}, True)


def test_a_first_page_that_names_no_next_page_with_null_is_the_end() -> None:
    def one_page(path: str, params: dict[str, str]) -> Any:
        return {"data": [1, 2], "next_cursor": None}

    walk = Walk(cursor(offsetPath="$.next_cursor"), FakeApi(one_page, "$.data"), {}, {"cursor": ""})
    assert [r for w in walk for r in w.records] == [1, 2]
    assert (walk.position, walk.caught_up) == ({"cursor": "", "skip": 2}, True)


def test_an_empty_first_page_without_the_key_is_nothing_yet() -> None:
    def empty(path: str, params: dict[str, str]) -> Any:
        return {"value": []}

    kind = kind_of(offsetType="link", offsetPath='$."@odata.nextLink"')
    walk = Walk(kind, FakeApi(empty, "$.value[*]"), {}, kind.initial())
    assert list(walk) == [] and walk.caught_up is True


def test_a_key_left_out_on_the_first_page_ends_the_chain_under_stop_or_a_stop_condition() -> None:
    def one_page(path: str, params: dict[str, str]) -> Any:
        return {"data": [1, 2], "has_more": False}

    for kind in (
        cursor(offsetPath="$.next_cursor", onBadOffset="stop"),
        cursor(offsetPath="$.next_cursor", hasMorePath="$.has_more"),
    ):
        walk = Walk(kind, FakeApi(one_page, "$.data"), {}, kind.initial())
        assert [r for w in walk for r in w.records] == [1, 2]  # read, then the end
        assert (walk.position, walk.caught_up) == ({"cursor": "", "skip": 2}, True)


def test_a_body_link_path_that_matches_nothing_on_the_first_page_fails() -> None:
    def handler(path: str, params: dict[str, str]) -> Any:
        return {"data": [{"id": 1}], "next_url": "/items?after=1"}

    kind = kind_of(offsetType="link", offsetPath="$.next_ulr")
    with pytest.raises(RestOffsetError, match=r"offsetPath=\$\.next_ulr matches nothing"):
        list(Walk(kind, FakeApi(handler, "$.data[*]"), {}, kind.initial()))


def test_no_link_header_is_the_end_of_a_link_chain() -> None:
    kind = link()
    walk = Walk(kind, FakeApi(lambda path, params: [{"id": 1}]), {}, kind.initial())
    assert [r["id"] for w in walk for r in w.records] == [1]
    assert walk.caught_up is True


# --- offset / limit ---------------------------------------------------------------------------


def offsets_api(count: int) -> FakeApi:
    def handler(path: str, params: dict[str, str]) -> Any:
        offset, limit = int(params["offset"]), int(params["limit"])
        return {"data": [{"id": i} for i in range(offset, min(count, offset + limit))]}

    return FakeApi(handler, "$.data[*]")


def test_offset_kind_requests_exact_offsets_and_reads_partial_pages() -> None:
    kind = kind_of(url=URL + "?limit=10", offsetType="offset", offsetField="offset", pageSize="10")
    assert isinstance(kind, RecordOffset)
    assert kind.request({}, 25) == RequestSpec("GET", URL + "?limit=10", params=(("offset", "25"),))
    api = offsets_api(47)
    assert [r["id"] for r in flat(kind.read_range(api, {}, 5, 47))] == list(range(5, 47))
    assert [p["offset"] for p in api.requests] == ["5", "15", "25", "35", "45"]
    shifted = kind_of(
        url=URL + "?limit=10",
        offsetType="offset",
        offsetField="offset",
        pageSize="10",
        initialOffset="100",
    )
    assert shifted.request({}, 3).params == (("offset", "103"),)
    assert shifted.end_from_probe(130) == 30


def test_offset_kind_split_cover_and_replay() -> None:
    kind = kind_of(url=URL + "?limit=10", offsetType="offset", offsetField="offset", pageSize="10")
    ranges = kind.split(3, 95, 4)
    assert_exact_cover(ranges, 3, 95, 4)
    api = offsets_api(95)
    once = [r["id"] for lo, hi in ranges for r in flat(kind.read_range(api, {}, lo, hi))]
    assert once == list(range(3, 95))


# --- timestamps: the unit still filling -------------------------------------------------------


def test_timestamp_walk_holds_back_the_second_still_filling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rest_stream.positions import times

    monkeypatch.setattr(times, "now_micros", lambda: 1_000_000_500_000)  # t = 1 000 000.5 s
    events = [{"id": 1, "ts": 999_998}, {"id": 2, "ts": 999_999}, {"id": 3, "ts": 1_000_000}]
    kind = timestamped()
    api = events_api(events)
    page = api.fetch(kind.request({}, 0))
    step = kind.step(0, page, None)
    # 1 000 000 is the current second: records may still join it, so it is not read yet
    assert (step.first, step.stop, step.next, step.caught_up) == (0, 2, 999_999, True)
    chain = kind_of(offsetType="timestamp", offsetField="since", offsetPath="$.next")
    named = Page([1], {"next": 1_000_000}, {}, URL, 200, b"", URL)  # e.g. the server's clock
    assert chain.step(999_999, named, None) == Step(0, 1, 1_000_000, False)  # trusted


def test_one_byte_budget_bounds_the_pages_walked_across_streams() -> None:
    from rest_stream.driver.walk_cache import ByteBudget

    def pages(path: str, params: dict[str, str]) -> Any:
        at = int(params.get("cursor") or 0)
        return {"data": [{"id": at + i} for i in range(10)], "next": str(at + 10)}

    kind = cursor(offsetPath="$.next")
    budget = ByteBudget(1000)
    walks = [
        Walk(
            kind,
            FakeApi(pages, "$.data[*]"),
            {},
            kind.initial(),
            keep_body=True,
            byte_budget=budget,
        )
        for _ in range(3)
    ]
    walked = [list(w) for w in walks]
    page_size = len(orjson.dumps(pages("", {})))
    assert budget.spent >= 1000 and budget.spent < 1000 + page_size  # stops after crossing it
    assert sum(len(w) for w in walked) == -(-1000 // page_size)
    assert not any(w.caught_up for w in walks)  # stopped by the budget, not the API: next poll


def test_a_followed_next_link_to_another_origin_is_sent_without_credentials() -> None:
    kind = kind_of(
        url="https://{tenant}.example.com/items",
        offsetType="link",
        followRedirects="all",
        authType="bearer",
        oauthToken="t0k-xyz",
    )
    row = {"tenant": "acme"}
    home = kind.request(row, {"cursor": "https://acme.example.com/items?page=2", "skip": 0})
    away = kind.request(row, {"cursor": "https://evil.example.net/items?page=2", "skip": 0})
    assert home.credentials is True
    assert away.credentials is False
    # a stream replayed from its key alone (no `tenant`): the first origin is unknown
    unknown = kind.request({}, {"cursor": "https://acme.example.com/items?page=2", "skip": 0})
    assert unknown.credentials is False
    plain = kind_of(url="https://api.example.com/{kind}", offsetType="link")
    kept = plain.request({}, {"cursor": "https://api.example.com/x?page=2", "skip": 0})
    assert kept.credentials is True
