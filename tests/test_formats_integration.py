"""NDJSON and CSV end to end: real Spark (local[2]) against the demo API's `/export` on
127.0.0.1, batch and exactly-once streaming across a restart; and a large export read in
bounded memory."""

from __future__ import annotations

import gzip
import threading
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession

from rest_stream.demo.server import csv_row
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.options.parse import parse_options
from rest_stream.partitions import RowsPartition
from rest_stream.schema import infer_schema
from tests.streaming import run_to_end, start_stream

CSV_SCHEMA = "id long, ts long, region string, name string, value double, tags string, note string"


def read(spark: SparkSession, schema: str | None = None, **options: str) -> DataFrame:
    reader = spark.read.format("rest")
    for name, value in options.items():
        reader = reader.option(name, value)
    if schema is not None:
        reader = reader.schema(schema)
    return reader.load()


def as_csv(record: dict[str, Any]) -> dict[str, Any]:
    """What a CSV row of the demo record reads as with `CSV_SCHEMA`: an empty note is null."""
    row = csv_row(record)
    return {**row, "note": row["note"] or None}


# --- batch ------------------------------------------------------------------------------------


def test_batch_reads_an_ndjson_gz_export_with_an_inferred_schema(spark, demo_api) -> None:
    api = demo_api(250)
    df = read(spark, url=f"{api.url}/export?gzip=file", responseFormat="ndjson")
    assert df.schema == infer_schema(api.records()[:10])
    rows = sorted((r.asDict(recursive=True) for r in df.collect()), key=lambda r: r["id"])
    assert rows == api.records()


def test_batch_reads_csv_from_every_input_row_into_the_schema_types(spark, demo_api) -> None:
    api = demo_api(301)
    df = read(
        spark,
        CSV_SCHEMA,
        url=f"{api.url}/export?format=csv&gzip=encoding",  # Content-Encoding: gzip
        responseFormat="csv",
        inputData='[{"region": "eu"}, {"region": "us"}]',
        numPartitions="2",
    )
    rows = sorted((r.asDict() for r in df.collect()), key=lambda r: r["id"])
    assert rows == [as_csv(r) for r in api.records()]
    assert rows[4]["note"] == 'say "hi", item-5\nsecond line'  # a quoted line break, kept


def test_a_csv_without_a_schema_reads_every_column_as_text(spark, demo_api) -> None:
    api = demo_api(20)
    df = read(spark, url=f"{api.url}/export?format=csv", responseFormat="csv")
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        (name, "string") for name in ("id", "ts", "region", "name", "value", "tags", "note")
    ]
    assert sorted(int(r.id) for r in df.collect()) == list(range(1, 21))


def test_a_bad_ndjson_line_fails_the_read_naming_line_and_url(spark) -> None:
    from tests.loopback import Loopback, Reply

    body = b'{"id":1}\n{"id":2}\n{"id":\n'
    with Loopback(lambda seen: Reply(200, {"Content-Type": "application/x-ndjson"}, body)) as srv:
        with pytest.raises(Exception) as caught:
            read(spark, "id long", url=srv.url + "/dump", responseFormat="ndjson").collect()
        expected = f"Response of {srv.url}/dump (HTTP 200) is not valid NDJSON: line 3 does not"
    assert expected in str(caught.value)


# --- exactly-once streaming across a restart --------------------------------------------------


def sink_ids(spark: SparkSession, work: Path) -> list[int]:
    return sorted(int(r["id"]) for r in spark.read.parquet(str(work / "sink")).collect())


@pytest.mark.parametrize(
    ("fmt", "schema"),
    [("ndjson", None), ("csv", CSV_SCHEMA)],
    ids=["ndjson-inferred", "csv-typed"],
)
def test_streaming_an_export_takes_every_record_exactly_once(
    spark, demo_api, tmp_path, fmt: str, schema: str | None
) -> None:
    api = demo_api(180)
    options = {
        "url": f"{api.url}/export?format={fmt}&since_id={{since_id}}&limit=40",
        "responseFormat": fmt,
        "offsetType": "incremental",
        "offsetField": "since_id",
        "numPartitions": "2",
    }
    run_to_end(start_stream(spark, options, tmp_path, schema=schema))
    assert sink_ids(spark, tmp_path) == list(range(1, 181))
    api.append(53)  # records appended between the runs
    run_to_end(start_stream(spark, options, tmp_path, schema=schema))  # from the checkpoint
    assert sink_ids(spark, tmp_path) == list(range(1, 234))  # none lost, none twice
    if fmt == "csv":
        notes = spark.read.parquet(str(tmp_path / "sink")).where("id = 230").collect()
        assert notes[0]["note"] == 'say "hi", item-230\nsecond line'


# --- bounded memory ---------------------------------------------------------------------------


class _Export(BaseHTTPRequestHandler):
    """Serves `lines` NDJSON lines (gzipped with `?gz`) in 64 KiB chunks, made as they go."""

    lines = 0
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        packed = self.path.endswith("?gz")
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip" if packed else "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        packer = gzip.GzipFile(fileobj=_Chunked(self.wfile), mode="wb") if packed else None
        for start in range(0, self.lines, 500):
            block = b"".join(
                b'{"id":%d,"name":"record %d","value":%d.25,"ok":true}\n' % (i, i, i)
                for i in range(start, min(start + 500, self.lines))
            )
            if packer is not None:
                packer.write(block)
            else:
                _Chunked(self.wfile).write(block)
        if packer is not None:
            packer.close()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Chunked:
    def __init__(self, out: Any) -> None:
        self.out = out

    def write(self, data: bytes) -> int:
        if data:
            self.out.write(b"%x\r\n%s\r\n" % (len(data), data))
        return len(data)

    def flush(self) -> None:
        self.out.flush()


@pytest.fixture
def export_server() -> Iterator[str]:
    _Export.lines = 400_000  # about 22 MB
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Export)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/export"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_a_22_mb_export_is_read_in_bounded_memory(export_server: str, packed: bool) -> None:
    """A task reads a ~22 MB NDJSON body as it arrives: neither Python (tracemalloc) nor
    Arrow's memory pool ever holds more than a few blocks of it."""
    from pyspark.sql.types import (
        BooleanType,
        DoubleType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    schema = StructType(
        [
            StructField("id", LongType()),
            StructField("name", StringType()),
            StructField("value", DoubleType()),
            StructField("ok", BooleanType()),
        ]
    )
    url = export_server + ("?gz" if packed else "")
    reader = PartitionReader(parse_options({"url": url, "responseFormat": "ndjson"}), schema)
    rows = arrow_peak = 0
    tracemalloc.start()
    try:
        for batch in reader.read(RowsPartition(({},))):
            rows += batch.num_rows
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
            del batch
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 400_000
    mb = 1024 * 1024
    assert python_peak < 8 * mb, f"Python held {python_peak / mb:.1f} MB"
    assert arrow_peak < 8 * mb, f"Arrow held {arrow_peak / mb:.1f} MB"
