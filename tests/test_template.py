"""`{placeholder}` substitution and `build_request` for every method and query type."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestOptionError
from rest_stream.http.request import RequestSpec
from rest_stream.http.template import build_request, fill, placeholders
from rest_stream.options.parse import RestOptions, parse_options

BASE = "https://api.example.com"


def options(url: str = BASE + "/items", **raw: str) -> RestOptions:
    return parse_options({"url": url, **raw})


def test_placeholders() -> None:
    assert placeholders(BASE + "/{region}/items?since={since_id}&x={a.b-c}") == {
        "region",
        "since_id",
        "a.b-c",
    }
    assert placeholders(BASE + "/items?q={}&r={1abc}") == set()


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("eu west/1", "eu%20west%2F1"),
        ("a&b=c?d#e", "a%26b%3Dc%3Fd%23e"),
        ("100%", "100%25"),
        ("é", "%C3%A9"),
        ("a+b", "a%2Bb"),
        (5, "5"),
        (2.5, "2.5"),
        (True, "true"),
        (False, "false"),
        (None, ""),
        ({"a": [1, "x y"]}, "%7B%22a%22%3A%5B1%2C%22x%20y%22%5D%7D"),
    ],
)
def test_fill_url_encodes_values(value: Any, encoded: str) -> None:
    assert fill(BASE + "/x/{v}?q={v}", {"v": value}) == f"{BASE}/x/{encoded}?q={encoded}"


def test_fill_without_placeholders_is_unchanged() -> None:
    assert fill(BASE + "/x?a=%20b", {"v": 1}) == BASE + "/x?a=%20b"


def test_missing_placeholder_names_url_and_placeholder() -> None:
    template = BASE + "/{region}/items?since={id}"
    with pytest.raises(RestOptionError) as info:
        fill(template, {"id": 1, "lang": "en"})
    assert info.value.option == "url"
    assert str(info.value) == (
        f"Invalid option url={template!r}: expected a value for {{region}} "
        "(from inputData or offsetField; known: id, lang)."
    )
    with pytest.raises(RestOptionError) as info:
        fill(template, {}, option="latestOffsetUrl")
    assert info.value.option == "latestOffsetUrl"
    assert info.value.expected.endswith("known: none)")


def test_build_request_missing_placeholder() -> None:
    o = options(BASE + "/{region}/items")
    with pytest.raises(RestOptionError) as info:
        build_request(o, {"lang": "en"})
    assert info.value.option == "url"
    assert "{region}" in str(info.value)


# --- GET --------------------------------------------------------------------------------------


def test_get_querystring_sends_other_row_fields_as_params() -> None:
    o = options(BASE + "/{region}/items")
    spec = build_request(o, {"region": "eu west", "lang": "en", "n": 3, "on": True})
    assert spec == RequestSpec(
        "GET", BASE + "/eu%20west/items", params=(("lang", "en"), ("n", "3"), ("on", "true"))
    )


def test_get_inline_sends_only_placeholders() -> None:
    o = options(BASE + "/{region}/items?lang={lang}", queryType="inline")
    spec = build_request(o, {"region": "eu", "lang": "en", "unused": "x"})
    assert spec == RequestSpec("GET", BASE + "/eu/items?lang=en")


def test_offset_placeholder_is_filled() -> None:
    o = options(BASE + "/items?since={id}", offsetType="incremental", offsetField="id")
    assert build_request(o, {}, {"id": 42}) == RequestSpec("GET", BASE + "/items?since=42")


@pytest.mark.parametrize("query_type", ["querystring", "inline"])
def test_offset_without_placeholder_is_a_query_param(query_type: str) -> None:
    o = options(queryType=query_type, offsetType="cursor", offsetField="cursor")
    spec = build_request(o, {}, {"cursor": "abc/="})
    assert spec == RequestSpec("GET", BASE + "/items", params=(("cursor", "abc/="),))


@pytest.mark.parametrize("query_type", ["querystring", "inline"])
def test_empty_cursor_is_not_sent(query_type: str) -> None:
    o = options(queryType=query_type, offsetType="cursor", offsetField="cursor")
    assert build_request(o, {}, {"cursor": ""}) == RequestSpec("GET", BASE + "/items")


def test_row_and_offset_params_order() -> None:
    o = options(offsetType="page", offsetField="page", pageSize="10")
    spec = build_request(o, {"region": "eu"}, {"page": 3})
    assert spec.params == (("region", "eu"), ("page", "3"))


def test_delete_uses_query_params() -> None:
    o = options(method="DELETE")
    assert build_request(o, {"id": 7}) == RequestSpec(
        "DELETE", BASE + "/items", params=(("id", "7"),)
    )


def test_build_request_with_given_url() -> None:
    o = options(BASE + "/{region}/items", method="GET")
    link = BASE + "/eu/items?page=2"
    assert build_request(o, {"region": "eu"}, url=link) == RequestSpec("GET", link)


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_json_body(method: str) -> None:
    o = options(BASE + "/{region}/search", method=method)
    spec = build_request(o, {"region": "eu", "q": {"term": "x"}, "n": 2})
    assert spec == RequestSpec(
        method, BASE + "/eu/search", json_body={"region": "eu", "q": {"term": "x"}, "n": 2}
    )


def test_json_body_with_offset() -> None:
    o = options(method="POST", offsetType="cursor", offsetField="cursor")
    assert build_request(o, {"q": "x"}, {"cursor": "c1"}).json_body == {"q": "x", "cursor": "c1"}
    assert build_request(o, {"q": "x"}, {"cursor": ""}).json_body == {"q": "x"}
    o = options(method="POST", offsetType="incremental", offsetField="since")
    assert build_request(o, {"q": ""}, {"since": 0}).json_body == {"q": "", "since": 0}


def test_form_body() -> None:
    o = options(method="POST", postInputFormat="form", offsetType="cursor", offsetField="cursor")
    spec = build_request(o, {"q": "a b", "n": 3, "on": False, "d": {"k": [1]}}, {"cursor": "c"})
    assert spec == RequestSpec(
        "POST",
        BASE + "/items",
        form_body=(("q", "a b"), ("n", "3"), ("on", "false"), ("d", '{"k":[1]}'), ("cursor", "c")),
    )
    assert build_request(o, {"q": "x"}, {"cursor": ""}).form_body == (("q", "x"),)


def test_specs_are_hashable_values() -> None:
    o = options(offsetType="incremental", offsetField="id")
    assert build_request(o, {"a": 1}, {"id": 2}) == build_request(o, {"a": 1}, {"id": 2})
    assert hash(build_request(o, {"a": 1}, {"id": 2})) == hash(
        build_request(o, {"a": 1}, {"id": 2})
    )


# --- on the wire --------------------------------------------------------------------------------


def test_specs_on_the_wire(httpx_mock: HTTPXMock) -> None:
    from rest_stream.http.session import HttpSession

    o = options(BASE + "/{region}/items", offsetType="cursor", offsetField="cursor")
    httpx_mock.add_response(json=[])
    with HttpSession(o) as http:
        http.fetch(build_request(o, {"region": "eu/1", "q": "a b&c"}, {"cursor": "x=="}))
    sent = httpx_mock.get_request()
    assert sent is not None
    assert str(sent.url) == BASE + "/eu%2F1/items?q=a+b%26c&cursor=x%3D%3D"
    assert sent.url.params.multi_items() == [("q", "a b&c"), ("cursor", "x==")]


def test_bodies_on_the_wire(httpx_mock: HTTPXMock) -> None:
    from rest_stream.http.session import HttpSession

    httpx_mock.add_response(method="POST", json=[])
    httpx_mock.add_response(method="POST", json=[])
    json_options = options(method="POST", offsetType="cursor", offsetField="cursor")
    form_options = options(
        method="POST", postInputFormat="form", offsetType="cursor", offsetField="cursor"
    )
    with HttpSession(json_options) as http:
        http.fetch(build_request(json_options, {"q": "a b"}, {"cursor": "c1"}))
        http.fetch(build_request(form_options, {"q": "a b"}, {"cursor": "c1"}))
    sent_json, sent_form = httpx_mock.get_requests()
    assert sent_json.headers["content-type"] == "application/json"
    assert json.loads(sent_json.content) == {"q": "a b", "cursor": "c1"}
    assert sent_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_form.content == b"q=a+b&cursor=c1"


def test_a_next_link_keeps_the_post_body() -> None:
    from rest_stream.options.parse import parse_options as parse

    options = parse({"url": "https://api.example.com/search", "method": "POST"})
    spec = build_request(options, {"region": "eu"}, url="https://api.example.com/search?p=2")
    assert spec.url == "https://api.example.com/search?p=2"
    assert spec.json_body == {"region": "eu"}
