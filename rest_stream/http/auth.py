"""The auth kinds of `authType` as `httpx.Auth` objects, built from `AuthOptions`.

Each class applies its credentials in `auth_flow`, httpx's generator shape: yield a request,
receive its response. OAuth 2 uses that shape to fetch a token before the real request and
to refresh it once on a 401. Secrets stay in `Secret` objects and never show in `repr`.
These flows are written for the synchronous `httpx.Client`.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import orjson
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.errors import InsecureTransportError
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from rest_stream.errors import RestHTTPError, RestOptionError, RestResponseError
from rest_stream.options.parse import AuthOptions
from rest_stream.secrets import Secret

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

#: Refresh an OAuth 2 token this many seconds before it expires (at most half its lifetime).
TOKEN_REFRESH_LEEWAY_SECONDS = 60.0

Flow = Generator[httpx.Request, httpx.Response, None]


def build_auth(auth: AuthOptions) -> httpx.Auth | None:
    """The `httpx.Auth` for `auth.kind`, or None for `none`.

    >>> build_auth(AuthOptions(kind="bearer", bearer_token=Secret("t0ken")))
    BearerAuth(token=***)
    """
    if auth.kind == "none":
        return None
    if auth.kind == "basic":
        return BasicAuth(auth.user_id or "", _need(auth.user_password))
    if auth.kind == "bearer":
        return BearerAuth(_need(auth.bearer_token or auth.oauth_token))
    if auth.kind == "apikey":
        return ApiKeyAuth(_need(auth.api_key), header=auth.api_key_header, param=auth.api_key_param)
    if auth.kind == "oauth1":
        return OAuth1Auth(
            consumer_key=auth.oauth_consumer_key or "",
            consumer_secret=_need(auth.oauth_consumer_secret),
            token=auth.oauth_token,
            token_secret=auth.oauth_token_secret,
        )
    if auth.kind == "oauth2":
        return OAuth2ClientCredentials(
            token_url=auth.oauth_token_url or "",
            client_id=auth.oauth_client_id or "",
            client_secret=_need(auth.oauth_client_secret),
            scope=auth.oauth_scope,
            client_auth_method=auth.oauth_client_auth_method,
        )
    raise ValueError(f"unknown auth kind {auth.kind!r}")


def _need(secret: Secret | None) -> Secret:
    return secret if secret is not None else Secret("")


class BasicAuth(httpx.Auth):
    """HTTP Basic: `Authorization: Basic base64(user:password)`."""

    def __init__(self, user_id: str, password: Secret) -> None:
        self.user_id = user_id
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Flow:
        pair = f"{self.user_id}:{self._password.reveal()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        yield request

    def __repr__(self) -> str:
        return f"BasicAuth(user_id={self.user_id!r}, password=***)"


class BearerAuth(httpx.Auth):
    """A fixed token: `Authorization: Bearer <bearerToken>`."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Flow:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


class ApiKeyAuth(httpx.Auth):
    """An API key in a header (`apiKeyHeader`) or, when `apiKeyParam` is set, the query."""

    def __init__(self, key: Secret, *, header: str = "X-API-Key", param: str | None = None) -> None:
        self._key = key
        self.header = header
        self.param = param

    def auth_flow(self, request: httpx.Request) -> Flow:
        if self.param:
            request.url = request.url.copy_set_param(self.param, self._key.reveal())
        else:
            request.headers[self.header] = self._key.reveal()
        yield request

    def __repr__(self) -> str:
        where = f"param={self.param!r}" if self.param else f"header={self.header!r}"
        return f"ApiKeyAuth(key=***, {where})"


class OAuth1Auth(httpx.Auth):
    """OAuth 1.0a, HMAC-SHA1, signature in the `Authorization` header (authlib signs).

    Form bodies are part of the signature; any other body (JSON) is not, and is sent as is.
    """

    requires_request_body = True

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: Secret,
        token: Secret | None = None,
        token_secret: Secret | None = None,
    ) -> None:
        self.consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token = token
        self._token_secret = token_secret

    def auth_flow(self, request: httpx.Request) -> Flow:
        request.headers["Authorization"] = self.signature_header(request)
        yield request

    def signature_header(self, request: httpx.Request) -> str:
        """The `Authorization: OAuth ...` value signing `request` (its body only if a form)."""
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        is_form = content_type == FORM_CONTENT_TYPE
        headers = {"Content-Type": FORM_CONTENT_TYPE} if is_form else {}
        body = request.content if is_form else b""
        try:
            _, signed, _ = self._client().prepare(request.method, str(request.url), headers, body)
        except InsecureTransportError:
            raise RestOptionError(
                "url", _without_query(str(request.url)), "an https:// URL: OAuth 1 signs only https"
            ) from None
        return str(signed["Authorization"])

    def _client(self) -> ClientAuth:
        return ClientAuth(
            self.consumer_key,
            client_secret=self._consumer_secret.reveal(),
            token=self._token.reveal() if self._token else None,
            token_secret=self._token_secret.reveal() if self._token_secret else None,
        )

    def __repr__(self) -> str:
        return f"OAuth1Auth(consumer_key={self.consumer_key!r}, consumer_secret=***, token=***)"


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class _CachedToken:
    access_token: str
    refresh_at: float | None


class TokenCache:
    """OAuth 2 access tokens of this process, keyed by (token_url, client_id, scope).

    Thread-safe. A per-key lock lets one thread fetch while the others wait for its token.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], _CachedToken] = {}
        self._fetch_locks: dict[tuple[str, str, str], threading.Lock] = {}

    def fetch_lock(self, key: tuple[str, str, str]) -> threading.Lock:
        """The lock to hold while fetching the token of `key`."""
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())

    def get(self, key: tuple[str, str, str]) -> str | None:
        """The cached token of `key`, unless it is missing or about to expire."""
        with self._lock:
            cached = self._tokens.get(key)
        if cached is None or (cached.refresh_at is not None and _now() >= cached.refresh_at):
            return None
        return cached.access_token

    def put(self, key: tuple[str, str, str], access_token: str, expires_in: float | None) -> None:
        """Cache `access_token`; refresh it 60 s (at most half its lifetime) before expiry."""
        refresh_at = None
        if expires_in is not None:
            leeway = min(TOKEN_REFRESH_LEEWAY_SECONDS, expires_in / 2)
            refresh_at = _now() + expires_in - leeway
        with self._lock:
            self._tokens[key] = _CachedToken(access_token, refresh_at)

    def discard(self, key: tuple[str, str, str], access_token: str) -> None:
        """Forget the token of `key` if it is still `access_token` (a 401 rejected it)."""
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and cached.access_token == access_token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token."""
        with self._lock:
            self._tokens.clear()


def _now() -> float:
    return time.monotonic()


TOKEN_CACHE = TokenCache()


def clear_token_cache() -> None:
    """Forget every cached OAuth 2 token of this process (for tests)."""
    TOKEN_CACHE.clear()


class TokenRequestError(RestHTTPError):
    """The OAuth 2 token endpoint answered with an error status."""


class OAuth2ClientCredentials(httpx.Auth):
    """OAuth 2 client credentials: fetch a token from `oauthTokenUrl`, send it as Bearer.

    The token is shared by every request of the process through `TOKEN_CACHE`, refreshed
    before it expires, and once more when the API answers 401.
    """

    requires_response_body = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        scope: str | None = None,
        client_auth_method: str = "client_secret_basic",
    ) -> None:
        if client_auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ValueError(f"unknown OAuth 2 client auth method {client_auth_method!r}")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.client_auth_method = client_auth_method

    @property
    def cache_key(self) -> tuple[str, str, str]:
        """The key of this client's token in `TOKEN_CACHE`."""
        return (self.token_url, self.client_id, self.scope or "")

    def auth_flow(self, request: httpx.Request) -> Flow:
        token = yield from self._token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            TOKEN_CACHE.discard(self.cache_key, token)
            token = yield from self._token()
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _token(self) -> Generator[httpx.Request, httpx.Response, str]:
        """The cached token, or a new one fetched by yielding the token request."""
        with TOKEN_CACHE.fetch_lock(self.cache_key):
            token = TOKEN_CACHE.get(self.cache_key)
            if token is None:
                response = yield self.token_request()
                token, expires_in = self._read_token(response)
                TOKEN_CACHE.put(self.cache_key, token, expires_in)
        return token

    def token_request(self) -> httpx.Request:
        """The client-credentials POST to the token endpoint."""
        secret = self._client_secret.reveal()
        headers = {"Accept": "application/json", "Content-Type": FORM_CONTENT_TYPE}
        fields: dict[str, str] = {}
        if self.client_auth_method == "client_secret_post":
            fields = {"client_id": self.client_id, "client_secret": secret}
        else:
            pair = f"{quote(self.client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        if self.scope:
            fields["scope"] = self.scope
        body = prepare_token_request("client_credentials", **fields)
        return httpx.Request("POST", self.token_url, headers=headers, content=body.encode())

    def _read_token(self, response: httpx.Response) -> tuple[str, float | None]:
        """(access_token, expires_in) of a token response, or a clear error."""
        if response.is_error:
            body_start = self._hide_secret(response.text[:2000])[:200]
            raise TokenRequestError("POST", self.token_url, response.status_code, body_start)
        try:
            payload = orjson.loads(response.content)
            token = payload["access_token"]
            expires_in = payload.get("expires_in")
            expires = float(expires_in) if expires_in not in (None, "") else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise RestResponseError(
                self.token_url,
                response.status_code,
                "is not a JSON object with access_token (and a numeric expires_in)",
                "(not shown: a token response)",
            ) from None
        if not isinstance(token, str) or not token:
            raise RestResponseError(
                self.token_url, response.status_code, "has an empty access_token", ""
            )
        return token, expires

    def _hide_secret(self, text: str) -> str:
        secret = self._client_secret.reveal()
        return text.replace(secret, "***") if len(secret) >= 3 else text

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, client_secret=***, scope={self.scope!r})"
        )
