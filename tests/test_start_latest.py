"""`initialOffset`: `earliest` reads the whole history, `latest` only what arrives after a
stream's first poll (Kafka's `startingOffsets`), for range and chain positions, on Spark."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rest_stream.errors import RestOptionError
from rest_stream.options.parse import parse_options
from tests.streaming import run_to_end, start_stream

KINDS = {
    "incremental": lambda url: {
        "url": url + "/items?since_id={id}",
        "offsetType": "incremental",
        "offsetField": "id",
    },
    "cursor": lambda url: {
        "url": url + "/cursor?limit=25",
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetPath": "$.next_cursor",
    },
}


def ids(spark: Any, work: Path) -> list[int]:
    sink = work / "sink"
    if not sink.exists():
        return []
    return sorted(r.id for r in spark.read.schema("id long").parquet(str(sink)).collect())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_latest_skips_the_history_and_reads_what_arrives_after(
    spark: Any, demo_api: Callable[..., Any], tmp_path: Path, kind: str
) -> None:
    api = demo_api(60)
    options = {**KINDS[kind](api.url), "initialOffset": "latest"}
    run_to_end(start_stream(spark, options, tmp_path, schema="id long"))
    assert ids(spark, tmp_path) == []  # nothing of the 60 already there
    api.append(15)
    run_to_end(start_stream(spark, options, tmp_path, schema="id long"))
    assert ids(spark, tmp_path) == list(range(61, 76))


def test_earliest_reads_the_whole_history(
    spark: Any, demo_api: Callable[..., Any], tmp_path: Path
) -> None:
    api = demo_api(40)
    options = {**KINDS["cursor"](api.url), "initialOffset": "EARLIEST"}
    run_to_end(start_stream(spark, options, tmp_path, schema="id long"))
    assert ids(spark, tmp_path) == list(range(1, 41))


def test_a_batch_read_refuses_latest(spark: Any, demo_api: Callable[..., Any]) -> None:
    api = demo_api(5)
    reader = spark.read.format("rest").schema("id long")
    for key, value in {**KINDS["incremental"](api.url), "initialOffset": "latest"}.items():
        reader = reader.option(key, value)
    with pytest.raises(Exception, match="latest is for readStream"):
        reader.load().collect()
    parsed = parse_options({**KINDS["incremental"](api.url), "initialOffset": "latest"})
    assert parsed.stream.start_latest and parsed.stream.initial_offset == "0"
    with pytest.raises(RestOptionError):
        parse_options({**KINDS["incremental"](api.url), "initialOffset": "newest"})
