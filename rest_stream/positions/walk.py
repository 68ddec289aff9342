"""Walking a chain of pages (cursor, link, or any kind page by page) from a start position,
or a newest-first list from its top down to it (`DescendingWalk`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rest_stream.decoders.arrow_json import select
from rest_stream.http.pages import Page
from rest_stream.positions import OffsetKind, Position, StopChain
from rest_stream.positions.descending import NewestFirstOffset


@dataclass
class WalkedPage:
    """A page of a chain and the records of it that belong to the batch: the slice
    `[first, stop)`, or the records at `keep` (a `timestamp` walk's records by time)."""

    page: Page
    first: int
    stop: int
    keep: tuple[int, ...] | None = None

    @property
    def records(self) -> Sequence[Any]:
        if self.keep is not None:
            return select(self.page.records, list(self.keep))
        return self.page.records[self.first : self.stop]


@dataclass
class Walk:
    """A walk along a chain; iterate it for pages, then read `position` and `caught_up`."""

    kind: OffsetKind
    fetcher: Any
    row: Mapping[str, Any]
    position: Position
    end: Position | None = None
    max_records: int | None = None
    max_pages: int | None = None
    keep_body: bool = False
    byte_budget: Any = None  # a shared `walks.ByteBudget`: stop once it is spent
    #: A replay of a logged batch: the records it took. The walk takes exactly as many and
    #: then stands at `end`, even when the last page has grown since and names another next
    #: position (a cursor after its last record, a newer timestamp).
    expected: int | None = None
    caught_up: bool = False
    records: int = 0
    pages: int = 0
    _seen: set[str] = field(default_factory=set)
    _check: Any = None  # what the page at `position` must confirm (`OffsetKind.confirm`)

    def __iter__(self) -> Iterator[WalkedPage]:
        yield from self._walk()
        if self._check is not None:  # it stops where a page asked to be confirmed: ask now
            check, self._check = self._check, None
            self.kind.confirm(check, self.kind.fetch_at(self.fetcher, self.row, self.position))

    def _walk(self) -> Iterator[WalkedPage]:
        while not self._done():
            key = json.dumps(self.position, sort_keys=True)
            if key in self._seen:
                try:
                    self.kind.bad_offset(f"Offset loops: position {key} was seen before")
                except StopChain:
                    self.caught_up = True
                    return
            self._seen.add(key)
            page = self.kind.fetch_at(
                self.fetcher, self.row, self.position, keep_body=self.keep_body
            )
            self.pages += max(1, len(page.parts))
            if self._check is not None:
                check, self._check = self._check, None
                self.kind.confirm(check, page)
            if self.byte_budget is not None:
                self.byte_budget.spend(sum(len(p.body) for p in page.parts) or len(page.body))
            room = self._room()
            try:
                step = self.kind.step(self.position, page, room)
            except StopChain:
                self.caught_up = True
                return
            stop, keep = step.stop, step.keep
            if self.expected is not None:  # kinds that take whole pages ignore `room`
                left = self.expected - self.records
                stop = min(stop, step.first + left)
                keep = None if keep is None else keep[:left]
            taken = len(keep) if keep is not None else stop - step.first
            if taken > 0:
                self.records += taken
                yield WalkedPage(page, step.first, stop, keep)
            self.position = step.next
            self._check = step.check
            if step.caught_up:
                self.caught_up = True
                self._replayed()
                return

    @property
    def latest(self) -> Position:
        """The newest position the walk found: where it stopped."""
        return self.position

    def _room(self) -> int | None:
        """Most records the next page may give: the record budget, the replay's count, or
        what is left before `end` when `end` lies in this page."""
        limits = []
        if self.max_records is not None:
            limits.append(self.max_records - self.records)
        if self.expected is not None:
            limits.append(self.expected - self.records)
        if self.end is not None:
            until = self.kind.records_until(self.position, self.end)
            if until is not None:
                limits.append(until)
        return min(limits) if limits else None

    def _replayed(self) -> bool:
        """A replay that took its count stands at the logged end."""
        if self.end is None or self.expected is None or self.records < self.expected:
            return False
        self.position = self.end
        return True

    def _done(self) -> bool:
        if self._replayed():
            return True
        if self.end is not None and self.kind.reached(self.position, self.end):
            return True
        if self.max_records is not None and self.records >= self.max_records:
            return True
        if self.byte_budget is not None and self.byte_budget.exhausted:
            return True
        return self.max_pages is not None and self.pages >= self.max_pages


@dataclass
class DescendingWalk:
    """A poll of a newest-first list (`NewestFirstOffset`), with `Walk`'s interface: iterate
    it for the pages that hold the records above `position`, oldest first (each page
    reversed), then read `position` (the newest record delivered) and `caught_up`.

    The whole walk down happens at the first iteration: the oldest records come last. With
    `max_records`, only the oldest that many are delivered. A replay (`end` given) takes the
    records above `position` up to and including `end`'s, and `expected` is only checked by
    the caller. `max_pages` bounds the walk down (None: to the position or the list's end)."""

    kind: NewestFirstOffset
    fetcher: Any
    row: Mapping[str, Any]
    position: Position
    end: Position | None = None
    max_records: int | None = None
    max_pages: int | None = None
    keep_body: bool = False
    byte_budget: Any = None
    expected: int | None = None
    caught_up: bool = False
    records: int = 0
    pages: int = 0
    #: The newest record listed (beyond what `max_records` let in), once walked.
    found: Position | None = None

    @property
    def latest(self) -> Position:
        """The newest position the walk found: the newest record listed."""
        return self.position if self.found is None else self.found

    def __iter__(self) -> Iterator[WalkedPage]:
        if self.byte_budget is not None and self.byte_budget.exhausted:
            return  # another stream spent this batch's bytes: this one waits for the next
        through = None if self.end is None else self.end.get("newest")
        descent = self.kind.descend(
            self.fetcher,
            self.row,
            self.position,
            max_pages=self.max_pages,
            through=through,
            keep_body=self.keep_body,
        )
        self.pages = descent.pages
        if self.byte_budget is not None:
            self.byte_budget.spend(descent.size)
        count = len(descent.ids)
        if count:
            self.found = {"newest": descent.ids[-1]}
        if self.max_records is not None and self.end is None:
            count = min(count, max(self.max_records, 1))
        self.caught_up = count == len(descent.ids)
        if count:
            self.records = count
            self.position = {"newest": descent.ids[count - 1]}
            if self.end is not None:  # the logged end, found (else `descend` failed)
                self.position = self.end
        for page, first, stop in descent.first(count):
            yield WalkedPage(page, first, stop)


def walk_of(
    kind: OffsetKind,
    fetcher: Any,
    row: Mapping[str, Any],
    position: Position,
    **bounds: Any,
) -> Walk | DescendingWalk:
    """The walk that reads `kind` from `position`: down from the top for a newest-first list,
    else along the chain (`bounds`: `Walk`'s keyword fields)."""
    if isinstance(kind, NewestFirstOffset):
        return DescendingWalk(kind, fetcher, row, position, **bounds)
    return Walk(kind, fetcher, row, position, **bounds)
