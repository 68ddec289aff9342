"""Conditional GETs on real Spark (local[2]) against a loopback API that honours
`If-None-Match` and counts its 304s.

A stream polled every 100 ms (`processingTime`, `streamingInterval` 0) sends the same GET
again at each poll: the `latestOffsetUrl` probe of an `incremental` stream, the last page of
a caught-up `link` chain. While nothing changes those are answered 304 without a body; records
appended between polls arrive in the sink exactly once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from loopback import Loopback, Reply, Seen

from tests.streaming import start_stream

LIMIT = 20


class Feed:
    """Records with ids 1, 2, …: `/latest` (the largest id), `/items?since_id=` (ids from
    there) and `/linked?after=` (ids after there, a `Link` to the next page). `/latest` and
    `/linked` send an `ETag` (a hash of what they answer) and answer a matching
    `If-None-Match` with 304; `not_modified` counts those per path."""

    def __init__(self, records: int) -> None:
        self.count = records
        self.lock = threading.Lock()
        self.not_modified: dict[str, int] = {}
        self.url = ""

    def append(self, n: int) -> None:
        with self.lock:
            self.count += n

    def __call__(self, seen: Seen) -> Reply:
        with self.lock:
            count = self.count
        link = ""
        if seen.path == "/latest":
            body = orjson.dumps({"max_id": count})
        elif seen.path == "/items":
            first = int(seen.query["since_id"])
            ids = range(max(first, 1), min(count, first + LIMIT - 1) + 1)
            return Reply.json({"data": [{"id": i} for i in ids]})
        elif seen.path == "/linked":
            after = int(seen.query.get("after", "0"))
            last = min(count, after + LIMIT)
            body = orjson.dumps({"data": [{"id": i} for i in range(after + 1, last + 1)]})
            if last < count:
                link = f'<{self.url}/linked?after={last}&limit={LIMIT}>; rel="next"'
        else:
            return Reply.json({"message": "not found"}, 404)
        etag = '"' + hashlib.sha256(body + link.encode()).hexdigest()[:16] + '"'
        headers = {"ETag": etag, **({"Link": link} if link else {})}
        if seen.headers.get("if-none-match") == etag:
            with self.lock:
                self.not_modified[seen.path] = self.not_modified.get(seen.path, 0) + 1
            return Reply(304, headers, b"")
        return Reply(200, {"Content-Type": "application/json", **headers}, body)


def wait_for(condition: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def sink_ids(spark: Any, work: Path) -> list[int]:
    if not (work / "sink" / "_spark_metadata").exists():
        return []
    rows = spark.read.schema("id long").parquet(str(work / "sink")).collect()
    return sorted(r["id"] for r in rows)


def kind_options(kind: str, url: str) -> tuple[dict[str, str], str]:
    """The options of `kind` and the path its repeated GET goes to."""
    if kind == "probe":
        options = {
            "url": f"{url}/items?since_id={{since_id}}&limit={LIMIT}",
            "offsetType": "incremental",
            "offsetField": "since_id",
            "initialOffset": "1",
            "latestOffsetUrl": f"{url}/latest",
            "latestOffsetPath": "$.max_id",
        }
        return options, "/latest"
    return {"url": f"{url}/linked?limit={LIMIT}", "offsetType": "link"}, "/linked"


@pytest.mark.parametrize("kind", ["probe", "link"])
def test_repeated_polls_are_answered_304_and_appended_records_arrive_once(
    spark: Any, tmp_path: Path, kind: str
) -> None:
    feed = Feed(50)
    with Loopback(feed) as api:
        feed.url = api.url
        options, repeated = kind_options(kind, api.url)
        options |= {"recordsPath": "$.data", "streamingInterval": "0", "numPartitions": "2"}
        query = start_stream(
            spark,
            options,
            tmp_path,
            schema="id long",
            trigger={"processingTime": "100 milliseconds"},
        )
        try:
            for appended in (0, 30, 7, 0):  # idle polls between the appends
                feed.append(appended)
                wait_for(lambda: sink_ids(spark, tmp_path) == list(range(1, feed.count + 1)))
                wanted = feed.not_modified.get(repeated, 0) + 3
                wait_for(lambda n=wanted: feed.not_modified.get(repeated, 0) >= n)
            query.processAllAvailable()
        finally:
            query.stop()
        assert query.exception() is None
        polls = [s for s in api.requests if s.path == repeated]
    assert sink_ids(spark, tmp_path) == list(range(1, 88))  # every record, none twice
    answered_304 = [s for s in polls if s.status == 304]
    assert len(answered_304) == feed.not_modified[repeated] >= 12
    assert all("if-none-match" in s.headers for s in answered_304)
    # A 200 only where something changed: the probe's first answer and one per append; the
    # chain's first three pages, then per append its grown last page and the page after it.
    shown = "".join("." if s.status == 304 else str(s.status)[0] for s in polls)
    assert len(polls) - len(answered_304) == {"probe": 3, "link": 7}[kind], shown
