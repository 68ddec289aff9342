"""GitHub's REST and GraphQL APIs, emulated on 127.0.0.1 from GitHub's own documentation.

`GitHubApi` serves three things on a `tests.loopback.Loopback`:

* ``GET /repos/{owner}/{repo}/issues`` (and ``/repositories/{id}/issues``, where its
  ``Link`` URLs point, as on github.com),
* ``GET /orgs/{org}/repos`` (and ``/organizations/{id}/repos``),
* ``POST /graphql``: one query shape, ``repository(owner:, name:) { issues(...) {...} }``,
  parsed for real (variables, aliases, literals, field selection) but with a tiny schema,
* plus ``GET /rate_limit``.

Documented facts it relies on (quotes are from the pages named):

REST, list repository issues -- https://docs.github.com/en/rest/issues/issues#list-repository-issues
(parameter text also in the OpenAPI description, github/rest-api-description):
  * ``state``: ``open``, ``closed`` or ``all``; default ``open``.
  * ``sort``: ``created``, ``updated`` or ``comments``; default ``created``.
  * ``direction``: ``asc`` or ``desc``; default ``desc``.
  * ``since``: "Only show results that were last updated after the given time. This is a
    timestamp in ISO 8601 format: YYYY-MM-DDTHH:MM:SSZ." The older v3 page said "Only issues
    updated at or after this time are returned" (http://docs2.lfe.io/v3/issues, a mirror of
    developer.github.com/v3/issues), and that is what github.com does: the bound is INCLUSIVE
    here, ``updated_at >= since``.
  * ``per_page``: "The number of results per page (max 100)", default 30; ``page``: default 1.
  * Timestamps are ``YYYY-MM-DDTHH:MM:SSZ`` (second precision, UTC).
  * A malformed ``since`` gets "The since parameter needs to be in ISO 8601 format:
    YYYY-MM-DDTHH:MM:SSZ" (seen in lampepfl/bench#581; status 422 assumed).
  * Measured by a third party (derrickscottux-collab.github.io/github-issues-openapi-portfolio,
    "Pagination and Filtering"): ``per_page`` above 100 is capped at 100; ``per_page=0`` or
    negative falls back to 30; an invalid ``sort`` is silently ignored (default used).

REST, list organization repositories -- https://docs.github.com/en/rest/repos/repos#list-organization-repositories
  * ``type``: all, public, private, forks, sources, member (default all).
  * ``sort``: created, updated, pushed, full_name; default ``created``.
  * ``direction``: "Default: asc when using full_name, otherwise desc."
  * ``per_page`` default 30 (max 100), ``page`` default 1.

REST pagination -- https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api
  * A ``link`` header with absolute URLs, ``rel="prev"``, ``"next"``, ``"last"``, ``"first"``
    (in that order in the documented example), e.g.
    ``<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev"``.
  * "If the endpoint does not support pagination, or if all results fit on a single page, the
    link header will be omitted." "the link to the previous page won't be included if you are
    on the first page". Here: prev/first only when page > 1, next/last only when a later page
    exists (so the last page has no ``next``).
  * "The per_page parameter will automatically be included in the link header": the link URLs
    keep the request's query, with ``page`` replaced and appended last.

REST rate limits -- https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
  * 5,000 requests per hour for authenticated users (configurable here: ``rate_limit``).
  * Headers ``x-ratelimit-limit``, ``-remaining``, ``-used``, ``-reset`` ("in UTC epoch
    seconds"), ``-resource`` (``core`` for these endpoints).
  * "If you exceed your primary rate limit, you will receive a 403 or 429 response, and the
    x-ratelimit-remaining header will be 0" (``rate_limit_status`` picks 403 or 429). Body, as
    github.com sends it: ``{"message": "API rate limit exceeded for user ID 1. ...",
    "documentation_url": ...}`` (unauthenticated: "API rate limit exceeded for <ip>. (But
    here's the good news: ...)").
  * Secondary limits: "403 or 429 ... and an error message that indicates that you exceeded a
    secondary rate limit", maybe with ``retry-after`` (hook: ``secondary_rate_limit``).
  * ``GET /rate_limit`` "does not count against your primary rate limit".

Conditional requests -- https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api#use-conditional-requests-if-appropriate
  * "Most endpoints return an etag header ... If the response has not changed, you will
    receive a 304 Not Modified response. Making a conditional request does not count against
    your primary rate limit if a 304 response is returned." Here every 200 carries a weak
    ``ETag`` over its body, and a matching ``If-None-Match`` gets a bodiless 304 that leaves
    ``x-ratelimit-used`` unchanged.

Authentication -- https://docs.github.com/en/rest/authentication/authenticating-to-the-rest-api
  * ``Authorization: Bearer <token>`` (``token <token>`` works too). "Authenticating with
    invalid credentials will initially return a 401 Unauthorized response":
    ``{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}``.
    With a ``token`` configured, a missing header gets 401 "Requires authentication" (what
    github.com answers on endpoints that need a login).

GraphQL pagination -- https://docs.github.com/en/graphql/guides/using-pagination-in-the-graphql-api
  * "you must supply a first or last argument on any connection. The value of these arguments
    must be between 1 and 100." ``pageInfo { endCursor hasNextPage startCursor
    hasPreviousPage }``; "pageInfo.endCursor gives the cursor for the last item on the page";
    continue "until there are no pages left ... indicated by pageInfo.hasNextPage returning
    false". An empty page has ``endCursor: null`` (Relay connection spec).
  * The documented cursor ``Y3Vyc29yOnYyOpHOUH8B7g==`` is base64 of ``cursor:v2:`` + MessagePack
    ``[1350500846]`` (the node's database id). Cursors here are built the same way from the
    node's sort key (``[id]``, or ``[createdAt, id]`` etc. under ``orderBy``), so they are
    opaque, stable, and a cursor taken at the end keeps working when nodes are added later.

GraphQL limits and errors -- https://docs.github.com/en/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api
  * 5,000 points per hour; a query like the one here costs 1 point ("The minimum point value
    of a call to the GraphQL API is 1"); ``x-ratelimit-resource`` "will always be graphql".
  * "If you exceed your primary rate limit, the response status will still be 200, but you
    will receive an error message, and the value of the x-ratelimit-remaining header will be
    0." Body: ``{"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for
    ..."}]}`` (as quoted in github/docs#11071).
  * Errors come back with HTTP 200 (github/docs#11071, github.community/t/14178), shaped like
    octokit/graphql.js's README example: ``{"data": {...}, "errors": [{"type", "path",
    "locations", "message"}]}``. Error texts as github.com sends them:
    ``NOT_FOUND`` "Could not resolve to a Repository with the name 'o/n'." (``data:
    {"repository": null}``); ``INVALID_CURSOR_ARGUMENTS`` "`x` does not appear to be a valid
    cursor."; ``MISSING_PAGINATION_BOUNDARIES`` "You must provide a `first` or `last` value to
    properly paginate the `issues` connection."; ``EXCESSIVE_PAGINATION`` "Requesting 101
    records on the `issues` connection exceeds the `first` limit of 100 records." The last
    three sit on the ``issues`` field, which is non-null (``IssueConnection!``), so the null
    propagates: ``data`` is ``{"repository": null}``. A missing non-null variable is a request
    error with no ``data`` at all: "Variable $first of type Int! was provided invalid value".

Not confirmed from the docs (choices made here): how ties in a sort key are ordered (by id,
same direction); that ``since`` with fractional seconds is compared exactly; ``state`` or
``direction`` values outside the enums fall back to the defaults; a conditional request when
the budget is spent gets the 403/429, not a 304; 401s and ``/rate_limit`` are not counted; a
GraphQL ``first`` below 1 gets an ``INVALID_ARGUMENTS`` error (GitHub's exact text unknown);
``hasPreviousPage`` under ``after`` says whether nodes exist before the cursor; the cursor's
timestamp encoding under ``orderBy``; the rate-limit window is wall-clock time (``time.time``),
separate from the data clock, and starts at the first counted request; every GraphQL POST that
passes auth and the budget costs 1 point, errors or not, while ``fail_graphql`` failures cost
nothing; the exact wording of the REST rate-limit messages after their first sentence; the
GraphQL schema here is a small subset (Repository.issues, Issue scalars, author.login,
rateLimit), with anything else answered by GraphQL validation errors in GitHub's format;
``If-Modified-Since``/``Last-Modified`` are not emulated.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import orjson

from tests.loopback import Reply, Seen
from tests.vendors.base import LoopbackApi

UTC = timezone.utc
DEFAULT_CLOCK = datetime(2024, 1, 1, tzinfo=UTC)

ISSUES_DOCS = "https://docs.github.com/rest/issues/issues#list-repository-issues"
ORG_REPOS_DOCS = "https://docs.github.com/rest/repos/repos#list-organization-repositories"
RATE_LIMIT_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = RATE_LIMIT_DOCS + "#about-secondary-rate-limits"
GRAPHQL_AUTH_DOCS = (
    "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"
)

_CURSOR_PREFIX = b"cursor:v2:"
_USER = {
    "login": "octocat",
    "id": 1,
    "node_id": "MDQ6VXNlcjE=",
    "type": "User",
    "site_admin": False,
}


# --- time -------------------------------------------------------------------------------------


def _moment(value: datetime | str | float) -> datetime:
    """A UTC datetime at whole seconds, from a datetime, an ISO 8601 string or epoch seconds."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        parsed = _parse_iso(value)
        if parsed is None:
            raise ValueError(f"not an ISO 8601 time: {value!r}")
        moment = parsed
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    return moment.astimezone(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime | None:
    """ISO 8601 as GitHub takes it (``Z`` or an offset; a bare date is midnight UTC)."""
    text = text.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- MessagePack, the subset GitHub's cursors use ---------------------------------------------


def _pack(values: list[int | str]) -> bytes:
    if len(values) > 15:
        raise ValueError("fixarray only")
    out = bytearray([0x90 | len(values)])
    for value in values:
        if isinstance(value, str):
            data = value.encode()
            out += bytes([0xA0 | len(data)]) if len(data) < 32 else bytes([0xD9, len(data)])
            out += data
        elif 0 <= value < 0x80:
            out.append(value)
        else:
            for tag, size in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
                if 0 <= value < 1 << (8 * size):
                    out += bytes([tag]) + value.to_bytes(size, "big")
                    break
            else:
                raise ValueError(f"unsupported int {value}")
    return bytes(out)


def _unpack(data: bytes) -> list[int | str]:
    if not data or data[0] & 0xF0 != 0x90:
        raise ValueError("not a fixarray")
    count, pos = data[0] & 0x0F, 1
    values: list[int | str] = []
    sizes = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
    for _ in range(count):
        tag = data[pos]
        if tag < 0x80:
            values.append(tag)
            pos += 1
        elif tag in sizes:
            size = sizes[tag]
            values.append(int.from_bytes(data[pos + 1 : pos + 1 + size], "big"))
            pos += 1 + size
        elif tag & 0xE0 == 0xA0 or tag == 0xD9:
            length, start = (tag & 0x1F, pos + 1) if tag != 0xD9 else (data[pos + 1], pos + 2)
            values.append(data[start : start + length].decode())
            pos = start + length
        else:
            raise ValueError(f"unsupported tag {tag:#x}")
    if pos != len(data):
        raise ValueError("trailing bytes")
    return values


def encode_cursor(key: list[int | str]) -> str:
    """A GitHub-style cursor: base64 of ``cursor:v2:`` + MessagePack of the node's sort key."""
    return base64.b64encode(_CURSOR_PREFIX + _pack(key)).decode()


def decode_cursor(cursor: str) -> list[int | str]:
    """The sort key inside a cursor; ValueError if it is not one of ours."""
    raw = base64.b64decode(cursor.encode(), validate=True)
    if not raw.startswith(_CURSOR_PREFIX):
        raise ValueError("not a v2 cursor")
    return _unpack(raw[len(_CURSOR_PREFIX) :])


# --- state ------------------------------------------------------------------------------------


@dataclass
class _Budget:
    """One primary rate-limit resource (``core``, ``graphql``)."""

    limit: int
    used: int = 0
    reset: int | None = None  # epoch seconds; None until the window starts

    def roll(self, now: float) -> None:
        if self.reset is None or now >= self.reset:
            self.used, self.reset = 0, int(now) + 3600

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def headers(self, resource: str) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
            "X-RateLimit-Used": str(self.used),
            "X-RateLimit-Resource": resource,
        }


@dataclass
class _Repo:
    id: int
    owner: dict[str, Any]
    data: dict[str, Any]
    issues: list[dict[str, Any]] = field(default_factory=list)


class _FieldError(Exception):
    """A GraphQL error on one field: the field (and, being non-null, its parent) is null."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


class _RequestError(Exception):
    """A GraphQL error before execution: the response has ``errors`` and no ``data``."""

    def __init__(self, *errors: dict[str, Any]) -> None:
        super().__init__(errors[0].get("message") if errors else "")
        self.errors = list(errors)


# --- the emulation ----------------------------------------------------------------------------


class GitHubApi(LoopbackApi):
    """GitHub's REST issues/org-repos endpoints and a GraphQL issues query, on 127.0.0.1.

    ``token``: if set, requests need ``Authorization: Bearer <token>`` (or ``token <token>``).
    ``rate_limit`` / ``graphql_rate_limit``: points per hour for ``core`` / ``graphql``.
    ``rate_limit_status``: 403 (default) or 429 once the REST budget is spent.
    ``clock``: the data clock (issue timestamps), default 2024-01-01T00:00:00Z.
    ``now``: the wall clock for rate-limit windows (default ``time.time``).
    ``links_by_id``: ``Link`` URLs use ``/repositories/{id}/...`` as github.com does.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        rate_limit: int = 5000,
        graphql_rate_limit: int = 5000,
        rate_limit_status: int = 403,
        clock: datetime | str | float = DEFAULT_CLOCK,
        now: Callable[[], float] = time.time,
        links_by_id: bool = True,
    ) -> None:
        self.token = token
        self.rate_limit_status = rate_limit_status
        self.links_by_id = links_by_id
        self._now = now
        self._clock = _moment(clock)
        self._lock = threading.RLock()
        self._core = _Budget(rate_limit)
        self._graphql = _Budget(graphql_rate_limit)
        self._repos: dict[tuple[str, str], _Repo] = {}
        self._owners: dict[str, dict[str, Any]] = {}
        self._ids = {"repo": 700_000_000, "owner": 9_000_000, "issue": 2_900_000_000, "label": 0}
        self._graphql_failures: list[dict[str, Any] | None] = []
        self._secondary: list[int] = []
        super().__init__(self._handle)

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, as ``https://api.github.com`` is (REST paths and ``/graphql`` under it)."""
        return self._loopback.url

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    # --- clocks -----------------------------------------------------------------------------

    @property
    def clock(self) -> datetime:
        """The data clock: what ``add_issue``/``update_issue`` stamp (whole seconds, UTC)."""
        with self._lock:
            return self._clock

    @clock.setter
    def clock(self, value: datetime | str | float) -> None:
        with self._lock:
            self._clock = _moment(value)

    def advance(self, seconds: float) -> datetime:
        """Move the data clock forward; returns the new time."""
        with self._lock:
            self._clock = _moment(self._clock + timedelta(seconds=seconds))
            return self._clock

    # --- test hooks: data -------------------------------------------------------------------

    def add_repo(self, org: str, name: str, **fields: Any) -> dict[str, Any]:
        """A repository of organization ``org`` (listed by ``/orgs/{org}/repos``)."""
        with self._lock:
            repo = self._repo(org, name, create=True, owner_type="Organization")
            repo.data.update(self._normalise_repo_fields(fields))
            return copy.deepcopy(repo.data)

    def add_issue(self, owner: str, repo: str, **fields: Any) -> dict[str, Any]:
        """A new issue (next id and number) created and updated at the clock; fields override.

        ``labels`` may be names; ``user`` may be a login; times may be datetimes/ISO/epoch.
        """
        with self._lock:
            target = self._repo(owner, repo, create=True)
            self._ids["issue"] += 1
            issue_id, number = self._ids["issue"], len(target.issues) + 1
            stamp = _iso(self._clock)
            full_name = target.data["full_name"]
            issue: dict[str, Any] = {
                "id": issue_id,
                "node_id": self._node_id("I", target.id, issue_id),
                "url": f"{self._api_base()}/repos/{full_name}/issues/{number}",
                "repository_url": f"{self._api_base()}/repos/{full_name}",
                "html_url": f"https://github.com/{full_name}/issues/{number}",
                "number": number,
                "state": "open",
                "state_reason": None,
                "title": f"Issue {number}",
                "body": None,
                "user": dict(_USER),
                "labels": [],
                "assignee": None,
                "assignees": [],
                "milestone": None,
                "locked": False,
                "active_lock_reason": None,
                "comments": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "closed_at": None,
                "author_association": "OWNER",
            }
            issue.update(self._normalise_issue_fields(fields))
            target.issues.append(issue)
            return copy.deepcopy(issue)

    def update_issue(self, owner: str, repo: str, number: int, **fields: Any) -> dict[str, Any]:
        """Change an issue; its ``updated_at`` becomes the clock (unless given)."""
        with self._lock:
            issue = self._repo(owner, repo).issues[number - 1]
            changes = self._normalise_issue_fields(fields)
            stamp = _iso(self._clock)
            if changes.get("state") == "closed" and issue["state"] != "closed":
                changes.setdefault("closed_at", stamp)
                changes.setdefault("state_reason", "completed")
            elif changes.get("state") == "open" and issue["state"] == "closed":
                changes.setdefault("closed_at", None)
                changes.setdefault("state_reason", "reopened")
            changes.setdefault("updated_at", stamp)
            issue.update(changes)
            return copy.deepcopy(issue)

    def issues(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """A copy of a repository's issues, in creation order."""
        with self._lock:
            return copy.deepcopy(self._repo(owner, repo).issues)

    # --- test hooks: limits and failures ----------------------------------------------------

    def set_rate_limit(
        self,
        *,
        limit: int | None = None,
        remaining: int | None = None,
        reset: float | None = None,
        resource: str = "core",
    ) -> None:
        """Shape a budget now: its hourly ``limit``, what is ``remaining``, when it ``reset``s."""
        with self._lock:
            budget = self._graphql if resource == "graphql" else self._core
            if limit is not None:
                budget.limit = limit
            budget.roll(self._now())
            if reset is not None:
                budget.reset = int(math.ceil(reset))
            if remaining is not None:
                budget.used = budget.limit - remaining

    def rate_limit(self, resource: str = "core") -> dict[str, int | None]:
        """The budget as the headers would say it: limit, remaining, used, reset."""
        with self._lock:
            budget = self._graphql if resource == "graphql" else self._core
            return {
                "limit": budget.limit,
                "remaining": budget.remaining,
                "used": budget.used,
                "reset": budget.reset,
            }

    def fail_graphql(self, times: int = 1, body: dict[str, Any] | None = None) -> None:
        """The next ``times`` GraphQL calls answer 200 with ``body`` (default: RATE_LIMITED)."""
        with self._lock:
            self._graphql_failures.extend([body] * times)

    def secondary_rate_limit(self, times: int = 1, retry_after: int = 60) -> None:
        """The next ``times`` REST calls hit a secondary rate limit (403 + ``Retry-After``)."""
        with self._lock:
            self._secondary.extend([retry_after] * times)

    # --- internals: data --------------------------------------------------------------------

    def _api_base(self) -> str:
        try:
            return self.url
        except AssertionError:  # not started yet
            return "https://api.github.com"

    @staticmethod
    def _node_id(kind: str, *ids: int) -> str:
        raw = ":".join(str(i) for i in ids).encode()
        return f"{kind}_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _owner(self, login: str, owner_type: str) -> dict[str, Any]:
        key = login.lower()
        if key not in self._owners:
            self._ids["owner"] += 1
            owner_id = self._ids["owner"]
            self._owners[key] = {
                "login": login,
                "id": owner_id,
                "node_id": self._node_id("O" if owner_type == "Organization" else "U", owner_id),
                "type": owner_type,
                "site_admin": False,
            }
        elif owner_type == "Organization":
            self._owners[key]["type"] = "Organization"
        return self._owners[key]

    def _repo(
        self, owner: str, name: str, *, create: bool = False, owner_type: str = "User"
    ) -> _Repo:
        key = (owner.lower(), name.lower())
        repo = self._repos.get(key)
        if repo is None:
            if not create:
                raise KeyError(f"no repository {owner}/{name}")
            self._ids["repo"] += 1
            repo_id, stamp = self._ids["repo"], _iso(self._clock)
            owner_obj = self._owner(owner, owner_type)
            full_name = f"{owner_obj['login']}/{name}"
            repo = _Repo(
                repo_id,
                owner_obj,
                {
                    "id": repo_id,
                    "node_id": self._node_id("R", repo_id),
                    "name": name,
                    "full_name": full_name,
                    "private": False,
                    "owner": owner_obj,
                    "html_url": f"https://github.com/{full_name}",
                    "description": None,
                    "fork": False,
                    "url": f"{self._api_base()}/repos/{full_name}",
                    "created_at": stamp,
                    "updated_at": stamp,
                    "pushed_at": stamp,
                    "default_branch": "main",
                    "visibility": "public",
                },
            )
            self._repos[key] = repo
        elif owner_type == "Organization":
            self._owner(owner, owner_type)
        return repo

    def _normalise_times(self, fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
        out = dict(fields)
        for name in names:
            if out.get(name) is not None:
                out[name] = _iso(_moment(out[name]))
        return out

    def _normalise_repo_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = self._normalise_times(fields, ("created_at", "updated_at", "pushed_at"))
        if "private" in out:
            out.setdefault("visibility", "private" if out["private"] else "public")
        return out

    def _normalise_issue_fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        out = self._normalise_times(fields, ("created_at", "updated_at", "closed_at"))
        if isinstance(out.get("user"), str):
            out["user"] = {**_USER, "login": out["user"], "id": 1000 + len(out["user"])}
        if "labels" in out:
            labels = []
            for label in out["labels"]:
                if isinstance(label, str):
                    self._ids["label"] += 1
                    label_id = 5_000_000_000 + self._ids["label"]
                    label = {
                        "id": label_id,
                        "node_id": self._node_id("LA", label_id),
                        "name": label,
                        "color": "ededed",
                        "default": False,
                        "description": None,
                    }
                labels.append(label)
            out["labels"] = labels
        return out

    # --- internals: HTTP --------------------------------------------------------------------

    def _handle(self, seen: Seen) -> Reply:
        with self._lock:
            try:
                if seen.path.rstrip("/") == "/graphql":
                    return self._serve_graphql(seen)
                return self._serve_rest(seen)
            except Exception as exc:  # a bug in the emulation: say so rather than hang up
                return self._json(500, {"message": f"emulation error: {exc!r}"})

    @staticmethod
    def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper(),
            "Cache-Control": "private, max-age=60, s-maxage=60",
            "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            "Access-Control-Expose-Headers": (
                "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, "
                "X-RateLimit-Remaining, X-RateLimit-Used, X-RateLimit-Resource, "
                "X-RateLimit-Reset, X-OAuth-Scopes, X-Accepted-OAuth-Scopes, X-Poll-Interval, "
                "X-GitHub-Media-Type, X-GitHub-SSO, X-GitHub-Request-Id, Deprecation, Sunset"
            ),
            **(extra or {}),
        }

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        return Reply(status, self._headers(headers), orjson.dumps(payload))

    def _credential(self, seen: Seen) -> str | None:
        header = seen.headers.get("authorization")
        if header is None:
            return None
        scheme, _, value = header.strip().partition(" ")
        return value.strip() if scheme.lower() in ("bearer", "token") else ""

    def _auth_failure(self, seen: Seen, *, graphql: bool) -> Reply | None:
        if self.token is None:
            return None
        credential = self._credential(seen)
        docs = "https://docs.github.com/graphql" if graphql else "https://docs.github.com/rest"
        if credential is None:
            message = (
                "This endpoint requires you to be authenticated."
                if graphql
                else "Requires authentication"
            )
            body = {"message": message, "documentation_url": GRAPHQL_AUTH_DOCS if graphql else docs}
        elif credential != self.token:
            body = {"message": "Bad credentials", "documentation_url": docs}
        else:
            return None
        if not graphql:
            body["status"] = "401"
        return self._json(401, body)

    def _who(self, seen: Seen) -> str:
        return "user ID 1" if self._credential(seen) else "127.0.0.1"

    # --- REST -------------------------------------------------------------------------------

    _ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
        (re.compile(r"^/repos/([^/]+)/([^/]+)/issues/?$"), "issues"),
        (re.compile(r"^/repositories/(\d+)/issues/?$"), "issues_by_id"),
        (re.compile(r"^/orgs/([^/]+)/repos/?$"), "org_repos"),
        (re.compile(r"^/organizations/(\d+)/repos/?$"), "org_repos_by_id"),
    )

    def _serve_rest(self, seen: Seen) -> Reply:
        denied = self._auth_failure(seen, graphql=False)
        if denied is not None:
            return denied
        now = self._now()
        for budget in (self._core, self._graphql):
            budget.roll(now)
        if seen.path.rstrip("/") == "/rate_limit":
            return self._json(200, self._rate_limit_body(), self._core.headers("core"))
        if self._core.used >= self._core.limit:
            self._core.used += 1
            user = self._who(seen)
            message = (
                f"API rate limit exceeded for {user}. If you reach out to GitHub Support for "
                f"help, please include the request ID {uuid.uuid4().hex[:20].upper()}."
                if user.startswith("user")
                else f"API rate limit exceeded for {user}. (But here's the good news: "
                "Authenticated requests get a higher rate limit. Check out the documentation "
                "for more details.)"
            )
            body = {
                "message": message,
                "documentation_url": RATE_LIMIT_DOCS,
                "status": str(self.rate_limit_status),
            }
            return self._json(self.rate_limit_status, body, self._core.headers("core"))
        if self._secondary:
            retry_after = self._secondary.pop(0)
            self._core.used += 1
            body = {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again. If you reach out to GitHub Support for help, please "
                f"include the request ID {uuid.uuid4().hex[:20].upper()}.",
                "documentation_url": SECONDARY_DOCS,
                "status": "403",
            }
            headers = {**self._core.headers("core"), "Retry-After": str(retry_after)}
            return self._json(403, body, headers)
        status, payload, extra = self._route(seen)
        encoded = orjson.dumps(payload)
        if status == 200:
            etag = f'W/"{hashlib.sha256(encoded).hexdigest()}"'
            extra["ETag"] = etag
            if _etag_matches(seen.headers.get("if-none-match"), etag):
                headers = self._headers({**extra, **self._core.headers("core")})
                headers.pop("Content-Type")
                headers.pop("Link", None)
                return Reply(304, headers, b"")
        self._core.used += 1
        return Reply(status, self._headers({**extra, **self._core.headers("core")}), encoded)

    def _rate_limit_body(self) -> dict[str, Any]:
        def entry(budget: _Budget) -> dict[str, Any]:
            return {
                "limit": budget.limit,
                "used": budget.used,
                "remaining": budget.remaining,
                "reset": budget.reset,
            }

        core = entry(self._core)
        return {"resources": {"core": core, "graphql": entry(self._graphql)}, "rate": core}

    def _route(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        if seen.method not in ("GET", "HEAD"):
            return _not_found("https://docs.github.com/rest")
        for pattern, name in self._ROUTES:
            match = pattern.match(seen.path)
            if match is None:
                continue
            if name in ("issues", "issues_by_id"):
                repo = self._find_repo(match, by_id=name == "issues_by_id")
                if repo is None:
                    return _not_found(ISSUES_DOCS)
                return self._list_issues(seen, repo)
            owner = self._find_org(match, by_id=name == "org_repos_by_id")
            if owner is None:
                return _not_found(ORG_REPOS_DOCS)
            return self._list_org_repos(seen, owner)
        return _not_found("https://docs.github.com/rest")

    def _find_repo(self, match: re.Match[str], *, by_id: bool) -> _Repo | None:
        if by_id:
            wanted = int(match.group(1))
            return next((r for r in self._repos.values() if r.id == wanted), None)
        return self._repos.get((match.group(1).lower(), match.group(2).lower()))

    def _find_org(self, match: re.Match[str], *, by_id: bool) -> dict[str, Any] | None:
        if by_id:
            wanted = int(match.group(1))
            found = next((o for o in self._owners.values() if o["id"] == wanted), None)
        else:
            found = self._owners.get(match.group(1).lower())
        return found if found is not None and found["type"] == "Organization" else None

    def _list_issues(self, seen: Seen, repo: _Repo) -> tuple[int, Any, dict[str, str]]:
        query = seen.query
        state = query.get("state", "open")
        state = state if state in ("open", "closed", "all") else "open"
        sort = query.get("sort", "created")
        sort = sort if sort in ("created", "updated", "comments") else "created"
        direction = query.get("direction", "desc")
        direction = direction if direction in ("asc", "desc") else "desc"
        items = [i for i in repo.issues if state == "all" or i["state"] == state]
        if query.get("since"):
            since = _parse_iso(query["since"])
            if since is None:
                message = "The since parameter needs to be in ISO 8601 format: YYYY-MM-DDTHH:MM:SSZ"
                body = {"message": message, "documentation_url": ISSUES_DOCS, "status": "422"}
                return 422, body, {}
            # Inclusive: "Only issues updated at or after this time are returned."
            items = [i for i in items if _parse_iso(i["updated_at"]) >= since]  # type: ignore[operator]
        key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[sort]
        items.sort(key=lambda i: (i[key], i["id"]), reverse=direction == "desc")
        path = (
            f"/repositories/{repo.id}/issues"
            if self.links_by_id
            else f"/repos/{repo.data['full_name']}/issues"
        )
        return self._page(seen, items, path)

    def _list_org_repos(self, seen: Seen, owner: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        query = seen.query
        kind = query.get("type", "all")
        sort = query.get("sort", "created")
        sort = sort if sort in ("created", "updated", "pushed", "full_name") else "created"
        direction = query.get("direction", "asc" if sort == "full_name" else "desc")
        if direction not in ("asc", "desc"):
            direction = "asc" if sort == "full_name" else "desc"
        keep = {
            "public": lambda r: not r["private"],
            "private": lambda r: r["private"],
            "forks": lambda r: r["fork"],
            "sources": lambda r: not r["fork"],
        }.get(kind, lambda r: True)
        items = [
            copy.deepcopy(r.data) for r in self._repos.values() if r.owner is owner and keep(r.data)
        ]
        key = {"created": "created_at", "updated": "updated_at", "pushed": "pushed_at"}.get(sort)

        def sort_key(r: dict[str, Any]) -> tuple[Any, int]:
            return (r[key] if key else r["full_name"].lower(), r["id"])

        items.sort(key=sort_key, reverse=direction == "desc")
        path = (
            f"/organizations/{owner['id']}/repos"
            if self.links_by_id
            else f"/orgs/{owner['login']}/repos"
        )
        return self._page(seen, items, path)

    def _page(
        self, seen: Seen, items: list[dict[str, Any]], path: str
    ) -> tuple[int, Any, dict[str, str]]:
        per_page = _int(seen.query.get("per_page"), 30)
        per_page = 30 if per_page < 1 else min(per_page, 100)
        page = max(1, _int(seen.query.get("page"), 1))
        last = max(1, math.ceil(len(items) / per_page))
        chosen = copy.deepcopy(items[(page - 1) * per_page : page * per_page])
        rest = [(k, v) for k, v in seen.query.items() if k != "page"]

        def link(number: int, rel: str) -> str:
            return f'<{self.url}{path}?{urlencode([*rest, ("page", number)])}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        return 200, chosen, ({"Link": ", ".join(links)} if links else {})

    # --- GraphQL ----------------------------------------------------------------------------

    def _serve_graphql(self, seen: Seen) -> Reply:
        if seen.method != "POST":
            body = {"message": "Not Found", "documentation_url": "https://docs.github.com/graphql"}
            return self._json(404, body)
        denied = self._auth_failure(seen, graphql=True)
        if denied is not None:
            return denied
        budget = self._graphql
        budget.roll(self._now())
        self._core.roll(self._now())
        if budget.used >= budget.limit:
            budget.used += 1
            message = f"API rate limit already exceeded for {self._who(seen)}."
            limited = {"errors": [{"type": "RATE_LIMITED", "message": message}]}
            return self._json(200, limited, budget.headers("graphql"))
        if self._graphql_failures:
            failure = self._graphql_failures.pop(0)
            headers = budget.headers("graphql")
            if failure is None:
                message = f"API rate limit exceeded for {self._who(seen)}."
                failure = {"errors": [{"type": "RATE_LIMITED", "message": message}]}
                headers["X-RateLimit-Remaining"] = "0"
            return self._json(200, failure, headers)
        try:
            request = orjson.loads(seen.body or b"null")
        except orjson.JSONDecodeError:
            body = {
                "message": "Problems parsing JSON",
                "documentation_url": "https://docs.github.com/graphql",
            }
            return self._json(400, body, budget.headers("graphql"))
        budget.used += 1  # the minimum cost of a call: 1 point
        query = request.get("query") if isinstance(request, dict) else None
        if not isinstance(query, str):
            message = "A query attribute must be specified and must be a string."
            return self._json(200, {"errors": [{"message": message}]}, budget.headers("graphql"))
        variables = request.get("variables") or {}
        try:
            payload = _GraphQL(self, query, variables if isinstance(variables, dict) else {}).run()
        except _RequestError as exc:
            payload = {"errors": exc.errors}
        return self._json(200, payload, budget.headers("graphql"))


def _not_found(docs: str) -> tuple[int, Any, dict[str, str]]:
    return 404, {"message": "Not Found", "documentation_url": docs, "status": "404"}, {}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _etag_matches(header: str | None, etag: str) -> bool:
    """``If-None-Match`` compares weakly (RFC 9110 13.1.2): ``W/`` is ignored; ``*`` matches."""
    if not header:
        return False
    opaque = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == opaque:
            return True
    return False


# --- a small GraphQL reader for the one query shape -------------------------------------------


@dataclass
class _Tok:
    kind: str
    text: str
    line: int
    column: int


@dataclass
class _Var:
    name: str
    line: int
    column: int


@dataclass
class _Enum:
    name: str


@dataclass
class _Field:
    name: str
    alias: str | None
    args: dict[str, Any]
    selections: list[_Field]
    line: int
    column: int

    @property
    def key(self) -> str:
        return self.alias or self.name

    @property
    def location(self) -> dict[str, int]:
        return {"line": self.line, "column": self.column}


@dataclass
class _VarDef:
    name: str
    type: str
    default: Any
    line: int
    column: int


_TOKEN = re.compile(
    r"""(?P<ws>[\s,\ufeff]+|\#[^\n]*)
      | (?P<spread>\.\.\.)
      | (?P<punct>[{}()\[\]:!$=@|&])
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<name>[_A-Za-z][_0-9A-Za-z]*)""",
    re.VERBOSE,
)

# type -> field -> the field's object type (None: a scalar)
_SCHEMA: dict[str, dict[str, str | None]] = {
    "Query": {"repository": "Repository", "rateLimit": "RateLimit"},
    "Repository": {
        "id": None,
        "databaseId": None,
        "name": None,
        "nameWithOwner": None,
        "url": None,
        "issues": "IssueConnection",
    },
    "IssueConnection": {
        "totalCount": None,
        "pageInfo": "PageInfo",
        "nodes": "Issue",
        "edges": "IssueEdge",
    },
    "IssueEdge": {"cursor": None, "node": "Issue"},
    "PageInfo": {
        "endCursor": None,
        "hasNextPage": None,
        "startCursor": None,
        "hasPreviousPage": None,
    },
    "Issue": {
        "id": None,
        "databaseId": None,
        "number": None,
        "title": None,
        "body": None,
        "state": None,
        "createdAt": None,
        "updatedAt": None,
        "closedAt": None,
        "url": None,
        "author": "Actor",
    },
    "Actor": {"login": None},
    "RateLimit": {
        "limit": None,
        "remaining": None,
        "used": None,
        "cost": None,
        "resetAt": None,
        "nodeCount": None,
    },
}
_ARGUMENTS: dict[tuple[str, str], tuple[set[str], set[str]]] = {  # (accepted, required)
    ("Query", "repository"): ({"owner", "name", "followRenames"}, {"owner", "name"}),
    ("Repository", "issues"): ({"first", "last", "after", "before", "orderBy", "states"}, set()),
}
_ORDER_FIELDS = {"CREATED_AT": "created_at", "UPDATED_AT": "updated_at", "COMMENTS": "comments"}


class _GraphQL:
    """Parses one query, validates it against `_SCHEMA`, and answers it from the emulation."""

    def __init__(self, api: GitHubApi, text: str, variables: dict[str, Any]) -> None:
        self.api = api
        self.text = text
        self.variables = variables
        self.defaults: dict[str, Any] = {}
        self.tokens = list(self._tokenize(text))
        self.pos = 0

    # --- parsing ----------------------------------------------------------------------------

    def _tokenize(self, text: str) -> Iterator[_Tok]:
        pos, line, line_start = 0, 1, 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise self._parse_error(_Tok("char", text[pos], line, pos - line_start + 1))
            kind, value = match.lastgroup or "", match.group()
            if kind != "ws":
                yield _Tok(kind, value, line, pos - line_start + 1)
            if "\n" in value:
                line += value.count("\n")
                line_start = pos + value.rfind("\n") + 1
            pos = match.end()
        yield _Tok("eof", "", line, pos - line_start + 1)

    @staticmethod
    def _parse_error(tok: _Tok) -> _RequestError:
        if tok.kind == "eof":
            message = "Unexpected end of document"
        else:
            message = f'Parse error on "{tok.text}" at [{tok.line}, {tok.column}]'
        where = [{"line": tok.line, "column": tok.column}]
        return _RequestError({"message": message, "locations": where})

    @staticmethod
    def _unsupported(what: str, tok: _Tok) -> _RequestError:
        return _RequestError(
            {
                "type": "UNSUPPORTED_BY_EMULATION",
                "message": f"This GitHub emulation does not support {what}.",
                "locations": [{"line": tok.line, "column": tok.column}],
            }
        )

    def _peek(self) -> _Tok:
        return self.tokens[self.pos]

    def _next(self) -> _Tok:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def _expect(self, text: str | None = None, kind: str | None = None) -> _Tok:
        tok = self._next()
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            raise self._parse_error(tok)
        return tok

    def _document(self) -> tuple[str | None, list[_VarDef], list[_Field]]:
        tok = self._peek()
        name, defs = None, []
        if tok.text == "{":
            pass
        elif tok.kind == "name" and tok.text == "query":
            self._next()
            if self._peek().kind == "name":
                name = self._next().text
            if self._peek().text == "(":
                defs = self._var_defs()
        elif tok.kind == "name" and tok.text in ("mutation", "subscription"):
            raise self._unsupported(f"{tok.text} operations", tok)
        else:
            raise self._parse_error(tok)
        selections = self._selection_set()
        tail = self._peek()
        if tail.kind != "eof":
            raise self._unsupported("fragments or more than one operation", tail)
        return name, defs, selections

    def _var_defs(self) -> list[_VarDef]:
        self._expect("(")
        defs = []
        while self._peek().text != ")":
            dollar = self._expect("$")
            name = self._expect(kind="name").text
            self._expect(":")
            type_ref = self._type_ref()
            default = None
            if self._peek().text == "=":
                self._next()
                default = self._value()
            defs.append(_VarDef(name, type_ref, default, dollar.line, dollar.column))
        self._expect(")")
        return defs

    def _type_ref(self) -> str:
        if self._peek().text == "[":
            self._next()
            inner = self._type_ref()
            self._expect("]")
            text = f"[{inner}]"
        else:
            text = self._expect(kind="name").text
        if self._peek().text == "!":
            self._next()
            text += "!"
        return text

    def _selection_set(self) -> list[_Field]:
        self._expect("{")
        fields = []
        while self._peek().text != "}":
            tok = self._peek()
            if tok.kind == "spread":
                raise self._unsupported("fragments", tok)
            fields.append(self._field())
        close = self._expect("}")
        if not fields:
            raise self._parse_error(close)
        return fields

    def _field(self) -> _Field:
        first = self._expect(kind="name")
        alias, name_tok = None, first
        if self._peek().text == ":":
            self._next()
            alias, name_tok = first.text, self._expect(kind="name")
        args = self._arguments() if self._peek().text == "(" else {}
        if self._peek().text == "@":
            raise self._unsupported("directives", self._peek())
        selections = self._selection_set() if self._peek().text == "{" else []
        return _Field(name_tok.text, alias, args, selections, first.line, first.column)

    def _arguments(self) -> dict[str, Any]:
        self._expect("(")
        args = {}
        while self._peek().text != ")":
            name = self._expect(kind="name").text
            self._expect(":")
            args[name] = self._value()
        self._expect(")")
        return args

    def _value(self) -> Any:
        tok = self._next()
        if tok.text == "$":
            name = self._expect(kind="name")
            return _Var(name.text, tok.line, tok.column)
        if tok.kind == "number":
            return float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
        if tok.kind == "string":
            return orjson.loads(tok.text)
        if tok.kind == "name":
            return {"true": True, "false": False, "null": None}.get(tok.text, _Enum(tok.text))
        if tok.text == "[":
            items = []
            while self._peek().text != "]":
                items.append(self._value())
            self._next()
            return items
        if tok.text == "{":
            obj = {}
            while self._peek().text != "}":
                key = self._expect(kind="name").text
                self._expect(":")
                obj[key] = self._value()
            self._next()
            return obj
        raise self._parse_error(tok)

    # --- validation -------------------------------------------------------------------------

    def _check_variables(self, name: str | None, defs: list[_VarDef], fields: list[_Field]) -> None:
        declared = {d.name: d for d in defs}
        errors = []
        for var in self._used_variables(fields):
            if var.name not in declared:
                errors.append(
                    {
                        "path": [f"query {name}" if name else "query"],
                        "extensions": {"code": "variableNotDefined", "variableName": var.name},
                        "locations": [{"line": var.line, "column": var.column}],
                        "message": f"Variable ${var.name} is used by {name or 'anonymous query'}"
                        " but not declared",
                    }
                )
        for d in defs:
            value = self.variables.get(d.name, d.default)
            base, problem = d.type.rstrip("!"), None
            if value is None and d.type.endswith("!"):
                problem = "Expected value to not be null"
            elif (
                value is not None
                and base == "Int"
                and (not isinstance(value, int) or isinstance(value, bool))
            ):
                problem = f"Could not coerce value {orjson.dumps(value).decode()} to Int"
            elif value is not None and base == "String" and not isinstance(value, str):
                problem = f"Could not coerce value {orjson.dumps(value).decode()} to String"
            if problem:
                errors.append(
                    {
                        "extensions": {
                            "value": value,
                            "problems": [{"path": [], "explanation": problem}],
                        },
                        "locations": [{"line": d.line, "column": d.column}],
                        "message": f"Variable ${d.name} of type {d.type} was provided "
                        "invalid value",
                    }
                )
        if errors:
            raise _RequestError(*errors)

    def _used_variables(self, fields: list[_Field]) -> Iterator[_Var]:
        def walk(value: Any) -> Iterator[_Var]:
            if isinstance(value, _Var):
                yield value
            elif isinstance(value, dict):
                for item in value.values():
                    yield from walk(item)
            elif isinstance(value, list):
                for item in value:
                    yield from walk(item)

        for f in fields:
            yield from walk(f.args)
            yield from self._used_variables(f.selections)

    def _validate(
        self, type_name: str, fields: list[_Field], path: list[str]
    ) -> list[dict[str, Any]]:
        errors: list[dict[str, Any]] = []
        for f in fields:
            here = [*path, f.key]
            if f.name == "__typename":
                continue
            if f.name not in _SCHEMA[type_name]:
                errors.append(
                    {
                        "path": here,
                        "extensions": {
                            "code": "undefinedField",
                            "typeName": type_name,
                            "fieldName": f.name,
                        },
                        "locations": [f.location],
                        "message": f"Field '{f.name}' doesn't exist on type '{type_name}'",
                    }
                )
                continue
            accepted, required = _ARGUMENTS.get((type_name, f.name), (set(), set()))
            for arg in f.args:
                if arg not in accepted:
                    errors.append(
                        {
                            "path": [*here, arg],
                            "extensions": {
                                "code": "argumentNotAccepted",
                                "name": f.name,
                                "typeName": "Field",
                                "argumentName": arg,
                            },
                            "locations": [f.location],
                            "message": f"Field '{f.name}' doesn't accept argument '{arg}'",
                        }
                    )
            missing = sorted(required - set(f.args))
            if missing:
                errors.append(
                    {
                        "path": here,
                        "extensions": {
                            "code": "missingRequiredArguments",
                            "className": "Field",
                            "name": f.name,
                            "arguments": ", ".join(missing),
                        },
                        "locations": [f.location],
                        "message": f"Field '{f.name}' is missing required arguments: "
                        + ", ".join(missing),
                    }
                )
            child = _SCHEMA[type_name][f.name]
            if child is None and f.selections:
                errors.append(
                    {
                        "path": here,
                        "extensions": {"code": "selectionMismatch", "nodeName": f.name},
                        "locations": [f.location],
                        "message": f"Selections can't be made on scalars (field '{f.name}' "
                        "returns a scalar but has selections)",
                    }
                )
            elif child is not None and not f.selections:
                errors.append(
                    {
                        "path": here,
                        "extensions": {"code": "selectionMismatch", "nodeName": f.name},
                        "locations": [f.location],
                        "message": f"Field must have selections (field '{f.name}' returns "
                        f"{child} but has no selections. Did you mean '{f.name} {{ ... }}'?)",
                    }
                )
            elif child is not None:
                errors += self._validate(child, f.selections, here)
        return errors

    # --- execution --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        name, defs, fields = self._document()
        errors = self._validate("Query", fields, ["query " + name if name else "query"])
        if errors:
            raise _RequestError(*errors)
        self._check_variables(name, defs, fields)
        self.defaults = {d.name: d.default for d in defs}
        data: dict[str, Any] = {}
        errors = []
        for f in fields:
            if f.name == "__typename":
                data[f.key] = "Query"
            elif f.name == "repository":
                try:
                    data[f.key] = self._repository(f)
                except _FieldError as exc:
                    data[f.key] = None
                    errors.append({**exc.error, "path": [f.key, *exc.error.get("path", [])]})
            elif f.name == "rateLimit":
                data[f.key] = self._rate_limit(f)
        return {"data": data, "errors": errors} if errors else {"data": data}

    def _arg(self, f: _Field, name: str) -> Any:
        def resolve(value: Any) -> Any:
            if isinstance(value, _Var):
                return self.variables.get(value.name, self.defaults.get(value.name))
            if isinstance(value, _Enum):
                return value.name
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            return value

        return resolve(f.args.get(name))

    @staticmethod
    def _project(fields: list[_Field], values: Callable[[_Field], Any]) -> dict[str, Any]:
        return {f.key: values(f) for f in fields}

    def _rate_limit(self, f: _Field) -> dict[str, Any]:
        budget = self.api._graphql
        reset = datetime.fromtimestamp(budget.reset or 0, UTC)
        values = {
            "limit": budget.limit,
            "remaining": budget.remaining,
            "used": budget.used,
            "cost": 1,
            "resetAt": _iso(reset),
            "nodeCount": 0,
            "__typename": "RateLimit",
        }
        return self._project(f.selections, lambda s: values[s.name])

    def _repository(self, f: _Field) -> dict[str, Any] | None:
        owner, name = self._arg(f, "owner"), self._arg(f, "name")
        repo = self.api._repos.get((str(owner).lower(), str(name).lower()))
        if repo is None:
            raise _FieldError(
                {
                    "type": "NOT_FOUND",
                    "locations": [f.location],
                    "message": f"Could not resolve to a Repository with the name '{owner}/{name}'.",
                }
            )
        values = {
            "id": repo.data["node_id"],
            "databaseId": repo.id,
            "name": repo.data["name"],
            "nameWithOwner": repo.data["full_name"],
            "url": repo.data["html_url"],
            "__typename": "Repository",
        }
        out = {}
        for s in f.selections:
            if s.name == "issues":
                try:
                    out[s.key] = self._issues(repo, s)
                except _FieldError as exc:
                    # `issues` is non-null (IssueConnection!): the null reaches `repository`.
                    raise _FieldError({**exc.error, "path": [s.key]}) from None
            else:
                out[s.key] = values[s.name]
        return out

    def _issues(self, repo: _Repo, f: _Field) -> dict[str, Any]:
        first, last = self._arg(f, "first"), self._arg(f, "last")
        after, before = self._arg(f, "after"), self._arg(f, "before")
        where = {"locations": [f.location]}
        if first is None and last is None:
            raise _FieldError(
                {
                    "type": "MISSING_PAGINATION_BOUNDARIES",
                    **where,
                    "message": "You must provide a `first` or `last` value to properly paginate"
                    f" the `{f.name}` connection.",
                }
            )
        for arg, value in (("first", first), ("last", last)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise _RequestError(
                    {
                        "path": ["query", "repository", f.key, arg],
                        "extensions": {"code": "argumentLiteralsIncompatible", "typeName": "Field"},
                        "locations": [f.location],
                        "message": f"Argument '{arg}' on Field '{f.key}' has an invalid value "
                        f"({orjson.dumps(value).decode()}). Expected type 'Int'.",
                    }
                )
            if value is not None and value > 100:
                raise _FieldError(
                    {
                        "type": "EXCESSIVE_PAGINATION",
                        **where,
                        "message": f"Requesting {value} records on the `{f.name}` connection "
                        f"exceeds the `{arg}` limit of 100 records.",
                    }
                )
            if value is not None and value < 1:
                raise _FieldError(
                    {
                        "type": "INVALID_ARGUMENTS",
                        **where,
                        "message": f"The value of `{arg}` on the `{f.name}` connection must be "
                        "between 1 and 100.",
                    }
                )
        order = self._arg(f, "orderBy")
        if order is None:
            column, descending = None, False
        else:
            column = _ORDER_FIELDS.get(str(order.get("field")))
            if column is None or order.get("direction") not in ("ASC", "DESC"):
                raise _RequestError(
                    {
                        "path": ["query", "repository", f.key, "orderBy"],
                        "extensions": {"code": "argumentLiteralsIncompatible", "typeName": "Field"},
                        "locations": [f.location],
                        "message": f"Argument 'orderBy' on Field '{f.key}' has an invalid value "
                        f"({orjson.dumps(order).decode()}). Expected type 'IssueOrder'.",
                    }
                )
            descending = order["direction"] == "DESC"
        states = self._arg(f, "states")
        if isinstance(states, str):
            states = [states]
        wanted = {s.lower() for s in states} if states else {"open", "closed"}

        def key(issue: dict[str, Any]) -> list[int | str]:
            return [issue[column], issue["id"]] if column else [issue["id"]]

        items = sorted(
            (i for i in repo.issues if i["state"] in wanted), key=key, reverse=descending
        )
        total = len(items)

        def bound(cursor: Any) -> list[int | str]:
            try:
                value = decode_cursor(str(cursor))
            except ValueError:
                value = None
            shape = [type(v) for v in key(repo.issues[0])] if repo.issues else None
            if value is None or (shape and [type(v) for v in value] != shape):
                raise _FieldError(
                    {
                        "type": "INVALID_CURSOR_ARGUMENTS",
                        **where,
                        "message": f"`{cursor}` does not appear to be a valid cursor.",
                    }
                )
            return value

        def beyond(issue: dict[str, Any], mark: list[int | str]) -> bool:
            return key(issue) < mark if descending else key(issue) > mark

        before_exists = after_exists = False
        if after is not None:
            mark = bound(after)
            before_exists = any(not beyond(i, mark) for i in items)
            items = [i for i in items if beyond(i, mark)]
        if before is not None:
            mark = bound(before)
            after_exists = any(beyond(i, mark) or key(i) == mark for i in items)
            items = [i for i in items if not beyond(i, mark) and key(i) != mark]
        has_next, has_previous = after_exists, before_exists
        if first is not None:
            has_next = has_next or len(items) > first
            items = items[:first]
        if last is not None:
            has_previous = has_previous or len(items) > last
            items = items[-last:]
        cursors = [encode_cursor(key(i)) for i in items]
        page_info = {
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
            "hasNextPage": has_next,
            "hasPreviousPage": has_previous,
            "__typename": "PageInfo",
        }
        out: dict[str, Any] = {}
        for s in f.selections:
            if s.name == "totalCount":
                out[s.key] = total
            elif s.name == "__typename":
                out[s.key] = "IssueConnection"
            elif s.name == "pageInfo":
                out[s.key] = self._project(s.selections, lambda p: page_info[p.name])
            elif s.name == "nodes":
                out[s.key] = [self._issue(i, s.selections) for i in items]
            elif s.name == "edges":
                out[s.key] = [self._edge(i, c, s.selections) for i, c in zip(items, cursors)]
        return out

    def _edge(self, issue: dict[str, Any], cursor: str, fields: list[_Field]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            if f.name == "cursor":
                out[f.key] = cursor
            elif f.name == "__typename":
                out[f.key] = "IssueEdge"
            else:
                out[f.key] = self._issue(issue, f.selections)
        return out

    def _issue(self, issue: dict[str, Any], fields: list[_Field]) -> dict[str, Any]:
        values = {
            "id": issue["node_id"],
            "databaseId": issue["id"],
            "number": issue["number"],
            "title": issue["title"],
            "body": issue["body"] or "",
            "state": issue["state"].upper(),
            "createdAt": issue["created_at"],
            "updatedAt": issue["updated_at"],
            "closedAt": issue["closed_at"],
            "url": issue["html_url"],
            "__typename": "Issue",
        }
        author = {"login": issue["user"]["login"], "__typename": "User"}
        return self._project(
            fields,
            lambda s: (
                self._project(s.selections, lambda a: author[a.name])
                if s.name == "author"
                else values[s.name]
            ),
        )
