"""Salesforce SOQL, end to end on Spark against a faithful emulation
(tests/vendors/salesforce): a `timestamp` position on `SystemModstamp` with `nextRecordsUrl`
pages ending on `done`, the position written back as a SOQL datetime literal. Every version
of every record arrives once, across appends, updates and a restart from the checkpoint; a
query locator released in the middle of a poll's pages (INVALID_QUERY_LOCATOR) fails the
query with Salesforce's error, commits nothing past the records not read, and a restart
delivers every record once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rest_stream.positions.timestamps import parse_timestamp
from tests.streaming import run_to_end, start_stream
from tests.vendors.base import wait_past_horizon
from tests.vendors.salesforce import SalesforceApi

SCHEMA = "Id string, Name string, SystemModstamp string"
SOQL = (
    "SELECT+Id,Name,SystemModstamp+FROM+Account+WHERE+SystemModstamp+>+{since}"
    "+ORDER+BY+SystemModstamp+ASC,Id+ASC"
)


def soql_options(api: SalesforceApi) -> dict[str, str]:
    """The options of docs/recipes.md's Salesforce section, with the emulation's base URL."""
    return {
        "url": f"{api.url}/services/data/v60.0/query?q={SOQL}",
        "queryType": "inline",
        "authType": "Bearer",
        "oauthToken": api.token,
        "recordsPath": "$.records[*]",
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.SystemModstamp",
        "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
        "initialOffset": "2000-01-01T00:00:00.000Z",
        "pagination": "nextUrl",
        "nextPagePath": "$.nextRecordsUrl",
        "donePath": "$.done",
    }


@pytest.fixture
def salesforce() -> Any:
    with SalesforceApi(batch_size=3) as api:
        yield api


def test_salesforce_soql_every_version_once_across_pages_updates_and_a_restart(
    spark: Any, salesforce: SalesforceApi, tmp_path: Path
) -> None:
    expected: Counter[tuple[str, str]] = Counter()
    salesforce.clock.set(time.time())
    ids = []
    for n in range(8):  # one millisecond holds more records than a batch of 3
        record = salesforce.add_record("Account", Name=f"acct {n}")
        ids.append(record["Id"])
        expected[(record["Id"], record["SystemModstamp"])] += 1
    wait_past_horizon()
    run_to_end(start_stream(spark, soql_options(salesforce), tmp_path, schema=SCHEMA))

    salesforce.clock.set(time.time())
    for record_id in ids[:2]:  # updates: the same Id again with a newer SystemModstamp
        record = salesforce.update_record(record_id, Name="renamed")
        expected[(record["Id"], record["SystemModstamp"])] += 1
    for n in range(4):
        record = salesforce.add_record("Account", Name=f"late {n}")
        expected[(record["Id"], record["SystemModstamp"])] += 1
    wait_past_horizon()
    run_to_end(start_stream(spark, soql_options(salesforce), tmp_path, schema=SCHEMA))

    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert Counter((r.Id, r.SystemModstamp) for r in rows) == expected  # none lost, none twice
    queries = [s for s in salesforce.requests if s.query.get("q")]
    literals = {q.query["q"].split("> ")[1].split(" ")[0] for q in queries}
    assert all(len(t) == 24 and t.endswith("Z") for t in literals), literals  # .SSSZ, never +0000
    assert all(parse_timestamp(t, "iso8601") > 0 for t in literals)
    assert any("/query/" in s.path for s in salesforce.requests)  # followed nextRecordsUrl


def test_salesforce_locator_released_mid_poll_fails_then_a_restart_delivers_each_record_once(
    spark: Any, salesforce: SalesforceApi, tmp_path: Path
) -> None:
    expected: Counter[tuple[str, str]] = Counter()
    salesforce.clock.set(time.time())
    for n in range(5):
        record = salesforce.add_record("Account", Name=f"acct {n}")
        expected[(record["Id"], record["SystemModstamp"])] += 1
    wait_past_horizon()
    run_to_end(start_stream(spark, soql_options(salesforce), tmp_path, schema=SCHEMA))
    delivered = Counter(expected)

    salesforce.clock.set(time.time())
    for n in range(7):  # three pages of three: the locator is needed twice
        record = salesforce.add_record("Account", Name=f"late {n}")
        expected[(record["Id"], record["SystemModstamp"])] += 1
    wait_past_horizon()
    salesforce.crowd_cursors = True  # each locator is released before its second page
    query = start_stream(spark, soql_options(salesforce), tmp_path, schema=SCHEMA)
    with pytest.raises(Exception) as failed:  # a failed query raises its error here
        query.awaitTermination(120)
    error = str(failed.value)
    assert "INVALID_QUERY_LOCATOR" in error and "invalid query locator" in error, error
    assert "HTTP 400" in error, error
    commits = sorted(p.name for p in (tmp_path / "checkpoint" / "commits").iterdir())
    assert [c for c in commits if not c.startswith(".")] == ["0"]  # the failed batch: none
    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert Counter((r.Id, r.SystemModstamp) for r in rows) == delivered

    salesforce.crowd_cursors = False
    run_to_end(start_stream(spark, soql_options(salesforce), tmp_path, schema=SCHEMA))
    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert Counter((r.Id, r.SystemModstamp) for r in rows) == expected  # none lost, none twice
    failed = [s for s in salesforce.requests if s.status == 400]
    assert failed and all("/query/" in s.path for s in failed)  # only nextRecordsUrl failed
