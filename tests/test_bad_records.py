"""Bad values are kept, not lost: the rescued-data column (`rescuedDataColumn`), malformed
records under `mode` (`columnNameOfCorruptRecord`), both Arrow paths, inference and the log
line of each task. Unit tests, no Spark: the Spark tests are in
test_bad_records_integration.py."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)
from pytest_httpx import HTTPXMock

from rest_stream.decoders import arrow_json
from rest_stream.decoders.arrow_json import ArrowPageDecoder
from rest_stream.decoders.jsonpath import Malformed, compile_path
from rest_stream.driver.sampling import sample_schema
from rest_stream.errors import (
    RestOffsetError,
    RestOptionError,
    RestResponseError,
    RestSchemaError,
    RestStreamError,
)
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.options.parse import parse_options
from rest_stream.partitions import RangeUnit, RowsPartition, WorkPartition
from rest_stream.schema import ArrowConverter, Tally, bad_record_columns, infer_schema

URL = "https://api.test/items"
SOURCE = "https://api.test/items?page=2"


def struct(*fields: tuple[str, Any]) -> StructType:
    return StructType([StructField(name, data_type, True) for name, data_type in fields])


META = struct(("score", LongType()), ("label", StringType()))
SCHEMA = struct(
    ("id", LongType()),
    ("price", DoubleType()),
    ("meta", META),
    ("tags", ArrayType(LongType(), True)),
    ("items", ArrayType(struct(("n", LongType())), True)),
    ("attrs", MapType(StringType(), LongType(), True)),
    ("_rescued_data", StringType()),
    ("_corrupt_record", StringType()),
)


def converter(mode: str = "PERMISSIVE", **kwargs: Any) -> ArrowConverter:
    kwargs.setdefault("rescued_column", "_rescued_data")
    kwargs.setdefault("corrupt_column", "_corrupt_record")
    return ArrowConverter(SCHEMA, mode=mode, **kwargs)


def rows(records: list[Any], conv: ArrowConverter | None = None) -> list[dict[str, Any]]:
    return (conv or converter()).to_batch(records, SOURCE).to_pylist()


def rescued(row: dict[str, Any]) -> dict[str, Any] | None:
    text = row["_rescued_data"]
    return None if text is None else json.loads(text)


# --- the rescued-data column --------------------------------------------------------------------


def test_a_top_level_mismatch_is_rescued_and_the_field_is_null() -> None:
    got = rows([{"id": 1, "price": "cheap"}, {"id": 2, "price": 2.5}])
    assert got[0]["price"] is None and got[0]["id"] == 1
    assert rescued(got[0]) == {"price": "cheap", "_url": SOURCE}
    assert got[1]["price"] == 2.5 and got[1]["_rescued_data"] is None


def test_a_mismatch_in_a_nested_struct_is_rescued_by_its_dotted_path() -> None:
    [row] = rows([{"id": 1, "meta": {"score": "high", "label": "x"}}])
    assert row["meta"] == {"score": None, "label": "x"}  # the sibling stays
    assert rescued(row) == {"meta.score": "high", "_url": SOURCE}


def test_a_mismatch_in_an_array_element_is_rescued_by_its_index() -> None:
    [row] = rows([{"tags": [1, "two", 3], "items": [{"n": 1}, {"n": "x"}]}])
    assert row["tags"] == [1, None, 3]  # the other elements stay in place
    assert row["items"] == [{"n": 1}, {"n": None}]
    assert rescued(row) == {"tags[1]": "two", "items[1].n": "x", "_url": SOURCE}


def test_a_mismatch_in_a_map_value_is_rescued_by_its_key() -> None:
    [row] = rows([{"attrs": {"a": 1, "b": "many"}}])
    assert dict(row["attrs"]) == {"a": 1, "b": None}
    assert rescued(row) == {"attrs.b": "many", "_url": SOURCE}


def test_a_value_of_another_shape_is_rescued_whole() -> None:
    [row] = rows([{"meta": "flat", "tags": "one", "id": {"n": 1}}])
    assert (row["meta"], row["tags"], row["id"]) == (None, None, None)
    assert rescued(row) == {"id": {"n": 1}, "meta": "flat", "tags": "one", "_url": SOURCE}


def test_fields_the_schema_does_not_have_are_rescued_at_any_depth() -> None:
    [row] = rows(
        [
            {
                "id": 1,
                "colour": "red",
                "meta": {"score": 1, "label": "a", "more": [1, 2]},
                "items": [{"n": 1, "unit": "kg"}],
                "empty": None,  # a null holds nothing to rescue
            }
        ]
    )
    assert row["id"] == 1 and row["meta"] == {"score": 1, "label": "a"}
    assert rescued(row) == {
        "meta.more": [1, 2],
        "items[0].unit": "kg",
        "colour": "red",
        "_url": SOURCE,
    }


def test_a_value_outside_a_narrow_type_is_rescued() -> None:
    schema = struct(("i", IntegerType()), ("m", DecimalType(5, 2)), ("_rescued_data", StringType()))
    conv = ArrowConverter(schema, rescued_column="_rescued_data")
    records = [{"i": 2**31, "m": "1234.5"}, {"i": 7, "m": "123.45"}, {"m": 1.234}, {"m": 0}]
    first, second, third, fourth = conv.to_batch(records, SOURCE).to_pylist()
    assert (first["i"], first["m"]) == (None, None)
    assert rescued(first) == {"i": 2**31, "m": "1234.5", "_url": SOURCE}
    assert (second["i"], second["m"], second["_rescued_data"]) == (7, Decimal("123.45"), None)
    assert third["m"] is None and rescued(third) == {"m": 1.234, "_url": SOURCE}  # not rounded
    assert fourth["m"] == Decimal("0.00")


@pytest.mark.parametrize("on_type_mismatch", ["error", "null"])
def test_rescued_data_takes_precedence_over_on_type_mismatch(on_type_mismatch: str) -> None:
    conv = converter(on_type_mismatch=on_type_mismatch)
    [row] = rows([{"id": "abc"}], conv)
    assert row["id"] is None and rescued(row) == {"id": "abc", "_url": SOURCE}


def test_a_record_s_own_url_field_is_rescued_before_the_page_url() -> None:
    [row] = rows([{"id": 1, "_url": "https://elsewhere"}])
    assert rescued(row) == {"_url": "https://elsewhere"}


def test_nothing_rescued_keeps_the_column_null_and_the_fast_path() -> None:
    records = [{"id": i, "price": 1.5, "tags": [i]} for i in range(3)]
    batch = converter().to_batch(records, SOURCE)
    assert batch.column("_rescued_data").null_count == 3
    plain = ArrowConverter(struct(*[(f.name, f.dataType) for f in SCHEMA.fields[:6]]))
    assert batch.select(list(plain.arrow_schema.names)).equals(plain.to_batch(records, SOURCE))


def test_without_a_rescued_column_the_old_behaviour_holds() -> None:
    with pytest.raises(RestSchemaError, match=r"field tags\[1\] = \"two\" does not fit"):
        ArrowConverter(SCHEMA).to_batch([{"tags": [1, "two"]}], SOURCE)
    [row] = (
        ArrowConverter(SCHEMA, "null").to_batch([{"tags": [1, "two"], "x": 1}], SOURCE).to_pylist()
    )
    assert row["tags"] == [1, None] and row["_rescued_data"] is None  # a plain column then


# --- malformed records: mode -------------------------------------------------------------------

BAD = [{"id": 1}, 7, "oops", [1, 2], None, Malformed("<html>down</html>"), {"id": 2}]


def test_permissive_keeps_a_malformed_record_as_a_row_of_nulls_with_its_text() -> None:
    tally = Tally()
    got = converter().to_batch(BAD, SOURCE, tally=tally).to_pylist()
    assert [r["id"] for r in got] == [1, None, None, None, None, None, 2]
    assert [r["_corrupt_record"] for r in got] == [
        None,
        "7",
        '"oops"',
        "[1,2]",
        None,
        "<html>down</html>",
        None,
    ]
    assert all(r["_rescued_data"] is None for r in got)
    assert (tally.records, tally.kept, tally.dropped, tally.first) == (7, 4, 0, SOURCE)


def test_permissive_without_the_column_keeps_a_row_of_nulls() -> None:
    schema = struct(("id", LongType()), ("value", DoubleType()))  # `value` is a field like any
    got = ArrowConverter(schema, corrupt_column=None).to_batch([{"id": 1}, 7], SOURCE)
    assert got.to_pylist() == [{"id": 1, "value": None}, {"id": None, "value": None}]


def test_dropmalformed_drops_malformed_records_only() -> None:
    tally = Tally()
    got = converter("DROPMALFORMED").to_batch(BAD, SOURCE, tally=tally).to_pylist()
    assert [r["id"] for r in got] == [1, None, 2]  # the null record is no malformed one
    assert all(r["_corrupt_record"] is None for r in got)
    assert (tally.records, tally.kept, tally.dropped) == (7, 0, 4)


def test_failfast_fails_naming_the_record_and_the_url() -> None:
    with pytest.raises(RestSchemaError) as info:
        converter("FAILFAST").to_batch(BAD, SOURCE)
    assert str(info.value) == (
        f"Record 1 of {SOURCE} is not a JSON object: 7; mode=FAILFAST fails on a malformed "
        "record (PERMISSIVE keeps it, DROPMALFORMED drops it)."
    )


@pytest.mark.parametrize("mode", ["PERMISSIVE", "DROPMALFORMED", "FAILFAST"])
def test_a_schema_of_only_value_reads_any_json_value_as_a_record(mode: str) -> None:
    schema = struct(("value", StringType()), ("_corrupt_record", StringType()))
    conv = ArrowConverter(schema, corrupt_column="_corrupt_record", mode=mode)
    got = conv.to_batch([7, "a", {"value": "b"}, [1]], SOURCE).to_pylist()
    assert [r["value"] for r in got] == ["7", "a", "b", "[1]"]


def test_a_kept_malformed_record_keeps_its_input_row() -> None:
    inputs = struct(("q", StringType()))
    schema = struct(("id", LongType()), ("_corrupt_record", StringType()), ("_input", inputs))
    conv = ArrowConverter(schema, corrupt_column="_corrupt_record")
    got = conv.to_batch([5], SOURCE, inputs={"q": "a"}).to_pylist()
    assert got == [{"id": None, "_corrupt_record": "5", "_input": {"q": "a"}}]


def test_a_schema_of_only_the_extra_columns_keeps_every_row() -> None:
    conv = ArrowConverter(
        struct(("_corrupt_record", StringType())), corrupt_column="_corrupt_record"
    )
    assert conv.to_batch([{"a": 1}, 5], SOURCE).to_pylist() == [
        {"_corrupt_record": None},
        {"_corrupt_record": "5"},
    ]


def test_the_columns_are_checked_against_the_schema() -> None:
    options = parse_options({"url": URL, "rescuedDataColumn": "_rescued"})
    with pytest.raises(RestOptionError) as info:
        bad_record_columns(struct(("id", LongType())), options)
    assert info.value.option == "rescuedDataColumn"
    assert "add `_rescued string` to .schema(...)" in str(info.value)
    with pytest.raises(RestOptionError, match="a string column"):
        bad_record_columns(struct(("_rescued", LongType())), options)
    plain = parse_options({"url": URL})
    assert bad_record_columns(struct(("id", LongType())), plain) == (None, None)
    assert bad_record_columns(struct(("_corrupt_record", StringType())), plain) == (
        None,
        "_corrupt_record",
    )
    with pytest.raises(RestOptionError, match="columnNameOfCorruptRecord"):
        bad_record_columns(struct(("_corrupt_record", LongType())), plain)
    failfast = parse_options({"url": URL, "mode": "failfast"})
    assert bad_record_columns(struct(("_corrupt_record", StringType())), failfast) == (
        None,
        "_corrupt_record",  # no record field in any mode, filled only under PERMISSIVE
    )


# --- options ----------------------------------------------------------------------------------


def test_options_defaults_and_case() -> None:
    options = parse_options({"url": URL})
    assert (options.mode, options.corrupt_record_column, options.rescued_data_column) == (
        "PERMISSIVE",
        "_corrupt_record",
        None,
    )
    options = parse_options({"url": URL, "mode": "dropMalformed", "rescuedDataColumn": "_r"})
    assert (options.mode, options.rescued_data_column) == ("DROPMALFORMED", "_r")
    assert (
        parse_options({"url": URL, "columnNameOfCorruptRecord": "_bad"}).corrupt_record_column
        == "_bad"
    )


@pytest.mark.parametrize(
    ("raw", "option", "expected"),
    [
        ({"mode": "lenient"}, "mode", "one of PERMISSIVE, DROPMALFORMED, FAILFAST"),
        (
            {"mode": "FAILFAST", "columnNameOfCorruptRecord": "_bad"},
            "columnNameOfCorruptRecord",
            "mode PERMISSIVE beside it (mode FAILFAST does not use columnNameOfCorruptRecord)",
        ),
        (
            {"rescuedDataColumn": "_corrupt_record", "mode": "DROPMALFORMED"},
            "rescuedDataColumn",
            "another column name than columnNameOfCorruptRecord's",
        ),
        (
            {"columnNameOfCorruptRecord": "_input", "includeInputsInOutput": "true"},
            "columnNameOfCorruptRecord",
            "another column name than includeInputsInOutput's",
        ),
        (
            {"rescuedDataColumn": "_input", "includeInputsInOutput": "true"},
            "rescuedDataColumn",
            "another column name than includeInputsInOutput's",
        ),
    ],
)
def test_options_that_cannot_work_are_refused(
    raw: dict[str, str], option: str, expected: str
) -> None:
    with pytest.raises(RestOptionError) as info:
        parse_options({"url": URL, **raw})
    assert (info.value.option, info.value.expected) == (option, expected)


# --- inference --------------------------------------------------------------------------------


def test_inference_adds_the_rescued_column_last() -> None:
    schema = infer_schema([{"id": 1, "_rescued": 5}], [{"q": "a"}], rescued_column="_rescued")
    assert schema.fieldNames() == ["id", "_input", "_rescued"]
    assert schema["_rescued"].dataType == StringType()


def test_inference_adds_the_corrupt_column_when_a_sample_is_malformed() -> None:
    mixed = [{"id": 1}, 7]
    assert infer_schema(mixed, corrupt_column="_corrupt_record").fieldNames() == [
        "id",
        "_corrupt_record",
    ]
    assert infer_schema(mixed).fieldNames() == ["id"]  # DROPMALFORMED, FAILFAST: no column
    assert infer_schema([{"id": 1}], corrupt_column="_corrupt_record").fieldNames() == ["id"]
    assert infer_schema([1, 2], corrupt_column="_corrupt_record").fieldNames() == ["value"]
    only_bodies = infer_schema([Malformed("<html>")], corrupt_column="_corrupt_record")
    assert only_bodies.fieldNames() == ["_corrupt_record"]


def test_sampling_keeps_a_body_that_is_not_json_as_a_malformed_sample(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=URL, content=b"<html>login</html>", is_reusable=True)
    schema = sample_schema(parse_options({"url": URL, "rescuedDataColumn": "_rescued_data"}))
    assert schema.fieldNames() == ["_corrupt_record", "_rescued_data"]
    with pytest.raises(RestStreamError, match="hold no records"):
        sample_schema(parse_options({"url": URL, "mode": "DROPMALFORMED"}))
    with pytest.raises(RestResponseError, match="is not valid JSON"):
        sample_schema(parse_options({"url": URL, "mode": "FAILFAST"}))


def test_sampling_needs_a_parent_list_that_is_json(httpx_mock: HTTPXMock) -> None:
    parents = "https://api.test/parents"
    httpx_mock.add_response(url=parents, json=[{"q": "a"}])
    httpx_mock.add_response(url=URL + "?q=a", content=b"<html>login</html>")
    schema = sample_schema(parse_options({"url": URL, "inputDataUrl": parents}))
    assert schema.fieldNames() == ["_corrupt_record"]
    httpx_mock.add_response(url=parents, content=b"<html>login</html>")
    with pytest.raises(RestResponseError, match="parents"):
        sample_schema(parse_options({"url": URL, "inputDataUrl": parents}))


# --- the Arrow fast path ----------------------------------------------------------------------

RECORD_FIELDS = pa.schema(
    [pa.field("id", pa.int64()), pa.field("meta", pa.struct([pa.field("s", pa.string())]))]
)


@pytest.mark.parametrize(
    ("records", "exact"),
    [
        ([{"id": 1, "meta": {"s": "a"}}], True),
        ([{"id": 1, "extra": 2}], False),
        ([{"id": 1, "meta": {"s": "a", "extra": 2}}], False),
        ([{"id": 1, "extra": None}], False),
    ],
)
def test_a_decoder_with_exact_fields_leaves_unknown_fields_to_the_general_path(
    records: list[dict[str, Any]], exact: bool
) -> None:
    body = orjson.dumps({"count": [1, "a"], "data": records})
    strict = ArrowPageDecoder.for_schema(compile_path("$.data"), RECORD_FIELDS, exact_fields=True)
    lenient = ArrowPageDecoder.for_schema(compile_path("$.data"), RECORD_FIELDS)
    assert strict is not None and lenient is not None
    assert lenient.decode(orjson.dumps({"data": records})) is not None  # unknown fields skipped
    assert (strict.decode(orjson.dumps({"data": records})) is not None) == exact
    assert strict.decode(body) is None  # siblings Arrow cannot infer: the general path


@pytest.fixture
def decode_calls(monkeypatch: pytest.MonkeyPatch) -> list[pa.RecordBatch | None]:
    """Every result `ArrowPageDecoder.decode` returns during a test."""
    calls: list[pa.RecordBatch | None] = []
    original = arrow_json.ArrowPageDecoder.decode

    def spy(self: ArrowPageDecoder, body: bytes) -> pa.RecordBatch | None:
        calls.append(result := original(self, body))
        return result

    monkeypatch.setattr(arrow_json.ArrowPageDecoder, "decode", spy)
    return calls


READ_SCHEMA = struct(("id", LongType()), ("name", StringType()), ("_rescued_data", StringType()))
GOOD = orjson.dumps({"data": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]})
MISFIT = orjson.dumps({"data": [{"id": "three", "name": "c"}, {"id": 4, "name": "d", "x": 1}]})


def read_all(reader: PartitionReader, partition: Any) -> list[dict[str, Any]]:
    return [row for batch in reader.read(partition) for row in batch.to_pylist()]


@pytest.mark.parametrize("records_path", ["$.data", "$.data[0:]"], ids=["decoded", "general"])
def test_a_misfit_reaches_the_rescued_column_whichever_path_its_page_takes(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None], records_path: str
) -> None:
    httpx_mock.add_response(url=URL + "?q=good", content=GOOD)
    httpx_mock.add_response(url=URL + "?q=misfit", content=MISFIT)
    options = parse_options(
        {"url": URL, "recordsPath": records_path, "rescuedDataColumn": "_rescued_data"}
    )
    got = read_all(
        PartitionReader(options, READ_SCHEMA), RowsPartition(({"q": "good"}, {"q": "misfit"}))
    )
    assert [(r["id"], r["name"]) for r in got] == [(1, "a"), (2, "b"), (None, "c"), (4, "d")]
    assert [rescued(r) for r in got] == [
        None,
        None,
        {"id": "three", "_url": URL + "?q=misfit"},
        {"x": 1, "_url": URL + "?q=misfit"},
    ]
    if records_path == "$.data":  # the fitting page decoded, the misfit one could not
        assert [c is not None for c in decode_calls] == [True, False]
    else:
        assert decode_calls == []


def test_a_page_range_rescues_on_both_paths(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None]
) -> None:
    def page(number: int, **changes: Any) -> bytes:
        records = [{"id": i, "name": f"n{i}"} for i in range((number - 1) * 2 + 1, number * 2 + 1)]
        records[0].update(changes)
        return orjson.dumps({"data": records})

    httpx_mock.add_response(url=URL + "?page=1", content=page(1))
    httpx_mock.add_response(url=URL + "?page=2", content=page(2, name=["a", "list"]))
    httpx_mock.add_response(url=URL + "?page=3", content=page(3, extra=True))
    options = parse_options(
        {
            "url": URL + "?page={page}",
            "offsetType": "page",
            "offsetField": "page",
            "pageSize": "2",
            "recordsPath": "$.data",
            "rescuedDataColumn": "_rescued_data",
        }
    )
    got = read_all(
        PartitionReader(options, READ_SCHEMA), WorkPartition((RangeUnit("s", {}, 0, 6),))
    )
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5, 6]
    assert got[2]["name"] == '["a","list"]'  # a list fits a string column: it is its JSON
    assert rescued(got[4]) == {"extra": True, "_url": URL + "?page=3"}
    assert [rescued(r) is None for r in got] == [True, True, True, True, False, True]
    assert [c is not None for c in decode_calls] == [True, False, False]


# --- bodies that are not JSON -----------------------------------------------------------------

HTML = b"<html>Service down for key s3cr3t-k3y</html>"


def body_read(httpx_mock: HTTPXMock, schema: StructType, **raw: str) -> list[dict[str, Any]]:
    httpx_mock.add_response(url=URL + "?q=a&key=s3cr3t-k3y", content=GOOD)
    httpx_mock.add_response(url=URL + "?q=b&key=s3cr3t-k3y", content=HTML)
    options = parse_options(
        {"url": URL, "authType": "apikey", "apiKey": "s3cr3t-k3y", "apiKeyParam": "key", **raw}
    )
    return read_all(PartitionReader(options, schema), RowsPartition(({"q": "a"}, {"q": "b"})))


def test_permissive_keeps_a_body_that_is_not_json_in_the_corrupt_column(
    httpx_mock: HTTPXMock,
) -> None:
    schema = struct(("id", LongType()), ("_corrupt_record", StringType()))
    got = body_read(httpx_mock, schema)
    assert got == [
        {"id": 1, "_corrupt_record": None},
        {"id": 2, "_corrupt_record": None},
        {"id": None, "_corrupt_record": "<html>Service down for key ***</html>"},
    ]


def test_permissive_without_the_corrupt_column_fails_on_a_body_that_is_not_json(
    httpx_mock: HTTPXMock,
) -> None:
    with pytest.raises(RestResponseError) as info:
        body_read(httpx_mock, struct(("id", LongType())))
    assert URL + "?q=b&key=***" in str(info.value) and "s3cr3t" not in str(info.value)


def test_dropmalformed_drops_a_body_that_is_not_json(httpx_mock: HTTPXMock) -> None:
    got = body_read(httpx_mock, struct(("id", LongType())), mode="DROPMALFORMED")
    assert got == [{"id": 1}, {"id": 2}]


def test_failfast_fails_on_a_body_that_is_not_json_naming_the_url(httpx_mock: HTTPXMock) -> None:
    schema = struct(("id", LongType()), ("_corrupt_record", StringType()))
    with pytest.raises(RestResponseError, match=r"\?q=b&key=\*\*\* \(HTTP 200\) is not valid JSON"):
        body_read(httpx_mock, schema, mode="FAILFAST")


def test_with_offsets_a_body_that_is_not_json_fails_whatever_the_mode(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=URL + "?page=1", content=HTML)
    options = parse_options(
        {
            "url": URL + "?page={page}",
            "offsetType": "page",
            "offsetField": "page",
            "pageSize": "2",
            "mode": "DROPMALFORMED",
        }
    )
    with pytest.raises(RestResponseError, match="is not valid JSON"):
        read_all(PartitionReader(options, READ_SCHEMA), WorkPartition((RangeUnit("s", {}, 0, 2),)))


def test_an_incremental_range_fails_on_a_record_that_is_not_an_object(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=URL + "?since=1", content=b'{"data": [{"id": 1}, 7]}')
    options = parse_options(
        {
            "url": URL + "?since={since}",
            "offsetType": "incremental",
            "offsetField": "since",
            "mode": "DROPMALFORMED",
        }
    )
    with pytest.raises(RestOffsetError, match="has no whole-number id"):
        read_all(PartitionReader(options, READ_SCHEMA), WorkPartition((RangeUnit("s", {}, 1, 5),)))


# --- the log line of each task ----------------------------------------------------------------


def test_each_task_logs_what_it_rescued_kept_and_dropped(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    schema = struct(("id", LongType()), ("name", StringType()), ("_rescued_data", StringType()))
    with caplog.at_level(logging.INFO, logger="rest_stream.executor"):
        body_read(httpx_mock, schema, mode="DROPMALFORMED", rescuedDataColumn="_rescued_data")
    [line] = [r for r in caplog.records if r.name == "rest_stream.executor"]
    assert line.levelno == logging.INFO
    assert line.getMessage() == (
        "RowsPartition(rows=2): 3 records read, 0 with rescued data (column _rescued_data), "
        "0 malformed kept, 1 malformed dropped (mode=DROPMALFORMED); the first at "
        f"{URL}?q=b&key=***"
    )


def test_a_task_with_nothing_to_report_logs_nothing(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(url=URL, content=GOOD)
    options = parse_options({"url": URL, "rescuedDataColumn": "_rescued_data"})
    with caplog.at_level(logging.INFO, logger="rest_stream.executor"):
        assert len(read_all(PartitionReader(options, READ_SCHEMA), RowsPartition(({},)))) == 2
    assert [r for r in caplog.records if r.name == "rest_stream.executor"] == []


def test_the_logger_shows_info_unless_set_otherwise() -> None:
    assert logging.getLogger("rest_stream.executor").getEffectiveLevel() <= logging.INFO
