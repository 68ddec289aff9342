"""Bad values are kept, not lost, on real Spark (local[2]) against the real `DemoApi`: batch
reads and exactly-once streams with `rescuedDataColumn` and `mode`, on pages decoded
straight to Arrow and on the general path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from rest_stream.demo import DemoApi, Fault
from tests.streaming import run_to_end, start_stream

#: Every field of a demo record, the rescued-data column and the corrupt-record column.
SCHEMA = (
    "id long, ts long, region string, name string, value double, tags array<string>, "
    "meta struct<source: string, score: long>, _rescued_data string, _corrupt_record string"
)
#: Pages decoded straight to Arrow (a plain records path) and the general path (a slice).
PATHS = pytest.mark.parametrize(
    "records_path", ["$.data", "$.data[0:]"], ids=["decoded", "general"]
)


def read(spark: SparkSession, url: str, schema: str | None = SCHEMA, **options: str) -> DataFrame:
    reader = spark.read.format("rest").option("url", url)
    for name, value in options.items():
        reader = reader.option(name, value)
    return (reader.schema(schema) if schema else reader).load()


def by_id(rows: list[Any]) -> dict[Any, dict[str, Any]]:
    """Rows as dicts by id, the rescued data parsed; fails on a repeated id."""
    found: dict[Any, dict[str, Any]] = {}
    for row in rows:
        item = row.asDict(recursive=True)
        if item.get("_rescued_data") is not None:
            item["_rescued_data"] = json.loads(item["_rescued_data"])
        assert item["id"] not in found, f"id {item['id']} twice"
        found[item["id"]] = item
    return found


def drift(api: DemoApi, *ids: int) -> None:
    """Records `ids` change as a drifting API's do: a value of another type, a nested one, a
    field the schema does not know."""
    for i in ids:
        api.alter(i, value="n/a", meta={"source": "demo", "score": "high"}, colour="red")


def assert_drifted(row: dict[str, Any], url_part: str) -> None:
    assert row["value"] is None and row["meta"] == {"source": "demo", "score": None}
    rescued = row["_rescued_data"]
    assert {k: v for k, v in rescued.items() if k != "_url"} == {
        "value": "n/a",
        "meta.score": "high",
        "colour": "red",
    }
    assert url_part in rescued["_url"]


@PATHS
def test_a_batch_read_rescues_values_that_do_not_fit(
    spark: SparkSession, demo_api: Any, records_path: str
) -> None:
    api = demo_api(30)
    drift(api, 3, 17)
    df = read(
        spark,
        api.url + "/items?limit=10&since_id={since_id}",
        offsetType="incremental",
        offsetField="since_id",
        recordsPath=records_path,
        rescuedDataColumn="_rescued_data",
    )
    rows = by_id(df.collect())
    assert sorted(rows) == list(range(1, 31))
    for i in (3, 17):
        assert_drifted(rows[i], "/items?limit=10&since_id=")
    assert all(rows[i]["_rescued_data"] is None for i in rows if i not in (3, 17))
    assert rows[4]["value"] == 6.0 and rows[4]["meta"] == {"source": "demo", "score": 4}


def test_an_inferred_schema_gets_the_rescued_column(spark: SparkSession, demo_api: Any) -> None:
    api = demo_api(6)
    df = read(spark, api.url + "/items", schema=None, rescuedDataColumn="_rescued_data")
    assert df.schema.fieldNames()[-1] == "_rescued_data"
    assert df.schema["_rescued_data"].dataType.simpleString() == "string"
    drift(api, 2)  # after the schema was sampled
    rows = by_id(df.collect())
    assert_drifted(rows[2], "/items")
    assert [i for i in rows if rows[i]["_rescued_data"] is not None] == [2]


def test_a_user_schema_without_the_rescued_column_is_refused(
    spark: SparkSession, demo_api: Any
) -> None:
    api = demo_api(3)
    with pytest.raises(Exception, match="rescuedDataColumn") as caught:
        read(spark, api.url + "/items", "id long", rescuedDataColumn="_rescued_data").collect()
    assert "add `_rescued_data string` to .schema(...)" in str(caught.value)


@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED", "FAILFAST"])
def test_mode_decides_about_records_that_are_not_objects(
    spark: SparkSession, demo_api: Any, mode: str
) -> None:
    api = demo_api(8)
    api.replace(5, "oops")
    df = read(spark, api.url + "/items", mode=mode)
    if mode == "FAILFAST":
        with pytest.raises(Exception, match=r"Record 4 of http://127\.0\.0\.1:\d+/items is not a"):
            df.collect()
        return
    rows = by_id(df.collect())
    ids = [i for i in rows if i is not None]
    assert sorted(ids) == [1, 2, 3, 4, 6, 7, 8]
    if mode == "PERMISSIVE":
        assert rows[None]["_corrupt_record"] == '"oops"' and rows[None]["name"] is None
    else:
        assert None not in rows


def test_a_body_that_is_not_json_follows_mode(spark: SparkSession, demo_api: Any) -> None:
    api = demo_api(6)
    url = api.url + "/items?since_id={since_id}&limit=2"
    rows_in = json.dumps([{"since_id": 1}, {"since_id": 3}, {"since_id": 5}])
    options = {"inputData": rows_in, "queryType": "inline", "maxRetries": "0"}
    api.inject("/items", Fault.html())
    kept = by_id(read(spark, url, **options).collect())
    assert sorted(i for i in kept if i is not None) in ([3, 4, 5, 6], [1, 2, 5, 6], [1, 2, 3, 4])
    assert kept[None]["_corrupt_record"] == "<html><body>Service down</body></html>"
    api.inject("/items", Fault.html())
    dropped = read(spark, url, mode="DROPMALFORMED", **options).collect()
    assert len(dropped) == 4 and all(r.id is not None for r in dropped)
    api.inject("/items", Fault.html())
    with pytest.raises(Exception, match="is not valid JSON"):
        read(spark, url, mode="FAILFAST", **options).collect()


def test_each_task_logs_its_counts_in_the_python_worker_logs(
    spark: SparkSession, demo_api: Any
) -> None:
    api = demo_api(8, api_key="k3y-LOGGED")
    drift(api, 2)
    api.replace(6, 6)
    spark.conf.set("spark.sql.pyspark.worker.logging.enabled", "true")
    try:
        df = read(
            spark,
            api.url + "/items",
            authType="apikey",
            apiKey="k3y-LOGGED",
            apiKeyParam="api_key",
            rescuedDataColumn="_rescued_data",
        )
        rows = by_id(df.collect())
        assert len(rows) == 8
        assert rows[2]["_rescued_data"]["_url"] == f"{api.url}/items?api_key=***"
        logs = (
            spark.tvf.python_worker_logs()
            .where("logger = 'rest_stream.executor'")
            .where(f"msg LIKE '%{api.url}%'")
            .collect()
        )
    finally:
        spark.conf.unset("spark.sql.pyspark.worker.logging.enabled")
    [line] = logs
    assert line.level == "INFO"
    assert ": 8 records read, 1 with rescued data (column _rescued_data), 1 malformed kept, " in (
        line.msg
    )
    assert line.msg.endswith(f"the first at {api.url}/items?api_key=***")
    assert "k3y-LOGGED" not in line.msg


# --- streaming: exactly once, restarted from the checkpoint -------------------------------------


def sink(spark: SparkSession, work: Path) -> list[Any]:
    return spark.read.parquet(str(work / "sink")).collect()


@PATHS
def test_a_stream_rescues_every_bad_value_exactly_once_across_a_restart(
    spark: SparkSession, demo_api: Any, tmp_path: Path, records_path: str
) -> None:
    api = demo_api(120)
    drift(api, 7, 60, 120)
    options = {
        "url": f"{api.url}/items?since_id={{since_id}}&limit=25",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "batchSize": "40",  # several micro-batches
        "numPartitions": "2",
        "recordsPath": records_path,
        "rescuedDataColumn": "_rescued_data",
    }
    run_to_end(start_stream(spark, options, tmp_path, schema=SCHEMA))
    assert sorted(by_id(sink(spark, tmp_path))) == list(range(1, 121))
    api.append(45)
    drift(api, 121, 150, 165)
    drift(api, 8)  # already read: it is not read again
    run_to_end(start_stream(spark, options, tmp_path, schema=SCHEMA))  # from the checkpoint
    rows = by_id(sink(spark, tmp_path))
    assert sorted(rows) == list(range(1, 166))
    rescued = sorted(i for i in rows if rows[i]["_rescued_data"] is not None)
    assert rescued == [7, 60, 120, 121, 150, 165]
    for i in rescued:
        assert_drifted(rows[i], "/items?since_id=")
    assert rows[8]["value"] == 12.0


@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED"])
def test_a_page_stream_keeps_its_positions_around_malformed_records(
    spark: SparkSession, demo_api: Any, tmp_path: Path, mode: str
) -> None:
    api = demo_api(95)
    api.replace(30, 30)  # a bare number in the records array
    drift(api, 31)
    options = {
        "url": f"{api.url}/pages?page={{page}}&per_page=20",
        "offsetType": "page",
        "offsetField": "page",
        "pageSize": "20",
        "batchSize": "30",
        "mode": mode,
        "rescuedDataColumn": "_rescued_data",
    }
    run_to_end(start_stream(spark, options, tmp_path, schema=SCHEMA))
    api.append(30)
    api.replace(110, "oops")
    run_to_end(start_stream(spark, options, tmp_path, schema=SCHEMA))
    rows = by_id([r for r in sink(spark, tmp_path) if r.id is not None])
    assert sorted(rows) == [i for i in range(1, 126) if i not in (30, 110)]
    assert_drifted(rows[31], "/pages?page=2&per_page=20")
    corrupt = sorted(r._corrupt_record for r in sink(spark, tmp_path) if r.id is None)
    assert corrupt == (['"oops"', "30"] if mode == "PERMISSIVE" else [])
