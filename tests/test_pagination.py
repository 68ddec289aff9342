"""Pagination styles and stop conditions (`rest_stream.pagination`): the pages of one answer,
against a real server on 127.0.0.1; and a batch read on Spark that follows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rest_stream.errors import RestOptionError, RestResponseError
from rest_stream.http.pages import PageFetcher
from rest_stream.http.request import RequestSpec
from rest_stream.http.template import build_request
from rest_stream.options.parse import parse_options
from rest_stream.pagination import ResultSet
from tests.loopback import Loopback, Reply, Seen

ITEMS = [{"id": i} for i in range(1, 12)]  # 11 records, 5 a page


def paged(seen: Seen) -> Reply:
    """One API speaking every style: `page`, `offset`, `after` (cursor) and `Link`."""
    size = 5
    if "page" in seen.query:
        start = (int(seen.query["page"]) - 1) * size
    elif "offset" in seen.query:
        start = int(seen.query["offset"])
    elif seen.query.get("after"):
        start = int(seen.query["after"])
    else:
        start = 0
    chunk = ITEMS[start : start + size]
    more = start + size < len(ITEMS)
    body: dict[str, Any] = {"data": chunk, "has_more": more, "done": not more}
    headers: dict[str, str] = {}
    if more:
        body["next"] = f"/items?after={start + size}"
        body["cursor"] = str(start + size)
        headers["Link"] = f'</items?after={start + size}>; rel="next"'
        headers["X-Next"] = str(start + size)
    return Reply.json(body, **headers)


@pytest.fixture(scope="module")
def api() -> Any:
    with Loopback(paged) as server:
        yield server


def answer(api: Loopback, max_pages: int | None = None, **raw: str) -> tuple[list[Any], Any]:
    options = parse_options({"url": api.url + "/items", "recordsPath": "$.data[*]", **raw})
    answers = ResultSet(options, max_pages=max_pages)

    def build(values: Mapping[str, Any], url: str | None) -> RequestSpec:
        return build_request(options, {}, values, url=url)

    with PageFetcher(options) as fetcher:
        page = answers.fetch(fetcher, build)
    return [r["id"] for r in page.records], page


@pytest.mark.parametrize(
    "raw",
    [
        {"pagination": "link"},
        {"pagination": "nextUrl", "nextPagePath": "$.next"},
        {"pagination": "cursor", "nextPagePath": "$.cursor", "nextPageParam": "after"},
        {"pagination": "cursor", "nextPageHeader": "X-Next", "nextPageParam": "after"},
        {"pagination": "page", "nextPageParam": "page", "pageSize": "5"},
        {"pagination": "page", "nextPageParam": "page"},  # ends on the empty page
        {"pagination": "offset", "nextPageParam": "offset", "pageSize": "5"},
    ],
    ids=["link", "nextUrl", "cursor-body", "cursor-header", "page", "page-empty", "offset"],
)
def test_every_style_reads_every_page_once(api: Loopback, raw: dict[str, str]) -> None:
    ids, page = answer(api, **raw)
    assert ids == list(range(1, 12))
    assert not page.more


def test_a_short_page_ends_page_numbers_without_asking_for_the_next(api: Loopback) -> None:
    before = len(api.requests)
    answer(api, pagination="page", nextPageParam="page", pageSize="5")
    assert len(api.requests) - before == 3  # 5 + 5 + 1: no request for an empty 4th page


def test_has_more_false_ends_the_pages_whatever_the_next_cursor_says(api: Loopback) -> None:
    def lying(seen: Seen) -> Reply:
        return Reply.json({"data": [{"id": 1}], "has_more": False, "cursor": "1"})

    with Loopback(lying) as server:
        ids, _ = answer(
            server,
            pagination="cursor",
            nextPagePath="$.cursor",
            nextPageParam="after",
            hasMorePath="$.has_more",
        )
        assert ids == [1] and len(server.requests) == 1


def test_done_true_ends_the_pages(api: Loopback) -> None:
    ids, _ = answer(api, pagination="nextUrl", nextPagePath="$.next", donePath="$.done")
    assert ids == list(range(1, 12))


def test_more_said_but_no_next_named_fails_naming_the_path(api: Loopback) -> None:
    with pytest.raises(RestResponseError, match=r"nextPagePath=\$\.nope"):
        answer(api, pagination="nextUrl", nextPagePath="$.nope", hasMorePath="$.has_more")


def test_a_missing_has_more_flag_fails_instead_of_ending(api: Loopback) -> None:
    with pytest.raises(RestResponseError, match=r"no boolean at hasMorePath=\$\.hasMore"):
        answer(api, pagination="link", hasMorePath="$.hasMore")


def test_a_repeated_next_page_fails_instead_of_looping() -> None:
    def stuck(seen: Seen) -> Reply:
        return Reply.json({"data": [{"id": 1}], "next": "/items?after=5"})

    with Loopback(stuck) as server, pytest.raises(RestResponseError, match="would loop"):
        answer(server, pagination="nextUrl", nextPagePath="$.next")
    assert len(server.requests) == 2


def test_max_pages_cuts_the_answer_and_says_more_follow(api: Loopback) -> None:
    ids, page = answer(api, max_pages=2, pagination="link")
    assert ids == list(range(1, 11)) and page.more and len(page.parts) == 2


def test_pagination_is_refused_beside_a_position_that_already_pages() -> None:
    with pytest.raises(RestOptionError, match="already walks the pages"):
        parse_options(
            {
                "url": "http://x/items",
                "offsetType": "cursor",
                "offsetField": "c",
                "pagination": "link",
            }
        )


def test_a_batch_read_follows_the_pages_of_every_row(spark: Any, api: Loopback) -> None:
    rows = (
        spark.read.format("rest")
        .option("url", api.url + "/items")
        .option("inputData", '[{"k": 1}, {"k": 2}]')
        .option("queryType", "inline")
        .option("recordsPath", "$.data[*]")
        .option("pagination", "nextUrl")
        .option("nextPagePath", "$.next")
        .schema("id long")
        .load()
        .collect()
    )
    assert sorted(r.id for r in rows) == sorted(list(range(1, 12)) * 2)
