"""The Zendesk emulation follows the documented cursor-based incremental ticket export."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.vendors.zendesk import Clock, ZendeskApi, decode_cursor, encode_cursor

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
EXPORT = "/api/v2/incremental/tickets/cursor.json"


@pytest.fixture
def api() -> Iterator[ZendeskApi]:
    with ZendeskApi(clock=Clock(T0), per_page=3, rate_limit=None) as server:
        yield server


@pytest.fixture
def client(api: ZendeskApi) -> Iterator[httpx.Client]:
    auth = {"Authorization": f"Bearer {api.oauth_token}"}
    with httpx.Client(base_url=api.url, headers=auth, timeout=5) as c:
        yield c


def export(client: httpx.Client, **params: str | int) -> dict:
    reply = client.get(EXPORT, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def follow(client: httpx.Client, first: dict) -> tuple[list[dict], dict]:
    """Every ticket from `first` on, following after_url to the end of the stream; and the
    last page."""
    pages = [first]
    while not pages[-1]["end_of_stream"]:
        pages.append(client.get(pages[-1]["after_url"]).json())
    return [t for p in pages for t in p["tickets"]], pages[-1]


def test_cursor_helpers_match_the_documented_example() -> None:
    assert encode_cursor(1580753798, 432) == "MTU4MDc1Mzc5OC4wfHw0MzJ8"
    assert decode_cursor("MTU4MDc1Mzc5OC4wfHw0MzJ8") == (1580753798, 432)
    assert decode_cursor("not a cursor") is None


def test_envelope_order_and_pages(api: ZendeskApi, client: httpx.Client) -> None:
    for i in range(7):
        api.add_ticket(subject=f"s{i}", tags=["vip"], custom_fields={360001: f"v{i}"})
        if i % 3 == 2:
            api.advance(1)
    api.advance(120)
    first = export(client, start_time=T0 - 3600)
    assert set(first) == {
        "tickets",
        "after_url",
        "after_cursor",
        "before_url",
        "before_cursor",
        "end_of_stream",
    }
    assert first["end_of_stream"] is False and len(first["tickets"]) == 3
    assert first["after_url"] == f"{api.url}{EXPORT}?cursor={first['after_cursor']}"
    tickets, last = follow(client, first)
    assert [t["id"] for t in tickets] == list(range(1, 8))
    keys = [(t["generated_timestamp"], t["id"]) for t in tickets]
    assert keys == sorted(keys) and len({k[0] for k in keys}) == 3
    one = tickets[0]
    assert one["updated_at"] == "2026-01-01T00:00:00Z" and one["generated_timestamp"] == T0
    assert one["tags"] == ["vip"] and one["via"]["channel"] == "web"
    assert one["custom_fields"] == [{"id": 360001, "value": "v0"}]
    assert {"subject", "status", "created_at"} <= set(one)
    assert last["end_of_stream"] is True and last["after_cursor"]


def test_per_page_parameter_and_its_maximum(api: ZendeskApi, client: httpx.Client) -> None:
    for _ in range(5):
        api.add_ticket()
    api.advance(60)
    page = export(client, start_time=T0, per_page=2)
    assert len(page["tickets"]) == 2 and "per_page=2" in page["after_url"]
    assert len(export(client, start_time=T0, per_page=5000)["tickets"]) == 5


def test_start_time_is_inclusive_and_compared_with_generated_timestamp(
    api: ZendeskApi, client: httpx.Client
) -> None:
    old = api.add_ticket(subject="old")
    api.advance(10)
    api.add_ticket(subject="new")
    api.advance(10)
    api.system_update(old["id"])  # an SLA recount: generated_timestamp moves, updated_at not
    api.advance(60)
    got = export(client, start_time=T0 + 10)["tickets"]
    assert [t["subject"] for t in got] == ["new", "old"]
    assert got[1]["updated_at"] == "2026-01-01T00:00:00Z"  # earlier than start_time
    assert got[1]["generated_timestamp"] == T0 + 20


def test_polling_the_kept_cursor_sees_new_changes_once(
    api: ZendeskApi, client: httpx.Client
) -> None:
    for _ in range(4):
        api.add_ticket()
    api.advance(60)
    tickets, last = follow(client, export(client, start_time=T0))
    assert [t["id"] for t in tickets] == [1, 2, 3, 4]
    again = export(client, cursor=last["after_cursor"])
    assert again["tickets"] == [] and again["end_of_stream"] is True
    assert again["after_cursor"] == last["after_cursor"]
    api.update_ticket(2, status="solved", subject="fixed")
    api.add_ticket(subject="fifth")
    withheld = export(client, cursor=last["after_cursor"])  # changed within the last minute
    assert withheld["tickets"] == [] and withheld["end_of_stream"] is True
    api.advance(59)
    assert export(client, cursor=last["after_cursor"])["tickets"] == []
    api.advance(1)
    fresh, end = follow(client, export(client, cursor=last["after_cursor"]))
    assert [(t["id"], t["subject"]) for t in fresh] == [(2, "fixed"), (5, "fifth")]
    assert fresh[0]["status"] == "solved" and fresh[0]["updated_at"] == "2026-01-01T00:01:00Z"
    assert export(client, cursor=end["after_cursor"])["tickets"] == []


def test_deleted_tickets_and_exclude_deleted(api: ZendeskApi, client: httpx.Client) -> None:
    api.add_ticket()
    api.add_ticket()
    api.advance(1)
    api.delete_ticket(1)
    api.advance(60)
    assert [t["status"] for t in export(client, start_time=T0)["tickets"]] == ["new", "deleted"]
    assert [t["id"] for t in export(client, start_time=T0, exclude_deleted="true")["tickets"]] == [
        2
    ]


def test_start_time_must_be_a_minute_old(api: ZendeskApi, client: httpx.Client) -> None:
    api.advance(3600)
    now = T0 + 3600
    for start in (now, now - 59, now + 100):
        reply = client.get(EXPORT, params={"start_time": start})
        assert reply.status_code == 422
        body = reply.json()
        assert body["error"] == "InvalidValue"
        assert body["description"].startswith("Too recent start_time.")
    assert client.get(EXPORT, params={"start_time": now - 60}).status_code == 200
    assert client.get(EXPORT).status_code == 422
    assert client.get(EXPORT, params={"cursor": "garbage!"}).status_code == 422


def test_rate_limit_429_with_retry_after() -> None:
    with ZendeskApi(clock=Clock(T0), rate_limit=3, rate_window=1.0) as api:
        auth = {"Authorization": f"Bearer {api.oauth_token}"}
        with httpx.Client(base_url=api.url, headers=auth, timeout=5) as client:
            ok = [client.get(EXPORT, params={"start_time": T0 - 60}) for _ in range(3)]
            assert [r.status_code for r in ok] == [200, 200, 200]
            assert ok[0].headers["x-rate-limit"] == "3"
            assert [r.headers["x-rate-limit-remaining"] for r in ok] == ["2", "1", "0"]
            limited = client.get(EXPORT, params={"start_time": T0 - 60})
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "1"
            assert limited.text == "Number of allowed API requests per minute exceeded"
            time.sleep(int(limited.headers["retry-after"]))
            assert client.get(EXPORT, params={"start_time": T0 - 60}).status_code == 200


def test_auth_schemes(api: ZendeskApi) -> None:
    token = base64.b64encode(f"{api.email}/token:{api.api_token}".encode()).decode()
    params = {"start_time": T0 - 60}
    with httpx.Client(base_url=api.url, timeout=5) as c:
        assert c.get(EXPORT, params=params, headers={"Authorization": f"Basic {token}"}).is_success
        assert c.get(EXPORT, params=params, auth=(f"{api.email}/token", api.api_token)).is_success
        for headers in ({}, {"Authorization": "Bearer nope"}):
            reply = c.get(EXPORT, params=params, headers=headers)
            assert reply.status_code == 401
            assert reply.json() == {"error": "Couldn't authenticate you"}
        wrong = c.get(EXPORT, params=params, auth=(api.email, api.api_token))  # no /token
        assert wrong.status_code == 401
    assert len(api.requests) == 5
