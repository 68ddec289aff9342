"""CSV (RFC 4180) with a header row: every other row is a record, a dict of strings.

The general path reads rows with Python's `csv` module (the `excel` dialect: `,` between
fields, `"` around them, `""` for a quote inside one; quoted commas, quotes and line breaks
are kept; quotes are read leniently, as Arrow and Spark do: `"ab"c` is `abc`). An empty
field, quoted or not, is None, so a column of another type reads it as null. Empty lines
are skipped. A row with more or fewer fields than the header is an error naming its line.
Header names are used as they are, but for two cases Spark's CSV reader handles the same
way: an empty name becomes `_c<i>` and a name given twice `<name><i>` (i its 0-based column).

`CsvArrowDecoder` reads a body straight to Arrow with Arrow's CSV reader, with the column
types of the schema, where that gives the same rows: columns of whole numbers, doubles,
strings and booleans (`true`/`false` in lower, title or upper case), valid UTF-8; any row or
value Arrow does not convert takes the general path (same rows, or the same error).
"""

from __future__ import annotations

import copy
import csv
import io
import re
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv

from rest_stream.decoders.arrow_json import _utf8
from rest_stream.decoders.errors import BodyError

#: The names of a CSV's columns, made unique (see the module doc).
CsvHeader = tuple[str, ...]

#: A field's text can be longer than `csv`'s default limit (128 KiB): any field is read.
csv.field_size_limit(2**31 - 1)

_LINE_BREAK = re.compile(rb"[\r\n]")
_TRUE = ["true", "True", "TRUE"]
_FALSE = ["false", "False", "FALSE"]


def record_end(data: bytes, start: int = 0) -> int | None:
    """Where the CSV record starting at `start` ends: the index of the first line break
    after it that is outside quotes (an even number of `"` since `start`), or None."""
    position, quotes = start, 0
    while True:
        found = _LINE_BREAK.search(data, position)
        if found is None:
            return None
        quotes += data.count(b'"', position, found.start())
        if quotes % 2 == 0:
            return found.start()
        position = found.end()


def split_header(body: bytes, *, complete: bool = True) -> tuple[CsvHeader, int] | None:
    """The header of a CSV body and how many bytes it takes (with the empty lines before it
    and its line break); None when the body has none yet (`complete=False`: more may come)
    or at all (only empty lines)."""
    start = len(body) - len(body.lstrip(b"\r\n"))
    if start == len(body):
        return None
    end = record_end(body, start)
    if end is None:
        if not complete:
            return None
        return header_names(body[start:]), len(body)
    after = end + 1
    if body[end : end + 1] == b"\r":
        if after == len(body) and not complete:
            return None  # a `\n` may follow in the next chunk
        if body[after : after + 1] == b"\n":
            after += 1
    return header_names(body[start:end]), after


def header_names(line: bytes) -> CsvHeader:
    """The column names of a header row, made unique as Spark's CSV reader does."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("has a header row that is not valid UTF-8", line[:200]) from None
    names = next(csv.reader([text], strict=False), [])
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return tuple(
        f"_c{i}" if name == "" else f"{name}{i}" if counts[name] > 1 else name
        for i, name in enumerate(names)
    )


def _line_breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def parse_csv(
    body: bytes, *, header: CsvHeader | None = None, first_line: int = 1
) -> list[dict[str, str | None]]:
    """The records of a CSV body: with `header`, every row of `body` is one (a block after
    the header); else its first row is the header. `first_line` numbers the first line of
    `body` for messages."""
    if header is None:
        found = split_header(body)
        if found is None:
            return []
        header, consumed = found
        first_line += _line_breaks(body[:consumed])
        body = body[consumed:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = first_line + _line_breaks(body[: exc.start])
        excerpt = body[exc.start : exc.start + 200]
        raise BodyError(f"is not valid UTF-8 at line {line}", excerpt) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    width = len(header)
    records: list[dict[str, str | None]] = []
    before = 0
    for row in reader:
        if row and len(row) != width:
            line = first_line + before
            shown = ",".join(row)[:200]
            raise BodyError(
                f"has a row of {len(row)} field{'' if len(row) == 1 else 's'} at line {line}, "
                f"but its header names {width} columns ({shown!r})",
                shown.encode(),
            )
        before = reader.line_num
        if row:
            records.append({name: value or None for name, value in zip(header, row)})
    return records


def csv_decodable(data_type: pa.DataType) -> bool:
    """Whether Arrow's CSV reader converts text to `data_type` exactly as the general path
    does: whole numbers, doubles, strings and booleans."""
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_float64(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_boolean(data_type)
    )


class CsvArrowDecoder:
    """Decodes a CSV body to a batch of `schema`, or None when the general path must."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        #: Arrow reads `0x1f` as a whole number; Python's `int` (the general path) does not.
        hexadecimal = any(pa.types.is_integer(f.type) for f in schema)
        self.guards: tuple[bytes, ...] = (b"0x", b"0X") if hexadecimal else ()

    @classmethod
    def for_schema(cls, schema: pa.Schema) -> CsvArrowDecoder | None:
        """A decoder when every field of `schema` can be decoded exactly."""
        if len(schema) == 0 or not all(csv_decodable(field.type) for field in schema):
            return None
        return cls(schema)

    def guarded(self, patterns: tuple[bytes, ...]) -> CsvArrowDecoder:
        """This decoder, also leaving to the general path any body that holds `patterns`."""
        if not patterns:
            return self
        other = copy.copy(self)
        other.guards = self.guards + patterns
        return other

    def decode(self, body: bytes, header: CsvHeader | None = None) -> pa.RecordBatch | None:
        """The records of `body` as one batch (with `header`: every row of `body` is a
        record), or None for the general path to handle."""
        if any(pattern in body for pattern in self.guards) or not _utf8(body):
            return None
        if header is None:
            found = split_header(body)
            if found is None:
                return None
            header, consumed = found
            body = body[consumed:]
        if not body.strip(b"\r\n"):
            return None  # no rows: the general path makes an empty list of them at once
        wanted = [f for f in self.schema if f.name in header]
        try:
            table = pa_csv.read_csv(
                pa.BufferReader(body),  # type: ignore[arg-type]
                read_options=pa_csv.ReadOptions(
                    column_names=list(header), use_threads=False, block_size=len(body) + 64
                ),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types={f.name: f.type for f in wanted},
                    include_columns=[f.name for f in wanted],
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    true_values=_TRUE,
                    false_values=_FALSE,
                ),
            )
        except (pa.ArrowException, ValueError):
            return None
        rows = table.num_rows
        columns: list[Any] = [
            table.column(f.name).combine_chunks() if f.name in header else pa.nulls(rows, f.type)
            for f in self.schema
        ]
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)
