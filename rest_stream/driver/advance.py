"""How each stream's end is found and moved in a poll: a range's end (probe, clock or
search), a chain walked within the batch's budgets, the window of `lookbackSeconds` read
again, and the one log line a poll writes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rest_stream.driver.ends import EndFinder
from rest_stream.driver.page_size import PageSizeCheck
from rest_stream.driver.schedule import PollSchedule
from rest_stream.driver.stream_list import StreamList
from rest_stream.driver.walk_cache import ByteBudget, WalkCache, carried, position_key
from rest_stream.http.pages import PageFetcher
from rest_stream.options.parse import RestOptions
from rest_stream.positions import LookbackRange, OffsetKind, Position, RangeKind
from rest_stream.positions.walk import walk_of

log = logging.getLogger("rest_stream.stream_reader")  # the name docs/quickstart.md gives


@dataclass
class Poll:
    """What one `latestOffset` call shares across its streams."""

    kind: OffsetKind
    budget: int | None  # records per stream (a share of `batchSize`), or None
    bytes_left: ByteBudget  # `maxBytesPerBatch` for the pages walked, across every stream
    walked: dict[str, int] = field(default_factory=dict)  # records each walked stream took


def concurrently(work: Callable[[str], Any], keys: list[str], width: int) -> dict[str, Any]:
    """`work` over `keys`, `width` at a time: the driver's requests (`driver_width`)."""
    if len(keys) <= 1:
        return {key: work(key) for key in keys}
    width = max(1, min(width, len(keys)))
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="rest-poll") as pool:
        return dict(zip(keys, pool.map(work, keys)))


class StreamEnds:
    """Finds and moves each stream's end on the driver (one instance per reader, never
    pickled). It keeps the newest position seen per stream (`available`, beyond what
    `batchSize` let in) and the page-size check of `page`/`offset` searches across polls."""

    def __init__(
        self,
        options: RestOptions,
        fetcher: Callable[[], PageFetcher],
        streams: StreamList,
        schedule: PollSchedule,
        walks: WalkCache,
    ) -> None:
        self.options = options
        self._fetcher = fetcher
        self.streams = streams
        self.schedule = schedule
        self.walks = walks
        self.available: dict[str, Any] = {}
        self.page_sizes = PageSizeCheck()

    def latest(self, kind: OffsetKind, key: str) -> Position:
        """Where the stream of `key` ends now (`initialOffset=latest`): a range's end, or the
        end of a chain walked without keeping its records."""
        if isinstance(kind, RangeKind):
            return self.find_end(kind, key, kind.initial())
        position, row = kind.initial(), self.streams.row(key)
        while True:
            walk = walk_of(
                kind,
                self._fetcher(),
                row,
                position,
                max_pages=self.options.stream.max_pages_per_batch,
            )
            for _ in walk:
                pass
            if walk.caught_up or position_key(walk.position) == position_key(position):
                return walk.position
            position = walk.position

    def find_end(self, kind: RangeKind, key: str, start: Position) -> Position:
        """The current end of a range stream from `start` (`EndFinder`)."""
        finder = EndFinder(kind, self._fetcher(), page_sizes=self.page_sizes)
        return finder.end(self.streams.row(key), start, key)

    def advance(self, poll: Poll, key: str, start: Position) -> Position:
        """The stream's end for this poll: a range's end capped by the poll's record budget,
        or the end of the chain walked from `start` (its pages kept for `partitions`)."""
        kind, budget = poll.kind, poll.budget
        if isinstance(kind, RangeKind) and (budget is None or kind.counts_records):
            end = self.schedule.target(key)
            if end is None:
                end = self.find_end(kind, key, start)
            self.available[key] = end
            self.schedule.polled(key)
            capped = end if budget is None else min(end, kind.advance(start, budget))
            if capped == end:
                self.schedule.caught_up(key)
            return start if kind.reached(start, capped) else capped
        return self._walk(poll, key, start)

    def look_back(
        self, kind: LookbackRange, key: str, start: Position, kept: Any, end: Position
    ) -> tuple[Position, Any]:
        """The end and window (as the offset keeps it) of a stream with `lookbackSeconds`:
        the window before `end` read again (`LookbackRange.look_back`)."""
        window = kind.window(kept, start)
        row = self.streams.row(key)
        end, window = kind.look_back(self._fetcher(), row, start, window, end, stream=key)
        return end, kind.window_offset(window, end)

    def _walk(self, poll: Poll, key: str, start: Position) -> Position:
        kind = poll.kind
        walk = walk_of(
            kind,
            self._fetcher(),
            self.streams.row(key),
            start,
            end=self.schedule.target(key),
            max_records=poll.budget,
            max_pages=self.options.stream.max_pages_per_batch,
            keep_body=True,
            byte_budget=poll.bytes_left,
        )
        pages = carried(walk)
        if walk.pages:
            self.schedule.polled(key)
        if walk.caught_up:
            self.schedule.caught_up(key)
        if pages and not isinstance(kind, LookbackRange):  # its batches read the window again
            self.walks.put(key, start, walk.position, pages)
        if not isinstance(kind, RangeKind):  # a walked range replays as a range
            poll.walked[key] = walk.records
        self.available[key] = walk.latest
        return walk.position


def log_poll(
    options: RestOptions,
    total: int,
    due: list[str],
    current: Mapping[str, Any],
    ends: Mapping[str, Any],
    requests: int,
    unchanged: int = 0,
) -> None:
    """One `INFO` line per poll: streams due, requests sent, and the first streams that
    moved (keys and positions redacted)."""
    moved = {k: v for k, v in ends.items() if position_key(v) != position_key(current[k])}
    shown = options.redact(  # a `link` position is a URL that may echo a secret
        ", ".join(
            f"{k}: {position_key(current[k])} → {position_key(v)}"
            for k, v in list(moved.items())[:5]
        )
    )
    more = f" (+{len(moved) - 5} more)" if len(moved) > 5 else ""
    log.info(
        "poll: %d of %d streams due, %d requests (%d answered 304 Not Modified), "
        "%d streams advance%s%s",
        len(due),
        total,
        requests,
        unchanged,
        len(moved),
        f": {shown}" if shown else "",
        more,
    )
