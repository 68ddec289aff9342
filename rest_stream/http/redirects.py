"""Redirects under `followRedirects`: which to follow, where to, and what they may carry.

httpx follows redirects itself only with `Authorization` and `Cookie` removed across origins,
so an API key header, a secret custom header, an `apiKeyParam` query parameter or an OAuth 1
signature would travel to another host. `HttpSession` therefore follows redirects itself,
with these rules:

- `same-origin` (default): follow redirects within the origin (scheme, host, port) with every
  credential; a redirect to another origin is a `RestRedirectError` naming the target origin
  and `followRedirects=all`.
- `all`: follow every redirect; from the first hop to another origin on, no credential is
  sent: no auth flow (no `Authorization`, API key, OAuth signature or token), no secret
  header, no cookie, no `apiKeyParam` in the query.
- `none`: a redirect is a `RestRedirectError` naming `followRedirects`.

303 (and 302, and a 301 to a POST, as browsers and httpx do) turns into a GET without a body;
307 and 308 keep the method and the body. At most `MAX_REDIRECTS` hops.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from rest_stream.errors import RestRedirectError
from rest_stream.http.ratelimit import origin_of

#: The longest redirect chain followed.
MAX_REDIRECTS = 10

#: Statuses that redirect to their `Location`.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_method(method: str, status: int) -> str:
    """The method of the request that follows a redirect `status` answered to `method`.

    >>> redirect_method("POST", 303), redirect_method("POST", 307), redirect_method("PUT", 301)
    ('GET', 'POST', 'PUT')
    """
    if status in (302, 303) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def redirect_target(request: httpx.Request, response: httpx.Response, shown_url: str) -> httpx.URL:
    """The absolute URL of `response`'s `Location` (a relative one resolved against the
    request's URL), or `RestRedirectError` when it is not an http(s) URL."""
    location = response.headers.get("Location", "")
    try:
        url = httpx.URL(location)
        if url.is_relative_url:
            url = request.url.join(url)
        elif not url.host:
            url = url.copy_with(host=request.url.host)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https"):
        raise RestRedirectError(
            request.method,
            shown_url,
            response.status_code,
            "its Location is not an http:// or https:// URL, so it is not followed",
        )
    return url


def check_redirect(
    policy: str,
    request: httpx.Request,
    response: httpx.Response,
    target: httpx.URL,
    shown_url: str,
    origin: str,
    hops: int,
) -> None:
    """`RestRedirectError` unless `policy` (followRedirects) follows this redirect to
    `target`, the chain having started at `origin` and made `hops` hops so far."""
    status = response.status_code
    if policy == "none":
        raise RestRedirectError(
            request.method,
            shown_url,
            status,
            f"it redirects to {origin_of(target)}, and followRedirects=none follows no "
            "redirect (set followRedirects=same-origin or all, or use the final URL)",
        )
    if hops >= MAX_REDIRECTS:
        raise RestRedirectError(
            request.method, shown_url, status, f"more than {MAX_REDIRECTS} redirects in a row"
        )
    target_origin = origin_of(target)
    if policy == "same-origin" and target_origin != origin:
        raise RestRedirectError(
            request.method,
            shown_url,
            status,
            f"it redirects to another origin, {target_origin}, and credentials never leave "
            f"their origin {origin}: followRedirects=same-origin (the default) does not "
            "follow it. Use that origin in url, or set followRedirects=all to follow it "
            "without any credential",
        )


def not_followed(
    request: httpx.Request, response: httpx.Response, shown_url: str, policy: str
) -> RestRedirectError:
    """The error of a 3xx that is not a redirect to follow (no `Location`, 300, 304)."""
    why = (
        "followRedirects=none follows no redirect"
        if policy == "none"
        else "a 3xx without a Location to follow is not a response with data"
    )
    return RestRedirectError(request.method, shown_url, response.status_code, why)


def uncredentialed_request(
    request: httpx.Request,
    target: httpx.URL,
    method: str,
    headers: Mapping[str, str],
    strip_params: tuple[str, ...],
) -> httpx.Request:
    """The request following `request` to `target` on another origin: only `headers` (none a
    credential), no cookie, no `strip_params` in the query, the body kept if `method` is."""
    for name in strip_params:
        if name in target.params:
            target = target.copy_remove_param(name)
    sent = dict(headers)
    content = None
    if method == request.method:
        content = request.content
        if "Content-Type" in request.headers:
            sent["Content-Type"] = request.headers["Content-Type"]
    return httpx.Request(method, target, headers=sent, content=content)
