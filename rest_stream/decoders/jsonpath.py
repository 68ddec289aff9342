"""Compiled JSONPath: records and offset values out of a parsed response.

Simple paths (`$.a.b`, `$.data[*]`, `$['a']`) take a fast path of plain dict look-ups;
every other path goes through jsonpath-ng's extended parser (filters, slices, arithmetic).
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

    def value(self, document: Any) -> Any:
        """The value an offset path names: the first match, a matched list giving its last
        element (`$.data[*].id` → the last id of the page); None when nothing matches."""
        value = self.first(document)
        if isinstance(value, list):
            return value[-1] if value else None
        return value

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (compile_path, (self.text,))


def compile_path(path: str, option: str = "recordsPath") -> CompiledPath:
    """Compile `path`, or raise `RestOptionError` naming `option`."""
    simple = _simple_steps(path)
    if simple is not None:
        steps, wildcard = simple
        return CompiledPath(path, tuple(steps), wildcard)
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    try:
        expression = parse(path)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise RestOptionError(option, path, f"a valid JSONPath, e.g. $.data[*] ({exc})") from None
    return CompiledPath(path, None, _matches_many(expression), expression)


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


def extract_records(document: Any, records_path: CompiledPath | None) -> list[Any]:
    """The records of one response.

    With a path: its matches, a single matched array being its elements. Without one: the
    document when it is an array, else the first array at its top level, else the document
    itself as one record (an empty object is no record).
    """
    if records_path is not None:
        matches = records_path.find(document)
        if len(matches) == 1 and isinstance(matches[0], list) and not records_path.wildcard:
            return matches[0]
        return [m for m in matches if m is not None]
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for value in document.values():
            if isinstance(value, list):
                return value
        return [document] if document else []
    return [] if document is None else [document]

