"""One Spark deployment shape, checked end to end in its own process (tests/test_platform.py).

    python tests/platform_check.py connect   # a Spark Connect client (gRPC) to a local server
    python tests/platform_check.py cluster   # local-cluster[2,1,1024]: two executor JVMs
    python tests/platform_check.py local     # local[2]
    ... --installed   # rest_stream is an installed wheel: the batch read comes before any
                      # register call (`format("rest")` through `pyspark_rest` alone)

Each run serves the demo API on loopback, batch-reads every record, then streams
`incremental` ids with `trigger(availableNow=True)` in several micro-batches into a parquet
sink, appends records to the API and runs again from the same checkpoint. It checks that the
batch read and the sink hold exactly the API's records (no duplicates, none missing), prints
one JSON line of facts and exits 0; a failed check raises.

A process of its own per mode: a Spark Connect local server cannot start in a process that
already has a classic session ([SESSION_ALREADY_EXIST]), and this keeps the test suite's
shared session (tests/conftest.py) and each mode's start-up apart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from streaming import run_to_end, start_stream

RECORDS = 240  # streamed in micro-batches of BATCH_SIZE, then APPEND more
BATCH_SIZE = 70
APPEND = 45
QUIET = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.streaming.pollingDelay": "10ms",
}


def classic_session(master: str, **conf: str) -> Any:
    """A classic `SparkSession` on `master` whose Python workers run this interpreter."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(f"rest_stream platform {master}")
    for key, value in {**QUIET, **conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def connect_session() -> tuple[Any, Any]:
    """(Spark Connect session, the local server's classic session).

    What `SparkSession.builder.remote("local[2]")` does (pyspark's `_start_connect_server`:
    a classic session with the Spark Connect plugin, then a gRPC client to it), except that
    the server binds an ephemeral loopback port instead of the fixed 15002, so concurrent
    runs on one machine do not meet each other's server.
    """
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    os.environ.setdefault("SPARK_CONNECT_AUTHENTICATE_TOKEN", str(uuid.uuid4()))
    server = classic_session(
        "local[2]",
        **{
            "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
            "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": "0",
        },
    )
    service = getattr(server._jvm, "org.apache.spark.sql.connect.service.SparkConnectService$")
    port = getattr(service, "MODULE$").localPort()
    spark = ConnectSession.builder.remote(f"sc://localhost:{port}").getOrCreate()
    return spark, server


def stream_options(url: str) -> dict[str, str]:
    return {
        "url": f"{url}/items?since_id={{since_id}}&limit=25",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{url}/latest",
        "latestOffsetPath": "$.max_id",
        "batchSize": str(BATCH_SIZE),
        "numPartitions": "2",
    }


def batch_ids(spark: Any, url: str) -> list[int]:
    """Every id a batch read of the whole API returns (sorted, duplicates kept)."""
    reader = spark.read.format("rest")
    for key, value in stream_options(url).items():
        if key != "batchSize":
            reader = reader.option(key, value)
    return sorted(row["id"] for row in reader.load().select("id").collect())


def stream_once(spark: Any, url: str, work: Path) -> list[int]:
    """One availableNow run into `work/sink`; the number of input rows of each micro-batch."""
    query = run_to_end(start_stream(spark, stream_options(url), work), timeout=180)
    return [p.numInputRows for p in query.recentProgress if p.numInputRows]


def sink_ids(spark: Any, work: Path) -> list[int]:
    rows = spark.read.parquet(str(work / "sink")).select("id").collect()
    return sorted(row["id"] for row in rows)


def register(spark: Any) -> None:
    """The explicit registration (on a Connect session, the class is sent to the server)."""
    from rest_stream import RestDataSource

    spark.dataSource.register(RestDataSource)


def check(spark: Any, facts: dict[str, Any], installed: bool) -> None:
    """Batch read, stream, append, stream again: exactly the API's records each time.

    `installed`: the batch read runs before any register call (auto-registration of the
    installed `pyspark_rest`), the stream after one.
    """
    from rest_stream.demo import DemoApi

    with DemoApi(RECORDS) as api, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        expected = sorted(r["id"] for r in api.records())
        started = time.perf_counter()
        if not installed:
            register(spark)
        got = batch_ids(spark, api.url)
        assert got == expected, f"batch read: {len(got)} rows, expected {len(expected)}"
        facts["batch_rows"] = len(got)
        if installed:
            register(spark)

        first = stream_once(spark, api.url, work)
        assert sum(first) == RECORDS and max(first) <= BATCH_SIZE, first
        assert len(first) >= 3, f"expected several micro-batches, got {first}"
        assert sink_ids(spark, work) == expected, "first run: sink != API"

        api.append(APPEND)
        expected = sorted(r["id"] for r in api.records())
        second = stream_once(spark, api.url, work)
        assert sum(second) == APPEND, second
        got = sink_ids(spark, work)
        assert got == expected, f"after restart: sink has {len(got)} rows, API {len(expected)}"
        facts.update(
            micro_batches=[first, second],
            sink_rows=len(got),
            checks_s=round(time.perf_counter() - started, 1),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session", choices=["connect", "cluster", "local"])
    parser.add_argument(
        "--installed",
        action="store_true",
        help="rest_stream is an installed wheel: batch-read before any register call",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    facts: dict[str, Any] = {"session": args.session, "python": sys.executable}
    started = time.perf_counter()
    server = None
    if args.session == "connect":
        spark, server = connect_session()
        facts["client"] = type(spark).__module__
    elif args.session == "cluster":
        spark = classic_session(
            "local-cluster[2,1,1024]",
            **{
                "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
                "spark.executor.memory": "1024m",
            },
        )
    else:
        spark = classic_session("local[2]")
    facts["startup_s"] = round(time.perf_counter() - started, 1)

    check(spark, facts, args.installed)
    if args.installed:  # where the code that just ran came from
        import pyspark_rest
        import rest_stream

        facts["rest_stream"] = rest_stream.__file__
        facts["pyspark_rest"] = pyspark_rest.__file__
    if args.session == "cluster":
        # Executors register asynchronously: by now both have (two JVMs besides the driver).
        executors = spark.sparkContext._jsc.sc().getExecutorIds().mkString(",")
        facts["executors"] = sorted(executors.split(","))
        assert len(facts["executors"]) == 2, facts["executors"]
    spark.stop()
    if server is not None:
        server.stop()
    facts["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
