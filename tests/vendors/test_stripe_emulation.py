"""The Stripe emulation follows Stripe's documented `GET /v1/events` behaviour (plain httpx)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.vendors.stripe import Clock, StripeApi

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def api() -> Iterator[StripeApi]:
    with StripeApi(clock=Clock(T0), seed=7) as server:
        yield server


@pytest.fixture
def client(api: StripeApi) -> Iterator[httpx.Client]:
    auth = {"Authorization": f"Bearer {api.api_key}"}
    with httpx.Client(base_url=api.url, headers=auth, timeout=5) as c:
        yield c


def fill(api: StripeApi, n: int, per_second: int = 5) -> list[dict]:
    """`n` customer.created events, `per_second` of them in each second; returns them oldest
    first."""
    added = []
    for i in range(n):
        if i and i % per_second == 0:
            api.advance(1)
        added.append(api.add_event("customer.created", email=f"c{i}@example.com"))
    return added


def ids(page: dict) -> list[str]:
    return [e["id"] for e in page["data"]]


def test_list_envelope_newest_first_with_ties_in_one_second(
    api: StripeApi, client: httpx.Client
) -> None:
    added = fill(api, 7, per_second=3)
    page = client.get("/v1/events").json()
    assert set(page) == {"object", "url", "has_more", "data"}
    assert page["object"] == "list" and page["url"] == "/v1/events"
    assert page["has_more"] is False
    assert ids(page) == [e["id"] for e in reversed(added)]  # ties: the later-added first
    created = [e["created"] for e in page["data"]]
    assert created == sorted(created, reverse=True) and len(set(created)) == 3


def test_event_object_shape(api: StripeApi, client: httpx.Client) -> None:
    event = api.add_event("customer.created", email="a@example.com")
    automatic = api.add_event("invoice.finalized", request={"id": None, "idempotency_key": None})
    got = client.get("/v1/events", params={"limit": 2}).json()["data"]
    assert got[1] == event
    assert event["id"].startswith("evt_1") and len(event["id"]) == 28
    assert event["object"] == "event" and event["created"] == T0
    assert event["data"]["object"]["object"] == "customer"
    assert event["data"]["object"]["id"].startswith("cus_")
    assert event["livemode"] is False and event["pending_webhooks"] == 0
    assert event["request"]["id"].startswith("req_")
    assert got[0]["request"] == automatic["request"] == {"id": None, "idempotency_key": None}
    assert client.get(f"/v1/events/{event['id']}").json() == event


def test_limit_default_bounds_and_errors(api: StripeApi, client: httpx.Client) -> None:
    fill(api, 120)
    assert len(client.get("/v1/events").json()["data"]) == 10
    full = client.get("/v1/events", params={"limit": 100}).json()
    assert len(full["data"]) == 100 and full["has_more"] is True
    for bad in ("0", "101", "ten"):
        reply = client.get("/v1/events", params={"limit": bad})
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "limit"


def test_starting_after_walks_every_event_once(api: StripeApi, client: httpx.Client) -> None:
    added = fill(api, 23, per_second=4)
    seen, cursor, pages = [], None, 0
    while True:
        params: dict = {"limit": 5}
        if cursor:
            params["starting_after"] = cursor
        page = client.get("/v1/events", params=params).json()
        pages += 1
        seen += ids(page)
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert pages == 5
    assert seen == [e["id"] for e in reversed(added)]


def test_ending_before_returns_the_adjacent_newer_events(
    api: StripeApi, client: httpx.Client
) -> None:
    added = fill(api, 12, per_second=4)
    newest_first = [e["id"] for e in reversed(added)]
    pivot = newest_first[8]
    page = client.get("/v1/events", params={"ending_before": pivot, "limit": 3}).json()
    assert ids(page) == newest_first[5:8]  # adjacent to the pivot, still newest first
    assert page["has_more"] is True
    top = client.get("/v1/events", params={"ending_before": newest_first[2], "limit": 3}).json()
    assert ids(top) == newest_first[:2] and top["has_more"] is False
    # polling for new events: nothing newer than the newest, until one is added
    none = client.get("/v1/events", params={"ending_before": newest_first[0]}).json()
    assert none["data"] == [] and none["has_more"] is False
    fresh = api.add_event("customer.created")
    assert ids(client.get("/v1/events", params={"ending_before": newest_first[0]}).json()) == [
        fresh["id"]
    ]


def test_cursor_errors(api: StripeApi, client: httpx.Client) -> None:
    added = fill(api, 3)
    both = client.get(
        "/v1/events", params={"starting_after": added[0]["id"], "ending_before": added[1]["id"]}
    )
    assert both.status_code == 400 and both.json()["error"]["type"] == "invalid_request_error"
    for param in ("starting_after", "ending_before"):
        reply = client.get("/v1/events", params={param: "evt_1NoSuchEventNoSuchEventXX"})
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error == {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
            "message": "No such event: 'evt_1NoSuchEventNoSuchEventXX'",
            "param": param,
        }
    unknown = client.get("/v1/events", params={"color": "red"})
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "color"
    missing = client.get("/v1/events/evt_1NoSuchEventNoSuchEventXX")
    assert missing.status_code == 404


def test_created_range_filters(api: StripeApi, client: httpx.Client) -> None:
    fill(api, 10, per_second=2)  # seconds T0 .. T0+4, two events each

    def created(**params: int) -> list[int]:
        page = client.get("/v1/events", params={"limit": 100, **params}).json()
        return [e["created"] for e in page["data"]]

    assert set(created(**{"created[gt]": T0 + 2})) == {T0 + 3, T0 + 4}
    assert set(created(**{"created[gte]": T0 + 2})) == {T0 + 2, T0 + 3, T0 + 4}
    assert set(created(**{"created[lt]": T0 + 1})) == {T0}
    assert set(created(**{"created[lte]": T0 + 1})) == {T0, T0 + 1}
    assert created(created=T0 + 3) == [T0 + 3, T0 + 3]
    both = created(**{"created[gte]": T0 + 1, "created[lt]": T0 + 3})
    assert sorted(both) == [T0 + 1, T0 + 1, T0 + 2, T0 + 2]


def test_type_filters(api: StripeApi, client: httpx.Client) -> None:
    api.add_event("customer.created")
    api.add_event("charge.succeeded")
    api.add_event("customer.deleted")

    def types(params: dict | list) -> list[str]:
        return [e["type"] for e in client.get("/v1/events", params=params).json()["data"]]

    assert types({"type": "customer.*"}) == ["customer.deleted", "customer.created"]
    assert types({"type": "charge.succeeded"}) == ["charge.succeeded"]
    assert types([("types[]", "charge.succeeded"), ("types[]", "customer.created")]) == [
        "charge.succeeded",
        "customer.created",
    ]
    both = client.get("/v1/events", params=[("type", "x"), ("types[]", "y")])
    assert both.status_code == 400


def test_an_update_is_a_new_event_about_the_same_object(
    api: StripeApi, client: httpx.Client
) -> None:
    created = api.add_event("customer.created", email="old@example.com", name="Ada")
    customer_id = created["data"]["object"]["id"]
    api.advance(1)
    updated = api.update(customer_id, email="new@example.com")
    assert updated["type"] == "customer.updated" and updated["id"] != created["id"]
    assert updated["data"]["object"]["id"] == customer_id
    assert updated["data"]["object"]["email"] == "new@example.com"
    assert updated["data"]["object"]["name"] == "Ada"
    assert updated["data"]["previous_attributes"] == {"email": "old@example.com"}
    data = client.get("/v1/events").json()["data"]
    assert [e["type"] for e in data] == ["customer.updated", "customer.created"]
    assert data[1]["data"]["object"]["email"] == "old@example.com"  # events never change
    assert api.object(customer_id)["email"] == "new@example.com"


def test_auth_bearer_basic_and_failures(api: StripeApi) -> None:
    api.add_event("customer.created")
    basic = base64.b64encode(f"{api.api_key}:".encode()).decode()
    with httpx.Client(base_url=api.url, timeout=5) as c:
        assert c.get("/v1/events", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        assert c.get("/v1/events", auth=(api.api_key, "")).status_code == 200
        none = c.get("/v1/events")
        assert (
            none.status_code == 401
            and "did not provide an API key" in none.json()["error"]["message"]
        )
        wrong = c.get("/v1/events", headers={"Authorization": "Bearer sk_test_wrongwrongwrong1234"})
        assert wrong.status_code == 401
        error = wrong.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"].startswith("Invalid API Key provided: sk_test_")
        assert error["message"].endswith("1234") and "wrongwrong" not in error["message"]


def test_rate_limit_429_error_object(client: httpx.Client) -> None:
    with StripeApi(rate_limit=2, rate_window=30) as limited:
        auth = {"Authorization": f"Bearer {limited.api_key}"}
        statuses = [
            httpx.get(f"{limited.url}/v1/events", headers=auth, timeout=5).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        reply = httpx.get(f"{limited.url}/v1/events", headers=auth, timeout=5)
        assert reply.json()["error"]["code"] == "rate_limit"
        assert reply.json()["error"]["type"] == "invalid_request_error"


def test_fail_next_and_requests_log(api: StripeApi, client: httpx.Client) -> None:
    api.fail_next(1, status=429)
    api.fail_next(1, status=500)
    assert client.get("/v1/events").status_code == 429
    reply = client.get("/v1/events")
    assert reply.status_code == 500 and reply.json()["error"]["type"] == "api_error"
    assert client.get("/v1/events").status_code == 200
    assert [s.status for s in api.requests] == [429, 500, 200]
    assert reply.headers["request-id"].startswith("req_")


def test_thirty_day_retention(api: StripeApi, client: httpx.Client) -> None:
    old = api.add_event("customer.created")
    api.advance(31 * 86400)
    recent = api.add_event("customer.created")
    assert ids(client.get("/v1/events").json()) == [recent["id"]]
    assert client.get("/v1/events", params={"starting_after": old["id"]}).status_code == 400
