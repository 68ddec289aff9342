"""Option errors on real Spark: what a user sees for an unknown option, and for a stream read
without `offsetType` (refused when the query starts, or at `load()` with `streaming=true`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from rest_stream.demo import DemoApi

DemoFactory = Callable[..., DemoApi]

OFFSET_TYPE_MISSING = (
    "Invalid option offsetType=missing: expected one of timestamp, cursor, incremental, page, "
    "offset, link: {why} needs it"
)


def test_a_stream_without_offset_type_fails_when_it_starts_naming_offset_type(
    spark: SparkSession, demo_api: DemoFactory, tmp_path: Path
) -> None:
    api = demo_api(5)
    frame = spark.readStream.format("rest").option("url", api.url + "/items").load()
    query = (
        frame.writeStream.format("noop")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    with pytest.raises(Exception) as info:  # noqa: B017 - Spark wraps the Python error
        query.awaitTermination(120)
    message = str(info.value)
    assert "RestOptionError" in message
    assert OFFSET_TYPE_MISSING.format(why="spark.readStream") in message
    assert "AssertionError" not in message
    assert query.exception() is not None and not query.isActive


def test_a_stream_with_streaming_true_and_no_offset_type_fails_at_load(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    reader = spark.readStream.format("rest").option("url", api.url + "/items")
    with pytest.raises(Exception) as info:  # noqa: B017 - Spark wraps the Python error
        reader.option("streaming", "true").load()
    assert OFFSET_TYPE_MISSING.format(why="streaming=true") in str(info.value)


def test_an_unknown_option_fails_at_load_with_the_closest_name(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    reader = spark.read.format("rest").option("url", api.url + "/items")
    with pytest.raises(Exception) as info:  # noqa: B017 - Spark wraps the Python error
        reader.option("recordPath", "$.data").load()
    assert "Unknown option recordpath: did you mean `recordsPath`?" in str(info.value)


def test_load_path_is_accepted(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(3)
    frame = spark.read.format("rest").option("url", api.url + "/items").load("ignored/path")
    assert sorted(r.id for r in frame.collect()) == [1, 2, 3]
