"""Decoding pages straight to Arrow: exactly the general path's rows, or the general path."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pytest
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)
from pytest_httpx import HTTPXMock

from rest_stream.decoders import arrow_json
from rest_stream.decoders.arrow_json import ArrowPageDecoder, ArrowRecords, decodable, select
from rest_stream.decoders.jsonpath import compile_path, extract_records
from rest_stream.errors import RestOffsetError, RestResponseError
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.options.parse import parse_options
from rest_stream.partitions import CarriedPage, PagesUnit, RangeUnit, RowsPartition, WorkPartition
from rest_stream.positions import offset_kind
from rest_stream.schema import ArrowConverter, as_record

SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("name", StringType()),
        StructField("value", DoubleType()),
        StructField("ok", BooleanType()),
        StructField("tags", ArrayType(StringType())),
        StructField(
            "meta", StructType([StructField("source", StringType()), StructField("n", LongType())])
        ),
    ]
)
CONVERTER = ArrowConverter(SCHEMA)
RECORDS = [
    {
        "id": i,
        "name": f'n-{i} é😀\n"q"',
        "value": i * 1.5 if i % 3 else i,  # whole numbers too, as JSON ints
        "ok": i % 2 == 0,
        "tags": ["a", "b"][: i % 3],
        "meta": {"source": "s", "n": i, "extra": [1]},
        "unknown": {"deep": True},
    }
    for i in range(1, 30)
]
RECORDS[3] = {"id": 4}  # missing fields are null


def decoder(path: str | None = "$.data", schema: StructType = SCHEMA) -> ArrowPageDecoder:
    found = ArrowPageDecoder.for_schema(
        compile_path(path) if path is not None else None, ArrowConverter(schema).arrow_schema
    )
    assert found is not None
    return found


def general(body: bytes, path: str | None, schema: StructType = SCHEMA) -> pa.RecordBatch:
    """What the general path makes of `body`."""
    records = extract_records(orjson.loads(body), compile_path(path) if path else None)
    return ArrowConverter(schema).to_batch([as_record(r) for r in records], "test")


@pytest.mark.parametrize(
    ("path", "document"),
    [
        ("$.data", {"data": RECORDS, "next": "x", "total": 3}),
        ("$.data[*]", {"data": RECORDS}),
        ("$['data']", {"page": 1, "data": RECORDS}),
        ("$.result.items", {"result": {"items": RECORDS, "more": False}, "other": [1, "a"]}),
        (None, RECORDS),
        ("$", RECORDS),
        ("$[*]", RECORDS),
        ("$.data", {"data": []}),
    ],
)
def test_a_decoded_page_equals_the_general_path(path: str | None, document: Any) -> None:
    body = orjson.dumps(document)
    batch = decoder(path).decode(body)
    assert batch is not None
    assert batch.schema.equals(CONVERTER.arrow_schema)
    assert batch.equals(general(body, path))


def test_api_shaped_records_decode_as_the_general_path_does() -> None:
    """The demo's nested records (an array, a nested object, nulls, missing fields) with
    their full schema: every page is decoded, and equals the general path's batch."""
    from benchmarks.harness.config import SCHEMAS
    from rest_stream.demo.server import make_record

    schema = SCHEMAS["nested"]
    records = [make_record(i, ("eu",), 1_700_000_000, shape="nested") for i in range(1, 400)]
    body = orjson.dumps({"data": records, "count": len(records)})
    batch = decoder("$.data", schema).decode(body)
    assert batch is not None
    assert batch.equals(general(body, "$.data", schema))
    rows = batch.to_pylist()
    assert rows[8]["geo"] is None and rows[16]["tags"] is None and rows[6]["category"] is None


@pytest.mark.parametrize(
    ("body", "pattern", "found"),
    [
        (b'{"a": NaN}', b"NaN", True),
        (b'{"Name": "New", "NaNa": 1}', b"NaN", True),
        (b'{"Name": "New York"}', b"NaN", False),
        (b"N" * 40 + b"aN", b"NaN", True),  # past the anchor tries: the plain search
        (b"N" * 40, b"NaN", False),
        (b'{"x": -Infinity}', b"Infinity", True),
        (b'{"next_since": 1}', b'"since"', False),
        (b'{"since": 1}', b'"since"', True),
        (b"", b"NaN", False),
    ],
)
def test_holds_is_in(body: bytes, pattern: bytes, found: bool) -> None:
    assert arrow_json.holds(body, pattern) is found is (pattern in body)


def test_a_pretty_printed_body_decodes_the_same() -> None:
    body = json.dumps({"data": RECORDS}, indent=2).encode()
    batch = decoder().decode(body)
    assert batch is not None and batch.equals(general(body, "$.data"))


def test_doubles_keep_every_bit() -> None:
    values = [0.1, 1 / 3, 2.5e-308, 1.7976931348623157e308, -0.0, 123456789.123456789]
    body = orjson.dumps({"data": [{"value": v} for v in values]})
    batch = decoder().decode(body)
    assert batch is not None
    assert batch.column("value").to_pylist() == values


@pytest.mark.parametrize(
    "body",
    [
        b'{"data":[{"id":1.5}]}',  # a fraction for a long
        b'{"data":[{"id":"5"}]}',  # a string for a long
        b'{"data":[{"name":5}]}',  # a number for a string
        b'{"data":[{"ok":1}]}',  # a number for a boolean
        b'{"data":[{"id":99999999999999999999}]}',  # beyond int64
        b'{"data":[{"value":NaN}]}',  # orjson rejects NaN
        b'{"data":[{"value":-Infinity}]}',
        b'\xef\xbb\xbf{"data":[{"id":1}]}',  # orjson rejects a byte order mark
        b'{"data":[{"id":1}]}{"data":[{"id":2}]}',  # two documents
        b'{"data":[{"id":1}]} trailing',
        b'{"data":[{"id":1},]}',
        b"",
        b"   ",
        b'{"data":[1, 2]}',  # records that are not objects
        b'{"data":[null, {"id":1}]}',  # a null record
        b'{"data":null}',
        b'{"other":[{"id":1}]}',  # no records field
        b'{"data":{"id":1}}',  # one object, not an array
        b'{"data":[{"id":1}],"data":[{"id":2}]}',  # a duplicate key
        b'{"data":[{"id":1,"id":2}]}',
        b'{"data":[{"name":"\xff"}]}',  # not UTF-8
        b"<html><body>502 Bad Gateway</body></html>",
        b"[]",  # an array where an object with `data` is expected
    ],
)
def test_what_it_cannot_decode_exactly_goes_the_general_path(body: bytes) -> None:
    assert decoder().decode(body) is None


@pytest.mark.parametrize(
    "body",
    [
        b' [{"id":1}]',
        b'{"data":[{"id":1},{"id":2}],"next":"x"}',
        b'{ "page" : 1, "next": "a", "ok": true, "none": null, "f": -1.5e3, "items" : [{"id":1}]}',
        b'{"meta":{"page":1,"of":"x"},"results":[{"id":1}],"later":[{"id":9}]}',
        b'{"note":"a [bracket] {brace}","data":[{"id":1}]}',
    ],
)
def test_without_a_records_path_the_first_array_is_decoded(body: bytes) -> None:
    """The general path takes the first array at the top level; so does the decoder, when
    the members before it show that in the first bytes."""
    batch = decoder(None).decode(body)
    assert batch is not None
    assert batch.equals(general(body, None))


@pytest.mark.parametrize(
    "body",
    [
        b'{"meta":{"deep":{"page":1}},"data":[{"id":1}]}',  # a nested object before the array
        b'{"meta":{"pages":[1]},"data":[{"id":1}]}',  # an array inside an object before it
        b'{"note":"say \\"hi\\"","data":[{"id":1}]}',  # an escape before it
        b'{"id":1,"name":"one"}',  # no array: the object is the one record
        b'{"data":[1,2]}',  # the first array does not hold objects
        b'{"errors":[],"data":[{"id":1}]}',  # `errors` is never the records: data is
        b'{"error":[{"id":1}]}',
    ],
)
def test_without_a_records_path_other_objects_go_the_general_path(body: bytes) -> None:
    assert decoder(None).decode(body) is None


def test_the_general_path_skips_an_errors_array_for_the_records() -> None:
    assert general(b'{"errors":[],"data":[{"id":1}]}', None).column("id").to_pylist() == [1]


def test_an_int_that_overflows_a_narrow_column_goes_the_general_path() -> None:
    schema = StructType([StructField("n", IntegerType())])
    assert decoder(schema=schema).decode(b'{"data":[{"n":2147483648}]}') is None
    batch = decoder(schema=schema).decode(b'{"data":[{"n":2147483647}]}')
    assert batch is not None and batch.column("n").type == pa.int32()


def test_a_missing_parent_of_the_records_goes_the_general_path() -> None:
    assert decoder("$.result.items").decode(b'{"result":null}') is None
    assert decoder("$.result.items").decode(b'{"other":1}') is None


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("$.data", b'{"dta":[{"id":1}]}'),
        ("$.data", b'{"data":null}'),
        ("$.result.items", b'{"result":null}'),
        (None, b'{"error":"quota"}'),
        (None, b'{"data":null}'),
    ],
)
def test_a_page_without_its_records_is_refused_not_read_as_no_rows(
    httpx_mock: HTTPXMock, path: str | None, body: bytes
) -> None:
    """The decoder leaves such a page to the general path, which refuses it naming the URL
    (and the path): a typo or an error never reads as an empty page."""
    raw = {"url": "https://api.example.com/items", **({"recordsPath": path} if path else {})}
    reader = PartitionReader(parse_options(raw), SCHEMA)
    assert reader.decoder is not None and reader.decoder.decode(body) is None
    httpx_mock.add_response(url=raw["url"], content=body)
    with pytest.raises(RestResponseError) as info:
        list(reader.read(RowsPartition(({},))))
    assert str(info.value).startswith("Response of https://api.example.com/items (HTTP 200)")
    assert (path or "no array at its top level") in str(info.value) or "error" in str(info.value)


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (pa.int64(), True),
        (pa.int32(), True),
        (pa.float64(), True),
        (pa.string(), True),
        (pa.bool_(), True),
        (pa.list_(pa.struct([pa.field("a", pa.int64())])), True),
        (pa.float32(), False),
        (pa.timestamp("us", tz="UTC"), False),
        (pa.date32(), False),
        (pa.decimal128(10, 2), False),
        (pa.binary(), False),
        (pa.map_(pa.string(), pa.int64()), False),
        (pa.null(), False),
        (pa.struct([pa.field("t", pa.timestamp("us"))]), False),
    ],
)
def test_decodable_types(data_type: pa.DataType, expected: bool) -> None:
    assert decodable(data_type) is expected


def test_no_decoder_for_a_path_with_filters_or_a_schema_it_cannot_decode() -> None:
    schema = ArrowConverter(SCHEMA).arrow_schema
    assert ArrowPageDecoder.for_schema(compile_path("$.data[?(@.id > 1)]"), schema) is None
    assert ArrowPageDecoder.for_schema(compile_path("$..items"), schema) is None
    for spark_type in (TimestampType(), FloatType()):
        other = ArrowConverter(StructType([StructField("t", spark_type)])).arrow_schema
        assert ArrowPageDecoder.for_schema(compile_path("$.data"), other) is None
    assert ArrowPageDecoder.for_schema(compile_path("$.data"), pa.schema([])) is None


def test_arrow_records_slice_in_arrow_and_read_as_dicts() -> None:
    records = ArrowRecords(pa.RecordBatch.from_pylist([{"a": i} for i in range(5)]))
    assert len(records) == 5
    part = records[1:4]
    assert isinstance(part, ArrowRecords) and [r["a"] for r in part] == [1, 2, 3]
    assert len(records[4:2]) == 0
    assert records[-1] == {"a": 4} and records[0] == {"a": 0}
    assert [r["a"] for r in records[::2]] == [0, 2, 4]
    assert list(records) == [{"a": i} for i in range(5)]
    with pytest.raises(IndexError):
        records[5]
    assert repr(records) == "ArrowRecords(5 records)"
    picked = select(records, [3, 0])
    assert isinstance(picked, ArrowRecords) and list(picked) == [{"a": 3}, {"a": 0}]
    assert select([{"a": 1}, {"a": 2}], [1]) == [{"a": 2}]


# -- PartitionReader: where decoding is used ---------------------------------------------------
URL = "https://api.test/pages"
PAGE_OPTIONS = {
    "url": URL + "?page={page}",
    "offsetType": "page",
    "offsetField": "page",
    "pageSize": "10",
    "recordsPath": "$.data",
    "requestConcurrency": "2",
}


def page_body(number: int, count: int = 10) -> bytes:
    first = (number - 1) * 10 + 1
    return orjson.dumps({"data": [{"id": i, "name": f"n{i}"} for i in range(first, first + count)]})


def read_all(reader: PartitionReader, partition: Any) -> list[dict[str, Any]]:
    return [row for batch in reader.read(partition) for row in batch.to_pylist()]


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


def test_a_page_range_is_decoded_and_a_misfit_page_still_reads(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None]
) -> None:
    schema = StructType([StructField("id", LongType()), StructField("name", StringType())])
    httpx_mock.add_response(url=URL + "?page=1", content=page_body(1))
    misfit = orjson.loads(page_body(2))
    misfit["data"][0]["name"] = 11  # a number for a string: the general path reads this page
    misfit = orjson.dumps(misfit)
    httpx_mock.add_response(url=URL + "?page=2", content=misfit)
    httpx_mock.add_response(url=URL + "?page=3", content=page_body(3, 4))
    options = parse_options(PAGE_OPTIONS)
    rows = read_all(PartitionReader(options, schema), WorkPartition((RangeUnit("s", {}, 3, 24),)))
    assert [r["id"] for r in rows] == list(range(4, 25))
    assert rows[7] == {"id": 11, "name": "11"}  # the general path's string of a number
    assert rows[8] == {"id": 12, "name": "n12"} and rows[0] == {"id": 4, "name": "n4"}
    assert [c is not None for c in decode_calls] == [True, False, True]


INCREMENTAL = {
    "url": URL + "?since={since}",
    "offsetType": "incremental",
    "offsetField": "since",
    "recordsPath": "$.data",
}


def ids_body(*ids: int | None) -> bytes:
    return orjson.dumps({"data": [{"id": i, "name": f"n{i}"} for i in ids]})


def test_incremental_ranges_are_decoded_and_cut_to_the_range(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None]
) -> None:
    httpx_mock.add_response(url=URL + "?since=3", content=ids_body(3, 4, 5))
    httpx_mock.add_response(url=URL + "?since=6", content=ids_body(6, 9, 7, 12, 8))  # unsorted
    schema = StructType([StructField("id", LongType()), StructField("name", StringType())])
    rows = read_all(
        PartitionReader(parse_options(INCREMENTAL), schema),
        WorkPartition((RangeUnit("s", {}, 3, 10),)),
    )
    assert rows == [{"id": i, "name": f"n{i}"} for i in (3, 4, 5, 6, 9, 7, 8)]
    assert [c is not None for c in decode_calls] == [True, True]


def test_incremental_ranges_without_the_id_in_the_schema_are_not_decoded(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None]
) -> None:
    httpx_mock.add_response(url=URL + "?since=1", content=ids_body(1, 2, 3), is_reusable=True)
    for schema in (
        StructType([StructField("name", StringType())]),  # no id column
        StructType([StructField("id", StringType())]),  # ids read as strings
    ):
        reader = PartitionReader(parse_options(INCREMENTAL), schema)
        assert len(read_all(reader, WorkPartition((RangeUnit("s", {}, 1, 3),)))) == 2
    assert decode_calls == []


def test_a_decoded_page_with_a_record_missing_its_id_fails_naming_it(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=URL + "?since=1", content=ids_body(1, None, 3))
    schema = StructType([StructField("id", LongType())])
    with pytest.raises(RestOffsetError, match=r"Record 1 of .* recordOffsetPath=\$\.id"):
        read_all(
            PartitionReader(parse_options(INCREMENTAL), schema),
            WorkPartition((RangeUnit("s", {}, 1, 9),)),
        )


TIMESTAMPS = {
    "url": URL + "?since={since}",
    "offsetType": "timestamp",
    "offsetField": "since",
    "recordOffsetPath": "$.ts",
    "recordsPath": "$.data",
}


def events_body(*times: Any) -> bytes:
    return orjson.dumps({"data": [{"id": k, "ts": t} for k, t in enumerate(times)]})


@pytest.mark.parametrize(
    ("extra", "ts_type", "start", "end", "pages"),
    [
        # epoch seconds; the page's newest timestamp (13) is held back: the next request asks
        # from 12, so the two records at 13 come from the second page only
        ({}, LongType(), 10.0, 16, {"10": (11, 12, 13), "12": (13, 13, 14, 15, 16), "15": (16,)}),
        # fractional epoch seconds
        (
            {},
            DoubleType(),
            10.0,
            16.75,
            {"10": (10.5, 11.25, 12.5), "11.25": (12.5, 16.75), "12.5": (16.75,)},
        ),
        # ISO-8601 strings
        (
            {"timestampFormat": "iso8601", "initialOffset": "2024-01-01T00:00:10Z"},
            StringType(),
            "2024-01-01T00:00:10Z",
            "2024-01-01T00:00:16Z",
            {
                "2024-01-01T00:00:10Z": ("2024-01-01T00:00:11Z", "2024-01-01T00:00:12Z"),
                "2024-01-01T00:00:11Z": ("2024-01-01T00:00:12Z", "2024-01-01T00:00:17Z"),
            },
        ),
    ],
)
def test_timestamp_ranges_read_decoded_pages_as_the_general_path_does(
    httpx_mock: HTTPXMock,
    decode_calls: list[pa.RecordBatch | None],
    extra: dict[str, str],
    ts_type: Any,
    start: Any,
    end: Any,
    pages: dict[str, tuple[Any, ...]],
) -> None:
    for since, times in pages.items():
        url = httpx.URL(URL, params={"since": since})
        httpx_mock.add_response(url=url, content=events_body(*times), is_reusable=True)
    options = parse_options({**TIMESTAMPS, **extra})
    schema = StructType([StructField("id", LongType()), StructField("ts", ts_type)])
    partition = WorkPartition((RangeUnit("s", {}, start, end),))
    decoded = PartitionReader(options, schema)
    general = PartitionReader(options, schema)
    general.decoder = None
    rows = read_all(decoded, partition)
    assert decode_calls and all(call is not None for call in decode_calls)
    assert rows == read_all(general, partition)
    assert rows and len(rows) == len({(r["id"], r["ts"]) for r in rows})


def test_a_timestamp_page_that_names_its_next_offset_takes_the_general_path(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None]
) -> None:
    """The response's own next offset (offsetPath, default `$.<offsetField>`) lies outside
    the records: a page that holds its key is read from the whole document."""
    named = orjson.loads(events_body(11, 12, 13))
    named["since"] = 14  # the API vouches that nothing up to 14 is missing from this page
    httpx_mock.add_response(url=URL + "?since=10", content=orjson.dumps(named))
    httpx_mock.add_response(url=URL + "?since=14", content=events_body(15, 16))
    schema = StructType([StructField("id", LongType()), StructField("ts", LongType())])
    reader = PartitionReader(parse_options(TIMESTAMPS), schema)
    rows = read_all(reader, WorkPartition((RangeUnit("s", {}, 10.0, 15),)))
    assert [r["ts"] for r in rows] == [11, 12, 13, 15]  # 13 is not held back: 14 was named
    assert [call is not None for call in decode_calls] == [False, True]


def test_no_decoded_pages_for_a_timestamp_whose_offset_path_is_not_plain() -> None:
    fields = {"ts": pa.int64()}
    kind = offset_kind(parse_options({**TIMESTAMPS, "offsetPath": "$.meta.next_since"}))
    assert kind.arrow_guards(fields) == (b'"next_since"',)
    kind = offset_kind(parse_options({**TIMESTAMPS, "offsetPath": "$..next_since"}))
    assert kind.arrow_guards(fields) is None
    assert offset_kind(parse_options(TIMESTAMPS)).arrow_guards({"ts": pa.timestamp("us")}) is None
    assert offset_kind(parse_options(TIMESTAMPS)).arrow_guards({"other": pa.int64()}) is None


def test_input_rows_are_decoded_with_the_input_column(
    httpx_mock: HTTPXMock, decode_calls: list[pa.RecordBatch | None]
) -> None:
    httpx_mock.add_response(url=URL + "?q=a", content=orjson.dumps({"data": [{"id": 1}]}))
    httpx_mock.add_response(url=URL + "?q=b", content=orjson.dumps({"data": [{"id": 2}]}))
    options = parse_options({"url": URL, "recordsPath": "$.data"})
    input_type = StructType([StructField("q", StringType())])
    schema = StructType([StructField("id", LongType()), StructField("_input", input_type)])
    reader = PartitionReader(options, schema)
    rows = read_all(reader, RowsPartition(({"q": "a"}, {"q": "b"})))
    assert rows == [{"id": 1, "_input": {"q": "a"}}, {"id": 2, "_input": {"q": "b"}}]
    assert all(c is not None for c in decode_calls) and len(decode_calls) == 2


def test_carried_pages_are_decoded_and_cut_to_their_records(
    decode_calls: list[pa.RecordBatch | None],
) -> None:
    options = parse_options(
        {"url": URL, "offsetType": "cursor", "offsetField": "c", "recordsPath": "$.data"},
    )
    schema = StructType([StructField("id", LongType())])
    pages = (
        CarriedPage(page_body(1), URL, 200, 2, 5),
        CarriedPage(b'{"data":[{"id":"x"},{"id":7}]}', URL, 200, 1, 2),  # general path
    )
    rows = read_all(PartitionReader(options, schema), WorkPartition((PagesUnit("s", {}, pages),)))
    assert [r["id"] for r in rows] == [3, 4, 5, 7]
    assert [c is not None for c in decode_calls] == [True, False]


def test_arrow_records_read_backwards_stay_arrow_even_when_empty() -> None:
    records = ArrowRecords(pa.RecordBatch.from_pylist([{"n": i} for i in range(6)]))
    backwards = records[1:4][::-1]
    assert isinstance(backwards, ArrowRecords) and [r["n"] for r in backwards] == [3, 2, 1]
    assert len(records[0:0][::-1]) == 0 and [r["n"] for r in records[::2]] == [0, 2, 4]


def test_carried_pages_emit_the_records_a_timestamp_walk_picked(
    decode_calls: list[pa.RecordBatch | None],
) -> None:
    """A timestamp walk takes records by time: the carried page names them by index, decoded
    or not, and its weight counts them."""
    options = parse_options({"url": URL, "offsetType": "cursor", "offsetField": "c"})
    schema = StructType([StructField("id", LongType())])
    pages = (
        CarriedPage(page_body(1), URL, 200, 0, 5, keep=(4, 0, 2)),
        CarriedPage(b'{"data":[{"id":"x"},{"id":7},{"id":8}]}', URL, 200, 1, 3, keep=(2, 1)),
    )
    unit = PagesUnit("s", {}, pages)
    assert unit.weight == 5
    rows = read_all(PartitionReader(options, schema), WorkPartition((unit,)))
    assert [r["id"] for r in rows] == [5, 1, 3, 8, 7]
