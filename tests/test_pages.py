"""PageFetcher and the per-worker HTTP sessions."""

from __future__ import annotations

import pytest
from pytest_httpx import HTTPXMock

from rest_stream.errors import RestResponseError
from rest_stream.http import pages
from rest_stream.http.pages import PageFetcher, worker_session
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import parse_options

URL = "https://api.example.com/items"


def test_worker_session_is_shared_by_equal_options_only() -> None:
    a = parse_options({"url": URL})
    again = parse_options({"url": URL})
    other = parse_options({"url": URL, "readTimeout": "5"})
    assert worker_session(a, None) is worker_session(again, None)
    assert worker_session(a, None) is not worker_session(other, None)
    assert worker_session(a, None) is not worker_session(a, 2.0)


def test_worker_sessions_beyond_the_kept_few_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages, "_WORKER_SESSIONS_KEPT", 2)
    sessions = []
    for i in range(3):
        sessions.append(worker_session(parse_options({"url": f"{URL}/{i}"}), None))
        sessions[-1].client  # noqa: B018 - opens the client
    assert sessions[0]._client is None  # evicted and closed
    assert sessions[2]._client is not None


def test_fetcher_leaves_a_shared_session_open(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json=[{"id": 1}])
    options = parse_options({"url": URL})
    shared = worker_session(options, None)
    with PageFetcher(options, session=shared) as fetcher:
        assert fetcher.fetch(RequestSpec("GET", URL)).records == [{"id": 1}]
    assert shared._client is not None


def test_fetch_ordered_keeps_request_order(httpx_mock: HTTPXMock) -> None:
    for page in range(6):
        httpx_mock.add_response(url=f"{URL}?page={page}", json={"data": [{"page": page}]})
    options = parse_options({"url": URL, "requestConcurrency": "3"})
    with PageFetcher(options) as fetcher:
        specs = [RequestSpec("GET", URL, params=(("page", str(p)),)) for p in range(6)]
        got = [page.records[0]["page"] for page in fetcher.fetch_ordered(specs)]
    assert got == list(range(6))


# --- missing data never reads as no data ------------------------------------------------------


def test_a_records_path_that_matches_nothing_fails_naming_the_path_and_the_url(
    httpx_mock: HTTPXMock,
) -> None:
    httpx_mock.add_response(url=URL + "?cursor=", json={"data": [{"id": 1}], "next": "c2"})
    options = parse_options({"url": URL, "recordsPath": "$.dta[*]"})
    with PageFetcher(options) as fetcher, pytest.raises(RestResponseError) as info:
        fetcher.fetch(RequestSpec("GET", URL, params=(("cursor", ""),)))
    assert str(info.value).startswith(
        f"Response of {URL}?cursor= (HTTP 200) has no records at recordsPath=$.dta[*]: no field "
        "'dta' (its fields are: data, next)"
    )


def test_an_error_object_is_no_record_of_the_schema(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"message": "API rate limit exceeded"})
    options = parse_options({"url": URL})
    with (
        PageFetcher(options, record_fields=frozenset({"id"})) as fetcher,
        pytest.raises(RestResponseError, match="none of the schema's fields"),
    ):
        fetcher.fetch(RequestSpec("GET", URL))


def test_a_lone_object_with_a_field_of_the_schema_is_one_record(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=URL, json={"id": 7, "name": None})
    with PageFetcher(parse_options({"url": URL}), record_fields=frozenset({"id"})) as fetcher:
        assert fetcher.fetch(RequestSpec("GET", URL)).records == [{"id": 7, "name": None}]


def test_a_response_that_is_no_page_of_records_is_not_searched_for_records(
    httpx_mock: HTTPXMock,
) -> None:
    """A probe or a parent list answers in its own shape: `records=False` leaves it alone."""
    httpx_mock.add_response(url=URL, json={"max_id": 41})
    options = parse_options({"url": URL, "recordsPath": "$.data[*]"})
    with PageFetcher(options) as fetcher:
        page = fetcher.fetch(RequestSpec("GET", URL), records=False)
    assert (page.records, page.document) == ([], {"max_id": 41})


def test_a_parent_list_whose_input_data_path_misses_fails_naming_it(httpx_mock: HTTPXMock) -> None:
    from rest_stream.driver.stream_list import parent_rows

    parent = "https://api.example.com/repos"
    httpx_mock.add_response(url=parent, json={"repos": [{"name": "a"}]})
    options = parse_options(
        {"url": URL + "?repo={name}", "inputDataUrl": parent, "inputDataPath": "$.repoz[*]"}
    )
    with PageFetcher(options) as fetcher, pytest.raises(RestResponseError) as info:
        parent_rows(options, fetcher)
    assert str(info.value).startswith(
        f"Response of {parent} (HTTP 200) has no records at inputDataPath=$.repoz[*]: no field "
        "'repoz' (its fields are: repos). Check inputDataPath"
    )


def test_schema_inference_refuses_a_sample_without_its_records(httpx_mock: HTTPXMock) -> None:
    """The sample is read like any page: a typo or an error object is no sample of zero
    records (which would fail later with a vaguer "no records" or infer an error's schema)."""
    from rest_stream.driver.sampling import sample_schema

    httpx_mock.add_response(url=URL, json={"data": [{"id": 1}]})
    with pytest.raises(RestResponseError, match=r"recordsPath=\$\.dta\[\*\]: no field 'dta'"):
        sample_schema(parse_options({"url": URL, "recordsPath": "$.dta[*]"}))
    httpx_mock.add_response(url=URL, json={"error": "quota"})
    with pytest.raises(RestResponseError, match="is an error, not records"):
        sample_schema(parse_options({"url": URL}))
