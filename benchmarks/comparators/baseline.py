"""The seed-style baseline: a `SimpleDataSourceStreamReader` that pages on the driver.

This is how a first REST source is usually written: the driver fetches every page one after
the other with one reused `httpx.Client`, parses each body with `json` and returns tuples.
Spark then converts and ships the rows from the driver; there is no partitioning and no
concurrency. Registered as format `bench_seed`; options `url` (the API's base URL),
`pageSize`, `offsetKind` (a kind of `benchmarks.harness.kinds`) and `shape` (the records'
shape, `benchmarks.harness.config.SHAPES`; its schema is the source's).

With `timestamp` the offset is `{"since": T}` (`initialOffset`, default
`benchmarks.harness.server.TIMESTAMP_BASE`) and the reader walks `/events?since=T` page by page, the
next `since` being the largest `ts` of the page, as a seed reader would: right for the demo,
whose timestamps are unique, but it would skip records that share a page's last timestamp.
With a chain kind (`cursor`, `link`) the offset is `{"url": u, "skip": n}`, the page to read
next and how many of its records were read, and the reader follows the kind's next address
(`next_cursor`, `next_url`) until a short page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from pyspark.sql.datasource import DataSource, SimpleDataSourceStreamReader
from pyspark.sql.types import StructType

from benchmarks.harness.config import SCHEMA, SCHEMAS, SHAPES
from benchmarks.harness.kinds import TIMESTAMP_BASE, kind, page_address

Row = tuple[Any, ...]


def to_row(record: dict[str, Any], schema: StructType = SCHEMA) -> Row:
    """One API record as a tuple in `schema` order (a missing field is None; a nested
    object a tuple of its fields)."""
    return tuple(_value(record.get(f.name), f.dataType) for f in schema.fields)


def _value(value: Any, data_type: Any) -> Any:
    if value is None or not isinstance(data_type, StructType):
        return value
    return tuple(_value(value.get(f.name), f.dataType) for f in data_type.fields)


class SeedStreamReader(SimpleDataSourceStreamReader):
    """Reads pages sequentially from `position` (records read so far) until a short page."""

    def __init__(self, options: dict[str, str]) -> None:
        """`options` with lower-cased keys."""
        self.base = options["url"].rstrip("/")
        self.page_size = int(options.get("pagesize", "500"))
        self.kind = options.get("offsetkind", "page")
        self.initial_since = int(options.get("initialoffset", str(TIMESTAMP_BASE)))
        self.schema = SCHEMAS[options.get("shape", SHAPES[0])]
        self._client: httpx.Client | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}

    def initialOffset(self) -> dict[str, Any]:
        """Nothing read yet."""
        if self.kind == "timestamp":
            return {"since": self.initial_since}
        first_url = kind(self.kind).first_url
        if first_url is not None:
            return {"url": first_url(self.base, self.page_size)}
        return {"position": 0}

    def read(self, start: dict[str, Any]) -> tuple[Iterator[Row], dict[str, Any]]:
        """Every record from `start` to the current end, and the offset after them."""
        if self.kind == "timestamp":
            rows, since = self._since_rows(start["since"], None)
            return iter(rows), {"since": since}
        if "url" in start:
            rows, following = self._chain_rows(start, None)
            return iter(rows), following
        rows, position = self._rows(start["position"], None)
        return iter(rows), {"position": position}

    def readBetweenOffsets(self, start: dict[str, Any], end: dict[str, Any]) -> Iterator[Row]:
        """The records of `[start, end)` (`(start, end]` of timestamps) again (replay after a
        restart)."""
        if self.kind == "timestamp":
            return iter(self._since_rows(start["since"], end["since"])[0])
        if "url" in start:
            return iter(self._chain_rows(start, end)[0])
        rows, _ = self._rows(start["position"], end["position"])
        return iter(rows)

    def commit(self, end: dict[str, Any]) -> None:
        """Nothing to clean up."""

    def _rows(self, position: int, end: int | None) -> tuple[list[Row], int]:
        rows: list[Row] = []
        while end is None or position < end:
            url, skip = page_address(self.base, self.kind, self.page_size, position)
            records = self._get(url)
            fresh = records[skip:] if end is None else records[skip : skip + end - position]
            rows.extend(to_row(r, self.schema) for r in fresh)
            position += len(fresh)
            if len(records) < self.page_size:
                break
        return rows, position

    def _since_rows(self, since: int, end: int | None) -> tuple[list[Row], int]:
        """Records with `since < ts` (`<= end`), walking `since` from page to page."""
        rows: list[Row] = []
        while end is None or since < end:
            url = f"{self.base}/events?limit={self.page_size}&since={since}"
            records = self._get(url)
            fresh = records if end is None else [r for r in records if r["ts"] <= end]
            if not fresh:
                break
            rows.extend(to_row(r, self.schema) for r in fresh)
            since = max(r["ts"] for r in fresh)
            if len(records) < self.page_size:
                break
        return rows, since

    def _chain_rows(
        self, start: dict[str, Any], end: dict[str, Any] | None
    ) -> tuple[list[Row], dict[str, Any]]:
        """Records of the chain from `start` (`{"url", "skip"}`: a page and how many of its
        records were read) to `end`, following the kind's next address (`next_cursor`,
        `next_url`). A short page is the end for now: the offset stays on it, past what it held."""
        next_url = kind(self.kind).next_url
        assert next_url is not None
        url, skip = start["url"], start.get("skip", 0)
        rows: list[Row] = []
        while True:
            body = self._body(url)
            records = body["data"]
            last = end is not None and url == end["url"]
            taken = records[skip : end.get("skip", 0) if end is not None and last else None]
            rows.extend(to_row(r, self.schema) for r in taken)
            if last:
                return rows, dict(end or {})
            following = next_url(self.base, self.page_size, body)
            if len(records) < self.page_size or following is None:
                return rows, {"url": url, "skip": skip + len(taken)}
            url, skip = following, 0

    def _get(self, url: str) -> list[dict[str, Any]]:
        return self._body(url)["data"]

    def _body(self, url: str) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx.Client(timeout=60.0)
        response = self._client.get(url)
        response.raise_for_status()
        return json.loads(response.content)


class SeedDataSource(DataSource):
    """Format `bench_seed`: the seed-style stream source (no `streamReader`, only simple)."""

    @classmethod
    def name(cls) -> str:
        """The format name."""
        return "bench_seed"

    def schema(self) -> StructType:
        """The schema of the records' shape (option `shape`)."""
        return SCHEMAS[self.options.get("shape", SHAPES[0])]

    def simpleStreamReader(self, schema: StructType) -> SimpleDataSourceStreamReader:
        """The driver-side reader."""
        return SeedStreamReader({k.lower(): v for k, v in self.options.items()})
