"""The pagination styles (dlt's paginator shape: the first request's values, then the next
request from each response) and `ResultSet`, which walks one answer's pages."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from rest_stream.decoders.jsonpath import CompiledPath, compile_path
from rest_stream.errors import RestResponseError
from rest_stream.http.pages import Page
from rest_stream.http.ratelimit import origin_of
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import RestOptions
from rest_stream.pagination.links import link_header_next, stored_url
from rest_stream.pagination.stops import (
    EmptyPage,
    ShortPage,
    StopCondition,
    explicit_end,
    stop_conditions,
)


@dataclass(frozen=True)
class Next:
    """Where the next page is: a whole URL, or values for the request's placeholders and
    parameters (`{"after": "c2"}`)."""

    url: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


#: Builds the request of a page from extra values or a next URL (the position and the input
#: row are already in it).
Build = Callable[[Mapping[str, Any], "str | None"], RequestSpec]


class Paginator:
    """One pagination style: the values of the first request, and the next page from a
    response (None when the response names none)."""

    name: ClassVar[str] = "none"
    #: The next page is read from the body (so pages need their parsed document).
    needs_body: ClassVar[bool] = False

    def __init__(self, options: RestOptions) -> None:
        self.options = options
        self.settings = options.pagination

    def first(self) -> Mapping[str, Any]:
        """Values the first request carries (`{"page": 1}`), beside the position."""
        return {}

    def next(self, page: Any, values: Mapping[str, Any], records: int) -> Next | None:
        """The next page after `page`, requested with `values`, after `records` records."""
        return None

    def _path(self) -> CompiledPath:
        assert self.settings.next_page_path is not None
        return compile_path(self.settings.next_page_path, "nextPagePath")


class NoPagination(Paginator):
    """One page per request."""


class LinkHeaderPages(Paginator):
    """The `Link: <url>; rel="next"` header (GitHub, GitLab, Okta)."""

    name = "link"

    def next(self, page: Any, values: Mapping[str, Any], records: int) -> Next | None:
        target = link_header_next(page.headers.get("link", ""))
        return None if target is None else Next(url=stored_url(page, target, self.options))


class NextUrlPages(Paginator):
    """A next URL in the body at `nextPagePath`, relative or absolute (Salesforce
    `$.nextRecordsUrl`, OData `$."@odata.nextLink"`, HAL `$._links.next.href`)."""

    name = "nextUrl"
    needs_body = True

    def next(self, page: Any, values: Mapping[str, Any], records: int) -> Next | None:
        value = self._path().value(page.document)
        if value in ("", None):
            return None
        if not isinstance(value, str):
            raise RestResponseError(
                page.source,
                page.status,
                f"has {value!r} at nextPagePath={self.settings.next_page_path}, not a URL",
                str(page.document)[:200],
            )
        return Next(url=stored_url(page, value, self.options))


class CursorPages(Paginator):
    """A token at `nextPagePath` in the body (or in the `nextPageHeader` header), sent back as
    `nextPageParam`: a `{placeholder}` of `url` or `bodyTemplate`, else a query parameter
    (GET) or a body field. The first request sends it empty (`null` in a body template)."""

    name = "cursor"

    def __init__(self, options: RestOptions) -> None:
        super().__init__(options)
        self.needs_body = options.pagination.next_page_header is None  # type: ignore[misc]

    def first(self) -> Mapping[str, Any]:
        return {self.settings.next_page_param: ""}

    def next(self, page: Any, values: Mapping[str, Any], records: int) -> Next | None:
        header = self.settings.next_page_header
        token = page.headers.get(header.lower()) if header else self._path().value(page.document)
        if token in ("", None):
            return None
        return Next(values={self.settings.next_page_param: token})


class PageNumberPages(Paginator):
    """Page numbers in `nextPageParam`, from `firstPage`, up by one per page."""

    name = "page"

    def first(self) -> Mapping[str, Any]:
        return {self.settings.next_page_param: self.settings.first_page}

    def next(self, page: Any, values: Mapping[str, Any], records: int) -> Next | None:
        number = int(values[self.settings.next_page_param]) + 1
        return Next(values={self.settings.next_page_param: number})


class OffsetPages(Paginator):
    """Records to skip in `nextPageParam` (offset/limit), up by each page's records."""

    name = "offset"

    def first(self) -> Mapping[str, Any]:
        return {self.settings.next_page_param: 0}

    def next(self, page: Any, values: Mapping[str, Any], records: int) -> Next | None:
        return Next(values={self.settings.next_page_param: records})


_STYLES: dict[str, type[Paginator]] = {
    cls.name: cls
    for cls in (NoPagination, LinkHeaderPages, NextUrlPages, CursorPages, PageNumberPages)
}
_STYLES["offset"] = OffsetPages


def paginator_for(options: RestOptions) -> Paginator:
    """The paginator `pagination` names."""
    return _STYLES[options.pagination.style](options)


@dataclass
class ResultSet:
    """The pages of one answer: its first request, then each next page until the paginator
    names none or a stop condition ends it.

    `merged` reads them into one page whose `parts` are the pages and whose `more` says the
    result set was cut at `max_pages` (more pages follow)."""

    options: RestOptions
    max_pages: int | None = None
    paginator: Paginator = field(init=False)
    stops: tuple[StopCondition, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.paginator = paginator_for(self.options)
        stops = list(stop_conditions(self.options))
        size = self.options.pagination.page_size
        if self.paginator.name in ("page", "offset"):
            stops.append(EmptyPage())
            if size:
                stops.append(ShortPage(size))
        self.stops = tuple(stops)

    @property
    def paginated(self) -> bool:
        """Whether an answer can span several pages."""
        return self.paginator.name != "none"

    def first_values(self) -> Mapping[str, Any]:
        return self.paginator.first()

    def pages(
        self, fetch: Callable[[RequestSpec], Any], build: Build
    ) -> Iterator[tuple[Any, bool]]:
        """Each page with whether another follows it (fetched only when iterated on)."""
        values = dict(self.paginator.first())
        spec = build(values, None)
        home = origin_of(spec.url)
        seen: set[str] = set()
        records, count = 0, 0
        while True:
            key = json.dumps([spec.url, spec.params, spec.json_body], sort_keys=True, default=str)
            if key in seen:
                raise RestResponseError(
                    spec.url if count == 0 else self.options.redact(spec.url),
                    200,
                    "names a next page it named before: the pages would loop (check "
                    "nextPagePath / nextPageParam, or set hasMorePath or donePath)",
                    "",
                )
            seen.add(key)
            page = fetch(spec)
            count += 1
            records += len(page.records)
            following = None
            if not any(stop.ends(page) for stop in self.stops):
                following = self.paginator.next(page, values, records)
                if following is None and self.paginated and explicit_end(self.options):
                    raise RestResponseError(
                        page.source,
                        page.status,
                        f"says more pages follow, but names no next page at {self._next_at()}",
                        str(page.document)[:200],
                    )
            if following is None:
                yield page, False
                return
            if self.max_pages is not None and count >= self.max_pages:
                yield page, True
                return
            yield page, True
            if following.url is not None:
                spec = build({}, following.url)
                if origin_of(spec.url) != home:
                    spec = replace(spec, credentials=False)
            else:
                values.update(following.values)
                spec = build(values, None)

    def _next_at(self) -> str:
        settings = self.options.pagination
        if settings.next_page_header:
            return f"nextPageHeader={settings.next_page_header}"
        if settings.next_page_path:
            return f"nextPagePath={settings.next_page_path}"
        return "the Link header"

    def fetch(
        self,
        fetcher: Any,
        build: Build,
        *,
        keep_body: bool = False,
        enough: Callable[[Page], bool] | None = None,
    ) -> Page:
        """The whole answer as one page (`parts`: its pages; `more`: cut at `max_pages`, or
        where `enough(page)` says the pages read so far are enough, e.g. past a range's end)."""
        if not self.paginated:
            return fetcher.fetch(build({}, None), keep_body=keep_body)

        def fetch_one(spec: RequestSpec) -> Page:
            return fetcher.fetch(spec, keep_body=keep_body, decode=False)

        parts: list[Page] = []
        more = False
        for page, more in self.pages(fetch_one, build):
            parts.append(page)
            if more and enough is not None and enough(page):
                break
        return merge_pages(parts, more)


def merge_pages(parts: list[Page], more: bool) -> Page:
    """One page holding the records of `parts` in order (the last part's document and
    headers: they name what follows)."""
    if len(parts) == 1 and not more:
        return parts[0]
    records: list[Any] = []
    for part in parts:
        records.extend(part.records)
    first, last = parts[0], parts[-1]
    return Page(
        records,
        last.document,
        last.headers,
        first.url,
        last.status,
        b"",
        first.request_url,
        parts=tuple(parts),
        more=more,
    )
