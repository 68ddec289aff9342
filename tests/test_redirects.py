"""Redirects under `followRedirects`: credentials never leave their origin.

Two real servers on loopback, on two ports, are two origins: `api` (the API, which checks
nothing and redirects) and `other` (where a redirect may lead). Whatever `other` receives is
looked through for every credential of every auth kind. OAuth 1 and OAuth 2, which need
https or a token endpoint, are checked with pytest-httpx.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Iterator

import pytest
from loopback import Loopback, Reply, Seen
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestRedirectError
from rest_stream.http.auth import clear_token_cache
from rest_stream.http.ratelimit import clear_budgets
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import HttpSession
from rest_stream.options.parse import parse_options

API_KEY = "ap1-k3y-redir"
TOKEN = "b3arer-redir"
PASSWORD = "pa55-redir"
HEADER_TOKEN = "h3ader-redir"
COOKIE_VALUE = "c00kie-redir"
CONSUMER_SECRET = "c0nsumer-redir"
TOKEN_SECRET = "t0ken-s3c-redir"
CLIENT_SECRET = "cl1ent-redir"

#: auth kind -> (options, the text the API origin must receive, the secret forms to look for)
KINDS: dict[str, tuple[dict[str, str], str, tuple[str, ...]]] = {
    "apikey-header": ({"authType": "apikey", "apiKey": API_KEY}, API_KEY, (API_KEY,)),
    "apikey-param": (
        {"authType": "apikey", "apiKey": API_KEY, "apiKeyParam": "api_key"},
        API_KEY,
        (API_KEY, "api_key"),
    ),
    "bearer": ({"authType": "bearer", "oauthToken": TOKEN}, TOKEN, (TOKEN, "authorization")),
    "basic": (
        {"authType": "basic", "userId": "ann", "userPassword": PASSWORD},
        base64.b64encode(f"ann:{PASSWORD}".encode()).decode(),
        (base64.b64encode(f"ann:{PASSWORD}".encode()).decode(), "authorization"),
    ),
    "secret-header": (
        {"headers": json.dumps({"X-Auth-Token": HEADER_TOKEN, "Accept": "application/json"})},
        HEADER_TOKEN,
        (HEADER_TOKEN, "x-auth-token"),
    ),
    "cookie": ({"cookie": f"session={COOKIE_VALUE}"}, COOKIE_VALUE, (COOKIE_VALUE, "cookie")),
}

FAST = {"maxRetries": "1", "retryBackoffSeconds": "0.01", "retryMaxWaitSeconds": "1"}


@pytest.fixture(autouse=True)
def fresh_state() -> Iterator[None]:
    clear_budgets()
    clear_token_cache()
    yield
    clear_budgets()
    clear_token_cache()


def landing(seen: Seen) -> Reply:
    return Reply.json({"landed": seen.path, "method": seen.method, "body": seen.body.decode()})


@pytest.fixture
def other() -> Iterator[Loopback]:
    """The second origin: answers everything with JSON saying what it got."""
    with Loopback(landing) as server:
        yield server


def redirecting(other: Loopback, status: int = 302) -> Callable[[Seen], Reply]:
    """The API: /away redirects to `other` (its Location echoing the query, an API key
    parameter included, as many servers do); /here redirects within the origin (relative
    Location); /loop redirects to itself; /final answers."""

    def reply(seen: Seen) -> Reply:
        query = "&".join(f"{k}={v}" for k, v in seen.query.items())
        if seen.path == "/away":
            return Reply(status, {"Location": f"{other.url}/landing?{query}"}, b"")
        if seen.path == "/here":
            return Reply(status, {"Location": f"/final?{query}"}, b"")
        if seen.path == "/loop":
            return Reply(status, {"Location": "/loop"}, b"")
        if seen.path == "/back-and-forth":
            return Reply(status, {"Location": f"{other.url}/bounce"}, b"")
        if seen.path == "/nowhere":
            return Reply(302, {}, b"")
        return landing(seen)

    return reply


@pytest.fixture
def api(other: Loopback) -> Iterator[Loopback]:
    with Loopback(redirecting(other)) as server:
        yield server


def session(api: Loopback, **raw: str) -> HttpSession:
    return HttpSession(parse_options({"url": api.url + "/away", **FAST, **raw}))


def get(url: str) -> RequestSpec:
    return RequestSpec("GET", url)


def leaked(seen: list[Seen], forms: tuple[str, ...]) -> list[str]:
    text = " ".join(s.text().lower() for s in seen)
    return [form for form in forms if form.lower() in text]


# --------------------------------------------------------------------------- followRedirects=all


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_redirect_to_another_origin_carries_no_credential(
    api: Loopback, other: Loopback, kind: str
) -> None:
    raw, sent, forms = KINDS[kind]
    with session(api, followRedirects="all", **raw) as http:
        response = http.fetch(get(api.url + "/away?page=2"))
    assert response.json()["landed"] == "/landing"
    assert sent in api.requests[0].text()  # the API itself got the credential
    assert len(other.requests) == 1
    assert other.requests[0].query.get("page") == "2"  # the rest of the query goes along
    assert not leaked(other.requests, forms), other.requests[0].text()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_redirect_within_the_origin_keeps_the_credentials(
    api: Loopback, other: Loopback, kind: str
) -> None:
    raw, sent, _ = KINDS[kind]
    with session(api, **raw) as http:
        response = http.fetch(get(api.url + "/here?page=2"))
    assert response.json()["landed"] == "/final"
    assert [s.path for s in api.requests] == ["/here", "/final"]
    assert sent in api.requests[1].text()
    assert api.requests[1].query.get("page") == "2"
    assert other.requests == []


def test_after_leaving_the_origin_a_chain_stays_without_credentials(other: Loopback) -> None:
    with Loopback(redirecting(other)) as api:
        other.reply = lambda seen: (  # type: ignore[method-assign]
            Reply(307, {"Location": f"{api.url}/final"}, b"")
            if seen.path == "/bounce"
            else landing(seen)
        )
        with session(api, followRedirects="all", **KINDS["bearer"][0]) as http:
            http.fetch(get(api.url + "/back-and-forth"))
    assert [s.path for s in api.requests] == ["/back-and-forth", "/final"]
    assert "authorization" not in api.requests[1].headers


def test_a_cross_origin_redirect_is_logged_once(
    api: Loopback, other: Loopback, caplog: pytest.LogCaptureFixture
) -> None:
    http = session(api, followRedirects="all", **KINDS["apikey-param"][0])
    with caplog.at_level(logging.WARNING, logger="rest_stream.http.session"), http:
        for _ in range(3):
            http.fetch(get(api.url + "/away"))
    warnings = [r.getMessage() for r in caplog.records if "another origin" in r.getMessage()]
    assert len(warnings) == 1
    assert f"127.0.0.1:{other.port}" in warnings[0] and API_KEY not in warnings[0]


# --------------------------------------------------------------------------- same-origin, none


def test_same_origin_refuses_a_redirect_to_another_origin_naming_it(
    api: Loopback, other: Loopback
) -> None:
    http = session(api, **KINDS["apikey-param"][0])
    with http, pytest.raises(RestRedirectError) as caught:
        http.fetch(get(api.url + "/away?page=2"))
    message = str(caught.value)
    assert f"http://127.0.0.1:{other.port}" in message
    assert "followRedirects=all" in message
    assert caught.value.status == 302 and caught.value.attempts == 1
    assert API_KEY not in message
    assert other.requests == [] and len(api.requests) == 1


def test_none_refuses_every_redirect_naming_the_option(api: Loopback, other: Loopback) -> None:
    http = session(api, followRedirects="none")
    with http, pytest.raises(RestRedirectError, match="followRedirects=none"):
        http.fetch(get(api.url + "/here"))
    assert [s.path for s in api.requests] == ["/here"]


def test_a_3xx_without_location_is_an_error_not_an_empty_read(api: Loopback) -> None:
    with session(api) as http, pytest.raises(RestRedirectError, match="without a Location"):
        http.fetch(get(api.url + "/nowhere"))


def test_a_redirect_loop_stops_after_ten_hops(api: Loopback) -> None:
    with session(api) as http, pytest.raises(RestRedirectError, match="more than 10 redirects"):
        http.fetch(get(api.url + "/loop"))
    assert len(api.requests) == 11


# --------------------------------------------------------------------------- methods and bodies


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(303, "GET", ""), (302, "GET", ""), (307, "POST", '{"q":1}'), (308, "POST", '{"q":1}')],
)
def test_303_turns_into_a_get_without_body_and_307_308_keep_method_and_body(
    other: Loopback, status: int, method: str, body: str
) -> None:
    with Loopback(redirecting(other, status)) as api:
        http = session(api, followRedirects="all", **KINDS["bearer"][0])
        with http:
            same = http.fetch(RequestSpec("POST", api.url + "/here", json_body={"q": 1})).json()
            away = http.fetch(RequestSpec("POST", api.url + "/away", json_body={"q": 1})).json()
    assert (same["method"], same["body"]) == (method, body)
    assert (away["method"], away["body"]) == (method, body)
    assert "authorization" not in other.requests[0].headers
    if status in (307, 308):
        assert other.requests[0].headers["content-type"] == "application/json"
    else:
        assert "content-type" not in other.requests[0].headers


# --------------------------------------------------------------------------- OAuth (pytest-httpx)

HTTPS_API = "https://api.example.com"
ELSEWHERE = "https://cdn.example.net"


def test_oauth1_signs_a_same_origin_hop_afresh_and_never_signs_for_another_origin(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=HTTPS_API + "/a", status_code=301, headers={"Location": "/b"})
    httpx_mock.add_response(
        url=HTTPS_API + "/b", status_code=302, headers={"Location": ELSEWHERE + "/c"}
    )
    httpx_mock.add_response(url=ELSEWHERE + "/c", json={})
    raw = {
        "authType": "oauth1",
        "oauthConsumerKey": "ck",
        "oauthConsumerSecret": CONSUMER_SECRET,
        "oauthToken": TOKEN,
        "oauthTokenSecret": TOKEN_SECRET,
    }
    http = HttpSession(parse_options({"url": HTTPS_API, "followRedirects": "all", **raw}))
    http.fetch(get(HTTPS_API + "/a"))
    first, second, third = httpx_mock.get_requests()
    assert first.headers["Authorization"].startswith("OAuth ")
    assert second.headers["Authorization"].startswith("OAuth ")
    assert first.headers["Authorization"] != second.headers["Authorization"]  # signed for /b
    assert "Authorization" not in third.headers
    assert TOKEN not in str(third.url)


def test_oauth2_token_never_goes_to_another_origin(httpx_mock: HTTPXMock) -> None:
    token_url = "https://auth.example.com/token"
    httpx_mock.add_response(url=token_url, method="POST", json={"access_token": "tok-redir"})
    httpx_mock.add_response(
        url=HTTPS_API + "/a", status_code=307, headers={"Location": ELSEWHERE + "/c"}
    )
    httpx_mock.add_response(url=ELSEWHERE + "/c", json={})
    raw = {
        "authType": "oauth2",
        "oauthTokenUrl": token_url,
        "oauthClientId": "id",
        "oauthClientSecret": CLIENT_SECRET,
    }
    http = HttpSession(parse_options({"url": HTTPS_API, "followRedirects": "all", **raw}))
    http.fetch(get(HTTPS_API + "/a"))
    landed = httpx_mock.get_requests(url=ELSEWHERE + "/c")[0]
    assert "Authorization" not in landed.headers
    assert len(httpx_mock.get_requests(url=token_url)) == 1


def test_an_http_to_https_upgrade_is_another_origin(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url="http://api.example.com/a",
        status_code=301,
        headers={"Location": "https://api.example.com/a"},
    )
    http = HttpSession(parse_options({"url": "http://api.example.com", **KINDS["bearer"][0]}))
    with pytest.raises(RestRedirectError, match="https://api.example.com:443"):
        http.fetch(get("http://api.example.com/a"))


def test_a_location_that_is_not_http_is_refused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=HTTPS_API + "/a", status_code=302, headers={"Location": "file:///etc/passwd"}
    )
    http = HttpSession(parse_options({"url": HTTPS_API, "followRedirects": "all"}))
    with pytest.raises(RestRedirectError, match="not an http:// or https:// URL"):
        http.fetch(get(HTTPS_API + "/a"))


# --------------------------------------------------------------------------- next links elsewhere


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_request_to_an_origin_the_options_do_not_name_carries_no_credential(
    api: Loopback, other: Loopback, kind: str
) -> None:
    """A next link (followRedirects=all) to another origin is sent without credentials."""
    raw, sent, forms = KINDS[kind]
    with session(api, followRedirects="all", **raw) as http:
        http.fetch(get(f"{other.url}/landing?page=2"))
        http.fetch(get(api.url + "/final"))
    assert len(other.requests) == 1 and other.requests[0].query.get("page") == "2"
    assert not leaked(other.requests, forms), other.requests[0].text()
    assert sent in api.requests[0].text()  # the API's own origin still gets them


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_request_marked_without_credentials_carries_none(api: Loopback, kind: str) -> None:
    """A next link to another origin (marked by the link kind) gets no credential, even where
    the options' own origins are unknown (a placeholder in the host)."""
    raw, sent, forms = KINDS[kind]
    with session(api, followRedirects="all", **raw) as http:
        http.fetch(RequestSpec("GET", api.url + "/final?page=2", credentials=False))
    assert len(api.requests) == 1 and not leaked(api.requests, forms)
