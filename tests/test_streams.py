"""The stream list (literal rows or a parent endpoint), the poll schedule and the walk cache."""

from __future__ import annotations

import pickle
import time

import pytest
from pytest_httpx import HTTPXMock

from rest_stream.driver.schedule import PollSchedule
from rest_stream.driver.stream_list import StreamList
from rest_stream.driver.walk_cache import ByteBudget, WalkCache
from rest_stream.errors import RestResponseError
from rest_stream.http.pages import PageFetcher
from rest_stream.options.parse import parse_options
from rest_stream.partitions import CarriedPage

URL = "https://api.example.com/repos/{repo}/events"
PARENT = "https://api.example.com/repos"


def parent_options(**raw: str):  # type: ignore[no-untyped-def]
    return parse_options(
        {"url": URL, "inputDataUrl": PARENT, "inputDataPath": "$.repos[*]", **raw}
    )


def test_literal_rows_need_no_request() -> None:
    streams = StreamList(parse_options({"url": URL, "inputData": '[{"repo": "b"}, {"repo": "a"}]'}))
    assert list(streams.current(fetcher=None)) == ['{"repo":"a"}', '{"repo":"b"}']
    assert streams.row('{"repo":"gone"}') == {"repo": "gone"}  # replayed from its key


def test_parent_rows_are_read_with_the_reads_auth(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(
        url=PARENT,
        json={"repos": [{"repo": "x/a", "stars": 3}, {"repo": "x/b", "stars": 9}]},
        match_headers={"Authorization": "Bearer t0ken-abc"},
    )
    options = parent_options(authType="Bearer", oauthToken="t0ken-abc", streamKey="repo")
    with PageFetcher(options) as fetcher:
        streams = StreamList(options).current(fetcher)
    assert streams == {
        '{"repo":"x/a"}': {"repo": "x/a", "stars": 3},
        '{"repo":"x/b"}': {"repo": "x/b", "stars": 9},
    }


def test_the_parent_list_is_read_again_only_when_due(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PARENT, json={"repos": [{"repo": "a"}]})
    httpx_mock.add_response(url=PARENT, json={"repos": [{"repo": "a"}, {"repo": "b"}]})
    options = parent_options()
    streams = StreamList(options, refresh_every=0.2)
    with PageFetcher(options) as fetcher:
        assert list(streams.current(fetcher)) == ['{"repo":"a"}']
        assert list(streams.current(fetcher)) == ['{"repo":"a"}']  # not due: no request
        time.sleep(0.25)
        assert list(streams.current(fetcher)) == ['{"repo":"a"}', '{"repo":"b"}']
    assert len(httpx_mock.get_requests()) == 2
    copy = pickle.loads(pickle.dumps(streams))
    assert copy.row('{"repo":"b"}') == {"repo": "b"}


def test_a_parent_row_that_is_not_an_object_is_an_error(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PARENT, json={"repos": ["x/a"]})
    options = parent_options()
    with PageFetcher(options) as fetcher, pytest.raises(RestResponseError, match="inputDataPath"):
        StreamList(options).current(fetcher)


def test_poll_schedule() -> None:
    schedule = PollSchedule(interval=60)
    assert schedule.due("a")
    schedule.polled("a")
    schedule.caught_up("a")
    assert not schedule.due("a")
    assert schedule.oldest_first(["a", "b"]) == ["b", "a"]  # b was never read: it goes first
    schedule.polled("b")
    assert schedule.oldest_first(["a", "b"]) == ["a", "b"]
    schedule.available_now = True
    assert schedule.due("a")
    assert schedule.target("a") is None
    schedule.targets = {"a": 9}
    assert schedule.target("a") == 9


@pytest.mark.parametrize(
    ("interval", "waited", "due"),
    [(0.5, 0.46, True), (0.5, 0.44, False), (10.0, 9.91, True), (10.0, 9.8, False)],
)
def test_the_interval_runs_from_poll_start_to_poll_start_less_its_slack(
    interval: float, waited: float, due: bool
) -> None:
    """A stream that caught up in a poll is due again `streamingInterval` after that poll
    began, less a tenth (at most 0.1 s): a trigger of the same interval polls every time."""
    now = [100.0]
    schedule = PollSchedule(interval, clock=lambda: now[0])
    schedule.begin()
    now[0] += 0.3  # the poll's requests took 0.3 s
    schedule.caught_up("a")
    now[0] = 100.0 + waited  # the next poll begins
    schedule.begin()
    assert schedule.due("a") is due


def test_walk_cache_and_byte_budget() -> None:
    cache = WalkCache()
    page = CarriedPage(b"[1]", "u", 200, 0, 1)
    cache.put("k", {"cursor": "a", "skip": 0}, {"cursor": "b", "skip": 0}, [page])
    assert cache.take("k", {"skip": 0, "cursor": "a"}, {"cursor": "c", "skip": 0}) is None
    cache.put("k", 1, 5, [page])
    cache.put("j", 5, 9, [page])
    cache.forget_before({"k": 1})
    assert cache.take("j", 5, 9) is None
    assert cache.take("k", 1, 5) == [page]
    budget = ByteBudget(10)
    budget.spend(6)
    assert not budget.exhausted
    budget.spend(4)
    assert budget.exhausted
