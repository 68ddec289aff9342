"""HTTP for one Spark task: a shared httpx client, the retry policy, rate limiting, JSON bodies.

`HttpSession.fetch` sends a `RequestSpec` with auth and retries and returns the response or
raises `RestHTTPError` / `RestConnectionError`. The retry rule lives in `retry_policy`, built
from tenacity parts with a wait that honours `Retry-After`. Every URL or text that reaches an
error or a log passes through `redact_url` first.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
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

from rest_stream.auth import TokenRequestError, build_auth
from rest_stream.errors import RestConnectionError, RestHTTPError, RestResponseError
from rest_stream.options import RestOptions
from rest_stream.request import RequestSpec
from rest_stream.secrets import Secret

logger = logging.getLogger("rest_stream.http")

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

    >>> from rest_stream.options import parse_options
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


def is_retryable_status(status: int) -> bool:
    """429 Too Many Requests and every 5xx are worth another attempt."""
    return status == 429 or status >= 500


def _is_retryable_response(result: object) -> bool:
    return isinstance(result, httpx.Response) and is_retryable_status(result.status_code)


def _is_transient_error(exc: BaseException) -> bool:
    if isinstance(exc, TokenRequestError):
        return is_retryable_status(exc.status)
    return isinstance(exc, TRANSIENT_ERRORS)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait per a `Retry-After` value (delay seconds or HTTP-date), else None.

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc))
    30.0
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until(value, now)
    return seconds if seconds >= 0 and seconds == seconds else None


def _seconds_until(http_date: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class wait_retry_after(wait_base):  # noqa: N801 - named like tenacity's wait parts
    """Wait what the response's `Retry-After` asks (capped), else defer to `fallback`."""

    def __init__(self, fallback: wait_base, max_wait: float) -> None:
        self.fallback = fallback
        self.max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            response = outcome.result()
            if isinstance(response, httpx.Response):
                asked = parse_retry_after(response.headers.get("Retry-After"))
                if asked is not None:
                    return min(asked, self.max_wait)
        return self.fallback(retry_state)


def retry_policy(options: RestOptions, *, sleep: Sleep = time.sleep) -> Retrying:
    """The retry rule: transient errors, 429 and 5xx, up to `maxRetries` more attempts.

    Waits `Retry-After` when the response has one, else exponential backoff with jitter from
    `retryBackoffSeconds`; both capped at `retryMaxWaitSeconds`. When retries run out the last
    response is returned (or the last exception raised) for the caller to turn into an error.
    The retried callable must take the `RequestSpec` as keyword `spec` (used in logs).
    """
    backoff = options.retry_backoff_seconds
    max_wait = options.retry_max_wait_seconds
    return Retrying(
        stop=stop_after_attempt(options.max_retries + 1),
        retry=retry_if_exception(_is_transient_error) | retry_if_result(_is_retryable_response),
        wait=wait_retry_after(
            wait_exponential_jitter(multiplier=backoff, max=max_wait, jitter=backoff), max_wait
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
    """One httpx client per Spark task, with auth, retries and an optional rate limit.

    Create it on the executor (it is not picklable once used). `fetch` may be called from
    several threads at once; the client is created on first use. Use it as a context
    manager or call `close()`.

    >>> from rest_stream.options import parse_options
    >>> with HttpSession(parse_options({"url": "https://api.example.com"})) as http:
    ...     pass  # http.fetch(RequestSpec("GET", "https://api.example.com/items"))
    """

    def __init__(
        self,
        options: RestOptions,
        *,
        rate_limit: float | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.options = options
        self._limiter = RateLimiter(rate_limit, sleep=sleep) if rate_limit else None
        self._retrying = retry_policy(options, sleep=sleep)
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> httpx.Client:
        """The shared `httpx.Client`, created on first use."""
        with self._lock:
            if self._client is None:
                self._client = _build_client(self.options)
                _install_log_redactor()
                _LOG_REDACTOR.add(self)
            return self._client

    def fetch(self, spec: RequestSpec) -> httpx.Response:
        """Send `spec` with auth and retries; the response of a successful status.

        Raises `RestHTTPError` for an error status (after retries for 429 and 5xx) and
        `RestConnectionError` when the API cannot be reached.
        """
        client = self.client
        try:
            response = self._retrying(self._send_once, client, spec=spec)
        except TokenRequestError as exc:
            url = redact_url(exc.url, self.options)
            start = redact_url(exc.body_start, self.options)
            raise TokenRequestError(exc.method, url, exc.status, start, self._attempts()) from None
        except httpx.RequestError as exc:
            url = redact_url(spec.url, self.options)
            cause = _describe(exc, self.options)
            raise RestConnectionError(spec.method, url, cause, self._attempts()) from None
        if response.is_error:
            raise self._http_error(spec, response)
        return response

    def _send_once(self, client: httpx.Client, *, spec: RequestSpec) -> httpx.Response:
        """One attempt: a fresh request (so auth runs again), after the rate limit."""
        if self._limiter is not None:
            self._limiter.acquire()
        return client.send(build_request(client, spec))

    def _attempts(self) -> int:
        return int(self._retrying.statistics.get("attempt_number", 1))

    def _http_error(self, spec: RequestSpec, response: httpx.Response) -> RestHTTPError:
        url = redact_url(_response_url(response) or spec.url, self.options)
        start = body_start(response, self.options)
        return RestHTTPError(spec.method, url, response.status_code, start, self._attempts())

    def close(self) -> None:
        """Close the client and its connections; a later `fetch` opens a new one."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
            _LOG_REDACTOR.remove(self)

    def __enter__(self) -> HttpSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HttpSession(url={redact_url(self.options.url, self.options)!r})"


def _build_client(options: RestOptions) -> httpx.Client:
    headers = {k: v.reveal() if isinstance(v, Secret) else v for k, v in options.headers.items()}
    if options.cookie is not None:
        headers["Cookie"] = options.cookie.reveal()
    return httpx.Client(
        auth=build_auth(options.auth),
        headers=headers,
        timeout=httpx.Timeout(options.read_timeout, connect=options.connection_timeout),
        limits=httpx.Limits(max_connections=max(options.request_concurrency, 4) * 2),
        follow_redirects=True,
    )


def build_request(client: httpx.Client, spec: RequestSpec) -> httpx.Request:
    """The `httpx.Request` of `spec`: params appended to the URL's query, JSON or form body."""
    headers = dict(spec.headers)
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


# --- JSON bodies ------------------------------------------------------------------------------


def parse_json(response: httpx.Response, options: RestOptions) -> Any:
    """The response body parsed as JSON, or `RestResponseError` naming URL, status and body."""
    content_type = response.headers.get("Content-Type") or "missing"
    url = redact_url(_response_url(response), options)
    return parse_body(response.content, url, response.status_code, content_type, options)


def parse_body(body: bytes, url: str, status: int, content_type: str, options: RestOptions) -> Any:
    """`body` parsed as JSON, or `RestResponseError` naming `url` (already redacted), status,
    content type and the start of the body."""
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
