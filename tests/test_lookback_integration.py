"""`lookbackSeconds` on real Spark against a real HTTP API on 127.0.0.1 whose records appear
up to 40 s late, stamped before the stream's position: each record version reaches the sink
exactly once across a restart, and across a SIGKILL of the query process between the offset
log and the commit, or after the sink committed a batch the checkpoint had not. Without
`lookbackSeconds` the late records are missed, as the contract says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from late_api import LateApi

from tests.streaming import run_to_end, start_stream
from tests.stress.runner import batch_ids, kill_group

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = "id bigint, ts bigint, region string, name string"
LOOKBACK = 60


def options(api: LateApi, **raw: str) -> dict[str, str]:
    return {
        "url": f"{api.url}/events?since={{since}}&limit=40",
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.ts",
        "lookbackSeconds": str(LOOKBACK),
        "primaryKeyPath": "$.id",
        "streamingInterval": "0",
        "numPartitions": "2",
        **raw,
    }


def sink_versions(spark: Any, work: Path) -> list[tuple[int, int]]:
    """(id, ts) of every row the sink committed, duplicates kept."""
    if not batch_ids(work / "sink" / "_spark_metadata"):
        return []
    rows = spark.read.schema(SCHEMA).parquet(str(work / "sink")).select("id", "ts").collect()
    return [(row["id"], row["ts"]) for row in rows]


def twice(versions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return sorted(v for v, n in Counter(versions).items() if n > 1)


def last_offset(work: Path) -> dict[str, Any]:
    folder = work / "checkpoint" / "offsets"
    newest = max(batch_ids(folder))
    return json.loads((folder / str(newest)).read_text().strip().splitlines()[-1])


def test_late_records_and_updates_arrive_once_across_a_restart(spark, tmp_path):
    now = int(time.time())
    with LateApi() as api:
        api.add(*range(now - 400, now - 100))
        raw = options(api)
        run_to_end(start_stream(spark, raw, tmp_path, schema=SCHEMA))
        first = set(api.versions())
        assert sorted(sink_versions(spark, tmp_path)) == sorted(first)
        position = last_offset(tmp_path)["streams"]["{}"]
        late = api.add(position - 40, position - 25, position - 10)  # older than the position
        api.update(299, position - 5)  # an update: record 299 stamped anew
        run_to_end(start_stream(spark, raw, tmp_path, schema=SCHEMA))
        got = sink_versions(spark, tmp_path)
        window = last_offset(tmp_path)["window"]["{}"]
        everything = first | api.versions()
    assert twice(got) == []
    assert set(got) == everything and len(got) == 300 + 3 + 1
    assert {i for i, _ in got} >= set(late)
    assert window["from"] >= position - LOOKBACK and window["seen"]


def test_without_lookback_late_records_are_missed(spark, tmp_path):
    now = int(time.time())
    with LateApi() as api:
        api.add(*range(now - 400, now - 100))
        raw = options(api)
        for name in ("lookbackSeconds", "primaryKeyPath"):
            raw.pop(name)
        run_to_end(start_stream(spark, raw, tmp_path, schema=SCHEMA))
        position = last_offset(tmp_path)["streams"]["{}"]
        late = api.add(position - 40, position - 25, position - 10)
        run_to_end(start_stream(spark, raw, tmp_path, schema=SCHEMA))
        got = sink_versions(spark, tmp_path)
    assert len(got) == 300 and not {i for i, _ in got} & set(late)


def wait_for(point: str, work: Path, child: subprocess.Popen[bytes], log: Path) -> None:
    """Until the child's checkpoint reaches `point` (a batch logged and not committed, after
    two committed ones; or a batch the sink committed and the checkpoint did not)."""
    offsets, commits = work / "checkpoint" / "offsets", work / "checkpoint" / "commits"
    sink = work / "sink" / "_spark_metadata"
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        if child.poll() is not None:
            pytest.fail(f"the stream exited ({child.returncode}): {log.read_text()[-3000:]}")
        logged, done = batch_ids(offsets), batch_ids(commits)
        pending = logged - done
        hit = point == "offset-logged" or bool(pending & batch_ids(sink))
        if len(done) >= 2 and pending and hit:
            return
        time.sleep(0.003)
    pytest.fail(f"the stream never reached {point}")


def positions(work: Path) -> dict[str, int]:
    """Each stream's position in the newest batch the checkpoint logged."""
    return dict(last_offset(work)["streams"])


@pytest.mark.parametrize("point", ["offset-logged", "sink-committed"])
def test_sigkill_while_late_records_appear_then_restart_delivers_each_version_once(
    spark, tmp_path, point
):
    """A backfill in batches of 150 records over two streams, killed after two committed
    batches; records appear with timestamps before the streams' positions while it runs and
    while it is down (within `lookbackSeconds`, here 600: a batch moves a position ~75 s)."""
    now = int(time.time())
    with LateApi(regions=("eu", "us")) as api:
        api.add(*sorted(now - 1200 + i // 2 for i in range(1500)))  # one a second per stream
        old = api.records[3]["ts"]
        api.delay = 0.01
        inputs = '[{"region": "eu"}, {"region": "us"}]'
        raw = options(api, batchSize="150", inputData=inputs, lookbackSeconds="600")
        spec = tmp_path / "child.json"
        spec.write_text(
            json.dumps(
                {
                    "options": raw,
                    "schema": SCHEMA,
                    "sink": str(tmp_path / "sink"),
                    "checkpoint": str(tmp_path / "checkpoint"),
                }
            )
        )
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        log = tmp_path / "child.log"
        with log.open("wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.stress.child", str(spec)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        late: list[int] = []
        try:
            deadline = time.monotonic() + 150
            while not batch_ids(tmp_path / "checkpoint" / "commits"):
                assert child.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            for key, position in positions(tmp_path).items():  # late while it runs
                region = json.loads(key)["region"]
                late += api.add(position - 30, position - 10, region=region)
            api.update(3, positions(tmp_path)['{"region":"eu"}'] - 15)  # delivered, updated
            wait_for(point, tmp_path, child, log)
        finally:
            kill_group(child)
        before = sink_versions(spark, tmp_path)
        assert twice(before) == [] and len(before) < 1500
        for key, position in positions(tmp_path).items():  # late while it is down
            late += api.add(position - 20, region=json.loads(key)["region"])
        api.add(int(time.time()) - 3)
        api.delay = 0
        run_to_end(start_stream(spark, raw, tmp_path, schema=SCHEMA))
        got = sink_versions(spark, tmp_path)
        served = api.versions()
    assert twice(got) == []
    assert set(got) == served | {(3, old)}  # record 3 before and after its update
    assert {i for i, _ in got} >= set(late) and len(late) == 6
