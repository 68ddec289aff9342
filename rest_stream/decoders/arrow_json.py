"""Pages decoded from JSON bytes straight to Arrow, for reads that need only the records.

Arrow's C++ JSON reader turns a page of records into a `RecordBatch` in about half the time of
`orjson` plus record-by-record conversion (`python -m benchmarks.diagnostics.profile`). It is
used only where its result is exactly what the general path (`orjson` → records → `ArrowConverter`)
gives. A page it cannot decode exactly — a value of another type than the schema's, a record
that is not an object, a missing or null records field (which the general path refuses), NaN,
Infinity or a byte order mark (which `orjson` rejects) and, when the read rescues them, a
field the schema does not have — goes the general path, which gives the same rows or the
same error.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

import pyarrow as pa
import pyarrow.json as pa_json

from rest_stream.decoders.jsonpath import ERROR_MEMBERS, CompiledPath

#: Wrapper key for a response that is itself the array of records.
_ROOT = "records"
#: Byte patterns Arrow's reader accepts but `orjson` (the general path) rejects.
_LENIENT = (b"NaN", b"Infinity")
#: The first byte that is not JSON whitespace.
_FIRST_BYTE = re.compile(rb"[^ \t\r\n]")


def decodable(data_type: pa.DataType) -> bool:
    """Whether Arrow's JSON reader converts values of `data_type` exactly as the general path
    does: whole numbers, doubles, strings, booleans, and lists and structs of them."""
    if pa.types.is_struct(data_type):
        return all(decodable(data_type.field(i).type) for i in range(data_type.num_fields))
    if pa.types.is_list(data_type):
        return decodable(data_type.value_type)
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_float64(data_type)
        or pa.types.is_string(data_type)
        or pa.types.is_boolean(data_type)
    )


#: A response object whose members before its first array are scalars or flat objects (no
#: escapes, no arrays), up to that array: group 1 is its key. Without `recordsPath` the
#: general path takes the first array at the top level, so such a body names its records
#: field before any of it is parsed; any other body takes the general path.
_SCALAR = rb'(?:"[^"\\]*"|-?[0-9][0-9.eE+-]*|true|false|null)'
_FLAT_OBJECT = rb'\{(?:[^\[\]{}"\\]|"[^"\\]*")*\}'
_MEMBER = rb'\s*"[^"\\]*"\s*:\s*(?:' + _SCALAR + rb"|" + _FLAT_OBJECT + rb")\s*,"
_FIRST_ARRAY = re.compile(rb'\s*\{(?:' + _MEMBER + rb')*\s*"([^"\\]*)"\s*:\s*\[')


def _parse_options(
    steps: tuple[str, ...], schema: pa.Schema, exact_fields: bool
) -> pa_json.ParseOptions:
    """Arrow's JSON parse options for records at `steps` (field names) of a response. With
    `exact_fields`, fields the schema does not have are read too (so that they can be seen),
    else skipped."""
    record_type: pa.DataType = pa.list_(pa.struct(list(schema)))
    for step in reversed(steps[1:]):
        record_type = pa.struct([pa.field(step, record_type)])
    return pa_json.ParseOptions(
        explicit_schema=pa.schema([pa.field(steps[0], record_type)]),
        unexpected_field_behavior="infer" if exact_fields else "ignore",
        newlines_in_values=True,
    )


class ArrowPageDecoder:
    """Decodes a response body to a batch of `schema`, or None when the general path must.

    With a plain `recordsPath` the records are at its fields; with `$` or `$[*]` the response
    must be an array; with none, an array response or an object whose first array can be
    told from its first bytes (`_FIRST_ARRAY`). With `exact_fields` (a read that rescues
    what the schema does not have), a page whose records hold a field the schema lacks, at
    any depth, goes the general path too.
    """

    def __init__(
        self, records_path: CompiledPath | None, schema: pa.Schema, *, exact_fields: bool = False
    ) -> None:
        steps = () if records_path is None else records_path.steps
        if steps is None:
            raise ValueError(f"recordsPath {records_path} is not a plain chain of fields")
        self.schema = schema
        self.exact_fields = exact_fields
        self._struct = pa.struct(list(schema))
        self.guards: tuple[bytes, ...] = _LENIENT
        self._steps = steps
        self._first_array = records_path is None  # the default path: the first array
        self._parse: dict[tuple[str, ...], pa_json.ParseOptions] = {}

    @classmethod
    def for_schema(
        cls, records_path: CompiledPath | None, schema: pa.Schema, *, exact_fields: bool = False
    ) -> ArrowPageDecoder | None:
        """A decoder when `records_path` and every field of `schema` can be decoded exactly."""
        if records_path is not None and records_path.steps is None:
            return None
        if len(schema) == 0 or not all(decodable(field.type) for field in schema):
            return None
        return cls(records_path, schema, exact_fields=exact_fields)

    def guarded(self, patterns: tuple[bytes, ...]) -> ArrowPageDecoder:
        """This decoder, also leaving to the general path any body that holds `patterns`."""
        if not patterns:
            return self
        other = copy.copy(self)
        other.guards = self.guards + patterns
        return other

    def decode(self, body: bytes) -> pa.RecordBatch | None:
        """The records of `body` as one batch, or None for the general path to handle."""
        first = _FIRST_BYTE.search(body)
        start = first.group() if first else b""  # a byte order mark is neither: general path
        if start == b"[" and not self._steps:  # the response is the array of records
            steps: tuple[str, ...] = (_ROOT,)
            body = b'{"' + _ROOT.encode() + b'":' + body + b"}"
        elif start == b"{" and self._steps:
            steps = self._steps
        elif start == b"{" and self._first_array:
            found = _FIRST_ARRAY.match(body)
            if found is None:
                return None
            steps = (found.group(1).decode("utf-8", "replace"),)
            if steps[0] in ERROR_MEMBERS:  # never the records: the general path decides
                return None
        else:
            return None
        if any(holds(body, pattern) for pattern in self.guards) or not _utf8(body):
            return None
        parse = self._parse.get(steps)
        if parse is None:
            parse = self._parse[steps] = _parse_options(steps, self.schema, self.exact_fields)
        try:
            table = pa_json.read_json(
                # pyarrow-stubs types input_file as a path or IO; pyarrow takes any NativeFile.
                pa.BufferReader(body),  # type: ignore[arg-type]
                read_options=pa_json.ReadOptions(use_threads=False, block_size=len(body) + 64),
                parse_options=parse,
            )
        except (pa.ArrowException, ValueError):
            return None
        if table.num_rows != 1:  # several JSON documents in one body: not valid JSON
            return None
        column: Any = table.column(steps[0]).chunk(0)
        for step in steps[1:]:
            if column.null_count:
                return None
            column = column.field(step)
        if column.null_count:  # the records field is missing or null
            return None
        records = column.flatten()
        if records.null_count:  # a null record: the general path decides what it means
            return None
        if self.exact_fields and records.type != self._struct:  # a field the schema lacks
            return None
        return pa.RecordBatch.from_struct_array(records)


#: Past this many places of a pattern's anchor byte, `holds` searches the whole pattern.
_ANCHOR_TRIES = 16


def holds(body: bytes, pattern: bytes) -> bool:
    """`pattern in body`, found from its first capital letter where it has one (`N` of
    `NaN`): `bytes.find` of a single byte (memchr) skips ahead far faster than a search
    for the whole pattern (about 5 against 60 µs for a 75 KB page), and capitals are rare
    in JSON. Bodies with many of them are searched the plain way."""
    anchor = next((k for k, byte in enumerate(pattern) if 65 <= byte <= 90), None)
    if anchor is None:
        return pattern in body
    letter, start = pattern[anchor : anchor + 1], anchor
    for _ in range(_ANCHOR_TRIES):
        found = body.find(letter, start)
        if found < 0:
            return False
        if body.startswith(pattern, found - anchor):
            return True
        start = found + 1
    return pattern in body[start - anchor :]


def _utf8(body: bytes) -> bool:
    """Whether `body` is valid UTF-8 (Arrow's reader does not check; `orjson` does)."""
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class ArrowRecords(Sequence[dict[str, Any]]):
    """A page's records held as an Arrow batch; slicing stays in Arrow, anything else reads
    them as dicts."""

    def __init__(self, batch: pa.RecordBatch) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return self.batch.num_rows

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> ArrowRecords: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | ArrowRecords:
        if isinstance(index, slice):
            first, stop, step = index.indices(len(self))
            if step != 1:
                indices = pa.array(range(first, stop, step), type=pa.int64())
                return ArrowRecords(self.batch.take(indices))
            return ArrowRecords(self.batch.slice(first, max(0, stop - first)))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.batch.slice(index, 1).to_pylist()[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.batch.to_pylist())

    def __repr__(self) -> str:
        return f"ArrowRecords({len(self)} records)"


def select(records: Sequence[Any], indices: list[int]) -> Sequence[Any]:
    """The records at `indices`, in that order; Arrow records stay Arrow (a run of adjacent
    records as a slice of the batch, no copy)."""
    if isinstance(records, ArrowRecords):
        if indices and indices == list(range(indices[0], indices[0] + len(indices))):
            return records[indices[0] : indices[0] + len(indices)]
        return ArrowRecords(records.batch.take(pa.array(indices, type=pa.int64())))
    return [records[k] for k in indices]
