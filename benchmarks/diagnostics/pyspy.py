"""Spark's view of a read: py-spy samples of the executors' Python workers.

`python -m benchmarks.diagnostics.pyspy [--records 1000000] [--shape nested] [--kind incremental]
[--latency-ms 20] [--partitions 8] [--variant batch|stream] [--gil]` (also used by
`python -m benchmarks.diagnostics.profile --spark`, at 0 ms with `numPartitions=1`). Needs the
`py-spy` binary next to the interpreter or on PATH, and ptrace rights. Reads every record
`runs` times to the noop sink while py-spy samples the worker daemon and the workers it forks
(every task's Python, across processes); each sample goes to the category of its innermost
recognised frame. `--gil` keeps only samples of threads holding the GIL: Python's own CPU,
not threads waiting on sockets. The stream's driver-side source process is not sampled (it
starts with each query).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import psutil

from benchmarks.harness.config import OFFSET_KINDS, SHAPES
from benchmarks.harness.server import BenchServer

IDLE = "idle (pool threads waiting for work, the daemon's select)"

#: (category, markers in a frame "function (file:line)"), tried innermost frame first.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JSON parse (orjson)", ("parse_json (", "parse_page (", "orjson")),
    (
        "body → Arrow (rest_stream.decoders.arrow_json → pyarrow.json)",
        ("rest_stream/decoders/arrow_json.py",),
    ),
    ("Arrow conversion (rest_stream.schema → pyarrow)", ("rest_stream/schema.py",)),
    ("HTTP (httpx, httpcore, h11, socket)", ("/httpx/", "/httpcore/", "/h11/", "/socket.py")),
    ("retry wrapper (tenacity)", ("/tenacity/",)),
    ("thread pool (submit, futures, locks)", ("concurrent/futures/", "/threading.py")),
    ("rest_stream reader loop (pages, offsets, reading)", ("rest_stream/",)),
    ("Spark transfer (pyspark worker: checks, wrap, Arrow IPC)", ("pyspark/",)),
)


def _idle(leaf: str) -> bool:
    return (
        leaf.startswith(("_worker (", "wait (", "Condition.wait (", "manager ("))
        and ("concurrent/futures/thread.py" in leaf or "threading.py" in leaf)
    ) or "pyspark/daemon.py" in leaf


def py_spy() -> str | None:
    """The py-spy executable, if installed."""
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def classify(stack: str) -> str:
    """The category of one collapsed stack (frames root→leaf, separated by `;`)."""
    frames = stack.split(";")
    if _idle(frames[-1]):
        return IDLE
    for frame in reversed(frames):
        for category, markers in RULES:
            if any(marker in frame for marker in markers):
                return category
    return "other"


def shares(raw: str) -> Counter[str]:
    """Samples per category from py-spy's `--format raw` output."""
    counts: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            counts[classify(stack)] += int(number)
    return counts


def _worker_daemon() -> psutil.Process | None:
    for process in psutil.Process().children(recursive=True):
        try:
            line = " ".join(process.cmdline())
            parent = process.parent()
            if "pyspark.daemon pyspark.worker" in line and parent and "java" in parent.name():
                return process
        except psutil.Error:
            continue
    return None


def profile_spark(
    server: BenchServer,
    concurrency: int | None,
    runs: int = 3,
    *,
    partitions: int = 1,
    variant: str = "batch",
    gil: bool = False,
) -> None:
    """Time `runs` Spark reads of `server` (`variant`: "batch" or an availableNow "stream")
    and print py-spy's categories over them."""
    from benchmarks.harness.session import create_session

    spark = create_session()
    options = server.rest_options(partitions, concurrency)

    def read() -> float:
        started = time.perf_counter()
        if variant == "stream":
            with tempfile.TemporaryDirectory() as checkpoint:
                frame = spark.readStream.format("rest").schema(server.schema).options(**options)
                query = (
                    frame.load()
                    .writeStream.format("noop")
                    .option("checkpointLocation", checkpoint)
                    .trigger(availableNow=True)
                    .start()
                )
                query.awaitTermination()
        else:
            frame = spark.read.format("rest").schema(server.schema).options(**options).load()
            frame.write.format("noop").mode("overwrite").save()
        return time.perf_counter() - started

    try:
        read()  # starts the workers
        walls = [read() for _ in range(runs)]
        print(
            f"\nSpark {variant} read, numPartitions {partitions}, requestConcurrency "
            f"{concurrency or 'default'}: median {statistics.median(walls):.3f} s over {runs} "
            f"runs ({server.records / statistics.median(walls):,.0f} records/s)"
        )
        binary, daemon = py_spy(), _worker_daemon()
        if binary is None or daemon is None:
            print("py-spy or the worker daemon not found: no in-Spark profile")
            return
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / "samples.txt"
            command = [binary, "record", "--pid", str(daemon.pid), "--subprocesses"]
            command += ["--format", "raw", "--rate", "200", "--nonblocking", "--full-filenames"]
            command += ["--gil"] if gil else []
            command += ["-o", str(out)]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            for _ in range(runs):
                read()
            spy.send_signal(signal.SIGINT)
            _, errors = spy.communicate(timeout=60)
            if not out.exists():
                print(f"py-spy wrote nothing: {errors.decode(errors='replace')[-300:]}")
                return
            counts = shares(out.read_text())
        idle = counts.pop(IDLE, 0)
        total = sum(counts.values()) or 1
        kept = "samples holding the GIL" if gil else "busy samples"
        print(f"py-spy over {runs} reads: {total} {kept} ({idle} idle ones left out):")
        for category, number in counts.most_common():
            print(f"  {category:58} {number:6}  {100 * number / total:5.1f} %")
    finally:
        spark.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the records in this process and profile Spark's reads of them."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.diagnostics.pyspy")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--shape", choices=SHAPES, default=SHAPES[0])
    parser.add_argument("--kind", choices=[k for k in OFFSET_KINDS if k != "cursor"])
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--variant", choices=("batch", "stream"), default="batch")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--gil", action="store_true", help="only samples holding the GIL")
    parser.set_defaults(kind="incremental")
    args = parser.parse_args(argv)
    server = BenchServer(
        args.records, args.page_size, offset_kind=args.kind, probe=True, shape=args.shape
    )
    with server:
        server.warm()
        server.latency_ms = args.latency_ms
        profile_spark(
            server,
            args.concurrency,
            args.runs,
            partitions=args.partitions,
            variant=args.variant,
            gil=args.gil,
        )


if __name__ == "__main__":
    main()
