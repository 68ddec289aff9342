"""`RequestSpec`: one HTTP request to make, as plain picklable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestSpec:
    """A request before auth is applied: method, URL, extra query parameters and body."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    json_body: Any = None
    form_body: tuple[tuple[str, str], ...] | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())
    #: False for a request to an origin the read's own first request is not on (a next link
    #: elsewhere): it is sent without any credential.
    credentials: bool = True
    #: Read the response as JSON whatever `responseFormat` says: the `latestOffsetUrl` probe
    #: and the `inputDataUrl` parent list, whose values are found by JSONPath.
    as_json: bool = False
