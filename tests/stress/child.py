"""The stress test's killable query: `python -m tests.stress.child SPEC.json`.

Streams the `rest` source into a parquet sink with a checkpoint (processingTime 0) until it is
SIGKILLed by the runner. SPEC holds `options`, `schema`, `sink` and `checkpoint`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> None:
    spec = json.loads(Path(argv[0]).read_text())
    from rest_stream.demo.spark import local_spark

    spark = local_spark("rest_stream stress child", **{"spark.sql.streaming.pollingDelay": "10ms"})
    reader = spark.readStream.format("rest").schema(spec["schema"])
    for key, value in spec["options"].items():
        reader = reader.option(key, value)
    query = (
        reader.load()
        .writeStream.format("parquet")
        .option("path", spec["sink"])
        .option("checkpointLocation", spec["checkpoint"])
        .trigger(processingTime="0 seconds")
        .start()
    )
    print("started", flush=True)
    query.awaitTermination()


if __name__ == "__main__":
    main(sys.argv[1:])
