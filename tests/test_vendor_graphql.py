"""GitHub GraphQL, end to end on Spark against a faithful emulation (tests/vendors/github):
a `cursor` position inside a POST body (`bodyTemplate`), Relay `pageInfo.hasNextPage` as the
stop condition, and GraphQL errors (HTTP 200 with `errors`) failing the read (`errorPath`)
instead of looking like an empty page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.streaming import start_stream
from tests.vendors.github import GitHubApi

TOKEN = "ghp_graphql_token_0123456789"
SCHEMA = "id string, number long, title string"
QUERY = """query($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(first: $first, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { endCursor hasNextPage }
      nodes { id number title createdAt updatedAt }
    }
  }
}"""
CONNECTION = "$.data.repository.issues"


def graphql_options(api: GitHubApi, repo: str = "repo") -> dict[str, str]:
    """The options of docs/recipes.md's GraphQL section, with the emulation's URL."""
    body = {
        "query": QUERY,
        "variables": {"owner": "octo", "name": "{name}", "first": 5, "after": "{after}"},
    }
    return {
        "url": api.graphql_url,
        "method": "POST",
        "inputData": json.dumps([{"name": repo}]),
        "bodyTemplate": json.dumps(body),
        "authType": "Bearer",
        "oauthToken": TOKEN,
        "recordsPath": f"{CONNECTION}.nodes[*]",
        "offsetType": "cursor",
        "offsetField": "after",
        "offsetPath": f"{CONNECTION}.pageInfo.endCursor",
        "hasMorePath": f"{CONNECTION}.pageInfo.hasNextPage",
        "errorPath": "$.errors[*].message",
    }


@pytest.fixture
def github() -> Any:
    with GitHubApi(token=TOKEN) as api:
        yield api


def run(spark: Any, options: dict[str, str], work: Path) -> Any:
    query = start_stream(spark, options, work, schema=SCHEMA)
    try:
        query.awaitTermination(120)
    except Exception as failed:  # a failed query raises here
        return failed
    return query.exception()


def test_graphql_issues_each_once_across_appends_and_a_restart(
    spark: Any, github: GitHubApi, tmp_path: Path
) -> None:
    numbers = [github.add_issue("octo", "repo")["number"] for _ in range(12)]
    assert run(spark, graphql_options(github), tmp_path) is None
    numbers += [github.add_issue("octo", "repo")["number"] for _ in range(4)]
    assert run(spark, graphql_options(github), tmp_path) is None  # a restart: appends only
    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert sorted(r.number for r in rows) == numbers  # none lost, none twice
    bodies = [json.loads(s.body) for s in github.requests if s.path == "/graphql"]
    assert bodies[0]["query"] == QUERY  # braces of the query are sent as written
    assert bodies[0]["variables"] == {"owner": "octo", "name": "repo", "first": 5, "after": None}
    assert all(isinstance(b["variables"]["first"], int) for b in bodies)  # its JSON type kept


def test_a_graphql_error_with_http_200_fails_the_read_and_keeps_the_checkpoint(
    spark: Any, github: GitHubApi, tmp_path: Path
) -> None:
    for _ in range(3):
        github.add_issue("octo", "repo")
    error = run(spark, graphql_options(github, repo="missing"), tmp_path / "bad")
    assert error is not None and "Could not resolve to a Repository" in str(error)
    assert "errorPath" in str(error) and TOKEN not in str(error)

    github.fail_graphql(1)  # rate limited, with 200
    error = run(spark, graphql_options(github), tmp_path)
    assert error is not None and "rate limit" in str(error).lower()
    assert run(spark, graphql_options(github), tmp_path) is None  # the same checkpoint resumes
    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert sorted(r.number for r in rows) == [1, 2, 3]
