"""Conditional GETs: a poll that finds nothing new gets a `304 Not Modified`, not the page again.

A stream sends some GETs again and again: the probe of `latestOffsetUrl`, the parent list of
`inputDataUrl`, the last page of a caught-up cursor, link or timestamp chain, which the
driver reads again at every poll. Each such GET carries the validators of the response it
got last time (RFC 9110 §13.1): the `ETag` as `If-None-Match` and the `Last-Modified` as
`If-Modified-Since`. An API that finds the resource unchanged answers `304 Not Modified`
without a body, and the session hands the reader the response it kept instead, with the
304's fresh headers (rate-limit counts, a new `ETag`) merged in: the reader sees exactly what
a 200 would have told it, so no record is lost or read twice.

A 304 costs the API almost nothing and transfers no body. GitHub documents that it costs no
rate limit either ("Best practices for using the REST API", *Use conditional requests if
appropriate*,
https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate):
a conditional request does not count against the primary rate limit when it is answered 304
and was correctly authorized with an `Authorization` header. So `Budget.settle` gives back the
request it counted for a 304 whose rate-limit headers state the remaining count (which then
decides, in case the API counted it after all).

What is kept (`KeptResponses`, one per `HttpSession`, bounded in bytes, least recently used
dropped first):

- the answer to a GET without a body (and without conditional or `Range` headers of its
  own), of a 2xx status other than 206, with an `ETag` or a `Last-Modified`, answered by
  the URL asked (a redirected response is not kept: its validators belong to another URL,
  maybe another origin; and what was kept for the URL asked is dropped);
- not one with `Cache-Control: no-store` or `Vary: *`, nor one larger than `MAX_ENTRY_BYTES`
  (a 2xx that is not kept drops what was kept for its key: it is stale);
- keyed on the full URL with its query, the request's own headers (`RequestSpec.headers`)
  and whether credentials were sent; the client's headers and credentials are the session's,
  the same for every request, so `Vary` needs no other handling.

Validators are only ever sent to the URL they came from: the very request whose response was
kept. Redirect hops are built from the `RequestSpec`, never carry them, and so a validator
never reaches another origin. `Last-Modified` has a one-second resolution: it is sent as
`If-Modified-Since` only when the kept response's `Date` is at least a second later (RFC 9110
§8.8.2.2), so a change within the second of the kept response cannot be taken for "not
modified". The kept response is held by the request from the moment its validators go out, so
an eviction while it is in flight cannot leave a 304 without a body; a 304 to a request that
carried no validators (nothing kept) is asked again once without them.
"""

from __future__ import annotations

import email.utils
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import httpx

from rest_stream.http.request import RequestSpec

#: What one session keeps in all (bodies and headers), by default: 32 MiB.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: ... in an executor's session: its pages are rarely asked twice (the driver polls).
WORKER_MAX_BYTES = 8 * 1024 * 1024
#: A response larger than this is not kept (a poll rarely asks again for such a page).
MAX_ENTRY_BYTES = 4 * 1024 * 1024
#: Bookkeeping of one kept response, counted into its size.
ENTRY_OVERHEAD = 256

#: Request headers that make a request conditional or partial already: such a request is the
#: caller's business, never changed or kept.
OWN_CONDITIONS = frozenset(
    {"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range", "range"}
)

#: Response headers not kept: the kept body is stored decoded, its length is its own, and
#: hop-by-hop fields describe one connection (RFC 9110 §7.6.1).
NOT_KEPT_HEADERS = frozenset(
    {
        "content-encoding",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)

#: (URL with its query, the request's own headers, credentials sent?)
Key = tuple[str, tuple[tuple[str, str], ...], bool]


def _tokens(value: str | None) -> set[str]:
    """The lower-cased directive names of a comma-separated header (`no-store`, `max-age`).

    >>> sorted(_tokens("private, max-age=60, No-Store"))
    ['max-age', 'no-store', 'private']
    """
    if not value:
        return set()
    return {part.split("=", 1)[0].strip().lower() for part in value.split(",") if part.strip()}


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None


def last_modified_is_safe(headers: httpx.Headers) -> bool:
    """Whether `Last-Modified` may be sent as `If-Modified-Since`: the response's `Date` is at
    least one second after it, so no change within that second escaped the response.

    >>> last_modified_is_safe(httpx.Headers({"Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT",
    ...                                      "Date": "Sun, 06 Nov 1994 08:49:38 GMT"}))
    True
    >>> last_modified_is_safe(httpx.Headers({"Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT",
    ...                                      "Date": "Sun, 06 Nov 1994 08:49:37 GMT"}))
    False
    """
    modified = _http_date(headers.get("Last-Modified"))
    date = _http_date(headers.get("Date"))
    if modified is None or date is None or (modified.tzinfo is None) != (date.tzinfo is None):
        return False
    return (date - modified).total_seconds() >= 1


@dataclass(frozen=True)
class Kept:
    """A response kept for its validators: status, headers (without the encoding, length and
    hop-by-hop fields) and the decoded body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    content: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Kept:
        headers = tuple(
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in NOT_KEPT_HEADERS
        )
        return cls(response.status_code, headers, response.content)

    @cached_property
    def size(self) -> int:
        """Bytes it holds, roughly: body, headers and bookkeeping."""
        return len(self.content) + sum(len(k) + len(v) for k, v in self.headers) + ENTRY_OVERHEAD

    def validators(self) -> dict[str, str]:
        """The conditional headers that ask whether this response is still current."""
        headers = httpx.Headers(list(self.headers))
        sent = {}
        etag = headers.get("ETag")
        if etag:
            sent["If-None-Match"] = etag
        if last_modified_is_safe(headers):
            sent["If-Modified-Since"] = headers["Last-Modified"]
        return sent

    def refreshed(self, not_modified: httpx.Response) -> Kept:
        """This response with the header fields of the 304 that confirmed it (RFC 9111
        §4.3.4): a new `ETag`, `Date`, rate-limit counts replace the kept ones."""
        fresh = [
            (name, value)
            for name, value in not_modified.headers.multi_items()
            if name.lower() not in NOT_KEPT_HEADERS
        ]
        if not fresh:
            return self
        names = {name.lower() for name, _ in fresh}
        kept = [(name, value) for name, value in self.headers if name.lower() not in names]
        return Kept(self.status, tuple(kept + fresh), self.content)

    def served(self, request: httpx.Request) -> httpx.Response:
        """A new response of `request` with this status, headers and body."""
        return httpx.Response(
            self.status, headers=list(self.headers), content=self.content, request=request
        )


def keepable(response: httpx.Response) -> bool:
    """Whether `response` (to a GET) may be kept: a 2xx but 206 with a validator, neither
    `no-store` nor `Vary: *`, at most `MAX_ENTRY_BYTES` of body."""
    status = response.status_code
    if not 200 <= status < 300 or status == 206:
        return False
    headers = response.headers
    if not (headers.get("ETag") or headers.get("Last-Modified")):
        return False
    if "no-store" in _tokens(", ".join(headers.get_list("Cache-Control"))):
        return False
    if "*" in _tokens(", ".join(headers.get_list("Vary"))):
        return False
    return len(response.content) <= MAX_ENTRY_BYTES


class KeptResponses:
    """The responses one session keeps for conditional GETs: an LRU bounded in bytes.

    `prepare` adds the validators of what is kept for a request; `not_modified` turns the
    304 it got into the kept response; `keep` takes in any other answer. Safe for threads.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.served = 0  # 304s answered with a kept response
        self._entries: OrderedDict[Key, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, spec: RequestSpec, request: httpx.Request, credentialed: bool) -> Key | None:
        """The key of `request` (built from `spec`), or None when it is no plain GET: another
        method, a body, conditions of its own, or nothing may be kept at all."""
        if self.max_bytes <= 0 or request.method != "GET":
            return None
        if spec.json_body is not None or spec.form_body is not None:
            return None
        if any(name.lower() in OWN_CONDITIONS for name in request.headers):
            return None
        own = tuple(sorted((name.lower(), value) for name, value in spec.headers))
        return (str(request.url), own, credentialed)

    def prepare(self, key: Key | None, request: httpx.Request) -> Kept | None:
        """Add to `request` the validators of the response kept for `key`; that response
        (held for the 304 that may come), or None when no validator was added."""
        if key is None:
            return None
        with self._lock:
            kept = self._entries.get(key)
            if kept is None:
                return None
            self._entries.move_to_end(key)
        validators = kept.validators()
        if not validators:
            return None
        request.headers.update(validators)
        return kept

    def not_modified(self, key: Key, kept: Kept, response: httpx.Response) -> httpx.Response:
        """The response to serve for a 304 that confirmed `kept`: it, with the 304's headers.

        What is kept for `key` is refreshed with those headers, unless another answer has
        replaced it meanwhile."""
        fresh = kept.refreshed(response)
        with self._lock:
            self.served += 1
            if self._entries.get(key) is kept:
                self._put(key, fresh)
        return fresh.served(response.request)

    def keep(self, key: Key, response: httpx.Response) -> None:
        """Take in `response`, the final answer to the request of `key` (not redirected): keep
        it if it may be kept; a 2xx that may not drops what was kept (it is stale)."""
        if keepable(response):
            kept = Kept.of(response)
            with self._lock:
                self._put(key, kept)
        elif 200 <= response.status_code < 300:
            self.forget(key)

    def forget(self, key: Key) -> None:
        """Drop what is kept for `key`."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old.size

    def clear(self) -> None:
        """Drop everything kept."""
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def _put(self, key: Key, kept: Kept) -> None:
        """Keep `kept` under `key`, then drop the least recently used beyond `max_bytes`
        (under the lock)."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        if kept.size > self.max_bytes:
            return
        self._entries[key] = kept
        self.bytes += kept.size
        while self.bytes > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.bytes -= dropped.size
