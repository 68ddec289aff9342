"""The driver of tests/test_cluster.py: a stream on a standalone cluster, run by spark-submit.

    spark-submit --master spark://HOST:PORT tests/cluster_stream.py API_URL WORK

Waits for two executors, then streams `incremental` ids of the demo API at API_URL with a
processingTime trigger into a parquet sink (`WORK/sink`, checkpoint `WORK/checkpoint`). When
the file `WORK/stop` appears it processes everything the API has (`processAllAvailable`),
stops, reads the sink back and writes its facts to `WORK/facts.json`. The format needs no
register call: `pyspark_rest` is on the path, as an installed wheel puts it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from streaming import start_stream

BATCH_SIZE = 40
TRIGGER = "1 second"
EXECUTORS = 2


def stream_options(url: str) -> dict[str, str]:
    return {
        "url": f"{url}/items?since_id={{since_id}}&limit=10",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{url}/latest",
        "latestOffsetPath": "$.max_id",
        "batchSize": str(BATCH_SIZE),
        "numPartitions": "2",
    }


def executor_ids(spark: Any) -> list[str]:
    """The live executors (the driver is not one)."""
    ids = spark.sparkContext._jsc.sc().getExecutorIds().mkString(",")
    return sorted(i for i in ids.split(",") if i)


def main(url: str, work: Path) -> int:
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("rest_stream cluster test").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")  # keeps "Lost executor" and lost tasks in the log
    facts: dict[str, Any] = {"master": spark.sparkContext.master}

    deadline = time.monotonic() + 120
    while len(executor_ids(spark)) < EXECUTORS:
        assert time.monotonic() < deadline, f"executors: {executor_ids(spark)}"
        time.sleep(0.2)
    facts["executors_at_start"] = executor_ids(spark)

    query = start_stream(
        spark, stream_options(url), work, trigger={"processingTime": TRIGGER}, name="cluster"
    )
    print("streaming", flush=True)
    while not (work / "stop").exists():
        error = query.exception()
        assert error is None, error
        assert query.isActive, "the query stopped by itself"
        time.sleep(0.2)
    query.processAllAvailable()
    query.stop()
    error = query.exception()
    assert error is None, error

    rows = spark.read.parquet(str(work / "sink")).select("id").collect()
    facts.update(
        executors_at_end=executor_ids(spark),
        sink_ids=sorted(row["id"] for row in rows),
    )
    spark.stop()
    (work / "facts.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
