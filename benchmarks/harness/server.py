"""The benchmark API: `rest_stream.demo.DemoApi` on loopback, with the addresses of its pages.

Records are deterministic (`id` 1..N, `ts = TIMESTAMP_BASE + id`; `shape` says what else they
hold: `harness.config.SHAPES`, read with `SCHEMAS[shape]`) and pages are served from
pre-encoded cached bytes, so the server costs little next to the client under test. Every
offset kind of `harness.kinds` addresses the same records; `offset_kind` picks the one the
next runs read (one server serves every kind of a scenario).

With `streams > 1` the records are spread over that many regions `r0, r1, …` (the demo
assigns record `id` to region `(id - 1) % streams`), and the options read them as that many
`inputData` streams `{"region": "rK"}` of `/items` (incremental ids): the many-streams case.
There (and with `probe=True`) `incremental`, `page` and `offset` reads find each stream's end
with one `/latest` probe (`latestOffsetUrl`, `PROBES`), not with an end search per stream.
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
from bisect import bisect_left
from collections.abc import Iterable, Iterator

import httpx
from pyspark.sql.types import StructType

from benchmarks.harness.config import SCHEMAS, SHAPES
from benchmarks.harness.kinds import KINDS, TIMESTAMP_BASE, Kind, kind, page_address
from rest_stream.demo import DemoApi
from rest_stream.demo.server import RequestLog

__all__ = ["KINDS", "TIMESTAMP_BASE", "BenchServer", "page_address", "uncovered_ids"]


#: With `probe`: the `/latest` query and the `latestOffsetPath` that end a stream of each kind
#: (`page`: the last page number, which rest_stream then measures; `offset`: the count;
#: `incremental`: the newest id). `timestamp` reads `/latest` always (`harness.kinds`).
PROBES = {
    "page": ("?per_page={size}", "$.last_page"),
    "offset": ("", "$.total"),
    "incremental": ("", "$.max_id"),
}


def region(index: int) -> str:
    """The name of stream `index` of the many-streams case."""
    return f"r{index}"


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
        streams: int = 1,
        probe: bool = False,
        shape: str = SHAPES[0],
    ) -> None:
        if shape not in SCHEMAS:
            raise ValueError(f"unknown record shape {shape!r}; known: {', '.join(SCHEMAS)}")
        self.kind: Kind = kind(offset_kind)
        self.shape = shape
        if streams > 1 and records // streams > page_size:
            raise ValueError("the many-streams case needs records / streams <= page_size")
        self.records = records
        self.page_size = page_size
        self.streams = streams
        self.probe = probe or streams > 1
        regions = tuple(region(i) for i in range(streams)) if streams > 1 else ("eu", "us")
        self.api = DemoApi(
            0 if own_process else records,
            latency_ms=latency_ms,
            base_ts=TIMESTAMP_BASE,
            regions=regions,
            shape=shape,  # type: ignore[arg-type]
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
        command += ["--shape", self.shape]
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

    @property
    def schema(self) -> StructType:
        """The full schema of the served records (`harness.config.SCHEMAS`)."""
        return SCHEMAS[self.shape]

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

    @property
    def offset_kind(self) -> str:
        """The name of the kind the next runs read."""
        return self.kind.name

    @offset_kind.setter
    def offset_kind(self, name: str) -> None:
        self.kind = kind(name)

    # -- addresses -------------------------------------------------------------------------
    @property
    def pages(self) -> int:
        """Number of data pages (one per stream in the many-streams case)."""
        if self.streams > 1:
            return self.streams
        return -(-self.records // self.page_size)

    def page_urls(self) -> list[str]:
        """The URL of every data page, in order (a chain's pages are walked to find them)."""
        if self.streams > 1:
            return [self.stream_url(i) for i in range(self.streams)]
        if self.kind.address is not None:
            return [self.address(n * self.page_size)[0] for n in range(self.pages)]
        assert self.kind.first_url is not None and self.kind.next_url is not None
        urls, url = [], self.kind.first_url(self.url, self.page_size)
        with httpx.Client() as client:
            while url is not None:
                urls.append(url)
                body = client.get(url).raise_for_status().json()
                if len(body["data"]) < self.page_size:
                    break
                url = self.kind.next_url(self.url, self.page_size, body)
        return urls

    def stream_url(self, index: int) -> str:
        """The one page of stream `index` of the many-streams case."""
        return f"{self.url}/items?limit={self.page_size}&since_id=1&region={region(index)}"

    def address(self, position: int) -> tuple[str, int]:
        """`page_address` on this server."""
        return page_address(self.url, self.kind.name, self.page_size, position)

    def rest_options(
        self, partitions: int | None = None, concurrency: int | None = None
    ) -> dict[str, str]:
        """Options of `format("rest")` that read every record with this offset kind; None
        leaves `numPartitions` / `requestConcurrency` at rest_stream's defaults."""
        options = {**self.kind.options(self.url, self.page_size), "recordsPath": "$.data"}
        if self.streams > 1:
            if self.kind.name != "incremental":
                raise ValueError("the many-streams case reads incremental ids")
            rows = [{"region": region(i)} for i in range(self.streams)]
            options["inputData"] = json.dumps(rows)
        if self.probe and options["offsetType"] in PROBES:
            # one probe per stream instead of an end search per stream
            query, path = PROBES[options["offsetType"]]
            query = query.format(size=self.page_size)
            if self.streams > 1:  # the `{region}` of each input row
                query += "&region={region}" if query else "?region={region}"
            options["latestOffsetUrl"] = f"{self.url}/latest{query}"
            options["latestOffsetPath"] = path
        if partitions is not None:
            options["numPartitions"] = str(partitions)
        if concurrency is not None:
            options["requestConcurrency"] = str(concurrency)
        return options

    # -- checks and statistics -------------------------------------------------------------
    def warm(self) -> None:
        """Request every page once so the server answers later requests from its cache."""
        with httpx.Client() as client:
            for url in self.page_urls():
                client.get(url).raise_for_status()
            client.get(f"{self.url}/latest").raise_for_status()
        self.reset()

    def reset(self) -> None:
        """Forget the request log."""
        self.api.reset_stats()

    def requests(self) -> int:
        """Data requests served since the last `reset`."""
        return sum(1 for _ in self._data_entries())

    def uncovered(self) -> list[tuple[int, int]]:
        """Id ranges `(first, last)` in 1..records that no data request since `reset` asked
        for (many streams: ids of a region that no request of that region reached)."""
        queries = [entry.query for entry in self._data_entries()]
        if self.streams > 1:
            return self._uncovered_regions(queries)
        return uncovered_ids(queries, self.records, self.page_size, self.kind)

    def _uncovered_regions(self, queries: Iterable[dict[str, str]]) -> list[tuple[int, int]]:
        seen: set[int] = set()
        for query in queries:
            index = int(query.get("region", "r-1")[1:])
            if not 0 <= index < self.streams:
                continue
            ids = range(index + 1, self.records + 1, self.streams)
            start = bisect_left(ids, int(query.get("since_id", "0")))
            seen.update(ids[start : start + int(query.get("limit", self.page_size))])
        missing = sorted(set(range(1, self.records + 1)) - seen)
        return [(i, i) for i in missing]

    def peak_in_flight(self) -> int:
        """Most data requests in flight at once since the last `reset`."""
        return self.api.max_concurrency(self.kind.path)

    def first_request_at(self) -> float | None:
        """`time.perf_counter()` at which the first request since `reset` arrived (any path or
        status), or None if none was logged. The log is stamped with `perf_counter` in this
        process, so the value compares with this process's `perf_counter` readings."""
        return min((entry.start for entry in list(self.api.requests)), default=None)

    def first_data_request_at(self) -> float | None:
        """`time.perf_counter()` at which the first read of the data since `reset` arrived:
        of the requests to the kind's path answered 200, the first of the last `pages` (the
        ones before them searched for the end; a probe has a path of its own)."""
        starts = sorted(entry.start for entry in self._data_entries())
        if not starts:
            return None
        return starts[max(0, len(starts) - self.pages)]

    def last_answer_at(self) -> float | None:
        """`time.perf_counter()` at which the last data request was answered."""
        return max((entry.end for entry in self._data_entries()), default=None)

    def span_s(self) -> float:
        """Seconds from the first data request's arrival to the last one's answer."""
        entries = list(self._data_entries())
        if not entries:
            return 0.0
        return max(e.end for e in entries) - min(e.start for e in entries)

    def _data_entries(self) -> Iterator[RequestLog]:
        for entry in list(self.api.requests):
            if entry.path == self.kind.path and entry.status == 200:
                yield entry


def requested_ids(query: dict[str, str], page_size: int, kind_: Kind) -> tuple[int, int]:
    """The ids `(first, last)` one data request of `kind_` asks for (its logged query)."""
    return kind_.requested(query, page_size)


def uncovered_ids(
    queries: Iterable[dict[str, str]], records: int, page_size: int, kind_: Kind
) -> list[tuple[int, int]]:
    """Id ranges `(first, last)` in 1..records that none of `queries` asked for."""
    gaps, expected = [], 1
    for first, last in sorted(kind_.requested(query, page_size) for query in queries):
        if first > expected:
            gaps.append((expected, min(first - 1, records)))
        expected = max(expected, last + 1)
    if expected <= records:
        gaps.append((expected, records))
    return [gap for gap in gaps if gap[0] <= records]
