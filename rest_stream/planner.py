"""Planning: from offset ranges (or input rows) to input partitions. Pure; no Spark, no network."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rest_stream.offsets import OffsetKind
from rest_stream.partitions import CarriedPage, PagesPartition, RangePartition, RowsPartition

STREAMS = "streams"


def stream_key(row: Mapping[str, Any]) -> str:
    """The stable name of the logical stream an input row stands for."""
    return json.dumps(dict(row), sort_keys=True, separators=(",", ":"), default=str)


def stream_rows(input_data: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stream key → input row, sorted by key; no input data is one stream, `{}`."""
    rows = [dict(r) for r in input_data] or [{}]
    return {stream_key(r): r for r in sorted(rows, key=stream_key)}


def make_offset(positions: Mapping[str, Any]) -> dict[str, Any]:
    """The offset Spark stores: positions by stream, keys sorted (Spark compares strings)."""
    return {STREAMS: {key: _sorted(positions[key]) for key in sorted(positions)}}


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def default_parallelism() -> int:
    """Tasks a micro-batch is cut into when `numPartitions` is not set."""
    return max(2, os.cpu_count() or 2)


def parts_per_stream(num_partitions: int | None, streams: int) -> int:
    """How many sub-ranges each stream's range is cut into (all streams ≤ numPartitions)."""
    total = num_partitions or default_parallelism()
    return max(1, total // max(1, streams))


def share(total: int, streams: int) -> int:
    """Each stream's share of a record budget (at least one)."""
    return max(1, total // max(1, streams))


def plan_ranges(
    kind: OffsetKind,
    ranges: Sequence[tuple[str, dict[str, Any], Any, Any]],
    num_partitions: int | None,
) -> list[RangePartition]:
    """Cut each stream's `[start, end)` into sub-ranges, one partition each."""
    parts = parts_per_stream(num_partitions, len(ranges))
    return [
        RangePartition(key, row, lo, hi)
        for key, row, start, end in ranges
        for lo, hi in kind.split(start, end, parts)
    ]


def plan_pages(
    key: str, row: dict[str, Any], pages: Sequence[CarriedPage], parts: int
) -> list[PagesPartition]:
    """A stream's walked pages in at most `parts` partitions of adjacent pages."""
    if not pages:
        return []
    parts = max(1, min(parts, len(pages)))
    size = -(-len(pages) // parts)
    return [
        PagesPartition(key, row, tuple(pages[i : i + size])) for i in range(0, len(pages), size)
    ]


def plan_rows(rows: Sequence[dict[str, Any]], num_partitions: int | None) -> list[RowsPartition]:
    """Input rows spread over partitions, one request per row."""
    rows = list(rows) or [{}]
    parts = max(1, min(len(rows), num_partitions or default_parallelism()))
    size = -(-len(rows) // parts)
    return [RowsPartition(tuple(rows[i : i + size])) for i in range(0, len(rows), size)]


def with_rate_shares(partitions: Sequence[Any], rate: float | None) -> list[Any]:
    """`partitions`, each holding an equal share of `maxRequestsPerSecond` (None: no cap)."""
    if rate is None or not partitions:
        return list(partitions)
    share_of_rate = rate / len(partitions)
    return [dataclasses.replace(p, rate_limit=share_of_rate) for p in partitions]
