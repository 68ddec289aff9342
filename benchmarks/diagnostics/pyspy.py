"""Spark's view of a 0 ms read: py-spy samples of the executor's Python workers.

Used by `python -m benchmarks.diagnostics.profile --spark` (needs the `py-spy` binary next to the
interpreter or on PATH, and ptrace rights). Reads every record with `spark.read`,
`numPartitions=1`, to the noop sink, while py-spy samples the worker daemon and the workers
it forks; each sample goes to the category of its innermost recognised frame.
"""

from __future__ import annotations

import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil

from benchmarks.harness.config import SCHEMA
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


def profile_spark(server: BenchServer, concurrency: int, runs: int = 3) -> None:
    """Time `runs` Spark batch reads (numPartitions=1) and print py-spy's categories."""
    from benchmarks.harness.session import create_session

    spark = create_session()
    options = server.rest_options(1, concurrency)

    def read() -> float:
        started = time.perf_counter()
        frame = spark.read.format("rest").schema(SCHEMA).options(**options).load()
        frame.write.format("noop").mode("overwrite").save()
        return time.perf_counter() - started

    try:
        read()  # starts the workers
        walls = [read() for _ in range(runs)]
        print(
            f"\nSpark batch read, numPartitions 1, requestConcurrency {concurrency}: median "
            f"{statistics.median(walls):.3f} s over {runs} runs "
            f"({server.records / statistics.median(walls):,.0f} records/s)"
        )
        binary, daemon = py_spy(), _worker_daemon()
        if binary is None or daemon is None:
            print("py-spy or the worker daemon not found: no in-Spark profile")
            return
        with tempfile.TemporaryDirectory() as work:
            out = Path(work) / "samples.txt"
            command = [binary, "record", "--pid", str(daemon.pid), "--subprocesses"]
            command += ["--format", "raw", "--rate", "200", "--nonblocking", "--full-filenames"]
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
        print(f"py-spy over {runs} reads: {total} busy samples ({idle} idle ones left out):")
        for category, number in counts.most_common():
            print(f"  {category:58} {number:6}  {100 * number / total:5.1f} %")
    finally:
        spark.stop()
