"""A quiet local Spark session with the `rest` format registered (demo, tests, benchmarks)."""

from __future__ import annotations

import os
import sys
from typing import Any


def local_spark(app_name: str, master: str = "local[2]", **conf: str) -> Any:
    """A `SparkSession` on `master` whose Python workers run this interpreter.

    Spark starts its Python workers with `PYSPARK_PYTHON`; pointing it at `sys.executable`
    makes them find rest_stream (else: ModuleNotFoundError or "worker failed to connect back").
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from rest_stream import RestDataSource

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
