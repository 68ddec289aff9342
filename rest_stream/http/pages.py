"""Fetching pages: one request → one parsed `Page`, alone or several at once in order; or one
request → a `StreamedBody` whose NDJSON or CSV body is read block by block."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import threading
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from rest_stream.decoders.arrow_json import ArrowRecords
from rest_stream.decoders.errors import BodyError
from rest_stream.decoders.formats import PageDecoder, body_blocks, records_of
from rest_stream.decoders.jsonpath import (
    CompiledPath,
    Malformed,
    NoRecords,
    compile_path,
    extract_records,
)
from rest_stream.errors import RestConnectionError, RestNoRecordsError, RestResponseError
from rest_stream.http.conditional import WORKER_MAX_BYTES
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import (
    HttpSession,
    body_error,
    plain_body,
    read_document,
    redact_url,
)
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
    #: `records` are the body's in reverse order: a newest-first page read oldest first.
    reversed: bool = False

    @property
    def source(self) -> str:
        """Where the page came from, for messages (secrets masked)."""
        return self.url


def oldest_first(page: Page) -> Page:
    """A newest-first page with its records the other way round, oldest first (`reversed`
    says so: the body keeps them newest first). Not for a page read as several (`parts`)."""
    if page.parts:
        raise ValueError("a page read as several parts is not reversed as one")
    return dataclasses.replace(page, records=page.records[::-1], reversed=not page.reversed)


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
        raise RestNoRecordsError(
            url, status, options.redact(missing.problem), options.redact(str(document))[:200]
        ) from None


def parse_page(
    body: bytes,
    url: str,
    status: int,
    headers: dict[str, str],
    records_path: CompiledPath | None,
    options: RestOptions,
    *,
    decoder: PageDecoder | None = None,
    request_url: str | None = None,
    keep_body: bool = True,
    response_format: str | None = None,
    fields: frozenset[str] | None = None,
    records: bool = True,
) -> Page:
    """A `Page` from a raw body (gunzipped when it is gzip) read in `response_format`
    (default: `responseFormat`): straight to Arrow by `decoder` when it can, else its document
    and records (none looked for with `records=False`: a probe, a parent list). `url` is for
    messages (secrets masked), `request_url` the URL as requested (default: `url`); the page
    keeps the raw body with `keep_body`. A JSON body with no records where they should be
    fails (`page_records`)."""
    response_format = response_format or options.response_format
    plain = plain_body(body, url, status, options, response_format)
    kept = body if keep_body else b""
    requested = url if request_url is None else request_url
    if decoder is not None and records:
        batch = decoder.decode(plain)
        if batch is not None:
            return Page(ArrowRecords(batch), None, headers, url, status, kept, requested)
    content_type = headers.get("content-type", "missing")
    document = read_document(plain, url, status, content_type, options, response_format)
    if not records:
        found: Any = []
    elif response_format == "json":
        found = page_records(document, records_path, url, status, options, fields)
    else:
        found = records_of(document, response_format, records_path)
    return Page(found, document, headers, url, status, kept, requested)


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
        decoder: PageDecoder | None = None,
        malformed_bodies: bool = False,
        record_fields: frozenset[str] | None = None,
        connections: int | None = None,
        pool_width: int | None = None,
    ) -> None:
        self.options = options
        #: Threads of the pool that sends ordered requests ahead (`fetch_ordered`,
        #: `stream_ordered`): `requestConcurrency`, or more where several callers share it
        #: (the driver's streams, `numPartitions × requestConcurrency`).
        self.pool_width = max(pool_width or 0, options.request_concurrency)
        self.record_fields = record_fields
        # an error object must be seen, so bodies are parsed whole when `errorPath` is set
        self.decoder = decoder if options.error_path is None else None
        self.error_path = (
            compile_path(options.error_path, "errorPath") if options.error_path else None
        )
        self.malformed_bodies = malformed_bodies
        self._owns_session = session is None
        self.session = session or HttpSession(
            options, rate_limit=rate_limit, connections=connections
        )
        self.records_path = (
            compile_path(options.records_path) if options.records_path is not None else None
        )
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests = 0

    def fetch(
        self,
        spec: RequestSpec,
        *,
        keep_body: bool = False,
        decode: bool = True,
        records: bool = True,
    ) -> Page:
        """Send `spec` (with retries) and parse its response (as JSON when `spec.as_json`;
        `decode=False`: never straight to Arrow, for a page whose document is needed;
        `records=False`: a response that is not a page of records, a probe or a parent list,
        whose records are not looked for)."""
        response = self.session.fetch(spec)
        return self.parse(
            response, keep_body=keep_body, decode=decode, as_json=spec.as_json, records=records
        )

    def count_request(self) -> None:
        """One more response read (`requests`; fetches run on several threads)."""
        with self._count_lock:
            self.requests += 1

    def parse(
        self,
        response: httpx.Response,
        *,
        keep_body: bool = False,
        decode: bool = True,
        as_json: bool = False,
        records: bool = True,
    ) -> Page:
        """The `Page` of a response: its body read once in `responseFormat` (or as JSON with
        `as_json`), its records extracted; a body that does not parse is one malformed record
        when `malformed_bodies`; an error at `errorPath` fails."""
        self.count_request()
        raw_url = str(response.request.url)
        url = redact_url(raw_url, self.options)  # for messages
        headers = {k.lower(): v for k, v in response.headers.items()}
        try:
            page = parse_page(
                response.content,
                url,
                response.status_code,
                headers,
                self.records_path,
                self.options,
                decoder=None if as_json or not decode else self.decoder,
                request_url=raw_url,
                keep_body=keep_body,
                response_format="json" if as_json else None,
                fields=self.record_fields,
                records=records and self.error_path is None,  # an error first, then records
            )
        except RestResponseError as failed:
            if not self.malformed_bodies or isinstance(failed, RestNoRecordsError):
                raise
            text = redact_url(response.content.decode("utf-8", "replace"), self.options)
            body = response.content if keep_body else b""
            return Page([Malformed(text)], None, headers, url, response.status_code, body, raw_url)
        if self.error_path is not None and page.document is not None:
            raise_api_error(page.document, self.error_path, url, page.status, self.options)
            if records:
                fmt = "json" if as_json else self.options.response_format
                found = (
                    page_records(
                        page.document,
                        self.records_path,
                        url,
                        page.status,
                        self.options,
                        self.record_fields,
                    )
                    if fmt == "json"
                    else records_of(page.document, fmt, self.records_path)
                )
                page = dataclasses.replace(page, records=found)
        return page

    def stream(self, spec: RequestSpec) -> StreamedBody:
        """Send `spec` (with retries) and hold its successful response with the body unread:
        for an NDJSON or CSV body read block by block (`StreamedBody.pages`)."""
        return StreamedBody(self, self.session.fetch(spec, stream=True), spec.method)

    def stream_ordered(self, specs: Iterable[RequestSpec]) -> Iterator[StreamedBody]:
        """`stream` for each of `specs`, in order, with up to `requestConcurrency` requests
        in flight. Only the headers of the responses ahead are read: their bodies wait in
        the network until their turn."""
        width = self.options.request_concurrency
        if width <= 1:
            for spec in specs:
                yield self.stream(spec)
            return
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.pool_width, thread_name_prefix="rest-fetch")
        pending: deque[tuple[str, Future[httpx.Response]]] = deque()

        def opened(spec: RequestSpec) -> httpx.Response:
            return self.session.fetch(spec, stream=True)

        try:
            for spec in specs:
                pending.append((spec.method, self._pool.submit(opened, spec)))
                if len(pending) >= width:
                    method, future = pending.popleft()
                    yield StreamedBody(self, future.result(), method)
            while pending:
                method, future = pending.popleft()
                yield StreamedBody(self, future.result(), method)
        finally:
            for _, future in pending:  # responses opened for nothing: released
                if not future.cancel():
                    future.add_done_callback(_close_response)

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
                self._pool = ThreadPoolExecutor(self.pool_width, thread_name_prefix="rest-fetch")
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


def _close_response(future: Future[httpx.Response]) -> None:
    if future.exception() is None:
        future.result().close()


class StreamedBody:
    """A successful response whose NDJSON or CSV body is read block by block: `pages` gives
    a page of about `BLOCK_RECORDS` records at a time (decoded straight to Arrow where the
    fetcher's decoder can), so the whole body is never held. Close it (or use `with`)."""

    def __init__(self, fetcher: PageFetcher, response: httpx.Response, method: str) -> None:
        fetcher.count_request()
        self.fetcher = fetcher
        self.response = response
        self.method = method
        self.request_url = str(response.request.url)
        self.url = redact_url(self.request_url, fetcher.options)
        self.headers = {k.lower(): v for k, v in response.headers.items()}

    def pages(self, **limits: int) -> Iterator[Page]:
        """The body's records, a block at a time (`limits`: `max_records`, `max_bytes` of
        `body_blocks`); `RestResponseError` naming the line at fault, `RestConnectionError`
        when the body breaks off."""
        options = self.fetcher.options
        response_format = options.response_format
        decoder = self.fetcher.decoder
        status = self.response.status_code
        blocks = body_blocks(self.response.iter_bytes(), response_format, **limits)
        read, start = 0, b""
        try:
            for block in blocks:
                start = start or block.data[:2000]  # for messages
                batch = block.batch(decoder) if decoder is not None else None
                if batch is not None:
                    records: Any = ArrowRecords(batch)
                    document = None
                else:
                    records = document = block.records(response_format)
                read += len(records)
                yield Page(records, document, self.headers, self.url, status, b"", self.request_url)
        except BodyError as exc:
            raise body_error(exc, self.url, status, start, options) from None
        except httpx.HTTPError as exc:
            cause = redact_url(f"{type(exc).__name__}: {exc}", options)
            raise RestConnectionError(
                self.method, self.url, f"the body broke off after {read} records ({cause})", 1
            ) from None

    def close(self) -> None:
        """Release the response and its connection."""
        self.response.close()

    def __enter__(self) -> StreamedBody:
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
