"""CPU time: how busy the rest of the machine was during a run (other engineers' tests, say),
and what the benchmark's own processes spent.

`other` = CPU seconds the whole machine spent busy minus those of this process tree (the
driver, the JVM, Spark's Python workers and the limit's child process, reaped or not).
`children_cpu_s` = CPU seconds of this process's descendants only: the JVM, Spark's Python
workers and the driver-side source runner (all under the JVM), and reaped children; not
this process, which runs the API server and the harness. `cpu_by_kind` splits them into
the JVM's own, the Python processes under it, and the rest.
"""

from __future__ import annotations

import os

import psutil


def machine_busy_s() -> float:
    """CPU seconds the machine has spent not idle since boot (all cores)."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def tree_cpu_s(root: psutil.Process | None = None) -> float:
    """CPU seconds of this process tree, reaped children included."""
    root = root or psutil.Process(os.getpid())
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            t = process.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system + t.children_user + t.children_system
    return total


class CpuWatch:
    """Started before a run; `other_share(wall)` after it: the share of all cores used by
    processes outside this tree (0 = a quiet machine, 1 = every core busy elsewhere)."""

    def __init__(self) -> None:
        self.root = psutil.Process(os.getpid())
        self.cores = psutil.cpu_count() or 1
        self.busy = machine_busy_s()
        self.ours = tree_cpu_s(self.root)

    def other_share(self, wall_s: float) -> float:
        """Foreign CPU seconds over the run, divided by wall time × cores."""
        busy = machine_busy_s() - self.busy
        ours = tree_cpu_s(self.root) - self.ours
        return max(0.0, busy - ours) / max(wall_s * self.cores, 1e-9)


def own_cpu_s() -> float:
    """CPU seconds (user + system) of this process alone: the harness and, in it, the API."""
    times = psutil.Process(os.getpid()).cpu_times()
    return times.user + times.system


def children_cpu_s(root: psutil.Process | None = None) -> float:
    """CPU seconds (user + system) of `root`'s descendants, live or reaped, not its own."""
    return sum(cpu_by_kind(root).values())


def cpu_by_kind(root: psutil.Process | None = None) -> dict[str, float]:
    """CPU seconds (user + system) of `root`'s descendants, live or reaped, by kind: the
    JVM's own threads (`jvm`), the processes under the JVM (`python`: Spark's Python workers
    and a stream's source process, reaped ones included) and any other (`other`: the limit's
    children, reaped or not)."""
    root = root or psutil.Process(os.getpid())
    times = root.cpu_times()
    split = {"jvm": 0.0, "python": 0.0, "other": times.children_user + times.children_system}
    for child in root.children():
        try:
            own = child.cpu_times()
            java = "java" in child.name()
            below = child.children(recursive=True)
        except psutil.Error:
            continue
        if java:
            split["jvm"] += own.user + own.system
            split["python"] += own.children_user + own.children_system
        else:
            split["other"] += own.user + own.system + own.children_user + own.children_system
        for process in below:
            try:
                t = process.cpu_times()
            except psutil.Error:
                continue
            split["python" if java else "other"] += (
                t.user + t.system + t.children_user + t.children_system
            )
    return split
