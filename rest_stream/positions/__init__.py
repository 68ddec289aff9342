"""The offset kinds: one small class per paging style, in two families.

| kind (`offsetType`)        | family | position                    | range                   |
|----------------------------|--------|-----------------------------|-------------------------|
| `incremental`              | range  | next id to read (int)       | ids `start <= id < end` |
| `page`                     | range  | records read (int)          | record indices          |
| `offset`                   | range  | records read (int)          | record indices          |
| `timestamp` + recordOffset | range  | newest timestamp read       | `start < ts <= end`     |
| `timestamp` + lookback     | range  | the same, and a window      | from the window's start |
| `timestamp`                | chain  | newest timestamp read       | pages walked            |
| `cursor`                   | chain  | `{"cursor": c, "skip": k}`  | pages walked            |
| `cursor`, newest first     | chain  | `{"newest": id}`            | pages walked down       |
| `link` (header or body)    | chain  | `{"cursor": url, "skip": k}`| pages walked            |

Range kinds (`RangeKind`) find an end, split `[start, end)` and read sub-ranges; chain kinds
(`ChainKind`) go page by page (`step`); a chain batch's offset also keeps the records it took
(`planner.TAKEN`), and its replay takes exactly as many. A `timestamp` range with
`lookbackSeconds` (`LookbackRange`) also keeps each stream's window (`planner.WINDOW`).
Adding a paging style is one class here and its tests.

A newest-first list (`recordOrder=descending`) is a `cursor` either way: with
`recordOffsetPath` each poll walks it from the top down to the newest record delivered
(`NewestFirstOffset`, `walk.DescendingWalk`); without it the chain goes towards newer records
and each page is read oldest first (`CursorOffset`).
"""

from __future__ import annotations

from rest_stream.options.parse import RestOptions
from rest_stream.positions.base import (
    ChainKind,
    CountedRange,
    Fetcher,
    OffsetKind,
    Position,
    RangeKind,
    SourcedRecords,
    Step,
    StopChain,
    even_cuts,
)
from rest_stream.positions.cursors import BodyLinkOffset, CursorOffset, LinkOffset
from rest_stream.positions.descending import NewestFirstOffset
from rest_stream.positions.ids import IncrementalOffset
from rest_stream.positions.lookback import LookbackRange
from rest_stream.positions.records import PageOffset, RecordCountKind, RecordOffset
from rest_stream.positions.times import (
    TimestampChain,
    TimestampOffset,
    TimestampRange,
    _cut_time,
)

__all__ = [
    "BodyLinkOffset",
    "ChainKind",
    "CountedRange",
    "CursorOffset",
    "Fetcher",
    "IncrementalOffset",
    "LinkOffset",
    "LookbackRange",
    "NewestFirstOffset",
    "OffsetKind",
    "PageOffset",
    "Position",
    "RangeKind",
    "RecordCountKind",
    "RecordOffset",
    "SourcedRecords",
    "Step",
    "StopChain",
    "TimestampChain",
    "TimestampOffset",
    "TimestampRange",
    "_cut_time",
    "even_cuts",
    "offset_kind",
]


def offset_kind(options: RestOptions) -> OffsetKind:
    """The offset kind of `options` (`offsetType`, and for `timestamp` and `link` whether
    `recordOffsetPath` or `offsetPath` is set)."""
    stream = options.stream
    kind = stream.offset_type
    if kind is None:
        raise ValueError("offset_kind needs an offsetType")
    if kind == "timestamp":
        if stream.record_offset_path and stream.lookback_seconds:
            return LookbackRange(options)
        return (TimestampRange if stream.record_offset_path else TimestampChain)(options)
    if kind == "link":
        return (BodyLinkOffset if stream.offset_path else LinkOffset)(options)
    if stream.walks_down:
        return NewestFirstOffset(options)
    classes: dict[str, type[OffsetKind]] = {
        "incremental": IncrementalOffset,
        "page": PageOffset,
        "offset": RecordOffset,
        "cursor": CursorOffset,
    }
    return classes[kind](options)
