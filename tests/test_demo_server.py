"""Tests for the embedded demo REST API, driven over real HTTP with plain httpx."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from rest_stream.demo import DemoApi
from rest_stream.demo.server import Fault, decode_cursor, encode_cursor, make_record, to_iso

BASE_TS = 1_700_000_000


@pytest.fixture(scope="module")
def api() -> Iterator[DemoApi]:
    """A shared, read-only server with 1000 records (ids 1..1000, eu odd / us even)."""
    with DemoApi(1000) as server:
        yield server


@pytest.fixture(scope="module")
def client(api: DemoApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=5) as c:
        yield c


@pytest.fixture
def fresh() -> Iterator[DemoApi]:
    """A private server for tests that mutate data, faults or stats."""
    with DemoApi(25) as server:
        yield server


def ids(records: list[dict]) -> list[int]:
    return [r["id"] for r in records]


# --------------------------------------------------------------------------- data & lifecycle


def test_records_are_deterministic(client: httpx.Client) -> None:
    first = client.get("/items", params={"limit": 2}).json()["data"]
    assert first[0] == {
        "id": 1,
        "ts": BASE_TS + 1,
        "region": "eu",
        "name": "item-1",
        "value": 1.5,
        "tags": ["t1", "t1"],
        "meta": {"source": "demo", "score": 1},
    }
    assert first[1] == make_record(2, ("eu", "us"), BASE_TS)
    assert first[1]["region"] == "us" and first[1]["value"] == 3.0


def test_nested_records_have_arrays_objects_nulls_and_missing_fields() -> None:
    with DemoApi(40, shape="nested", regions=("a", "b")) as demo:
        body = httpx.get(f"{demo.url}/items", params={"limit": 40}).json()["data"]
        assert body[0] == {
            "id": 1,
            "ts": BASE_TS + 1,
            "name": "item-1",
            "value": 1.5,
            "active": False,
            "category": "music",
            "score": 1,
            "tags": ["t1"],
            "geo": {"lat": -89.63, "lon": -179.47},
        }
        by_id = {r["id"]: r for r in body}
        assert by_id[11]["value"] is None and by_id[13]["score"] is None
        assert "category" not in by_id[7] and "tags" not in by_id[17]
        assert by_id[9]["geo"] is None and "geo" not in by_id[19]
        assert by_id[4]["tags"] == [] and len(by_id[3]["tags"]) == 3
        assert all("region" not in r for r in body)
        b = httpx.get(f"{demo.url}/items", params={"region": "b", "limit": 3}).json()["data"]
        assert ids(b) == [2, 4, 6]
        assert demo.record_count("a") == 20


def test_flat_records_are_scalars_never_null() -> None:
    with DemoApi(30, shape="flat") as demo:
        body = httpx.get(f"{demo.url}/pages", params={"per_page": 30}).json()["data"]
    assert body[1] == make_record(2, ("eu", "us"), BASE_TS, shape="flat")
    assert set(body[1]) == {"id", "ts", "name", "value", "active", "category", "score"}
    assert all(v is not None for r in body for v in r.values())
    with pytest.raises(ValueError, match="shape"):
        DemoApi(1, shape="wide")  # type: ignore[arg-type]


def test_url_lifecycle_and_record_count() -> None:
    demo = DemoApi(10, regions=("a", "b", "c"))
    with pytest.raises(RuntimeError):
        _ = demo.url
    assert demo.record_count() == 10
    assert [demo.record_count(r) for r in "abc"] == [4, 3, 3]
    assert demo.record_count("zz") == 0
    with demo:
        assert demo.url.startswith("http://127.0.0.1:") and demo.port > 0
        assert httpx.get(f"{demo.url}/items").status_code == 200
        url = demo.url
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/items", timeout=1)


def test_stop_closes_keep_alive_connections() -> None:
    demo = DemoApi(5).start()
    with httpx.Client(base_url=demo.url, timeout=1) as c:
        assert c.get("/items").status_code == 200
        demo.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/items")


def test_http11_with_content_length(client: httpx.Client) -> None:
    for limit in (1, 7):
        response = client.get("/items", params={"limit": limit})
        assert response.http_version == "HTTP/1.1"
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["content-length"]) == len(response.content)
        assert "connection" not in response.headers  # kept alive


# --------------------------------------------------------------------------- pagination styles


def test_items_incremental_pagination(client: httpx.Client) -> None:
    body = client.get("/items", params={"since_id": 10, "limit": 5}).json()
    assert ids(body["data"]) == [10, 11, 12, 13, 14] and body["count"] == 5
    assert len(client.get("/items").json()["data"]) == 100  # default limit
    assert len(client.get("/items", params={"limit": 5000}).json()["data"]) == 1000  # clamped
    seen, since = [], 0
    while page := client.get("/items", params={"since_id": since, "limit": 300}).json()["data"]:
        seen += ids(page)
        since = page[-1]["id"] + 1
    assert seen == list(range(1, 1001))
    assert client.get("/items", params={"since_id": 1001}).json() == {"data": [], "count": 0}


def test_region_filter_keeps_global_ids(client: httpx.Client) -> None:
    eu = client.get("/items", params={"region": "eu", "limit": 4}).json()["data"]
    assert ids(eu) == [1, 3, 5, 7] and {r["region"] for r in eu} == {"eu"}
    us = client.get("/items", params={"region": "us", "since_id": 7, "limit": 3}).json()["data"]
    assert ids(us) == [8, 10, 12]
    assert client.get("/items", params={"region": "mars"}).json()["data"] == []


def test_events_timestamp_pagination(client: httpx.Client) -> None:
    body = client.get("/events", params={"since": BASE_TS + 5, "limit": 3}).json()
    assert [r["ts"] for r in body["data"]] == [BASE_TS + 6, BASE_TS + 7, BASE_TS + 8]
    assert body["next_since"] == BASE_TS + 8
    first = client.get("/events", params={"limit": 1}).json()
    assert ids(first["data"]) == [1]
    end = client.get("/events", params={"since": BASE_TS + 1000}).json()
    assert end == {"data": [], "next_since": BASE_TS + 1000}
    region = client.get("/events", params={"since": BASE_TS + 2, "region": "us", "limit": 2})
    assert ids(region.json()["data"]) == [4, 6] and region.json()["next_since"] == BASE_TS + 6


def test_clock_stamps_mark_records_with_the_time_they_arrive() -> None:
    with DemoApi(3, clock_stamps=True) as server, httpx.Client(base_url=server.url) as http:
        first = [r["ts"] for r in server.records()]
        time.sleep(0.05)
        server.append(2)
        stamps = [r["ts"] for r in server.records()]
        assert stamps[:3] == first and stamps == sorted(stamps) and stamps[3] > stamps[2]
        assert abs(stamps[-1] - time.time()) < 5
        after = http.get("/events", params={"since": stamps[2]}).json()
        assert ids(after["data"]) == [4, 5] and after["next_since"] == stamps[-1]
        assert http.get("/latest").json()["max_ts"] == stamps[-1]


def test_held_records_appear_late_with_their_own_timestamps() -> None:
    with DemoApi(10, regions=("eu",)) as server, httpx.Client(base_url=server.url) as http:
        server.hold(3, 4, 9)
        first = http.get("/events", params={"since": 0, "limit": 5}).json()
        assert ids(first["data"]) == [1, 2, 5, 6, 7]  # a full page past the held ones
        region = http.get("/events", params={"since": 0, "region": "eu"}).json()
        assert ids(region["data"]) == [1, 2, 5, 6, 7, 8, 10]
        server.release(3)
        after = http.get("/events", params={"since": 0}).json()
        assert ids(after["data"]) == [1, 2, 3, 5, 6, 7, 8, 10]
        server.release()
        late = http.get("/events", params={"since": BASE_TS + 2}).json()
        assert ids(late["data"]) == [3, 4, 5, 6, 7, 8, 9, 10]


def test_events_iso_format(client: httpx.Client) -> None:
    assert to_iso(BASE_TS) == "2023-11-14T22:13:20Z"
    params = {"since": "2023-11-14T22:13:20Z", "format": "iso", "limit": 2}
    body = client.get("/events", params=params).json()
    assert ids(body["data"]) == [1, 2]
    assert [r["ts"] for r in body["data"]] == ["2023-11-14T22:13:21Z", "2023-11-14T22:13:22Z"]
    assert body["next_since"] == "2023-11-14T22:13:22Z"
    offset = client.get("/events", params={**params, "since": "2023-11-14T23:13:22+01:00"}).json()
    assert ids(offset["data"]) == [3, 4]
    empty = client.get("/events", params={"since": "2030-01-01T00:00:00Z", "format": "iso"})
    assert empty.json() == {"data": [], "next_since": "2030-01-01T00:00:00Z"}
    assert client.get("/events", params={"since": "yesterday"}).status_code == 400


def test_cursor_pagination(client: httpx.Client) -> None:
    assert decode_cursor(encode_cursor(42)) == 42
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 400, **({"cursor": cursor} if cursor else {})}
        body = client.get("/cursor", params=params).json()
        seen += ids(body["data"])
        pages += 1
        if body["next_cursor"] is None:
            assert body["data"] == []
            break
        assert decode_cursor(body["next_cursor"]) == body["data"][-1]["id"]
        cursor = body["next_cursor"]
    assert seen == list(range(1, 1001)) and pages == 4  # 400 + 400 + 200 + empty
    assert ids(client.get("/cursor", params={"cursor": ""}).json()["data"])[:1] == [1]
    assert client.get("/cursor", params={"cursor": "!!garbage"}).status_code == 400


def test_stripe_pagination(client: httpx.Client) -> None:
    body = client.get("/stripe", params={"limit": 2}).json()
    assert body["object"] == "list" and ids(body["data"]) == [1, 2] and body["has_more"] is True
    body = client.get("/stripe", params={"starting_after": 997, "limit": 3}).json()
    assert ids(body["data"]) == [998, 999, 1000] and body["has_more"] is False
    body = client.get("/stripe", params={"starting_after": 995, "limit": 2, "region": "us"}).json()
    assert ids(body["data"]) == [996, 998] and body["has_more"] is True


def test_stripe_newest_first(client: httpx.Client) -> None:
    def get(**params: object) -> dict:
        return client.get("/stripe", params={"order": "desc", "limit": 3, **params}).json()

    body = get()
    assert ids(body["data"]) == [1000, 999, 998] and body["has_more"] is True
    body = get(starting_after=998)
    assert ids(body["data"]) == [997, 996, 995] and body["has_more"] is True
    body = get(starting_after=3)
    assert ids(body["data"]) == [2, 1] and body["has_more"] is False
    body = get(ending_before=990)  # the three just above 990, still newest first
    assert ids(body["data"]) == [993, 992, 991] and body["has_more"] is True
    body = get(ending_before=998)
    assert ids(body["data"]) == [1000, 999] and body["has_more"] is False
    body = get(ending_before=0)  # the oldest page
    assert ids(body["data"]) == [3, 2, 1] and body["has_more"] is True
    body = get(starting_after=996, region="us")
    assert ids(body["data"]) == [994, 992, 990]
    assert client.get(
        "/stripe", params={"order": "desc", "starting_after": 5, "ending_before": 9}
    ).status_code == 400


def test_page_number_pagination(client: httpx.Client) -> None:
    body = client.get("/pages", params={"page": 3, "per_page": 300}).json()
    assert ids(body["data"]) == list(range(601, 901))
    assert (body["page"], body["per_page"], body["total_pages"], body["total"]) == (3, 300, 4, 1000)
    last = client.get("/pages", params={"page": 4, "per_page": 300}).json()
    assert ids(last["data"]) == list(range(901, 1001))
    assert client.get("/pages", params={"page": 5, "per_page": 300}).json()["data"] == []
    default = client.get("/pages").json()
    assert default["page"] == 1 and default["per_page"] == 100 and default["total_pages"] == 10
    eu = client.get("/pages", params={"page": 2, "per_page": 200, "region": "eu"}).json()
    assert eu["total"] == 500 and eu["total_pages"] == 3 and ids(eu["data"])[0] == 401
    assert client.get("/pages", params={"page": 0}).status_code == 400


def test_link_header_pagination(api: DemoApi, client: httpx.Client) -> None:
    url, seen, pages = f"{api.url}/linked?limit=300&region=eu", [], 0
    while url:
        response = client.get(url)
        assert isinstance(response.json(), list)
        seen += ids(response.json())
        pages += 1
        url = response.links.get("next", {}).get("url")
        if url:
            query = parse_qs(urlsplit(url).query)
            assert url.startswith(f"{api.url}/linked?")
            assert query["after"] == [str(seen[-1])] and query["region"] == ["eu"]
    assert seen == list(range(1, 1001, 2)) and pages == 2
    last = client.get("/linked", params={"after": 990})
    assert ids(last.json()) == list(range(991, 1001)) and "link" not in last.headers


def test_latest_probe(client: httpx.Client) -> None:
    latest = client.get("/latest", params={"per_page": 300}).json()
    assert latest == {"max_id": 1000, "max_ts": BASE_TS + 1000, "last_page": 4, "total": 1000}
    eu = client.get("/latest", params={"region": "eu"}).json()
    assert eu == {"max_id": 999, "max_ts": BASE_TS + 999, "last_page": 5, "total": 500}


def test_append_invalidates_cached_pages(fresh: DemoApi) -> None:
    with httpx.Client(base_url=fresh.url) as c:
        assert ids(c.get("/items", params={"since_id": 20}).json()["data"]) == [
            20,
            21,
            22,
            23,
            24,
            25,
        ]
        assert c.get("/latest").json()["max_id"] == 25
        assert "link" not in c.get("/linked", params={"after": 20, "limit": 5}).headers
        assert c.get("/cursor", params={"cursor": encode_cursor(25)}).json()["next_cursor"] is None
        fresh.append(10)
        assert fresh.record_count() == 35 and fresh.record_count("us") == 17
        assert ids(c.get("/items", params={"since_id": 20}).json()["data"]) == list(range(20, 36))
        assert c.get("/latest").json() == {
            "max_id": 35,
            "max_ts": BASE_TS + 35,
            "last_page": 1,
            "total": 35,
        }
        assert "next" in c.get("/linked", params={"after": 20, "limit": 5}).links
        after = c.get("/cursor", params={"cursor": encode_cursor(25)}).json()
        assert ids(after["data"]) == list(range(26, 36))


def test_append_is_thread_safe() -> None:
    demo = DemoApi(0)
    workers = [threading.Thread(target=demo.append, args=(100,)) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert demo.record_count() == 800
    assert ids(demo.records()) == list(range(1, 801))
    assert ids(demo.records("us")) == list(range(2, 801, 2))


def test_append_sets_extra_fields_on_the_new_records_only() -> None:
    demo = DemoApi(2, shape="nested")
    demo.append(3, fields={"appended": 12.5})
    records = demo.records()
    assert ["appended" in r for r in records] == [False, False, True, True, True]
    assert records[2] == {**make_record(3, demo.regions, BASE_TS, shape="nested"), "appended": 12.5}
    assert records[4]["appended"] == 12.5


# --------------------------------------------------------------------------- body & echo endpoints


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_search_json_body(client: httpx.Client, method: str) -> None:
    body = {"region": "us", "since_id": 10, "limit": 3}
    result = client.request(method, "/search", json=body).json()
    assert ids(result["data"]) == [10, 12, 14] and result["count"] == 3
    assert result["received"] == {**body, "content_type": "application/json"}


def test_search_form_body_and_bad_method(client: httpx.Client) -> None:
    result = client.post("/search", data={"since_id": "998", "limit": "10"}).json()
    assert ids(result["data"]) == [998, 999, 1000]
    assert result["received"] == {
        "since_id": "998",
        "limit": "10",
        "content_type": "application/x-www-form-urlencoded",
    }
    assert (
        client.post(
            "/search", content=b"[1]", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.get("/search").status_code == 405


def test_echo_reflects_request(client: httpx.Client) -> None:
    response = client.post("/echo", params={"a": "1"}, content=b"hello", headers={"X-Trace": "abc"})
    [echo] = response.json()
    assert echo["method"] == "POST" and echo["path"] == "/echo" and echo["query"] == {"a": "1"}
    assert echo["headers"]["x-trace"] == "abc" and echo["body"] == "hello"
    assert client.delete("/echo").json()[0]["method"] == "DELETE"


def test_errors_for_unknown_path_method_and_params(client: httpx.Client) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    assert missing.json()["error"] == "not found"
    assert client.post("/items").status_code == 405
    assert client.get("/items", params={"limit": "abc"}).status_code == 400
    assert client.get("/items", params={"limit": 0}).status_code == 400


# --------------------------------------------------------------------------- faults


def test_status_faults_are_fifo_and_path_scoped(fresh: DemoApi) -> None:
    fresh.inject(
        "/items",
        500,
        Fault.retry_after("2", status=503),
        Fault.retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
    )
    with httpx.Client(base_url=fresh.url) as c:
        assert c.get("/pages").status_code == 200  # other paths unaffected
        first = c.get("/items", params={"since_id": 3})
        assert first.status_code == 500 and first.json() == {"error": "injected", "status": 500}
        second = c.get("/items")
        assert second.status_code == 503 and second.headers["retry-after"] == "2"
        third = c.get("/items")
        assert third.status_code == 429 and third.headers["retry-after"].endswith("GMT")
        assert fresh.pending_faults("/items") == 0
        assert c.get("/items").status_code == 200


def test_html_truncated_and_sleep_faults(fresh: DemoApi) -> None:
    with httpx.Client(base_url=fresh.url) as c:
        full = c.get("/items").content
        fresh.inject("/items", Fault.html(), Fault.html(status=502), Fault.truncated())
        fresh.inject("/items", Fault.sleep(0.2))
        html = c.get("/items")
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert html.text == "<html><body>Service down</body></html>"
        assert c.get("/items").status_code == 502
        truncated = c.get("/items")
        assert truncated.status_code == 200 and truncated.content == full[: len(full) // 2]
        with pytest.raises(json.JSONDecodeError):
            truncated.json()
        start = time.perf_counter()
        slow = c.get("/items")
        assert time.perf_counter() - start >= 0.2 and slow.content == full
        assert fresh.pending_faults("/items") == 0


def test_drop_fault_closes_connection(fresh: DemoApi) -> None:
    fresh.inject("/items", Fault.drop())
    with httpx.Client(base_url=fresh.url) as c:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            c.get("/items")
        assert c.get("/items").status_code == 200  # next request works on a new connection
    assert [r.status for r in fresh.requests] == [0, 200]


# --------------------------------------------------------------------------- auth


def test_bearer_auth() -> None:
    with DemoApi(3, bearer_token="s3cret") as demo:
        denied = httpx.get(f"{demo.url}/items")
        assert denied.status_code == 401 and denied.json() == {"error": "unauthorized"}
        assert denied.headers["www-authenticate"].startswith("Bearer")
        assert (
            httpx.get(f"{demo.url}/items", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        ok = httpx.get(f"{demo.url}/items", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["count"] == 3


def test_basic_auth() -> None:
    with DemoApi(3, basic_auth=("ann", "pw")) as demo:
        assert httpx.get(f"{demo.url}/items", auth=("ann", "pw")).status_code == 200
        denied = httpx.get(f"{demo.url}/items", auth=("ann", "bad"))
        assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Basic")


def test_api_key_in_header_or_query() -> None:
    with DemoApi(3, api_key="k1") as demo:
        assert httpx.get(f"{demo.url}/items", headers={"X-API-Key": "k1"}).status_code == 200
        assert httpx.get(f"{demo.url}/items", params={"api_key": "k1"}).status_code == 200
        assert httpx.get(f"{demo.url}/items", params={"api_key": "k2"}).status_code == 401
        link = httpx.get(f"{demo.url}/linked", params={"api_key": "k1", "limit": 1}).links["next"][
            "url"
        ]
        assert httpx.get(link).status_code == 200  # next link keeps the key


def test_oauth2_client_credentials_revoke_and_expiry() -> None:
    with DemoApi(3, oauth2_client=("cid", "csecret")) as demo, httpx.Client(base_url=demo.url) as c:
        grant = {"grant_type": "client_credentials"}
        assert c.post("/oauth/token", data=grant, auth=("cid", "wrong")).json() == {
            "error": "invalid_client"
        }
        assert (
            c.post(
                "/oauth/token", data={"client_id": "cid", "client_secret": "csecret"}
            ).status_code
            == 400
        )
        token = c.post("/oauth/token", data=grant, auth=("cid", "csecret")).json()
        assert token == {"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600}
        form = c.post(
            "/oauth/token", data={**grant, "client_id": "cid", "client_secret": "csecret"}
        )
        assert form.json()["access_token"] == "tok-2" and demo.tokens_issued == 2
        assert c.get("/items").status_code == 401
        bearer = {"Authorization": "Bearer tok-1"}
        assert c.get("/items", headers=bearer).status_code == 200
        assert c.post("/admin/revoke").json() == {"revoked": 2}
        assert c.get("/items", headers=bearer).status_code == 401
    with DemoApi(3, oauth2_client=("cid", "cs"), token_ttl=0) as demo:
        token = httpx.post(
            f"{demo.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("cid", "cs")
        ).json()["access_token"]
        expired = httpx.get(f"{demo.url}/items", headers={"Authorization": f"Bearer {token}"})
        assert expired.status_code == 401


def test_oauth1_header_checked_for_keys_and_signature() -> None:
    with DemoApi(3, oauth1=("ck", "cs", "tk", "ts")) as demo:
        good = 'OAuth oauth_consumer_key="ck", oauth_token="tk", oauth_signature="abc%3D"'
        response = httpx.get(f"{demo.url}/items", headers={"Authorization": good})
        assert response.status_code == 200
        assert demo.requests[-1].headers["Authorization"] == good
        for bad in (
            'OAuth oauth_consumer_key="ck", oauth_token="tk"',
            'OAuth oauth_consumer_key="other", oauth_token="tk", oauth_signature="x"',
            "Bearer ck",
        ):
            assert httpx.get(f"{demo.url}/items", headers={"Authorization": bad}).status_code == 401


# --------------------------------------------------------------------------- logging & concurrency


def test_request_log_records_everything(fresh: DemoApi) -> None:
    fresh.reset_stats()
    with httpx.Client(base_url=fresh.url) as c:
        c.post("/search", params={"q": "1"}, json={"limit": 1}, headers={"X-Test": "yes"})
    [entry] = fresh.requests
    assert (entry.method, entry.path, entry.query, entry.status) == (
        "POST",
        "/search",
        {"q": "1"},
        200,
    )
    assert entry.headers["x-test"] == "yes" and entry.headers["X-Test"] == "yes"
    assert json.loads(entry.body) == {"limit": 1}
    assert entry.start < entry.end
    fresh.reset_stats()
    assert fresh.requests == [] and fresh.max_concurrency() == 0


def test_max_concurrency_with_latency() -> None:
    with DemoApi(50, latency_ms=150) as demo:
        barrier = threading.Barrier(6)

        def fetch(page: int) -> None:
            with httpx.Client(base_url=demo.url) as c:
                barrier.wait()
                assert c.get("/pages", params={"page": page, "per_page": 10}).status_code == 200

        threads = [threading.Thread(target=fetch, args=(p,)) for p in range(1, 7)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert demo.max_concurrency() == 6
        assert demo.max_concurrency("/pages") == 6
        assert demo.max_concurrency("/items") == 0
        assert all(r.end - r.start >= 0.15 for r in demo.requests)
        demo.reset_stats()
        demo.latency_ms = 0
        with httpx.Client(base_url=demo.url) as c:
            for _ in range(3):
                c.get("/items")
        assert demo.max_concurrency("/items") == 1


# --------------------------------------------------------------------------- CLI


def test_cli_serves_until_interrupted() -> None:
    command = [sys.executable, "-m", "rest_stream.demo.server", "--records", "7", "--port", "0"]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=root) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().split(" at ")[1].split()[0]
            assert httpx.get(f"{url}/latest").json()["max_id"] == 7
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=5) == 0


# --------------------------------------------------------------------------- offset, body links


def test_offset_limit_paging(client: httpx.Client) -> None:
    body = client.get("/offset", params={"offset": 10, "limit": 3}).json()
    assert body == {"data": body["data"], "total": 1000} and ids(body["data"]) == [11, 12, 13]
    seen, offset = [], 0
    while page := client.get("/offset", params={"offset": offset, "limit": 300}).json()["data"]:
        seen += ids(page)
        offset += len(page)
    assert seen == list(range(1, 1001))
    eu = client.get("/offset", params={"offset": 499, "region": "eu"}).json()
    assert ids(eu["data"]) == [999] and eu["total"] == 500
    assert client.get("/offset").json()["data"][0]["id"] == 1  # offset defaults to 0
    assert client.get("/offset", params={"offset": -1}).status_code == 400


def test_next_url_in_body_is_relative_and_null_at_the_end(
    api: DemoApi, client: httpx.Client
) -> None:
    first = client.get("/linked", params={"limit": 300, "region": "us", "in": "body"})
    assert "link" not in first.headers
    url, seen = "/linked?limit=300&region=us&in=body", []
    while url:
        body = client.get(url).json()
        assert set(body) == {"data", "next_url"}
        seen += ids(body["data"])
        url = body["next_url"]
        if url:
            assert url.startswith("/linked?")
            query = parse_qs(urlsplit(url).query)
            assert query == {"after": [str(seen[-1])], "limit": ["300"]} | {
                "region": ["us"],
                "in": ["body"],
            }
    assert seen == list(range(2, 1001, 2))
    assert client.get("/linked", params={"after": 995, "in": "body"}).json()["next_url"] is None
    assert client.get("/linked", params={"in": "xml"}).status_code == 400


def test_odata_next_link_is_absolute_and_absent_at_the_end(
    api: DemoApi, client: httpx.Client
) -> None:
    url, seen, pages = f"{api.url}/linked?limit=400&in=odata", [], 0
    while url:
        body = client.get(url).json()
        seen += ids(body["value"])
        pages += 1
        url = body.get("@odata.nextLink")
        assert url is None or url.startswith(f"{api.url}/linked?")
    assert seen == list(range(1, 1001)) and pages == 3
    assert client.get("/linked", params={"after": 999, "in": "odata"}).json() == {
        "value": [api.records()[-1]]
    }


def test_link_header_variant_unchanged_by_body_styles(client: httpx.Client) -> None:
    response = client.get("/linked", params={"limit": 2})
    assert ids(response.json()) == [1, 2] and "after=2" in response.links["next"]["url"]


# --------------------------------------------------------------------------- streams (fan-out)


def test_streams_lists_regions_and_grows_at_runtime(fresh: DemoApi) -> None:
    with httpx.Client(base_url=fresh.url) as c:
        assert c.get("/streams").json() == {"streams": [{"region": "eu"}, {"region": "us"}]}
        fresh.add_stream("apac", records=3)
        assert c.get("/streams").json()["streams"][-1] == {"region": "apac"}
        apac = c.get("/items", params={"region": "apac"}).json()["data"]
        assert ids(apac) == [26, 27, 28] and {r["region"] for r in apac} == {"apac"}
        fresh.append(2, region="eu")
        eu = c.get("/items", params={"region": "eu", "since_id": 26}).json()["data"]
        assert ids(eu) == [29, 30]
        fresh.append(3)  # round-robin now includes apac
        assert [r["region"] for r in fresh.records()[-3:]] == ["eu", "us", "apac"]
        fresh.add_stream("apac")  # idempotent
        assert len(c.get("/streams").json()["streams"]) == 3
        assert c.post("/streams").status_code == 405
    with pytest.raises(ValueError, match="unknown region"):
        fresh.append(1, region="mars")


# --------------------------------------------------------------------------- rate limit


def test_rate_limit_fixed_window_answers_429_without_retry_after() -> None:
    with DemoApi(10, rate_limit=(3, 3600.0)) as demo, httpx.Client(base_url=demo.url) as c:
        responses = [c.get("/items") for _ in range(5)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0", "0"]
        resets = {int(r.headers["x-ratelimit-reset"]) for r in responses}
        assert len(resets) == 1 and time.time() < resets.pop() <= time.time() + 3601
        assert all("retry-after" not in r.headers for r in responses)
        assert responses[3].json() == {"error": "rate_limited"}
        assert c.post("/admin/revoke").status_code == 200  # admin is never limited
        demo.rate_limit = None
        unlimited = c.get("/items")
        assert unlimited.status_code == 200 and "x-ratelimit-remaining" not in unlimited.headers


def test_rate_limit_window_resets_and_faults_carry_headers() -> None:
    with DemoApi(10, rate_limit=(2, 1.0)) as demo, httpx.Client(base_url=demo.url) as c:
        time.sleep(1.0 - time.time() % 1.0 + 0.01)  # start of a window
        demo.inject("/items", 503)
        first = c.get("/items")
        assert first.status_code == 503 and first.headers["x-ratelimit-remaining"] == "1"
        assert c.get("/items").status_code == 200 and c.get("/items").status_code == 429
        assert demo.pending_faults("/items") == 0
        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        assert c.get("/items").status_code == 200


@pytest.mark.parametrize("style", ["ietf", "none"])
def test_rate_limit_header_styles(style: str) -> None:
    with DemoApi(10, rate_limit=(5, 3600.0), rate_limit_headers=style) as demo:  # type: ignore[arg-type]
        headers = httpx.get(f"{demo.url}/items").headers
    assert not any(k.startswith("x-ratelimit") for k in headers)
    if style == "ietf":
        assert headers["ratelimit-remaining"] == "4" and headers["ratelimit-limit"] == "5"
        assert 0 <= int(headers["ratelimit-reset"]) <= 3600
    else:
        assert not any("ratelimit" in k for k in headers)
    with pytest.raises(ValueError):
        DemoApi(1, rate_limit_headers="draft")  # type: ignore[arg-type]
