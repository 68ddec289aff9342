"""The Salesforce emulation follows the documented REST Query behaviour (plain httpx)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.vendors.salesforce import (
    Clock,
    SalesforceApi,
    format_datetime,
    parse_datetime_literal,
    salesforce_id,
)

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
V = "/services/data/v60.0"
ORDERED = "SELECT Id, Name, SystemModstamp FROM Account {} ORDER BY SystemModstamp ASC, Id ASC"


@pytest.fixture
def api() -> Iterator[SalesforceApi]:
    with SalesforceApi(clock=Clock(T0), batch_size=3) as server:
        yield server


@pytest.fixture
def client(api: SalesforceApi) -> Iterator[httpx.Client]:
    auth = {"Authorization": f"Bearer {api.token}"}
    with httpx.Client(base_url=api.url, headers=auth, timeout=5) as c:
        yield c


def query(client: httpx.Client, soql: str, **headers: str) -> httpx.Response:
    return client.get(f"{V}/query", params={"q": soql}, headers=headers)


def drain(client: httpx.Client, soql: str) -> tuple[list[dict], list[dict]]:
    """Every record of a query, following nextRecordsUrl; and every response body."""
    bodies = [query(client, soql).json()]
    while not bodies[-1]["done"]:
        bodies.append(client.get(bodies[-1]["nextRecordsUrl"]).json())
    return [r for b in bodies for r in b["records"]], bodies


def test_helpers_follow_the_documented_formats() -> None:
    assert format_datetime(T0 * 1000 + 7) == "2026-01-01T00:00:00.007+0000"
    assert parse_datetime_literal("2026-01-01T00:00:00Z") == T0 * 1000
    assert parse_datetime_literal("2026-01-01T00:00:00.123Z") == T0 * 1000 + 123
    assert parse_datetime_literal("2026-01-01T01:00:00+01:00") == T0 * 1000
    assert parse_datetime_literal("2025-12-31T16:00:00-08:00") == T0 * 1000
    assert parse_datetime_literal("2026-01-01T00:00:00.123456Z") == T0 * 1000 + 123
    for bad in (
        "2026-01-01T00:00:00+0000",
        "2026-01-01T00:00:00",
        "2026-01-01 00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-01",
        "2026-01-01T00:00Z",
    ):
        assert parse_datetime_literal(bad) is None, bad
    record_id = salesforce_id("001", 1)
    assert len(record_id) == 18 and record_id.startswith("001")
    assert salesforce_id("001", 2) > record_id


def test_query_envelope_records_and_pagination(api: SalesforceApi, client: httpx.Client) -> None:
    added = []
    for i in range(8):
        added.append(api.add_record("Account", Name=f"Acme {i}"))
        api.advance(0.001 if i % 2 else 0)  # pairs share a millisecond
    records, bodies = drain(client, ORDERED.format(""))
    assert [len(b["records"]) for b in bodies] == [3, 3, 2]
    assert [b["done"] for b in bodies] == [False, False, True]
    assert all(b["totalSize"] == 8 for b in bodies)
    assert "nextRecordsUrl" not in bodies[-1]
    first_url = bodies[0]["nextRecordsUrl"]
    assert first_url.startswith(f"{V}/query/01g") and first_url.endswith("-3")
    assert len(first_url.rsplit("/", 1)[1].split("-")[0]) == 18
    assert [r["Id"] for r in records] == [a["Id"] for a in added]
    one = records[0]
    assert set(one) == {"attributes", "Id", "Name", "SystemModstamp"}
    assert one["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{one['Id']}"}
    assert one["SystemModstamp"] == "2026-01-01T00:00:00.000+0000"
    assert records[2]["SystemModstamp"] == records[3]["SystemModstamp"]
    assert records[3]["SystemModstamp"] == "2026-01-01T00:00:00.001+0000"
    assert one["Id"].startswith("001") and len(one["Id"]) == 18


def test_where_greater_than_and_at_least(api: SalesforceApi, client: httpx.Client) -> None:
    for _ in range(3):
        api.add_record("Account", Name="early")
    api.advance(1.25)
    late = [api.add_record("Account", Name="late") for _ in range(2)]
    stamp = late[0]["SystemModstamp"]
    assert stamp == "2026-01-01T00:00:01.250+0000"
    at = "2026-01-01T00:00:01.250Z"
    assert drain(client, ORDERED.format(f"WHERE SystemModstamp > {at}"))[0] == []
    got = drain(client, ORDERED.format(f"WHERE SystemModstamp >= {at}"))[0]
    assert [r["Name"] for r in got] == ["late", "late"]
    offset = "2026-01-01T01:00:01+01:00"  # 00:00:01Z, before the late ones
    assert len(drain(client, ORDERED.format(f"WHERE SystemModstamp > {offset}"))[0]) == 2
    six_digits = "2026-01-01T00:00:01.249999Z"  # stored precision is the millisecond
    assert len(drain(client, ORDERED.format(f"WHERE SystemModstamp > {six_digits}"))[0]) == 2


def test_keyset_condition_with_or_and_parentheses(api: SalesforceApi, client: httpx.Client) -> None:
    rows = [api.add_record("Account", Name=str(i)) for i in range(5)]  # one shared stamp
    stamp = "2026-01-01T00:00:00.000Z"
    soql = ORDERED.format(
        f"WHERE SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{rows[1]['Id']}')"
    )
    assert [r["Name"] for r in drain(client, soql)[0]] == ["2", "3", "4"]


def test_malformed_datetime_literals_are_refused(api: SalesforceApi, client: httpx.Client) -> None:
    api.add_record("Account", Name="x")
    for literal in (
        "2026-01-01T00:00:00+0000",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00.000",
        "2026-13-01T00:00:00Z",
        "2026-01-01 00:00:00Z",
    ):
        reply = query(client, ORDERED.format(f"WHERE SystemModstamp > {literal}"))
        assert reply.status_code == 400, literal
        body = reply.json()
        assert isinstance(body, list) and body[0]["errorCode"] == "MALFORMED_QUERY", literal
        assert "ERROR at Row:1:Column:" in body[0]["message"]
    quoted = query(client, ORDERED.format("WHERE SystemModstamp > '2026-01-01T00:00:00Z'"))
    assert quoted.status_code == 400
    assert quoted.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "should not be enclosed in quotes" in quoted.json()[0]["message"]
    date_only = query(client, ORDERED.format("WHERE SystemModstamp > 2026-01-01"))
    assert date_only.status_code == 400 and date_only.json()[0]["errorCode"] == "INVALID_FIELD"
    for soql, code in (
        ("SELECT Id, Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Id Account", "MALFORMED_QUERY"),
    ):
        reply = query(client, soql)
        assert reply.status_code == 400 and reply.json()[0]["errorCode"] == code, soql


def test_batch_size_header_is_honoured_within_200_to_2000() -> None:
    with SalesforceApi(clock=Clock(T0)) as api:
        for i in range(450):
            api.add_record("Contact", Name=str(i))
        auth = {"Authorization": f"OAuth {api.token}"}
        with httpx.Client(base_url=api.url, headers=auth, timeout=5) as client:
            soql = "SELECT Id FROM Contact ORDER BY SystemModstamp ASC, Id ASC"
            whole = query(client, soql).json()
            assert whole["done"] is True and len(whole["records"]) == 450  # default 2000
            sizes = []
            body = query(client, soql, **{"Sforce-Query-Options": "batchSize=200"}).json()
            sizes.append(len(body["records"]))
            while not body["done"]:
                body = client.get(body["nextRecordsUrl"]).json()
                sizes.append(len(body["records"]))
            assert sizes == [200, 200, 50]
            small = query(client, soql, **{"Sforce-Query-Options": "batchSize=5"}).json()
            assert len(small["records"]) == 200  # below the documented minimum


def test_a_query_is_a_snapshot_and_updates_move_records_last(
    api: SalesforceApi, client: httpx.Client
) -> None:
    rows = [api.add_record("Account", Name=f"n{i}") for i in range(5)]
    first = query(client, ORDERED.format("")).json()
    api.advance(5)
    api.update_record(rows[0]["Id"], Name="renamed")
    rest = client.get(first["nextRecordsUrl"]).json()
    assert [r["Name"] for r in first["records"] + rest["records"]] == [f"n{i}" for i in range(5)]
    after = drain(client, ORDERED.format(""))[0]
    assert after[-1]["Id"] == rows[0]["Id"] and after[-1]["Name"] == "renamed"
    assert after[-1]["SystemModstamp"] == "2026-01-01T00:00:05.000+0000"


def test_query_locators_expire(api: SalesforceApi, client: httpx.Client) -> None:
    for i in range(7):
        api.add_record("Account", Name=str(i))

    def expect_invalid(url: str) -> None:
        reply = client.get(url)
        assert reply.status_code == 400
        assert reply.json() == [
            {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
        ]

    url = query(client, ORDERED.format("")).json()["nextRecordsUrl"]
    api.expire_locators()
    expect_invalid(url)
    url = query(client, ORDERED.format("")).json()["nextRecordsUrl"]
    api.advance(14 * 60)
    second = client.get(url).json()  # used within 15 minutes: still alive, and renewed
    api.advance(14 * 60)
    assert client.get(second["nextRecordsUrl"]).json()["done"] is True
    api.advance(15 * 60 + 1)
    expect_invalid(second["nextRecordsUrl"])
    expect_invalid(f"{V}/query/01g5g0000000000AAA-3")


def test_the_oldest_of_ten_open_cursors_is_released(
    api: SalesforceApi, client: httpx.Client
) -> None:
    for i in range(4):
        api.add_record("Account", Name=str(i))
    urls = [query(client, ORDERED.format("")).json()["nextRecordsUrl"] for _ in range(11)]
    assert client.get(urls[0]).status_code == 400
    assert client.get(urls[1]).status_code == 200


def test_auth_and_unknown_resources(api: SalesforceApi) -> None:
    with httpx.Client(base_url=api.url, timeout=5) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            reply = c.get(f"{V}/query", params={"q": "SELECT Id FROM Account"}, headers=headers)
            assert reply.status_code == 401
            assert reply.json() == [
                {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
            ]
        ok = {"Authorization": f"Bearer {api.token}"}
        assert c.get(f"{V}/nope", headers=ok).json()[0]["errorCode"] == "NOT_FOUND"
        no_q = c.get(f"{V}/query", headers=ok)
        assert no_q.status_code == 400 and no_q.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_deleted_records_only_in_query_all(api: SalesforceApi, client: httpx.Client) -> None:
    keep = api.add_record("Account", Name="keep")
    gone = api.add_record("Account", Name="gone")
    api.delete_record(gone["Id"])
    soql = "SELECT Id, IsDeleted FROM Account"
    assert [r["Id"] for r in query(client, soql).json()["records"]] == [keep["Id"]]
    everything = client.get(f"{V}/queryAll", params={"q": soql}).json()["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [
        (keep["Id"], False),
        (gone["Id"], True),
    ]


def test_a_crowd_of_cursors_releases_a_locator_before_its_second_page(
    api: SalesforceApi, client: httpx.Client
) -> None:
    for i in range(7):
        api.add_record("Account", Name=str(i))
    api.crowd_cursors = True  # the same user's other client opens ten cursors after ours
    url = query(client, ORDERED.format("")).json()["nextRecordsUrl"]
    reply = client.get(url)
    assert reply.status_code == 400
    assert reply.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    api.crowd_cursors = False
    url = query(client, ORDERED.format("")).json()["nextRecordsUrl"]
    assert client.get(url).status_code == 200
