"""Peak RSS of Spark's Python workers, sampled every 50 ms in a background thread.

Workers are the descendants of this process (the JVM's children and theirs) whose command
line names a pyspark worker: `pyspark.daemon` (executor and planner workers, forked) and
`pyspark.sql.streaming...` (the driver-side stream reader process). A window's peak counts
only workers that used CPU in that window, so an idle worker left by another variant does
not lend its size to the run being measured.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import psutil

MB = 1024 * 1024
WORKER_MARKS = ("pyspark.daemon", "pyspark/worker", "pyspark.worker", "pyspark.sql.")
ACTIVE_CPU_S = 0.05

Key = tuple[int, float]


def is_worker(cmdline: list[str]) -> bool:
    """Whether a command line is one of Spark's Python worker processes."""
    text = " ".join(cmdline)
    return "python" in text and any(mark in text for mark in WORKER_MARKS)


@dataclass
class RssPeak:
    """Peaks since the last reset: the largest single worker, and all workers together (MB)."""

    single_mb: float = 0.0
    total_mb: float = 0.0


class WorkerRssSampler:
    """Samples worker RSS in a daemon thread; `reset()` starts a new peak window."""

    def __init__(self, interval: float = 0.05, root_pid: int | None = None) -> None:
        self.interval = interval
        self.root = psutil.Process(root_pid or os.getpid())
        self._known: dict[Key, bool] = {}
        self._cpu_at_reset: dict[Key, float] = {}
        self._peaks: dict[Key, float] = {}
        self._cpu: dict[Key, float] = {}
        self._total_mb = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    def start(self) -> WorkerRssSampler:
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join(timeout=2)

    def reset(self) -> None:
        """Start a new window: forget the peaks, remember each worker's CPU time so far."""
        self.sample()
        with self._lock:
            self._cpu_at_reset = dict(self._cpu)
            self._peaks = {}
            self._total_mb = 0.0

    def read(self) -> RssPeak:
        """Take one more sample, then the peaks of the workers active since `reset`."""
        self.sample()
        with self._lock:
            active = [
                peak
                for key, peak in self._peaks.items()
                if self._cpu.get(key, 0.0) - self._cpu_at_reset.get(key, 0.0) >= ACTIVE_CPU_S
            ]
            return RssPeak(max(active, default=0.0), self._total_mb)

    def largest_now(self) -> float:
        """RSS of the largest worker right now (MB), active or not."""
        sizes = []
        for _, process in self._workers():
            try:
                sizes.append(process.memory_info().rss / MB)
            except psutil.Error:
                continue
        return max(sizes, default=0.0)

    def sample(self) -> None:
        """Measure every live worker once and raise the peaks."""
        sizes: dict[Key, tuple[float, float]] = {}
        for key, process in self._workers():
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    sizes[key] = (process.memory_info().rss / MB, times.user + times.system)
            except psutil.Error:
                continue
        with self._lock:
            for key, (rss, cpu) in sizes.items():
                self._peaks[key] = max(self._peaks.get(key, 0.0), rss)
                self._cpu[key] = cpu
            self._total_mb = max(self._total_mb, sum(rss for rss, _ in sizes.values()))

    def _workers(self) -> list[tuple[Key, psutil.Process]]:
        try:
            children = self.root.children(recursive=True)
        except psutil.Error:
            return []
        found = []
        for child in children:
            try:
                key = (child.pid, child.create_time())
                if key not in self._known:
                    self._known[key] = is_worker(child.cmdline())
            except psutil.Error:
                continue
            if self._known[key]:
                found.append((key, child))
        return found

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
