"""`python -m benchmarks.idle_hour`: what an idle hour of polling costs a GitHub-shaped API,
with conditional GETs and without.

The API (`GitHubLike`, on loopback) serves the issues of N repositories the way GitHub does:
`GET /orgs/acme/repos` lists the repositories, `GET /repos/acme/{name}/issues?...&per_page=100`
the issues, oldest first, with a `Link: <…>; rel="next"` header to the next page; GitHub-sized
issue objects (~3.5 KB of JSON each); a weak `ETag` on every answer and a `304 Not Modified`
to a matching `If-None-Match`; `X-RateLimit-*` headers for a budget of 5000 requests an hour
that, as on GitHub, a 304 to an authorized request does not spend (a request past the budget
is a 403 with `X-RateLimit-Remaining: 0`).

The stream is the one a user would write: `offsetType=link` over the issues,
`inputDataUrl` for the repositories, a Bearer token, `streamingInterval` 60 s. It first
catches up (every page once), then the hour is simulated: the reader's driver calls
(`latestOffset`, and `partitions`/`read`/`commit` when a batch has records) run 60 times,
the poll schedule's clock moved 60 s before each, so no one waits an hour. Each poll reads the
repository list again and the last page of each repository's chain (a caught-up chain
re-reads its last page to see whether it grew); nothing changes, so every one of those
requests is what polling costs. Run twice, on a fresh API: with the session's kept responses
(conditional GETs, the default) and with none kept (plain GETs, as without them).

Printed: requests, how they were answered, bytes received (status lines, headers and
bodies), and the rate-limit budget the API counted, for the idle hour (the catch-up is shown
apart), plus what the client's own budget estimate says at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from unittest import mock
from urllib.parse import parse_qsl, urlsplit

import orjson

GITHUB_HOURLY_BUDGET = 5000
PER_PAGE = 100


# --- the API ----------------------------------------------------------------------------------


def issue(base: str, repo: str, number: int) -> dict[str, Any]:
    """An issue object shaped and sized like GitHub's (`GET /repos/{owner}/{repo}/issues`)."""
    api = f"{base}/repos/acme/{repo}"
    login = f"user{number % 97}"
    user = {
        "login": login,
        "id": 1000 + number % 97,
        "node_id": f"MDQ6VXNlcj{number % 97:08d}",
        "avatar_url": f"https://avatars.example.com/u/{1000 + number % 97}?v=4",
        "gravatar_id": "",
        "url": f"{base}/users/{login}",
        "html_url": f"https://github.example.com/{login}",
        "followers_url": f"{base}/users/{login}/followers",
        "following_url": f"{base}/users/{login}/following{{/other_user}}",
        "gists_url": f"{base}/users/{login}/gists{{/gist_id}}",
        "starred_url": f"{base}/users/{login}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/users/{login}/subscriptions",
        "organizations_url": f"{base}/users/{login}/orgs",
        "repos_url": f"{base}/users/{login}/repos",
        "events_url": f"{base}/users/{login}/events{{/privacy}}",
        "received_events_url": f"{base}/users/{login}/received_events",
        "type": "User",
        "site_admin": False,
    }
    day = 1 + number % 28
    return {
        "url": f"{api}/issues/{number}",
        "repository_url": api,
        "labels_url": f"{api}/issues/{number}/labels{{/name}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "events_url": f"{api}/issues/{number}/events",
        "html_url": f"https://github.example.com/acme/{repo}/issues/{number}",
        "id": 2_000_000_000 + hash((repo, number)) % 1_000_000_000,
        "node_id": f"I_kwDOA{number:010d}",
        "number": number,
        "title": f"Issue {number} of {repo}: something does not work as documented",
        "user": user,
        "labels": [
            {
                "id": 600 + number % 5,
                "node_id": f"LA_kwDOA{number % 5:06d}",
                "url": f"{api}/labels/bug",
                "name": "bug",
                "color": "d73a4a",
                "default": True,
                "description": "Something isn't working",
            }
        ],
        "state": "open" if number % 3 else "closed",
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": number % 7,
        "created_at": f"2026-01-{day:02d}T10:{number % 60:02d}:00Z",
        "updated_at": f"2026-02-{day:02d}T11:{number % 60:02d}:00Z",
        "closed_at": None if number % 3 else f"2026-02-{day:02d}T12:00:00Z",
        "author_association": "CONTRIBUTOR",
        "active_lock_reason": None,
        "body": (
            "Steps to reproduce: run the job against the staging cluster and watch the "
            "logs. Expected: the batch completes. Actual: it stalls after the third "
            "page. "
        )
        * 3,
        "closed_by": None,
        "reactions": {
            "url": f"{api}/issues/{number}/reactions",
            "total_count": number % 4,
            "+1": number % 4,
            "-1": 0,
            "laugh": 0,
            "hooray": 0,
            "confused": 0,
            "heart": 0,
            "rocket": 0,
            "eyes": 0,
        },
        "timeline_url": f"{api}/issues/{number}/timeline",
        "performed_via_github_app": None,
        "state_reason": None if number % 3 else "completed",
    }


@dataclass
class Tally:
    """What the API answered: requests by status, bytes sent, budget spent."""

    statuses: dict[int, int] = field(default_factory=dict)
    bytes_sent: int = 0
    body_bytes: int = 0
    budget_spent: int = 0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


class GitHubLike:
    """The issues of `repos` repositories, `issues` each, served like GitHub's REST API."""

    def __init__(self, repos: int, issues: int, budget: int = GITHUB_HOURLY_BUDGET) -> None:
        self.repos = [f"repo-{k:03d}" for k in range(repos)]
        self.counts = dict.fromkeys(self.repos, issues)
        self.budget = budget
        self.reset_at = int(time.time()) + 3600
        self.tally = Tally()
        self.spent = 0  # the budget spent in this window, all phases
        self.lock = threading.Lock()
        self.base = ""
        self._bodies: dict[str, tuple[bytes, str]] = {}
        self._server: ThreadingHTTPServer | None = None

    # the resources
    def open_issue(self, repo: str) -> None:
        """A new issue in `repo`: its last page changes (or a page follows it)."""
        with self.lock:
            self.counts[repo] += 1
            prefix = f"/repos/acme/{repo}/issues?"
            for target in [t for t in self._bodies if t.startswith(prefix)]:
                del self._bodies[target]

    def _page(self, path: str, query: dict[str, str]) -> tuple[bytes, str] | None:
        """(body, Link header) of a path, or None when there is no such resource."""
        if path == "/orgs/acme/repos":
            rows = [
                {"id": 10_000 + k, "name": r, "full_name": f"acme/{r}"}
                for k, r in enumerate(self.repos)
            ]
            return orjson.dumps(rows), ""
        parts = path.split("/")
        if len(parts) != 5 or parts[4] != "issues" or parts[3] not in self.repos:
            return None
        repo, page = parts[3], int(query.get("page", "1"))
        per_page = int(query.get("per_page", "30"))
        with self.lock:
            count = self.counts[repo]
        first = (page - 1) * per_page + 1
        numbers = range(first, min(count, first + per_page - 1) + 1)
        body = orjson.dumps([issue(self.base, repo, n) for n in numbers])
        last = max(1, -(-count // per_page))
        here = f"{self.base}{path}?state=all&sort=created&direction=asc&per_page={per_page}"
        links = []
        if page < last:
            links += [f'<{here}&page={page + 1}>; rel="next"', f'<{here}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{here}&page={page - 1}>; rel="prev"', f'<{here}&page=1>; rel="first"']
        return body, ", ".join(links)

    def answer(self, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        with self.lock:
            page = self._bodies.get(target)
        if page is None:
            page = self._page(parts.path, dict(parse_qsl(parts.query)))
            if page is None:
                return 404, {"Content-Type": "application/json"}, b'{"message":"Not Found"}'
            with self.lock:
                self._bodies[target] = page
        body, link = page
        etag = 'W/"' + hashlib.sha256(body + link.encode()).hexdigest()[:32] + '"'
        authorized = headers.get("authorization", "").startswith(("Bearer ", "token "))
        not_modified = headers.get("if-none-match") == etag
        with self.lock:
            spent = not (not_modified and authorized)
            over = spent and self.spent >= self.budget
            if spent and not over:
                self.spent += 1
                self.tally.budget_spent += 1
            remaining = max(0, self.budget - self.spent)
        sent = {
            "Cache-Control": "private, max-age=60, s-maxage=60",
            "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            "ETag": etag,
            "X-RateLimit-Limit": str(self.budget),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Used": str(self.budget - remaining),
            "X-RateLimit-Resource": "core",
        }
        if link:
            sent["Link"] = link
        if over:
            message = b'{"message":"API rate limit exceeded"}'
            return 403, {**sent, "Content-Type": "application/json"}, message
        if not_modified:
            return 304, sent, b""
        return 200, {**sent, "Content-Type": "application/json; charset=utf-8"}, body

    # the server
    def start(self) -> GitHubLike:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.wfile = _Counting(self.wfile, api)  # type: ignore[assignment]

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, sent, body = api.answer(self.path, headers)
                self.send_response(status)
                for name, value in sent.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with api.lock:
                    api.tally.statuses[status] = api.tally.statuses.get(status, 0) + 1
                    api.tally.body_bytes += len(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self._server = server
        self.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def reset_tally(self) -> Tally:
        with self.lock:
            tally, self.tally = self.tally, Tally()
        return tally


class _Counting:
    """A response stream that counts the bytes written to it (status line, headers, body)."""

    def __init__(self, inner: BinaryIO, api: GitHubLike) -> None:
        self._inner = inner
        self._api = api

    def write(self, data: bytes) -> int:
        with self._api.lock:
            self._api.tally.bytes_sent += len(data)
        return self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# --- the stream, polled -----------------------------------------------------------------------


class SimulatedClock:
    """The poll schedule's `time` module: `monotonic()` is the simulated time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.module = types.SimpleNamespace(monotonic=lambda: self.now)


@contextmanager
def simulated_time(clock: SimulatedClock) -> Iterator[None]:
    """The poll schedule and the stream list read `clock` instead of the real clock."""
    from rest_stream.driver import schedule, stream_list

    with (
        mock.patch.object(schedule, "time", clock.module),
        mock.patch.object(stream_list, "time", clock.module),
    ):
        yield


def stream_options(api: GitHubLike, interval: float) -> dict[str, str]:
    """What a user writes to stream the issues of every repository of the organisation."""
    query = f"state=all&sort=created&direction=asc&per_page={PER_PAGE}"
    return {
        "url": f"{api.base}/repos/acme/{{name}}/issues?{query}",
        "offsetType": "link",
        "inputDataUrl": f"{api.base}/orgs/acme/repos?per_page=100",
        "streamKey": "name",
        "authType": "Bearer",
        "oauthToken": "ghp_benchmarkToken",
        "headers": '{"Accept": "application/vnd.github+json"}',
        "streamingInterval": str(interval),
        "retryMaxWaitSeconds": "60",
    }


@dataclass
class Outcome:
    catch_up: Tally
    hour: Tally
    catch_up_records: int
    hour_records: int
    client_remaining: int | None
    api_remaining: int
    wall: float
    error: str = ""
    stopped_at_minute: int | None = None


def run(
    repos: int,
    issues: int,
    minutes: int,
    interval: float,
    *,
    conditional: bool,
    new_issues: int = 0,
) -> Outcome:
    """Catch up, then poll for `minutes` simulated minutes, one poll every `interval` s;
    `new_issues` opened over the hour, spread evenly, one repository after the other."""
    from pyspark.sql.streaming.datasource import ReadAllAvailable
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from rest_stream.http.pages import PageFetcher
    from rest_stream.http.ratelimit import budget_for, clear_budgets, origin_of
    from rest_stream.http.session import HttpSession
    from rest_stream.options.parse import parse_options
    from rest_stream.stream_reader import RestStreamReader

    clear_budgets()
    api = GitHubLike(repos, issues).start()
    clock = SimulatedClock()
    schema = StructType(
        [
            StructField("number", LongType()),
            StructField("title", StringType()),
            StructField("state", StringType()),
        ]
    )
    options = parse_options(stream_options(api, interval))
    reader = RestStreamReader(options, schema)
    session = HttpSession(options, keep_bytes=0) if not conditional else None
    if session is not None:  # plain GETs: a driver session that keeps nothing
        reader._fetcher = PageFetcher(options, session=session)
    catch_up_records = hour_records = opened = 0
    error, stopped = "", None
    started = hour_wall = 0.0

    def poll(start: dict[str, Any]) -> tuple[dict[str, Any], int]:
        end = reader.latestOffset(start, ReadAllAvailable())
        read = 0
        if end != start:
            for partition in reader.partitions(start, end):
                read += sum(batch.num_rows for batch in reader.read(partition))
            reader.commit(end)
        return end, read

    try:
        with simulated_time(clock):
            start = reader.initialOffset()
            while True:  # catch up: every page once
                end, read = poll(start)
                catch_up_records += read
                if end == start:
                    break
                start = end
            catch_up = api.reset_tally()
            started = time.perf_counter()
            for minute in range(1, minutes + 1):
                clock.now += interval
                while opened < new_issues * minute // minutes:
                    api.open_issue(api.repos[opened % len(api.repos)])
                    opened += 1
                try:
                    start, read = poll(start)
                except Exception as exc:  # the plain run may spend the whole budget
                    error, stopped = f"{type(exc).__name__}: {exc}", minute
                    break
                hour_records += read
            hour_wall = time.perf_counter() - started
    finally:
        reader.stop()
        if session is not None:
            session.close()
        api.stop()
    hour = api.reset_tally()
    client = budget_for(origin_of(api.base)).remaining
    return Outcome(
        catch_up,
        hour,
        catch_up_records,
        hour_records,
        client,
        max(0, api.budget - api.spent),
        hour_wall,
        error,
        stopped,
    )


# --- the report -------------------------------------------------------------------------------


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.2f} MB"


def report(args: argparse.Namespace, plain: Outcome, conditional: Outcome) -> str:
    pages = -(-args.issues // PER_PAGE)
    last = args.issues - (pages - 1) * PER_PAGE
    lines = [
        f"idle hour: {args.repos} repositories x {args.issues} issues ({pages} pages of "
        f"{PER_PAGE}, the last holding {last}), polled every {args.interval:g} s for "
        f"{args.minutes} simulated minutes; catch-up first ({conditional.catch_up.requests} "
        f"requests, {megabytes(conditional.catch_up.bytes_sent)}, "
        f"{conditional.catch_up_records:,} records, the same in both runs); "
        f"{args.new_issues} issues opened during the hour",
        "",
        "| GETs | requests | 200 | 304 | 403 | bytes received | of which bodies "
        f"| budget spent (of {GITHUB_HOURLY_BUDGET}/h) | client's estimate left "
        "| records read | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, outcome in (("plain", plain), ("conditional", conditional)):
        hour = outcome.hour
        spent = hour.budget_spent
        lines.append(
            f"| {name} | {hour.requests:,} | {hour.statuses.get(200, 0):,} "
            f"| {hour.statuses.get(304, 0):,} | {hour.statuses.get(403, 0):,} "
            f"| {megabytes(hour.bytes_sent)} | {megabytes(hour.body_bytes)} "
            f"| {spent:,} ({spent / GITHUB_HOURLY_BUDGET:.0%}) "
            f"| {outcome.client_remaining if outcome.client_remaining is not None else '-'} "
            f"(API: {outcome.api_remaining}) | {outcome.hour_records} | {outcome.wall:.1f} |"
        )
    for name, outcome in (("plain", plain), ("conditional", conditional)):
        if outcome.error:
            lines.append(
                f"\n{name}: stopped at minute {outcome.stopped_at_minute}: {outcome.error[:300]}"
            )
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=50, help="repositories (streams)")
    parser.add_argument("--issues", type=int, default=250, help="issues per repository")
    parser.add_argument("--minutes", type=int, default=60, help="simulated minutes of polling")
    parser.add_argument("--interval", type=float, default=60.0, help="streamingInterval, s")
    parser.add_argument("--new-issues", type=int, default=0, help="issues opened in the hour")
    return parser


#: The defaults, as `python -m benchmarks.idle_hour` runs (and `make bench` reports).
DEFAULTS = parser().parse_args([])


def measure(args: argparse.Namespace) -> tuple[Outcome, Outcome]:
    """The hour of `args` with plain GETs, then with conditional GETs, each on a fresh API."""
    plain, conditional = (
        run(
            args.repos,
            args.issues,
            args.minutes,
            args.interval,
            conditional=kept,
            new_issues=args.new_issues,
        )
        for kept in (False, True)
    )
    return plain, conditional


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    print(report(args, *measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
