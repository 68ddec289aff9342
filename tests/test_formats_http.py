"""Body formats over HTTP (pytest-httpx): pages in each format, gzip however it is announced,
bodies streamed block by block, and what each read path makes of them."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType
from pytest_httpx import HTTPXMock

from rest_stream.decoders import csv_text, ndjson
from rest_stream.driver.sampling import sample_schema
from rest_stream.driver.stream_list import parent_rows
from rest_stream.errors import (
    RestConnectionError,
    RestHTTPError,
    RestResponseError,
    RestSchemaError,
)
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.http.pages import PageFetcher
from rest_stream.http.ratelimit import clear_budgets
from rest_stream.http.request import RequestSpec
from rest_stream.http.session import HttpSession, parse_json
from rest_stream.options.parse import RestOptions, parse_options
from rest_stream.partitions import CarriedPage, PagesUnit, RowsPartition, WorkPartition
from rest_stream.positions import IncrementalOffset, Step, offset_kind

URL = "https://api.test/export"
NDJSON = b'{"id":1,"name":"a"}\n\n{"id":2,"name":"b"}\r\n{"id":3}\n'
CSV = b'id,name\r\n1,a\r\n2,"b, ""B""\nbee"\r\n3,\r\n\r\n'
SCHEMA = StructType([StructField("id", LongType()), StructField("name", StringType())])


@pytest.fixture(autouse=True)
def fresh_budgets() -> Iterator[None]:
    clear_budgets()
    yield
    clear_budgets()


def options(**raw: str) -> RestOptions:
    return parse_options({"url": URL, "retryBackoffSeconds": "0", **raw})


def on_the_wire(
    httpx_mock: HTTPXMock, url: str, content: bytes, headers: dict[str, str] | None = None
) -> None:
    """Answer `url` with `content` as a server sends it: with `Content-Encoding: gzip` the
    bytes are the packed ones, for httpx to unpack (pytest-httpx's `add_response` would give
    httpx bytes it takes as already unpacked)."""
    httpx_mock.add_callback(
        lambda request: httpx.Response(200, headers=headers, stream=httpx.ByteStream(content)),
        url=url,
    )


def fetch(raw: dict[str, str], url: str = URL) -> Any:
    with PageFetcher(options(**raw)) as fetcher:
        return fetcher.fetch(RequestSpec("GET", url))


def read_all(opts: RestOptions, partition: Any, schema: StructType = SCHEMA) -> list[dict]:
    reader = PartitionReader(opts, schema)
    return [row for batch in reader.read(partition) for row in batch.to_pylist()]


# --- pages in each format ---------------------------------------------------------------------


def test_an_ndjson_page_is_its_lines(httpx_mock: HTTPXMock) -> None:
    on_the_wire(httpx_mock, URL, NDJSON, {"Content-Type": "application/x-ndjson"})
    page = fetch({"responseFormat": "ndjson"})
    assert page.records == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3}]
    assert page.document == page.records


def test_a_csv_page_is_its_rows_as_strings(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=CSV, headers={"Content-Type": "text/csv"})
    page = fetch({"responseFormat": "csv", "recordsPath": "$[*]"})
    assert page.records == [
        {"id": "1", "name": "a"},
        {"id": "2", "name": 'b, "B"\nbee'},
        {"id": "3", "name": None},
    ]


def test_a_bad_ndjson_line_names_the_line_and_the_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL + "?key=s3cr3t-k", content=b'{"id":1}\n{"id":\n{"id":3}\n')
    raw = {"responseFormat": "ndjson", "authType": "apikey", "apiKey": "s3cr3t-k"}
    raw["apiKeyParam"] = "key"
    with pytest.raises(RestResponseError) as info:
        fetch(raw)
    message = str(info.value)
    assert "(HTTP 200) is not valid NDJSON: line 2 does not parse" in message
    assert "api.test/export?key=***" in message
    assert "s3cr3t-k" not in message and info.value.status == 200


def test_a_ragged_csv_row_names_its_line_and_the_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=b"a,b\n1,2\n3,4,5\n")
    expected = r"export \(HTTP 200\) has a row of 3 fields at line 3"
    with pytest.raises(RestResponseError, match=expected):
        fetch({"responseFormat": "csv"})


# --- gzip, however it is announced ------------------------------------------------------------

GZIP_CASES = {
    "content-encoding": ({"Content-Encoding": "gzip"}, URL),  # httpx unpacks it
    "content-type": ({"Content-Type": "application/gzip"}, URL),
    "x-gzip": ({"Content-Type": "application/x-gzip"}, URL),
    "url": ({"Content-Type": "application/octet-stream"}, URL + ".ndjson.gz"),
    "magic-only": ({}, URL),
    "both": ({"Content-Type": "application/gzip", "Content-Encoding": "gzip"}, URL + ".gz"),
}


@pytest.mark.parametrize("case", list(GZIP_CASES))
@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_a_gzip_body_is_read_transparently(httpx_mock: HTTPXMock, case: str, fmt: str) -> None:
    headers, url = GZIP_CASES[case]
    body = {"json": orjson.dumps([{"id": 1}, {"id": 2}]), "ndjson": NDJSON, "csv": CSV}[fmt]
    packed = gzip.compress(body)
    if case == "both":  # a .gz file served with Content-Encoding: packed twice on the wire
        packed = gzip.compress(packed)
    on_the_wire(httpx_mock, url, packed, headers)
    page = fetch({"responseFormat": fmt}, url)
    assert [r["id"] for r in page.records][:2] in ([1, 2], ["1", "2"])


def test_content_encoding_gzip_is_undone_by_httpx(httpx_mock: HTTPXMock) -> None:
    on_the_wire(httpx_mock, URL, gzip.compress(NDJSON), {"Content-Encoding": "gzip"})
    with HttpSession(options()) as http:
        response = http.fetch(RequestSpec("GET", URL))
    assert response.content == NDJSON
    assert parse_json(response, options(responseFormat="ndjson"))[0] == {"id": 1, "name": "a"}


def test_a_damaged_gzip_body_names_the_url(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=gzip.compress(NDJSON)[:-20])
    with pytest.raises(RestResponseError, match="export .HTTP 200. is gzip that ends early"):
        fetch({"responseFormat": "ndjson"})


# --- JSON responses whatever the format: the probe and the parent list -------------------------


def test_the_parent_list_is_json_whatever_the_format(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="https://api.test/parents", json={"rows": [{"r": "eu"}]})
    opts = options(
        responseFormat="csv",
        inputDataUrl="https://api.test/parents",
        inputDataPath="$.rows[*]",
    )
    with PageFetcher(opts) as fetcher:
        assert parent_rows(opts, fetcher) == [{"r": "eu"}]


# --- streamed bodies --------------------------------------------------------------------------


def ndjson_export(count: int) -> bytes:
    return b"".join(b'{"id":%d,"name":"n%d"}\n' % (i, i) for i in range(count))


def test_a_streamed_body_comes_in_blocks(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=gzip.compress(ndjson_export(2500)))
    fetcher = PageFetcher(options(responseFormat="ndjson"))
    with fetcher, fetcher.stream(RequestSpec("GET", URL)) as body:
        pages = list(body.pages(max_records=1000))
    assert [len(p.records) for p in pages] == [1000, 1000, 500]  # one chunk of 2500 lines
    assert pages[2].records[-1] == {"id": 2499, "name": "n2499"}
    assert pages[0].source == URL


def test_a_streamed_request_is_retried_and_an_error_shows_its_body(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=URL, status_code=503, content=b"busy")
    httpx_mock.add_response(url=URL, content=ndjson_export(3))
    httpx_mock.add_response(url=URL + "?x=1", status_code=404, content=b"no such export")
    with PageFetcher(options(responseFormat="ndjson")) as fetcher:
        with fetcher.stream(RequestSpec("GET", URL)) as body:
            assert len(next(body.pages()).records) == 3
        with pytest.raises(RestHTTPError, match="HTTP 404 .*'no such export'"):
            fetcher.stream(RequestSpec("GET", URL + "?x=1"))


class _BrokenStream(httpx.SyncByteStream):
    def __iter__(self) -> Iterator[bytes]:
        yield ndjson_export(5)
        raise httpx.ReadError("connection reset")


def test_a_body_that_breaks_off_is_a_connection_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_callback(lambda request: httpx.Response(200, stream=_BrokenStream()), url=URL)
    fetcher = PageFetcher(options(responseFormat="ndjson"))
    read: list[Any] = []
    with fetcher, fetcher.stream(RequestSpec("GET", URL)) as body:  # noqa: SIM117
        with pytest.raises(RestConnectionError) as info:
            for page in body.pages(max_records=2):
                read += page.records
    assert 0 < len(read) < 5
    assert f"the body broke off after {len(read)} records (ReadError" in str(info.value)


# --- what the read paths make of them ---------------------------------------------------------


@pytest.fixture
def arrow_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each call of the NDJSON or CSV decoder decoded its body."""
    calls: list[bool] = []
    for cls in (ndjson.NdjsonArrowDecoder, csv_text.CsvArrowDecoder):
        original = cls.decode

        def spy(self: Any, body: bytes, *args: Any, _original: Any = original) -> Any:
            result = _original(self, body, *args)
            calls.append(result is not None)
            return result

        monkeypatch.setattr(cls, "decode", spy)
    return calls


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_input_rows_stream_their_bodies_the_same_by_both_paths(
    httpx_mock: HTTPXMock, arrow_calls: list[bool], fmt: str
) -> None:
    def body(region: str, count: int, misfit: bool = False) -> bytes:
        ids = [f'"x{i}"' if misfit and i == 1 else str(i) for i in range(count)]
        if fmt == "ndjson":
            return "".join(f'{{"id":{i},"name":"{region}"}}\n' for i in ids).encode()
        return ("id,name\n" + "".join(f"{i.strip(chr(34))},{region}\n" for i in ids)).encode()

    httpx_mock.add_response(url=URL + "?region=eu", content=gzip.compress(body("eu", 3)))
    httpx_mock.add_response(url=URL + "?region=us", content=body("us", 2, misfit=True))
    opts = options(responseFormat=fmt, onTypeMismatch="null", includeInputsInOutput="true")
    inputs = StructType([StructField("region", StringType())])
    schema = StructType([*SCHEMA.fields, StructField("_input", inputs)])
    rows = read_all(opts, RowsPartition(({"region": "eu"}, {"region": "us"})), schema)
    assert rows == [
        {"id": 0, "name": "eu", "_input": {"region": "eu"}},
        {"id": 1, "name": "eu", "_input": {"region": "eu"}},
        {"id": 2, "name": "eu", "_input": {"region": "eu"}},
        {"id": 0, "name": "us", "_input": {"region": "us"}},
        {"id": None, "name": "us", "_input": {"region": "us"}},  # "x1" is no whole number
    ]
    assert arrow_calls == [True, False]  # the misfit block took the general path


def test_carried_gzip_pages_are_read(arrow_calls: list[bool]) -> None:
    opts = options(responseFormat="csv", offsetType="link", onTypeMismatch="null")
    pages = (
        CarriedPage(gzip.compress(b"id,name\n1,a\n2,b\n3,c\n"), URL, 200, 1, 3),
        CarriedPage(b"\xef\xbb\xbfid,name\nx,y\n", URL, 200, 0, 1),  # the general path
    )
    rows = read_all(opts, WorkPartition((PagesUnit("s", {}, pages),)), SCHEMA)
    assert rows == [{"id": 2, "name": "b"}, {"id": 3, "name": "c"}, {"id": None, "name": "y"}]
    assert arrow_calls == [True, False]


def test_schema_inference_reads_the_first_block_only(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=b"id,when,n\n1,2024-01-01,\n2,,5\n")
    csv = sample_schema(options(responseFormat="csv"))
    assert [(f.name, f.dataType.simpleString()) for f in csv.fields] == [
        ("id", "string"),
        ("when", "string"),
        ("n", "string"),
    ]
    httpx_mock.add_response(url=URL, content=ndjson_export(30_000))
    inferred = sample_schema(options(responseFormat="ndjson"))
    assert inferred == SCHEMA


def test_a_misfit_csv_value_names_its_record(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=b"id,name\n1,a\nlots,b\n")
    with pytest.raises(RestSchemaError, match=r"Record 1 of https://api.test/export: field id"):
        read_all(options(responseFormat="csv"), RowsPartition(({},)))


def test_batches_are_arrow_of_the_schema(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, content=NDJSON)
    reader = PartitionReader(options(responseFormat="ndjson"), SCHEMA)
    batches = list(reader.read(RowsPartition(({},))))
    assert batches and all(b.schema == reader.converter.arrow_schema for b in batches)


# --- offsets from the records or the headers --------------------------------------------------


def test_an_ndjson_cursor_can_be_the_last_records_id(httpx_mock: HTTPXMock) -> None:
    on_the_wire(httpx_mock, URL + "?after=", b'{"id":7}\n{"id":9}\n')
    opts = options(
        url=URL + "?after={after}",
        responseFormat="ndjson",
        offsetType="cursor",
        offsetField="after",
        offsetPath="$[-1].id",
    )
    kind = offset_kind(opts)
    with PageFetcher(opts) as fetcher:
        page = fetcher.fetch(kind.request({}, kind.initial()))
    assert kind.step(kind.initial(), page, None) == Step(0, 2, {"cursor": 9, "skip": 0}, False)


def test_csv_pages_follow_the_link_header_and_a_cursor_header(httpx_mock: HTTPXMock) -> None:
    following = URL + "?page=2"
    on_the_wire(httpx_mock, URL, CSV, {"Link": f'<{following}>; rel="next"', "X-Next": "c2"})
    on_the_wire(httpx_mock, URL + "?c=", CSV, {"X-Next": "c2"})
    link = offset_kind(options(responseFormat="csv", offsetType="link"))
    cursor_options = options(
        url=URL + "?c={c}", responseFormat="csv", offsetType="cursor", offsetField="c",
        offsetHeader="X-Next",
    )
    cursor = offset_kind(cursor_options)
    with PageFetcher(options(responseFormat="csv")) as fetcher:
        page = fetcher.fetch(link.request({}, link.initial()))
    assert link.step(link.initial(), page, None).next == {"cursor": following, "skip": 0}
    with PageFetcher(cursor_options) as fetcher:
        page = fetcher.fetch(cursor.request({}, cursor.initial()))
    step = cursor.step(cursor.initial(), page, None)
    assert step == Step(0, 3, {"cursor": "c2", "skip": 0}, False)


def test_csv_ids_advance_an_incremental_range(httpx_mock: HTTPXMock) -> None:
    on_the_wire(httpx_mock, URL + "?since=5", b"id,name\n5,a\n6,b\n8,c\n")
    opts = options(
        url=URL + "?since={since}", responseFormat="csv", offsetType="incremental",
        offsetField="since",
    )
    kind = offset_kind(opts)
    assert isinstance(kind, IncrementalOffset)
    with PageFetcher(opts) as fetcher:
        page = fetcher.fetch(kind.request({}, 5))
    assert kind.record_ids(page) == [5, 6, 8]
