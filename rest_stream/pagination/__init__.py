"""Pagination: how one request's result set is walked, page by page, within a poll.

The position (`offsetType`, `rest_stream.positions`) says where a stream stands in Spark's
checkpoint; pagination (`pagination`) says how the pages of one answer are reached from its
first page. They combine: a `timestamp` position with `Link` pages (GitHub), with
`nextRecordsUrl` pages ending on `done` (Salesforce).

- `none`: one page per request.
- `link`: the next page is the `Link: <url>; rel="next"` header's; none ends the pages.
- `nextUrl`: a URL in the body at `nextPagePath`; none there ends the pages.
- `cursor`: a token at `nextPagePath` (or `nextPageHeader`), sent back as `nextPageParam`.
- `page`: page numbers in `nextPageParam` from `firstPage`; an empty or short page ends.
- `offset`: records to skip in `nextPageParam`; an empty or short page ends.

Stop conditions (`rest_stream.pagination.stops`) end a result set whatever the next page
says: `hasMorePath` false, `donePath` true, an empty page, a page shorter than `pageSize`.
"""

from rest_stream.pagination.base import Paginator, ResultSet, paginator_for
from rest_stream.pagination.stops import StopCondition, stop_conditions

__all__ = ["Paginator", "ResultSet", "StopCondition", "paginator_for", "stop_conditions"]
