"""EndFinder: the end of a splittable stream from a probe, the clock, or a search."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pytest_httpx import HTTPXMock

from rest_stream.decoders.jsonpath import compile_path, extract_records
from rest_stream.driver.ends import EndFinder
from rest_stream.driver.page_size import PageSizeCheck
from rest_stream.errors import RestHTTPError, RestOffsetError
from rest_stream.http.pages import Page, PageFetcher
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import parse_options
from rest_stream.positions import OffsetKind, offset_kind, times

URL = "https://api.example.com/items"
PROBE = "https://api.example.com/stats"
Handler = Callable[[str, dict[str, str]], Any]


class FakeApi:
    """`fetch`/`fetch_ordered` over `handler(path, params) -> document`; records every request."""

    def __init__(self, handler: Handler, records_path: str | None = None) -> None:
        self.handler = handler
        self.rounds = 0  # calls of fetch_ordered: requests sent at once count as one round
        self.records_path = compile_path(records_path) if records_path else None
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def fetch(self, spec: RequestSpec, *, keep_body: bool = False, records: bool = True) -> Page:
        parts = urlsplit(spec.url)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        params.update(spec.params)
        self.requests.append((spec.method, parts.path, params))
        document = self.handler(parts.path, params)
        found = extract_records(document, self.records_path) if records else []
        return Page(found, document, {}, spec.url, 200, b"", spec.url)

    def fetch_ordered(self, specs: Iterable[RequestSpec]) -> Iterator[Page]:
        self.rounds += 1
        for spec in specs:
            yield self.fetch(spec)


def kind_of(**raw: str) -> OffsetKind:
    return offset_kind(parse_options({"url": URL, **raw}))


def incremental(**raw: str) -> OffsetKind:
    """An incremental kind; searches ask one id at a time unless requestConcurrency says."""
    raw = {"requestConcurrency": "1", **raw}
    return kind_of(offsetType="incremental", offsetField="since", **raw)


def paged(size: int = 10, **raw: str) -> OffsetKind:
    """A page kind; searches ask one page at a time unless requestConcurrency says."""
    raw = {"requestConcurrency": "1", **raw}
    return kind_of(offsetType="page", offsetField="page", pageSize=str(size), **raw)


def ids_api(ids: list[int], limit: int = 5) -> FakeApi:
    ordered = sorted(ids)

    def handler(path: str, params: dict[str, str]) -> Any:
        first = bisect.bisect_left(ordered, int(params["since"]))
        return [{"id": i} for i in ordered[first : first + limit]]

    return FakeApi(handler)


def pages_api(count: int, size: int = 10, first: int = 1) -> FakeApi:
    def handler(path: str, params: dict[str, str]) -> Any:
        number = int(params["page"]) - first
        low, high = number * size, min(count, (number + 1) * size)
        return {"items": [{"n": i} for i in range(max(0, low), high)] if number >= 0 else []}

    return FakeApi(handler)


def bound(span: int) -> float:
    return 2 * math.log2(max(2, span)) + 4


# --- probe ------------------------------------------------------------------------------------


def probe_api(document: Any, pages: int = 0) -> FakeApi:
    def handler(path: str, params: dict[str, str]) -> Any:
        if path.startswith("/stats"):
            return document
        number = int(params["page"])
        return {"items": list(range(7 if number == pages else 10))}

    return FakeApi(handler)


def test_probe_incremental() -> None:
    kind = incremental(latestOffsetUrl=PROBE + "/{region}", latestOffsetPath="$.max_id")
    api = probe_api({"max_id": 41})
    finder = EndFinder(kind, api)
    assert finder.end({"region": "eu", "lang": "en"}, 0) == 42
    assert api.requests == [("GET", "/stats/eu", {"lang": "en"})]
    assert finder.requests == 1
    assert finder.end({"region": "eu"}, 50) == 50  # never before start
    assert EndFinder(kind, probe_api({"max_id": [3, "17"]})).end({"region": "eu"}, 0) == 18


def test_probe_is_a_get_even_for_post_apis() -> None:
    kind = incremental(method="POST", latestOffsetUrl=PROBE, latestOffsetPath="$.max")
    api = probe_api({"max": 9})
    assert EndFinder(kind, api).end({"q": "x"}, 0) == 10
    assert api.requests == [("GET", "/stats", {"q": "x"})]


@pytest.mark.parametrize("document", [[], {}])
def test_probe_of_nothing_is_no_data(document: Any) -> None:
    kind = incremental(latestOffsetUrl=PROBE, latestOffsetPath="$.max_id")
    assert EndFinder(kind, probe_api(document)).end({}, 5) == 5


def test_probe_without_value_names_the_path() -> None:
    kind = incremental(latestOffsetUrl=PROBE, latestOffsetPath="$.max_id")
    with pytest.raises(RestOffsetError) as info:
        EndFinder(kind, probe_api({"other": 1})).end({}, 0)
    assert str(info.value) == (
        f"{PROBE} has no value at latestOffsetPath=$.max_id (the path matches nothing; null "
        "there would say there are no records yet): check latestOffsetPath; response starts: "
        "\"{'other': 1}\""
    )


PROBED = {
    "incremental": {"offsetType": "incremental"},
    "timestamp": {"offsetType": "timestamp", "recordOffsetPath": "$.t"},
    "page": {"offsetType": "page", "pageSize": "10"},
    "offset": {"offsetType": "offset", "pageSize": "10"},
}


@pytest.mark.parametrize("offset_type", list(PROBED))
def test_a_probe_whose_path_matches_nothing_fails_for_every_kind(offset_type: str) -> None:
    """A typo in latestOffsetPath (or an error object) never reads as "no records yet": the
    stream would stall silently on a timestamp, or skip nothing but never move."""
    raw = {"offsetField": "since", "latestOffsetUrl": PROBE, "latestOffsetPath": "$.max"}
    kind = kind_of(**PROBED[offset_type], **raw)
    for document in ({"mx": 41}, {"error": "quota"}, [{"max": 3}]):
        with pytest.raises(RestOffsetError, match=r"latestOffsetPath=\$\.max \(the path"):
            EndFinder(kind, probe_api(document)).end({}, kind.initial())


@pytest.mark.parametrize("offset_type", list(PROBED))
def test_a_probe_that_names_null_says_there_is_nothing_yet(offset_type: str) -> None:
    raw = {"offsetField": "since", "latestOffsetUrl": PROBE, "latestOffsetPath": "$.max"}
    kind = kind_of(**PROBED[offset_type], **raw)
    start = kind.initial()
    for document in ({"max": None}, {"max": []}, [], {}):
        assert EndFinder(kind, probe_api(document)).end({}, start) == start


def test_probe_page() -> None:
    kind = paged(latestOffsetUrl=PROBE, latestOffsetPath="$.last_page")
    api = probe_api({"last_page": 5}, pages=5)
    finder = EndFinder(kind, api)
    assert finder.end({}, 0) == 47  # 4 full pages and 7 records on page 5
    assert [r[2] for r in api.requests] == [{}, {"page": "5"}]
    assert finder.requests == 2
    assert EndFinder(kind, probe_api({"last_page": 0})).end({}, 0) == 0
    assert EndFinder(kind, probe_api({"last_page": 5}, pages=5)).end({}, 60) == 60


def test_probe_timestamp() -> None:
    raw = {"latestOffsetUrl": PROBE, "latestOffsetPath": "$.newest", "recordOffsetPath": "$.t"}
    kind = kind_of(offsetType="timestamp", offsetField="since", **raw)
    assert EndFinder(kind, probe_api({"newest": "1700000000"})).end({}, 0) == 1700000000
    assert EndFinder(kind, probe_api({"newest": None})).end({}, 100) == 100
    iso = kind_of(offsetType="timestamp", offsetField="since", timestampFormat="iso8601", **raw)
    api = probe_api({"newest": "2024-01-02T03:04:05+01:00"})
    assert EndFinder(iso, api).end({}, "2024-01-01T00:00:00Z") == "2024-01-02T02:04:05+00:00"
    assert EndFinder(iso, api).end({}, "2025-01-01T00:00:00Z") == "2025-01-01T00:00:00Z"


def test_probe_over_http(httpx_mock: HTTPXMock) -> None:
    options = parse_options(
        {
            "url": URL,
            "method": "POST",
            "offsetType": "incremental",
            "offsetField": "since",
            "latestOffsetUrl": PROBE + "?scope={region}",
            "latestOffsetPath": "$.data.max",
            "authType": "bearer",
            "oauthToken": "tok-1",
        }
    )
    httpx_mock.add_response(
        method="GET", url=PROBE + "?scope=eu&lang=en", json={"data": {"max": 99}}
    )
    with PageFetcher(options) as fetcher:
        assert (
            EndFinder(offset_kind(options), fetcher).end({"region": "eu", "lang": "en"}, 0) == 100
        )
    request = httpx_mock.get_request()
    assert request is not None
    assert request.headers["authorization"] == "Bearer tok-1"


# --- clock ------------------------------------------------------------------------------------

NOW = 1_700_000_000_123_456


@pytest.mark.parametrize(
    ("fmt", "lag", "start", "expected"),
    [
        # the current second (millisecond) may still be filling: the end is the last whole one
        ("seconds", "0", 0, 1_699_999_999),
        ("seconds", "1.5", 0, 1_699_999_997),
        ("millis", "0.001", 0, 1_700_000_000_121),
        ("iso8601", "0", "1970-01-01T00:00:00Z", "2023-11-14T22:13:19Z"),
        ("iso8601", "60", "1970-01-01T00:00:00Z", "2023-11-14T22:12:19Z"),
        ("seconds", "0", 1_800_000_000, 1_800_000_000),  # never before start
    ],
)
def test_clock(
    monkeypatch: pytest.MonkeyPatch, fmt: str, lag: str, start: Any, expected: Any
) -> None:
    monkeypatch.setattr(times, "now_micros", lambda: NOW)
    kind = kind_of(
        offsetType="timestamp",
        offsetField="since",
        recordOffsetPath="$.ts",
        timestampFormat=fmt,
        timestampLagSeconds=lag,
    )
    api = FakeApi(lambda path, params: [])
    assert EndFinder(kind, api).end({}, start) == expected
    assert api.requests == []


def test_chain_kinds_have_no_end() -> None:
    for kind in (kind_of(offsetType="cursor", offsetField="c"), kind_of(offsetType="link")):
        with pytest.raises(TypeError, match="has no end to find"):
            EndFinder(kind, FakeApi(lambda path, params: [])).end({}, kind.initial())


# --- searching ids ----------------------------------------------------------------------------

rng = random.Random(7)
ID_SETS = {
    "empty": [],
    "single": [0],
    "single-far": [12345],
    "dense": list(range(1000)),
    "dense-offset": list(range(500, 1500)),
    "sparse": sorted(rng.sample(range(100_000), 300)),
    "gaps": [0, 1, 2, 1000, 1001, 50_000, 50_001, 999_999],
    "powers": [2**k for k in range(25)],
    "huge": [10**12, 10**12 + 7],
}


@pytest.mark.parametrize("name", sorted(ID_SETS))
@pytest.mark.parametrize("limit", [1, 5, 100])
def test_search_ids_finds_the_exact_end(name: str, limit: int) -> None:
    ids = ID_SETS[name]
    kind = incremental()
    starts = {0, 1, 3} | ({ids[0], ids[-1], ids[len(ids) // 2], ids[-1] + 1} if ids else set())
    for start in sorted(starts):
        api = ids_api(ids, limit)
        finder = EndFinder(kind, api)
        expected = max(ids) + 1 if any(i >= start for i in ids) else start
        assert finder.end({}, start) == expected, (name, limit, start)
        assert finder.requests == len(api.requests)
        assert finder.requests <= bound(expected - start), (name, limit, start, finder.requests)


def test_search_ids_request_count_is_logarithmic() -> None:
    for n in (1, 2, 3, 10, 100, 1000, 10**4, 10**5, 10**6):
        ids = list(range(n))
        api = ids_api(ids, limit=3)
        assert EndFinder(incremental(), api).end({}, 0) == n
        assert len(api.requests) <= bound(n), (n, len(api.requests))


def test_search_ids_on_an_empty_api_asks_once() -> None:
    api = ids_api([])
    assert EndFinder(incremental(initialOffset="5"), api).end({}, 5) == 5
    assert [r[2] for r in api.requests] == [{"since": "5"}]


# --- searching pages --------------------------------------------------------------------------

COUNTS = [0, 1, 9, 10, 11, 20, 40, 47, 99, 100, 101, 1000, 1005, 10_000, 123_457]


@pytest.mark.parametrize("count", COUNTS)
def test_search_pages_finds_the_exact_end(count: int) -> None:
    kind = paged()
    for start in sorted({0, 5, 10, count // 2, max(0, count - 1), count, count + 3, count + 25}):
        api = pages_api(count)
        finder = EndFinder(kind, api)
        assert finder.end({}, start) == max(start, count), (count, start)
        assert finder.requests == len(api.requests)
        pages = (max(start, count) - start) // 10 + 1
        assert finder.requests <= bound(pages), (count, start, finder.requests)
        numbers = [int(r[2]["page"]) for r in api.requests]
        assert len(numbers) == len(set(numbers))  # each page asked once


@pytest.mark.parametrize("count", [0, 7, 10, 30, 35, 1000])
def test_search_pages_from_page_zero(count: int) -> None:
    kind = paged(size=5, initialOffset="0")
    api = pages_api(count, size=5, first=0)
    assert EndFinder(kind, api).end({}, 0) == count
    assert int(api.requests[0][2]["page"]) == 0


def test_search_pages_request_count_is_logarithmic() -> None:
    for pages in (1, 2, 3, 10, 100, 1000, 10**4, 10**5):
        for extra in (0, 3):
            count = pages * 10 + extra
            api = pages_api(count)
            assert EndFinder(paged(), api).end({}, 0) == count
            assert len(api.requests) <= bound(pages + 1), (count, len(api.requests))


@pytest.mark.parametrize("offset_type", ["incremental", "timestamp"])
def test_probe_value_of_the_wrong_kind(offset_type: str) -> None:
    kind = kind_of(
        offsetType=offset_type,
        offsetField="since",
        recordOffsetPath="$.t",
        latestOffsetUrl=PROBE,
        latestOffsetPath="$.newest",
    )
    with pytest.raises(RestOffsetError, match=r"latestOffsetPath=\$\.newest"):
        EndFinder(kind, probe_api({"newest": "soon"})).end({}, 0)


@pytest.mark.parametrize("width", [2, 4, 8])
def test_concurrent_searches_find_the_same_end_in_fewer_rounds(width: int) -> None:
    for count in (0, 1, 9, 10, 11, 999, 1000, 12_345, 10**6):
        sequential, concurrent = pages_api(count), pages_api(count)
        assert EndFinder(paged(), sequential).end({}, 0) == count
        finder = EndFinder(paged(requestConcurrency=str(width)), concurrent)
        assert finder.end({}, 0) == count
        assert concurrent.rounds <= max(2, sequential.rounds), (count, width)
        if count >= 999:  # e.g. 100 000 pages: 34 sequential round trips, 13 with width 4
            assert concurrent.rounds <= sequential.rounds * 0.8, (count, width)
    ids = list(range(1, 50_001, 3))
    sequential, concurrent = ids_api(ids), ids_api(ids)
    assert EndFinder(incremental(), sequential).end({}, 0) == ids[-1] + 1
    finder = EndFinder(incremental(requestConcurrency=str(width)), concurrent)
    assert finder.end({}, 0) == ids[-1] + 1
    assert concurrent.rounds < sequential.rounds / 1.5


def test_an_id_search_against_an_api_that_ignores_the_offset_fails_instead_of_running_forever() -> (
    None
):
    kind = incremental()
    api = FakeApi(lambda path, params: [{"id": 1}, {"id": 2}])  # since_id ignored
    with pytest.raises(RestOffsetError, match="Offset does not advance"):
        EndFinder(kind, api).end({}, 0)
    assert len(api.requests) < 20


# --- a short last page is checked once: an API that caps its pages is not taken as ended ----


def capped_api(count: list[int], cap: int, kind: str = "page", clamp: bool = False) -> FakeApi:
    """Pages of at most `cap` records whatever `pageSize` asks; `count[0]` records in all.
    With `clamp`, a page past the end answers with the last page again."""

    def handler(path: str, params: dict[str, str]) -> Any:
        if kind == "page":
            low = (int(params["page"]) - 1) * cap
            if clamp and low >= count[0]:
                low = max(0, (count[0] - 1) // cap * cap)
        else:
            low = int(params["offset"])
        return {"items": [{"n": i} for i in range(low, min(count[0], low + cap))]}

    return FakeApi(handler)


def record_offsets(size: int = 10) -> OffsetKind:
    raw = {"requestConcurrency": "1", "pageSize": str(size)}
    return kind_of(offsetType="offset", offsetField="offset", **raw)


@pytest.mark.parametrize("make_kind", [paged, record_offsets], ids=["page", "offset"])
def test_an_api_that_serves_fewer_records_per_page_than_page_size_fails_the_search(
    make_kind: Callable[[], OffsetKind],
) -> None:
    kind = make_kind()
    api = capped_api([25], cap=4, kind=kind.name)
    with pytest.raises(RestOffsetError, match=r"fewer records per page than pageSize") as info:
        EndFinder(kind, api).end({}, 0)
    assert "returned 4 records, fewer than pageSize=10" in str(info.value)


@pytest.mark.parametrize("make_kind", [paged, record_offsets], ids=["page", "offset"])
def test_a_short_last_page_is_checked_once_until_it_changes(
    make_kind: Callable[[], OffsetKind],
) -> None:
    kind, count, checked = make_kind(), [7], PageSizeCheck()
    api = capped_api(count, cap=10, kind=kind.name)
    assert EndFinder(kind, api, checked).end({}, 0) == 7
    asked = len(api.requests)
    assert EndFinder(kind, api, checked).end({}, 7) == 7
    assert len(api.requests) == asked + 1  # only the page itself: its end was checked
    count[0] = 9
    assert EndFinder(kind, api, checked).end({}, 7) == 9
    assert len(api.requests) == asked + 3  # the page grew: what follows it is asked again
    count[0] = 25
    assert EndFinder(kind, api, checked).end({}, 9) == 25  # a full page shows on the way
    assert checked.known("{}") == "full"
    asked = len(api.requests)
    count[0] = 28
    assert EndFinder(kind, api, checked).end({}, 25) == 28
    assert len(api.requests) == asked + 1  # the API serves whole pages: no more checks


def test_a_page_that_fills_up_during_the_check_is_not_mistaken_for_a_capped_api() -> None:
    count = [15]
    inner = capped_api(count, cap=10)

    def growing(path: str, params: dict[str, str]) -> Any:
        if params["page"] == "3":
            count[0] = 25  # records arrive between the search and the check
        return inner.handler(path, params)

    assert EndFinder(paged(), FakeApi(growing)).end({}, 10) == 15


def test_an_api_that_repeats_its_last_page_past_the_end_is_not_mistaken_for_a_capped_one() -> None:
    api = capped_api([15], cap=10, clamp=True)
    assert EndFinder(paged(), api).end({}, 0) == 15


def test_an_api_that_answers_404_past_its_end_is_not_mistaken_for_a_capped_one() -> None:
    inner = capped_api([7], cap=10)

    def not_found_past_the_end(path: str, params: dict[str, str]) -> Any:
        if params["page"] != "1":
            raise RestHTTPError("GET", URL, 404, "no such page")
        return inner.handler(path, params)

    assert EndFinder(paged(), FakeApi(not_found_past_the_end)).end({}, 0) == 7


def test_a_cap_seen_once_but_not_again_is_not_raised() -> None:
    """A stale replica once: the page past the end had records, then it had none."""
    inner, answers = capped_api([7], cap=10), iter([[{"n": 99}], []])

    def flaky(path: str, params: dict[str, str]) -> Any:
        if params["page"] == "2":
            return {"items": next(answers)}
        return inner.handler(path, params)

    api = FakeApi(flaky)
    assert EndFinder(paged(), api).end({}, 0) == 7
    assert [r[2]["page"] for r in api.requests] == ["1", "2", "1", "2"]


def test_a_page_larger_than_page_size_fails_the_end_search_naming_both_sizes() -> None:
    """Not a bare KeyError: the search names the page and both sizes, wherever it meets it."""
    for count in (15, 40, 1000):
        api = pages_api(count, size=12)
        with pytest.raises(RestOffsetError, match=r"returned 12 records, more than pageSize=10"):
            EndFinder(paged(), api).end({}, 0)
    # with a probe of the last page number, that page is measured
    kind = paged(latestOffsetUrl=PROBE, latestOffsetPath="$.last_page")

    def handler(path: str, params: dict[str, str]) -> Any:
        return {"last_page": 3} if path.startswith("/stats") else {"items": list(range(11))}

    with pytest.raises(RestOffsetError, match=r"returned 11 records, more than pageSize=10"):
        EndFinder(kind, FakeApi(handler)).end({}, 0)

