"""A quiet local Spark session with the `rest` format registered (demo, tests, benchmarks)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from typing import Any

from rest_stream.errors import RestStreamError

#: How long the check of another interpreter may take (it imports pyspark and pyarrow).
CHECK_TIMEOUT_S = 120


class WorkerPythonError(RestStreamError, RuntimeError):
    """The Python that Spark would start its Python workers with cannot import rest_stream."""


def local_spark(app_name: str, master: str = "local[2]", **conf: str) -> Any:
    """A `SparkSession` on `master` whose Python workers run this interpreter.

    Spark starts its Python workers with `PYSPARK_PYTHON` (`python3` on `PATH` when unset);
    pointing it at `sys.executable` makes them find rest_stream (else: `DATA_SOURCE_NOT_FOUND`,
    ModuleNotFoundError or "worker failed to connect back"). When `PYSPARK_PYTHON` is already
    set to another interpreter, that one is kept, and checked: `WorkerPythonError` when it
    cannot import rest_stream, before Spark starts.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from rest_stream import RestDataSource

    running = SparkContext._active_spark_context
    check_worker_python(running.pythonExec if running is not None else None)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(RestDataSource)
    return spark


def check_worker_python(python: str | None = None) -> None:
    """Raise `WorkerPythonError` when Spark's Python workers could not import rest_stream.

    `python` is the interpreter a running `SparkContext` starts its workers with
    (`pythonExec`); None: the one a new session would use, `PYSPARK_PYTHON` or `python3`.
    This interpreter passes at once. Another one is asked to import rest_stream and
    `pyspark_rest` as a worker would: with Spark's own `pyspark.zip` and py4j first on
    `PYTHONPATH`. Only this machine's workers are checked: a cluster's executors are not.
    """
    problem = worker_python_problem(python)
    if problem is not None:
        raise WorkerPythonError(problem)


def worker_python_problem(python: str | None = None) -> str | None:
    """Why Spark's Python workers (see `check_worker_python`) could not import rest_stream."""
    running = python is not None
    if python is None:
        python = os.environ.get("PYSPARK_PYTHON", "python3")
    found = shutil.which(python)
    if found is not None and os.path.abspath(found) == os.path.abspath(sys.executable):
        return None
    why = _import_problem(found) if found is not None else "no such program"
    if why is None:
        return None
    if running:
        named = f"this session's Python workers run {python!r}"
    elif "PYSPARK_PYTHON" in os.environ:
        named = f"Spark would start its Python workers with PYSPARK_PYTHON={python!r}"
    else:
        named = f"Spark would start its Python workers with {python!r} (PYSPARK_PYTHON unset)"
    return (
        f"{named}, which cannot import rest_stream ({why}), so a read of format('rest') would "
        f"fail ([DATA_SOURCE_NOT_FOUND] or ModuleNotFoundError). Set PYSPARK_PYTHON and "
        f"PYSPARK_DRIVER_PYTHON to a Python that has rest_stream installed, this one for "
        f"instance ({sys.executable}), before the Spark session starts"
        + (" (stop this one first: spark.stop())" if running else "")
        + ". See 'DATA_SOURCE_NOT_FOUND' in docs/troubleshooting.md."
    )


def _import_problem(python: str) -> str | None:
    """Why `python` cannot import rest_stream as a Spark worker would; None if it can."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [*_spark_python_path(), *filter(None, [env.get("PYTHONPATH")])]
    )
    try:
        done = subprocess.run(
            [python, "-c", "import rest_stream, pyspark_rest"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CHECK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return None  # cannot tell: let Spark try
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def _spark_python_path() -> list[str]:
    """What Spark puts first on its Python workers' `PYTHONPATH`: its pyspark and py4j zips."""
    from pyspark.find_spark_home import _find_spark_home

    try:
        lib = os.path.join(_find_spark_home(), "python", "lib")
    except (Exception, SystemExit):  # it exits when it finds no Spark: let Spark say so
        return []
    return sorted(glob.glob(os.path.join(lib, "pyspark.zip"))) + sorted(
        glob.glob(os.path.join(lib, "py4j-*-src.zip"))
    )
