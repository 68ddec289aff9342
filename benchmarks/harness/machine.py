"""The machine a run happened on: cores, CPU model, memory, versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks.harness.config import ROOT


def _cpuinfo(field: str) -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "missing"


def _java() -> str:
    try:
        done = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if lines else "unknown"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=30, check=False, cwd=ROOT
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def code_state() -> dict[str, Any]:
    """The commit measured and the library files changed since it (others edit concurrently)."""
    changed = [line[3:] for line in _git("status", "--porcelain", "rest_stream").splitlines()]
    return {"commit": _git("rev-parse", "--short", "HEAD"), "rest_stream_changed": changed}


def machine_info() -> dict[str, Any]:
    """`nproc`, CPU model, memory and the versions that matter to the figures."""
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpuinfo("model name"),
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": _java(),
        **{p: _version(p) for p in ("pyspark", "pyarrow", "httpx", "orjson", "rest_stream")},
        "code": code_state(),
        "loadavg_at_start": os.getloadavg(),
    }


def describe(info: dict[str, Any]) -> str:
    """One line for the console."""
    load = info["loadavg_at_start"][0]
    busy = f"; load average {load:.1f} before starting" if load > 0.5 else ""
    return (
        f"{info['nproc']} cores ({info['cpu_model']}), {info['memory_gb']} GB, "
        f"Python {info['python']}, pyspark {info['pyspark']}, pyarrow {info['pyarrow']}, "
        f"httpx {info['httpx']}{busy}"
    )
