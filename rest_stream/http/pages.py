"""Fetching pages: one request → one parsed `Page`, alone or several at once in order."""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from rest_stream.decoders.arrow_json import ArrowPageDecoder, ArrowRecords
from rest_stream.decoders.jsonpath import (
    CompiledPath,
    Malformed,
    NoRecords,
    compile_path,
    extract_records,
)
from rest_stream.errors import RestResponseError
from rest_stream.http.conditional import WORKER_MAX_BYTES
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import HttpSession, parse_body, parse_json, redact_url
from rest_stream.options.parse import RestOptions


@dataclass
class Page:
    """One parsed response: its records, the whole document and what locates it.

    A page decoded straight to Arrow (`ArrowPageDecoder`) holds `ArrowRecords` and no
    document."""

    records: Sequence[Any]
    document: Any
    headers: dict[str, str]
    url: str
    status: int
    body: bytes = b""
    request_url: str = ""
    #: The pages of a paginated answer read as one (`pagination.ResultSet.fetch`), in order.
    parts: tuple[Page, ...] = ()
    #: The answer was cut before its last page (more pages follow).
    more: bool = False

    @property
    def source(self) -> str:
        """Where the page came from, for messages (secrets masked)."""
        return self.url


def page_records(
    document: Any,
    records_path: CompiledPath | None,
    url: str,
    status: int,
    options: RestOptions,
    fields: frozenset[str] | None = None,
    *,
    option: str = "recordsPath",
) -> list[Any]:
    """The records of a parsed response (`extract_records`), or `RestResponseError` naming
    the response (its `url`, already redacted) when it has none where they should be."""
    try:
        return extract_records(document, records_path, fields, option=option)
    except NoRecords as missing:
        raise RestResponseError(
            url, status, options.redact(missing.problem), options.redact(str(document))[:200]
        ) from None


def parse_page(
    body: bytes,
    url: str,
    status: int,
    headers: dict[str, str],
    records_path: CompiledPath | None,
    options: RestOptions,
    fields: frozenset[str] | None = None,
) -> Page:
    """A `Page` from a raw body (used for pages fetched on the driver and carried here)."""
    document = parse_body(body, url, status, headers.get("content-type", "missing"), options)
    records = page_records(document, records_path, url, status, options, fields)
    return Page(records, document, headers, url, status, body, url)


def raise_api_error(
    document: Any, path: CompiledPath, url: str, status: int, options: RestOptions
) -> None:
    """Fail when `errorPath` matches in a 2xx body: an error object is never read as records."""
    found = [m for m in path.find(document) if m not in (None, False, [], {}, "")]
    if found:
        shown = "; ".join(str(m) for m in found[:5])
        raise RestResponseError(
            url,
            status,
            f"is an error (errorPath={path.text} matches): {options.redact(shown)[:500]}",
            options.redact(str(document))[:200],
        )


_WORKER_SESSIONS: OrderedDict[bytes, HttpSession] = OrderedDict()
_WORKER_SESSIONS_LOCK = threading.Lock()
_WORKER_SESSIONS_KEPT = 8


def worker_session(options: RestOptions, rate_limit: float | None) -> HttpSession:
    """The HTTP session of these options in this Python process, shared by its tasks.

    Spark reuses Python workers across tasks and micro-batches: sharing one client per
    options saves building a client (~25 ms: it loads the CA bundle) and a new connection
    per task. The few most recently used sessions are kept. Each keeps at most
    `WORKER_MAX_BYTES` of responses for conditional GETs: in a stream, the GETs sent again
    are the driver's (probes, parent lists, caught-up chain pages), not an executor's.
    """
    key = hashlib.sha256(pickle.dumps((options, rate_limit))).digest()
    with _WORKER_SESSIONS_LOCK:
        session = _WORKER_SESSIONS.get(key)
        if session is None:
            session = HttpSession(options, rate_limit=rate_limit, keep_bytes=WORKER_MAX_BYTES)
            _WORKER_SESSIONS[key] = session
        _WORKER_SESSIONS.move_to_end(key)
        while len(_WORKER_SESSIONS) > _WORKER_SESSIONS_KEPT:
            _WORKER_SESSIONS.popitem(last=False)[1].close()
        return session


class PageFetcher:
    """Fetches and parses pages for one task: one HTTP session, bounded concurrency.

    With `session`, that (shared) session is used and left open by `close()`. With
    `decoder`, bodies it can decode become `ArrowRecords` pages without a document: for reads
    that need only the records. With `malformed_bodies`, a body that is not JSON becomes a
    page whose one record is its text (`Malformed`, secrets masked) instead of an error: for
    reads whose positions do not depend on the page (`mode` then keeps or drops it).
    `record_fields` are the read's schema fields, which a lone object must have to be a
    record (`extract_records`); None before there is a schema (inference).
    """

    def __init__(
        self,
        options: RestOptions,
        *,
        rate_limit: float | None = None,
        session: HttpSession | None = None,
        decoder: ArrowPageDecoder | None = None,
        malformed_bodies: bool = False,
        record_fields: frozenset[str] | None = None,
    ) -> None:
        self.options = options
        self.record_fields = record_fields
        # an error object must be seen, so bodies are parsed whole when `errorPath` is set
        self.decoder = decoder if options.error_path is None else None
        self.error_path = (
            compile_path(options.error_path, "errorPath") if options.error_path else None
        )
        self.malformed_bodies = malformed_bodies
        self._owns_session = session is None
        self.session = session or HttpSession(options, rate_limit=rate_limit)
        self.records_path = (
            compile_path(options.records_path) if options.records_path is not None else None
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.requests = 0

    def fetch(
        self,
        spec: RequestSpec,
        *,
        keep_body: bool = False,
        decode: bool = True,
        records: bool = True,
    ) -> Page:
        """Send `spec` (with retries) and parse its response (`decode=False`: never straight
        to Arrow, for a page whose document is needed; `records=False`: a response that is
        not a page of records, a probe or a parent list, whose records are not looked for)."""
        response = self.session.fetch(spec)
        return self.parse(response, keep_body=keep_body, decode=decode, records=records)

    def parse(
        self,
        response: httpx.Response,
        *,
        keep_body: bool = False,
        decode: bool = True,
        records: bool = True,
    ) -> Page:
        """The `Page` of a response: its JSON parsed once, its records extracted."""
        self.requests += 1
        raw_url = str(response.request.url)
        url = redact_url(raw_url, self.options)  # for messages
        headers = {k.lower(): v for k, v in response.headers.items()}
        body = response.content if keep_body else b""
        status = response.status_code
        if self.decoder is not None and decode and records:
            batch = self.decoder.decode(response.content)
            if batch is not None:
                return Page(ArrowRecords(batch), None, headers, url, status, body, raw_url)
        try:
            document = parse_json(response, self.options)
        except RestResponseError:
            if not self.malformed_bodies:
                raise
            text = redact_url(response.content.decode("utf-8", "replace"), self.options)
            return Page([Malformed(text)], None, headers, url, status, body, raw_url)
        if self.error_path is not None:
            raise_api_error(document, self.error_path, url, status, self.options)
        if not records:
            return Page([], document, headers, url, status, body, raw_url)
        found = page_records(
            document, self.records_path, url, status, self.options, self.record_fields
        )
        return Page(found, document, headers, url, status, body, raw_url)

    def fetch_ordered(self, specs: Iterable[RequestSpec]) -> Iterator[Page]:
        """Pages of `specs` in order, up to `requestConcurrency` requests in flight.

        Threads only wait on the network; parsing stays on the calling thread, so threads
        do not fight over the GIL for CPU work.
        """
        width = self.options.request_concurrency
        if width <= 1:
            for spec in specs:
                yield self.fetch(spec)
            return
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(width, thread_name_prefix="rest-fetch")
        pending: deque[Future[httpx.Response]] = deque()
        try:
            for spec in specs:
                pending.append(self._pool.submit(self.session.fetch, spec))
                if len(pending) >= width:
                    yield self.parse(pending.popleft().result())
            while pending:
                yield self.parse(pending.popleft().result())
        finally:
            for future in pending:
                future.cancel()

    def sequential(self) -> PageFetcher:
        """This fetcher with one request in flight in `fetch_ordered` (same session and
        decoder): for work units that already run side by side."""
        return _SequentialFetcher(self)

    def close(self) -> None:
        """Close the pool and the HTTP session."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> PageFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SequentialFetcher(PageFetcher):
    """A view of a `PageFetcher` whose `fetch_ordered` sends one request at a time."""

    def __init__(self, inner: PageFetcher) -> None:  # noqa: D107 - shares the inner state
        self.__dict__.update(inner.__dict__)
        self._owns_session = False
        self._pool = None

    def fetch_ordered(self, specs: Iterable[RequestSpec]) -> Iterator[Page]:
        for spec in specs:
            yield self.fetch(spec)

    def close(self) -> None:
        pass
