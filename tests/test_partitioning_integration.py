"""Planning on real Spark: many small streams share at most `numPartitions` tasks, and a task
reading several sub-ranges at once replays exactly the same records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.streaming import run_to_end, start_stream


def stream_with_batches(
    spark: Any, options: dict[str, str], work: Path, seen: dict[int, list[int]], parts: list[int]
) -> None:
    """One availableNow run through `foreachBatch`: ids per batch id, partitions per batch."""

    def collect(frame: Any, batch_id: int) -> None:
        parts.append(frame.rdd.getNumPartitions())
        ids = sorted(r["id"] for r in frame.select("id").collect())
        seen.setdefault(batch_id, [])
        seen[batch_id] = seen[batch_id] + [json.dumps(ids)]

    run_to_end(start_stream(spark, options, work, each_batch=collect), timeout=180)


def delivered(seen: dict[int, list[int]]) -> list[int]:
    """Every id of the last delivery of each batch, sorted, duplicates kept."""
    return sorted(i for deliveries in seen.values() for i in json.loads(deliveries[-1]))


def test_two_hundred_small_streams_share_at_most_num_partitions_tasks(spark, demo_api, tmp_path):
    regions = tuple(f"r{i:03}" for i in range(200))
    api = demo_api(200 * 20, regions=regions)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=50",
        "inputData": json.dumps([{"region": r} for r in regions]),
        "offsetType": "incremental",
        "offsetField": "since_id",
        "numPartitions": "4",
    }
    seen: dict[int, list[int]] = {}
    parts: list[int] = []
    stream_with_batches(spark, options, tmp_path, seen, parts)
    assert parts and max(parts) <= 4
    assert delivered(seen) == sorted(r["id"] for r in api.records())
    api.append(400)  # two more records per stream
    stream_with_batches(spark, options, tmp_path, seen, parts)
    assert max(parts) <= 4
    assert delivered(seen) == sorted(r["id"] for r in api.records())


def test_a_replayed_batch_read_concurrently_inside_one_task_holds_the_same_records(
    spark, demo_api, tmp_path
):
    api = demo_api(3000, latency_ms=5)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=100",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "numPartitions": "1",
        "requestConcurrency": "4",
    }
    seen: dict[int, list[int]] = {}
    parts: list[int] = []
    stream_with_batches(spark, options, tmp_path, seen, parts)
    assert parts == [1]
    assert api.max_concurrency("/items") >= 2  # sub-ranges in flight at once in one task
    last = max(seen)
    commits = tmp_path / "checkpoint" / "commits"
    for name in (str(last), f".{last}.crc"):  # as if killed before the commit
        (commits / name).unlink(missing_ok=True)
    stream_with_batches(spark, options, tmp_path, seen, parts)
    first, replayed = seen[last][0], seen[last][-1]
    assert len(seen[last]) == 2 and replayed == first
    assert delivered(seen) == list(range(1, 3001))


def test_progress_reports_the_newest_position_beyond_the_batch_size(spark, demo_api, tmp_path):
    api = demo_api(900)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=100",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "latestOffsetUrl": f"{api.url}/latest",
        "latestOffsetPath": "$.max_id",
        "batchSize": "200",
    }
    query = run_to_end(start_stream(spark, options, tmp_path, sink="noop"))
    first = next(p for p in query.recentProgress if p.numInputRows)
    source = first.sources[0]
    assert json.loads(source.endOffset) == {"streams": {"{}": 200}}
    assert json.loads(source.latestOffset) == {"streams": {"{}": 901}}  # the lag shows
