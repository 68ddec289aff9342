"""GitHub REST issues, end to end on Spark against a faithful emulation (tests/vendors/github):
a `timestamp` position on `updated_at` with `Link` pages, the repositories listed by a paged
`/orgs/{org}/repos`, Bearer auth. Every version of every issue arrives once, across appends,
updates, a new repository and a restart from the checkpoint."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.streaming import run_to_end, start_stream
from tests.vendors.base import wait_past_horizon
from tests.vendors.github import GitHubApi

TOKEN = "ghp_test_token_0123456789"
SCHEMA = "id long, number long, title string, updated_at string"


def issue_options(api: GitHubApi, **extra: str) -> dict[str, str]:
    """The options of docs/recipes.md's GitHub section, with the emulation's base URL."""
    return {
        "inputDataUrl": f"{api.url}/orgs/acme/repos?per_page=2",
        "url": f"{api.url}/repos/acme/{{name}}/issues"
        "?state=all&sort=updated&direction=asc&per_page=5&since={since}",
        "queryType": "inline",
        "streamKey": "name",
        "authType": "Bearer",
        "oauthToken": TOKEN,
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.updated_at",
        "timestampFormat": "iso8601",
        "initialOffset": "2000-01-01T00:00:00Z",
        "pagination": "link",
        **extra,
    }


def now_on(api: GitHubApi) -> None:
    """Issues are stamped with the real time, as on github.com (a range ends at the clock)."""
    api.clock = time.time()


def versions(spark: Any, sink: Path) -> Counter[tuple[int, str]]:
    rows = spark.read.schema(SCHEMA).parquet(str(sink)).collect()
    return Counter((r.id, r.updated_at) for r in rows)


@pytest.fixture
def github() -> Any:
    with GitHubApi(token=TOKEN) as api:
        yield api


def test_github_issues_every_version_once_across_pages_updates_and_a_restart(
    spark: Any, github: GitHubApi, tmp_path: Path
) -> None:
    for name in ("r1", "r2", "r3"):
        github.add_repo("acme", name)
    expected: Counter[tuple[int, str]] = Counter()
    now_on(github)
    for _ in range(12):  # one second holds more issues than a page (per_page=5)
        issue = github.add_issue("acme", "r1")
        expected[(issue["id"], issue["updated_at"])] += 1
    for _ in range(3):
        issue = github.add_issue("acme", "r2")
        expected[(issue["id"], issue["updated_at"])] += 1
    wait_past_horizon()

    run_to_end(start_stream(spark, issue_options(github), tmp_path, schema=SCHEMA))
    assert versions(spark, tmp_path / "sink") == expected

    now_on(github)
    for number in (2, 11):  # updates: the same id again with a newer updated_at
        issue = github.update_issue("acme", "r1", number, title="edited")
        expected[(issue["id"], issue["updated_at"])] += 1
    github.add_repo("acme", "r4")  # the third page of the parent list
    for repo in ("r2", "r3", "r4", "r4"):
        issue = github.add_issue("acme", repo)
        expected[(issue["id"], issue["updated_at"])] += 1
    wait_past_horizon()

    run_to_end(start_stream(spark, issue_options(github), tmp_path, schema=SCHEMA))
    assert versions(spark, tmp_path / "sink") == expected  # none lost, none twice
    issue_requests = [s for s in github.requests if "/issues" in s.path]
    assert any("page=3" in s.target for s in issue_requests)  # followed Link to the 3rd page
    assert all(s.headers.get("authorization") == f"Bearer {TOKEN}" for s in github.requests)
