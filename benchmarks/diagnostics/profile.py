"""Where rest_stream spends its time at 0 ms latency, outside Spark.

The demo API runs in its own process here, so it takes no GIL from the code measured.

`python -m benchmarks.diagnostics.profile [--records 200000] [--page-size 500] [--concurrency 4]
[--shape nested|flat] [--kind page|incremental|…]`

1. Stages, one at a time on one thread, in CPU seconds: HTTP only (bodies, fetched once);
   then over the bodies in memory, each stage on its own (the least of 3 passes): the body
   to Arrow the way rest_stream does it for page reads (`ArrowPageDecoder.decode`) and the
   general way (`orjson.loads`, `as_record`, `ArrowConverter.to_batch`) beside it; and Arrow
   IPC serialization (what a Spark worker does to hand batches to the JVM).
2. `read(partition)` (`RestBatchReader.read` →
   `rest_stream.executor.partition_reader.PartitionReader`) on the
   one range partition of `numPartitions=1` (planned first, not timed), at
   `requestConcurrency` 1 and N.
3. cProfile of (2) at concurrency 1 (cProfile sees only the calling thread), its own time
   grouped into categories, and the top functions.
With `--spark`, also Spark's view of the same read (`benchmarks.diagnostics.pyspy`).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
import orjson
import pyarrow as pa

from benchmarks.harness.config import OFFSET_KINDS, SHAPES
from benchmarks.harness.server import BenchServer
from rest_stream.batch_reader import RestBatchReader
from rest_stream.decoders.arrow_json import ArrowPageDecoder
from rest_stream.decoders.jsonpath import compile_path
from rest_stream.options.parse import parse_options
from rest_stream.schema import ArrowConverter, as_record

STAGES = (
    "HTTP (httpx.Client.get, body bytes)",
    "body → Arrow (ArrowPageDecoder.decode)",
    "general: JSON parse (orjson.loads)",
    "general: records → dicts (as_record)",
    "general: Arrow (ArrowConverter.to_batch)",
    "Arrow IPC write (what a worker sends)",
)
#: The stages of the path page reads take, and of the general path.
DECODED_PATH = (STAGES[0], STAGES[1], STAGES[5])
GENERAL_PATH = (STAGES[0], STAGES[2], STAGES[3], STAGES[4], STAGES[5])

#: cProfile phases: (label, file suffix, function) whose cumulative time is reported.
PHASES = (
    ("HTTP: HttpSession.fetch (httpx + retries)", "rest_stream/http/session.py", "fetch"),
    ("body → Arrow: ArrowPageDecoder.decode", "rest_stream/decoders/arrow_json.py", "decode"),
    ("JSON parse: parse_json (orjson)", "rest_stream/http/session.py", "parse_json"),
    ("Arrow conversion: ArrowConverter.to_batch", "rest_stream/schema.py", "to_batch"),
    ("records → dicts: as_record", "rest_stream/schema.py", "as_record"),
)


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of `work()`."""
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def stages(server: BenchServer, passes: int = 3) -> dict[str, float]:
    """CPU seconds (`time.process_time`) of each stage over every page: the bodies are
    fetched once (the HTTP stage), then each stage runs over all of them on its own, the
    least of `passes` passes (so no stage finds the bodies in the cache for another)."""
    converter = ArrowConverter(server.schema)
    decoder = ArrowPageDecoder.for_schema(compile_path("$.data"), converter.arrow_schema)
    assert decoder is not None
    urls = server.page_urls()
    with httpx.Client() as client:
        started = time.process_time()
        bodies = [client.get(url).content for url in urls]
        fetched = time.process_time() - started
    documents = [orjson.loads(body) for body in bodies]
    records = [[as_record(r) for r in document["data"]] for document in documents]
    batches = [converter.to_batch(page, url) for page, url in zip(records, urls)]
    for url, body, batch in zip(urls, bodies, batches):
        decoded = decoder.decode(body)
        if decoded is None or not decoded.equals(batch):
            raise RuntimeError(f"{url}: the decoded page differs from the general path's")

    def write_ipc() -> None:
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, converter.arrow_schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                sink.seek(0)
                sink.truncate()

    def each(stage: Callable[[Any], Any], inputs: list[Any]) -> Callable[[], None]:
        def run() -> None:
            for item in inputs:
                stage(item)  # the result is dropped, as a task drops a page it has sent

        return run

    work: dict[str, Callable[[], Any]] = {
        STAGES[1]: each(decoder.decode, bodies),
        STAGES[2]: each(orjson.loads, bodies),
        STAGES[3]: each(lambda d: [as_record(r) for r in d["data"]], documents),
        STAGES[4]: each(lambda page: converter.to_batch(page, ""), records),
        STAGES[5]: write_ipc,
    }
    spent = {STAGES[0]: fetched}
    gc.collect()
    gc.freeze()  # the pages held here stay out of the collections, as a worker's heap does
    try:
        for name, run in work.items():
            best = float("inf")
            for _ in range(passes):
                started = time.process_time()
                run()
                best = min(best, time.process_time() - started)
            spent[name] = best
    finally:
        gc.unfreeze()
    return spent


def one_partition(server: BenchServer, concurrency: int) -> tuple[RestBatchReader, Any]:
    """The batch reader and its single partition covering every record (planned as Spark
    would, end search included)."""
    reader = RestBatchReader(parse_options(server.rest_options(1, concurrency)), server.schema)
    (partition,) = reader.partitions()
    return reader, partition


def read_all(server: BenchServer, concurrency: int) -> int:
    """Records that `read(partition)` (a `PartitionReader`) yields for that partition."""
    reader, partition = one_partition(server, concurrency)
    return sum(batch.num_rows for batch in reader.read(partition))


def phases(stats: pstats.Stats, total: float) -> dict[str, float]:
    """Cumulative seconds of each of `PHASES` (absent ones are left out) and the rest."""
    found: dict[str, float] = {}
    for label, suffix, function in PHASES:
        for (filename, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
            if name == function and filename.endswith(suffix):
                found[label] = found.get(label, 0.0) + row[3]
    found["everything else (reader loop, pool, planning)"] = total - sum(found.values())
    return found


def profile_reader(server: BenchServer, top: int) -> tuple[dict[str, float], float, str]:
    """cProfile of one read at concurrency 1: its phases, total and the top functions."""
    reader, partition = one_partition(server, 1)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in reader.read(partition):
        pass
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(row[3] for row in stats.stats.values())  # type: ignore[attr-defined]
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return phases(stats, total), total, "\n".join(lines[start:])


def _shares(parts: dict[str, float], total: float) -> Iterable[str]:
    for name, seconds in parts.items():
        yield f"  {name:40} {seconds:7.3f} s  {100 * seconds / total:5.1f} %"


def main(argv: Sequence[str] | None = None) -> None:
    """Print the stage timings, reader timings and the profile."""
    prog = "python -m benchmarks.diagnostics.profile"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--shape", choices=SHAPES, default=SHAPES[0], help="record shape")
    parser.add_argument(
        "--kind", choices=[k for k in OFFSET_KINDS if k != "cursor"], default="page"
    )
    parser.add_argument("--top", type=int, default=20, help="functions to list")
    parser.add_argument("--spark", action="store_true", help="also profile inside Spark")
    args = parser.parse_args(argv)
    with BenchServer(
        args.records, args.page_size, own_process=True, shape=args.shape, offset_kind=args.kind
    ) as server:
        server.warm()
        read_all(server, args.concurrency)  # warm imports and caches
        parts = stages(server)
        total = sum(parts[name] for name in DECODED_PATH)
        general = sum(parts[name] for name in GENERAL_PATH)
        print(f"Stages over {server.pages} pages of {args.page_size} (0 ms; CPU seconds):")
        print("\n".join(_shares(parts, total)))
        for label, seconds in (("sum, decoded path", total), ("sum, general path", general)):
            print(f"  {label:40} {seconds:7.3f} s  ({args.records / seconds:,.0f} records/s)")
        for width in sorted({1, args.concurrency}):
            reader, partition = one_partition(server, width)
            seconds, count = timed(lambda r=reader, p=partition: sum(b.num_rows for b in r.read(p)))
            print(
                f"PartitionReader.read, requestConcurrency {width}: {seconds:.3f} s, "
                f"{count / seconds:,.0f} records/s"
            )
        categories, own, listing = profile_reader(server, args.top)
        print(f"\ncProfile of read(partition) at concurrency 1: {own:.3f} s (profiler inflates")
        print("pure-Python code such as httpx's more than C code such as pyarrow's):")
        print("\n".join(_shares(categories, own)))
        print(f"\nTop {args.top} functions by own time:\n{listing}")
        if args.spark:
            from benchmarks.diagnostics.pyspy import profile_spark

            profile_spark(server, args.concurrency)


if __name__ == "__main__":
    main()
