"""The GitHub emulation does what GitHub's docs say (see `tests.vendors.github`'s docstring)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.vendors.github import GitHubApi, decode_cursor

T0 = "2024-03-01T12:00:00Z"
ISSUES_QUERY = """
query($owner: String!, $name: String!, $first: Int!, $after: String) {
  repository(owner: $owner, name: $name) {
    issues(first: $first, after: $after, orderBy: {field: CREATED_AT, direction: ASC}) {
      pageInfo { endCursor hasNextPage }
      nodes { id number title createdAt updatedAt }
    }
  }
}
"""


@pytest.fixture
def api() -> Iterator[GitHubApi]:
    with GitHubApi(clock=T0) as started:
        yield started


@pytest.fixture
def client(api: GitHubApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=5) as http:
        yield http


def links(response: httpx.Response) -> dict[str, str]:
    """``Link`` as {rel: url}."""
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


def graphql(client: httpx.Client, query: str = ISSUES_QUERY, **variables: Any) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables})


# --- REST issues ------------------------------------------------------------------------------


def test_since_is_inclusive_to_the_second(api: GitHubApi, client: httpx.Client) -> None:
    for _ in range(3):
        api.add_issue("octo", "repo")  # three issues in the same second
    api.advance(1)
    api.add_issue("octo", "repo")
    params = {"since": T0, "state": "all", "sort": "updated", "direction": "asc"}
    assert [i["number"] for i in client.get("/repos/octo/repo/issues", params=params).json()] == [
        1,
        2,
        3,
        4,
    ]
    params["since"] = "2024-03-01T12:00:01Z"
    assert [i["number"] for i in client.get("/repos/octo/repo/issues", params=params).json()] == [4]


def test_issue_fields_are_realistic(api: GitHubApi, client: httpx.Client) -> None:
    api.add_issue("octo", "repo", title="Bug", labels=["bug", "ui"], body=None, user="hubot")
    [issue] = client.get("/repos/octo/repo/issues").json()
    assert isinstance(issue["id"], int) and issue["id"] > 2**31
    assert issue["number"] == 1 and issue["title"] == "Bug" and issue["state"] == "open"
    assert issue["created_at"] == issue["updated_at"] == T0
    assert issue["user"]["login"] == "hubot" and isinstance(issue["user"]["id"], int)
    assert [label["name"] for label in issue["labels"]] == ["bug", "ui"]
    assert issue["body"] is None


def test_defaults_are_open_issues_newest_created_first(
    api: GitHubApi, client: httpx.Client
) -> None:
    for _ in range(3):
        api.add_issue("octo", "repo")
        api.advance(60)
    api.update_issue("octo", "repo", 2, state="closed")
    assert [i["number"] for i in client.get("/repos/octo/repo/issues").json()] == [3, 1]
    closed = client.get("/repos/octo/repo/issues", params={"state": "closed"}).json()
    assert [(i["number"], i["state"], i["closed_at"]) for i in closed] == [
        (2, "closed", "2024-03-01T12:03:00Z")
    ]


def test_an_update_brings_the_same_id_back_with_a_newer_updated_at(
    api: GitHubApi, client: httpx.Client
) -> None:
    first = api.add_issue("octo", "repo")
    api.add_issue("octo", "repo")
    api.advance(5)
    api.update_issue("octo", "repo", 1, title="renamed")
    params = {"sort": "updated", "direction": "asc", "since": "2024-03-01T12:00:05Z"}
    [again] = client.get("/repos/octo/repo/issues", params=params).json()
    assert again["id"] == first["id"] and again["title"] == "renamed"
    assert again["updated_at"] == "2024-03-01T12:00:05Z" > first["updated_at"]
    by_update = client.get("/repos/octo/repo/issues", params={"sort": "updated"}).json()
    assert [i["number"] for i in by_update] == [1, 2]  # desc by default


def test_sort_comments_and_direction(api: GitHubApi, client: httpx.Client) -> None:
    for count in (5, 0, 9):
        api.add_issue("octo", "repo", comments=count)
    asc = client.get("/repos/octo/repo/issues", params={"sort": "comments", "direction": "asc"})
    assert [i["comments"] for i in asc.json()] == [0, 5, 9]


def test_per_page_defaults_to_30_and_is_capped_at_100(api: GitHubApi, client: httpx.Client) -> None:
    for _ in range(120):
        api.add_issue("octo", "repo")
    assert len(client.get("/repos/octo/repo/issues").json()) == 30
    assert len(client.get("/repos/octo/repo/issues", params={"per_page": 500}).json()) == 100
    assert len(client.get("/repos/octo/repo/issues", params={"per_page": 0}).json()) == 30


def test_link_header_pages_through_with_absolute_urls(api: GitHubApi, client: httpx.Client) -> None:
    for _ in range(5):
        api.add_issue("octo", "repo")
    first = client.get("/repos/octo/repo/issues", params={"per_page": 2, "state": "all"})
    rels = links(first)
    assert set(rels) == {"next", "last"}
    assert rels["next"].startswith(api.url + "/repositories/")
    assert "per_page=2" in rels["next"] and "state=all" in rels["next"]
    assert rels["next"].endswith("page=2") and rels["last"].endswith("page=3")
    seen, response = [i["number"] for i in first.json()], first
    while "next" in links(response):
        response = client.get(links(response)["next"])
        seen += [i["number"] for i in response.json()]
    assert seen == [5, 4, 3, 2, 1]
    assert set(links(response)) == {"prev", "first"}
    assert links(response)["prev"].endswith("page=2")


def test_one_page_has_no_link_header(api: GitHubApi, client: httpx.Client) -> None:
    api.add_issue("octo", "repo")
    assert "link" not in client.get("/repos/octo/repo/issues").headers


def test_a_bad_since_is_422_and_an_unknown_repo_404(api: GitHubApi, client: httpx.Client) -> None:
    api.add_issue("octo", "repo")
    bad = client.get("/repos/octo/repo/issues", params={"since": "yesterday"})
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["message"]
    missing = client.get("/repos/octo/nope/issues")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"


# --- conditional requests and rate limits -----------------------------------------------------


def test_etag_304_does_not_count_against_the_rate_limit(
    api: GitHubApi, client: httpx.Client
) -> None:
    api.add_issue("octo", "repo")
    first = client.get("/repos/octo/repo/issues")
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag
    assert first.headers["x-ratelimit-used"] == "1"
    again = client.get("/repos/octo/repo/issues", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["x-ratelimit-used"] == "1"
    assert again.headers["x-ratelimit-remaining"] == "4999"
    api.advance(1)
    api.update_issue("octo", "repo", 1, title="changed")
    changed = client.get("/repos/octo/repo/issues", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.headers["x-ratelimit-used"] == "2"


def test_rate_limit_headers_and_the_403_when_spent() -> None:
    wall = [1_700_000_000.0]
    with GitHubApi(rate_limit=2, now=lambda: wall[0]) as api, httpx.Client() as http:
        api.add_issue("octo", "repo")
        url = f"{api.url}/repos/octo/repo/issues"
        ok = http.get(url)
        assert ok.headers["x-ratelimit-limit"] == "2"
        assert ok.headers["x-ratelimit-remaining"] == "1"
        assert ok.headers["x-ratelimit-reset"] == "1700003600"
        assert ok.headers["x-ratelimit-resource"] == "core"
        http.get(url)
        spent = http.get(url)
        assert spent.status_code == 403
        assert spent.headers["x-ratelimit-remaining"] == "0"
        body = spent.json()
        assert body["message"].startswith("API rate limit exceeded")
        assert body["documentation_url"].startswith("https://docs.github.com/")
        wall[0] = 1_700_003_600.0  # the reset time passes: a fresh window
        assert http.get(url).status_code == 200


def test_a_set_budget_and_429() -> None:
    with GitHubApi(rate_limit_status=429) as api, httpx.Client() as http:
        api.add_issue("octo", "repo")
        api.set_rate_limit(limit=10, remaining=0, reset=4_000_000_000)
        spent = http.get(f"{api.url}/repos/octo/repo/issues")
        assert spent.status_code == 429
        assert spent.headers["x-ratelimit-reset"] == "4000000000"
        assert http.get(f"{api.url}/rate_limit").json()["rate"]["remaining"] == 0


def test_secondary_rate_limit_has_retry_after(api: GitHubApi, client: httpx.Client) -> None:
    api.add_issue("octo", "repo")
    api.secondary_rate_limit(retry_after=7)
    hit = client.get("/repos/octo/repo/issues")
    assert hit.status_code == 403 and hit.headers["retry-after"] == "7"
    assert "secondary rate limit" in hit.json()["message"]
    assert client.get("/repos/octo/repo/issues").status_code == 200


def test_tokens_bearer_or_token_and_bad_credentials() -> None:
    with GitHubApi(token="s3cret") as api, httpx.Client(base_url=api.url) as http:
        api.add_issue("octo", "repo")
        path = "/repos/octo/repo/issues"
        assert http.get(path, headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert http.get(path, headers={"Authorization": "token s3cret"}).status_code == 200
        wrong = http.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
        assert http.get(path).status_code == 401
        assert [seen.status for seen in api.requests] == [200, 200, 401, 401]


# --- REST org repos ---------------------------------------------------------------------------


def test_org_repos_paginate_newest_first_and_by_name(api: GitHubApi, client: httpx.Client) -> None:
    for name in ("delta", "alpha", "echo", "charlie", "bravo"):
        api.add_repo("acme", name)
        api.advance(10)
    page = client.get("/orgs/acme/repos", params={"per_page": 2})
    names = [r["name"] for r in page.json()]
    while "next" in links(page):
        page = client.get(links(page)["next"])
        names += [r["name"] for r in page.json()]
    assert names == ["bravo", "charlie", "echo", "alpha", "delta"]
    by_name = client.get("/orgs/acme/repos", params={"sort": "full_name"}).json()
    assert [r["full_name"] for r in by_name][:2] == ["acme/alpha", "acme/bravo"]
    assert by_name[0]["owner"]["login"] == "acme" and isinstance(by_name[0]["id"], int)
    assert client.get("/orgs/nobody/repos").status_code == 404


# --- GraphQL ----------------------------------------------------------------------------------


def test_graphql_pages_with_end_cursor_until_has_next_page_is_false(
    api: GitHubApi, client: httpx.Client
) -> None:
    for n in range(5):
        api.add_issue("octo", "repo", title=f"t{n}")
        api.advance(1)
    numbers, after, pages = [], None, 0
    while True:
        response = graphql(client, owner="octo", name="repo", first=2, after=after)
        assert response.status_code == 200
        issues = response.json()["data"]["repository"]["issues"]
        numbers += [node["number"] for node in issues["nodes"]]
        pages += 1
        if not issues["pageInfo"]["hasNextPage"]:
            break
        after = issues["pageInfo"]["endCursor"]
    assert numbers == [1, 2, 3, 4, 5] and pages == 3
    node = issues["nodes"][-1]
    assert set(node) == {"id", "number", "title", "createdAt", "updatedAt"}
    assert node["createdAt"] == "2024-03-01T12:00:04Z"


def test_graphql_cursor_after_the_end_sees_appended_nodes(
    api: GitHubApi, client: httpx.Client
) -> None:
    for _ in range(3):
        api.add_issue("octo", "repo")
    end = graphql(client, owner="octo", name="repo", first=100).json()
    cursor = end["data"]["repository"]["issues"]["pageInfo"]["endCursor"]
    assert base64.b64decode(cursor).startswith(b"cursor:v2:")
    assert decode_cursor(cursor)[-1] == api.issues("octo", "repo")[-1]["id"]
    empty = graphql(client, owner="octo", name="repo", first=10, after=cursor).json()
    assert empty["data"]["repository"]["issues"] == {
        "pageInfo": {"endCursor": None, "hasNextPage": False},
        "nodes": [],
    }
    api.advance(1)
    api.add_issue("octo", "repo")
    api.add_issue("octo", "repo")
    more = graphql(client, owner="octo", name="repo", first=10, after=cursor).json()
    assert [n["number"] for n in more["data"]["repository"]["issues"]["nodes"]] == [4, 5]


def test_graphql_errors_come_with_200(api: GitHubApi, client: httpx.Client) -> None:
    api.add_issue("octo", "repo")
    bad = graphql(client, owner="octo", name="repo", first=1, after="bm90LWEtY3Vyc29y")
    assert bad.status_code == 200
    assert bad.json()["data"] == {"repository": None}
    [error] = bad.json()["errors"]
    assert error["type"] == "INVALID_CURSOR_ARGUMENTS"
    assert error["path"] == ["repository", "issues"] and error["locations"]
    missing = graphql(client, owner="octo", name="gone", first=1).json()
    assert missing["data"] == {"repository": None}
    assert missing["errors"][0]["type"] == "NOT_FOUND"
    assert missing["errors"][0]["message"] == (
        "Could not resolve to a Repository with the name 'octo/gone'."
    )
    too_many = graphql(client, owner="octo", name="repo", first=101).json()
    assert too_many["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    nullable = ISSUES_QUERY.replace("$first: Int!", "$first: Int")
    unbounded = graphql(client, nullable, owner="octo", name="repo").json()
    assert unbounded["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    required = graphql(client, owner="octo", name="repo").json()
    assert "data" not in required
    assert required["errors"][0]["message"] == (
        "Variable $first of type Int! was provided invalid value"
    )


def test_graphql_failures_on_demand_then_recovery(api: GitHubApi, client: httpx.Client) -> None:
    api.add_issue("octo", "repo")
    api.fail_graphql(2)
    for _ in range(2):
        failed = graphql(client, owner="octo", name="repo", first=5)
        assert failed.status_code == 200
        assert failed.json()["errors"][0]["type"] == "RATE_LIMITED"
        assert failed.headers["x-ratelimit-remaining"] == "0"
    ok = graphql(client, owner="octo", name="repo", first=5)
    assert ok.json()["data"]["repository"]["issues"]["nodes"][0]["number"] == 1
    assert ok.headers["x-ratelimit-resource"] == "graphql"


def test_graphql_budget_spent_is_200_rate_limited() -> None:
    with GitHubApi(graphql_rate_limit=1) as api, httpx.Client(base_url=api.url) as http:
        api.add_issue("octo", "repo")
        assert "data" in graphql(http, owner="octo", name="repo", first=5).json()
        spent = graphql(http, owner="octo", name="repo", first=5)
        assert spent.status_code == 200 and spent.headers["x-ratelimit-remaining"] == "0"
        assert spent.json()["errors"][0]["type"] == "RATE_LIMITED"
        rest = http.get("/repos/octo/repo/issues")  # REST has its own budget
        assert rest.status_code == 200


def test_graphql_literals_aliases_edges_and_unknown_fields(
    api: GitHubApi, client: httpx.Client
) -> None:
    api.add_issue("octo", "repo", title="one")
    query = """{ r: repository(owner: "octo", name: "repo") {
      issues(first: 5) { totalCount edges { cursor node { title author { login } } } } } }"""
    data = graphql(client, query).json()["data"]
    [edge] = data["r"]["issues"]["edges"]
    assert edge["node"] == {"title": "one", "author": {"login": "octocat"}}
    assert data["r"]["issues"]["totalCount"] == 1 and decode_cursor(edge["cursor"])
    wrong = graphql(client, '{ repository(owner: "octo", name: "repo") { nope } }').json()
    assert "data" not in wrong
    assert wrong["errors"][0]["message"] == "Field 'nope' doesn't exist on type 'Repository'"
