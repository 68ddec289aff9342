"""Body formats: NDJSON and CSV read by the general path and straight to Arrow (the same rows),
gzip unpacked, and streamed bodies cut into blocks of whole records."""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterator
from typing import Any

import orjson
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from rest_stream.decoders.csv_text import (
    CsvArrowDecoder,
    csv_decodable,
    header_names,
    parse_csv,
    split_header,
)
from rest_stream.decoders.errors import BodyError
from rest_stream.decoders.formats import (
    Block,
    arrow_decoder,
    body_blocks,
    gunzip_chunks,
    gunzipped,
    line_records,
    plain_chunks,
    without_bom,
)
from rest_stream.decoders.ndjson import NdjsonArrowDecoder, content_lines, parse_ndjson
from rest_stream.errors import RestSchemaError
from rest_stream.schema import ArrowConverter, as_record

BOM = b"\xef\xbb\xbf"

# --- NDJSON: the general path -----------------------------------------------------------------


def test_ndjson_lines_are_the_records_and_blank_lines_are_skipped() -> None:
    body = b'{"id":1}\n\n  \t\r\n{"id":2,"n":"a\\nb"}\r\n[1,2]\n7\n"s"\nnull\n\n'
    assert parse_ndjson(body) == [{"id": 1}, {"id": 2, "n": "a\nb"}, [1, 2], 7, "s", None]


def test_ndjson_reads_as_the_json_array_of_its_lines() -> None:
    values = [{"id": 1}, 5, None, {"nested": {"a": [1]}}]
    body = b"\n".join(orjson.dumps(v) for v in values)
    assert parse_ndjson(body) == orjson.loads(orjson.dumps(values))


@pytest.mark.parametrize(
    "body",
    [b"", b"\n", b"\n\n\n", b"  \r\n\t\n"],
    ids=["empty", "one-line-feed", "line-feeds", "whitespace"],
)
def test_an_ndjson_body_of_blank_lines_holds_no_records(body: bytes) -> None:
    assert parse_ndjson(body) == []


def test_crlf_and_a_trailing_line_without_a_line_feed() -> None:
    assert parse_ndjson(b'{"a":1}\r\n{"a":2}') == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b'{"a":1}\n{"a":\n{"a":3}\n', 2),  # an object cut in two
        (b'{"a":1}\n\n\n{"a":1} {"a":2}\n', 4),  # two values on one line
        (b'{"a":1}\n{"a":NaN}\n', 2),
        (b'{"a":1}\n{"a":"\xff"}\n', 2),  # not UTF-8
        (b'{"a":1}\n\x0c\n', 2),  # a form feed is no JSON whitespace
        (b'{"a":1}\n' + BOM + b'{"a":2}\n', 2),  # a byte order mark inside the body
    ],
)
def test_a_line_that_does_not_parse_is_named(body: bytes, line: int) -> None:
    with pytest.raises(BodyError) as info:
        parse_ndjson(body)
    assert info.value.problem.startswith(f"is not valid NDJSON: line {line} does not parse (")


def test_line_numbers_count_from_the_first_line_given() -> None:
    with pytest.raises(BodyError, match="^is not valid NDJSON: line 12 does not"):
        parse_ndjson(b'{"a":1}\n\n{"a"\n', first_line=10)


def test_content_lines_count_lines_that_are_not_blank() -> None:
    assert content_lines(b"") == 0
    assert content_lines(b"\n\n") == 0
    assert content_lines(b"a") == content_lines(b"a\n") == content_lines(b"\na\r\n \n") == 1
    assert content_lines(b" a\n\nb\n\t\nc") == 3


# --- CSV: the general path --------------------------------------------------------------------


def test_csv_rows_are_dicts_of_strings_and_an_empty_field_is_none() -> None:
    body = b'id,name,note\n1,ann,\n2,"bob, jr.",""\n'
    assert parse_csv(body) == [
        {"id": "1", "name": "ann", "note": None},
        {"id": "2", "name": "bob, jr.", "note": None},
    ]


def test_quoted_commas_quotes_and_line_breaks_are_kept() -> None:
    body = b'a,b\r\n"x,y","say ""hi"""\r\n"two\nlines","cr\r\nlf"\r\n'
    assert parse_csv(body) == [
        {"a": "x,y", "b": 'say "hi"'},
        {"a": "two\nlines", "b": "cr\r\nlf"},
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"a,b\n1,2\n",
        b"a,b\r\n1,2\r\n",
        b"a,b\r1,2\r",  # old Mac line ends
        b"a,b\n1,2",  # no line break at the end
        b"a,b\n1,2\n\n",  # a blank trailing line
        b"a,b\r\n1,2\r\n\r\n\r\n",
        b"\n\r\na,b\n\n1,2\n",  # empty lines before the header and between rows
    ],
)
def test_line_ends_and_blank_lines(body: bytes) -> None:
    assert parse_csv(body) == [{"a": "1", "b": "2"}]


def test_a_byte_order_mark_is_dropped_before_the_header() -> None:
    body = BOM + b"id,name\n1,x\n"
    assert line_records(without_bom(body), "csv") == [{"id": "1", "name": "x"}]


def test_header_names_empty_and_repeated_are_made_unique_as_spark_does() -> None:
    assert header_names(b'id,,name,"",id') == ("id0", "_c1", "name", "_c3", "id4")
    assert header_names(b'"a,b","c""d"') == ("a,b", 'c"d')


@pytest.mark.parametrize("body", [b"", b"\n\r\n", b"a,b\n", b"a,b\r\n\r\n"])
def test_a_csv_without_rows_holds_no_records(body: bytes) -> None:
    assert parse_csv(body) == []


@pytest.mark.parametrize(
    ("body", "line", "fields"),
    [
        (b"a,b\n1,2\n3\n", 3, 1),
        (b"a,b\n1,2\n\n3,4,5\n", 4, 3),
        (b'a,b\n"x\ny",1\n  \n', 4, 1),  # a line of spaces is a row of one field
    ],
)
def test_a_row_with_another_number_of_fields_is_named(body: bytes, line: int, fields: int) -> None:
    with pytest.raises(BodyError) as info:
        parse_csv(body)
    assert f"has a row of {fields} field" in info.value.problem
    assert f"at line {line}, but its header names 2 columns" in info.value.problem


def test_csv_that_is_not_utf8_is_named() -> None:
    with pytest.raises(BodyError, match="^is not valid UTF-8 at line 3$"):
        parse_csv(b"a\nok\n\xff\n")
    with pytest.raises(BodyError, match="header row that is not valid UTF-8"):
        parse_csv(b"\xff\n1\n")


def test_quotes_are_read_leniently_and_a_huge_field_is_read() -> None:
    assert parse_csv(b'a,b\n"ab"c,x"y\n') == [{"a": "abc", "b": 'x"y'}]
    big = "x" * 300_000  # more than csv's default field size limit
    assert parse_csv(f"a\n{big}\n".encode()) == [{"a": big}]


def test_split_header_waits_for_the_whole_header_row() -> None:
    assert split_header(b'a,"b\n', complete=False) is None
    assert split_header(b"a,b\r", complete=False) is None  # a \n may follow
    assert split_header(b"a,b\r\n1,2", complete=False) == (("a", "b"), 5)
    assert split_header(b'\n"a\nb",c\n1,2\n') == (("a\nb", "c"), 9)
    assert split_header(b"a,b") == (("a", "b"), 3)
    assert split_header(b"\r\n\n") is None


# --- gzip -------------------------------------------------------------------------------------


def test_gzip_is_recognised_by_its_magic_bytes() -> None:
    body = b'{"a":1}\n{"a":2}\n'
    assert gunzipped(gzip.compress(body)) == body
    assert gunzipped(body) is body
    members = gzip.compress(body) + gzip.compress(b'{"a":3}\n') + b"\0\0\0"
    assert gunzipped(members) == body + b'{"a":3}\n'


def test_damaged_or_cut_gzip_is_an_error() -> None:
    packed = gzip.compress(b"x" * 1000)
    with pytest.raises(BodyError, match="is gzip that ends early"):
        gunzipped(packed[:-12])
    with pytest.raises(BodyError, match="is not valid gzip"):
        gunzipped(packed[:10] + b"garbage" * 5)
    with pytest.raises(BodyError, match="is not valid gzip"):
        gunzipped(packed + b"trailing")


def test_gunzipping_chunks_is_bounded_per_step() -> None:
    packed = gzip.compress(b"0" * (5 * 1024 * 1024))  # 5 MiB of zeros: a few KiB packed
    pieces = list(gunzip_chunks([packed]))
    assert len(pieces) >= 5 and max(len(p) for p in pieces) <= 1024 * 1024
    assert b"".join(pieces) == b"0" * (5 * 1024 * 1024)


def test_plain_chunks_gunzip_only_gzip() -> None:
    body = b"a,b\n1,2\n"
    packed = gzip.compress(body)
    assert b"".join(plain_chunks([packed[:1], packed[1:3], packed[3:]])) == body
    assert b"".join(plain_chunks([body[:1], body[1:]])) == body
    assert list(plain_chunks([])) == []


# --- streamed bodies: blocks of whole records -------------------------------------------------


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    return (body[i : i + size] for i in range(0, len(body), size))


def block_records(blocks: list[Block], fmt: str) -> list[Any]:
    return [record for block in blocks for record in block.records(fmt)]


def test_ndjson_blocks_hold_whole_lines_and_about_max_records() -> None:
    body = b"".join(orjson.dumps({"id": i, "s": "x" * (i % 7)}) + b"\n" for i in range(1000))
    blocks = list(body_blocks(chunked(body, 97), "ndjson", max_records=100))
    assert block_records(blocks, "ndjson") == parse_ndjson(body)
    assert all(100 <= len(b.records("ndjson")) <= 110 for b in blocks[:-1])
    assert [b.first_line for b in blocks[:2]] == [1, 1 + blocks[0].data.count(b"\n")]


def test_csv_blocks_never_cut_a_quoted_line_break_and_carry_the_header() -> None:
    rows = b"".join(b'%d,"a\nb ""%d""",\r\n' % (i, i) for i in range(500))
    body = BOM + b"id,text,empty\r\n" + rows
    blocks = list(body_blocks(chunked(body, 50), "csv", max_records=40))
    assert len(blocks) > 5 and all(b.header == ("id", "text", "empty") for b in blocks)
    assert block_records(blocks, "csv") == parse_csv(without_bom(body))


def test_gzip_and_a_byte_order_mark_in_streamed_blocks() -> None:
    body = BOM + b"".join(b'{"id":%d}\n' % i for i in range(300))
    packed = gzip.compress(body)
    blocks = list(body_blocks(chunked(packed, 1), "ndjson", max_records=64))
    assert [r["id"] for r in block_records(blocks, "ndjson")] == list(range(300))


def test_a_block_ends_only_past_a_record_longer_than_max_bytes() -> None:
    body = b'{"a":"' + b"x" * 5000 + b'"}\n{"a":1}\n'
    blocks = list(body_blocks(chunked(body, 100), "ndjson", max_bytes=1000))
    assert block_records(blocks, "ndjson") == parse_ndjson(body)


def test_errors_in_blocks_name_the_line_of_the_whole_body() -> None:
    body = b"a,b\n" + b"1,2\n" * 250 + b"3\n" + b"4,5\n" * 10
    with pytest.raises(BodyError) as whole:
        parse_csv(body)
    with pytest.raises(BodyError) as streamed:
        block_records(list(body_blocks(chunked(body, 33), "csv", max_records=30)), "csv")
    assert streamed.value.problem == whole.value.problem
    assert "at line 252," in whole.value.problem
    lines = b'{"a":1}\n' * 99 + b"\n" + b"{oops\n"
    with pytest.raises(BodyError, match="^is not valid NDJSON: line 101 does not"):
        block_records(list(body_blocks(chunked(lines, 10), "ndjson", max_records=7)), "ndjson")


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_a_body_of_nothing_streams_no_block(fmt: str) -> None:
    assert list(body_blocks([], fmt)) == []
    assert list(body_blocks([b"\r\n", b"\n"], fmt)) == []
    assert block_records(list(body_blocks([BOM], fmt)), fmt) == []


CSV_TEXT = st.lists(
    st.lists(
        st.text(alphabet=st.sampled_from(list('ab ,"\n\r1é')), max_size=6).map(
            lambda t: '"' + t.replace('"', '""') + '"' if any(c in t for c in ',"\n\r') else t
        ),
        min_size=2,
        max_size=2,
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=CSV_TEXT,
    ends=st.sampled_from(["\n", "\r\n"]),
    size=st.integers(1, 20),
    limit=st.integers(1, 4),
)
def test_streamed_csv_blocks_read_the_same_records_as_the_whole_body(
    rows: list[list[str]], ends: str, size: int, limit: int
) -> None:
    body = ends.join(["a,b"] + [",".join(row) for row in rows]).encode() + ends.encode()
    blocks = list(body_blocks(chunked(body, size), "csv", max_records=limit))
    assert block_records(blocks, "csv") == parse_csv(body)


# --- straight to Arrow: the same rows as the general path -------------------------------------

SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("name", StringType()),
        StructField("value", DoubleType()),
        StructField("ok", BooleanType()),
    ]
)
NESTED = StructType(
    [
        *SCHEMA.fields,
        StructField("tags", ArrayType(StringType())),
        StructField("meta", StructType([StructField("n", LongType())])),
    ]
)


def general(records: list[Any], schema: StructType) -> pa.RecordBatch:
    return ArrowConverter(schema).to_batch([as_record(r) for r in records], "test")


def same_rows(a: pa.RecordBatch, b: pa.RecordBatch) -> bool:
    """Equal batches, NaN equal to NaN."""

    def norm(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    return a.schema.equals(b.schema) and norm(a.to_pylist()) == norm(b.to_pylist())


def ndjson_decoder(schema: StructType = NESTED) -> NdjsonArrowDecoder:
    found = NdjsonArrowDecoder.for_schema(ArrowConverter(schema).arrow_schema)
    assert found is not None
    return found


def csv_decoder(schema: StructType = SCHEMA) -> CsvArrowDecoder:
    found = CsvArrowDecoder.for_schema(ArrowConverter(schema).arrow_schema)
    assert found is not None
    return found


NDJSON_RECORDS = [
    {
        "id": i,
        "name": f'n-{i} é😀\n"q"',
        "value": i * 1.5 if i % 3 else i,
        "ok": i % 2 == 0,
        "tags": ["a", "b"][: i % 3],
        "meta": {"n": i, "extra": [1]},
        "unknown": {"deep": True},
    }
    for i in range(1, 30)
]
NDJSON_RECORDS[3] = {"id": 4}


@pytest.mark.parametrize(
    "body",
    [
        b"\n".join(orjson.dumps(r) for r in NDJSON_RECORDS),
        b"\n".join(orjson.dumps(r) for r in NDJSON_RECORDS) + b"\n\n",
        b"\r\n\r\n".join(orjson.dumps(r) for r in NDJSON_RECORDS) + b"\r\n",
        b'  {"id": 1}  \n\t{"id": 2}',
    ],
    ids=["lines", "trailing-blank", "crlf-blank-between", "spaces"],
)
def test_a_decoded_ndjson_body_equals_the_general_path(body: bytes) -> None:
    batch = ndjson_decoder().decode(body)
    assert batch is not None
    assert batch.equals(general(parse_ndjson(body), NESTED))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n\n",
        b'{"id":1}\nnull\n',  # a null line
        b"null",  # Arrow's reader crashes on a body that starts with null: never given one
        b'{"id":1}\n5\n',
        b'{"id":1}\n[{"id":2}]\n',
        b'{"id":1} {"id":2}\n',  # two objects on one line
        b'{"id":\n1}\n',  # one object over two lines
        b'{"id":1.5}\n',  # a fraction for a long
        b'{"name":5}\n',
        b'{"value":NaN}\n',
        b'{"name":"\xff"}\n',
        b'{"id":1,"id":2}\n',
        b'{"id":1}\n{oops\n',
    ],
)
def test_what_ndjson_arrow_cannot_decode_exactly_goes_the_general_path(body: bytes) -> None:
    assert ndjson_decoder().decode(body) is None


def test_a_null_line_reads_as_an_empty_record_on_the_general_path() -> None:
    batch = general(parse_ndjson(b'{"id":1}\nnull\n'), SCHEMA)
    assert batch.to_pylist()[1] == {"id": None, "name": None, "value": None, "ok": None}


CSV_BODY = (
    b'id,name,value,ok,extra\r\n1,"ann, a.",1.5,true,x\r\n2,"say ""hi""\nthere",,FALSE,\r\n'
    b"3,,-2e3,,y\r\n,plain,7,True,\r\n\r\n"
)


@pytest.mark.parametrize(
    "body",
    [
        CSV_BODY,
        CSV_BODY.replace(b"\r\n", b"\n"),
        b"name,id\nx,1\n",  # other column order
        b"id\n5\n",  # columns of the schema missing: null
        b"id,name\n 7 ,  padded  \n",  # Arrow and int() both take spaces around a number
        b'id,name\n1,"ab"c\n',  # a quote read leniently
        b"id,name,id\n1,x,2\n",  # repeated names: id0 and id2, so no column id
    ],
)
def test_a_decoded_csv_body_equals_the_general_path(body: bytes) -> None:
    batch = csv_decoder().decode(body)
    assert batch is not None
    assert same_rows(batch, general(parse_csv(body), SCHEMA))


def test_a_decoded_csv_block_with_its_header_equals_the_general_path() -> None:
    header = ("id", "name", "value", "ok")
    data = b'3,"x\ny",2.5,false\n4,z,,true\n'
    batch = csv_decoder().decode(data, header)
    assert batch is not None
    assert same_rows(batch, general(parse_csv(data, header=header), SCHEMA))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"id,name\n",  # no rows
        b"id,name\n1\n",  # a row too short
        b"id,name\n1,x,y\n",  # a row too long
        b"id,name\nx1,a\n",  # not a whole number
        b"id\n0x1f\n",  # hexadecimal: Arrow reads it, int() does not
        b"id\n+1\n",
        b"ok\nyes\n",
        b"ok\ntRue\n",
        b"value\n1_000\n",  # float() reads it, Arrow does not
        b"name\n\xff\n",
        b"id\n99999999999999999999\n",
    ],
)
def test_what_csv_arrow_cannot_decode_exactly_goes_the_general_path(body: bytes) -> None:
    assert csv_decoder().decode(body) is None


def test_csv_numbers_and_booleans_convert_to_the_schema_on_both_paths() -> None:
    body = b"id,value,ok\n1,2.5,true\n-3,1e3,False\n,,\n"
    expected = [
        {"id": 1, "name": None, "value": 2.5, "ok": True},
        {"id": -3, "name": None, "value": 1000.0, "ok": False},
        {"id": None, "name": None, "value": None, "ok": None},
    ]
    batch = csv_decoder().decode(body)
    assert batch is not None and batch.to_pylist() == expected
    assert general(parse_csv(body), SCHEMA).to_pylist() == expected
    odd = b"id,value,ok\n 1_0 ,+.5, tRUE \n"  # only the general path reads these
    assert csv_decoder().decode(odd) is None
    assert general(parse_csv(odd), SCHEMA).to_pylist() == [
        {"id": 10, "name": None, "value": 0.5, "ok": True}
    ]
    with pytest.raises(RestSchemaError, match="field id = \"x\" does not fit"):
        general(parse_csv(b"id\nx\n"), SCHEMA)


@pytest.mark.parametrize(
    ("data_type", "expected"),
    [
        (pa.int64(), True),
        (pa.int8(), True),
        (pa.float64(), True),
        (pa.string(), True),
        (pa.bool_(), True),
        (pa.float32(), False),
        (pa.timestamp("us", tz="UTC"), False),
        (pa.list_(pa.string()), False),
        (pa.struct([pa.field("a", pa.int64())]), False),
    ],
)
def test_csv_decodable_types(data_type: pa.DataType, expected: bool) -> None:
    assert csv_decodable(data_type) is expected


def test_the_decoder_follows_the_format_and_the_schema() -> None:
    arrow_schema = ArrowConverter(NESTED).arrow_schema
    assert isinstance(arrow_decoder("ndjson", None, arrow_schema), NdjsonArrowDecoder)
    assert arrow_decoder("csv", None, arrow_schema) is None  # lists and structs: no CSV
    flat = ArrowConverter(SCHEMA).arrow_schema
    assert isinstance(arrow_decoder("csv", None, flat), CsvArrowDecoder)
    timestamps = ArrowConverter(StructType([StructField("t", TimestampType())])).arrow_schema
    assert arrow_decoder("ndjson", None, timestamps) is None
    assert arrow_decoder("csv", None, timestamps) is None


def test_guards_send_a_body_the_general_path() -> None:
    body = b'{"id":1,"next":2}\n'
    assert ndjson_decoder().decode(body) is not None
    assert ndjson_decoder().guarded((b'"next"',)).decode(body) is None
    assert csv_decoder().guarded((b"zz",)).decode(b"id\nzz\n") is None


VALUE = st.sampled_from(
    ["", "1", "-2", "007", "1.5", "-0.0", "1e3", "nan", "inf", "true", "False", "TRUE", "x",
     "a,b", 'q"q', "l\nf", " 1", "0x1", "+1", "1_0", "é", "NA", "null"]
)


def quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(VALUE, VALUE, VALUE, VALUE), max_size=6),
    schema=st.sampled_from(
        [
            SCHEMA,
            StructType([StructField(n, StringType()) for n in ("id", "name", "value", "ok")]),
            StructType([StructField("id", IntegerType()), StructField("ok", BooleanType())]),
            StructType([StructField("value", DoubleType()), StructField("name", LongType())]),
        ]
    ),
)
def test_csv_straight_to_arrow_gives_the_general_paths_rows(
    rows: list[tuple[str, str, str, str]], schema: StructType
) -> None:
    body = "id,name,value,ok\n" + "".join(",".join(map(quoted, r)) + "\n" for r in rows)
    batch = csv_decoder(schema).decode(body.encode())
    if batch is None:
        return
    assert same_rows(batch, general(parse_csv(body.encode()), schema))


JSON_VALUE = st.sampled_from(
    ['1', '-2', '1.5', '1e400', '"x"', '"1"', 'true', 'null', '[1]', '["a"]', '{"n":1}',
     '{"n":"1"}', 'NaN', '9999999999999999999999']
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from(NESTED.fieldNames()), JSON_VALUE),
            st.sampled_from(["", "  ", "null", "5", "[]", "{oops"]),
        ),
        max_size=6,
    ),
    end=st.sampled_from(["\n", "\r\n"]),
)
def test_ndjson_straight_to_arrow_gives_the_general_paths_rows(
    lines: list[Any], end: str
) -> None:
    text = end.join(
        "{" + ",".join(f'"{k}":{v}' for k, v in line.items()) + "}" if isinstance(line, dict)
        else line
        for line in lines
    )
    body = text.encode()
    batch = ndjson_decoder().decode(body)
    if batch is None:
        return
    assert same_rows(batch, general(parse_ndjson(body), NESTED))
