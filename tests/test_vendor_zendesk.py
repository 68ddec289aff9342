"""Zendesk's incremental ticket export, end to end on Spark against a faithful emulation
(tests/vendors/zendesk): a `cursor` position on `after_cursor`, `end_of_stream` as the stop
condition, 429 with `Retry-After` waited out. Every version of every ticket arrives once,
across appends, updates and a restart from the checkpoint. A `start_time` less than a minute
old is refused (422 `Too recent start_time`): the query fails at once with Zendesk's answer,
and an older `start_time` on the same checkpoint reads every ticket."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.streaming import run_to_end, start_stream
from tests.vendors.zendesk import ZendeskApi

SCHEMA = "id long, updated_at string, subject string, status string"


def export_options(api: ZendeskApi, start_time: int = 0) -> dict[str, str]:
    """The options of docs/recipes.md's Zendesk section, with the emulation's base URL."""
    query = f"start_time={start_time}&per_page=4"
    return {
        "url": f"{api.url}/api/v2/incremental/tickets/cursor.json?{query}",
        "authType": "Bearer",
        "oauthToken": api.oauth_token,
        "recordsPath": "$.tickets[*]",
        "offsetType": "cursor",
        "offsetField": "cursor",
        "offsetPath": "$.after_cursor",
        "donePath": "$.end_of_stream",
        "retryBackoffSeconds": "0.2",
    }


@pytest.fixture
def zendesk() -> Any:
    with ZendeskApi(rate_limit=1, rate_window=1.5) as api:  # a small window: 429s happen
        yield api


def test_zendesk_export_every_version_once_across_updates_and_a_restart(
    spark: Any, zendesk: ZendeskApi, tmp_path: Path
) -> None:
    expected: Counter[tuple[int, str]] = Counter()
    for n in range(10):
        ticket = zendesk.add_ticket(subject=f"ticket {n}")
        expected[(ticket["id"], ticket["updated_at"])] += 1
    zendesk.advance(61)  # the export withholds the last minute's changes
    run_to_end(start_stream(spark, export_options(zendesk), tmp_path, schema=SCHEMA))

    for ticket_id in (1, 5):  # updates: the same id again, later in the stream
        ticket = zendesk.update_ticket(ticket_id, status="solved")
        expected[(ticket["id"], ticket["updated_at"])] += 1
    zendesk.advance(1)
    for n in range(3):
        ticket = zendesk.add_ticket(subject=f"late {n}")
        expected[(ticket["id"], ticket["updated_at"])] += 1
    zendesk.advance(61)
    run_to_end(start_stream(spark, export_options(zendesk), tmp_path, schema=SCHEMA))

    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert Counter((r.id, r.updated_at) for r in rows) == expected  # none lost, none twice
    assert any(s.status == 429 for s in zendesk.requests)  # Retry-After was waited out


def test_a_too_recent_start_time_fails_with_zendesks_answer_and_an_older_one_reads(
    spark: Any, zendesk: ZendeskApi, tmp_path: Path
) -> None:
    ids = [zendesk.add_ticket(subject=f"ticket {n}")["id"] for n in range(5)]
    zendesk.advance(61)
    now = int(zendesk.clock.now())
    query = start_stream(spark, export_options(zendesk, now - 30), tmp_path, schema=SCHEMA)
    with pytest.raises(Exception) as failed:  # a failed query raises its error here
        query.awaitTermination(120)
    error = str(failed.value)
    assert "HTTP 422" in error and "Too recent start_time" in error, error
    assert f"start_time={now - 30}" in error, error  # the request, so the value to change
    statuses = [s.status for s in zendesk.requests]
    assert statuses == [422], statuses  # refused once: no retry, no stall

    older = export_options(zendesk, now - 3600)  # the fix docs/recipes.md gives
    run_to_end(start_stream(spark, older, tmp_path, schema=SCHEMA))
    rows = spark.read.schema(SCHEMA).parquet(str(tmp_path / "sink")).collect()
    assert sorted(r.id for r in rows) == ids
