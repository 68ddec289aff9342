"""Compiled JSONPath: records and offset values out of a parsed response.

Simple paths (`$.a.b`, `$.data[*]`, `$['a']`) take a fast path of plain dict look-ups;
every other path goes through jsonpath-ng's extended parser (filters, slices, arithmetic).

Missing data never reads as no data: records are found where the options say, or the
response is refused (`NoRecords`). Only an empty array is "no records".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from rest_stream.errors import RestOptionError

_SIMPLE_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]")


def _simple_steps(path: str) -> tuple[list[str], bool] | None:
    """(field names, ends with [*]) when `path` is a plain chain of fields, else None."""
    text = path.strip()
    if not text.startswith("$"):
        return None
    rest = text[1:]
    wildcard = rest.endswith("[*]")
    if wildcard:
        rest = rest[:-3]
    steps: list[str] = []
    position = 0
    while position < len(rest):
        match = _SIMPLE_STEP.match(rest, position)
        if match is None:
            return None
        steps.append(next(g for g in match.groups() if g is not None))
        position = match.end()
    return steps, wildcard


@dataclass(frozen=True)
class CompiledPath:
    """A JSONPath compiled once; `find` returns every match, `first` the first or None."""

    text: str
    steps: tuple[str, ...] | None = None
    wildcard: bool = False
    _expr: Any = field(default=None, compare=False, repr=False)
    #: The field names the path follows from the root before its first other step (`[*]`,
    #: a filter, a slice, `..`): the part of the path that must be present in a response.
    fields: tuple[str, ...] = ()
    #: The option the path was given as, for messages.
    option: str = field(default="recordsPath", compare=False)

    def find(self, document: Any) -> list[Any]:
        """Every value the path matches in `document` (a `[*]` path yields the elements)."""
        if self.steps is None:
            return [match.value for match in self._expr.find(document)]
        value = document
        for step in self.steps:
            if not isinstance(value, dict) or step not in value:
                return []
            value = value[step]
        if self.wildcard:
            if isinstance(value, list):
                return value
            if isinstance(value, dict):
                return list(value.values())
            return []
        return [value]

    def first(self, document: Any) -> Any:
        """The first match, or None when the path matches nothing (or only null)."""
        matches = self.find(document)
        return matches[0] if matches else None

    def present(self, document: Any) -> bool:
        """Whether the path matches anything in `document`, null included: a key that is
        there with null (an explicit "none") rather than a key that is absent."""
        if self.steps is not None and not self.wildcard:
            value = document
            for step in self.steps:
                if not isinstance(value, dict) or step not in value:
                    return False
                value = value[step]
            return True
        return bool(self.find(document))

    def value(self, document: Any) -> Any:
        """The value an offset path names: the first match, a matched list giving its last
        element (`$.data[*].id` → the last id of the page); None when nothing matches."""
        value = self.first(document)
        if isinstance(value, list):
            return value[-1] if value else None
        return value

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (compile_path, (self.text, self.option))


def compile_path(path: str, option: str = "recordsPath") -> CompiledPath:
    """Compile `path`, or raise `RestOptionError` naming `option`."""
    simple = _simple_steps(path)
    if simple is not None:
        steps, wildcard = simple
        return CompiledPath(path, tuple(steps), wildcard, fields=tuple(steps), option=option)
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    try:
        expression = parse(path)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise RestOptionError(option, path, f"a valid JSONPath, e.g. $.data[*] ({exc})") from None
    fields = _leading_fields(expression)
    return CompiledPath(path, None, _matches_many(expression), expression, fields, option)


def _leading_fields(expression: Any) -> tuple[str, ...]:
    """The single field names a jsonpath-ng path follows from its root before any other step:
    `$.a['b'].c[*].id` → ("a", "b", "c"); `$..ids` → ()."""
    from jsonpath_ng.jsonpath import Child, Fields, Root

    def steps(node: Any) -> list[Any]:
        return steps(node.left) + steps(node.right) if isinstance(node, Child) else [node]

    names: list[str] = []
    chain = steps(expression)
    if not chain or not isinstance(chain[0], Root):
        return ()
    for node in chain[1:]:
        if not isinstance(node, Fields) or len(node.fields) != 1 or node.fields[0] == "*":
            break
        names.append(node.fields[0])
    return tuple(names)


def _matches_many(expression: Any) -> bool:
    """Whether a jsonpath-ng path ends in a step that selects several values (`[*]`, slices,
    filters, `..`), so that a single matched array is one record, not the records."""
    from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This

    last = expression.right if isinstance(expression, Child) else expression
    return not isinstance(last, (Fields, Index, Root, This))


class Malformed(str):
    """The text of a response body that is not JSON, standing as the one record of its page
    where `mode` keeps or drops malformed records (reads without `offsetType`)."""

    __slots__ = ()


class NoRecords(ValueError):
    """A response holds no records where the options say they are, and is not "no records"
    either (an empty array): `problem` says why. Callers name the response
    (`rest_stream.http.pages.page_records`)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


#: Top-level members where APIs put errors: never the records of the default records path,
#: and, holding something, an error rather than a record (unless the schema has the column).
ERROR_MEMBERS = ("error", "errors")


def extract_records(
    document: Any,
    records_path: CompiledPath | None,
    fields: frozenset[str] | None = None,
    *,
    option: str = "recordsPath",
) -> list[Any]:
    """The records of one response, or `NoRecords` when it has none where they should be.

    With a path: the fields the path names before its first wildcard, filter or slice must
    be present and not null (`{"data": null}` under `$.data[*]` is refused: only an empty
    array is no records); then its matches are the records, a single matched array being its
    elements.

    Without one (the default records path): the document when it is an array, else the
    first array at its top level other than `error` / `errors`, else the document itself as
    one record, a *lone object*. A lone object is one record only when it has a field of the
    read's schema (`fields`; with no schema yet, at inference: a member that is not null),
    and holds nothing in an `error` / `errors` member the schema does not have: an error
    object (`{"error": "quota"}`) or an empty envelope (`{"data": null}`, `{}`) is refused,
    never read as a row of nulls. A null document is refused; a scalar is one (malformed)
    record. `option` names the default records path in messages (`inputDataPath` for a
    parent list).
    """
    if records_path is not None:
        return _at_path(document, records_path)
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(value, list) and key not in ERROR_MEMBERS:
                return value
        return [_lone_object(document, fields, option)]
    if document is None:
        raise NoRecords("is null, not records (an empty array is the only \"no records\")")
    return [document]


def _at_path(document: Any, path: CompiledPath) -> list[Any]:
    """The records at `path`; `NoRecords` when the fields it names are absent or null."""
    if document is None:
        raise NoRecords(f"is null, not records at {path.option}={path.text}")
    value = document
    for depth, step in enumerate(path.fields):
        where = ".".join(path.fields[: depth + 1])
        if not isinstance(value, dict) or step not in value:
            if isinstance(value, dict):
                has = f"its fields are: {_names(value)}" if value else "it is an empty object"
                found = f"no field {where!r} ({has})"
            else:
                found = f"no field {where!r} ({'.'.join(path.fields[:depth]) or 'the body'} "
                found += f"is {_kind(value)})"
            raise NoRecords(
                f"has no records at {path.option}={path.text}: {found}. Check {path.option}; "
                "an empty array there is the only way to say there are no records"
            )
        value = value[step]
        if value is None:
            raise NoRecords(
                f"has null at {path.option}={path.text} ({where!r} is null, not an array of "
                "records: only an empty array means there are no records)"
            )
    if path.steps is not None and not path.wildcard:  # the whole path was followed
        return value if isinstance(value, list) else [value]
    if not isinstance(value, (list, dict)):  # a wildcard, filter or slice over a scalar
        raise NoRecords(f"has {_kind(value)} at {path.option}={path.text}, not an array of records")
    if path.steps is not None:
        return value if isinstance(value, list) else list(value.values())
    matches = path.find(document)
    if len(matches) == 1 and isinstance(matches[0], list) and not path.wildcard:
        return matches[0]
    return matches  # a null item stays: a record for the positions, read as a row of nulls


def _lone_object(
    document: dict[str, Any], fields: frozenset[str] | None, option: str
) -> dict[str, Any]:
    """`document` as the one record of its response, or `NoRecords` (see `extract_records`)."""
    for name in ERROR_MEMBERS:
        if document.get(name) not in (None, False, "", [], {}) and (
            fields is None or name not in fields
        ):
            raise NoRecords(
                f"is an error, not records: it has no array at its top level, and its "
                f"{name!r} member holds {str(document[name])[:120]!r} (set {option} to "
                "where the records are, or errorPath to fail with the API's message)"
            )
    if fields is not None:
        if any(name in fields for name in document):
            return document
        problem = "none of the schema's fields"
    else:
        if any(value is not None for value in document.values()):
            return document
        problem = "no value" if document else "no member"
    shown = f" (its fields: {_names(document)})" if document else ""
    raise NoRecords(
        f"holds no records: no array at its top level, and the object has {problem}{shown}, "
        "so it is not a record either (an error or an empty answer would read as a row of "
        f"nulls). Set {option} to where the records are; an empty array is the only way "
        "to say there are no records"
    )


def _names(document: dict[str, Any]) -> str:
    """The first member names of an object, for messages."""
    names = list(document)
    return ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")


def _kind(value: Any) -> str:
    """A JSON value's kind and start, for messages: `an array`, `5`, `'text'`."""
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else repr(value)[:40]
