"""Schema inference from sample records, and records to Arrow record batches that match it.

Inference: objects → structs (fields in first-seen order), arrays → arrays, ints → bigint,
floats → double, mixed kinds → string, only nulls → string. Conversion takes a fast path
(`pa.RecordBatch.from_pylist`) and falls back to coercing value by value, which names the
field and record at fault, or writes null (`onTypeMismatch=null`).
"""

from __future__ import annotations

import datetime as dt
import json
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

from rest_stream.errors import RestSchemaError

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
    records: Iterable[Any], input_rows: Sequence[Mapping[str, Any]] = ()
) -> StructType:
    """The schema of sample `records`; with `input_rows`, an `_input` struct column too."""
    merged: DataType = StructType([])
    for record in records:
        merged = merge_types(merged, infer_type(as_record(record)))
    assert isinstance(merged, StructType)
    fields = list(cast(StructType, _no_nulls(merged)).fields) if merged.fields else []
    if not fields:
        fields = [StructField(VALUE_COLUMN, StringType(), True)]
    if input_rows:
        inputs: DataType = StructType([])
        for row in input_rows:
            inputs = merge_types(inputs, infer_type(dict(row)))
        fields.append(StructField(INPUT_COLUMN, _no_nulls(inputs), True))
    return StructType(fields)


class _Mismatch(Exception):
    """A value does not fit a type (internal; becomes RestSchemaError or null)."""


def _to_int(v: Any) -> int:
    if isinstance(v, bool):
        raise _Mismatch
    if isinstance(v, int):
        number = v
    elif isinstance(v, float) and v.is_integer():
        number = int(v)
    elif isinstance(v, str):
        try:
            number = int(v.strip())
        except ValueError:
            raise _Mismatch from None
    else:
        raise _Mismatch
    if not -(2**63) <= number < 2**63:
        raise _Mismatch
    return number


def _to_float(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise _Mismatch
    try:
        return float(v)
    except ValueError:
        raise _Mismatch from None


def _to_str(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return str(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    raise _Mismatch


def _to_timestamp(v: Any) -> dt.datetime:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return dt.datetime.fromtimestamp(v, tz=dt.timezone.utc)
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


def _to_decimal(v: Any) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise _Mismatch
    try:
        return Decimal(str(v))
    except ArithmeticError:
        raise _Mismatch from None


def _to_binary(v: Any) -> bytes:
    if isinstance(v, str):
        return v.encode()
    raise _Mismatch


_SCALARS: list[tuple[tuple[type, ...], Callable[[Any], Any]]] = [
    ((LongType, IntegerType, ShortType, ByteType), _to_int),
    ((DoubleType, FloatType), _to_float),
    ((StringType,), _to_str),
    ((BooleanType,), _to_bool),
    ((TimestampType, TimestampNTZType), _to_timestamp),
    ((DateType,), _to_date),
    ((DecimalType,), _to_decimal),
    ((BinaryType,), _to_binary),
]

Coercer = Callable[[Any, list[str]], Any]


def _coercer(data_type: DataType, null: bool) -> Coercer:
    """A function value → value of `data_type`; raises _Mismatch with the field path.

    With `null`, a nested value that does not fit becomes None and its siblings stay.
    """
    if isinstance(data_type, StructType):
        children = [(f.name, _coercer(f.dataType, null)) for f in data_type.fields]

        def struct(value: Any, where: list[str]) -> Any:
            if not isinstance(value, dict):
                raise _Mismatch
            out = {}
            for name, child in children:
                item = value.get(name)
                out[name] = None if item is None else _guarded(child, item, where, name, null)
            return out

        return struct
    if isinstance(data_type, ArrayType):
        element = _coercer(data_type.elementType, null)

        def array(value: Any, where: list[str]) -> Any:
            if not isinstance(value, list):
                raise _Mismatch
            return [None if v is None else _guarded(element, v, where, "[]", null) for v in value]

        return array
    if isinstance(data_type, MapType):
        element = _coercer(data_type.valueType, null)

        def mapping(value: Any, where: list[str]) -> Any:
            if not isinstance(value, dict):
                raise _Mismatch
            return {
                str(k): None if v is None else _guarded(element, v, where, str(k), null)
                for k, v in value.items()
            }

        return mapping
    for types, convert in _SCALARS:
        if isinstance(data_type, types):
            return lambda value, where: convert(value)
    return lambda value, where: value


def _guarded(coerce: Coercer, value: Any, where: list[str], name: str, null: bool) -> Any:
    """`coerce(value)` one level down the field path; the innermost misfit names its value."""
    where.append(name)
    try:
        result = coerce(value, where)
    except _Mismatch as exc:
        if null:
            where.pop()
            return None
        raise exc if exc.args else _Mismatch(value) from None
    where.pop()
    return result


class ArrowConverter:
    """Records (dicts) to `pyarrow.RecordBatch`es of exactly Spark's Arrow schema."""

    def __init__(self, schema: StructType, on_type_mismatch: str = "error") -> None:
        self.schema = schema
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")
        self._struct = pa.struct(list(self.arrow_schema))
        self.null_on_mismatch = on_type_mismatch == "null"
        self._fields = [
            (f.name, _coercer(f.dataType, self.null_on_mismatch)) for f in schema.fields
        ]

    def to_batch(self, records: list[dict[str, Any]], source: str) -> pa.RecordBatch:
        """One batch of `records`; a value that does not fit names its field and `source`.

        Fast path: each column's Arrow type is inferred from its values (strict: no float is
        truncated to an int, no string split into a list) and used when it is the schema's.
        Any other batch is coerced value by value.
        """
        whole = self._inferred_whole(records)
        if whole is not None:
            return whole
        columns = self._strict_columns(records)
        if columns is not None:
            return pa.RecordBatch.from_arrays(columns, schema=self.arrow_schema)
        coerced = [self._coerce(record, index, source) for index, record in enumerate(records)]
        return pa.RecordBatch.from_pylist(coerced, schema=self.arrow_schema)

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
        for field in self.arrow_schema:
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

    def _coerce(self, record: dict[str, Any], index: int, source: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, coerce in self._fields:
            value = record.get(name)
            if value is None:
                out[name] = None
                continue
            where = [name]
            try:
                out[name] = coerce(value, where)
            except (_Mismatch, OverflowError, ValueError) as exc:
                if self.null_on_mismatch:
                    out[name] = None
                    continue
                shown = exc.args[0] if isinstance(exc, _Mismatch) and exc.args else value
                field_type = _type_at(self.schema, where)
                raise RestSchemaError(
                    f"Record {index} of {source}: field {'.'.join(where)} = "
                    f"{_short(shown)} does not fit the schema type {field_type}; fix the schema "
                    "or set onTypeMismatch=null to read such values as null."
                ) from None
        return out


def _type_at(schema: StructType, where: list[str]) -> str:
    data_type: DataType = schema
    for name in where:
        if isinstance(data_type, StructType) and name in data_type.fieldNames():
            data_type = data_type[name].dataType
        elif isinstance(data_type, ArrayType):
            data_type = data_type.elementType
    return data_type.simpleString()


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."
