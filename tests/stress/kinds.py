"""Reader options per offset kind (and variant) against the demo API, for the stress test.

A kind is one `offsetType` plus the demo endpoint that pages it; variants pick how its end is
found (a `/latest` probe, a search, the clock) or where the next position comes from.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The sink schema: given explicitly, so no sampling requests consume injected faults.
SCHEMA = "id bigint, ts double, region string, name string"  # ts: clock stamps have ms

#: Retry and timeout options of every stress query: faults must be survivable, quickly.
RESILIENCE = {
    "maxRetries": "6",
    "retryBackoffSeconds": "0.05",
    "retryMaxWaitSeconds": "1.5",
    "connectionTimeout": "2",
    "readTimeout": "2",
    "streamingInterval": "0.2",
}
READ_TIMEOUT = 2.0


@dataclass(frozen=True)
class Kind:
    """One offset kind under test: its variants and the paths faults can hit."""

    name: str
    variants: tuple[str, ...]

    def paths(self, variant: str) -> tuple[str, ...]:
        """The demo paths this kind requests (faults are injected on these)."""
        data = {
            "incremental": "/items",
            "timestamp": "/events",
            "cursor": "/stripe" if variant == "stripe" else "/cursor",
            "newest": "/stripe",
            "page": "/pages",
            "offset": "/offset",
            "link": "/linked",
            "link-body": "/linked",
        }[self.name]
        return (data, "/latest") if variant in ("probe", "lookback") else (data,)


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("incremental", ("probe", "search")),
        Kind("timestamp", ("probe", "clock", "chain", "lookback")),
        Kind("cursor", ("opaque", "stripe")),
        Kind("page", ("probe", "search")),
        Kind("offset", ("probe", "search")),
        Kind("link", ("header",)),
        Kind("link-body", ("next_url",)),
        Kind("newest", ("down", "forward")),  # a newest-first list: offsetType cursor
    )
}
DEFAULT_KINDS = tuple(KINDS)


def reader_options(
    kind: str,
    variant: str,
    base: str,
    limit: int,
    regions: Sequence[str],
    batch_size: int | None = None,
    partitions: int | None = None,
) -> dict[str, str]:
    """Every option of one stress query (all strings, as Spark passes them)."""
    options = {**_kind_options(kind, variant, base, limit), **RESILIENCE}
    options["inputData"] = json.dumps([{"region": r} for r in regions])
    if batch_size is not None:
        options["batchSize"] = str(batch_size)
    if partitions is not None:
        options["numPartitions"] = str(partitions)
    return options


def _kind_options(kind: str, variant: str, base: str, limit: int) -> dict[str, str]:
    probe = variant in ("probe", "lookback")
    if kind == "incremental":
        options = {
            "url": f"{base}/items?since_id={{since_id}}&limit={limit}",
            "offsetType": "incremental",
            "offsetField": "since_id",
        }
        return options | (_probe(base, "$.max_id") if probe else {})
    if kind == "timestamp":
        options = {
            "url": f"{base}/events?since={{since}}&limit={limit}",
            "offsetType": "timestamp",
            "offsetField": "since",
            "offsetPath": "$.next_since",
        }
        if variant != "chain":
            options["recordOffsetPath"] = "$.ts"
        if variant == "lookback":  # every poll reads the last 30 s of stamps again
            options |= {"lookbackSeconds": "30", "primaryKeyPath": "$.id"}
        return options | (_probe(base, "$.max_ts") if probe else {})
    if kind == "cursor" and variant == "stripe":
        return {
            "url": f"{base}/stripe?starting_after={{last_id}}&limit={limit}",
            "offsetType": "cursor",
            "offsetField": "last_id",
            "offsetPath": "$.data[-1:].id",
            "recordsPath": "$.data[*]",
        }
    if kind == "newest" and variant == "down":  # from the top down to the newest delivered
        return {
            "url": f"{base}/stripe?order=desc&limit={limit}",
            "offsetType": "cursor",
            "recordOrder": "descending",
            "recordOffsetPath": "$.id",
            "recordsPath": "$.data[*]",
            "pagination": "cursor",
            "nextPagePath": "$.data[-1:].id",
            "nextPageParam": "starting_after",
            "hasMorePath": "$.has_more",
            "maxPagesPerBatch": "100000",
        }
    if kind == "newest":  # forward with ending_before, each page read oldest first
        return {
            "url": f"{base}/stripe?order=desc&limit={limit}",
            "offsetType": "cursor",
            "recordOrder": "descending",
            "offsetField": "ending_before",
            "offsetPath": "$.data[0].id",
            "recordsPath": "$.data[*]",
            "hasMorePath": "$.has_more",
            "initialOffset": "0",
        }
    if kind == "cursor":
        return {
            "url": f"{base}/cursor?cursor={{next_cursor}}&limit={limit}",
            "offsetType": "cursor",
            "offsetField": "next_cursor",
            "initialOffset": "",
        }
    if kind == "page":
        options = {
            "url": f"{base}/pages?page={{page}}&per_page={limit}",
            "offsetType": "page",
            "offsetField": "page",
            "pageSize": str(limit),
        }
        if probe:
            options |= {
                "latestOffsetUrl": f"{base}/latest?per_page={limit}",
                "latestOffsetPath": "$.last_page",
            }
        return options
    if kind == "offset":
        options = {
            "url": f"{base}/offset?offset={{offset}}&limit={limit}",
            "offsetType": "offset",
            "offsetField": "offset",
            "pageSize": str(limit),
        }
        return options | (_probe(base, "$.total") if probe else {})
    if kind == "link":
        return {"url": f"{base}/linked?limit={limit}", "offsetType": "link"}
    if kind == "link-body":
        return {
            "url": f"{base}/linked?limit={limit}&in=body",
            "offsetType": "link",
            "offsetPath": "$.next_url",
        }
    raise ValueError(f"unknown stress kind {kind!r}; known: {', '.join(KINDS)}")


def _probe(base: str, path: str) -> dict[str, str]:
    return {"latestOffsetUrl": f"{base}/latest", "latestOffsetPath": path}


class _FakePage:
    """The parts of a fetched page `LinkOffset.next_cursor` reads."""

    def __init__(self, document: Any, request_url: str) -> None:
        self.document = document
        self.headers: dict[str, str] = {}
        self.request_url = request_url
        self.records = document.get("data", [])


def link_body_support() -> str | None:
    """None when `offsetType=link` takes the next URL from `offsetPath` in the body, else why not.

    A pure check of `rest_stream.positions` (no Spark, no network): the kind `link-body` runs by
    default only when this passes; `--kinds link-body` runs it regardless (and fails clearly).
    """
    try:
        from rest_stream.options.parse import parse_options
        from rest_stream.positions import offset_kind

        options = _kind_options("link-body", "next_url", "http://127.0.0.1:9", 5)
        kind = offset_kind(parse_options(options))
        page = _FakePage(
            {"data": [{"id": 5}], "next_url": "/linked?after=5&limit=5&in=body"},
            "http://127.0.0.1:9/linked?limit=5&in=body",
        )
        found = kind.next_cursor(page)  # type: ignore[attr-defined]
    except Exception as exc:  # any failure means: not (yet) supported
        return f"{type(exc).__name__}: {exc}"
    if not (isinstance(found, str) and found.endswith("/linked?after=5&limit=5&in=body")):
        return f"offsetPath is ignored by offsetType=link (next position {found!r})"
    return None
