"""`{placeholder}` substitution: from options, an input row and an offset to a request."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rest_stream.errors import RestOptionError
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import RestOptions

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.-]*)\}")
_BODY_METHODS = ("POST", "PUT", "PATCH")


def placeholders(template: str) -> set[str]:
    """The names of the `{placeholders}` in `template`."""
    return set(_PLACEHOLDER.findall(template))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def fill(template: str, values: Mapping[str, Any], option: str = "url") -> str:
    """`template` with each `{name}` replaced by its URL-encoded value; unknown names raise."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise RestOptionError(
                option,
                template,
                f"a value for {{{name}}} (from inputData or offsetField; known: {known})",
            )
        return quote(_text(values[name]), safe="")

    return _PLACEHOLDER.sub(substitute, template)


def build_request(
    options: RestOptions,
    row: Mapping[str, Any],
    offset: Mapping[str, Any] | None = None,
    url: str | None = None,
) -> RequestSpec:
    """The request for one input row at one offset.

    GET (and DELETE): placeholders in `url` are filled from the row and the offset; with
    `queryType=querystring` the row's other fields become query parameters, and an offset
    without a placeholder is sent as a query parameter. POST/PUT/PATCH: the row and the
    offset form the body (`postInputFormat` json or form). A given `url` (a `link` offset)
    is used as it is.
    """
    offset = {k: v for k, v in (offset or {}).items()}
    values = {**row, **offset}
    used = placeholders(options.url)
    target = fill(options.url, values) if url is None else url
    if options.method in _BODY_METHODS and options.body_template is not None:
        return RequestSpec(
            options.method, target, json_body=render_body(options.body_template, values)
        )
    if options.method in _BODY_METHODS:
        body = {k: v for k, v in values.items() if v != "" or k not in offset}
        if options.post_input_format == "form":
            return RequestSpec(options.method, target, form_body=_form(body))
        return RequestSpec(options.method, target, json_body=body)
    params: list[tuple[str, str]] = []
    if url is not None:
        return RequestSpec(options.method, target)  # a next link carries its own query
    if options.query_type == "querystring":
        params += [(k, _text(v)) for k, v in row.items() if k not in used]
    params += [(k, _text(v)) for k, v in offset.items() if k not in used and v != ""]
    return RequestSpec(options.method, target, params=tuple(params))


def render_body(template: Any, values: Mapping[str, Any]) -> Any:
    """`bodyTemplate` filled: a string that is exactly `"{name}"` becomes that value with its
    JSON type (an empty position becomes null); every other string is left as written.

    >>> render_body({"query": "{ a { b } }", "variables": {"after": "{after}", "n": "{n}"}},
    ...             {"after": "", "n": 5})
    {'query': '{ a { b } }', 'variables': {'after': None, 'n': 5}}
    """
    if isinstance(template, dict):
        return {key: render_body(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [render_body(value, values) for value in template]
    if isinstance(template, str):
        match = _PLACEHOLDER.fullmatch(template)
        if match is None:
            return template
        name = match.group(1)
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise RestOptionError(
                "bodyTemplate",
                template,
                f"a value for {{{name}}} (from inputData, offsetField or nextPageParam; "
                f"known: {known})",
            )
        value = values[name]
        return None if value == "" else value
    return template


def _form(body: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((k, _text(v)) for k, v in body.items())
