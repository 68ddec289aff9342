"""A large export in one response: time and peak Python-worker RSS of reading it.

    python -m benchmarks.large_export --mb 500                 # NDJSON, plain and .gz
    python -m benchmarks.large_export --mb 500 --formats ndjson,ndjson.gz,csv --json-too

A loopback server (127.0.0.1) serves one generated export of about `--mb` MB: NDJSON lines
like the demo API's records (or CSV rows of their flat fields), plain or as a `.gz` download
(`Content-Type: application/gzip`, URL ending `.gz`). The body is built once, before any
timing, and sent 1 MiB at a time, so the server costs little CPU during a run. Each variant
is one `spark.read.format("rest")` with `responseFormat` and the schema given, into a count
(the source emits every column, so this reads as much as a `noop` sink; the count and the
sum of ids check that every record arrived once). Reported per variant: wall time, MB/s of
the uncompressed export, and the peak RSS of the Python workers (the largest one, and all
together), sampled every 50 ms by `benchmarks.diagnostics.rss`.

`--json-too` adds the same records as one JSON array (`responseFormat=json`), which a task
must hold whole: the memory the streamed formats save. Not part of `make test`; a ~22 MB
bounded-memory check is (tests/test_formats_integration.py).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.diagnostics.rss import WorkerRssSampler

MB = 1024 * 1024
SCHEMAS = {
    "ndjson": "id long, ts long, region string, name string, value double, tags array<string>, "
    "meta struct<source: string, score: long>",
    "csv": "id long, ts long, region string, name string, value double, tags string",
    "json": "id long, ts long, region string, name string, value double, tags array<string>, "
    "meta struct<source: string, score: long>",
}
CONTENT_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def ndjson_lines(first: int, stop: int) -> bytes:
    """Demo-like records `first` to `stop - 1`, one JSON object per line."""
    return b"".join(
        b'{"id":%d,"ts":%d,"region":"%s","name":"item-%d","value":%d.5,'
        b'"tags":["t%d","t%d"],"meta":{"source":"demo","score":%d}}\n'
        % (i, 1_700_000_000 + i, b"eu" if i % 2 else b"us", i, i, i % 3, i % 5, i % 7)
        for i in range(first, stop)
    )


def csv_rows(first: int, stop: int) -> bytes:
    """The flat fields of the same records as CSV rows (tags quoted: they hold a comma)."""
    return b"".join(
        b'%d,%d,%s,item-%d,%d.5,"t%d,t%d"\r\n'
        % (i, 1_700_000_000 + i, b"eu" if i % 2 else b"us", i, i, i % 3, i % 5)
        for i in range(first, stop)
    )


def build_export(kind: str, megabytes: float) -> tuple[bytes, int]:
    """An export of about `megabytes` MB in `kind` (`ndjson`, `csv`, `json`), and its records."""
    rows = ndjson_lines if kind in ("ndjson", "json") else csv_rows
    parts = [b"id,ts,region,name,value,tags\r\n"] if kind == "csv" else []
    size, first, step = 0, 1, 20_000
    while size < megabytes * MB:
        part = rows(first, first + step)
        parts.append(part)
        size += len(part)
        first += step
    body = b"".join(parts)
    if kind == "json":  # the same objects as one array
        body = b"[" + body.rstrip(b"\n").replace(b"\n", b",") + b"]"
    return body, first - 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body, content_type = self.server.bodies[self.path]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        view = memoryview(body)
        for start in range(0, len(body), MB):
            self.wfile.write(view[start : start + MB])

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    bodies: dict[str, tuple[bytes, str]]


@dataclass
class Result:
    variant: str
    export_mb: float
    wire_mb: float
    records: int
    wall_s: float
    mb_per_s: float
    idle_worker_rss_mb: float
    peak_worker_rss_mb: float
    peak_workers_total_rss_mb: float
    checked: bool


@contextlib.contextmanager
def serve(bodies: dict[str, tuple[bytes, str]]) -> Iterator[str]:
    """Serve `bodies` (path → body, content type) on 127.0.0.1; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.bodies = bodies
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(megabytes: float, variants: list[str], repeat: int) -> list[Result]:
    from pyspark.sql import functions as F

    from benchmarks.harness.session import create_session

    bodies: dict[str, tuple[bytes, str]] = {}
    sizes: dict[str, tuple[float, int]] = {}
    built: dict[str, tuple[bytes, int]] = {}
    for variant in variants:
        kind = variant.removesuffix(".gz")
        if kind not in built:
            print(f"building the {kind} export of ~{megabytes:g} MB ...", flush=True)
            built[kind] = build_export(kind, megabytes)
            bodies[f"/warm.{kind}"] = (build_export(kind, 0.01)[0], CONTENT_TYPES[kind])
        body, records = built[kind]
        sizes[variant] = (len(body) / MB, records)
        path = f"/export.{variant}"
        if variant.endswith(".gz"):
            bodies[path] = (gzip.compress(body, compresslevel=1, mtime=0), "application/gzip")
        else:
            bodies[path] = (body, CONTENT_TYPES[kind])
    built.clear()
    spark = create_session()
    sampler = WorkerRssSampler().start()
    results: list[Result] = []
    try:
        with serve(bodies) as url:
            for kind in sorted({v.removesuffix(".gz") for v in variants}):  # workers started
                spark.read.format("rest").option("url", f"{url}/warm.{kind}").option(
                    "responseFormat", kind
                ).schema(SCHEMAS[kind]).load().count()
            for _ in range(repeat):
                for variant in variants:
                    kind = variant.removesuffix(".gz")
                    export_mb, records = sizes[variant]
                    df = (
                        spark.read.format("rest")
                        .option("url", f"{url}/export.{variant}")
                        .option("responseFormat", kind)
                        .schema(SCHEMAS[kind])
                        .load()
                    )
                    idle = sampler.largest_now()
                    sampler.reset()
                    start = time.perf_counter()
                    row = df.agg(F.count("*").alias("n"), F.sum("id").alias("ids")).first()
                    wall = time.perf_counter() - start
                    peak = sampler.read()
                    assert row is not None
                    checked = row["n"] == records and row["ids"] == records * (records + 1) // 2
                    result = Result(
                        variant,
                        round(export_mb, 1),
                        round(len(bodies[f"/export.{variant}"][0]) / MB, 1),
                        int(row["n"]),
                        round(wall, 2),
                        round(export_mb / wall, 1),
                        round(idle, 1),
                        round(peak.single_mb, 1),
                        round(peak.total_mb, 1),
                        checked,
                    )
                    print(json.dumps(asdict(result)), flush=True)
                    results.append(result)
    finally:
        sampler.stop()
        spark.stop()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=500.0, help="size of the export (MB)")
    parser.add_argument(
        "--formats",
        default="ndjson,ndjson.gz",
        help="variants, comma-separated: ndjson, ndjson.gz, csv, csv.gz",
    )
    parser.add_argument(
        "--json-too", action="store_true", help="also the same records as one JSON array"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each variant")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.formats.split(",") if v.strip()]
    if args.json_too:
        variants.append("json")
    results = run(args.mb, variants, args.repeat)
    print()
    print(
        "| variant | export MB | on the wire MB | records | wall s | MB/s "
        "| peak worker RSS MB (idle before) | all workers MB | checked |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.variant} | {r.export_mb} | {r.wire_mb} | {r.records} | {r.wall_s} | "
            f"{r.mb_per_s} | {r.peak_worker_rss_mb} ({r.idle_worker_rss_mb}) | "
            f"{r.peak_workers_total_rss_mb} | {r.checked} |"
        )


if __name__ == "__main__":
    main()
