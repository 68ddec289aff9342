"""Planning: from offset ranges, walked pages or input rows to input partitions.

Pure: no Spark, no network. A batch is cut into work units (sub-ranges, runs of walked
pages), then the units are packed into at most `numPartitions` partitions balanced by the
records they are expected to hold, so many small streams share a task and one large backfill
spreads over all of them.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rest_stream.errors import RestOptionError
from rest_stream.partitions import (
    CarriedPage,
    PagesUnit,
    RangeUnit,
    RowsPartition,
    Unit,
    WorkPartition,
)
from rest_stream.positions import RangeKind

STREAMS = "streams"
#: Records each walked (chain) stream's batch took, beside its end: a replay takes as many.
TAKEN = "taken"
#: Each stream's lookback window (`lookbackSeconds`): where it starts and the record versions
#: delivered since (`positions.lookback`).
WINDOW = "window"
#: What a sub-range of a stream delivers, given the stream and the sub-range: None for all.
Keep = Callable[[str, Any, Any], Any]


def stream_key(row: Mapping[str, Any], fields: Sequence[str] | None = None) -> str:
    """The stable name of the logical stream an input row stands for: the row (or only its
    `streamKey` fields) as canonical JSON.

    >>> stream_key({"repo": "a/b", "stars": 3}, fields=["repo"])
    '{"repo":"a/b"}'
    """
    if fields is not None:
        row = {name: row.get(name) for name in fields}
    return json.dumps(dict(row), sort_keys=True, separators=(",", ":"), default=str)


def stream_rows(
    input_data: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Stream key → input row, sorted by key; no input data is one stream, `{}`."""
    rows = [dict(r) for r in input_data] or [{}]
    keyed: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = stream_key(row, fields)
        if key in keyed and keyed[key] != row:
            raise RestOptionError(
                "streamKey",
                ",".join(fields or ()) or None,
                f"fields that tell the streams apart: two rows share the key {key}",
            )
        keyed[key] = row
    return {key: keyed[key] for key in sorted(keyed)}


def make_offset(
    positions: Mapping[str, Any],
    taken: Mapping[str, int] | None = None,
    unlisted: Mapping[str, float] | None = None,
    windows: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The offset Spark stores: positions by stream, the records each walked stream's batch
    took, the lookback windows (both for its streams only, and only those set), and when each
    stream a parent list no longer names was first missing (`unlisted`); keys sorted, as
    Spark compares strings.

    >>> make_offset({"b": 2, "a": {"skip": 0, "cursor": "c"}}, taken={"a": 5, "gone": 1})
    {'streams': {'a': {'cursor': 'c', 'skip': 0}, 'b': 2}, 'taken': {'a': 5}}
    """
    offset: dict[str, Any] = {STREAMS: {key: _sorted(positions[key]) for key in sorted(positions)}}
    taken = taken or {}
    counts = {key: int(taken[key]) for key in sorted(taken) if key in positions}
    if counts:
        offset[TAKEN] = counts
    unlisted = unlisted or {}
    missing = {key: unlisted[key] for key in sorted(unlisted) if key in positions}
    if missing:
        offset["unlisted"] = missing
    windows = windows or {}
    kept = {key: _sorted(windows[key]) for key in sorted(windows) if key in positions}
    kept = {key: window for key, window in kept.items() if window}
    if kept:
        offset[WINDOW] = kept
    return offset


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    return value


def default_parallelism() -> int:
    """Tasks a micro-batch is cut into when `numPartitions` is not set."""
    return max(2, os.cpu_count() or 2)


def task_count(num_partitions: int | None) -> int:
    """Most tasks of one batch: `numPartitions`, else the default parallelism."""
    return num_partitions or default_parallelism()


#: Most requests the driver sends at once, whatever `numPartitions × requestConcurrency`.
MAX_DRIVER_WIDTH = 64


def driver_width(num_partitions: int | None, request_concurrency: int) -> int:
    """Requests the driver sends at once across its streams (probes, end searches, chain
    walks): as many as one batch's tasks send together, `tasks × requestConcurrency`, at
    most `MAX_DRIVER_WIDTH` (one process, one connection each).

    >>> driver_width(2, 4), driver_width(200, 8)
    (8, 64)
    """
    return min(task_count(num_partitions) * max(1, request_concurrency), MAX_DRIVER_WIDTH)


def share(total: int, streams: int) -> int:
    """Each stream's share of a record budget (at least one)."""
    return max(1, total // max(1, streams))


def range_units(
    kind: RangeKind,
    ranges: Sequence[tuple[str, dict[str, Any], Any, Any]],
    pieces: int,
    keep: Keep | None = None,
) -> list[RangeUnit]:
    """Each stream's `[start, end)` cut into sub-ranges, about `pieces` in all, each stream
    getting pieces in proportion to its expected size (at least one); `keep` gives what each
    sub-range delivers (`lookbackSeconds`)."""
    weights = [kind.weight(start, end) for _, _, start, end in ranges]
    total = sum(weights) or 1.0
    units = []
    for (key, row, start, end), weight in zip(ranges, weights):
        parts = max(1, round(pieces * weight / total))
        for lo, hi in kind.split(start, end, parts):
            only = keep(key, lo, hi) if keep is not None else None
            units.append(RangeUnit(key, row, lo, hi, kind.weight(lo, hi), only))
    return units


def page_units(
    key: str, row: dict[str, Any], pages: Sequence[CarriedPage], parts: int
) -> list[PagesUnit]:
    """A stream's walked pages in at most `parts` runs of adjacent pages."""
    if not pages:
        return []
    parts = max(1, min(parts, len(pages)))
    size = -(-len(pages) // parts)
    return [PagesUnit(key, row, tuple(pages[i : i + size])) for i in range(0, len(pages), size)]


def pack(units: Sequence[Unit], tasks: int) -> list[WorkPartition]:
    """`units` in at most `tasks` partitions, balanced by weight (largest first, each to the
    lightest partition); inside a partition units keep their planned order, and partitions
    come in the planned order of their first unit (a stream's runs of pages in order)."""
    if not units:
        return []
    tasks = max(1, min(tasks, len(units)))
    heap = [(0.0, index) for index in range(tasks)]
    bins: list[list[int]] = [[] for _ in range(tasks)]
    for position in sorted(range(len(units)), key=lambda i: (-units[i].weight, i)):
        load, index = heapq.heappop(heap)
        bins[index].append(position)
        heapq.heappush(heap, (load + max(units[position].weight, 1e-9), index))
    filled = sorted((sorted(b) for b in bins if b), key=lambda b: b[0])
    return [WorkPartition(tuple(units[i] for i in b)) for b in filled]


def plan_batch(
    kind: RangeKind | None,
    ranges: Sequence[tuple[str, dict[str, Any], Any, Any]],
    walked: Sequence[tuple[str, dict[str, Any], Sequence[CarriedPage]]],
    num_partitions: int | None,
    request_concurrency: int,
    keep: Keep | None = None,
) -> list[WorkPartition]:
    """The partitions of one batch: ranges split into about `tasks × requestConcurrency`
    units (each task then reads `requestConcurrency` units at once), walked pages in runs,
    all packed into at most `tasks` partitions; `keep` as in `range_units`."""
    tasks = task_count(num_partitions)
    pieces = tasks * max(1, request_concurrency)
    units: list[Unit] = []
    if ranges:
        assert kind is not None
        units += range_units(kind, ranges, pieces, keep)
    runs = max(1, tasks // max(1, len(walked))) if walked else 0
    for key, row, pages in walked:
        units += page_units(key, row, pages, runs)
    return pack(units, tasks)


def plan_rows(rows: Sequence[Mapping[str, Any]], num_partitions: int | None) -> list[RowsPartition]:
    """Input rows spread over partitions, one request per row."""
    rows = list(rows) or [{}]
    parts = max(1, min(len(rows), task_count(num_partitions)))
    size = -(-len(rows) // parts)
    return [RowsPartition(tuple(rows[i : i + size])) for i in range(0, len(rows), size)]


def with_rate_shares(partitions: Sequence[Any], rate: float | None) -> list[Any]:
    """`partitions`, each holding an equal share of `maxRequestsPerSecond` (None: no cap)."""
    if rate is None or not partitions:
        return list(partitions)
    share_of_rate = rate / len(partitions)
    return [dataclasses.replace(p, rate_limit=share_of_rate) for p in partitions]
