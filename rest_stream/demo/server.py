"""Embedded, deterministic REST API on loopback for demos, tests and benchmarks.

``DemoApi`` serves a synthetic, append-only dataset through every pagination
style the data source supports (incremental ids, timestamps, opaque cursors,
Stripe ``starting_after``, page numbers, offset/limit, next links in a ``Link``
header or in the body, plain or OData), an ``/export`` of NDJSON or CSV (gzipped on
request, as a ``.gz`` file or with ``Content-Encoding``), plus a ``/streams`` parent list for
fan-out, request-body endpoints, an echo endpoint, OAuth2 client-credentials
token issuance and the usual authentication schemes.  Faults (error statuses,
``Retry-After``, HTML pages, truncated bodies, dropped connections, slow
responses) can be queued per path, a fixed-window rate limit can answer 429,
every request is logged, and the peak number of concurrent requests can be
measured afterwards.

Records are split into streams by ``region`` (``?region=`` filters every data
endpoint); ``append(n)`` deals new records round-robin over the regions,
``append(n, region=r)`` gives them all to one region, ``add_stream(r)`` adds a
region at runtime.  ``alter(id, **fields)`` changes a record's fields (a value of another
type, a field more) and ``replace(id, value)`` serves any JSON value in its place.
``DemoApi(shape="nested")`` serves records shaped like a real API's (an array, a nested
object, nulls, missing fields), ``shape="flat"`` only scalars (``make_record``).

Only the standard library (plus ``orjson``) is used so it starts in
milliseconds.  Page bodies are cached as encoded bytes until the next
``append``.  Run ``python -m rest_stream.demo.server --records N`` to serve
the API from a terminal.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import csv
import gc
import gzip
import io
import math
import socket
import sys
import threading
import time
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from socketserver import TCPServer
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import orjson

__all__ = [
    "RECORD_SHAPES",
    "DemoApi",
    "Fault",
    "FaultKind",
    "Headers",
    "RecordShape",
    "RequestLog",
    "main",
]

JSON = "application/json"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_CACHE_MAX_ENTRIES = 8192
_DATA_ENDPOINTS = frozenset(
    {
        "/items",
        "/events",
        "/cursor",
        "/stripe",
        "/pages",
        "/offset",
        "/linked",
        "/latest",
        "/export",
    }
)
#: The columns of an ``/export?format=csv`` row.
CSV_COLUMNS = ("id", "ts", "region", "name", "value", "tags", "note")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

FaultKind = Literal["status", "html", "truncated", "drop", "sleep"]
RateLimitHeaders = Literal["x-ratelimit", "ietf", "none"]
_RATE_LIMIT_STYLES = ("x-ratelimit", "ietf", "none")


# --------------------------------------------------------------------------- public value types


@dataclass
class Fault:
    """A misbehaviour served instead of (or before) the normal response.

    ``kind`` is ``"status"`` (``status`` + ``body``/``headers``), ``"html"`` (an
    HTML page), ``"truncated"`` (200 with the normal JSON body cut in half),
    ``"drop"`` (close the socket without answering) or ``"sleep"`` (wait
    ``seconds`` then answer normally).  ``body=None`` means a JSON error body.
    """

    status: int = 503
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: FaultKind = "status"
    seconds: float = 0.0

    @classmethod
    def retry_after(cls, value: str, status: int = 429) -> Fault:
        """An error status carrying ``Retry-After: value`` (seconds or HTTP date)."""
        return cls(status=status, headers={"Retry-After": value})

    @classmethod
    def html(cls, status: int = 200) -> Fault:
        """An HTML error page (``text/html``) where JSON was expected."""
        return cls(status=status, body=b"<html><body>Service down</body></html>", kind="html")

    @classmethod
    def truncated(cls) -> Fault:
        """A 200 response whose JSON body is cut in half (Content-Length matches)."""
        return cls(status=200, kind="truncated")

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection abruptly without sending a response."""
        return cls(status=0, kind="drop")

    @classmethod
    def sleep(cls, seconds: float) -> Fault:
        """Delay ``seconds`` and then answer normally."""
        return cls(status=200, kind="sleep", seconds=seconds)


class Headers(dict[str, str]):
    """A ``dict`` of header values keyed by lower-cased name; lookups ignore case."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        for name, value in items:
            key = name.lower()
            super().__setitem__(key, f"{self[key]}, {value}" if key in self else value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:
        """Case-insensitive ``dict.get``."""
        return super().get(key.lower(), default)


@dataclass
class RequestLog:
    """One served request; ``start``/``end`` are ``time.perf_counter()`` values."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    start: float
    end: float = math.nan
    status: int = 0


class Response(NamedTuple):
    """A fully encoded response."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", JSON),)


class _BadRequest(Exception):
    """Raised by parameter parsing; becomes a 400 response."""


# --------------------------------------------------------------------------- small pure helpers


#: What records look like (``DemoApi(shape=...)``): ``"demo"`` (the default) as tests and the
#: demo know them; ``"nested"`` shaped like a real API's records, with an array, a nested
#: object, nulls and missing fields; ``"flat"`` the scalar fields of ``"nested"``, always set.
RecordShape = Literal["demo", "nested", "flat"]
RECORD_SHAPES: tuple[str, ...] = ("demo", "nested", "flat")
_CATEGORIES = ("books", "music", "garden", "toys", "tools")


def make_record(
    i: int,
    regions: Sequence[str],
    base_ts: int,
    region: str | None = None,
    shape: RecordShape = "demo",
) -> dict[str, Any]:
    """The deterministic record with 1-based id ``i`` (in ``region``, else round-robin).

    ``shape="nested"`` (9 fields, no ``region``): ``value`` null for every 11th id,
    ``category`` missing for every 7th, ``score`` null for every 13th, ``tags`` (0 to 3
    strings) missing for every 17th, ``geo`` (``{"lat", "lon"}``) null for every 9th and
    missing for every 19th. ``shape="flat"``: ``id``, ``ts``, ``name``, ``value``, ``active``,
    ``category`` and ``score``, never null.
    """
    if shape == "demo":
        return {
            "id": i,
            "ts": base_ts + i,
            "region": region if region is not None else regions[(i - 1) % len(regions)],
            "name": f"item-{i}",
            "value": round(i * 1.5, 2),
            "tags": [f"t{i % 3}", f"t{i % 5}"],
            "meta": {"source": "demo", "score": i % 7},
        }
    if shape == "flat":
        return {
            "id": i,
            "ts": base_ts + i,
            "name": f"item-{i}",
            "value": round(i * 1.5, 2),
            "active": i % 2 == 0,
            "category": _CATEGORIES[i % 5],
            "score": i % 100,
        }
    if shape != "nested":
        raise ValueError(f"shape must be one of {RECORD_SHAPES}, got {shape!r}")
    record: dict[str, Any] = {
        "id": i,
        "ts": base_ts + i,
        "name": f"item-{i}",
        "value": None if i % 11 == 0 else round(i * 1.5, 2),
        "active": i % 2 == 0,
    }
    if i % 7:
        record["category"] = _CATEGORIES[i % 5]
    record["score"] = None if i % 13 == 0 else i % 100
    if i % 17:
        record["tags"] = [f"t{(i + k) % 10}" for k in range(i % 4)]
    if i % 19:
        record["geo"] = (
            None
            if i % 9 == 0
            else {
                "lat": round((i * 37) % 18000 / 100 - 90, 2),
                "lon": round((i * 53) % 36000 / 100 - 180, 2),
            }
        )
    return record


def csv_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as an ``/export?format=csv`` row: tags joined by commas, and every fifth
    record a note with a quote, a comma and a line break (an empty note otherwise)."""
    note = f'say "hi", {record["name"]}\nsecond line' if record["id"] % 5 == 0 else ""
    return {
        **{k: record.get(k) for k in CSV_COLUMNS[:5]},
        "tags": ",".join(record.get("tags") or ()),
        "note": note,
    }


def to_iso(ts: float) -> str:
    """Epoch seconds -> ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> float:
    """Epoch seconds or an ISO-8601 string (naive = UTC) -> epoch seconds."""
    try:
        return float(value)
    except ValueError:
        pass
    text = value.strip()
    if "T" in text:
        text = text.replace(" ", "+")  # an unescaped "+00:00" offset arrives as " 00:00"
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"  # Python 3.10's fromisoformat rejects "Z"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _BadRequest(f"invalid timestamp {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def encode_cursor(last_id: int) -> str:
    """Opaque cursor pointing after ``last_id``."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Inverse of :func:`encode_cursor`; raises ``_BadRequest`` on garbage."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "id":
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _BadRequest(f"invalid cursor {cursor!r}") from exc


def json_response(status: int, payload: Any, extra: Iterable[tuple[str, str]] = ()) -> Response:
    """Encode ``payload`` as a JSON response."""
    return Response(status, orjson.dumps(payload), (("Content-Type", JSON), *extra))


def error(status: int, message: str, **extra: Any) -> Response:
    """A JSON error response ``{"error": message, ...}``."""
    return json_response(status, {"error": message, **extra})


def _int_param(
    query: Mapping[str, Any],
    name: str,
    default: int | None,
    *,
    low: int | None = None,
    high: int | None = None,
) -> int | None:
    """Parse an integer parameter; clamp to ``high``, reject below ``low``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise _BadRequest(f"{name} must be an integer, got {raw!r}") from exc
    if low is not None and value < low:
        raise _BadRequest(f"{name} must be >= {low}")
    return min(value, high) if high is not None else value


def _limit(query: Mapping[str, Any], name: str = "limit") -> int:
    value = _int_param(query, name, DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    assert value is not None
    return value


def _parse_oauth1(header: str) -> dict[str, str]:
    """``OAuth k="v", ...`` -> ``{k: v}`` (percent-decoded)."""
    params: dict[str, str] = {}
    for part in header[len("OAuth ") :].split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            params[unquote(key.strip())] = unquote(value.strip().strip('"'))
    return params


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """Decode an ``Authorization: Basic`` header value."""
    if not header.lower().startswith("basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _bearer(header: str) -> str | None:
    return header[7:].strip() if header.lower().startswith("bearer ") else None


@contextlib.contextmanager
def _gc_paused(active: bool) -> Iterator[None]:
    """Pause the cyclic GC while allocating many small dicts (about 2x faster)."""
    was_enabled = gc.isenabled()
    if active:
        gc.disable()
    try:
        yield
    finally:
        if active and was_enabled:
            gc.enable()


def _peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Maximum number of simultaneously open ``(start, end)`` intervals."""
    events = sorted(e for start, end in intervals for e in ((start, 1), (end, -1)))
    peak = current = 0
    for _, delta in events:  # ends (-1) sort before starts (+1) at equal times
        current += delta
        peak = max(peak, current)
    return peak


# --------------------------------------------------------------------------- the API


class _Snapshot(NamedTuple):
    """A consistent view of one region's ids (``ids[:size]``) at ``version``."""

    version: int
    ids: Sequence[int]
    size: int

    def index_from(self, min_id: int) -> int:
        """Index of the first id >= ``min_id``."""
        return bisect_left(self.ids, min_id, 0, self.size)

    def window(self, start: int, limit: int) -> Sequence[int]:
        return self.ids[start : min(start + limit, self.size)]


class _RateWindow:
    """A fixed-window request budget: ``limit`` requests per ``window`` seconds.

    Windows are aligned to the epoch (``floor(now / window) * window``), so
    ``reset`` is the same for every request of one window.
    """

    def __init__(self, limit: int, window: float) -> None:
        if limit < 0 or window <= 0:
            raise ValueError(
                f"rate_limit must be (requests >= 0, seconds > 0), got {(limit, window)}"
            )
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._start = -math.inf
        self._count = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        """Count one request at ``now``: ``(allowed, remaining, reset_epoch)``."""
        start = math.floor(now / self.window) * self.window
        with self._lock:
            if start != self._start:
                self._start, self._count = start, 0
            allowed = self._count < self.limit
            if allowed:
                self._count += 1
            return allowed, self.limit - self._count, start + self.window


def rate_limit_headers(
    style: RateLimitHeaders, limit: int, remaining: int, reset: float, now: float
) -> tuple[tuple[str, str], ...]:
    """The rate-limit headers of one response in ``style``.

    ``x-ratelimit``: ``X-RateLimit-Limit/-Remaining/-Reset`` (reset = epoch seconds);
    ``ietf``: ``RateLimit-Limit/-Remaining/-Reset`` (reset = seconds from now);
    ``none``: no headers.  Resets are rounded up to whole seconds.
    """
    if style == "x-ratelimit":
        return (
            ("X-RateLimit-Limit", str(limit)),
            ("X-RateLimit-Remaining", str(remaining)),
            ("X-RateLimit-Reset", str(math.ceil(reset))),
        )
    if style == "ietf":
        return (
            ("RateLimit-Limit", str(limit)),
            ("RateLimit-Remaining", str(remaining)),
            ("RateLimit-Reset", str(max(0, math.ceil(reset - now)))),
        )
    return ()


class DemoApi:
    """A deterministic REST API served from a daemon thread on ``127.0.0.1``.

    ``rate_limit=(8, 2.0)`` allows 8 requests per 2-second window (all paths but
    ``/admin/``); past it the API answers 429 without ``Retry-After``.  Every
    response then carries the headers of ``rate_limit_headers`` (``"x-ratelimit"``,
    ``"ietf"`` or ``"none"``).  Both can be changed while serving.

    A record's ``ts`` is ``base_ts + id``; with ``clock_stamps`` it is the time the record
    was appended (epoch seconds, to the millisecond, 1 ms apart within an append), as a live
    API stamps them, so that a ``timestamp`` stream that ends at the clock finds records
    appended later.

    ``shape`` says what the records look like (``make_record``): ``"demo"`` (the default),
    ``"nested"`` (an API's records: an array, a nested object, nulls, missing fields) or
    ``"flat"`` (scalars only). Every shape has ``id`` and ``ts``; only ``"demo"`` records name
    their ``region`` (``?region=`` filters every shape).

    ``hold(ids)`` leaves records out of ``/events`` until ``release(ids)``, as an API shows a
    transaction's records when it commits, stamped when it began: they then appear late, with
    timestamps older than records already listed.
    """

    def __init__(
        self,
        records: int = 1000,
        *,
        regions: tuple[str, ...] = ("eu", "us"),
        latency_ms: float = 0.0,
        base_ts: int = 1_700_000_000,
        clock_stamps: bool = False,
        shape: RecordShape = "demo",
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        api_key: str | None = None,
        oauth2_client: tuple[str, str] | None = None,
        token_ttl: int = 3600,
        oauth1: tuple[str, str, str, str] | None = None,
        rate_limit: tuple[int, float] | None = None,
        rate_limit_headers: RateLimitHeaders = "x-ratelimit",
        port: int = 0,
    ) -> None:
        if not regions:
            raise ValueError("regions must not be empty")
        self.regions = tuple(regions)
        self.latency_ms = latency_ms
        self.base_ts = base_ts
        self.clock_stamps = clock_stamps
        if shape not in RECORD_SHAPES:
            raise ValueError(f"shape must be one of {RECORD_SHAPES}, got {shape!r}")
        self.shape: RecordShape = shape
        self.bearer_token = bearer_token
        self.basic_auth = basic_auth
        self.api_key = api_key
        self.oauth2_client = oauth2_client
        self.oauth1 = oauth1
        self.token_ttl = token_ttl
        self.tokens_issued = 0
        self.requests: list[RequestLog] = []
        self._rate: _RateWindow | None = None
        self.rate_limit = rate_limit
        self.rate_limit_headers = rate_limit_headers
        self._port = port
        self._data_lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._records: list[dict[str, Any]] = []
        self._stamps: list[float] = []  # each record's `ts`, by id: never decreasing
        self._held: set[int] = set()  # ids left out of `/events` until released
        self._by_region: dict[str, list[int]] = {r: [] for r in self.regions}
        self._version = 0
        self._cache: dict[tuple[Any, ...], Response] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._tokens: dict[str, float] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self.append(records)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> DemoApi:
        """Bind ``127.0.0.1`` (port 0 = any free port) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("DemoApi already started")
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.api = self
        self._server = server
        self._url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"DemoApi{self._url[16:]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket and open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DemoApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (only after :meth:`start`)."""
        if self._url is None:
            raise RuntimeError("DemoApi not started")
        return self._url

    @property
    def port(self) -> int:
        """The bound TCP port (only after :meth:`start`)."""
        return int(self.url.rsplit(":", 1)[1])

    # ----------------------------------------------------------------- rate limit

    @property
    def rate_limit(self) -> tuple[int, float] | None:
        """``(requests, seconds)`` of the fixed-window budget, or ``None`` (unlimited)."""
        return None if self._rate is None else (self._rate.limit, self._rate.window)

    @rate_limit.setter
    def rate_limit(self, value: tuple[int, float] | None) -> None:
        self._rate = None if value is None else _RateWindow(int(value[0]), float(value[1]))

    @property
    def rate_limit_headers(self) -> RateLimitHeaders:
        """Header style sent with a rate limit: ``"x-ratelimit"``, ``"ietf"`` or ``"none"``."""
        return self._rate_headers

    @rate_limit_headers.setter
    def rate_limit_headers(self, value: RateLimitHeaders) -> None:
        if value not in _RATE_LIMIT_STYLES:
            raise ValueError(
                f"rate_limit_headers must be one of {_RATE_LIMIT_STYLES}, got {value!r}"
            )
        self._rate_headers = value

    def _take_budget(self, path: str) -> tuple[bool, tuple[tuple[str, str], ...]]:
        """Count one request against the rate limit: ``(allowed, headers to send)``."""
        rate = self._rate
        if rate is None or path.startswith("/admin/"):
            return True, ()
        now = time.time()
        allowed, remaining, reset = rate.take(now)
        return allowed, rate_limit_headers(self._rate_headers, rate.limit, remaining, reset, now)

    # ----------------------------------------------------------------- data

    def append(
        self, n: int, region: str | None = None, *, fields: Mapping[str, Any] | None = None
    ) -> None:
        """Add ``n`` records (ids continue from the current maximum); drops cached pages.

        Records are dealt round-robin over the regions by id, or all go to ``region``
        (which must be served: see :meth:`add_stream`). ``fields`` are set on every new
        record besides its shape's (``fields={"appended": time.time()}``: when it arrived).
        """
        if region is not None and region not in self._by_region:
            raise ValueError(f"unknown region {region!r}; add it with add_stream first")
        with self._data_lock, _gc_paused(n > 10_000):
            first = len(self._records) + 1
            ids = range(first, first + n)
            homes = [
                region if region is not None else self.regions[(i - 1) % len(self.regions)]
                for i in ids
            ]
            new = [
                make_record(i, self.regions, self.base_ts, home, self.shape)
                for i, home in zip(ids, homes)
            ]
            if self.clock_stamps:  # stamped when they arrive, as a live API does (1 ms apart)
                last = self._stamps[-1] if self._stamps else 0.0
                now = max(time.time(), last + 0.001)
                new = [{**rec, "ts": round(now + k * 0.001, 3)} for k, rec in enumerate(new)]
            if fields:
                for rec in new:
                    rec.update(fields)
            self._stamps.extend(rec["ts"] for rec in new)
            self._records.extend(new)
            for i, home in zip(ids, homes):
                self._by_region[home].append(i)
            self._version += 1
            self._cache.clear()

    def add_stream(self, region: str, records: int = 0) -> None:
        """Serve a new region (listed by ``/streams``), optionally with ``records`` records."""
        with self._data_lock:
            if region not in self._by_region:
                self.regions = (*self.regions, region)
                self._by_region[region] = []
                self._version += 1
                self._cache.clear()
        if records:
            self.append(records, region)

    def alter(self, record_id: int, **fields: Any) -> None:
        """Change fields of record ``record_id`` (1-based), or add fields to it, as an API
        whose data drifts from its schema does: ``api.alter(3, value="n/a", colour="red")``.
        """
        with self._data_lock:
            record = self._records[record_id - 1]
            if not isinstance(record, dict):
                raise ValueError(f"record {record_id} is not an object")
            self._records[record_id - 1] = {**record, **fields}
            self._version += 1
            self._cache.clear()

    def replace(self, record_id: int, value: Any) -> None:
        """Serve ``value``, any JSON value (a bare number, a string), in place of record
        ``record_id``. Endpoints that read a field of a page's last record (``/events``,
        ``/cursor``) need it to stay an object."""
        with self._data_lock:
            self._records[record_id - 1] = value
            self._version += 1
            self._cache.clear()

    def hold(self, *record_ids: int) -> None:
        """Leave records out of ``/events`` (written, not yet committed) until released."""
        with self._data_lock:
            self._held.update(record_ids)
            self._version += 1
            self._cache.clear()

    def release(self, *record_ids: int) -> None:
        """List held records in ``/events`` again (all of them when no id is given): they
        appear late, with their own, older timestamps."""
        with self._data_lock:
            self._held.difference_update(record_ids or set(self._held))
            self._version += 1
            self._cache.clear()

    def streams(self) -> list[dict[str, str]]:
        """The ``/streams`` list: one ``{"region": r}`` per served region, in order added."""
        with self._data_lock:
            return [{"region": r} for r in self.regions]

    def record_count(self, region: str | None = None) -> int:
        """Number of records, optionally only those of ``region``."""
        with self._data_lock:
            return len(self._records) if region is None else len(self._by_region.get(region, ()))

    def records(self, region: str | None = None) -> list[dict[str, Any]]:
        """All records currently served (optionally of one region), ascending by id."""
        snap = self._snapshot(region)
        return self._materialise(snap.window(0, snap.size))

    def _snapshot(self, region: str | None) -> _Snapshot:
        with self._data_lock:
            if region is None:
                n = len(self._records)
                return _Snapshot(self._version, range(1, n + 1), n)
            ids = self._by_region.get(region, [])
            return _Snapshot(self._version, ids, len(ids))

    def _materialise(self, ids: Iterable[int]) -> list[dict[str, Any]]:
        records = self._records
        return [records[i - 1] for i in ids]

    # ----------------------------------------------------------------- faults & stats

    def inject(self, path: str, *faults: Fault | int) -> None:
        """Queue faults (FIFO) for the next requests to ``path``; an int is an error status."""
        queued = [f if isinstance(f, Fault) else Fault(status=int(f)) for f in faults]
        with self._fault_lock:
            self._faults.setdefault(path, deque()).extend(queued)

    def pending_faults(self, path: str) -> int:
        """How many injected faults for ``path`` have not been served yet."""
        with self._fault_lock:
            return len(self._faults.get(path, ()))

    def _next_fault(self, path: str) -> Fault | None:
        with self._fault_lock:
            queue = self._faults.get(path)
            return queue.popleft() if queue else None

    def _log(self, entry: RequestLog) -> None:
        with self._log_lock:
            self.requests.append(entry)

    def max_concurrency(self, path_prefix: str = "/") -> int:
        """Peak number of requests in flight at once among paths starting with ``path_prefix``."""
        with self._log_lock:
            spans = [(r.start, r.end) for r in self.requests if r.path.startswith(path_prefix)]
        return _peak_overlap(spans)

    def reset_stats(self) -> None:
        """Forget the request log."""
        with self._log_lock:
            self.requests.clear()

    # ----------------------------------------------------------------- request handling

    def handle(
        self, method: str, path: str, query: dict[str, str], headers: Headers, body: bytes
    ) -> Response:
        """Produce the normal (fault-free) response for one request."""
        try:
            if path == "/oauth/token":
                return (
                    self._oauth_token(method, headers, body)
                    if method == "POST"
                    else error(405, "method not allowed")
                )
            if path.startswith("/admin/"):
                return self._admin(method, path)
            denied = self._check_auth(headers, query)
            if denied is not None:
                return denied
            return self._route(method, path, query, headers, body)
        except _BadRequest as exc:
            return error(400, "bad_request", detail=str(exc))

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: Headers, body: bytes
    ) -> Response:
        if path == "/echo":
            return self._echo(method, path, query, headers, body)
        if path == "/streams":
            if method != "GET":
                return error(405, "method not allowed")
            return json_response(200, {"streams": self.streams()})
        if path == "/search":
            if method not in _BODY_METHODS:
                return error(405, "method not allowed")
            return self._search(query, headers, body)
        if path in _DATA_ENDPOINTS:
            if method != "GET":
                return error(405, "method not allowed")
            return self._cached_page(path, query)
        return error(404, "not found", path=path)

    def _cached_page(self, path: str, query: dict[str, str]) -> Response:
        snap = self._snapshot(query.get("region") or None)
        key = (snap.version, path, tuple(sorted(query.items())))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        response = self._PAGE_BUILDERS[path](self, snap, query)
        with self._data_lock:
            if self._version == snap.version:
                if len(self._cache) >= _CACHE_MAX_ENTRIES:
                    self._cache.clear()
                self._cache[key] = response
        return response

    # ----------------------------------------------------------------- data endpoints

    def _items(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        since_id = _int_param(query, "since_id", 0) or 0
        data = self._materialise(snap.window(snap.index_from(since_id), _limit(query)))
        return json_response(200, {"data": data, "count": len(data)})

    def _events(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        iso = query.get("format") == "iso"
        raw = query.get("since")
        since = parse_timestamp(raw) if raw else None
        first_id = 0 if since is None else bisect_right(self._stamps, since) + 1
        start, limit = snap.index_from(first_id), _limit(query)
        with self._data_lock:
            held = frozenset(self._held)
        if held:
            following = (i for i in snap.ids[start : snap.size] if i not in held)
            data = self._materialise(list(islice(following, limit)))
        else:
            data = self._materialise(snap.window(start, limit))
        next_since: Any = data[-1]["ts"] if data else since
        if isinstance(next_since, float) and next_since.is_integer():
            next_since = int(next_since)
        if iso:
            data = [{**rec, "ts": to_iso(rec["ts"])} for rec in data]
            next_since = None if next_since is None else to_iso(next_since)
        return json_response(200, {"data": data, "next_since": next_since})

    def _cursor(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        cursor = query.get("cursor") or ""
        after = decode_cursor(cursor) if cursor else 0
        data = self._materialise(snap.window(snap.index_from(after + 1), _limit(query)))
        next_cursor = encode_cursor(data[-1]["id"]) if data else None
        extra = (("X-Next-Cursor", next_cursor),) if next_cursor else ()
        return json_response(200, {"data": data, "next_cursor": next_cursor}, extra)

    def _stripe(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        """``starting_after=x``: the ids above x, smallest first. ``order=desc`` lists newest
        first, as Stripe does: ``starting_after=x`` gives the ids just below x (older),
        ``ending_before=x`` the ``limit`` ids just above x (newer), both largest first, and
        ``has_more`` says whether more follow in that direction."""
        if query.get("order") == "desc":
            return self._stripe_newest_first(snap, query)
        after = _int_param(query, "starting_after", 0) or 0
        start = snap.index_from(after + 1)
        ids = snap.window(start, _limit(query))
        has_more = start + len(ids) < snap.size
        return json_response(
            200, {"object": "list", "data": self._materialise(ids), "has_more": has_more}
        )

    def _stripe_newest_first(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        limit = _limit(query)
        after = _int_param(query, "starting_after", None)
        before = _int_param(query, "ending_before", None)
        if after is not None and before is not None:
            raise _BadRequest("only one of starting_after and ending_before")
        if before is not None:
            start = snap.index_from(before + 1)
            ids, has_more = snap.window(start, limit), start + limit < snap.size
        else:
            stop = snap.index_from(after) if after is not None else snap.size
            start = max(0, stop - limit)
            ids, has_more = snap.ids[start:stop], start > 0
        data = self._materialise(reversed(list(ids)))
        return json_response(200, {"object": "list", "data": data, "has_more": has_more})

    def _pages(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        page = _int_param(query, "page", 1, low=1) or 1
        per_page = _limit(query, "per_page")
        data = self._materialise(snap.window((page - 1) * per_page, per_page))
        return json_response(
            200,
            {
                "data": data,
                "page": page,
                "per_page": per_page,
                "total_pages": math.ceil(snap.size / per_page),
                "total": snap.size,
            },
        )

    def _offset(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        offset = _int_param(query, "offset", 0, low=0) or 0
        data = self._materialise(snap.window(offset, _limit(query)))
        return json_response(200, {"data": data, "total": snap.size})

    def _linked(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        """Next links: a ``Link`` header (default), ``?in=body`` (relative ``next_url``,
        ``null`` at the end) or ``?in=odata`` (absolute ``@odata.nextLink``, absent at the end).
        """
        style = query.get("in") or "header"
        if style not in ("header", "body", "odata"):
            raise _BadRequest(f"in must be header, body or odata, got {style!r}")
        after = _int_param(query, "after", 0) or 0
        limit = _limit(query)
        start = snap.index_from(after + 1)
        ids = snap.window(start, limit)
        data = self._materialise(ids)
        next_path: str | None = None
        if ids and start + len(ids) < snap.size:
            params = {"after": str(ids[-1]), "limit": str(limit)}
            params.update((k, v) for k, v in query.items() if k not in ("after", "limit"))
            next_path = f"/linked?{urlencode(params)}"
        if style == "body":
            return json_response(200, {"data": data, "next_url": next_path})
        if style == "odata":
            page: dict[str, Any] = {"value": data}
            if next_path is not None:
                page["@odata.nextLink"] = self.url + next_path
            return json_response(200, page)
        extra: tuple[tuple[str, str], ...] = ()
        if next_path is not None:
            extra = (("Link", f'<{self.url}{next_path}>; rel="next"'),)
        return json_response(200, data, extra)

    def _export(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        """Every record from ``since_id`` (up to ``limit``, default all) in one body:
        ``format=ndjson`` (default) or ``csv`` (columns ``CSV_COLUMNS``, CRLF line ends, a
        header row); ``gzip=file`` sends a ``.gz`` download (``application/gzip``),
        ``gzip=encoding`` the same bytes with ``Content-Encoding: gzip``."""
        since_id = _int_param(query, "since_id", 0) or 0
        start = snap.index_from(since_id)
        limit = _int_param(query, "limit", snap.size, low=1) or snap.size
        data = self._materialise(snap.window(start, limit))
        kind = query.get("format") or "ndjson"
        if kind == "ndjson":
            body = b"".join(orjson.dumps(r) + b"\n" for r in data)
            content_type = "application/x-ndjson"
        elif kind == "csv":
            text = io.StringIO()
            writer = csv.DictWriter(text, CSV_COLUMNS, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(csv_row(r) for r in data)
            body, content_type = text.getvalue().encode(), "text/csv; charset=utf-8"
        else:
            raise _BadRequest(f"format must be ndjson or csv, got {kind!r}")
        packing = query.get("gzip") or ""
        if packing not in ("", "file", "encoding"):
            raise _BadRequest(f"gzip must be file or encoding, got {packing!r}")
        if packing == "file":
            packed = gzip.compress(body, mtime=0)
            return Response(200, packed, (("Content-Type", "application/gzip"),))
        headers: tuple[tuple[str, str], ...] = (("Content-Type", content_type),)
        if packing == "encoding":
            body, headers = gzip.compress(body, mtime=0), (*headers, ("Content-Encoding", "gzip"))
        return Response(200, body, headers)

    def _latest(self, snap: _Snapshot, query: dict[str, str]) -> Response:
        per_page = _limit(query, "per_page")
        max_id = snap.ids[snap.size - 1] if snap.size else None
        max_ts: Any = None if max_id is None else self._stamps[max_id - 1]
        if max_ts is not None and query.get("format") == "iso":
            max_ts = to_iso(max_ts)
        return json_response(
            200,
            {
                "max_id": max_id,
                "max_ts": max_ts,
                "last_page": math.ceil(snap.size / per_page),
                "total": snap.size,
            },
        )

    _PAGE_BUILDERS: dict[str, Callable[[DemoApi, _Snapshot, dict[str, str]], Response]] = {
        "/items": _items,
        "/events": _events,
        "/cursor": _cursor,
        "/stripe": _stripe,
        "/pages": _pages,
        "/offset": _offset,
        "/linked": _linked,
        "/latest": _latest,
        "/export": _export,
    }

    # ----------------------------------------------------------------- other endpoints

    def _search(self, query: dict[str, str], headers: Headers, body: bytes) -> Response:
        content_type = headers.get("content-type", "")
        fields = _parse_body(content_type, body)
        params = {**query, **fields}
        region = params.get("region") or None
        snap = self._snapshot(str(region) if region is not None else None)
        since_id = _int_param(params, "since_id", 0) or 0
        data = self._materialise(snap.window(snap.index_from(since_id), _limit(params)))
        return json_response(
            200,
            {
                "data": data,
                "count": len(data),
                "received": {**fields, "content_type": content_type},
            },
        )

    @staticmethod
    def _echo(
        method: str, path: str, query: dict[str, str], headers: Headers, body: bytes
    ) -> Response:
        return json_response(
            200,
            [
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "headers": dict(headers),
                    "body": body.decode("utf-8", "replace"),
                }
            ],
        )

    def _admin(self, method: str, path: str) -> Response:
        if path != "/admin/revoke":
            return error(404, "not found", path=path)
        if method != "POST":
            return error(405, "method not allowed")
        with self._token_lock:
            revoked = len(self._tokens)
            self._tokens.clear()
        return json_response(200, {"revoked": revoked})

    def _oauth_token(self, method: str, headers: Headers, body: bytes) -> Response:
        form = {
            k: v[0]
            for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        creds = _basic_credentials(headers.get("authorization", "")) or (
            form.get("client_id", ""),
            form.get("client_secret", ""),
        )
        if self.oauth2_client is None or tuple(creds) != tuple(self.oauth2_client):
            return json_response(
                401, {"error": "invalid_client"}, (("WWW-Authenticate", 'Basic realm="demo"'),)
            )
        if form.get("grant_type") != "client_credentials":
            return error(400, "unsupported_grant_type")
        with self._token_lock:
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self._tokens[token] = time.monotonic() + self.token_ttl
        return json_response(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl}
        )

    # ----------------------------------------------------------------- auth

    def _check_auth(self, headers: Headers, query: Mapping[str, str]) -> Response | None:
        """``None`` when every configured scheme is satisfied, else a 401 response."""
        authorization = headers.get("authorization", "")
        checks: list[tuple[bool, str]] = []
        if self.bearer_token is not None:
            checks.append((_bearer(authorization) == self.bearer_token, 'Bearer realm="demo"'))
        if self.basic_auth is not None:
            checks.append(
                (_basic_credentials(authorization) == tuple(self.basic_auth), 'Basic realm="demo"')
            )
        if self.api_key is not None:
            ok = self.api_key in (headers.get("x-api-key"), query.get("api_key"))
            checks.append((ok, 'ApiKey realm="demo", header="X-API-Key"'))
        if self.oauth2_client is not None:
            checks.append(
                (
                    self._token_valid(_bearer(authorization)),
                    'Bearer realm="demo", error="invalid_token"',
                )
            )
        if self.oauth1 is not None:
            checks.append((self._oauth1_valid(authorization), 'OAuth realm="demo"'))
        for ok, challenge in checks:
            if not ok:
                return json_response(
                    401, {"error": "unauthorized"}, (("WWW-Authenticate", challenge),)
                )
        return None

    def _token_valid(self, token: str | None) -> bool:
        with self._token_lock:
            expiry = self._tokens.get(token or "")
        return expiry is not None and time.monotonic() < expiry

    def _oauth1_valid(self, authorization: str) -> bool:
        if not authorization.startswith("OAuth ") or self.oauth1 is None:
            return False
        params = _parse_oauth1(authorization)
        consumer_key, _, token, _ = self.oauth1
        return (
            params.get("oauth_consumer_key") == consumer_key
            and params.get("oauth_token") == token
            and bool(params.get("oauth_signature"))
        )


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """JSON object or url-encoded form -> dict (form values are strings)."""
    if not body.strip():
        return {}
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/x-www-form-urlencoded" or (
        mime != JSON and not body.lstrip().startswith(b"{")
    ):
        return {
            k: v[0]
            for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _BadRequest("body is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise _BadRequest("JSON body must be an object")
    return parsed


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    """Threaded loopback server that tracks open connections so ``stop`` can cut them."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    api: DemoApi

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse-DNS lookup (slow on some hosts)."""
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that vanish mid-request; report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every keep-alive connection still open."""
        with self._conn_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Parses a request, applies latency and faults, delegates to ``DemoApi.handle``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    _extra_headers: tuple[tuple[str, str], ...] = ()  # rate-limit headers of this response

    def log_message(self, format: str, *args: Any) -> None:  # stdlib signature
        """Silence per-request logging."""

    def do_GET(self) -> None:  # stdlib naming
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        start = time.perf_counter()
        api = self.server.api
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = Headers(self.headers.items())
        entry = RequestLog(self.command, split.path, query, headers, b"", start)
        self._entry: RequestLog | None = entry
        self._extra_headers: tuple[tuple[str, str], ...] = ()
        try:
            entry.body = self._read_body()
            if api.latency_ms > 0:
                time.sleep(api.latency_ms / 1000)
            allowed, self._extra_headers = api._take_budget(split.path)
            fault = api._next_fault(split.path) if allowed else None
            if not allowed:
                entry.status = self._send(error(429, "rate_limited"))
            elif fault is None:
                entry.status = self._send(
                    api.handle(self.command, split.path, query, headers, entry.body)
                )
            else:
                entry.status = self._serve_fault(
                    fault, lambda: api.handle(self.command, split.path, query, headers, entry.body)
                )
        except Exception as exc:  # a bug becomes a 500, not a hung client
            entry.status = self._safe_send(error(500, "internal", detail=repr(exc)))
        finally:
            self._log_once(entry.status)

    def _log_once(self, status: int) -> None:
        """Log the request once, before its response is written (so a client that has the
        response always finds the request in `DemoApi.requests`)."""
        entry, self._entry = self._entry, None
        if entry is not None:
            entry.status = status
            entry.end = time.perf_counter()
            self.server.api._log(entry)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve_fault(self, fault: Fault, normal: Callable[[], Response]) -> int:
        """Serve one injected fault; returns the status sent (0 for a drop)."""
        if fault.kind == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return 0
        if fault.kind == "sleep":
            time.sleep(fault.seconds)
            return self._send(normal())
        if fault.kind == "truncated":
            body = normal().body
            return self._send(Response(fault.status, body[: len(body) // 2]))
        content_type = "text/html; charset=utf-8" if fault.kind == "html" else JSON
        body = (
            fault.body
            if fault.body is not None
            else orjson.dumps({"error": "injected", "status": fault.status})
        )
        headers = {"Content-Type": content_type, **fault.headers}
        return self._send(Response(fault.status, body, tuple(headers.items())))

    def _send(self, response: Response) -> int:
        """Write status line, headers and body in one ``send``; returns the status."""
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Length: {len(response.body)}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines += [f"{name}: {value}" for name, value in self._extra_headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._log_once(response.status)
        self.wfile.write(head + response.body)
        return response.status

    def _safe_send(self, response: Response) -> int:
        try:
            return self._send(response)
        except OSError:
            self.close_connection = True
            return 0


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m rest_stream.demo.server --records N --port P``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        description="Serve the deterministic demo REST API on 127.0.0.1."
    )
    parser.add_argument(
        "--records", type=int, default=1000, help="number of records (default 1000)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="TCP port, 0 = any free port (default 8000)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay added to every request"
    )
    parser.add_argument(
        "--regions", default="eu,us", help="comma-separated region names (default eu,us)"
    )
    parser.add_argument(
        "--shape", default="demo", choices=RECORD_SHAPES, help="what records look like (demo)"
    )
    args = parser.parse_args(argv)
    regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
    api = DemoApi(
        args.records,
        regions=regions,
        latency_ms=args.latency_ms,
        port=args.port,
        shape=args.shape,
    ).start()
    print(f"Demo API with {args.records} records serving at {api.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()


if __name__ == "__main__":
    main()
