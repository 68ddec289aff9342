"""Compiled JSONPath: the fast path agrees with jsonpath-ng; default record extraction."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from jsonpath_ng.ext import parse as jsonpath_parse

from rest_stream.decoders.jsonpath import (
    CompiledPath,
    NoRecords,
    _leading_fields,
    _matches_many,
    compile_path,
    extract_records,
)
from rest_stream.errors import RestOptionError

DOC: dict[str, Any] = {
    "data": [{"id": 1, "x": 0}, {"id": 2, "x": 2}, {"id": 3, "x": 5, "tags": ["a", "b"]}],
    "a": {"b": 7, "c": {"d": None}},
    "meta": {"next": "c2", "ids": [4, 5, 6]},
    "with-dash": {"key with space": "v"},
    "empty": [],
}


def slow(path: str) -> CompiledPath:
    """`path` forced through jsonpath-ng, whatever its shape."""
    expression = jsonpath_parse(path)
    return CompiledPath(
        path, None, _matches_many(expression), expression, fields=_leading_fields(expression)
    )


FAST = [
    "$",
    "$.data",
    "$.data[*]",
    "$['a']['b']",
    '$["a"]["b"]',
    "$.a.b",
    "$.a['c'].d",
    "$.meta.ids[*]",
    "$.meta.next",
    "$.with-dash['key with space']",
    "$.empty[*]",
    "$.missing",
    "$.missing[*]",
    "$.a.b.deeper",
    "  $.a.b  ",
]


@pytest.mark.parametrize("path", FAST)
def test_simple_paths_take_the_fast_path(path: str) -> None:
    compiled = compile_path(path)
    assert compiled.steps is not None
    assert compiled._expr is None


def test_fast_path_steps() -> None:
    assert compile_path("$.data[*]").steps == ("data",)
    assert compile_path("$.data[*]").wildcard is True
    assert compile_path("$.data").wildcard is False
    assert compile_path("$['a']['b']").steps == ("a", "b")
    assert compile_path("$.with-dash['key with space']").steps == ("with-dash", "key with space")
    assert compile_path("$").steps == ()


@pytest.mark.parametrize("path", [p for p in FAST if "with-dash" not in p])
def test_fast_path_matches_jsonpath_ng(path: str) -> None:
    assert compile_path(path).find(DOC) == slow(path.strip()).find(DOC)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.data[*]", DOC["data"]),
        ("$.data", [DOC["data"]]),
        ("$['a']['b']", [7]),
        ("$.data[-1:].id", [3]),
        ("$.data[?(@.x > 1)]", [DOC["data"][1], DOC["data"][2]]),
        ("$.data[?(@.x > 1)].id", [2, 3]),
        ("$.data[0].id", [1]),
        ("$..ids[*]", [4, 5, 6]),
        ("$.data[*].id", [1, 2, 3]),
    ],
)
def test_find(path: str, expected: list[Any]) -> None:
    assert compile_path(path).find(DOC) == expected
    assert slow(path).find(DOC) == expected


@pytest.mark.parametrize("path", ["$.data[-1:].id", "$.data[?(@.x > 1)]", "$..ids", "$.data[0]"])
def test_other_paths_use_jsonpath_ng(path: str) -> None:
    compiled = compile_path(path)
    assert compiled.steps is None and compiled._expr is not None


@pytest.mark.parametrize(
    "document",
    [
        {"data": {"k1": 1, "k2": 2}},  # [*] over an object: its values
        {"data": 5},  # [*] over a scalar: nothing
        [{"data": [1]}],  # a field of an array: nothing
        {"data": None},
        {},
    ],
)
def test_fast_and_slow_agree_on_odd_shapes(document: Any) -> None:
    for path in ("$.data[*]", "$.data", "$.data.x"):
        assert compile_path(path).find(document) == slow(path).find(document)


def test_first() -> None:
    assert compile_path("$.meta.next").first(DOC) == "c2"
    assert compile_path("$.a.c.d").first(DOC) is None
    assert compile_path("$.nothing").first(DOC) is None
    assert compile_path("$.data[?(@.x > 1)].id").first(DOC) == 2


def test_offset_value_of_a_path() -> None:
    assert compile_path("$.nothing").value(DOC) is None
    assert compile_path("$.meta.ids").value(DOC) == 6  # a list gives its last element
    assert compile_path("$.empty").value(DOC) is None
    assert compile_path("$.a.b").value(DOC) == 7
    assert compile_path("$.a.c.d").value(DOC) is None


@pytest.mark.parametrize(
    "path", ["$.data[", "$.data[?(@.x >", "$[?(@.x == ]", "$.data[*]]", "$..[", "$.a b"]
)
def test_invalid_path_names_option(path: str) -> None:
    with pytest.raises(RestOptionError) as info:
        compile_path(path, option="recordOffsetPath")
    assert info.value.option == "recordOffsetPath"
    assert str(info.value).startswith(f"Invalid option recordOffsetPath={path!r}: expected a valid")
    with pytest.raises(RestOptionError) as info:
        compile_path(path)
    assert info.value.option == "recordsPath"


def test_compiled_paths_pickle() -> None:
    for path in ("$.data[*]", "$.data[?(@.x > 1)]"):
        copy = pickle.loads(pickle.dumps(compile_path(path)))
        assert copy.text == path
        assert copy.find(DOC) == compile_path(path).find(DOC)


# --- extract_records --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([{"id": 1}, {"id": 2}], [{"id": 1}, {"id": 2}]),  # an array body
        ([], []),
        ({"total": 2, "items": [{"id": 1}], "more": [9]}, [{"id": 1}]),  # first top-level array
        ({"total": 0, "items": []}, []),
        ({"id": 1, "meta": {"list": [1]}}, [{"id": 1, "meta": {"list": [1]}}]),  # one record
        ({"errors": [], "items": [{"id": 1}]}, [{"id": 1}]),  # `errors` is never the records
        ({"id": 1, "error": None}, [{"id": 1, "error": None}]),  # an empty error member
        (5, [5]),
        ("text", ["text"]),
    ],
)
def test_default_records(document: Any, expected: list[Any]) -> None:
    assert extract_records(document, None) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.data[*]", DOC["data"]),
        ("$.data", DOC["data"]),  # a single matched array: its elements
        ("$.data[?(@.x > 1)]", DOC["data"][1:]),
        ("$.data[?(@.x > 3)]", DOC["data"][2:]),  # one object match stays one record
        ("$.data[*].id", [1, 2, 3]),
        ("$.a", [DOC["a"]]),
        ("$.empty", []),
        ("$.empty[*]", []),
        ("$.data[?(@.x > 9)]", []),  # a filter that selects nothing: no records
        ("$.meta.ids[5:]", []),
    ],
)
def test_records_with_path(path: str, expected: list[Any]) -> None:
    assert extract_records(DOC, compile_path(path)) == expected


def test_leading_fields_of_a_path() -> None:
    assert compile_path("$.data[*]").fields == ("data",)
    assert compile_path("$.a['b'].c[*].id").fields == ("a", "b", "c")
    assert compile_path("$.data[?(@.x > 1)]").fields == ("data",)
    assert compile_path("$..ids[*]").fields == ()
    assert compile_path("$[*]").fields == ()


# --- missing data never reads as no data -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "document", "message"),
    [
        ("$.dta[*]", {"data": [{"id": 1}], "next": "c2"}, "no field 'dta' (its fields are: data"),
        ("$.dta", {"data": [{"id": 1}]}, "no field 'dta'"),
        ("$.result.items", {"result": {"other": 1}}, "no field 'result.items'"),
        ("$.result.items", {"other": 1}, "no field 'result'"),
        ("$.result.items", {"result": 5}, "no field 'result.items' (result is 5)"),
        ("$.data[*]", {}, "no field 'data' (it is an empty object)"),
        ("$.data[*]", [{"id": 1}], "no field 'data' (the body is an array)"),
        ("$.data[?(@.x > 1)]", {"dta": []}, "no field 'data'"),
        ("$.data[-1:].id", {"dta": []}, "no field 'data'"),
        ("$.data[*]", {"data": None}, "null at recordsPath=$.data[*] ('data' is null"),
        ("$.data", {"data": None}, "'data' is null, not an array"),
        ("$.result.items[*]", {"result": None}, "'result' is null"),
        ("$.data[?(@.x > 1)]", {"data": None}, "'data' is null"),
        ("$.data[*]", {"data": 5}, "has 5 at recordsPath=$.data[*], not an array"),
        ("$.data[*]", None, "is null"),
        ("$", None, "is null"),
    ],
)
def test_a_records_path_that_matches_nothing_or_null_is_refused(
    path: str, document: Any, message: str
) -> None:
    for compiled in (compile_path(path), slow(path) if path != "$" else compile_path(path)):
        with pytest.raises(NoRecords) as info:
            extract_records(document, compiled)
        assert message in info.value.problem


def test_a_records_path_matching_an_empty_array_is_no_records() -> None:
    for path in ("$.data[*]", "$.data", "$.data[?(@.x > 1)]", "$.page.items[*]"):
        document = {"data": [], "page": {"items": []}}
        assert extract_records(document, compile_path(path)) == []


@pytest.mark.parametrize(
    ("document", "fields", "message"),
    [
        ({"error": "quota"}, None, "its 'error' member holds 'quota'"),
        ({"error": "quota"}, frozenset({"id"}), "its 'error' member holds 'quota'"),
        ({"errors": [{"message": "x"}]}, frozenset({"id"}), "its 'errors' member holds"),
        ({"error": {"code": 429}, "id": 3}, frozenset({"id"}), "its 'error' member"),
        ({"data": None}, None, "the object has no value (its fields: data)"),
        ({"data": None}, frozenset({"id"}), "none of the schema's fields (its fields: data)"),
        ({"message": "rate limited"}, frozenset({"id", "name"}), "none of the schema's fields"),
        ({}, None, "the object has no member"),
        ({}, frozenset({"id"}), "none of the schema's fields"),
        (None, None, "is null"),
    ],
)
def test_a_lone_object_that_is_no_record_is_refused(
    document: Any, fields: frozenset[str] | None, message: str
) -> None:
    """Without recordsPath, an object with no array is one record only when it could be one:
    an error object or an empty envelope never becomes a row of nulls."""
    with pytest.raises(NoRecords) as info:
        extract_records(document, None, fields)
    assert message in info.value.problem


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        ({"id": 1, "name": None}, frozenset({"id", "name"})),
        ({"id": 1}, None),  # at inference: any value makes it a record
        ({"id": 5, "error": "timeout"}, frozenset({"id", "error"})),  # a column of the schema
        ({"id": 5, "error": None, "errors": []}, frozenset({"id"})),  # empty error members
        ({"message": "hello"}, frozenset({"message"})),
    ],
)
def test_a_lone_object_with_a_field_of_the_schema_is_one_record(
    document: dict[str, Any], fields: frozenset[str] | None
) -> None:
    assert extract_records(document, None, fields) == [document]


@pytest.mark.parametrize("path", ["$.data[*]", "$.data", "$.data[?(@.x > 1)]", "$.data[-1:]"])
def test_records_fast_and_slow_agree(path: str) -> None:
    assert extract_records(DOC, compile_path(path)) == extract_records(DOC, slow(path))


def test_array_records_are_not_flattened_by_jsonpath_ng() -> None:
    document = {"data": [[1, 2]]}
    assert extract_records(document, compile_path("$.data[*]")) == [[1, 2]]
    assert extract_records(document, slow("$.data[*]")) == [[1, 2]]
    assert extract_records(document, compile_path("$.data[0:]")) == [[1, 2]]


def test_a_null_item_stays_a_record_whatever_the_path() -> None:
    """A null item counts for the positions (page, offset, cursor) and is read as a row of
    nulls: no path drops it, which would shift every record after it."""
    document = {"data": [{"id": 1}, None, {"id": 3}]}
    for path in ("$.data[*]", "$.data", "$.data[0:]"):
        assert extract_records(document, compile_path(path)) == [{"id": 1}, None, {"id": 3}]
    assert extract_records(document, None) == [{"id": 1}, None, {"id": 3}]
