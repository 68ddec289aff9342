"""Stripe events, end to end on Spark against a faithful emulation (tests/vendors/stripe):
a newest-first list with opaque ids and many events in one `created` second.

Two ways to read it, both exactly once (docs/kinds/cursor.md, "Newest-first lists"):

- down from the top with `starting_after` (`recordOrder=descending`, `recordOffsetPath`): the
  whole history on the first run, then what is above the newest event delivered;
- forward with `ending_before` from a known event (`recordOrder=descending` without
  `recordOffsetPath`): each page read oldest first.

Every event arrives once across appends, updates (a new event about the same object), a
restart from the checkpoint, and a crash between Spark's offset log and its commit with
events added in between (the logged batch is replayed with exactly its events)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.streaming import run_to_end, start_stream
from tests.vendors.stripe import Clock, StripeApi

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
SCHEMA = "id string, type string, created long"


def walk_down(api: StripeApi, **extra: str) -> dict[str, str]:
    """docs/kinds/cursor.md's Stripe options: down the list with `starting_after`."""
    return {
        "url": f"{api.url}/v1/events?limit=10",
        "authType": "Bearer",
        "oauthToken": api.api_key,
        "recordsPath": "$.data[*]",
        "offsetType": "cursor",
        "recordOrder": "descending",
        "recordOffsetPath": "$.id",
        "pagination": "cursor",
        "nextPagePath": "$.data[-1:].id",
        "nextPageParam": "starting_after",
        "hasMorePath": "$.has_more",
        "streamingInterval": "0",
        **extra,
    }


def forward(api: StripeApi, after: str, **extra: str) -> dict[str, str]:
    """Forward with `ending_before` from the event `after`."""
    return {
        "url": f"{api.url}/v1/events?limit=10",
        "authType": "Bearer",
        "oauthToken": api.api_key,
        "recordsPath": "$.data[*]",
        "offsetType": "cursor",
        "recordOrder": "descending",
        "offsetField": "ending_before",
        "offsetPath": "$.data[0].id",
        "hasMorePath": "$.has_more",
        "initialOffset": after,
        "streamingInterval": "0",
        **extra,
    }


@pytest.fixture
def stripe() -> Any:
    with StripeApi(clock=Clock(T0), seed=11) as api:
        yield api


def add_customers(api: StripeApi, count: int) -> list[str]:
    """`count` customer.created events, five per `created` second; their customer ids."""
    customers = []
    for i in range(count):
        if i and i % 5 == 0:
            api.advance(1)
        event = api.add_event("customer.created", email=f"c{i}@example.com")
        customers.append(event["data"]["object"]["id"])
    return customers


def oldest_first(api: StripeApi) -> list[str]:
    return [event["id"] for event in reversed(api.events)]


def sink_ids(spark: Any, sink: Path) -> Counter[str]:
    return Counter(row.id for row in spark.read.schema(SCHEMA).parquet(str(sink)).collect())


@pytest.mark.parametrize("batch_size", [None, "7"])
def test_stripe_events_down_from_the_top_every_event_once_across_updates_and_a_restart(
    spark: Any, stripe: StripeApi, tmp_path: Path, batch_size: str | None
) -> None:
    options = walk_down(stripe, **({"batchSize": batch_size} if batch_size else {}))
    customers = add_customers(stripe, 23)  # three pages of history
    run_to_end(start_stream(spark, options, tmp_path, schema=SCHEMA))
    assert sink_ids(spark, tmp_path / "sink") == Counter(oldest_first(stripe))

    add_customers(stripe, 6)
    for customer in customers[:12:3]:  # updates: new events about the same customers
        stripe.update(customer, email="new@example.com")
    stripe.add_event("charge.succeeded", amount=500)
    run_to_end(start_stream(spark, options, tmp_path, schema=SCHEMA))
    got = sink_ids(spark, tmp_path / "sink")
    assert got == Counter(oldest_first(stripe)) and len(got) == 23 + 6 + 4 + 1
    assert any("starting_after=evt_" in s.target for s in stripe.requests)  # paged down


def test_a_batch_read_gives_the_whole_list_oldest_first(spark: Any, stripe: StripeApi) -> None:
    add_customers(stripe, 23)
    options = walk_down(stripe, numPartitions="2")
    del options["streamingInterval"]  # readStream only
    reader = spark.read.format("rest").schema(SCHEMA)
    for key, value in options.items():
        reader = reader.option(key, value)
    assert [row.id for row in reader.load().collect()] == oldest_first(stripe)


def batches(spark: Any, options: dict[str, str], work: Path, seen: dict[int, list[str]]) -> None:
    """One availableNow run through `foreachBatch`: each batch's event ids in the order the
    batch holds them (a batch delivered twice keeps both deliveries)."""

    def collect(frame: Any, batch_id: int) -> None:
        ids = [row.id for row in frame.select("id").collect()]
        seen.setdefault(batch_id, []).append(json.dumps(ids))

    run_to_end(start_stream(spark, options, work, each_batch=collect, schema=SCHEMA), 180)


def delivered(seen: dict[int, list[str]]) -> list[str]:
    """Every event id of each batch's last delivery, batch after batch."""
    return [i for batch in sorted(seen) for i in json.loads(seen[batch][-1])]


def crash_before_the_commit(work: Path, seen: dict[int, list[str]]) -> int:
    """Remove the last batch's commit, as if Spark died between its offset log and commit."""
    last = max(seen)
    commits = work / "checkpoint" / "commits"
    for name in (str(last), f".{last}.crc"):
        (commits / name).unlink(missing_ok=True)
    return last


@pytest.mark.parametrize("style", ["down from the top", "forward with ending_before"])
def test_a_batch_replayed_after_a_crash_holds_exactly_its_events_though_more_arrived(
    spark: Any, stripe: StripeApi, tmp_path: Path, style: str
) -> None:
    customers = add_customers(stripe, 1)
    first = stripe.events[0]["id"]
    if style == "down from the top":
        options, skipped = walk_down(stripe, batchSize="8"), 0
    else:
        options, skipped = forward(stripe, first, batchSize="8"), 1  # events after `first`
    customers += add_customers(stripe, 25)
    seen: dict[int, list[str]] = {}
    batches(spark, options, tmp_path, seen)
    assert delivered(seen) == oldest_first(stripe)[skipped:]  # oldest first, batch by batch

    last = crash_before_the_commit(tmp_path, seen)
    add_customers(stripe, 7)  # events arrive before the restart, above the logged batch
    for customer in customers[5:20:5]:
        stripe.update(customer, name="renamed")
    batches(spark, options, tmp_path, seen)
    assert len(seen[last]) == 2 and seen[last][1] == seen[last][0]  # the same events again
    assert delivered(seen) == oldest_first(stripe)[skipped:]  # each once, none missed
