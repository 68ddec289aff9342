"""Schema inference from sample records, and records to Arrow record batches that match it.

Inference: objects → structs (fields in first-seen order), arrays → arrays, ints → bigint,
floats → double, mixed kinds → string, only nulls → string. Conversion takes a fast path
(`pa.RecordBatch.from_pylist`) and falls back to coercing value by value, which names the
field and record at fault, writes null (`onTypeMismatch=null`) or rescues the value into the
rescued-data column (`rescuedDataColumn`). Records that are not objects are malformed: `mode`
keeps, drops or fails on them.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from rest_stream.decoders.jsonpath import Malformed
from rest_stream.errors import RestOptionError, RestSchemaError

INPUT_COLUMN = "_input"
#: What Arrow raises when values do not fit the types it is asked for (or infers).
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)
VALUE_COLUMN = "value"


def as_record(value: Any) -> dict[str, Any]:
    """A record as a dict: objects stay, any other value becomes `{"value": value}`."""
    return value if isinstance(value, dict) else {VALUE_COLUMN: value}


def infer_type(value: Any) -> DataType:
    """The Spark type of one JSON value."""
    if value is None:
        return NullType()
    if isinstance(value, bool):
        return BooleanType()
    if isinstance(value, int):
        return LongType()
    if isinstance(value, float):
        return DoubleType()
    if isinstance(value, str):
        return StringType()
    if isinstance(value, dict):
        return StructType([StructField(str(k), infer_type(v), True) for k, v in value.items()])
    if isinstance(value, list):
        element: DataType = NullType()
        for item in value:
            element = merge_types(element, infer_type(item))
        return ArrayType(element, True)
    return StringType()


def merge_types(a: DataType, b: DataType) -> DataType:
    """The narrowest type that holds values of both `a` and `b`."""
    if isinstance(a, NullType):
        return b
    if isinstance(b, NullType) or a == b:
        return a
    numeric = (LongType, DoubleType)
    if isinstance(a, numeric) and isinstance(b, numeric):
        return DoubleType()
    if isinstance(a, StructType) and isinstance(b, StructType):
        return _merge_structs(a, b)
    if isinstance(a, ArrayType) and isinstance(b, ArrayType):
        return ArrayType(merge_types(a.elementType, b.elementType), True)
    return StringType()


def _merge_structs(a: StructType, b: StructType) -> StructType:
    fields = {f.name: f.dataType for f in a.fields}
    for f in b.fields:
        fields[f.name] = merge_types(fields.get(f.name, NullType()), f.dataType)
    return StructType([StructField(name, t, True) for name, t in fields.items()])


def _no_nulls(data_type: DataType) -> DataType:
    if isinstance(data_type, NullType):
        return StringType()
    if isinstance(data_type, StructType):
        return StructType([StructField(f.name, _no_nulls(f.dataType), True) for f in data_type])
    if isinstance(data_type, ArrayType):
        return ArrayType(_no_nulls(data_type.elementType), True)
    return data_type


def infer_schema(
    records: Iterable[Any],
    input_rows: Sequence[Mapping[str, Any]] = (),
    *,
    corrupt_column: str | None = None,
    rescued_column: str | None = None,
) -> StructType:
    """The schema of sample `records`; with `input_rows`, an `_input` struct column too.

    Objects give the fields. When no record is an object, every record is a `value`; else the
    records that are not objects are malformed, and with `corrupt_column` (`mode=PERMISSIVE`)
    the schema gets that string column to hold them. With `rescued_column`, a last string
    column for the rescued data.
    """
    records = list(records)
    objects = [r for r in records if isinstance(r, dict)]
    others = [r for r in records if r is not None and not isinstance(r, dict)]
    scalars = [r for r in others if not isinstance(r, Malformed)]
    merged: DataType = StructType([])
    for record in objects or [as_record(r) for r in scalars] or [{}]:
        merged = merge_types(merged, infer_type(record))
    assert isinstance(merged, StructType)
    fields = list(cast(StructType, _no_nulls(merged)).fields) if merged.fields else []
    malformed = bool(others) if objects else len(scalars) < len(others)
    if not fields and not (malformed and corrupt_column):
        fields = [StructField(VALUE_COLUMN, StringType(), True)]
    if malformed and corrupt_column and corrupt_column not in [f.name for f in fields]:
        fields.append(StructField(corrupt_column, StringType(), True))
    if input_rows:
        inputs: DataType = StructType([])
        for row in input_rows:
            inputs = merge_types(inputs, infer_type(dict(row)))
        fields.append(StructField(INPUT_COLUMN, _no_nulls(inputs), True))
    if rescued_column:
        fields = [f for f in fields if f.name != rescued_column]
        fields.append(StructField(rescued_column, StringType(), True))
    return StructType(fields)


# --- records to Arrow ---------------------------------------------------------------------------

PERMISSIVE, DROPMALFORMED, FAILFAST = "PERMISSIVE", "DROPMALFORMED", "FAILFAST"
#: The key of a rescued-data object that names the page the record came from.
URL_KEY = "_url"


class _Mismatch(Exception):
    """A value does not fit a type (internal; becomes RestSchemaError, null or rescued)."""


_INT_BITS: list[tuple[type, int]] = [
    (ByteType, 8),
    (ShortType, 16),
    (IntegerType, 32),
    (LongType, 64),
]


def _int_of(v: Any) -> int:
    if isinstance(v, bool):
        raise _Mismatch
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            raise _Mismatch from None
    raise _Mismatch


def _to_int(bits: int) -> Callable[[Any], int]:
    """Whole numbers (and whole floats, numeric strings) that fit in `bits` signed bits."""
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1)

    def convert(v: Any) -> int:
        number = _int_of(v)
        if not low <= number < high:
            raise _Mismatch
        return number

    return convert


def _to_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise _Mismatch
    try:
        return float(v)
    except (ValueError, OverflowError):
        raise _Mismatch from None


def _to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json_text(v)
    return str(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise _Mismatch


def _to_timestamp(v: Any) -> dt.datetime:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        try:
            return dt.datetime.fromtimestamp(v, tz=dt.timezone.utc)
        except (OverflowError, ValueError, OSError):
            raise _Mismatch from None
    if isinstance(v, str):
        text = v.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            raise _Mismatch from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    raise _Mismatch


def _to_date(v: Any) -> dt.date:
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip()[:10])
        except ValueError:
            raise _Mismatch from None
    raise _Mismatch


def _to_decimal(data_type: DecimalType) -> Callable[[Any], Decimal]:
    """Numbers (and numeric strings) that the type holds exactly: at most its digits before
    the point, and none beyond its scale after it."""
    whole_digits = data_type.precision - data_type.scale
    step = Decimal(1).scaleb(-data_type.scale)

    def convert(v: Any) -> Decimal:
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise _Mismatch
        try:
            number = Decimal(str(v).strip())
            if not number.is_finite() or (number and number.adjusted() >= whole_digits):
                raise _Mismatch
            exact = number.quantize(step)
        except ArithmeticError:
            raise _Mismatch from None
        if exact != number:
            raise _Mismatch
        return exact

    return convert


def _to_binary(v: Any) -> bytes:
    if isinstance(v, str):
        return v.encode()
    raise _Mismatch


def _scalar(data_type: DataType) -> Callable[[Any], Any] | None:
    """The conversion of JSON values to a scalar `data_type`, or None for other types."""
    for int_type, bits in _INT_BITS:
        if isinstance(data_type, int_type):
            return _to_int(bits)
    if isinstance(data_type, DecimalType):
        return _to_decimal(data_type)
    simple: list[tuple[tuple[type, ...], Callable[[Any], Any]]] = [
        ((DoubleType, FloatType), _to_float),
        ((StringType,), _to_str),
        ((BooleanType,), _to_bool),
        ((TimestampType, TimestampNTZType), _to_timestamp),
        ((DateType,), _to_date),
        ((BinaryType,), _to_binary),
    ]
    for types, convert in simple:
        if isinstance(data_type, types):
            return convert
    return None


class _Walk:
    """Where a conversion is inside a record, and what the record's misfits become: an
    error (the default), null (`null`), or rescued values by field path (`rescued`)."""

    __slots__ = ("null", "rescued", "where")

    def __init__(self, *, null: bool = False, rescue: bool = False) -> None:
        self.where: list[str] = []
        self.null = null
        self.rescued: dict[str, Any] | None = {} if rescue else None

    def path(self, last: str | None = None) -> str:
        """The field path: `meta.score`, `tags[2]`, `items[0].price`."""
        return field_path([*self.where, last] if last is not None else self.where)


def field_path(steps: Sequence[str]) -> str:
    """Field names joined by dots, array indices (`[2]`) appended as they are."""
    text = ""
    for step in steps:
        text += step if step.startswith("[") or not text else "." + step
    return text


Coercer = Callable[[Any, _Walk], Any]
#: What a conversion raises when a value does not fit (Python's own errors included).
_MISFITS = (_Mismatch, OverflowError, ValueError)


def _coercer(data_type: DataType) -> Coercer:
    """A function value → value of `data_type`; raises _Mismatch with the field path in the
    walk, or (walk `null` or `rescued`) makes a nested value that does not fit None and its
    siblings stay. With `rescued`, the fields of an object the struct does not have are
    rescued too."""
    if isinstance(data_type, StructType):
        children = [(f.name, _coercer(f.dataType)) for f in data_type.fields]
        names = frozenset(f.name for f in data_type.fields)

        def struct(value: Any, walk: _Walk) -> Any:
            if not isinstance(value, dict):
                raise _Mismatch
            out = {}
            for name, child in children:
                item = value.get(name)
                out[name] = None if item is None else _guarded(child, item, walk, name)
            if walk.rescued is not None and not value.keys() <= names:
                _rescue_extra(value, names, walk)
            return out

        return struct
    if isinstance(data_type, ArrayType):
        element = _coercer(data_type.elementType)

        def array(value: Any, walk: _Walk) -> Any:
            if not isinstance(value, list):
                raise _Mismatch
            return [
                None if v is None else _guarded(element, v, walk, f"[{i}]")
                for i, v in enumerate(value)
            ]

        return array
    if isinstance(data_type, MapType):
        element = _coercer(data_type.valueType)

        def mapping(value: Any, walk: _Walk) -> Any:
            if not isinstance(value, dict):
                raise _Mismatch
            return {
                str(k): None if v is None else _guarded(element, v, walk, str(k))
                for k, v in value.items()
            }

        return mapping
    convert = _scalar(data_type)
    if convert is not None:
        scalar = convert
        return lambda value, walk: scalar(value)
    return lambda value, walk: value


def _guarded(coerce: Coercer, value: Any, walk: _Walk, name: str) -> Any:
    """`coerce(value)` one level down the field path; the innermost misfit is rescued, read
    as null, or raised naming its value (the walk keeps its path for the message)."""
    walk.where.append(name)
    try:
        result = coerce(value, walk)
    except _MISFITS as exc:
        if walk.rescued is not None:
            walk.rescued[walk.path()] = value
        elif not walk.null:
            if isinstance(exc, _Mismatch) and exc.args:
                raise
            raise _Mismatch(value) from None
        walk.where.pop()
        return None
    walk.where.pop()
    return result


def _rescue_extra(value: Mapping[str, Any], names: frozenset[str], walk: _Walk) -> None:
    """Rescue the fields of `value` outside `names` (null values hold nothing to rescue)."""
    assert walk.rescued is not None
    for key, item in value.items():
        if item is not None and key not in names:
            walk.rescued[walk.path(str(key))] = item


def json_text(value: Any) -> str:
    """`value` as compact JSON text (what a rescued or malformed value is kept as)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


class Tally:
    """What the conversions of one task rescued, kept and dropped; shared by its threads."""

    def __init__(self) -> None:
        self.records = 0  # records converted (malformed ones included)
        self.rescued = 0  # records with rescued data
        self.kept = 0  # malformed records kept as rows (PERMISSIVE)
        self.dropped = 0  # malformed records dropped (DROPMALFORMED)
        self.first: str | None = None  # the page of the first record rescued, kept or dropped
        self._lock = threading.Lock()

    def add(self, records: int, rescued: int, kept: int, dropped: int, source: str) -> None:
        """Count one page's conversion."""
        with self._lock:
            self.records += records
            self.rescued += rescued
            self.kept += kept
            self.dropped += dropped
            if self.first is None and rescued + kept + dropped:
                self.first = source


def bad_record_columns(
    schema: StructType, options: Any
) -> tuple[str | None, str | None]:
    """The rescued-data column and the corrupt-record column of `schema` for these options
    (None when not set, or not in the schema); RestOptionError when the schema lacks the
    rescued-data column or either is not a string column. The corrupt-record column is no
    record field in any mode; only `mode=PERMISSIVE` fills it."""
    rescued = options.rescued_data_column
    corrupt = options.corrupt_record_column
    names = schema.fieldNames()
    if rescued is not None and rescued not in names:
        raise RestOptionError(
            "rescuedDataColumn",
            rescued,
            f"a column of the schema: add `{rescued} string` to .schema(...), or let the "
            "schema be inferred (it then gets the column)",
        )
    if corrupt is not None and corrupt not in names:
        corrupt = None
    for option, name in (("rescuedDataColumn", rescued), ("columnNameOfCorruptRecord", corrupt)):
        if name is not None and not isinstance(schema[name].dataType, StringType):
            raise RestOptionError(
                option, name, f"a string column (the schema has {schema[name].dataType})"
            )
    return rescued, corrupt


def record_field_names(schema: StructType, options: Any) -> frozenset[str]:
    """The fields of `schema` a record can have: its columns less the input-row, rescued-data
    and corrupt-record columns. A response that is one object (no array, default records
    path) is a record only when it has one of them (`decoders.jsonpath.extract_records`)."""
    columns = {INPUT_COLUMN, options.rescued_data_column, options.corrupt_record_column}
    return frozenset(name for name in schema.fieldNames() if name not in columns)


class ArrowConverter:
    """Records to `pyarrow.RecordBatch`es of exactly Spark's Arrow schema.

    A record is an object (a dict); in a schema of only a `value` column any JSON value is a
    record, read as `{"value": ...}`. Any other record is malformed: `mode` keeps it as a row
    of nulls with its JSON text in `corrupt_column` (when the schema has it; the column is
    null in the other modes), drops it, or fails. A value that does not fit its field fails
    (`on_type_mismatch="error"`), is read as null (`"null"`), or, with `rescued_column`, is
    read as null and kept with the fields the schema does not have in that column, as a JSON
    object by field path with the page's URL under `_url`.
    """

    def __init__(
        self,
        schema: StructType,
        on_type_mismatch: str = "error",
        *,
        rescued_column: str | None = None,
        corrupt_column: str | None = None,
        mode: str = PERMISSIVE,
    ) -> None:
        self.schema = schema
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")
        self.rescued_column = rescued_column
        self.corrupt_column = corrupt_column
        self.mode = mode
        self.null_on_mismatch = on_type_mismatch == "null"
        columns = {self.rescued_column, self.corrupt_column} - {None}
        record_fields = [f for f in schema.fields if f.name not in columns]
        self.record_schema = to_arrow_schema(StructType(record_fields), timezone="UTC")
        self._struct = pa.struct(list(self.record_schema))
        self._names = frozenset(f.name for f in record_fields)
        self._fields = [(f.name, _coercer(f.dataType)) for f in record_fields]
        self.wraps_scalars = [n for n in self._names if n != INPUT_COLUMN] == [VALUE_COLUMN]

    @classmethod
    def for_options(cls, schema: StructType, options: Any) -> ArrowConverter:
        """The converter of `schema` under `onTypeMismatch`, `rescuedDataColumn`, `mode` and
        `columnNameOfCorruptRecord`."""
        rescued, corrupt = bad_record_columns(schema, options)
        return cls(
            schema,
            options.on_type_mismatch,
            rescued_column=rescued,
            corrupt_column=corrupt,
            mode=options.mode,
        )

    def to_batch(
        self,
        records: Sequence[Any],
        source: str,
        inputs: Mapping[str, Any] | None = None,
        tally: Tally | None = None,
    ) -> pa.RecordBatch:
        """One batch of `records` (with `inputs` as the `_input` column of each); a value that
        does not fit names its field and `source`.

        Fast path: each column's Arrow type is inferred from its values (strict: no float is
        truncated to an int, no string split into a list) and used when it is the schema's.
        Any other batch is coerced value by value.
        """
        dicts: list[dict[str, Any]] = []
        corrupt: dict[int, str] = {}  # row → the text of its malformed record
        dropped = 0
        for index, record in enumerate(records):
            if isinstance(record, dict):
                row = record
            elif record is None:
                row = {}
            elif self.wraps_scalars and not isinstance(record, Malformed):
                row = {VALUE_COLUMN: record}
            elif self.mode == DROPMALFORMED:
                dropped += 1
                continue
            elif self.mode == FAILFAST:
                raise RestSchemaError(
                    f"Record {index} of {source} is not a JSON object: {_short(record)}; "
                    "mode=FAILFAST fails on a malformed record (PERMISSIVE keeps it, "
                    "DROPMALFORMED drops it)."
                )
            else:
                corrupt[len(dicts)] = record if isinstance(record, Malformed) else json_text(record)
                row = {}
            dicts.append(row if inputs is None else {**row, INPUT_COLUMN: inputs})
        batch, rescued = self._record_batch(dicts, source)
        if tally is not None:
            found = 0 if rescued is None else sum(r is not None for r in rescued)
            tally.add(len(records), found, len(corrupt), dropped, source)
        texts = [corrupt.get(k) for k in range(len(dicts))]
        return self.with_columns(batch, rescued, texts, rows=len(dicts))

    def with_columns(
        self,
        batch: pa.RecordBatch,
        rescued: Sequence[str | None] | None = None,
        corrupt: Sequence[str | None] | None = None,
        rows: int | None = None,
    ) -> pa.RecordBatch:
        """A batch of the record fields in the full schema: with the rescued-data and
        corrupt-record columns (null where not given). `rows` counts the rows of a batch of
        no record fields (a schema of only those columns)."""
        if len(self.record_schema) == len(self.arrow_schema):
            return batch
        rows = batch.num_rows if rows is None else rows
        columns = []
        for field in self.arrow_schema:
            if field.name == self.rescued_column:
                columns.append(_strings(rescued, rows))
            elif field.name == self.corrupt_column:
                columns.append(_strings(corrupt, rows))
            else:
                columns.append(batch.column(field.name))
        return pa.RecordBatch.from_arrays(columns, schema=self.arrow_schema)

    def _record_batch(
        self, records: list[dict[str, Any]], source: str
    ) -> tuple[pa.RecordBatch, list[str | None] | None]:
        """The record fields' batch, and with a rescued-data column each row's rescued JSON
        (None where nothing was rescued)."""
        rescue = self.rescued_column is not None
        if not rescue or all(r.keys() <= self._names for r in records):
            whole = self._inferred_whole(records)
            if whole is not None:
                return whole, None
            columns = self._strict_columns(records)
            if columns is not None:
                return pa.RecordBatch.from_arrays(columns, schema=self.record_schema), None
        walk = _Walk(null=self.null_on_mismatch, rescue=rescue)
        coerced = []
        rescued: list[str | None] = []
        for index, record in enumerate(records):
            coerced.append(self._coerce(record, index, source, walk))
            if walk.rescued:
                rescued.append(_rescued_json(walk.rescued, source))
                walk.rescued = {}
            else:
                rescued.append(None)
        batch = pa.RecordBatch.from_pylist(coerced, schema=self.record_schema)
        return batch, rescued if rescue else None

    def _inferred_whole(self, records: list[dict[str, Any]]) -> pa.RecordBatch | None:
        """The batch when Arrow infers exactly the schema's struct from the records."""
        try:
            inferred = pa.array(records)
        except _ARROW_ERRORS:
            return None
        if inferred.type != self._struct:
            return None
        return pa.RecordBatch.from_struct_array(inferred)

    def _strict_columns(self, records: list[dict[str, Any]]) -> list[pa.Array] | None:
        columns = []
        for field in self.record_schema:
            try:
                column = pa.array([r.get(field.name) for r in records])
            except _ARROW_ERRORS:
                return None
            if column.type != field.type:
                if pa.types.is_null(column.type):
                    column = pa.nulls(len(records), field.type)
                elif pa.types.is_integer(column.type) and pa.types.is_floating(field.type):
                    column = column.cast(field.type)
                else:
                    return None
            columns.append(column)
        return columns

    def _coerce(
        self, record: dict[str, Any], index: int, source: str, walk: _Walk
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, coerce in self._fields:
            value = record.get(name)
            if value is None:
                out[name] = None
                continue
            walk.where = [name]
            try:
                out[name] = coerce(value, walk)
            except _MISFITS as exc:
                out[name] = None
                if walk.rescued is not None:
                    walk.rescued[name] = value
                    continue
                if self.null_on_mismatch:
                    continue
                shown = exc.args[0] if isinstance(exc, _Mismatch) and exc.args else value
                field_type = _type_at(self.schema, walk.where)
                raise RestSchemaError(
                    f"Record {index} of {source}: field {walk.path()} = "
                    f"{_short(shown)} does not fit the schema type {field_type}; fix the schema "
                    "or set onTypeMismatch=null to read such values as null."
                ) from None
        if walk.rescued is not None and not record.keys() <= self._names:
            walk.where = []
            _rescue_extra(record, self._names, walk)
        return out


def _rescued_json(rescued: dict[str, Any], source: str) -> str:
    """The rescued-data text of one record: its rescued values by path, and its page's URL
    under `_url` (unless the record itself has a field `_url` to rescue)."""
    rescued.setdefault(URL_KEY, source)
    return json_text(rescued)


def _strings(values: Sequence[str | None] | None, rows: int) -> pa.Array:
    if values is None or not any(v is not None for v in values):
        return pa.nulls(rows, pa.string())
    return pa.array(values, pa.string())


def _type_at(schema: StructType, where: list[str]) -> str:
    data_type: DataType = schema
    for name in where:
        if isinstance(data_type, StructType) and name in data_type.fieldNames():
            data_type = data_type[name].dataType
        elif isinstance(data_type, ArrayType):
            data_type = data_type.elementType
        elif isinstance(data_type, MapType):
            data_type = data_type.valueType
    return data_type.simpleString()


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
