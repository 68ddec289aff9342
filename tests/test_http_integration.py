"""Requests policy end to end: real Spark (local[2]) against small loopback servers.

A fixed-window rate limit that answers 429 with only `X-RateLimit-*` headers is read to
the end with few 429s; a cross-origin redirect fails the read naming `followRedirects`;
an HTTPS API signed by a private CA is read with `tlsVerify` set to that CA's bundle.
"""

from __future__ import annotations

import json
import math
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from loopback import Loopback, Reply, Seen
from pyspark.sql import DataFrame, SparkSession

ROWS = 24
PER_ROW = 5
SCHEMA = "id long, row long"


def read(spark: SparkSession, url: str, **options: Any) -> DataFrame:
    reader = spark.read.format("rest").option("url", url).schema(SCHEMA)
    for name, value in options.items():
        text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        reader = reader.option(name, text)
    return reader.load()


def records(seen: Seen) -> Reply:
    row = int(seen.query["row"])
    return Reply.json({"items": [{"id": row * 100 + k, "row": row} for k in range(PER_ROW)]})


class FixedWindow:
    """`limit` requests per `window` seconds; beyond that 429, with no `Retry-After`, only
    `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset` (whole seconds to the window's end,
    rounded up, as APIs do). Every answer carries the budget headers."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.counts: dict[int, int] = {}

    def __call__(self, seen: Seen) -> Reply:
        with self.lock:
            elapsed = time.monotonic() - self.started
            index = int(elapsed // self.window)
            used = self.counts[index] = self.counts.get(index, 0) + 1
        remaining = max(0, self.limit - used)
        reset = str(math.ceil((index + 1) * self.window - elapsed))
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": reset,
        }
        if used > self.limit:
            return Reply.json({"message": "rate limit exceeded"}, 429, **headers)
        reply = records(seen)
        return Reply(200, {**reply.headers, **headers}, reply.body)


def test_a_fixed_window_budget_is_waited_for_not_hammered(spark: SparkSession) -> None:
    budget = FixedWindow(limit=8, window=2.0)
    with Loopback(budget) as api:
        df = read(
            spark,
            api.url + "/items",
            inputData=[{"row": r} for r in range(ROWS)],
            recordsPath="$.items",
            numPartitions=2,
            maxRetries=3,
            retryBackoffSeconds=0.05,
            retryMaxWaitSeconds=5,
        )
        got = sorted((r.row, r.id) for r in df.collect())
    assert got == sorted((r, r * 100 + k) for r in range(ROWS) for k in range(PER_ROW))
    statuses = [s.status for s in api.requests]
    rejected = statuses.count(429)
    assert statuses.count(200) == ROWS
    # 24 requests at 8 per 2 s need 3 windows; each of Spark's two Python workers may send
    # one request the other's in-flight requests used up, per window edge: a handful at most,
    # where a client blind to the headers gets a 429 for nearly every request past the 8th.
    first = api.requests[0].at
    timeline = [(round(s.at - first, 2), s.status) for s in api.requests]
    assert rejected <= 4, timeline
    assert timeline[-1][0] < 15, timeline  # ~3 windows of 2 s, with rounded-up resets


def test_a_cross_origin_redirect_fails_the_read_naming_follow_redirects(
    spark: SparkSession,
) -> None:
    with Loopback(records) as other:
        other_origin = f"127.0.0.1:{other.port}"
        moved = Reply(301, {"Location": f"{other.url}/items?row=1"}, b"")
        with Loopback(lambda seen: moved) as api:
            df = read(
                spark,
                api.url + "/items?row=1",
                authType="apikey",
                apiKey="k3y-never-moves",
                recordsPath="$.items",
            )
            with pytest.raises(Exception) as caught:
                df.collect()
    message = str(caught.value)
    assert "followRedirects=all" in message and other_origin in message
    assert "k3y-never-moves" not in message
    assert other.requests == []


def test_a_redirect_is_followed_without_the_key_when_all_origins_are_allowed(
    spark: SparkSession,
) -> None:
    with Loopback(records) as other:
        moved = Reply(302, {"Location": f"{other.url}/items?row=3"}, b"")
        with Loopback(lambda seen: moved) as api:
            df = read(
                spark,
                api.url + "/items",
                authType="apikey",
                apiKey="k3y-never-moves",
                recordsPath="$.items",
                followRedirects="all",
            )
            assert sorted(r.id for r in df.collect()) == [300 + k for k in range(PER_ROW)]
    assert all("k3y-never-moves" not in s.text() for s in other.requests)
    assert all("k3y-never-moves" in s.text() for s in api.requests)


@pytest.fixture(scope="module")
def private_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[trustme.CA, Path]]:
    ca = trustme.CA()
    bundle = tmp_path_factory.mktemp("ca") / "company-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield ca, bundle


def test_an_https_api_of_a_private_ca_is_read_with_its_bundle(
    spark: SparkSession, private_ca: tuple[trustme.CA, Path]
) -> None:
    ca, bundle = private_ca
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    rows = [{"row": 1}, {"row": 2}]
    with Loopback(records, ssl_context=context) as api:
        trusted = read(
            spark, api.url + "/items", inputData=rows, recordsPath="$.items", tlsVerify=bundle
        )
        assert len(trusted.collect()) == 2 * PER_ROW
        untrusted = read(spark, api.url + "/items", inputData=rows, recordsPath="$.items")
        with pytest.raises(Exception) as caught:
            untrusted.collect()
    assert "tlsVerify" in str(caught.value) and "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
