"""Conditional GETs: validators sent again, a 304 answered with the kept response, what is
kept (2xx GETs with a validator, bounded in bytes, never `no-store` or `Vary: *`), and that
validators never reach another origin or another method."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestRedirectError
from rest_stream.http import conditional
from rest_stream.http.conditional import Kept, KeptResponses
from rest_stream.http.pages import PageFetcher
from rest_stream.http.ratelimit import budget_for, clear_budgets, origin_of
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import HttpSession, parse_json
from rest_stream.options.parse import parse_options

URL = "https://api.example.com/items"
OTHER = "https://other.example.com/items"
LAST_MODIFIED = "Sun, 06 Nov 1994 08:49:37 GMT"
DATE = "Sun, 06 Nov 1994 08:50:00 GMT"  # 23 s later: Last-Modified may be sent
BODY = orjson.dumps({"items": [{"id": 1}, {"id": 2}]})


class Sleeps(list[float]):
    """Records the waits instead of sleeping; `clock` moves with them."""

    now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.append(float(seconds))
        self.now += float(seconds)

    def clock(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_budgets() -> Iterator[None]:
    clear_budgets()
    yield
    clear_budgets()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def session(sleeps: Sleeps, *, keep_bytes: int = conditional.DEFAULT_MAX_BYTES, **raw: str):
    options = parse_options({"url": URL, "retryBackoffSeconds": "0.5", **raw})
    return HttpSession(options, sleep=sleeps, clock=sleeps.clock, keep_bytes=keep_bytes)


def get(url: str = URL, **kwargs: object) -> RequestSpec:
    return RequestSpec("GET", url, **kwargs)  # type: ignore[arg-type]


def validated(etag: str = '"v1"', **extra: str) -> dict[str, str]:
    """Headers of a response with both validators (`Date` a safe distance after
    `Last-Modified`)."""
    return {
        "Content-Type": "application/json",
        "ETag": etag,
        "Last-Modified": LAST_MODIFIED,
        "Date": DATE,
        **extra,
    }


def conditions(request: httpx.Request) -> dict[str, str]:
    """The conditional headers `request` carried."""
    names = ("If-None-Match", "If-Modified-Since")
    return {name: request.headers[name] for name in names if name in request.headers}


# --- validators and 304s ----------------------------------------------------------------------


def test_a_get_sent_again_carries_the_validators_of_its_last_answer(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    httpx_mock.add_response(url=URL, headers=validated('"v2"'), content=BODY)
    httpx_mock.add_response(url=URL, headers=validated('"v2"'), content=BODY)
    http = session(sleeps)
    for _ in range(3):
        http.fetch(get())
    first, second, third = httpx_mock.get_requests()
    assert conditions(first) == {}
    assert conditions(second) == {"If-None-Match": '"v1"', "If-Modified-Since": LAST_MODIFIED}
    assert conditions(third)["If-None-Match"] == '"v2"'  # the newest answer's


def test_a_304_is_answered_with_the_kept_response_and_its_fresh_headers(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, headers=validated(**{"X-Count": "1"}), content=BODY)
    httpx_mock.add_response(
        url=URL, status_code=304, headers={"ETag": '"v1"', "X-Count": "2", "Date": DATE}
    )
    http = session(sleeps)
    with PageFetcher(http.options, session=http) as fetcher:
        first = fetcher.fetch(get(), keep_body=True)
        again = fetcher.fetch(get(), keep_body=True)
    assert again.status == 200
    assert again.body == BODY and again.records == first.records == [{"id": 1}, {"id": 2}]
    assert again.headers["x-count"] == "2"  # the 304's headers replace the kept ones
    assert again.headers["content-type"] == "application/json"
    assert again.request_url == URL
    assert http.kept.served == 1


def test_a_304_with_a_new_etag_makes_it_the_one_sent_next(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    httpx_mock.add_response(url=URL, status_code=304, headers={"ETag": '"v1b"'})
    httpx_mock.add_response(url=URL, status_code=304, headers={"ETag": '"v1b"'})
    http = session(sleeps)
    for _ in range(3):
        assert http.fetch(get()).content == BODY
    assert conditions(httpx_mock.get_requests()[2])["If-None-Match"] == '"v1b"'


def test_a_changed_resource_is_served_fresh_and_kept_instead(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    newer = orjson.dumps({"items": [{"id": 1}, {"id": 2}, {"id": 3}]})
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    httpx_mock.add_response(url=URL, headers=validated('"v2"'), content=newer)
    httpx_mock.add_response(url=URL, status_code=304, headers={"ETag": '"v2"'})
    http = session(sleeps)
    assert [http.fetch(get()).content for _ in range(3)] == [BODY, newer, newer]


def test_a_gzip_body_is_kept_decoded(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    def gzipped(request: httpx.Request) -> httpx.Response:
        headers = validated(**{"Content-Encoding": "gzip"})
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(gzip.compress(BODY)))

    httpx_mock.add_callback(gzipped, url=URL)
    httpx_mock.add_response(url=URL, status_code=304, headers={"ETag": '"v1"'})
    http = session(sleeps)
    http.fetch(get())
    served = http.fetch(get())
    assert parse_json(served, http.options) == orjson.loads(BODY)
    assert "Content-Encoding" not in served.headers
    assert served.headers["Content-Length"] == str(len(BODY))


def test_last_modified_is_sent_only_when_the_response_is_a_second_younger(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    same_second = {"Last-Modified": LAST_MODIFIED, "Date": LAST_MODIFIED}
    httpx_mock.add_response(url=URL + "?a", headers={"ETag": '"a"', **same_second})
    httpx_mock.add_response(url=URL + "?a")
    httpx_mock.add_response(url=URL + "?b", headers={"Last-Modified": LAST_MODIFIED})  # no Date
    httpx_mock.add_response(url=URL + "?b")
    httpx_mock.add_response(url=URL + "?c", headers={"Last-Modified": LAST_MODIFIED, "Date": DATE})
    httpx_mock.add_response(url=URL + "?c")
    http = session(sleeps)
    for url in (URL + "?a", URL + "?a", URL + "?b", URL + "?b", URL + "?c", URL + "?c"):
        http.fetch(get(url))
    sent = [conditions(r) for r in httpx_mock.get_requests()]
    assert sent[1] == {"If-None-Match": '"a"'}  # a change within that second could hide
    assert sent[3] == {}
    assert sent[5] == {"If-Modified-Since": LAST_MODIFIED}


def test_the_key_is_the_url_with_its_query_and_the_request_headers(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(headers=validated(), is_reusable=True)
    http = session(sleeps)
    http.fetch(get(params=(("page", "1"),), headers=(("Accept", "a/json"),)))
    http.fetch(get(params=(("page", "2"),), headers=(("Accept", "a/json"),)))
    http.fetch(get(params=(("page", "1"),), headers=(("Accept", "b/json"),)))
    http.fetch(get(params=(("page", "1"),), headers=(("Accept", "a/json"),)))
    sent = [conditions(r) for r in httpx_mock.get_requests()]
    assert sent[1:3] == [{}, {}]
    assert sent[3]["If-None-Match"] == '"v1"'


def test_a_request_with_conditions_of_its_own_is_left_alone(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(headers=validated(), is_reusable=True)
    http = session(sleeps)
    own = get(headers=(("If-None-Match", '"mine"'),))
    http.fetch(own)
    http.fetch(own)
    assert [conditions(r) for r in httpx_mock.get_requests()] == [{"If-None-Match": '"mine"'}] * 2
    assert len(http.kept) == 0


# --- what is kept -----------------------------------------------------------------------------


def test_least_recently_used_responses_go_first_beyond_the_byte_bound(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    body = b"[" + b" " * 998 + b"]"
    httpx_mock.add_response(headers=validated(), content=body, is_reusable=True)
    http = session(sleeps, keep_bytes=3000)  # two responses of 1000 bytes, not three
    for name in ("a", "b", "a", "c", "a", "b"):  # c drops b (a was used since), b comes back
        http.fetch(get(f"{URL}/{name}"))
    sent = [(r.url.path[-1], bool(conditions(r))) for r in httpx_mock.get_requests()]
    assert sent == [
        ("a", False),
        ("b", False),
        ("a", True),
        ("c", False),  # drops b, the least recently used
        ("a", True),
        ("b", False),
    ]
    assert len(http.kept) == 2 and http.kept.bytes <= 3000


def test_a_response_larger_than_the_entry_bound_is_not_kept(
    httpx_mock: HTTPXMock, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conditional, "MAX_ENTRY_BYTES", 100)
    httpx_mock.add_response(headers=validated(), content=b"[" + b" " * 200 + b"]")
    httpx_mock.add_response(headers=validated(), content=b"[]")
    http = session(sleeps)
    http.fetch(get())
    http.fetch(get())
    assert len(http.kept) == 1  # the small one
    assert conditions(httpx_mock.get_requests()[1]) == {}


@pytest.mark.parametrize(
    "header",
    [
        {"Cache-Control": "private, no-store"},
        {"Vary": "Accept, *"},
    ],
    ids=["no-store", "vary-star"],
)
def test_no_store_and_vary_star_are_never_kept_and_drop_what_was(
    httpx_mock: HTTPXMock, sleeps: Sleeps, header: dict[str, str]
) -> None:
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    httpx_mock.add_response(url=URL, headers=validated('"v2"', **header), content=BODY)
    httpx_mock.add_response(url=URL, content=BODY)
    http = session(sleeps)
    for _ in range(3):
        http.fetch(get())
    sent = [conditions(r) for r in httpx_mock.get_requests()]
    assert sent[1]["If-None-Match"] == '"v1"'
    assert sent[2] == {}
    assert len(http.kept) == 0


def test_a_response_without_a_validator_or_of_an_error_status_is_not_kept(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, content=BODY)
    httpx_mock.add_response(url=URL, status_code=404, headers=validated())
    http = session(sleeps)
    http.fetch(get())
    with pytest.raises(Exception, match="404"):
        http.fetch(get())
    assert len(http.kept) == 0


def test_post_and_get_with_a_body_are_never_conditional(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(headers=validated(), is_reusable=True)
    http = session(sleeps)
    for spec in [RequestSpec("POST", URL, json_body={"q": 1})] * 2 + [get(json_body={"q": 1})] * 2:
        http.fetch(spec)
    assert [conditions(r) for r in httpx_mock.get_requests()] == [{}] * 4
    assert len(http.kept) == 0


def test_a_post_answered_304_is_still_an_error(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(method="POST", status_code=304)
    with pytest.raises(RestRedirectError, match="304"):
        session(sleeps).fetch(RequestSpec("POST", URL, json_body={}))


# --- origins ----------------------------------------------------------------------------------


def test_validators_never_reach_another_origin(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    httpx_mock.add_response(url=URL, status_code=302, headers={"Location": OTHER})
    httpx_mock.add_response(url=OTHER, headers=validated('"other"'), content=BODY)
    httpx_mock.add_response(url=URL, status_code=302, headers={"Location": OTHER})
    httpx_mock.add_response(url=OTHER, headers=validated('"other"'), content=BODY)
    httpx_mock.add_response(url=OTHER, headers=validated('"other"'), content=BODY)
    http = session(sleeps, followRedirects="all")
    for url in (URL, URL, URL, OTHER):
        http.fetch(get(url))
    sent = [(origin_of(r.url), conditions(r)) for r in httpx_mock.get_requests()]
    api, other = origin_of(URL), origin_of(OTHER)
    assert sent == [
        (api, {}),
        (api, {"If-None-Match": '"v1"', "If-Modified-Since": LAST_MODIFIED}),  # its own
        (other, {}),  # the hop: never a validator
        (api, {}),  # never "other"; and after a redirect, not "v1" either
        (other, {}),
        (other, {}),  # the same path on another origin: another key
    ]


# --- 304s without a kept response -------------------------------------------------------------


def test_a_304_to_a_request_without_validators_is_asked_again(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, status_code=304)
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    assert session(sleeps).fetch(get()).content == BODY
    assert [conditions(r) for r in httpx_mock.get_requests()] == [{}, {}]


def test_the_kept_response_survives_its_eviction_while_its_request_is_in_flight(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    http = session(sleeps)
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)

    def evict_then_304(request: httpx.Request) -> httpx.Response:
        http.kept.clear()  # another thread filled the cache meanwhile
        return httpx.Response(304, headers={"ETag": '"v1"'})

    httpx_mock.add_callback(evict_then_304, url=URL)
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    http.fetch(get())
    assert http.fetch(get()).content == BODY  # served from the response the request held
    http.fetch(get())
    assert conditions(httpx_mock.get_requests()[2]) == {}  # evicted: asked plainly


# --- retries and the rate limit ---------------------------------------------------------------


def test_a_304_is_a_success_that_costs_no_budget(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    budget = {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "3600"}
    httpx_mock.add_response(url=URL, headers=validated(**budget), content=BODY)
    httpx_mock.add_response(url=URL, status_code=304, headers=budget, is_reusable=True)
    http = session(sleeps, retryMaxWaitSeconds="10")
    for _ in range(20):  # four times the budget left: none of them is spent
        assert http.fetch(get()).content == BODY
    assert sleeps == []
    assert budget_for(origin_of(URL)).remaining == 5
    assert http.kept.served == 19


def test_a_304_the_api_counts_after_all_is_counted(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(
        url=URL, headers=validated(**{"X-RateLimit-Remaining": "5"}), content=BODY
    )
    httpx_mock.add_response(url=URL, status_code=304, headers={"X-RateLimit-Remaining": "4"})
    http = session(sleeps)
    http.fetch(get())
    http.fetch(get())
    assert budget_for(origin_of(URL)).remaining == 4


def test_a_retried_request_is_conditional_at_every_attempt(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(url=URL, headers=validated(), content=BODY)
    httpx_mock.add_response(url=URL, status_code=503)
    httpx_mock.add_response(url=URL, status_code=304)
    http = session(sleeps)
    http.fetch(get())
    assert http.fetch(get()).content == BODY
    assert len(sleeps) == 1
    assert [bool(conditions(r)) for r in httpx_mock.get_requests()] == [False, True, True]


# --- the parts --------------------------------------------------------------------------------


def test_a_kept_response_holds_no_encoding_or_connection_fields() -> None:
    request = httpx.Request("GET", URL)
    response = httpx.Response(
        200,
        headers={"ETag": '"x"', "Connection": "keep-alive", "Transfer-Encoding": "chunked"},
        content=b"[]",
        request=request,
    )
    kept = Kept.of(response)
    assert dict(kept.headers) == {"etag": '"x"'}
    served = kept.served(request)
    assert (served.status_code, served.content, served.headers["Content-Length"]) == (
        200,
        b"[]",
        "2",
    )


def test_a_session_that_keeps_nothing_sends_no_validators(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(headers=validated(), is_reusable=True)
    http = session(sleeps, keep_bytes=0)
    http.fetch(get())
    http.fetch(get())
    assert [conditions(r) for r in httpx_mock.get_requests()] == [{}, {}]


def test_close_drops_what_is_kept(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(headers=validated())
    http = session(sleeps)
    http.fetch(get())
    assert len(http.kept) == 1
    http.close()
    assert len(http.kept) == 0 and http.kept.bytes == 0
    assert isinstance(http.kept, KeptResponses)
