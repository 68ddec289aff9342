"""Next-page URLs, from a `Link` header or a body: resolved against the request, kept on
its origin (credentials never go elsewhere), without an API key parameter."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from rest_stream.errors import RestOffsetError
from rest_stream.http.ratelimit import origin_of
from rest_stream.options.parse import RestOptions

_LINK_NEXT = re.compile(r"<([^>]*)>\s*;[^,]*?\brel\s*=\s*\"?[^\",]*\bnext\b", re.IGNORECASE)


def link_header_next(header: str) -> str | None:
    """The `rel="next"` target of a `Link` header, or None.

    >>> link_header_next('<https://a.io/x?page=2>; rel="next", <https://a.io/x?page=9>; rel="last"')
    'https://a.io/x?page=2'
    """
    match = _LINK_NEXT.search(header)
    return None if match is None else match.group(1)


def stored_url(page: Any, url: str, options: RestOptions) -> str:
    """`url` resolved against the page's request, without the API key parameter; refused
    when it is not http(s), or on another origin unless `followRedirects=all`."""
    resolved = urljoin(page.request_url, url)
    if urlsplit(resolved).scheme.lower() not in ("http", "https"):
        raise RestOffsetError(f"{page.source} names a next page that is not http(s): {url!r}")
    there, here = origin_of(resolved), origin_of(page.request_url)
    if there != here and options.follow_redirects != "all":
        raise RestOffsetError(
            f"{page.source} names a next page on another origin, {there}: credentials never "
            "go there (set followRedirects=all to follow it without credentials)"
        )
    param = options.auth.api_key_param
    if not param:
        return resolved
    parts = urlsplit(resolved)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    return urlunsplit(parts._replace(query=urlencode(query)))
