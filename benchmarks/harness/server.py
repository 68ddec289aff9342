"""The benchmark API: `rest_stream.demo.DemoApi` on loopback, with the addresses of its pages.

Records are deterministic (`id` 1..N) and pages are served from pre-encoded cached bytes, so
the server costs little next to the client under test. Three offset kinds address the same
pages: `page` (`/pages?page=P&per_page=S`), `incremental` (`/items?since_id=X&limit=S`) and
`timestamp` (`/events?since=T&limit=S`: records with `ts > T`, by `ts`). The demo's `ts` is
`TIMESTAMP_BASE + id` (whole seconds, one per record), so `since = TIMESTAMP_BASE + k` starts
at record index k, and `/latest` reports the newest `ts` (`max_ts`).
"""

from __future__ import annotations

import gc
import math
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator

import httpx

from rest_stream.demo import DemoApi
from rest_stream.demo.server import RequestLog

KINDS = ("page", "incremental", "timestamp")
#: `ts` of record `id` is `TIMESTAMP_BASE + id` (the demo's default `base_ts`; its CLI sets no
#: other), so `since=TIMESTAMP_BASE` is just below the first record.
TIMESTAMP_BASE = 1_700_000_000
#: The data endpoint of each offset kind.
DATA_PATHS = {"page": "/pages", "incremental": "/items", "timestamp": "/events"}


def page_address(base: str, kind: str, page_size: int, position: int) -> tuple[str, int]:
    """The URL of the page holding record index `position` (0-based), and its index there."""
    if kind == "page":
        return f"{base}/pages?per_page={page_size}&page={position // page_size + 1}", (
            position % page_size
        )
    if kind == "incremental":
        return f"{base}/items?limit={page_size}&since_id={position + 1}", 0
    if kind == "timestamp":
        return f"{base}/events?limit={page_size}&since={TIMESTAMP_BASE + position}", 0
    raise ValueError(f"unknown offset kind {kind!r}")


class BenchServer:
    """A started `DemoApi` plus what the variants need to read it.

    In this process by default (its request log then checks every run); with
    `own_process=True` it runs as `python -m rest_stream.demo.server` instead, so a client
    measured in this process does not share a GIL with it (no request log then).
    """

    def __init__(
        self,
        records: int,
        page_size: int,
        *,
        latency_ms: float = 0.0,
        offset_kind: str = "page",
        own_process: bool = False,
    ) -> None:
        if offset_kind not in KINDS:
            raise ValueError(f"offset_kind must be one of {KINDS}, not {offset_kind!r}")
        self.records = records
        self.page_size = page_size
        self.offset_kind = offset_kind
        self.api = DemoApi(
            0 if own_process else records, latency_ms=latency_ms, base_ts=TIMESTAMP_BASE
        )
        self._process: subprocess.Popen[str] | None = None
        self._own_process = own_process
        self._url = ""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> BenchServer:
        """Serve on 127.0.0.1 (any free port)."""
        if not self._own_process:
            gc.collect()
            gc.freeze()  # the records never die: keep full collections (0.1 s) off the server
            self.api.start()
            self._url = self.api.url
            return self
        command = [sys.executable, "-m", "rest_stream.demo.server", "--port", "0"]
        command += ["--records", str(self.records), "--latency-ms", str(self.api.latency_ms)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found is None:
            self.stop()
            raise RuntimeError(f"the demo server did not start: {line!r}")
        self._url = found.group(0)
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
        else:
            self.api.stop()
            gc.unfreeze()

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return self._url

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def latency_ms(self) -> float:
        """Delay added to every request."""
        return self.api.latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        self.api.latency_ms = value

    # -- addresses -------------------------------------------------------------------------
    @property
    def pages(self) -> int:
        """Number of data pages."""
        return -(-self.records // self.page_size)

    def page_urls(self) -> list[str]:
        """The URL of every data page, in order."""
        return [self.address(n * self.page_size)[0] for n in range(self.pages)]

    def address(self, position: int) -> tuple[str, int]:
        """`page_address` on this server."""
        return page_address(self.url, self.offset_kind, self.page_size, position)

    def rest_options(self, partitions: int, concurrency: int) -> dict[str, str]:
        """Options of `format("rest")` that read every record with this offset kind."""
        size = str(self.page_size)
        common = {
            "recordsPath": "$.data",
            "numPartitions": str(partitions),
            "requestConcurrency": str(concurrency),
        }
        if self.offset_kind == "page":
            url = f"{self.url}/pages?per_page={size}&page={{page}}"
            kind = {"offsetType": "page", "offsetField": "page", "pageSize": size}
        elif self.offset_kind == "incremental":
            url = f"{self.url}/items?limit={size}&since_id={{since_id}}"
            kind = {"offsetType": "incremental", "offsetField": "since_id", "initialOffset": "1"}
        else:
            url = f"{self.url}/events?limit={size}&since={{since}}"
            kind = {
                "offsetType": "timestamp",
                "offsetField": "since",
                "recordOffsetPath": "$.ts",
                "initialOffset": str(TIMESTAMP_BASE),
                "latestOffsetUrl": f"{self.url}/latest",
                "latestOffsetPath": "$.max_ts",
            }
        return {"url": url, **kind, **common}

    def timestamp_span(self) -> tuple[int, int]:
        """`(since, newest)`: the `ts` range `since < ts <= newest` holding every record."""
        return TIMESTAMP_BASE, TIMESTAMP_BASE + self.records

    # -- checks and statistics -------------------------------------------------------------
    def warm(self) -> None:
        """Request every page once so the server answers later requests from its cache."""
        with httpx.Client() as client:
            for url in self.page_urls():
                client.get(url).raise_for_status()
        self.reset()

    def reset(self) -> None:
        """Forget the request log."""
        self.api.reset_stats()

    def requests(self) -> int:
        """Data requests served since the last `reset`."""
        return sum(1 for _ in self._data_requests())

    def uncovered(self) -> list[tuple[int, int]]:
        """Id ranges `(first, last)` in 1..records that no request since `reset` asked for
        (ids are dense: page P holds ids `(P-1)·S+1 .. P·S`, `since_id=X` ids `X .. X+S-1`,
        `since=T&limit=L` ids `T-TIMESTAMP_BASE+1 .. T-TIMESTAMP_BASE+L`)."""
        return uncovered_ids(self._data_requests(), self.records, self.page_size)

    def peak_in_flight(self) -> int:
        """Most data requests in flight at once since the last `reset`."""
        return self.api.max_concurrency(DATA_PATHS[self.offset_kind])

    def first_request_at(self) -> float | None:
        """`time.perf_counter()` at which the first request since `reset` arrived (any path or
        status), or None if none was logged. The log is stamped with `perf_counter` in this
        process, so the value compares with this process's `perf_counter` readings."""
        return min((entry.start for entry in list(self.api.requests)), default=None)

    def span_s(self) -> float:
        """Seconds from the first data request's arrival to the last one's answer."""
        entries = list(self._data_entries())
        if not entries:
            return 0.0
        return max(e.end for e in entries) - min(e.start for e in entries)

    def _data_entries(self) -> Iterator[RequestLog]:
        path = DATA_PATHS[self.offset_kind]
        for entry in list(self.api.requests):
            if entry.path == path and entry.status == 200:
                yield entry

    def _data_requests(self) -> Iterator[dict[str, str]]:
        for entry in self._data_entries():
            yield entry.query


def requested_ids(query: dict[str, str], page_size: int) -> tuple[int, int]:
    """The ids `(first, last)` one data request asks for (its logged query)."""
    if "page" in query:
        size = int(query.get("per_page", page_size))
        first = (int(query["page"]) - 1) * size + 1
    elif "since" in query:
        size = int(query.get("limit", page_size))
        first = max(1, math.floor(float(query["since"]) - TIMESTAMP_BASE) + 1)
    else:
        size = int(query.get("limit", page_size))
        first = max(1, int(query.get("since_id", "0")))
    return first, first + size - 1


def uncovered_ids(
    queries: Iterable[dict[str, str]], records: int, page_size: int
) -> list[tuple[int, int]]:
    """Id ranges `(first, last)` in 1..records that none of `queries` asked for."""
    gaps, expected = [], 1
    for first, last in sorted(requested_ids(query, page_size) for query in queries):
        if first > expected:
            gaps.append((expected, min(first - 1, records)))
        expected = max(expected, last + 1)
    if expected <= records:
        gaps.append((expected, records))
    return [gap for gap in gaps if gap[0] <= records]
