"""Newest-first lists read from the top down (`offsetType=cursor`, `recordOrder=descending`,
`recordOffsetPath`): Stripe's `starting_after`, `since_id` timelines, activity feeds.

Position: `{"newest": id}`: the id (at `recordOffsetPath`) of the newest record delivered, or
None before any. Ids are compared only for equality, so opaque strings work.

A poll reads the first page (the newest records; `offsetField`, when set, carries the position
to an API that filters by it, `since_id`-style), then pages down with `pagination` until a
page lists the position's record (it and everything below are left out) or the list ends.
What lies above the position is delivered oldest first; with a record budget, only the
oldest `budget` of it, and the position moves to the newest record delivered.

A batch `(start, end)` holds the records listed above `start`'s record up to and including
`end`'s: a replay walks down to `start` again and takes exactly those. Records listed since
are above `end`, so they are left for the next batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rest_stream.errors import RestOffsetError
from rest_stream.http.pages import Page, oldest_first
from rest_stream.http.request import RequestSpec
from rest_stream.http.template import build_request
from rest_stream.pagination import ResultSet
from rest_stream.positions.base import ChainKind, Fetcher, Position


def same_id(value: Any) -> str:
    """What two ids are compared by: strings as they are, other values as JSON (`7` and
    `"7"` are the same id: an `initialOffset` is text)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass
class Descent:
    """One walk down a newest-first list: the slices of its pages above the position, in
    delivery order (the oldest page first, each page reversed), and the ids of their records
    in the same order."""

    slices: list[tuple[Page, int, int]] = field(default_factory=list)
    ids: list[Any] = field(default_factory=list)
    pages: int = 0  # pages fetched
    size: int = 0  # bytes fetched

    def first(self, count: int) -> Iterator[tuple[Page, int, int]]:
        """The slices that hold the first (oldest) `count` records."""
        for page, first, stop in self.slices:
            if count <= 0:
                return
            stop = min(stop, first + count)
            count -= stop - first
            yield page, first, stop


class NewestFirstOffset(ChainKind):
    """A newest-first list walked from its top down to the newest record delivered."""

    name = "cursor"

    def initial(self) -> dict[str, Any]:
        return {"newest": self.stream.initial_offset or None}

    def offset_value(self, position: Mapping[str, Any]) -> Any:
        newest = position.get("newest")
        return "" if newest is None else newest

    def request(self, row: Mapping[str, Any], position: Position) -> RequestSpec:
        """The first (newest) page: the position goes only to an `offsetField`."""
        return build_request(self.options, row, self._at(position))

    def _at(self, position: Mapping[str, Any]) -> dict[str, Any]:
        return {self.field: self.offset_value(position)} if self.field else {}

    def ids(self, page: Page) -> list[Any]:
        """The id of each record of `page` (`recordOffsetPath`); a record without one fails."""
        ids = self._record_values(page)
        for index, value in enumerate(ids):
            if value is None or isinstance(value, (dict, list)):
                raise RestOffsetError(
                    f"Record {index} of {page.source} has no id at recordOffsetPath="
                    f"{self.stream.record_offset_path} (found {value!r}): a newest-first list "
                    "is read down to the newest record delivered, found by its id"
                )
        return ids

    def descend(
        self,
        fetcher: Fetcher,
        row: Mapping[str, Any],
        position: Mapping[str, Any],
        *,
        max_pages: int | None = None,
        through: Any = None,
        keep_body: bool = False,
    ) -> Descent:
        """Read from the newest page down to the position's record (left out) or the end of
        the list, at most `max_pages` pages. With `through` (a replay's logged end), records
        above that id are left out too, and it must be found."""
        newest = position.get("newest")
        stop_at = None if newest is None else same_id(newest)
        top = None if through is None else same_id(through)
        answers = ResultSet(self.options, max_pages=max_pages)
        at = self._at(position)

        def build(values: Mapping[str, Any], url: str | None) -> RequestSpec:
            return build_request(self.options, row, {**at, **values}, url=url)

        def fetch(spec: RequestSpec) -> Page:
            return fetcher.fetch(spec, keep_body=keep_body, decode=False)

        descent = Descent()
        walked: list[tuple[Page, list[Any], int, int]] = []  # newest first, body order
        seen: set[str] = set()
        found = cut = False
        for page, follows in answers.pages(fetch, build):
            descent.pages += 1
            descent.size += len(page.body)
            ids = self.ids(page)
            first = _repeated_prefix(ids, seen)  # page/offset pages shift as records arrive
            stop = len(ids)
            for index in range(first, len(ids)):
                key = same_id(ids[index])
                if key == stop_at:
                    stop, found = index, True
                    break
                if key in seen:
                    raise RestOffsetError(
                        f"{page.source} lists record {ids[index]!r} again in one walk down: "
                        "the list changed order while it was read (a newest-first list may "
                        "only gain records at the top)"
                    )
                seen.add(key)
                if key == top:  # a replay: what lies above its logged end is not its own
                    walked.clear()
                    first = index
            walked.append((page, ids, first, stop))
            cut = follows
            if found:
                break
        self._check_reached(row, position, found, cut, max_pages)
        if top is not None and top not in seen:
            raise RestOffsetError(
                f"Replaying from {json.dumps(dict(position))}: the logged end, record "
                f"{through!r}, is no longer listed above it: the API no longer serves the same "
                "records"
            )
        for page, ids, first, stop in reversed(walked):
            if stop > first:
                count = len(ids)
                descent.slices.append((oldest_first(page), count - stop, count - first))
                descent.ids.extend(reversed(ids[first:stop]))
        return descent

    def _check_reached(
        self,
        row: Mapping[str, Any],
        position: Mapping[str, Any],
        found: bool,
        cut: bool,
        max_pages: int | None,
    ) -> None:
        """A walk that neither found the position's record nor reached the end of the list
        (cut at `max_pages`), or reached the end without it, fails: delivering what it read
        would miss or repeat records."""
        newest = position.get("newest")
        if found:
            return
        where = self.options.redact(self.request(row, position).url)
        if cut:
            target = (
                "the end of the list (the first read of a stream reads all of it)"
                if newest is None
                else f"the newest record delivered, {newest!r},"
            )
            hint = " (or set initialOffset to the id of a record to start after)"
            raise RestOffsetError(
                f"Reading {where} from its newest page did not reach {target} within "
                f"maxPagesPerBatch={max_pages} pages: raise maxPagesPerBatch"
                + (hint if newest is None else "")
            )
        if newest is not None and not self.field:
            raise RestOffsetError(
                f"Reading {where} down to the newest record delivered, {newest!r}, reached the "
                "end of the list without it: it is no longer listed (deleted, or past the API's "
                "retention), so new records cannot be told from old ones. Start a new "
                "checkpoint with initialOffset set to the id of the newest record already "
                "delivered."
            )


def _repeated_prefix(ids: Sequence[Any], seen: set[str]) -> int:
    """How many leading records of a page the walk has already read: pages by number or
    offset shift down when records arrive at the top, repeating the end of the page before."""
    count = 0
    while count < len(ids) and same_id(ids[count]) in seen:
        count += 1
    return count
