"""The rate-limit budget: headers read, shared per origin, waited on before the wall is hit.

Sessions run against pytest-httpx with a fake clock that only `sleep` moves, so every wait
is exact. The budget is per origin and per process: `clear_budgets` between tests.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestConnectionError, RestHTTPError, RestRateLimitError
from rest_stream.http.auth import clear_token_cache
from rest_stream.http.ratelimit import (
    Budget,
    HeaderNames,
    RateLimitSignal,
    budget_for,
    clear_budgets,
    origin_of,
    parse_remaining,
    parse_reset,
    read_signal,
)
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import HttpSession
from rest_stream.options.parse import parse_options

URL = "https://api.example.com/items"
TOKEN_URL = "https://auth.example.com/token"


class Clock:
    """A fake monotonic clock and the `sleep` that moves it; the sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    clear_budgets()
    clear_token_cache()
    yield
    clear_budgets()
    clear_token_cache()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def session(clock: Clock, rate_limit: float | None = None, **raw: str) -> HttpSession:
    options = parse_options({"url": URL, "retryBackoffSeconds": "0.5", **raw})
    return HttpSession(options, rate_limit=rate_limit, sleep=clock.sleep, clock=clock)


def get() -> RequestSpec:
    return RequestSpec("GET", URL)


def spent(reset: str = "5", remaining: str = "0") -> dict[str, str]:
    return {"X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}


# --------------------------------------------------------------------------- reading headers


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),
        ("0", 0.0),
        ("1700000090", 90.0),  # epoch seconds
        ("1700000090000", 90.0),  # epoch milliseconds
        ("1699999000", 0.0),  # an epoch already past
        ("-1", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_reset_tells_delta_seconds_from_epoch(value: str | None, expected: float) -> None:
    assert parse_reset(value, now_epoch=1_700_000_000.0) == expected


def test_parse_reset_reads_an_http_date() -> None:
    when = time.time() + 40
    seconds = parse_reset(email.utils.formatdate(when, usegmt=True))
    assert seconds is not None and 38 <= seconds <= 40


def test_parse_remaining() -> None:
    assert [parse_remaining(v) for v in ("0", "17", "5, 100;w=60", "-2", "x", None)] == [
        0,
        17,
        5,
        0,
        None,
        None,
    ]


@pytest.mark.parametrize(
    ("headers", "names", "remaining", "reset", "header"),
    [
        (spent("7"), HeaderNames(), 0, 7.0, "X-RateLimit-Reset"),
        (
            {"RateLimit-Remaining": "3", "RateLimit-Reset": "20"},
            HeaderNames(),
            3,
            20.0,
            "RateLimit-Reset",
        ),
        ({"RateLimit": '"default";r=0;t=12'}, HeaderNames(), 0, 12.0, "RateLimit"),
        ({"RateLimit": "limit=100, remaining=4, reset=9"}, HeaderNames(), 4, 9.0, "RateLimit"),
        (
            {"Quota-Left": "0", "Quota-Renews": "8", **spent("99", "50")},
            HeaderNames("Quota-Left", "Quota-Renews"),
            0,
            8.0,
            "Quota-Renews",
        ),
        ({}, HeaderNames(), None, None, None),
    ],
    ids=["x-ratelimit", "ietf", "ietf-combined", "ietf-combined-old", "custom", "none"],
)
def test_read_signal_finds_the_budget_headers(
    headers: dict[str, str],
    names: HeaderNames,
    remaining: int | None,
    reset: float | None,
    header: str | None,
) -> None:
    response = httpx.Response(200, headers=headers, request=httpx.Request("GET", URL))
    signal = read_signal(response, names)
    assert (signal.remaining, signal.reset, signal.reset_header) == (remaining, reset, header)
    assert signal.origin == "https://api.example.com:443"


def test_origin_of_writes_the_port_and_drops_the_rest() -> None:
    assert origin_of("http://Host.io/x?k=1") == "http://host.io:80"
    assert origin_of("https://u:p@host.io:8443/") == "https://host.io:8443"
    assert origin_of("http://[::1]:81/") == "http://[::1]:81"


# --------------------------------------------------------------------------- waiting for resets


def test_a_spent_budget_makes_the_next_request_wait_for_the_reset(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(headers=spent("5"))
    httpx_mock.add_response(headers=spent("60", "9"))
    http = session(clock)
    http.fetch(get())
    assert clock.sleeps == []
    http.fetch(get())
    assert clock.sleeps == [5.0]
    assert len(httpx_mock.get_requests()) == 2


def test_the_budget_counts_requests_the_api_has_not_answered_yet(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(headers=spent("10", "2"))
    httpx_mock.add_response(is_reusable=True)  # no headers: the count goes on locally
    http = session(clock)
    for _ in range(3):
        http.fetch(get())
    assert clock.sleeps == []  # the 2 left went without waiting
    http.fetch(get())
    assert clock.sleeps == [10.0]


def test_the_budget_is_shared_by_every_session_of_the_origin(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(headers=spent("4"), is_reusable=True)
    session(clock, requestConcurrency="2").fetch(get())
    session(clock, requestConcurrency="3").fetch(get())  # other options, same origin
    assert clock.sleeps == [4.0]


def test_a_429_without_retry_after_waits_for_the_reset(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(status_code=429, headers=spent("6"))
    httpx_mock.add_response(json=[1])
    assert session(clock).fetch(get()).json() == [1]
    assert clock.sleeps == [6.0]  # once: the retry does not wait the budget's reset again


def test_a_429_with_an_epoch_reset_waits_until_then(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(status_code=429, headers=spent(str(int(time.time()) + 8)))
    httpx_mock.add_response()
    session(clock).fetch(get())
    assert len(clock.sleeps) == 1 and 4.0 <= clock.sleeps[0] <= 8.0  # less the time passed


def test_a_429_without_any_header_backs_off_exponentially(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=429)
    httpx_mock.add_response()
    session(clock).fetch(get())
    assert len(clock.sleeps) == 3
    for attempt, wait in enumerate(clock.sleeps):
        assert 0.5 * 2**attempt <= wait <= 0.5 * 2**attempt + 0.5


def test_retry_after_holds_back_every_request_of_the_origin(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "3"})
    httpx_mock.add_response(is_reusable=True)
    http = session(clock, maxRetries="0")
    with pytest.raises(RestHTTPError):
        http.fetch(get())
    session(clock).fetch(get())  # another session, same origin
    assert clock.sleeps == [3.0]


def test_custom_header_names_are_honoured(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(headers={"Quota-Left": "0", "Quota-Renews": "7"})
    httpx_mock.add_response()
    http = session(
        clock, rateLimitRemainingHeader="Quota-Left", rateLimitResetHeader="Quota-Renews"
    )
    http.fetch(get())
    http.fetch(get())
    assert clock.sleeps == [7.0]


def test_a_new_window_replaces_the_count(clock: Clock) -> None:
    budget = Budget("https://api.example.com:443")
    names = HeaderNames()

    def observe(remaining: str, reset: str) -> None:
        response = httpx.Response(
            200, headers=spent(reset, remaining), request=httpx.Request("GET", URL)
        )
        budget.observe(read_signal(response, names), clock(), 60)

    observe("5", "10")
    observe("7", "9")  # a late answer of the same window: the lower count stays
    assert budget.remaining == 5
    clock.now += 4
    observe("30", "20")  # a reset well after the current one: a new window
    assert budget.remaining == 30


# --------------------------------------------------------------------------- too long a wait


def test_a_reset_beyond_rate_limit_max_wait_is_an_error_naming_header_and_wait(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(status_code=429, headers=spent("3600"), text="slow down")
    with pytest.raises(RestRateLimitError) as caught:
        session(clock, rateLimitMaxWaitSeconds="60").fetch(get())
    message = str(caught.value)
    assert "X-RateLimit-Reset" in message and "3600 s" in message
    assert "rateLimitMaxWaitSeconds=60" in message
    assert isinstance(caught.value, RestHTTPError) and caught.value.status == 429
    assert clock.sleeps == []


def test_a_spent_budget_whose_reset_is_too_far_fails_before_sending(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(headers=spent("600"))
    http = session(clock, rateLimitMaxWaitSeconds="30")
    http.fetch(get())
    with pytest.raises(RestRateLimitError, match="X-RateLimit-Reset .X-RateLimit-Remaining: 0."):
        http.fetch(get())
    assert len(httpx_mock.get_requests()) == 1


def test_an_hourly_reset_is_waited_out_whatever_retry_max_wait_says(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(status_code=403, headers=spent("3000"), text="rate limited")
    httpx_mock.add_response(json={"ok": True})
    assert session(clock, retryMaxWaitSeconds="60").fetch(get()).status_code == 200
    assert sum(clock.sleeps) >= 3000  # GitHub's hourly window, not a failed query


# --------------------------------------------------------------------------- threads and logs


def test_threads_waiting_for_one_reset_log_one_warning(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(headers=spent("0.3"))
    httpx_mock.add_response(is_reusable=True)
    http = HttpSession(parse_options({"url": URL, "apiKey": "k3y-in-logs?", "authType": "apikey"}))
    http.fetch(get())
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="rest_stream.http.ratelimit"),
        ThreadPoolExecutor(6) as pool,
    ):
        list(pool.map(lambda _: http.fetch(get()), range(6)))
    assert time.monotonic() - started >= 0.25
    warnings = [r.getMessage() for r in caplog.records if r.name == "rest_stream.http.ratelimit"]
    assert len(warnings) == 1, warnings
    assert "https://api.example.com:443" in warnings[0] and "X-RateLimit-Reset" in warnings[0]
    assert "k3y-in-logs" not in warnings[0]


# --------------------------------------------------------------------------- token requests


def test_max_requests_per_second_covers_oauth2_token_requests(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_response(url=TOKEN_URL, method="POST", json={"access_token": "t"})
    httpx_mock.add_response(url=URL, is_reusable=True)
    http = session(
        clock,
        rate_limit=2,
        authType="oauth2",
        oauthTokenUrl=TOKEN_URL,
        oauthClientId="id",
        oauthClientSecret="s3cret",
    )
    http.fetch(get())
    http.fetch(get())
    # token request, then two data requests: three slots of the limiter, 0.5 s apart
    assert clock.sleeps == [0.5, 0.5]


def test_a_token_endpoint_rate_limit_is_its_own_budget(httpx_mock: HTTPXMock, clock: Clock) -> None:
    httpx_mock.add_response(
        url=TOKEN_URL,
        method="POST",
        json={"access_token": "t", "expires_in": 1},
        headers=spent("9"),
    )
    httpx_mock.add_response(url=URL, is_reusable=True)
    http = session(
        clock, authType="oauth2", oauthTokenUrl=TOKEN_URL, oauthClientId="id", oauthClientSecret="s"
    )
    http.fetch(get())  # data origin untouched by the token endpoint's spent budget
    assert clock.sleeps == []


# --------------------------------------------------------------------------- requests in flight


def signal(remaining: int, reset: float = 10.0) -> RateLimitSignal:
    return RateLimitSignal("https://api.example.com:443", 200, remaining, "R", reset, "T")


def acquire_in_thread(budget: Budget, clock: Clock, low_water: int = 4) -> threading.Event:
    done = threading.Event()

    def go() -> None:
        budget.acquire(clock=clock, sleep=clock.sleep, max_wait=60, low_water=low_water)
        done.set()

    threading.Thread(target=go, daemon=True).start()
    return done


def test_the_first_request_to_an_origin_goes_alone_until_it_is_answered(clock: Clock) -> None:
    budget = Budget("https://api.example.com:443")
    budget.acquire(clock=clock, sleep=clock.sleep, max_wait=60)
    second = acquire_in_thread(budget, clock)
    assert not second.wait(0.2)  # nothing known of the budget yet: wait for the answer
    budget.settle(None, clock(), 60)  # no rate-limit headers: an unlimited API
    assert second.wait(2)
    third = acquire_in_thread(budget, clock)
    assert third.wait(2)  # known now: requests go side by side
    assert budget.in_flight == 2


def test_near_the_end_of_the_budget_requests_go_one_at_a_time(clock: Clock) -> None:
    budget = Budget("https://api.example.com:443")
    budget.acquire(clock=clock, sleep=clock.sleep, max_wait=60)
    budget.settle(signal(20), clock(), 60)
    for _ in range(2):
        budget.acquire(clock=clock, sleep=clock.sleep, max_wait=60)
    budget.settle(signal(5), clock(), 60)  # 5 left, 1 of ours still in flight: 4 for us
    assert budget.remaining == 4
    waiting = acquire_in_thread(budget, clock, low_water=4)
    assert not waiting.wait(0.2)
    budget.settle(signal(4), clock(), 60)
    assert waiting.wait(2)
    assert budget.remaining == 3 and budget.in_flight == 1


def test_a_failed_request_is_no_longer_counted_in_flight(
    httpx_mock: HTTPXMock, clock: Clock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
    with pytest.raises(RestConnectionError):
        session(clock, maxRetries="2").fetch(get())
    assert budget_for("https://api.example.com:443").in_flight == 0


# --------------------------------------------------------------------------- the demo API


@pytest.mark.parametrize("style", ["x-ratelimit", "ietf"])
def test_one_process_never_exceeds_the_demo_api_budget(demo_api: Any, style: str) -> None:
    api = demo_api(50, rate_limit=(6, 1.0), rate_limit_headers=style)
    options = parse_options({"url": api.url + "/items", "retryMaxWaitSeconds": "5"})
    http = HttpSession(options)
    specs = [RequestSpec("GET", f"{api.url}/items?limit=2&since_id={i}") for i in range(18)]
    with ThreadPoolExecutor(4) as pool:
        statuses = [r.status_code for r in pool.map(http.fetch, specs)]
    http.close()
    assert statuses == [200] * 18
    served = [r.status for r in api.requests if r.path == "/items"]
    assert served.count(429) == 0, served
