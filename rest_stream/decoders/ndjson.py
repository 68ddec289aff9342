"""NDJSON (JSON Lines): one JSON value per line, blank lines skipped.

The general path parses each line with `orjson`; a body of lines is read exactly as the JSON
array of those values would be (an object is a record, any other value a record
`{"value": ...}`). `NdjsonArrowDecoder` reads a body straight to Arrow with Arrow's JSON
reader, which reads newline-delimited JSON natively, and only where that gives the same rows:
every line an object, one object per line, values of the schema's types, valid UTF-8, no
NaN or Infinity; any other body takes the general path (same rows, or the same error).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from rest_stream.decoders.arrow_json import _LENIENT, _utf8, decodable
from rest_stream.decoders.errors import BodyError

#: JSON's whitespace other than the line feed: a line of only these is blank.
_SPACE = b" \t\r"
#: A blank line after the first: a line feed, JSON whitespace, then another line feed. (Each
#: pattern here starts with a line feed, which the regex engine finds as fast as `find`.)
_BLANK = re.compile(rb"\n[ \t\r]*(?=\n)")
#: A line after the first that does not start with an object. Arrow reads a `null` line as a
#: record of nulls (and crashes on a body that starts with one): such bodies take the
#: general path.
_NOT_AN_OBJECT = re.compile(rb"\n[ \t\r]*[^{ \t\r\n]")


def parse_ndjson(body: bytes, first_line: int = 1) -> list[Any]:
    """Every JSON value of `body`, one per line (`first_line` numbers the first, for
    messages); `BodyError` names the first line that is not JSON."""
    records = []
    loads = orjson.loads
    for number, line in enumerate(body.split(b"\n"), first_line):
        try:
            records.append(loads(line))
        except orjson.JSONDecodeError as exc:
            if not line.strip(_SPACE):
                continue  # a blank line (checked only here: most lines parse)
            shown = line[:200].decode("utf-8", "replace")
            raise BodyError(
                f"is not valid NDJSON: line {number} does not parse ({exc.msg} at character "
                f"{exc.pos + 1}: {shown!r})",
                line[:200],
            ) from None
    return records


def content_lines(body: bytes) -> int:
    """How many lines of `body` are not blank."""
    first, last = body.find(b"\n"), body.rfind(b"\n")
    if first < 0:
        return 1 if body.strip(_SPACE) else 0
    blank = len(_BLANK.findall(body))
    blank += not body[:first].strip(_SPACE)
    blank += not body[last + 1 :].strip(_SPACE)
    return body.count(b"\n") + 1 - blank


def _objects_only(body: bytes) -> bool:
    """Whether every line of `body` that is not blank starts with `{`."""
    start = body.lstrip(b" \t\r\n")
    return (not start or start[:1] == b"{") and _NOT_AN_OBJECT.search(body) is None


class NdjsonArrowDecoder:
    """Decodes an NDJSON body to a batch of `schema`, or None when the general path must."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.guards: tuple[bytes, ...] = _LENIENT
        self._parse = pa_json.ParseOptions(
            explicit_schema=schema,
            unexpected_field_behavior="ignore",
            newlines_in_values=False,
        )

    @classmethod
    def for_schema(cls, schema: pa.Schema) -> NdjsonArrowDecoder | None:
        """A decoder when every field of `schema` can be decoded exactly."""
        if len(schema) == 0 or not all(decodable(field.type) for field in schema):
            return None
        return cls(schema)

    def guarded(self, patterns: tuple[bytes, ...]) -> NdjsonArrowDecoder:
        """This decoder, also leaving to the general path any body that holds `patterns`."""
        if not patterns:
            return self
        other = copy.copy(self)
        other.guards = self.guards + patterns
        return other

    def decode(self, body: bytes) -> pa.RecordBatch | None:
        """The records of `body` as one batch, or None for the general path to handle."""
        lines = content_lines(body)
        if lines == 0 or any(pattern in body for pattern in self.guards):
            return None
        if not _utf8(body) or not _objects_only(body):
            return None
        try:
            table = pa_json.read_json(
                pa.BufferReader(body),  # type: ignore[arg-type]
                read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 64),
                parse_options=self._parse,
            )
        except (pa.ArrowException, ValueError):
            return None
        if table.num_rows != lines:  # two values on a line, or one spread over several
            return None
        return table.combine_chunks().to_batches()[0]
