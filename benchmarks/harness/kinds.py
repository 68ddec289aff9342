"""The offset kinds the benchmarks cover: one row of `KINDS` per kind.

A row says everything the harness needs about a kind of the demo API (`rest_stream.demo`):

- `path`: the data endpoint, whose requests the coverage check and the in-flight count read;
- `address(base, page_size, k)`: the URL of the page that starts at record index `k` (0-based)
  and how many of its records to skip, for kinds whose pages can be addressed directly. The
  limit fetches those URLs concurrently (knowing the id space from `/latest`); a kind without
  `address` is a chain (each next URL comes from the last answer): the limit and the baseline
  walk `first_url` → `next_url` with one request in flight;
- `options(base, page_size)`: the `format("rest")` options a user writes for it (offset
  options only; `numPartitions` and `requestConcurrency` are left to the scenario);
- `first_id(query, page_size)`: the first id a logged request asked for (coverage check; every
  request asks for `page_size` records from there, or the `limit`/`per_page` it names).

The demo's records are dense: ids 1..N, `ts = TIMESTAMP_BASE + id`.

To add a kind, add a row here (the `offset` row shows an addressable one, the `cursor` row a
chain) and its name to `OFFSET_KINDS` in `harness/config.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rest_stream.demo.server import decode_cursor

#: `ts` of record `id` is `TIMESTAMP_BASE + id` (the demo's default `base_ts`; its CLI sets no
#: other), so `since=TIMESTAMP_BASE` is just below the first record.
TIMESTAMP_BASE = 1_700_000_000

Query = Mapping[str, str]


@dataclass(frozen=True)
class Kind:
    """One offset kind of the demo API (see the module docstring)."""

    name: str
    path: str
    options: Callable[[str, int], dict[str, str]]
    first_id: Callable[[Query, int], int]
    address: Callable[[str, int, int], tuple[str, int]] | None = None
    first_url: Callable[[str, int], str] | None = None
    next_url: Callable[[str, int, dict[str, Any]], str | None] | None = None

    @property
    def chain(self) -> bool:
        """Whether a reader must walk its pages in order (one request in flight per stream)."""
        return self.address is None

    def requested(self, query: Query, page_size: int) -> tuple[int, int]:
        """The ids `(first, last)` one logged request asks for."""
        size = int(query.get("limit") or query.get("per_page") or page_size)
        first = max(1, self.first_id(query, size))
        return first, first + size - 1


def _page_first(query: Query, size: int) -> int:
    return (int(query.get("page", "1")) - 1) * size + 1


def _since_first(query: Query, size: int) -> int:
    return math.floor(float(query.get("since", str(TIMESTAMP_BASE))) - TIMESTAMP_BASE) + 1


def _cursor_first(query: Query, size: int) -> int:
    cursor = query.get("cursor") or ""
    return (decode_cursor(cursor) if cursor else 0) + 1


def _cursor_next(base: str, size: int, body: dict[str, Any]) -> str | None:
    cursor = body.get("next_cursor")
    return f"{base}/cursor?limit={size}&cursor={cursor}" if cursor else None


def _link_next(base: str, size: int, body: dict[str, Any]) -> str | None:
    following = body.get("next_url")  # relative, null at the end
    return f"{base}{following}" if following else None


KINDS: dict[str, Kind] = {
    "page": Kind(
        "page",
        "/pages",
        address=lambda base, size, k: (
            f"{base}/pages?per_page={size}&page={k // size + 1}",
            k % size,
        ),
        options=lambda base, size: {
            "url": f"{base}/pages?per_page={size}&page={{page}}",
            "offsetType": "page",
            "offsetField": "page",
            "pageSize": str(size),
        },
        first_id=_page_first,
    ),
    "incremental": Kind(
        "incremental",
        "/items",
        address=lambda base, size, k: (f"{base}/items?limit={size}&since_id={k + 1}", 0),
        options=lambda base, size: {
            "url": f"{base}/items?limit={size}&since_id={{since_id}}",
            "offsetType": "incremental",
            "offsetField": "since_id",
            "initialOffset": "1",
        },
        first_id=lambda query, size: int(query.get("since_id", "0")),
    ),
    "timestamp": Kind(
        "timestamp",
        "/events",
        address=lambda base, size, k: (
            f"{base}/events?limit={size}&since={TIMESTAMP_BASE + k}",
            0,
        ),
        options=lambda base, size: {
            "url": f"{base}/events?limit={size}&since={{since}}",
            "offsetType": "timestamp",
            "offsetField": "since",
            "recordOffsetPath": "$.ts",
            "initialOffset": str(TIMESTAMP_BASE),
            "latestOffsetUrl": f"{base}/latest",
            "latestOffsetPath": "$.max_ts",
        },
        first_id=_since_first,
    ),
    "offset": Kind(  # offset/limit paging: `{offset}` = records to skip, `pageSize` = limit
        "offset",
        "/offset",
        address=lambda base, size, k: (f"{base}/offset?limit={size}&offset={k}", 0),
        options=lambda base, size: {
            "url": f"{base}/offset?limit={size}&offset={{offset}}",
            "offsetType": "offset",
            "offsetField": "offset",
            "pageSize": str(size),
        },
        first_id=lambda query, size: int(query.get("offset", "0")) + 1,
    ),
    "cursor": Kind(
        "cursor",
        "/cursor",
        options=lambda base, size: {
            "url": f"{base}/cursor?limit={size}&cursor={{cursor}}",
            "offsetType": "cursor",
            "offsetField": "cursor",
            "offsetPath": "$.next_cursor",
            "initialOffset": "",
        },
        first_id=_cursor_first,
        first_url=lambda base, size: f"{base}/cursor?limit={size}&cursor=",
        next_url=_cursor_next,
    ),
    "link": Kind(  # next links in the body (`next_url`), as datasette and many others
        "link",
        "/linked",
        options=lambda base, size: {
            "url": f"{base}/linked?limit={size}&in=body",
            "offsetType": "link",
            "offsetPath": "$.next_url",
        },
        first_id=lambda query, size: int(query.get("after", "0")) + 1,
        first_url=lambda base, size: f"{base}/linked?limit={size}&in=body",
        next_url=_link_next,
    ),
}


def kind(name: str) -> Kind:
    """The row of `name`; ValueError names the known kinds."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown offset kind {name!r}; known: {', '.join(KINDS)}") from None


def page_address(base: str, name: str, page_size: int, position: int) -> tuple[str, int]:
    """The URL of the page holding record index `position` (0-based) of an addressable kind,
    and the index of that record on it."""
    address = kind(name).address
    if address is None:
        raise ValueError(f"{name} is a chain: its pages have no address")
    return address(base, page_size, position)
