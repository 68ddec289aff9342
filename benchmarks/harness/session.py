"""The one Spark session of a benchmark run: local[2], quiet, the formats registered
(`rest`, the baseline's `bench_seed` and the floor's `bench_floor`).

Before it starts, the sources of `rest_stream` and `benchmarks` are byte-compiled
(`__pycache__`, as `pip install` leaves an installed package): Spark starts a new Python
process for every streaming query's source, and with `PYTHONDONTWRITEBYTECODE` set (or an
editable checkout never imported before) each would compile them from source again.
"""

from __future__ import annotations

import compileall
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from benchmarks.harness.config import ROOT


def compile_sources() -> bool:
    """Byte-compile `rest_stream` and `benchmarks` where they are imported from; True when
    every module compiled."""
    import rest_stream

    folders = {Path(rest_stream.__file__).parent, ROOT / "benchmarks"}
    return all(compileall.compile_dir(str(f), quiet=1) for f in sorted(folders))


def create_session(master: str = "local[2]") -> SparkSession:
    """Start Spark with Python workers on this interpreter and `benchmarks` importable."""
    compile_sources()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    spark = (
        SparkSession.builder.master(master)
        .appName("rest_stream benchmarks")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # a Python worker that connects back late (a busy shared machine) is waited for, not
        # failed after the default 15 s
        .config("spark.python.authenticate.socketTimeout", "120s")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    from benchmarks.comparators.baseline import SeedDataSource
    from benchmarks.comparators.floor import FloorDataSource
    from rest_stream import RestDataSource

    spark.dataSource.register(RestDataSource)
    spark.dataSource.register(SeedDataSource)
    spark.dataSource.register(FloorDataSource)
    return spark


def task_slots(spark: SparkSession) -> int:
    """Tasks Spark runs at once (cores of `local[n]`)."""
    return max(1, int(spark.sparkContext.defaultParallelism))
