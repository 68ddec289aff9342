"""The limit: the best ANY client could do against the same API with the same number of
requests in flight. No Spark, no Arrow, no schema: async httpx and orjson.

It is not rest_stream's algorithm without Spark: the limit may know what a reader has to
discover. For kinds whose pages can be addressed (`page` numbers, `incremental` `since_id`
starts, `timestamp` `since` windows; `harness.kinds`), it asks `/latest` once for the size of
the data, then fetches every page start concurrently. A `cursor` chain is inherently
sequential: each next cursor is in the last answer, so the limit of one cursor stream is one
request in flight, whatever the client. The many-streams case (`streams` regions of one page
each) sends the requests rest_stream sends for them: each stream's `/latest?region=` probe
and its one page, every stream concurrently; a short page says the stream has no more.

`N` requests in flight are `processes` × `concurrency`: as many child processes as the Spark
read it is compared with runs tasks at once (the same CPU parallelism; the children also stay
off the GIL of the benchmark server), each with `concurrency` requests in flight on an asyncio
loop (its share of the pages, contiguous). The harness pairs a Spark run of `numPartitions` P
and `requestConcurrency` C on S task slots with the limit at N = C × min(P, S) (1 for a
chain). Each child makes its HTTP clients before it reports ready (a long-lived client
exists already; Spark's workers are warm too); children start together, and the wall time
runs from the first child's first request (`/latest` included) to the last child's last parse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass

import httpx
import orjson

from benchmarks.harness.config import ROOT
from benchmarks.harness.kinds import KINDS, kind

POOL_SIZE = 8


@dataclass(frozen=True)
class LimitResult:
    """Records and pages read (data requests), wall seconds, the peak RSS of the largest
    process (MB), the requests it had in flight at most, and the CPU seconds (user + system)
    its processes spent from the first request to the last parse."""

    records: int
    pages: int
    seconds: float
    peak_rss_mb: float
    in_flight: int = 1
    start: float = 0.0
    cpu_s: float = 0.0


def in_flight(
    kind_name: str, concurrency: int, partitions: int, slots: int, streams: int = 1
) -> int:
    """Requests in flight of the limit paired with a Spark run: `concurrency` ×
    min(`partitions`, `slots`), or 1 for one stream of a chain kind."""
    if kind(kind_name).chain and streams == 1:
        return 1
    return concurrency * max(1, min(partitions, slots))


def split(total: int, processes: int) -> tuple[int, int]:
    """`(processes, concurrency)` holding `total` requests in flight on at most `processes`
    processes (fewer when `total` does not divide)."""
    for count in range(max(1, min(processes, total)), 0, -1):
        if total % count == 0:
            return count, total // count
    return 1, total


async def _open(concurrency: int) -> list[httpx.AsyncClient]:
    """Clients of at most `POOL_SIZE` connections each, `concurrency` connections in all:
    httpcore's pool scans every connection for every request, which makes one client of 32
    connections slower than one of 8."""
    sizes = [min(POOL_SIZE, concurrency - start) for start in range(0, concurrency, POOL_SIZE)]
    return [
        httpx.AsyncClient(
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=60.0,
        )
        for size in sizes
    ]


async def _fetch_all(
    clients: Sequence[httpx.AsyncClient], urls: Sequence[str], concurrency: int
) -> tuple[int, int]:
    """(records, pages) of every URL, `concurrency` requests in flight over `clients` (as
    `_open` made them), bodies parsed."""
    pending: Iterator[str] = iter(urls)

    async def worker(client: httpx.AsyncClient) -> tuple[int, int]:
        records = pages = 0
        for url in pending:  # one event loop: the shared iterator needs no lock
            response = await client.get(url)
            response.raise_for_status()
            data = orjson.loads(response.content).get("data")
            if data is not None:  # a page, not a probe
                records += len(data)
                pages += 1
        return records, pages

    sizes = [min(POOL_SIZE, concurrency - start) for start in range(0, concurrency, POOL_SIZE)]
    workers = [worker(client) for client, size in zip(clients, sizes) for _ in range(size)]
    done = await asyncio.gather(*workers)
    return sum(r for r, _ in done), sum(p for _, p in done)


async def _read_share(
    clients: Sequence[httpx.AsyncClient],
    base: str,
    kind_name: str,
    page_size: int,
    concurrency: int,
    share: int,
    shares: int,
    streams: int,
) -> tuple[int, int]:
    """(records, pages) of one share: `/latest` for the size of the data (not for the
    many-streams case, whose streams are one page each), then every page concurrently."""
    total = 0
    if streams == 1:
        latest = await clients[0].get(f"{base}/latest")
        total = int(latest.raise_for_status().json()["total"])
    urls = share_urls(base, kind_name, page_size, share, shares, streams=streams, total=total)
    return await _fetch_all(clients, urls, concurrency)


def walk_chain(client: httpx.Client, base: str, kind_name: str, page_size: int) -> tuple[int, int]:
    """(records, pages) of a chain kind, one request in flight, until a short page or no next
    address."""
    row = kind(kind_name)
    assert row.first_url is not None and row.next_url is not None
    records = pages = 0
    url: str | None = row.first_url(base, page_size)
    while url is not None:
        response = client.get(url)
        response.raise_for_status()
        body = orjson.loads(response.content)
        pages += 1
        records += len(body["data"])
        if len(body["data"]) < page_size:
            break
        url = row.next_url(base, page_size, body)
    return records, pages


def share_urls(
    base: str,
    kind_name: str,
    page_size: int,
    share: int,
    shares: int,
    *,
    streams: int = 1,
    total: int = 0,
) -> list[str]:
    """The page URLs of share `share` of `shares` (contiguous) of `total` records, or of
    `streams` one-page streams, each after its stream's probe."""
    if streams > 1:
        first, stop = streams * share // shares, streams * (share + 1) // shares
        return [
            url
            for i in range(first, stop)
            for url in (
                f"{base}/latest?region=r{i}",
                f"{base}/items?limit={page_size}&since_id=1&region=r{i}",
            )
        ]
    address = kind(kind_name).address
    assert address is not None
    pages = -(-total // page_size)
    first, stop = pages * share // shares, pages * (share + 1) // shares
    return [address(base, page_size, n * page_size)[0] for n in range(first, stop)]


def measure(
    base: str,
    kind_name: str,
    page_size: int,
    concurrency: int,
    *,
    share: int = 0,
    shares: int = 1,
    streams: int = 1,
    ready: Callable[[], None] | None = None,
) -> LimitResult:
    """One share, in this process. The clients are made first (a long-lived client would
    exist already), then `ready()` is called; the clock runs from the first request
    (`/latest`) to the last parse, and so does the CPU time (`time.process_time()`: this
    process, every thread). `start` is the `time.monotonic()` of that first request."""
    if kind(kind_name).chain and streams == 1:
        with httpx.Client(timeout=60.0) as client:
            if ready is not None:
                ready()
            start, started, cpu = time.monotonic(), time.perf_counter(), time.process_time()
            records, pages = walk_chain(client, base, kind_name, page_size)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
        return LimitResult(records, pages, seconds, peak_rss_mb(), 1, start, cpu)
    loop = asyncio.new_event_loop()
    clients = loop.run_until_complete(_open(concurrency))
    try:
        if ready is not None:
            ready()
        start, started, cpu = time.monotonic(), time.perf_counter(), time.process_time()
        records, pages = loop.run_until_complete(
            _read_share(clients, base, kind_name, page_size, concurrency, share, shares, streams)
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
    finally:
        for client in clients:
            loop.run_until_complete(client.aclose())
        loop.close()
    return LimitResult(records, pages, seconds, peak_rss_mb(), concurrency, start, cpu)


def run_processes(
    url: str,
    kind_name: str,
    page_size: int,
    *,
    processes: int,
    concurrency: int,
    streams: int = 1,
) -> LimitResult:
    """The limit over `processes` children started together (see the module docstring); a
    chain kind runs one child with one request in flight."""
    if kind(kind_name).chain and streams == 1:
        processes = concurrency = 1
    base = [sys.executable, "-m", "benchmarks.comparators.limit", f"--url={url}"]
    base += [f"--kind={kind_name}", f"--page-size={page_size}", f"--concurrency={concurrency}"]
    base += [f"--streams={streams}", f"--shares={processes}", "--wait"]
    children = [
        subprocess.Popen(
            [*base, f"--share={i}"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(processes)
    ]
    try:
        for child in children:  # each says "ready" once imported, its clients made
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"limit child failed: {child.communicate()[1][-300:]}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        done = [child.communicate(timeout=900) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    failed = [err for child, (_, err) in zip(children, done) if child.returncode != 0]
    if failed:
        raise RuntimeError(f"limit child failed: {failed[0].strip()[-300:]}")
    results = [json.loads(out) for out, _ in done]
    return LimitResult(
        records=sum(r["records"] for r in results),
        pages=sum(r["pages"] for r in results),
        seconds=max(r["end"] for r in results) - min(r["start"] for r in results),
        peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        in_flight=sum(r["in_flight"] for r in results),
        cpu_s=sum(r["cpu_s"] for r in results),
    )


def peak_rss_mb() -> float:
    """This process's peak RSS (`VmHWM`; `ru_maxrss` would report the forking parent's)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main(argv: Sequence[str] | None = None) -> None:
    """One child: prints JSON (records, pages, seconds, peak RSS, in flight, and monotonic
    start and end)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the benchmark API's base URL")
    parser.add_argument("--kind", default="page", choices=sorted(KINDS))
    parser.add_argument("--page-size", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--share", type=int, default=0, help="0-based share of the pages")
    parser.add_argument("--shares", type=int, default=1)
    parser.add_argument("--streams", type=int, default=1, help="regions of the many-streams case")
    parser.add_argument("--wait", action="store_true", help='print "ready", start on "go"')
    args = parser.parse_args(argv)

    def ready() -> None:
        if args.wait:
            print("ready", flush=True)
            sys.stdin.readline()

    result = measure(
        args.url,
        args.kind,
        args.page_size,
        args.concurrency,
        share=args.share,
        shares=args.shares,
        streams=args.streams,
        ready=ready,
    )
    # monotonic start and end: CLOCK_MONOTONIC is comparable across processes
    json.dump({**asdict(result), "end": result.start + result.seconds}, sys.stdout)


if __name__ == "__main__":
    main()
