"""HttpSession: building requests, the retry rules, rate limiting, JSON parsing, redaction."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestConnectionError, RestHTTPError, RestResponseError
from rest_stream.http.auth import clear_token_cache
from rest_stream.http.ratelimit import clear_budgets
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import (
    HttpSession,
    RateLimiter,
    parse_json,
    parse_retry_after,
    redact_url,
)
from rest_stream.options.parse import RestOptions, parse_options

URL = "https://api.example.com/items"
TOKEN_URL = "https://auth.example.com/token"


class Sleeps(list[float]):
    """A stand-in for `time.sleep` that records the waits instead of sleeping, and the clock
    those waits move forward (`clock`)."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.append(float(seconds))
        self.now += float(seconds)

    def clock(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    clear_token_cache()
    clear_budgets()
    yield
    clear_token_cache()
    clear_budgets()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def options(**raw: str) -> RestOptions:
    return parse_options({"url": URL, "retryBackoffSeconds": "0.5", **raw})


def session(sleeps: Sleeps, **raw: str) -> HttpSession:
    return HttpSession(options(**raw), sleep=sleeps, clock=sleeps.clock)


def get(url: str = URL) -> RequestSpec:
    return RequestSpec("GET", url)


# --- building requests ------------------------------------------------------------------------


def test_fetch_appends_params_and_sends_json_headers_and_cookie(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(method="POST")
    http = session(sleeps, headers='{"Accept": "application/json"}', cookie="sid=abc123")
    spec = RequestSpec(
        "POST",
        URL + "?fixed=a%2Fb",
        params=(("region", "eu west"), ("id", "1")),
        json_body={"ids": [1, 2]},
        headers=(("X-Trace", "t1"),),
    )
    assert http.fetch(spec).status_code == 200
    request = httpx_mock.get_request()
    assert str(request.url) == URL + "?fixed=a%2Fb&region=eu+west&id=1"
    assert orjson.loads(request.content) == {"ids": [1, 2]}
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Cookie"] == "sid=abc123"
    assert request.headers["X-Trace"] == "t1"


def test_fetch_sends_a_form_body_in_order(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(method="POST")
    session(sleeps).fetch(
        RequestSpec("POST", URL, form_body=(("b", "2"), ("a", "x y"), ("b", "3")))
    )
    request = httpx_mock.get_request()
    assert request.content == b"b=2&a=x+y&b=3"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_client_is_built_from_the_options(sleeps: Sleeps) -> None:
    http = session(sleeps, readTimeout="7", connectionTimeout="2", requestConcurrency="6")
    with http:
        client = http.client
        assert client.timeout == httpx.Timeout(7.0, connect=2.0)
        assert client.follow_redirects is False  # HttpSession follows them itself
        assert http.client is client
    assert client.is_closed


def test_threads_share_one_client(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(is_reusable=True)
    http = session(sleeps)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: http.fetch(get(f"{URL}/{i}")).status_code, range(16)))
    assert statuses == [200] * 16
    assert len(httpx_mock.get_requests()) == 16


# --- retry rules ------------------------------------------------------------------------------


def test_503_burst_then_200_succeeds_with_growing_backoff(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    for _ in range(3):
        httpx_mock.add_response(status_code=503)
    httpx_mock.add_response(json={"ok": True})
    response = session(sleeps).fetch(get())
    assert response.json() == {"ok": True}
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps):
        base = 0.5 * 2**attempt
        assert base <= wait <= base + 0.5


def test_backoff_is_capped_at_retry_max_wait(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=500, is_reusable=True)
    with pytest.raises(RestHTTPError):
        session(sleeps, maxRetries="6", retryBackoffSeconds="1", retryMaxWaitSeconds="3").fetch(
            get()
        )
    assert len(sleeps) == 6
    assert max(sleeps) == 3.0


def test_429_retry_after_seconds_is_honoured(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response()
    assert session(sleeps).fetch(get()).status_code == 200
    assert sleeps == [7.0]


def test_retry_after_is_capped_at_rate_limit_max_wait(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "3600"})
    httpx_mock.add_response()
    session(sleeps, retryMaxWaitSeconds="30", rateLimitMaxWaitSeconds="30").fetch(get())
    assert sleeps == [30.0]


def test_retry_after_beyond_retry_max_wait_is_waited_out(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "900"})
    httpx_mock.add_response()
    session(sleeps, retryMaxWaitSeconds="30").fetch(get())
    assert sleeps == [900.0]


def test_retry_after_http_date_is_honoured(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=20)
    httpx_mock.add_response(
        status_code=429, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)}
    )
    httpx_mock.add_response()
    session(sleeps).fetch(get())
    assert len(sleeps) == 1 and 18.0 <= sleeps[0] <= 20.0


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(httpx_mock: HTTPXMock, sleeps: Sleeps, status: int) -> None:
    httpx_mock.add_response(status_code=status)
    httpx_mock.add_response(json=[1])
    assert session(sleeps).fetch(get()).json() == [1]
    assert len(sleeps) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 501, 505])
def test_final_statuses_are_not_retried(httpx_mock: HTTPXMock, sleeps: Sleeps, status: int) -> None:
    httpx_mock.add_response(status_code=status)
    with pytest.raises(RestHTTPError) as caught:
        session(sleeps).fetch(get())
    assert (caught.value.status, caught.value.attempts) == (status, 1)
    assert sleeps == []


def test_503_retry_after_is_honoured(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=503, headers={"Retry-After": "4"})
    httpx_mock.add_response()
    session(sleeps).fetch(get())
    assert sleeps == [4.0]


@pytest.mark.parametrize(
    "headers",
    [{"Retry-After": "3"}, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3"}],
    ids=["retry-after", "remaining-0"],
)
def test_a_rate_limit_403_is_retried_after_the_wait_it_asks(
    httpx_mock: HTTPXMock, sleeps: Sleeps, headers: dict[str, str]
) -> None:
    httpx_mock.add_response(status_code=403, headers=headers, text="rate limit exceeded")
    httpx_mock.add_response(json=[1])
    assert session(sleeps).fetch(get()).json() == [1]
    assert sleeps == [3.0]


def test_a_403_with_budget_left_is_not_retried(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=403, headers={"X-RateLimit-Remaining": "12"})
    with pytest.raises(RestHTTPError) as caught:
        session(sleeps).fetch(get())
    assert caught.value.attempts == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("12", 12.0), ("-3", None), ("soon", None), ("", None), (None, None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_date_in_the_past_means_now() -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("Tue, 01 Jan 2019 00:00:00 GMT", now=now) == 0.0


def test_404_fails_at_once_without_retry(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=404, text="no such item")
    with pytest.raises(RestHTTPError) as caught:
        session(sleeps).fetch(get(URL + "/9"))
    error = caught.value
    assert (error.status, error.attempts, error.method) == (404, 1, "GET")
    assert error.url == URL + "/9"
    assert "no such item" in str(error)
    assert sleeps == []
    assert len(httpx_mock.get_requests()) == 1


def test_exhausted_retries_raise_http_error_with_attempts(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_response(status_code=502, text="bad gateway", is_reusable=True)
    with pytest.raises(RestHTTPError, match="after 3 attempts") as caught:
        session(sleeps, maxRetries="2").fetch(get())
    assert (caught.value.status, caught.value.attempts) == (502, 3)
    assert "bad gateway" in caught.value.body_start
    assert len(httpx_mock.get_requests()) == 3


def test_max_retries_zero_makes_one_attempt(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=503)
    with pytest.raises(RestHTTPError) as caught:
        session(sleeps, maxRetries="0").fetch(get())
    assert caught.value.attempts == 1 and sleeps == []


def test_body_start_is_the_first_200_characters(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=400, text="x" * 1000)
    with pytest.raises(RestHTTPError) as caught:
        session(sleeps).fetch(get())
    assert caught.value.body_start == "x" * 200


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("connection reset"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_transport_failures_are_retried_then_succeed(
    httpx_mock: HTTPXMock, sleeps: Sleeps, failure: Exception
) -> None:
    httpx_mock.add_exception(failure)
    httpx_mock.add_response(json=[1])
    assert session(sleeps).fetch(get()).json() == [1]
    assert len(sleeps) == 1


def test_transport_failures_exhausted_raise_connection_error(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    httpx_mock.add_exception(httpx.ReadTimeout("read timed out"), is_reusable=True)
    with pytest.raises(RestConnectionError) as caught:
        session(sleeps, maxRetries="3").fetch(get())
    error = caught.value
    assert (error.method, error.url, error.attempts) == ("GET", URL, 4)
    assert "ReadTimeout: read timed out" in str(error)
    assert len(sleeps) == 3


def test_each_attempt_goes_through_auth_again(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(status_code=503)
    httpx_mock.add_response()
    http = session(
        sleeps,
        authType="oauth1",
        oauthConsumerKey="ck",
        oauthConsumerSecret="cs-secret",
        oauthToken="tok",
        oauthTokenSecret="ts-secret",
    )
    http.fetch(get())
    first, second = (r.headers["Authorization"] for r in httpx_mock.get_requests())
    assert first.startswith("OAuth ") and second.startswith("OAuth ") and first != second


def test_token_endpoint_503_is_retried_by_the_policy(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(url=TOKEN_URL, method="POST", status_code=503)
    httpx_mock.add_response(url=TOKEN_URL, method="POST", json={"access_token": "tok"})
    httpx_mock.add_response(url=URL)
    http = session(
        sleeps,
        authType="oauth2",
        oauthTokenUrl=TOKEN_URL,
        oauthClientId="id",
        oauthClientSecret="client-secret",
    )
    assert http.fetch(get()).status_code == 200
    assert httpx_mock.get_requests(url=URL)[0].headers["Authorization"] == "Bearer tok"
    assert len(sleeps) == 1


def test_token_endpoint_unreachable_is_retried_then_named(
    httpx_mock: HTTPXMock, sleeps: Sleeps
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=TOKEN_URL)
    httpx_mock.add_response(url=TOKEN_URL, method="POST", status_code=400, text="bad scope")
    http = session(
        sleeps,
        authType="oauth2",
        oauthTokenUrl=TOKEN_URL,
        oauthClientId="id",
        oauthClientSecret="client-secret",
    )
    with pytest.raises(RestHTTPError) as caught:
        http.fetch(get())
    assert (caught.value.url, caught.value.status, caught.value.attempts) == (TOKEN_URL, 400, 2)
    assert "bad scope" in str(caught.value) and "client-secret" not in str(caught.value)


def test_each_retry_is_logged_as_a_warning(
    httpx_mock: HTTPXMock, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(status_code=429, headers={"Retry-After": "2"})
    httpx_mock.add_exception(httpx.ConnectError("connection refused"))
    httpx_mock.add_response()
    with caplog.at_level(logging.WARNING, logger="rest_stream.http.session"):
        session(sleeps).fetch(get())
    ours = [r for r in caplog.records if r.name == "rest_stream.http.session"]
    messages = [r.getMessage() for r in ours]
    assert all(r.levelno == logging.WARNING for r in ours)
    assert messages[0] == f"GET {URL} got HTTP 429; retry 1 of 5 in 2.00 s"
    assert messages[1].startswith(f"GET {URL} got ConnectError: connection refused; retry 2 of 5")


# --- rate limit -------------------------------------------------------------------------------


def test_rate_limiter_spaces_calls() -> None:
    waits = Sleeps()
    limiter = RateLimiter(10, sleep=waits, clock=lambda: 100.0)
    for _ in range(3):
        limiter.acquire()
    assert waits == pytest.approx([0.1, 0.2])


def test_rate_limiter_does_not_wait_after_a_pause() -> None:
    waits = Sleeps()
    now = [0.0]
    limiter = RateLimiter(2, sleep=waits, clock=lambda: now[0])
    limiter.acquire()
    now[0] = 5.0
    limiter.acquire()
    assert waits == []


def test_session_rate_limit_applies_to_every_request(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(is_reusable=True)
    http = HttpSession(options(), rate_limit=5, sleep=sleeps)
    for _ in range(3):
        http.fetch(get())
    assert len(sleeps) == 2 and all(0 < wait <= 0.4 for wait in sleeps)


# --- JSON bodies ------------------------------------------------------------------------------


def test_parse_json_parses_the_body(httpx_mock: HTTPXMock, sleeps: Sleeps) -> None:
    httpx_mock.add_response(json={"items": [{"id": 1}]})
    http = session(sleeps)
    assert parse_json(http.fetch(get()), http.options) == {"items": [{"id": 1}]}


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        (b"<html><body>Login</body></html>", "text/html", "<html><body>Login"),
        (b'{"items": [{"id": 1}, {"id"', "application/json", '{"items": [{"id": 1}'),
        (b"", "application/json", "the body is empty"),
    ],
    ids=["html", "truncated", "empty"],
)
def test_parse_json_error_names_url_status_type_and_body(
    httpx_mock: HTTPXMock, sleeps: Sleeps, body: bytes, content_type: str, shown: str
) -> None:
    httpx_mock.add_response(content=body, headers={"Content-Type": content_type})
    http = session(sleeps)
    response = http.fetch(get(URL + "?page=3"))
    with pytest.raises(RestResponseError) as caught:
        parse_json(response, http.options)
    message = str(caught.value)
    for part in (URL + "?page=3", "HTTP 200", "is not valid JSON", content_type, shown):
        assert part in message
    assert caught.value.status == 200


# --- secrets ----------------------------------------------------------------------------------


def test_redact_url_masks_the_api_key_param_and_user_password() -> None:
    opts = options(authType="apikey", apiKey="s3cr3t+key/", apiKeyParam="api_key")
    text = f"see {URL}?page=1&api_key=s3cr3t%2Bkey%2F&n=2 and https://bob:pw@host/x"
    assert redact_url(text, opts) == f"see {URL}?page=1&api_key=***&n=2 and https://bob:***@host/x"


SECRET_CASES = {
    "basic": ({"authType": "basic", "userId": "ann", "userPassword": "pa55w0rd"}, "pa55w0rd"),
    "bearer": ({"authType": "bearer", "oauthToken": "bearer-t0ken"}, "bearer-t0ken"),
    "apikey_param": (
        {"authType": "apikey", "apiKey": "k3y/with+chars", "apiKeyParam": "key"},
        "k3y/with+chars",
    ),
    "cookie": ({"cookie": "session=c00kie-value"}, "c00kie-value"),
}


def secret_forms(secret: str) -> list[str]:
    return [secret, str(httpx.QueryParams({"k": secret}))[2:], secret.replace("/", "%2F")]


@pytest.mark.parametrize("case", list(SECRET_CASES), ids=list(SECRET_CASES))
def test_secrets_never_reach_errors_or_logs(
    httpx_mock: HTTPXMock, sleeps: Sleeps, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    raw, secret = SECRET_CASES[case]
    echo = f"denied for {secret} at {URL}?key={secret}"
    httpx_mock.add_response(status_code=500, text=echo, headers={"Retry-After": "1"})
    httpx_mock.add_response(status_code=403, text=echo)
    failure = httpx.ConnectError(f"cannot reach {URL}?key={secret}")
    httpx_mock.add_exception(failure, is_reusable=True)
    http = session(sleeps, maxRetries="1", **raw)
    shown: list[str] = []
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(RestHTTPError) as http_error:
            http.fetch(get(f"{URL}?q=1"))
        with pytest.raises(RestConnectionError) as connection_error:
            http.fetch(get(f"{URL}?key={secret}"))
        httpx_mock.reset()
        httpx_mock.add_response(status_code=200, text=f"<html>{secret}</html>")
        with pytest.raises(RestResponseError) as response_error:
            parse_json(http.fetch(get()), http.options)
    shown += [str(http_error.value), str(connection_error.value), str(response_error.value)]
    shown += [http_error.value.url, http_error.value.body_start, repr(http)]
    shown += [record.getMessage() for record in caplog.records]
    assert any("HTTP Request" in message for message in shown)  # httpx's own log is checked
    for text in shown:
        for form in secret_forms(secret):
            assert form not in text, text


def test_every_error_pickles_with_its_message_and_attributes() -> None:
    import pickle

    from rest_stream import errors

    made = [
        errors.RestOptionError("apiKey", "s3cret", "a key"),
        errors.RestUnknownOptionError("recordPath", "recordsPath"),
        errors.RestHTTPError("GET", "https://a.example/x", 503, "busy", attempts=3),
        errors.RestRedirectError("GET", "https://a.example/x", 302, "to another origin"),
        errors.RestRateLimitError("https://a.example", "Retry-After", 90.0, 30.0, 429),
        errors.RestConnectionError("GET", "https://a.example/x", "refused", 4),
        errors.RestResponseError("https://a.example/x", 200, "is not JSON", "<html>"),
        errors.RestOffsetError("Offset loops"),
        errors.RestSchemaError("bad value"),
    ]
    for error in made:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert copy.__dict__ == error.__dict__
    assert "s3cret" not in str(made[0])
