"""The raw limit: async httpx fetching and parsing every page, no Spark. The ceiling.

Shaped like the Spark read it bounds: `processes` child processes (as many as Spark runs
tasks at once), each taking a contiguous share of the pages (like `numPartitions` ranges) with
`concurrency` requests in flight (like `requestConcurrency`) on an asyncio loop, parsing every
body with orjson. Children start together; the wall time runs from the first child's first
request to the last child's last parse. Child processes also keep the client off the GIL of
the benchmark server, as Spark's Python workers are.

With `timestamp` offsets the processes split the `ts` range `(since, newest]` instead
(`timestamp_shares`: contiguous, on whole pages from `since`), and each walks its share as a
chain, `/events?since=T`, the next `T` being the page's `next_since`: one request in flight
per process, as a rest_stream task has for a chain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import httpx
import orjson

from benchmarks.harness.config import ROOT
from benchmarks.harness.server import KINDS, page_address

POOL_SIZE = 8


@dataclass(frozen=True)
class LimitResult:
    """Records and pages read, wall seconds, and the peak RSS of the process (MB)."""

    records: int
    pages: int
    seconds: float
    peak_rss_mb: float


async def _fetch_all(urls: Sequence[str], concurrency: int) -> tuple[int, int]:
    """(records, pages) of every URL, `concurrency` requests in flight, bodies parsed.

    Workers share clients of at most `POOL_SIZE` connections each: httpcore's pool scans
    every connection for every request, which makes one client of 32 connections slower
    than one of 8.
    """
    pending: Iterator[str] = iter(urls)
    sizes = [min(POOL_SIZE, concurrency - start) for start in range(0, concurrency, POOL_SIZE)]
    clients = [
        httpx.AsyncClient(
            limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=60.0,
        )
        for size in sizes
    ]

    async def worker(client: httpx.AsyncClient) -> tuple[int, int]:
        records = pages = 0
        for url in pending:  # one event loop: the shared iterator needs no lock
            response = await client.get(url)
            response.raise_for_status()
            records += len(orjson.loads(response.content)["data"])
            pages += 1
        return records, pages

    try:
        workers = [worker(client) for client, size in zip(clients, sizes) for _ in range(size)]
        done = await asyncio.gather(*workers)
    finally:
        for client in clients:
            await client.aclose()
    return sum(r for r, _ in done), sum(p for _, p in done)


async def _walk_chain(base: str, page_size: int, since: int, until: int) -> tuple[int, int]:
    """(records, pages) of the records with `since < ts <= until`, `/events` page by page."""
    records = pages = 0
    async with httpx.AsyncClient(timeout=60.0) as client:
        while since < until:
            response = await client.get(f"{base}/events?limit={page_size}&since={since}")
            response.raise_for_status()
            body = orjson.loads(response.content)
            data = body["data"]
            pages += 1
            if not data:
                break
            newest = data[-1]["ts"]
            records += len(data) if newest <= until else sum(1 for r in data if r["ts"] <= until)
            if len(data) < page_size or newest >= until:
                break
            since = body["next_since"]
    return records, pages


def timestamp_shares(
    since: int, newest: int, processes: int, page_size: int
) -> list[tuple[int, int]]:
    """`(since, newest]` (whole seconds) cut into `processes` contiguous shares `(a, b]`, the
    cuts on whole pages from `since` (as the page kind's shares are); shares may be empty
    (`a == b`) when there are fewer pages than processes."""
    if processes < 1 or page_size < 1:
        raise ValueError("processes and page_size must be at least 1")
    pages = max(0, -(-(newest - since) // page_size))
    cuts = [min(newest, since + page_size * (pages * i // processes)) for i in range(processes)]
    cuts.append(max(since, newest))
    return list(zip(cuts, cuts[1:]))


def measure_chain(base: str, page_size: int, since: int, until: int) -> LimitResult:
    """Walk `(since, until]` once in this process; wall time from client creation to the last
    parse."""
    started = time.perf_counter()
    records, pages = asyncio.run(_walk_chain(base, page_size, since, until))
    seconds = time.perf_counter() - started
    return LimitResult(records, pages, seconds, peak_rss_mb())


def measure(urls: Sequence[str], concurrency: int) -> LimitResult:
    """Fetch and parse `urls` once in this process; wall time from client creation to the
    last parse."""
    started = time.perf_counter()
    records, pages = asyncio.run(_fetch_all(urls, concurrency))
    seconds = time.perf_counter() - started
    return LimitResult(records, pages, seconds, peak_rss_mb())


def run_processes(
    url: str,
    kind: str,
    page_size: int,
    pages: int,
    *,
    processes: int,
    concurrency: int,
    span: tuple[int, int] | None = None,
) -> LimitResult:
    """The limit over `processes` children started together (see the module docstring);
    `span` is the `(since, newest)` range of `ts` for `timestamp` (where `concurrency` is
    ignored: a chain has one request in flight)."""
    commands = []
    base = [sys.executable, "-m", "benchmarks.comparators.limit", f"--url={url}", f"--kind={kind}"]
    base += [f"--page-size={page_size}", f"--concurrency={concurrency}", "--wait"]
    if kind == "timestamp":
        if span is None:
            raise ValueError("timestamp needs span=(since, newest)")
        for since, until in timestamp_shares(*span, processes, page_size):
            commands.append([*base, f"--since={since}", f"--until={until}"])
    else:
        for i in range(processes):
            first, stop = pages * i // processes, pages * (i + 1) // processes
            commands.append([*base, f"--first-page={first}", f"--pages={stop - first}"])
    children = []
    for command in commands:
        children.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        for child in children:  # each says "ready" once imported and its URLs built
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"limit child failed: {child.communicate()[1][-300:]}")
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        done = [child.communicate(timeout=600) for child in children]
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
    """One child: `--url BASE --page-size S --first-page F --pages P --concurrency C [--wait]`
    prints JSON (records, pages, seconds, peak RSS, and monotonic start and end)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the benchmark API's base URL")
    parser.add_argument("--kind", default="page", choices=KINDS)
    parser.add_argument("--page-size", type=int, required=True)
    parser.add_argument("--first-page", type=int, default=0, help="0-based")
    parser.add_argument("--pages", type=int, default=0, help="page/incremental: pages to read")
    parser.add_argument("--since", type=int, help="timestamp: the share's exclusive start")
    parser.add_argument("--until", type=int, help="timestamp: the share's newest ts")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--wait", action="store_true", help='print "ready", start on "go"')
    args = parser.parse_args(argv)
    numbers = range(args.first_page, args.first_page + args.pages)
    urls = [
        page_address(args.url, args.kind, args.page_size, n * args.page_size)[0] for n in numbers
    ]
    if args.kind == "timestamp" and (args.since is None or args.until is None):
        parser.error("--kind timestamp needs --since and --until")
    if args.wait:
        print("ready", flush=True)
        sys.stdin.readline()
    start = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
    if args.kind == "timestamp":
        result = measure_chain(args.url, args.page_size, args.since, args.until)
    else:
        result = measure(urls, args.concurrency)
    json.dump({**asdict(result), "start": start, "end": start + result.seconds}, sys.stdout)


if __name__ == "__main__":
    main()
