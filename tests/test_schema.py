"""Schema inference from samples, and records to Arrow batches of exactly Spark's schema."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    NullType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from rest_stream.errors import RestSchemaError
from rest_stream.schema import ArrowConverter, as_record, infer_schema, infer_type, merge_types

UTC = dt.timezone.utc


def struct(*fields: tuple[str, DataType]) -> StructType:
    return StructType([StructField(name, t, True) for name, t in fields])


# --- inference --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, NullType()),
        (True, BooleanType()),
        (1, LongType()),
        (2**62, LongType()),
        (1.5, DoubleType()),
        ("x", StringType()),
        ([], ArrayType(NullType(), True)),
        ([1, 2.5], ArrayType(DoubleType(), True)),
        ([1, "a"], ArrayType(StringType(), True)),
        ([None, 1], ArrayType(LongType(), True)),
        ({"b": 1, "a": {"c": "x"}}, struct(("b", LongType()), ("a", struct(("c", StringType()))))),
    ],
)
def test_infer_type(value: Any, expected: DataType) -> None:
    assert infer_type(value) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (LongType(), DoubleType(), DoubleType()),
        (DoubleType(), LongType(), DoubleType()),
        (LongType(), LongType(), LongType()),
        (NullType(), LongType(), LongType()),
        (LongType(), NullType(), LongType()),
        (LongType(), StringType(), StringType()),
        (BooleanType(), LongType(), StringType()),
        (struct(("a", LongType())), LongType(), StringType()),
        (ArrayType(LongType()), struct(), StringType()),
        (ArrayType(LongType()), ArrayType(DoubleType()), ArrayType(DoubleType(), True)),
        (
            struct(("a", LongType()), ("b", NullType())),
            struct(("c", StringType()), ("b", DoubleType()), ("a", DoubleType())),
            struct(("a", DoubleType()), ("b", DoubleType()), ("c", StringType())),
        ),
    ],
)
def test_merge_types(a: DataType, b: DataType, expected: DataType) -> None:
    assert merge_types(a, b) == expected


def test_infer_schema_nested_and_ordered() -> None:
    records = [
        {"id": 1, "name": "a", "meta": {"score": 1, "tags": ["x"]}, "none": None},
        {"id": 2, "price": 2.5, "meta": {"score": 2.5, "extra": True}, "mixed": 1},
        {"id": 3, "price": 3, "mixed": "three", "items": [{"k": 1}, {"k": 2.0, "v": "z"}]},
    ]
    assert infer_schema(records) == struct(
        ("id", LongType()),
        ("name", StringType()),
        (
            "meta",
            struct(
                ("score", DoubleType()),
                ("tags", ArrayType(StringType(), True)),
                ("extra", BooleanType()),
            ),
        ),
        ("none", StringType()),
        ("price", DoubleType()),
        ("mixed", StringType()),
        ("items", ArrayType(struct(("k", DoubleType()), ("v", StringType())), True)),
    )


def test_infer_schema_nulls_become_strings() -> None:
    schema = infer_schema([{"a": None, "b": [], "c": {"d": None}, "e": [None]}])
    assert schema == struct(
        ("a", StringType()),
        ("b", ArrayType(StringType(), True)),
        ("c", struct(("d", StringType()))),
        ("e", ArrayType(StringType(), True)),
    )


def test_infer_schema_field_order_is_first_seen() -> None:
    schema = infer_schema([{"z": 1, "a": 1}, {"m": 1, "z": 2}, {"b": 1}])
    assert schema.fieldNames() == ["z", "a", "m", "b"]


def test_infer_schema_of_scalars_and_nothing() -> None:
    assert infer_schema([]) == struct(("value", StringType()))
    assert infer_schema([{}]) == struct(("value", StringType()))
    assert infer_schema([1, 2]) == struct(("value", LongType()))
    assert infer_schema([1, "a"]) == struct(("value", StringType()))
    assert as_record(5) == {"value": 5}
    assert as_record({"a": 1}) == {"a": 1}


def test_infer_schema_input_column() -> None:
    schema = infer_schema(
        [{"id": 1}], input_rows=[{"region": "eu", "n": 1}, {"region": "us", "n": 2.5, "x": None}]
    )
    assert schema == struct(
        ("id", LongType()),
        (
            "_input",
            struct(("region", StringType()), ("n", DoubleType()), ("x", StringType())),
        ),
    )
    assert infer_schema([{"id": 1}]).fieldNames() == ["id"]


# --- Arrow conversion -------------------------------------------------------------------------

SCHEMA = struct(
    ("id", LongType()),
    ("name", StringType()),
    ("price", DoubleType()),
    ("ok", BooleanType()),
    ("at", TimestampType()),
    ("meta", struct(("score", LongType()), ("label", StringType()))),
    ("tags", ArrayType(StringType(), True)),
)


def test_arrow_schema_is_spark_s() -> None:
    converter = ArrowConverter(SCHEMA)
    assert converter.arrow_schema == to_arrow_schema(SCHEMA, timezone="UTC")
    batch = converter.to_batch([{"id": 1}], "src")
    assert batch.schema == to_arrow_schema(SCHEMA, timezone="UTC")
    assert converter.to_batch([], "src").num_rows == 0
    assert converter.to_batch([], "src").schema == converter.arrow_schema


def test_fast_path_values() -> None:
    at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    records = [
        {
            "id": 1,
            "name": "a",
            "price": 1.5,
            "ok": True,
            "at": at,
            "meta": {"score": 3, "label": "x"},
            "tags": ["t"],
            "ignored": 1,
        },
        {"id": None},
    ]
    rows = ArrowConverter(SCHEMA).to_batch(records, "src").to_pylist()
    assert rows[0] == {
        "id": 1,
        "name": "a",
        "price": 1.5,
        "ok": True,
        "at": at,
        "meta": {"score": 3, "label": "x"},
        "tags": ["t"],
    }
    assert rows[1] == dict.fromkeys(SCHEMA.fieldNames())


def test_fallback_coercion() -> None:
    records = [
        {
            "id": "7",
            "name": 5,
            "price": "2.5",
            "ok": "TRUE",
            "at": "2024-01-02T03:04:05Z",
            "meta": {"score": 4.0, "label": 9},
            "tags": ["a", 1, True, None, {"k": [1]}],
        },
        {"id": 8.0, "name": True, "price": 3, "ok": "false", "at": "2024-01-02T03:04:05"},
        {"name": {"a": [1, "é"]}, "at": "2024-01-02T03:04:05.123456+02:00"},
    ]
    rows = ArrowConverter(SCHEMA).to_batch(records, "src").to_pylist()
    assert rows[0] == {
        "id": 7,
        "name": "5",
        "price": 2.5,
        "ok": True,
        "at": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "meta": {"score": 4, "label": "9"},
        "tags": ["a", "1", "true", None, '{"k":[1]}'],
    }
    assert rows[1]["id"] == 8
    assert rows[1]["name"] == "true"
    assert rows[1]["price"] == 3.0
    assert rows[1]["ok"] is False
    assert rows[1]["at"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rows[2]["name"] == '{"a":[1,"é"]}'
    assert rows[2]["at"] == dt.datetime(2024, 1, 2, 1, 4, 5, 123456, tzinfo=UTC)


def test_int_into_string_field() -> None:
    converter = ArrowConverter(struct(("s", StringType())))
    assert converter.to_batch([{"s": 5}], "src").to_pylist() == [{"s": "5"}]
    assert converter.to_batch([{"s": 1.5}, {"s": False}], "src").to_pylist() == [
        {"s": "1.5"},
        {"s": "false"},
    ]


def test_other_scalar_types() -> None:
    schema = struct(
        ("i", IntegerType()),
        ("d", DateType()),
        ("m", DecimalType(10, 2)),
        ("x", MapType(StringType(), LongType())),
    )
    converter = ArrowConverter(schema)
    rows = converter.to_batch(
        [{"i": "12", "d": "2024-05-06T07:08:09Z", "m": "1.25", "x": {"a": "1", "b": None}}], "src"
    ).to_pylist()
    assert rows == [
        {
            "i": 12,
            "d": dt.date(2024, 5, 6),
            "m": Decimal("1.25"),
            "x": [("a", 1), ("b", None)],
        }
    ]



@pytest.mark.parametrize(
    ("record", "where", "shown", "type_name"),
    [
        ({"id": "abc"}, "id", '"abc"', "bigint"),
        ({"id": 1.5}, "id", "1.5", "bigint"),
        ({"id": True}, "id", "true", "bigint"),
        ({"id": 2**64}, "id", str(2**64), "bigint"),
        ({"price": "cheap"}, "price", '"cheap"', "double"),
        ({"ok": "maybe"}, "ok", '"maybe"', "boolean"),
        ({"at": "yesterday"}, "at", '"yesterday"', "timestamp"),
        ({"meta": "flat"}, "meta", '"flat"', "struct<score:bigint,label:string>"),
        ({"tags": "one"}, "tags", '"one"', "array<string>"),
    ],
)
def test_mismatch_names_field_record_and_source(
    record: dict[str, Any], where: str, shown: str, type_name: str
) -> None:
    converter = ArrowConverter(SCHEMA)
    with pytest.raises(RestSchemaError) as info:
        converter.to_batch([{"id": 1}, record], "https://api.example.com/items?page=2")
    assert str(info.value) == (
        f"Record 1 of https://api.example.com/items?page=2: field {where} = {shown} does not "
        f"fit the schema type {type_name}; fix the schema or set onTypeMismatch=null to read "
        "such values as null."
    )


def test_nested_mismatch_names_the_path() -> None:
    converter = ArrowConverter(SCHEMA)
    with pytest.raises(RestSchemaError) as info:
        converter.to_batch([{"meta": {"score": "high", "label": "x"}}], "src")
    message = str(info.value)
    assert message.startswith("Record 0 of src: field meta.score = ")
    assert "does not fit the schema type bigint;" in message
    schema = struct(("items", ArrayType(struct(("n", LongType())), True)))
    with pytest.raises(RestSchemaError) as info:
        ArrowConverter(schema).to_batch([{"items": [{"n": 1}, {"n": "x"}]}], "src")
    assert str(info.value).startswith("Record 0 of src: field items[1].n = ")
    assert "schema type bigint;" in str(info.value)


def test_long_values_are_cut_in_messages() -> None:
    with pytest.raises(RestSchemaError) as info:
        ArrowConverter(SCHEMA).to_batch([{"id": "x" * 500}], "src")
    assert '= "' + "x" * 76 + "... does not fit" in str(info.value)


def test_null_on_mismatch() -> None:
    converter = ArrowConverter(SCHEMA, on_type_mismatch="null")
    records = [
        {"id": "abc", "name": "ok", "price": "cheap", "at": "never", "tags": "one"},
        {"id": 2**64, "name": 5},
    ]
    rows = converter.to_batch(records, "src").to_pylist()
    assert rows[0] == {
        "id": None,
        "name": "ok",
        "price": None,
        "ok": None,
        "at": None,
        "meta": None,
        "tags": None,
    }
    assert (rows[1]["id"], rows[1]["name"]) == (None, "5")


def test_nested_mismatch_shows_the_nested_value() -> None:
    with pytest.raises(RestSchemaError) as info:
        ArrowConverter(SCHEMA).to_batch([{"meta": {"score": "high", "label": "x"}}], "src")
    assert 'field meta.score = "high" does not fit' in str(info.value)


def test_null_on_mismatch_nulls_only_the_nested_field() -> None:
    converter = ArrowConverter(SCHEMA, on_type_mismatch="null")
    rows = converter.to_batch([{"meta": {"score": "high", "label": "x"}}], "src").to_pylist()
    assert rows[0]["meta"] == {"score": None, "label": "x"}


@pytest.mark.parametrize("mode", ["error", "null"])
def test_nested_out_of_range_int(mode: str) -> None:
    converter = ArrowConverter(SCHEMA, on_type_mismatch=mode)
    record = {"meta": {"score": 2**70, "label": "x"}}
    if mode == "error":
        with pytest.raises(RestSchemaError, match=r"field meta\.score = "):
            converter.to_batch([record], "src")
    else:
        assert converter.to_batch([record], "src").to_pylist()[0]["meta"]["score"] is None


def test_int_timestamp_does_not_depend_on_the_batch() -> None:
    converter = ArrowConverter(struct(("at", TimestampType())))
    alone = converter.to_batch([{"at": 1700000000}], "src").to_pylist()[0]["at"]
    mixed = converter.to_batch([{"at": 1700000000}, {"at": "2024-01-01T00:00:00Z"}], "src")
    assert alone == mixed.to_pylist()[0]["at"]


@pytest.mark.parametrize(
    ("data_type", "value"), [(DoubleType(), True), (DateType(), 19000)], ids=["bool", "date"]
)
def test_fast_path_and_fallback_agree(data_type: DataType, value: Any) -> None:
    converter = ArrowConverter(struct(("v", data_type), ("s", StringType())))

    def outcome(records: list[dict[str, Any]]) -> Any:
        try:
            return converter.to_batch(records, "src").to_pylist()[0]
        except RestSchemaError:
            return "error"

    assert outcome([{"v": value}]) == outcome([{"v": value}, {"s": 1}])


def test_float_in_long_field_is_not_truncated() -> None:
    rows = ArrowConverter(SCHEMA, on_type_mismatch="null").to_batch([{"id": 2.7}], "src")
    assert rows.to_pylist()[0]["id"] is None


def test_string_in_array_field_is_not_split() -> None:
    rows = ArrowConverter(SCHEMA, on_type_mismatch="null").to_batch([{"tags": "one"}], "src")
    assert rows.to_pylist()[0]["tags"] is None
