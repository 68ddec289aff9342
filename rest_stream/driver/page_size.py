"""Whether an API serves `pageSize` records per page, for `page`/`offset` end searches.

Without a probe, the search takes a page shorter than `pageSize` as the last one. Against an
API that caps its pages below `pageSize`, that page is short for good and the stream would
stop there, silently. So each new short last page of a stream is checked once: what follows
it (the next page, or the next offset) must be empty.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from rest_stream.errors import RestHTTPError, RestOffsetError
from rest_stream.positions import RecordCountKind

log = logging.getLogger("rest_stream.driver.page_size")
_FULL = "full"


class PageSizeCheck:
    """What a reader has learned per stream: a full page seen (the API honours `pageSize`,
    never checked again), or the short last page `(index, records)` already shown to end it.

    Thread-safe for the driver's pool: each stream's entry is touched by one thread.
    """

    def __init__(self) -> None:
        self._seen: dict[str, Any] = {}

    def saw_full_page(self, stream: str) -> None:
        """A page of `pageSize` records: the API serves whole pages."""
        self._seen[stream] = _FULL

    def check(
        self,
        fetch: Callable[[Any], Any],
        kind: RecordCountKind,
        stream: str,
        row: Mapping[str, Any],
        index: int,
        page: Any,
    ) -> None:
        """Raise `RestOffsetError` when the short `index`-th `page` is not the end: what
        follows it has other records, and the page is still as short when asked again, twice
        in a row. Records that arrive meanwhile, an API that answers past its end with its
        last page again or with 404, are not mistaken for a cap."""
        count = len(page.records)
        if self._seen.get(stream) in (_FULL, (index, count)):
            return
        for _ in range(2):  # a cap shows every time; a stale replica rarely twice
            after = _after(fetch, kind.request_after_short_page(row, index, count))
            if after is None or not after.records or _records(after) == _records(page):
                self._seen[stream] = (index, count)
                return
            if len(fetch(kind.index_request(row, index)).records) != count:
                return  # records arrived meanwhile: the end found is still an end
        raise RestOffsetError(
            f"{page.source} returned {count} records, fewer than pageSize={kind.page_size}, "
            f"yet {after.source} returns more: the API serves fewer records per page than "
            "pageSize, and the stream would stop here. Set pageSize to the most records the "
            "API returns in one page (or, if the API answers past its end with its last page "
            "again, set latestOffsetUrl so that the end comes from a probe)"
        )

    def known(self, stream: str) -> Any:
        """What is known of `stream` (for tests and logs)."""
        return self._seen.get(stream)


def _after(fetch: Callable[[Any], Any], spec: Any) -> Any:
    """The page after a short one; None when the API answers 404 past its end."""
    try:
        return fetch(spec)
    except RestHTTPError as error:
        if error.status == 404:
            return None
        raise


def _records(page: Any) -> str:
    """A page's records as canonical JSON, to tell two pages apart."""
    return json.dumps(list(page.records), sort_keys=True, default=str)
