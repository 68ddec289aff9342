"""The logical streams of a read: literal `inputData` rows, or rows from a parent endpoint
(`inputDataUrl` at `inputDataPath`), each named by its `streamKey` fields."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from rest_stream.decoders.jsonpath import compile_path
from rest_stream.driver.planner import stream_rows
from rest_stream.errors import RestResponseError
from rest_stream.http.pages import page_records
from rest_stream.http.request import RequestSpec
from rest_stream.options.parse import RestOptions
from rest_stream.pagination import ResultSet

log = logging.getLogger("rest_stream.driver.stream_list")


def parent_rows(options: RestOptions, fetcher: Any) -> list[dict[str, Any]]:
    """The rows the parent endpoint lists now: a GET of `inputDataUrl` (with the read's
    auth, headers and retries) and of each next page (`pagination`), the objects at
    `inputDataPath` (default: the response when it is an array, else its first top-level
    array)."""
    assert options.input_data_url is not None
    url = options.input_data_url
    option = "inputDataPath"
    path = compile_path(options.input_data_path, option) if options.input_data_path else None
    answers = ResultSet(options)

    def build(values: Mapping[str, Any], next_url: str | None) -> RequestSpec:
        params = tuple((k, str(v)) for k, v in values.items() if v != "")
        return RequestSpec(
            "GET", next_url or url, params=() if next_url else params, as_json=True
        )

    def fetch(spec: RequestSpec) -> Any:  # the parent's rows are the records of its pages
        page = fetcher.fetch(spec, decode=False, records=False)
        found = page_records(page.document, path, page.source, page.status, options, option=option)
        return dataclasses.replace(page, records=found)

    rows: list[Any] = []
    for page, _ in answers.pages(fetch, build):
        rows.extend(page.records)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise RestResponseError(
                url,
                200,
                f"has a non-object row {index} at inputDataPath="
                f"{options.input_data_path or '(default)'}: {str(row)[:80]!r}",
                str(row)[:200],
            )
    return [dict(r) for r in rows]


class StreamList:
    """Stream key → input row. A parent endpoint is read again at most every
    `streamingInterval` seconds (`refresh_every`); literal rows never change."""

    def __init__(self, options: RestOptions, refresh_every: float | None = None) -> None:
        self.options = options
        self.refresh_every = refresh_every
        self.fields = options.stream_key
        self._rows: dict[str, dict[str, Any]] | None = None
        self._read_at: float | None = None
        self._lock = threading.Lock()
        if options.input_data_url is None:
            self._rows = stream_rows(options.input_data, self.fields)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the rows were read (literal rows always are)."""
        return self._rows is not None

    @property
    def from_parent(self) -> bool:
        """Whether the rows come from `inputDataUrl`."""
        return self.options.input_data_url is not None

    def current(self, fetcher: Any) -> dict[str, dict[str, Any]]:
        """The streams now (the parent endpoint is read when due)."""
        with self._lock:
            if self.from_parent and self._due():
                rows = parent_rows(self.options, fetcher)
                self._rows = stream_rows(rows, self.fields) if rows else {}
                self._read_at = time.monotonic()
                log.info("inputDataUrl lists %d streams", len(self._rows))
            assert self._rows is not None
            return self._rows

    def _due(self) -> bool:
        if self._read_at is None or self._rows is None:
            return True
        if self.refresh_every is None:
            return False
        return time.monotonic() - self._read_at >= self.refresh_every

    def row(self, key: str) -> dict[str, Any]:
        """The row of a stream; a stream logged in the checkpoint but no longer listed is
        still replayed from its key (its row, or its `streamKey` fields)."""
        rows = self._rows or {}
        row = rows.get(key)
        return row if row is not None else json.loads(key)
