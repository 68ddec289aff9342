"""Response bodies by `responseFormat`: gzip unpacked, then one JSON document, NDJSON lines or
CSV rows.

- `json`: the body is one JSON document; its records are picked out of it (`recordsPath`).
- `ndjson`, `csv`: the body is the list of records, and that list is the page's document
  (a `recordsPath` can only be `$` or `$[*]`; the option parser refuses any other).

A body that starts with the gzip magic bytes (1f 8b) is gunzipped first, in any format: a
`.gz` download, whatever its `Content-Type` or URL says. A body httpx already unpacked
(`Content-Encoding: gzip`) no longer starts with them, so it is never unpacked twice. A UTF-8
byte order mark at the start of an NDJSON or CSV body is dropped (JSON keeps `orjson`'s rule:
a mark is an error).

`body_blocks` cuts a body that arrives in chunks (a streamed response) into blocks of whole
records, about `max_records` at a time and never much more than `max_bytes`, so that a large
export is decoded block by block in bounded memory.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from rest_stream.decoders.arrow_json import ArrowPageDecoder
from rest_stream.decoders.csv_text import CsvArrowDecoder, CsvHeader, parse_csv, split_header
from rest_stream.decoders.errors import BodyError
from rest_stream.decoders.jsonpath import CompiledPath, extract_records
from rest_stream.decoders.ndjson import NdjsonArrowDecoder, parse_ndjson

FORMATS = ("json", "ndjson", "csv")
#: Formats whose body is a list of records that can be decoded block by block.
LINE_FORMATS = frozenset({"ndjson", "csv"})
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"
#: About how many records one streamed block holds (one Arrow batch each).
BLOCK_RECORDS = 10_000
#: Most bytes of one streamed block (more only when a single record is larger).
BLOCK_BYTES = 16 * 1024 * 1024
#: Most bytes one step of gunzipping produces: a small compressed chunk cannot blow up memory.
_GUNZIP_STEP = 1024 * 1024


class PageDecoder(Protocol):
    """Decodes a plain body (`rest_stream.http.session.plain_body`) straight to an Arrow batch
    of `schema`, or gives None for the general path to read it."""

    schema: pa.Schema

    def decode(self, body: bytes) -> pa.RecordBatch | None: ...

    def guarded(self, patterns: tuple[bytes, ...]) -> PageDecoder: ...


def arrow_decoder(
    response_format: str, records_path: CompiledPath | None, schema: pa.Schema
) -> PageDecoder | None:
    """The decoder straight to Arrow for bodies in `response_format`, when Arrow's reader
    can give exactly the general path's rows for `schema` (and `records_path`)."""
    if response_format == "ndjson":
        return NdjsonArrowDecoder.for_schema(schema)
    if response_format == "csv":
        return CsvArrowDecoder.for_schema(schema)
    return ArrowPageDecoder.for_schema(records_path, schema)


def records_of(document: Any, response_format: str, records_path: CompiledPath | None) -> Any:
    """The records of a page's document: picked by `records_path` from a JSON document; an
    NDJSON or CSV document is the list of records (its `recordsPath` is `$` or `$[*]`)."""
    if response_format == "json":
        return extract_records(document, records_path)
    return document


# --- gzip -------------------------------------------------------------------------------------


def is_gzip(body: bytes) -> bool:
    """Whether `body` starts with the gzip magic bytes."""
    return body[:2] == GZIP_MAGIC


def gunzipped(body: bytes) -> bytes:
    """`body` gunzipped when it is gzip (every member of a multi-member file), else as is;
    `BodyError` for a gzip body that is damaged or cut short."""
    if not is_gzip(body):
        return body
    return b"".join(gunzip_chunks([body]))


def gunzip_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The gunzipped bytes of gzip data arriving in `chunks` (members one after the other;
    zero padding after the last is allowed), at most 1 MiB at a time."""
    inflater = zlib.decompressobj(wbits=31)
    started = ended = False
    for chunk in chunks:
        data = chunk
        while data:
            if ended:  # after a member: another member, or padding
                if not data.strip(b"\0"):
                    break
                inflater, ended = zlib.decompressobj(wbits=31), False
            try:
                out = inflater.decompress(data, _GUNZIP_STEP)
            except zlib.error as exc:
                raise BodyError(f"is not valid gzip ({exc})", data[:200]) from None
            started = True
            if out:
                yield out
            if inflater.eof:
                data, ended = inflater.unused_data, True
            else:
                data = inflater.unconsumed_tail
    if started and not ended:
        raise BodyError("is gzip that ends early (the download was cut short)", b"")


def plain_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The chunks of a body, gunzipped when its first bytes are gzip's."""
    iterator = iter(chunks)
    head = b""
    for chunk in iterator:
        head += chunk
        if len(head) >= 2:
            break
    if is_gzip(head):
        yield from gunzip_chunks(_chained(head, iterator))
    else:
        yield from _chained(head, iterator)


def _chained(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def without_bom(body: bytes) -> bytes:
    """`body` without a UTF-8 byte order mark at its start."""
    return body[3:] if body.startswith(BOM) else body


# --- whole bodies -----------------------------------------------------------------------------


def line_records(body: bytes, response_format: str) -> list[Any]:
    """The records of a whole NDJSON or CSV body (already gunzipped, without a byte order
    mark): JSON values, or rows as dicts of strings (an empty field None). `BodyError` names
    the line at fault."""
    if response_format == "ndjson":
        return parse_ndjson(body)
    if response_format == "csv":
        return parse_csv(body)
    raise ValueError(f"{response_format} is not a line format")


# --- streamed bodies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """Whole records of a streamed body: `data` (without the CSV header) from physical line
    `first_line` (from 1), and the CSV `header` they are read with."""

    data: bytes
    first_line: int
    header: CsvHeader | None = None

    def records(self, response_format: str) -> list[Any]:
        """The block's records by the general path (`BodyError` names the line at fault)."""
        if response_format == "ndjson":
            return parse_ndjson(self.data, self.first_line)
        return parse_csv(self.data, header=self.header, first_line=self.first_line)

    def batch(self, decoder: PageDecoder) -> pa.RecordBatch | None:
        """The block's records straight to Arrow by `decoder`, or None for the general path."""
        if isinstance(decoder, CsvArrowDecoder):
            return decoder.decode(self.data, self.header)
        return decoder.decode(self.data)


def body_blocks(
    chunks: Iterable[bytes],
    response_format: str,
    *,
    max_records: int = BLOCK_RECORDS,
    max_bytes: int = BLOCK_BYTES,
) -> Iterator[Block]:
    """The blocks of whole records of an NDJSON or CSV body arriving in `chunks` (gunzipped
    here when it is gzip): about `max_records` each.

    A block ends at a line feed; in CSV only at one outside quotes (an even number of `"`
    since the block began, as in RFC 4180, where a quote inside a field is doubled). The CSV
    header row is read first and given to every block.
    """
    csv = response_format == "csv"
    count = _line_breaks if csv else _line_feeds
    buffer = bytearray()
    header: CsvHeader | None = None
    first_line = 1
    lines = 0  # line feeds in `buffer`
    trigger = max_bytes
    for chunk in _without_bom_chunks(plain_chunks(chunks)):
        buffer += chunk
        lines += chunk.count(b"\n")
        if csv and header is None:
            found = split_header(bytes(buffer), complete=False)
            if found is None:
                continue
            header, consumed = found
            first_line += count(buffer[:consumed])
            del buffer[:consumed]
            lines = buffer.count(b"\n")
        while lines >= max_records or len(buffer) >= trigger:
            cut = _boundary(buffer, csv, lines, max_records)
            if cut is None:  # one record longer than the buffer: read on
                trigger = len(buffer) * 2
                break
            trigger = max_bytes
            block = bytes(buffer[:cut])
            del buffer[:cut]
            lines = buffer.count(b"\n")
            yield Block(block, first_line, header)
            first_line += count(block)
    if csv and header is None:
        found = split_header(bytes(buffer), complete=True)
        if found is None:
            return  # no header: no records
        header, consumed = found
        first_line += count(buffer[:consumed])
        del buffer[:consumed]
    if buffer.strip(b" \t\r\n"):
        yield Block(bytes(buffer), first_line, header)


def _without_bom_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """`chunks` without a UTF-8 byte order mark at the start."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= len(BOM) or not BOM.startswith(head):
            break
    yield from _chained(without_bom(head), chunks)


def _boundary(buffer: bytearray, csv: bool, lines: int, records: int) -> int | None:
    """Where a block of about `records` records of `buffer` (holding `lines` line feeds)
    ends: just after a line feed (outside quotes in CSV); None when there is none."""
    if lines > records:  # the `records`-th line feed
        found = _lines(records).match(buffer)
        assert found is not None
        end = found.end() - 1
    else:
        end = buffer.rfind(b"\n")
    if not csv or end < 0:
        return None if end < 0 else end + 1
    quotes = buffer.count(b'"', 0, end)
    while end >= 0:
        if quotes % 2 == 0:
            return end + 1
        before = buffer.rfind(b"\n", 0, end)
        quotes -= buffer.count(b'"', before + 1, end)
        end = before
    return None


@functools.lru_cache(maxsize=8)
def _lines(count: int) -> re.Pattern[bytes]:
    """Matches the first `count` lines (each up to its line feed)."""
    return re.compile(rb"(?:[^\n]*\n){%d}" % count)


def _line_breaks(data: bytes | bytearray) -> int:
    """Line breaks in `data`: `\\r\\n`, `\\n` or a lone `\\r` (as Python's csv counts lines)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _line_feeds(data: bytes | bytearray) -> int:
    """Lines feeds in `data` (NDJSON's line breaks)."""
    return data.count(b"\n")


def first_records(blocks: Iterable[Block], response_format: str, limit: int) -> Sequence[Any]:
    """The records of the first blocks, up to about `limit` (schema inference samples)."""
    records: list[Any] = []
    for block in blocks:
        records += block.records(response_format)
        if len(records) >= limit:
            break
    return records


__all__ = [
    "BLOCK_BYTES",
    "BLOCK_RECORDS",
    "BOM",
    "FORMATS",
    "GZIP_MAGIC",
    "LINE_FORMATS",
    "Block",
    "BodyError",
    "PageDecoder",
    "arrow_decoder",
    "body_blocks",
    "first_records",
    "gunzip_chunks",
    "gunzipped",
    "is_gzip",
    "line_records",
    "plain_chunks",
    "records_of",
    "without_bom",
]
