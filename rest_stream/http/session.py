"""HTTP for one Spark task: a shared httpx client, the retry policy, redirects, TLS, bodies.

`HttpSession.fetch` sends a `RequestSpec` with auth and retries and returns the response or
raises `RestHTTPError` / `RestConnectionError`. The retry rule lives in `retry_policy`, built
from tenacity parts with a wait that honours `Retry-After` and the rate-limit reset. Every
request on the wire (data, OAuth 2 token, redirect hop) first passes the session's
`maxRequestsPerSecond` limiter and its origin's budget (`rest_stream.http.ratelimit`). Redirects
are followed here, not by httpx, under `followRedirects`: credentials never leave their
origin. GETs sent again are conditional (`rest_stream.http.conditional`): a `304 Not Modified`
is answered with the response kept from last time. Every URL or text that reaches an error or
a log passes through `redact_url` first. `fetch(spec, stream=True)` returns a successful
response whose body is not read yet (a large export is then read chunk by chunk); bodies are
read in the options' `responseFormat` (`parse_body`, `rest_stream.decoders.formats`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from rest_stream.decoders.errors import BodyError
from rest_stream.decoders.formats import gunzipped, line_records, without_bom
from rest_stream.errors import RestConnectionError, RestHTTPError, RestResponseError
from rest_stream.http.auth import TokenRequestError, build_auth
from rest_stream.http.conditional import DEFAULT_MAX_BYTES, KeptResponses
from rest_stream.http.ratelimit import (
    Budget,
    HeaderNames,
    budget_for,
    origin_of,
    parse_retry_after,
    read_signal,
)
from rest_stream.http.redirects import (
    REDIRECT_STATUSES,
    check_redirect,
    not_followed,
    redirect_method,
    redirect_target,
    uncredentialed_request,
)
from rest_stream.http.request import RequestSpec
from rest_stream.http.tls import ssl_context, tls_problem
from rest_stream.options.parse import SENSITIVE_HEADER, RestOptions
from rest_stream.secrets import Secret

logger = logging.getLogger("rest_stream.http.session")

BODY_START_CHARS = 200

#: Transport failures worth another attempt: timeouts, refused or dropped connections.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.ProxyError,
)

Sleep = Callable[[float], None]


# --- redaction -------------------------------------------------------------------------------


def redact_url(url: str, options: RestOptions) -> str:
    """`url` (or any text holding URLs) with secrets masked as `***`.

    Masks every secret value of `options`, the value of the `apiKeyParam` query parameter and
    the password of a `user:password@` part.

    >>> from rest_stream.options.parse import parse_options
    >>> opts = parse_options({"url": "https://a.io", "authType": "apikey",
    ...                       "apiKey": "k/1+", "apiKeyParam": "key"})
    >>> redact_url("https://a.io/x?key=k%2F1%2B&n=2", opts)
    'https://a.io/x?key=***&n=2'
    """
    text = options.redact(url)
    param = options.auth.api_key_param
    if param:
        names = {re.escape(param), re.escape(quote(param, safe=""))}
        pattern = rf"(?<=[?&;])({'|'.join(sorted(names))})=[^&#\s'\"<>]*"
        text = re.sub(pattern, r"\1=***", text)
    return re.sub(r"(?<=://)([^/@:\s]+):[^/@\s]*@", r"\1:***@", text)


def body_start(response: httpx.Response, options: RestOptions) -> str:
    """The first 200 characters of the response body, secrets masked."""
    try:
        text = response.text[: BODY_START_CHARS * 10]
    except (httpx.ResponseNotRead, LookupError):
        return ""
    return redact_url(text, options)[:BODY_START_CHARS]


def _response_url(response: httpx.Response) -> str:
    try:
        return str(response.request.url)
    except RuntimeError:
        return ""


def _describe(exc: BaseException, options: RestOptions) -> str:
    message = str(exc)
    described = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return redact_url(described, options)


# --- retry policy -----------------------------------------------------------------------------


#: Error statuses never worth another attempt although >= 500: the server says it cannot.
NOT_RETRYABLE_5XX = frozenset({501, 505})


def is_retryable_status(status: int) -> bool:
    """408 Request Timeout, 429 Too Many Requests and 5xx but 501 and 505 are worth retrying.

    >>> [s for s in (400, 403, 408, 429, 500, 501, 503, 505) if is_retryable_status(s)]
    [408, 429, 500, 503]
    """
    return status in (408, 429) or (status >= 500 and status not in NOT_RETRYABLE_5XX)


def rate_limit_headers(options: RestOptions) -> HeaderNames:
    """The rate-limit header names of `options` (`rateLimitRemainingHeader`, ...ResetHeader)."""
    return HeaderNames(options.rate_limit_remaining_header, options.rate_limit_reset_header)


class retry_if_retryable_response(retry_if_result):  # noqa: N801 - named like tenacity's parts
    """Retry a response of a retryable status, or a 403 that is about the rate limit."""

    def __init__(self, names: HeaderNames) -> None:
        def retryable(result: object) -> bool:
            if not isinstance(result, httpx.Response):
                return False
            if result.status_code == 403:
                return read_signal(result, names).is_rate_limited
            return is_retryable_status(result.status_code)

        super().__init__(retryable)


def _is_transient_error(exc: BaseException) -> bool:
    if isinstance(exc, TokenRequestError):
        return is_retryable_status(exc.status)
    return isinstance(exc, TRANSIENT_ERRORS) and tls_problem(exc) is None


class wait_retry_after(wait_base):  # noqa: N801 - named like tenacity's wait parts
    """Wait what the response asks, else defer to `fallback`.

    A `Retry-After` (capped at `max_wait`); else, for a rate-limited response (429, rate-limit
    403, or a remaining budget of 0), until the reset its rate-limit headers announce —
    `RestRateLimitError` when that reset is further away than `max_wait`.
    """

    def __init__(
        self, fallback: wait_base, max_wait: float, names: HeaderNames | None = None
    ) -> None:
        self.fallback = fallback
        self.max_wait = max_wait
        self.names = names or HeaderNames()

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            if isinstance(response, httpx.Response):
                asked = parse_retry_after(response.headers.get("Retry-After"))
                if asked is not None:
                    return min(asked, self.max_wait)
                reset = read_signal(response, self.names).reset_wait(self.max_wait)
                if reset is not None:
                    return reset
        return self.fallback(retry_state)


def retry_policy(options: RestOptions, *, sleep: Sleep = time.sleep) -> Retrying:
    """The retry rule: transient errors, 408, 429, rate-limit 403s and 5xx (but 501 and 505),
    up to `maxRetries` more attempts.

    Waits `Retry-After` when the response has one, else until the rate-limit reset of a
    rate-limited response, else exponential backoff with jitter from `retryBackoffSeconds`;
    all capped at `retryMaxWaitSeconds` (a reset further away is a `RestRateLimitError`).
    When retries run out the last response is returned (or the last exception raised) for
    the caller to turn into an error. The retried callable must take the `RequestSpec` as
    keyword `spec` (used in logs).
    """
    backoff = options.retry_backoff_seconds
    max_wait = options.retry_max_wait_seconds
    names = rate_limit_headers(options)
    return Retrying(
        stop=stop_after_attempt(options.max_retries + 1),
        retry=retry_if_exception(_is_transient_error) | retry_if_retryable_response(names),
        wait=wait_retry_after(
            wait_exponential_jitter(multiplier=backoff, max=max_wait, jitter=backoff),
            options.rate_limit_wait_cap,
            names,
        ),
        sleep=sleep,
        before_sleep=_log_retry(options),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )


def _log_retry(options: RestOptions) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        spec: RequestSpec = state.kwargs["spec"]
        outcome = state.outcome
        if outcome is None:
            return
        if outcome.failed:
            exc = outcome.exception()
            what = _describe(exc, options) if exc else "an error"
        else:
            what = f"HTTP {outcome.result().status_code}"
        logger.warning(
            "%s %s got %s; retry %d of %d in %.2f s",
            spec.method,
            redact_url(spec.url, options),
            what,
            state.attempt_number,
            options.max_retries,
            state.upcoming_sleep,
        )

    return log


# --- rate limit -------------------------------------------------------------------------------


class RateLimiter:
    """Spaces calls `1 / rate` seconds apart across all threads that share it."""

    def __init__(
        self,
        rate: float,
        *,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        self.interval = 1.0 / rate
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._next_slot: float | None = None

    def acquire(self) -> None:
        """Wait until this caller's turn."""
        with self._lock:
            now = self._clock()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


# --- log redaction of httpx's own request log -------------------------------------------------


#: Loggers of httpx and httpcore whose records can show URLs or headers (a filter on a logger
#: applies only to records logged to that very logger, not to its children).
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _HttpxLogRedactor(logging.Filter):
    """Masks secrets in httpx's and httpcore's records (request URLs, response headers)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._sessions: weakref.WeakSet[HttpSession] = weakref.WeakSet()

    def add(self, session: HttpSession) -> None:
        with self._lock:
            self._sessions.add(session)

    def remove(self, session: HttpSession) -> None:
        with self._lock:
            self._sessions.discard(session)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            sessions = list(self._sessions)
        if sessions:
            text = record.getMessage()
            for session in sessions:
                text = redact_url(text, session.options)
            record.msg, record.args = text, ()
        return True


_LOG_REDACTOR = _HttpxLogRedactor()
_LOG_REDACTOR_INSTALLED = threading.Event()


def _install_log_redactor() -> None:
    if not _LOG_REDACTOR_INSTALLED.is_set():
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(_LOG_REDACTOR)
        _LOG_REDACTOR_INSTALLED.set()


# --- the session ------------------------------------------------------------------------------


class HttpSession:
    """One httpx client per options and process, with auth, retries, redirects and rate limits.

    Create it on the executor (it is not picklable once used). `fetch` may be called from
    several threads at once; the client is created on first use. Use it as a context
    manager or call `close()`.

    Every request it puts on the wire — data requests, OAuth 2 token requests, redirect
    hops — first passes `before_send`: the budget of the request's origin (the API's
    rate-limit headers, shared by the whole process) and `limiter` (`rate_limit` requests
    per second for this session, if given). It keeps up to `connections` connections open
    (default: twice `requestConcurrency`, at least 8). A GET it sent before goes with the validators
    of the answer it kept (`kept`, at most `keep_bytes` of responses; 0 keeps none), and a
    304 is answered with that response. `sleep` and `clock` are for tests.

    >>> from rest_stream.options.parse import parse_options
    >>> with HttpSession(parse_options({"url": "https://api.example.com"})) as http:
    ...     pass  # http.fetch(RequestSpec("GET", "https://api.example.com/items"))
    """

    def __init__(
        self,
        options: RestOptions,
        *,
        rate_limit: float | None = None,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        keep_bytes: int = DEFAULT_MAX_BYTES,
        connections: int | None = None,
    ) -> None:
        self.options = options
        self.connections = connections or max(options.request_concurrency, 4) * 2
        #: The responses kept for conditional GETs (`rest_stream.http.conditional`).
        self.kept = KeptResponses(keep_bytes)
        self._sleep = sleep
        self._clock = clock
        #: The `maxRequestsPerSecond` share of this session, or None: every request waits here.
        self.limiter = RateLimiter(rate_limit, sleep=sleep, clock=clock) if rate_limit else None
        self._names = rate_limit_headers(options)
        self._retrying = retry_policy(options, sleep=sleep)
        self._credentials = credential_headers(options)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._warned_origins: set[str] = set()
        self._local = threading.local()
        self._home: frozenset[str] | None = None

    @property
    def client(self) -> httpx.Client:
        """The shared `httpx.Client`, created on first use."""
        with self._lock:
            if self._client is None:
                self._client = _build_client(
                    self.options, self.before_send, self.after_send, self.connections
                )
                _install_log_redactor()
                _LOG_REDACTOR.add(self)
            return self._client

    def fetch(self, spec: RequestSpec, *, stream: bool = False) -> httpx.Response:
        """Send `spec` with auth, retries and redirects; the response of a successful status.

        With `stream`, the body of that response is not read yet: read it with
        `iter_bytes()` and close the response (every other response of the exchange — errors,
        redirects, retried attempts — is read whole and released).

        Raises `RestHTTPError` for an error status (after retries for 408, 429, rate-limit
        403s and 5xx), `RestRedirectError` for a redirect `followRedirects` does not follow,
        `RestRateLimitError` when the API's rate limit asks for a wait longer than
        `retryMaxWaitSeconds`, and `RestConnectionError` when the API cannot be reached.
        """
        client = self.client
        try:
            response = self._retrying(self._send_once, client, spec=spec, stream=stream)
        except TokenRequestError as exc:
            url = redact_url(exc.url, self.options)
            start = redact_url(exc.body_start, self.options)
            raise TokenRequestError(exc.method, url, exc.status, start, self._attempts()) from None
        except httpx.RequestError as exc:
            url = redact_url(spec.url, self.options)
            cause = _describe(exc, self.options)
            hint = tls_problem(exc)
            if hint is not None:
                cause = f"{cause}. {hint}"
            raise RestConnectionError(spec.method, url, cause, self._attempts()) from None
        if response.is_error:
            raise self._http_error(spec, response)
        return response

    def before_send(self, request: httpx.Request) -> None:
        """Wait until `request` may go: its origin's budget, then this session's limiter.

        An httpx request hook: it runs for every request the client sends, token requests
        of the auth flow included.
        """
        budget = budget_for(origin_of(request.url))
        budget.acquire(
            clock=self._clock,
            sleep=self._sleep,
            max_wait=self.options.rate_limit_wait_cap,
            low_water=self.options.request_concurrency,
        )
        self._in_flight().append(budget)
        if self.limiter is not None:
            self.limiter.acquire()

    def after_send(self, response: httpx.Response) -> None:
        """Tell the origin's budget what `response`'s rate-limit headers say (a response hook)."""
        budget = budget_for(origin_of(response.request.url))
        in_flight = self._in_flight()
        if budget in in_flight:
            in_flight.remove(budget)
        signal = read_signal(response, self._names)
        known = signal.remaining is not None or signal.reset is not None or signal.retry_after
        budget.settle(
            signal if known else None,
            self._clock(),
            self.options.rate_limit_wait_cap,
            not_modified=response.status_code == 304,
        )

    def _in_flight(self) -> list[Budget]:
        """The budgets this thread's requests in flight count against."""
        sent: list[Budget] | None = getattr(self._local, "in_flight", None)
        if sent is None:
            sent = self._local.in_flight = []
        return sent

    def _send_once(
        self, client: httpx.Client, *, spec: RequestSpec, stream: bool = False
    ) -> httpx.Response:
        """One attempt: a fresh request (so auth runs again), conditional when a response to
        it is kept, its redirects followed. With `stream` the body of a success is not read
        (nor kept)."""
        try:
            request, credentialed = self._first_request(client, spec)
            key = None if stream else self.kept.key(spec, request, credentialed)
            kept = self.kept.prepare(key, request)
            response = self._send(client, request, credentialed, stream)
            if response.status_code == 304 and key is not None:
                if kept is not None:
                    logger.debug(
                        "GET %s: 304 Not Modified, the kept response is served",
                        redact_url(spec.url, self.options),
                    )
                    return self.kept.not_modified(key, kept, response)
                # A 304 to a request without validators: nothing kept to serve, ask again.
                request, credentialed = self._first_request(client, spec)
                response = self._send(client, request, credentialed, stream)
            first = response
            response = self._follow_redirects(
                client, spec, request, response, credentialed=credentialed, stream=stream
            )
            if key is not None and response is first:  # not redirected: its own validators
                self.kept.keep(key, response)
            elif key is not None:  # moved: what was kept for the URL is no longer its answer
                self.kept.forget(key)
            return response
        finally:
            in_flight = self._in_flight()
            for budget in in_flight:  # requests that failed: no response said anything
                budget.release()
            in_flight.clear()

    def _first_request(self, client: httpx.Client, spec: RequestSpec) -> tuple[httpx.Request, bool]:
        """The request of `spec` and whether it carries credentials (not to another origin
        than the options name, nor for a spec that asks for none)."""
        request = build_request(client, spec, self._credentials)
        if not spec.credentials or self._foreign(request.url):
            return self._without_credentials(client, spec, request, request.url), False
        return request, True

    @staticmethod
    def _send(
        client: httpx.Client, request: httpx.Request, credentialed: bool, stream: bool = False
    ) -> httpx.Response:
        auth = httpx.USE_CLIENT_DEFAULT if credentialed else _NO_AUTH
        return _send(client, request, stream, auth=auth)

    def _follow_redirects(
        self,
        client: httpx.Client,
        spec: RequestSpec,
        request: httpx.Request,
        response: httpx.Response,
        *,
        credentialed: bool = True,
        stream: bool = False,
    ) -> httpx.Response:
        """The end of `response`'s redirect chain, followed under `followRedirects`: within
        the origin with credentials, past it (`all`) without any."""
        policy = self.options.follow_redirects
        origin = origin_of(request.url)
        hops = 0
        while response.status_code in REDIRECT_STATUSES and "Location" in response.headers:
            shown = redact_url(str(request.url), self.options)
            target = redirect_target(request, response, shown)
            check_redirect(policy, request, response, target, shown, origin, hops)
            method = redirect_method(request.method, response.status_code)
            if credentialed and origin_of(target) != origin:
                credentialed = False
                self._warn_cross_origin(origin, origin_of(target))
            if credentialed:
                keep_body = method == request.method
                hop = RequestSpec(
                    method,
                    str(target),
                    json_body=spec.json_body if keep_body else None,
                    form_body=spec.form_body if keep_body else None,
                    headers=spec.headers,
                )
                request = build_request(client, hop, self._credentials)
                response = _send(client, request, stream)
            else:
                request = self._without_credentials(client, spec, request, target, method)
                response = _send(client, request, stream, auth=_NO_AUTH)
            hops += 1
        if 300 <= response.status_code < 400:
            shown = redact_url(str(request.url), self.options)
            raise not_followed(request, response, shown, policy)
        return response

    def _foreign(self, url: httpx.URL) -> bool:
        """Whether `url` is on none of the origins the options name (`url`,
        `latestOffsetUrl`, `inputDataUrl`, `oauthTokenUrl`): a next link elsewhere gets no
        credential. Unknown when `url`'s host is a placeholder."""
        home = self._home
        if home is None:  # the options do not change: once per session
            home = self._home = self._home_origins()
        return bool(home) and origin_of(url) not in home

    def _home_origins(self) -> frozenset[str]:
        options = self.options
        urls = (
            options.url,
            options.stream.latest_offset_url,
            options.input_data_url,
            options.auth.oauth_token_url,
        )
        origins = set()
        for url in urls:
            if url is None:
                continue
            if "{" in url.split("?")[0].split("/")[2]:
                return frozenset()  # a placeholder in the host: origins are not known
            origins.add(origin_of(httpx.URL(url)))
        return frozenset(origins)

    def _without_credentials(
        self,
        client: httpx.Client,
        spec: RequestSpec,
        request: httpx.Request,
        target: httpx.URL,
        method: str | None = None,
    ) -> httpx.Request:
        headers = self._plain_request_headers(client, spec)
        strip = (self.options.auth.api_key_param,) if self.options.auth.api_key_param else ()
        return uncredentialed_request(request, target, method or request.method, headers, strip)

    def _plain_request_headers(self, client: httpx.Client, spec: RequestSpec) -> dict[str, str]:
        """The client's and the request's headers that are not credentials."""
        key_header = self.options.auth.api_key_header.lower()
        headers = dict(client.headers.items())
        for name, value in spec.headers:
            if not SENSITIVE_HEADER.search(name) and name.lower() != key_header:
                headers[name] = value
        return headers

    def _warn_cross_origin(self, origin: str, target: str) -> None:
        with self._lock:
            if target in self._warned_origins:
                return
            self._warned_origins.add(target)
        logger.warning(
            "Following a redirect from %s to another origin, %s, without credentials "
            "(followRedirects=all)",
            origin,
            target,
        )

    def _attempts(self) -> int:
        return int(self._retrying.statistics.get("attempt_number", 1))

    def _http_error(self, spec: RequestSpec, response: httpx.Response) -> RestHTTPError:
        url = redact_url(_response_url(response) or spec.url, self.options)
        start = body_start(response, self.options)
        return RestHTTPError(spec.method, url, response.status_code, start, self._attempts())

    def close(self) -> None:
        """Close the client and its connections, drop the kept responses; a later `fetch`
        opens a new client."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
            _LOG_REDACTOR.remove(self)
        self.kept.clear()

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpSession(url={redact_url(self.options.url, self.options)!r})"


#: Sends a request without running any auth flow (a redirect hop to another origin).
_NO_AUTH = httpx.Auth()


def _send(
    client: httpx.Client, request: httpx.Request, stream: bool, auth: Any = httpx.USE_CLIENT_DEFAULT
) -> httpx.Response:
    """`client.send`; with `stream`, a response that is not a success (an error, a redirect)
    is still read whole, so that its connection goes back to the pool and its body can be
    shown."""
    response = client.send(request, auth=auth, stream=stream)
    if stream and not response.is_success:
        response.read()
    return response


def plain_headers(options: RestOptions) -> dict[str, str]:
    """The `headers` of `options` that are not credentials: sent with every request."""
    return {k: v for k, v in options.headers.items() if not isinstance(v, Secret)}


def credential_headers(options: RestOptions) -> dict[str, str]:
    """The secret `headers` and the `cookie` of `options`: sent only to the API's origin."""
    headers = {k: v.reveal() for k, v in options.headers.items() if isinstance(v, Secret)}
    if options.cookie is not None:
        headers["Cookie"] = options.cookie.reveal()
    return headers


def _build_client(
    options: RestOptions,
    before_send: Callable[[httpx.Request], None],
    after_send: Callable[[httpx.Response], None],
    connections: int,
) -> httpx.Client:
    """The client of `options`: auth, plain headers, timeouts, TLS and proxy; it follows no
    redirect (`HttpSession` does) and runs the hooks around every request it sends. The
    environment's proxy variables and `SSL_CERT_FILE` apply as httpx applies them."""
    return httpx.Client(
        auth=build_auth(options.auth),
        headers=plain_headers(options),
        timeout=httpx.Timeout(options.read_timeout, connect=options.connection_timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        follow_redirects=False,
        verify=ssl_context(options),
        proxy=options.proxy.reveal() if options.proxy is not None else None,
        event_hooks={"request": [before_send], "response": [after_send]},
    )


def build_request(
    client: httpx.Client, spec: RequestSpec, credentials: Mapping[str, str] | None = None
) -> httpx.Request:
    """The `httpx.Request` of `spec`: params appended to the URL's query, JSON or form body;
    `credentials` (secret headers, cookie) added under the request's own headers."""
    headers = {**(credentials or {}), **dict(spec.headers)}
    content: bytes | None = None
    if spec.form_body is not None:
        content = urlencode(spec.form_body).encode()
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return client.build_request(
        spec.method,
        with_params(spec.url, spec.params),
        content=content,
        json=spec.json_body if spec.form_body is None else None,
        headers=headers,
    )


def with_params(url: str, params: tuple[tuple[str, str], ...]) -> str:
    """`url` with `params` appended to its query, keeping the URL's own encoding.

    >>> with_params("https://a.io/x?q=1", (("page", "2"), ("q", "a b")))
    'https://a.io/x?q=1&page=2&q=a+b'
    """
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --- bodies -----------------------------------------------------------------------------------


def parse_json(
    response: httpx.Response, options: RestOptions, response_format: str | None = None
) -> Any:
    """The response body read in `response_format` (default: `responseFormat`): the JSON
    document, or the list of NDJSON values or CSV rows; `RestResponseError` naming URL,
    status and body when it cannot be read."""
    content_type = response.headers.get("Content-Type") or "missing"
    url = redact_url(_response_url(response), options)
    return parse_body(
        response.content, url, response.status_code, content_type, options, response_format
    )


def parse_body(
    body: bytes,
    url: str,
    status: int,
    content_type: str,
    options: RestOptions,
    response_format: str | None = None,
) -> Any:
    """`body` gunzipped when it is gzip, then read in `response_format` (default: the
    options' `responseFormat`); `RestResponseError` naming `url` (already redacted), status,
    content type and the start of the body when it cannot be read."""
    response_format = response_format or options.response_format
    return read_document(
        plain_body(body, url, status, options, response_format),
        url,
        status,
        content_type,
        options,
        response_format,
    )


def plain_body(
    body: bytes, url: str, status: int, options: RestOptions, response_format: str
) -> bytes:
    """`body` gunzipped when it is gzip, and for NDJSON and CSV without a byte order mark."""
    try:
        plain = gunzipped(body)
    except BodyError as exc:
        raise body_error(exc, url, status, body, options) from None
    return plain if response_format == "json" else without_bom(plain)


def body_error(
    exc: BodyError, url: str, status: int, body: bytes, options: RestOptions
) -> RestResponseError:
    """The `RestResponseError` of a body its format cannot read, secrets masked."""
    start = body[: BODY_START_CHARS * 10].decode("utf-8", "replace")
    return RestResponseError(
        url,
        status,
        redact_url(exc.problem, options),
        redact_url(start, options)[:BODY_START_CHARS],
    )


def read_document(
    body: bytes,
    url: str,
    status: int,
    content_type: str,
    options: RestOptions,
    response_format: str,
) -> Any:
    """A plain body (see `plain_body`) read in `response_format`: the JSON document, or the
    list of records of an NDJSON or CSV body."""
    if response_format != "json":
        try:
            return line_records(body, response_format)
        except BodyError as exc:
            raise body_error(exc, url, status, body, options) from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        reason = "the body is empty" if not body else str(exc)
        raise RestResponseError(
            url,
            status,
            f"is not valid JSON (content-type {content_type!r}: {reason})",
            redact_url(body[: BODY_START_CHARS * 10].decode("utf-8", "replace"), options)[
                :BODY_START_CHARS
            ],
        ) from None
