"""The auth kinds: headers they set, OAuth 1 signatures, the OAuth 2 token flow and cache."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest
from authlib.oauth1.rfc5849.signature import (
    generate_signature_base_string,
    hmac_sha1_signature,
)
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestHTTPError, RestOptionError, RestResponseError
from rest_stream.http import auth as auth_module
from rest_stream.http.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    OAuth1Auth,
    OAuth2ClientCredentials,
    TokenRequestError,
    build_auth,
    clear_token_cache,
)
from rest_stream.options.parse import AuthOptions
from rest_stream.secrets import Secret

API = "https://api.example.com/items"
TOKEN_URL = "https://auth.example.com/oauth/token"
CONSUMER_SECRET = "consumer-s3cret"
TOKEN_SECRET = "token-s3cret"
CLIENT_SECRET = "client-s3cret"


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    clear_token_cache()
    yield
    clear_token_cache()


def client_with(auth: httpx.Auth | None) -> httpx.Client:
    return httpx.Client(auth=auth)


def oauth1_options() -> AuthOptions:
    return AuthOptions(
        kind="oauth1",
        oauth_consumer_key="ck",
        oauth_consumer_secret=Secret(CONSUMER_SECRET),
        oauth_token=Secret("tok"),
        oauth_token_secret=Secret(TOKEN_SECRET),
    )


def oauth2_options(method: str = "client_secret_basic", scope: str | None = "read") -> AuthOptions:
    return AuthOptions(
        kind="oauth2",
        oauth_token_url=TOKEN_URL,
        oauth_client_id="my-client",
        oauth_client_secret=Secret(CLIENT_SECRET),
        oauth_scope=scope,
        oauth_client_auth_method=method,
    )


def add_token(httpx_mock: HTTPXMock, token: str, expires_in: int | None = 3600) -> None:
    payload: dict[str, object] = {"access_token": token, "token_type": "Bearer"}
    if expires_in is not None:
        payload["expires_in"] = expires_in
    httpx_mock.add_response(url=TOKEN_URL, method="POST", json=payload)


def signature_is_valid(request: httpx.Request, *, sign_body: bool) -> bool:
    """Recompute the HMAC-SHA1 signature of `request` as an OAuth 1 server would."""
    oauth_request = OAuth1Request(
        request.method,
        str(request.url),
        body=request.content.decode() if sign_body else None,
        headers={"Authorization": request.headers["Authorization"]},
    )
    base_string = generate_signature_base_string(oauth_request)
    expected = hmac_sha1_signature(base_string, CONSUMER_SECRET, TOKEN_SECRET)
    return expected == oauth_request.signature


# --- simple kinds -----------------------------------------------------------------------------


def test_none_builds_no_auth() -> None:
    assert build_auth(AuthOptions()) is None


def test_basic_sends_user_and_password(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=API)
    auth = build_auth(AuthOptions(kind="basic", user_id="ann", user_password=Secret("pw:1")))
    client_with(auth).get(API)
    expected = "Basic " + base64.b64encode(b"ann:pw:1").decode()
    assert httpx_mock.get_request().headers["Authorization"] == expected


def test_bearer_sends_the_token(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=API)
    client_with(build_auth(AuthOptions(kind="bearer", oauth_token=Secret("t0ken")))).get(API)
    assert httpx_mock.get_request().headers["Authorization"] == "Bearer t0ken"


def test_bearer_sends_the_bearer_token_under_either_name(httpx_mock: HTTPXMock) -> None:
    from rest_stream.options.parse import parse_options

    for name in ("bearerToken", "oauthToken"):
        httpx_mock.add_response(url=API)
        options = parse_options({"url": API, "authType": "Bearer", name: "t0ken-" + name})
        client_with(build_auth(options.auth)).get(API)
        assert httpx_mock.get_requests()[-1].headers["Authorization"] == "Bearer t0ken-" + name


def test_api_key_goes_in_the_named_header(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=API)
    options = AuthOptions(kind="apikey", api_key=Secret("k3y"), api_key_header="X-Token")
    client_with(build_auth(options)).get(API)
    request = httpx_mock.get_request()
    assert request.headers["X-Token"] == "k3y"
    assert "k3y" not in str(request.url)


def test_api_key_goes_in_the_query_when_a_param_is_named(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response()
    options = AuthOptions(kind="apikey", api_key=Secret("k3y+/="), api_key_param="key")
    client_with(build_auth(options)).get(API + "?page=2")
    request = httpx_mock.get_request()
    assert dict(request.url.params) == {"page": "2", "key": "k3y+/="}
    assert "X-API-Key" not in request.headers


# --- OAuth 1 ----------------------------------------------------------------------------------


def test_oauth1_signs_a_get_in_the_authorization_header(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response()
    client_with(build_auth(oauth1_options())).get(API, params={"q": "a b"})
    request = httpx_mock.get_request()
    header = request.headers["Authorization"]
    assert header.startswith("OAuth ")
    for part in ('oauth_consumer_key="ck"', 'oauth_token="tok"', "HMAC-SHA1", "oauth_nonce"):
        assert part in header
    assert signature_is_valid(request, sign_body=False)


def test_oauth1_signs_the_parameters_of_a_form_body(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST")
    client_with(build_auth(oauth1_options())).post(API, data={"status": "hello world"})
    request = httpx_mock.get_request()
    assert request.content == b"status=hello+world"
    assert signature_is_valid(request, sign_body=True)
    assert not signature_is_valid(request, sign_body=False)


def test_oauth1_sends_a_json_body_intact_and_signs_without_it(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="POST")
    body = {"query": {"region": "eu", "ids": [1, 2]}, "note": "ünïcode"}
    client_with(build_auth(oauth1_options())).post(API, json=body)
    request = httpx_mock.get_request()
    assert orjson.loads(request.content) == body
    assert request.headers["Content-Type"] == "application/json"
    assert int(request.headers["Content-Length"]) == len(request.content)
    assert "oauth_body_hash" not in request.headers["Authorization"]
    assert signature_is_valid(request, sign_body=False)


def test_oauth1_signs_each_request_afresh(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(is_reusable=True)
    client = client_with(build_auth(oauth1_options()))
    client.get(API)
    client.get(API)
    first, second = (r.headers["Authorization"] for r in httpx_mock.get_requests())
    assert first != second


def test_oauth1_over_plain_http_names_the_url_option() -> None:
    with pytest.raises(RestOptionError, match="url") as caught:
        client_with(build_auth(oauth1_options())).get("http://api.example.com/items?x=1")
    assert "https" in str(caught.value)


# --- OAuth 2 client credentials ---------------------------------------------------------------


def test_oauth2_fetches_a_token_with_basic_client_auth(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock, "tok-1")
    httpx_mock.add_response(url=API)
    response = client_with(build_auth(oauth2_options())).get(API)
    assert response.status_code == 200
    token_request, api_request = httpx_mock.get_requests()
    expected = base64.b64encode(f"my-client:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["Authorization"] == f"Basic {expected}"
    assert dict(parse_qsl(token_request.content.decode())) == {
        "grant_type": "client_credentials",
        "scope": "read",
    }
    assert api_request.headers["Authorization"] == "Bearer tok-1"


def test_oauth2_client_secret_post_sends_credentials_in_the_form(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock, "tok-1")
    httpx_mock.add_response(url=API)
    client_with(build_auth(oauth2_options("client_secret_post", scope=None))).get(API)
    token_request = httpx_mock.get_requests(url=TOKEN_URL)[0]
    assert "Authorization" not in token_request.headers
    assert dict(parse_qsl(token_request.content.decode())) == {
        "grant_type": "client_credentials",
        "client_id": "my-client",
        "client_secret": CLIENT_SECRET,
    }


def test_oauth2_token_is_fetched_once_and_shared(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock, "tok-1")
    httpx_mock.add_response(url=API, is_reusable=True)
    for _ in range(2):  # two clients, as two tasks of one worker
        client = client_with(build_auth(oauth2_options()))
        client.get(API)
        client.get(API)
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert {r.headers["Authorization"] for r in httpx_mock.get_requests(url=API)} == {
        "Bearer tok-1"
    }


def test_oauth2_threads_starting_together_fetch_one_token(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock, "tok-1")
    httpx_mock.add_response(url=API, is_reusable=True)
    client = client_with(build_auth(oauth2_options()))
    threads = [threading.Thread(target=client.get, args=(API,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 1
    assert len(httpx_mock.get_requests(url=API)) == 8


def test_oauth2_token_is_refreshed_60_s_before_it_expires(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(auth_module, "_now", lambda: clock[0])
    add_token(httpx_mock, "tok-1", expires_in=3600)
    add_token(httpx_mock, "tok-2", expires_in=3600)
    httpx_mock.add_response(url=API, is_reusable=True)
    client = client_with(build_auth(oauth2_options()))
    client.get(API)
    clock[0] += 3600 - 61
    client.get(API)
    clock[0] += 2
    client.get(API)
    tokens = [r.headers["Authorization"] for r in httpx_mock.get_requests(url=API)]
    assert tokens == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_oauth2_short_lived_token_is_reused_for_half_its_life(
    httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(auth_module, "_now", lambda: clock[0])
    add_token(httpx_mock, "tok-1", expires_in=10)
    add_token(httpx_mock, "tok-2", expires_in=10)
    httpx_mock.add_response(url=API, is_reusable=True)
    client = client_with(build_auth(oauth2_options()))
    for now in (0.0, 4.0, 5.0):
        clock[0] = now
        client.get(API)
    tokens = [r.headers["Authorization"] for r in httpx_mock.get_requests(url=API)]
    assert tokens == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_oauth2_refreshes_once_on_a_401(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock, "stale")
    add_token(httpx_mock, "fresh")
    sent: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["Authorization"])
        return httpx.Response(401 if len(sent) == 1 else 200, json={"ok": len(sent) > 1})

    httpx_mock.add_callback(api, url=API, is_reusable=True)
    response = client_with(build_auth(oauth2_options())).get(API)
    assert response.json() == {"ok": True}
    assert sent == ["Bearer stale", "Bearer fresh"]


def test_oauth2_a_second_401_is_returned_not_retried_again(httpx_mock: HTTPXMock) -> None:
    add_token(httpx_mock, "tok-1")
    add_token(httpx_mock, "tok-2")
    httpx_mock.add_response(url=API, status_code=401, is_reusable=True)
    response = client_with(build_auth(oauth2_options())).get(API)
    assert response.status_code == 401
    assert len(httpx_mock.get_requests(url=API)) == 2
    assert len(httpx_mock.get_requests(url=TOKEN_URL)) == 2


def test_oauth2_token_endpoint_failure_names_url_and_status_not_secret(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(
        url=TOKEN_URL, status_code=401, text=f'{{"error": "invalid_client {CLIENT_SECRET}"}}'
    )
    with pytest.raises(RestHTTPError) as caught:
        client_with(build_auth(oauth2_options())).get(API)
    error = caught.value
    assert isinstance(error, TokenRequestError)
    assert (error.status, error.url) == (401, TOKEN_URL)
    assert TOKEN_URL in str(error) and "401" in str(error) and "invalid_client" in str(error)
    assert CLIENT_SECRET not in str(error)


def test_oauth2_token_response_without_access_token_is_explained(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=TOKEN_URL, json={"token": "not-the-field"})
    with pytest.raises(RestResponseError, match="access_token") as caught:
        client_with(build_auth(oauth2_options())).get(API)
    assert TOKEN_URL in str(caught.value)
    assert "not-the-field" not in str(caught.value)


# --- secrets never shown ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        BasicAuth("ann", Secret("pa55word")),
        BearerAuth(Secret("bearer-t0ken")),
        ApiKeyAuth(Secret("api-k3y"), param="key"),
        OAuth1Auth("ck", Secret(CONSUMER_SECRET), Secret("tok-en"), Secret(TOKEN_SECRET)),
        OAuth2ClientCredentials(TOKEN_URL, "my-client", Secret(CLIENT_SECRET), "read"),
    ],
    ids=lambda auth: type(auth).__name__,
)
def test_auth_repr_hides_secrets(auth: httpx.Auth) -> None:
    shown = repr(auth) + str(auth) + repr(vars(auth))
    for secret in ("pa55word", "bearer-t0ken", "api-k3y", CONSUMER_SECRET, TOKEN_SECRET):
        assert secret not in shown
    assert CLIENT_SECRET not in shown
    assert "***" in repr(auth)
