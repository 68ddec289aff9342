"""A `timestamp` stream against an API whose `since` is exclusive and compares ISO strings,
with several records per timestamp: records that join the newest timestamp after a poll are
not lost, with a probe and with the clock.

The API stamps records in 3-second steps (a timestamp "fills" for 3 s, longer than a Spark
micro-batch takes, so polls do read a timestamp that is still filling) and the stream sets
`timestampLagSeconds=3`, as the docs say for such an API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from loopback import Loopback, Reply, Seen
from streaming import start_stream


class SteppedApi:
    """Records stamped with the 3-second step they are added in (`...T12:00:03Z`);
    `/events?since=` returns those whose stamp is greater as a string (exclusive), oldest
    first, 100 a page; `/newest` names the newest stamp."""

    STEP = 3

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self) -> None:
        now = time.time()
        step = datetime.fromtimestamp(now - now % self.STEP, tz=timezone.utc)
        stamp = step.strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            self.records.append({"id": len(self.records) + 1, "ts": stamp})

    def reply(self, seen: Seen) -> Reply:
        with self.lock:
            records = list(self.records)
        if seen.path == "/newest":
            return Reply.json({"newest": records[-1]["ts"] if records else None})
        since = seen.query.get("since", "")
        return Reply.json({"data": [r for r in records if r["ts"] > since][:100]})


@pytest.fixture
def stepped_api() -> Iterator[tuple[SteppedApi, Loopback]]:
    api = SteppedApi()
    with Loopback(api.reply) as server:
        yield api, server


def stepped_options(server: Loopback, end: str) -> dict[str, str]:
    """A timestamp stream of `server`'s events, its end from a probe or the clock."""
    options = {
        "url": f"{server.url}/events?since={{since}}",
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.ts",
        "timestampFormat": "iso8601",
        "timestampLagSeconds": str(SteppedApi.STEP),
        "streamingInterval": "0.05",
    }
    if end == "probe":
        options |= {"latestOffsetUrl": f"{server.url}/newest", "latestOffsetPath": "$.newest"}
    return options


@pytest.mark.parametrize("end", ["probe", "clock"])
def test_records_joining_the_newest_timestamp_after_a_poll_are_not_lost(
    spark, stepped_api, tmp_path, end
):
    api, server = stepped_api
    options = stepped_options(server, end)
    query = start_stream(
        spark,
        options,
        tmp_path,
        schema="id long, ts string",
        trigger={"processingTime": "100 milliseconds"},
    )
    try:
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:  # several records a step while polls go on
            api.add()
            time.sleep(0.15)
        time.sleep(2 * SteppedApi.STEP + 2)  # the last step completes, the lag passes
        query.processAllAvailable()
        polls = len([s for s in server.requests if s.path == "/events"])
    finally:
        query.stop()
    assert query.exception() is None
    ids = sorted(r["id"] for r in spark.read.parquet(str(tmp_path / "sink")).collect())
    assert ids == list(range(1, len(api.records) + 1))
    assert polls >= 5  # the stream polled while steps were still filling


@pytest.mark.parametrize("end", ["probe", "clock"])
def test_polls_every_100_ms_while_timestamps_fill_lose_nothing(stepped_api, end):
    """The driver's and the executors' calls in a tight loop, without Spark's batch overhead,
    so polls land while a timestamp is still filling (a micro-batch on Spark often takes
    longer than a step, which hides the gap). Real HTTP, real reader."""
    from pyspark.sql.streaming.datasource import ReadAllAvailable
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from rest_stream.options.parse import parse_options
    from rest_stream.stream_reader import RestStreamReader

    api, server = stepped_api
    raw = stepped_options(server, end)
    schema = StructType([StructField("id", LongType()), StructField("ts", StringType())])
    reader = RestStreamReader(parse_options(raw), schema)
    start, got = reader.initialOffset(), []
    adding_until = time.monotonic() + 7
    stop = adding_until + 2 * SteppedApi.STEP + 2
    while time.monotonic() < stop:
        if time.monotonic() < adding_until:
            api.add()
        end_offset = reader.latestOffset(start, ReadAllAvailable())
        for partition in reader.partitions(start, end_offset):
            got += [i for batch in reader.read(partition) for i in batch.column("id").to_pylist()]
        start = end_offset
        time.sleep(0.1)
    reader.stop()
    assert sorted(got) == list(range(1, len(api.records) + 1))
