"""Chain kinds whose next position is an opaque value: `cursor`, and `link` from the `Link`
header or from the body.

Position: `{"cursor": c, "skip": k}`: the page at `c`, whose first k records were read.
A page that grows later is read again from record k; a next cursor that appears later on a
page read to its end is followed.

With `recordOrder=descending` (a newest-first list whose cursor chain goes towards newer
records, Stripe's `ending_before`) each page's records are read in reverse, oldest first: a
page then grows at its end, and `skip` and a replay's count keep their meaning.

Where the next position is in the body (`offsetPath`), a page says "no next page" with null
or an empty value there. A key that is absent is the end only once the chain has shown the
key (the page was reached through a next position named there): on a stream's first page it
is a wrong `offsetPath` as likely as the last page, and the read fails rather than stop
there silently. A stop condition (`hasMorePath`, `donePath`) decides wherever it is set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rest_stream.errors import RestOffsetError, RestOptionError
from rest_stream.http.pages import oldest_first
from rest_stream.http.ratelimit import origin_of
from rest_stream.http.request import RequestSpec
from rest_stream.http.template import build_request
from rest_stream.options.parse import RestOptions
from rest_stream.pagination.links import link_header_next, stored_url
from rest_stream.pagination.stops import stop_conditions
from rest_stream.positions.base import ChainKind, Fetcher, Position, Step, StopChain


class CursorOffset(ChainKind):
    """Opaque cursors: the next one from `offsetPath` in the body or the `offsetHeader`."""

    name = "cursor"

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        self.stops = stop_conditions(options)
        #: Pages list their records newest first: read them the other way round.
        self.newest_first = self.stream.record_order == "descending"

    def initial(self) -> dict[str, Any]:
        return {"cursor": self.stream.initial_offset, "skip": 0}

    def fetch_at(
        self,
        fetcher: Fetcher,
        row: Mapping[str, Any],
        position: Position,
        *,
        keep_body: bool = False,
        enough: Any = None,
    ) -> Any:
        page = super().fetch_at(fetcher, row, position, keep_body=keep_body, enough=enough)
        return oldest_first(page) if self.newest_first else page

    def offset_value(self, position: Mapping[str, Any]) -> Any:
        return position["cursor"]

    def records_until(self, position: Mapping[str, Any], end: Mapping[str, Any]) -> int | None:
        if position["cursor"] != end["cursor"]:
            return None
        return max(0, int(end.get("skip", 0)) - int(position.get("skip", 0)))

    def next_cursor(self, page: Any) -> Any:
        """The cursor after `page`, or None when the response names none."""
        if self.stream.offset_header:
            return page.headers.get(self.stream.offset_header.lower()) or None
        if self.offset_path is None:
            return None
        value = self.offset_path.value(page.document)
        return None if value in ("", None) else value

    def absent(self, page: Any) -> bool:
        """Whether the response leaves out the key of its next position altogether (`offsetPath`
        matches nothing), rather than naming none with null or an empty value. A header (the
        `Link` header of a `link` position without `offsetPath` too) is never "absent": it has
        no null, so leaving it out is how a last page says so."""
        if self.stream.offset_header or self.offset_path is None or page.document is None:
            return False
        return not self.offset_path.present(page.document)

    def following(self, page: Any, position: Mapping[str, Any] | None = None) -> Any:
        """The next cursor, unless a stop condition (`hasMorePath`, `donePath`) ends the pages
        here; a stop condition that says more follow while no next cursor is named fails.

        With `position` (a page whose new records were just taken), a key that is absent on
        the stream's first page fails (`onBadOffset=stop`: the chain ends there)."""
        if any(stop.ends(page) for stop in self.stops):
            return None
        found = self.next_cursor(page)
        if found is None and self.stops:
            where = self.stream.offset_header or self.stream.offset_path or "the Link header"
            raise RestOffsetError(
                f"{page.source} says more pages follow, but names no next page at {where}"
            )
        first = position is not None and position["cursor"] == self.initial()["cursor"]
        if found is None and first and self.absent(page):
            try:
                self.bad_offset(
                    f"{page.source} names no next page: offsetPath={self.stream.offset_path} "
                    "matches nothing on the stream's first page (the key is absent; an API "
                    "says there is no next page with null or an empty value there). Check "
                    "offsetPath. If the API leaves the key out when every record fits on one "
                    "page, set hasMorePath or donePath to the field that tells the last page"
                )
            except StopChain:
                return None
        return found

    def step(self, position: Mapping[str, Any], page: Any, budget: int | None) -> Step:
        cursor, skip = position["cursor"], int(position.get("skip", 0))
        count = len(page.records)
        if count <= skip:
            following = self.following(page)  # a page read before may now name a next one
            if count == skip and following is not None and following != cursor:
                return Step(count, count, {"cursor": following, "skip": 0}, False)
            return Step(0, 0, dict(position), True)
        take = count - skip if budget is None else min(count - skip, max(budget, 1))
        if skip + take < count:
            return Step(skip, skip + take, {"cursor": cursor, "skip": skip + take}, False)
        following = self.following(page, position)
        if following is None or following == cursor:
            return Step(skip, count, {"cursor": cursor, "skip": count}, True)
        return Step(skip, count, {"cursor": following, "skip": 0}, False)


class LinkOffset(CursorOffset):
    """Next-page URLs from the `Link: <...>; rel="next"` header. Relative URLs are resolved
    against the request; an `apiKeyParam` key never stays in a stored URL."""

    name = "link"

    def request(self, row: Mapping[str, Any], position: Position) -> RequestSpec:
        if not position["cursor"]:
            return build_request(self.options, row)
        spec = build_request(self.options, row, url=position["cursor"])
        if origin_of(spec.url) != self._home(row):  # followRedirects=all let it in
            return dataclasses.replace(spec, credentials=False)
        return spec

    def _home(self, row: Mapping[str, Any]) -> str | None:
        """The origin of the stream's first request; None when it cannot be known (a stream
        replayed from its key whose row lacks a placeholder of the host): no credential then."""
        try:
            return origin_of(build_request(self.options, row).url)
        except RestOptionError:
            netloc = urlsplit(self.options.url).netloc
            return None if "{" in netloc else origin_of(self.options.url)

    def next_cursor(self, page: Any) -> Any:
        target = link_header_next(page.headers.get("link", ""))
        return None if target is None else stored_url(page, target, self.options)


class BodyLinkOffset(LinkOffset):
    """Next-page URLs from the body at `offsetPath`: `$.next_url`, `$."@odata.nextLink"`,
    `$._links.next.href`, `$.links.next`, `$.nextRecordsUrl`."""

    def next_cursor(self, page: Any) -> Any:
        assert self.offset_path is not None
        value = self.offset_path.value(page.document)
        if value in ("", None):
            return None
        if not isinstance(value, str):
            raise RestOffsetError(
                f"{page.source}: offsetPath={self.offset_path.text} gives {value!r}, not a URL"
            )
        return stored_url(page, value, self.options)
