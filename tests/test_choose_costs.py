"""docs/choose.md's table of end-search costs is what `rest_stream/driver/ends.py` does: the
requests an `incremental` or `page` stream without a probe sends to find its end, against an
API of 100 records a page, for each `requestConcurrency` the table shows."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rest_stream.driver.ends import EndFinder
from rest_stream.driver.page_size import PageSizeCheck
from rest_stream.options.parse import parse_options
from rest_stream.positions import offset_kind
from tests.test_docs_examples import ROOT

PAGE = ROOT / "docs" / "choose.md"
PER_PAGE = 100
#: The rows of the table: what is new since the last poll, in records.
NEW = {
    "nothing": 0,
    "up to one page": PER_PAGE,
    "1,000 records": 1_000,
    "10,000 records": 10_000,
    "100,000 records": 100_000,
    "1,000,000 records": 1_000_000,
}


def table() -> tuple[list[str], dict[str, list[int]]]:
    """The header cells and the rows of the end-search table."""
    text = PAGE.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.startswith("| new since the last poll")]
    assert len(lines) == 1
    start = text.splitlines().index(lines[0])
    header = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    rows = {}
    for line in text.splitlines()[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = [int(c.replace(",", "")) for c in cells[1:]]
    return header, rows


class Api:
    """An API of `total` records with ids 1..total, 100 a page, by id or by page number."""

    def __init__(self, kind: str, total: int) -> None:
        self.kind, self.total = kind, total

    def page(self, spec: Any) -> Any:
        query = parse_qs(urlsplit(spec.url).query)
        if self.kind == "page":
            first = (int(query["page"][0]) - 1) * PER_PAGE
        else:
            first = max(int(query["since_id"][0]), 1) - 1
        ids = range(first + 1, min(first + PER_PAGE, self.total) + 1)
        records = [{"id": i} for i in ids]
        return SimpleNamespace(records=records, document={"data": records}, source=spec.url)

    def fetch(self, spec: Any) -> Any:
        return self.page(spec)

    def fetch_ordered(self, specs: Any) -> list[Any]:
        return [self.page(spec) for spec in specs]


def requests_to_find_the_end(kind: str, width: int, new: int) -> int:
    read = 1_050  # 10 full pages and half of the 11th read so far
    if kind == "page":
        options = {"url": "https://x.test/i?page={page}", "offsetField": "page"}
        options["pageSize"] = str(PER_PAGE)
    else:
        options = {"url": "https://x.test/i?since_id={since_id}", "offsetField": "since_id"}
    options.update(offsetType=kind, requestConcurrency=str(width))
    checked = PageSizeCheck()
    checked.saw_full_page("{}")  # a stream past its first poll: the page size is known
    finder = EndFinder(offset_kind(parse_options(options)), Api(kind, read + new), checked)
    start = read if kind == "page" else read + 1
    end = finder.end({}, start)
    assert end == (read + new if kind == "page" else read + new + 1)
    return finder.requests


def cases() -> list[tuple[str, str, int, int]]:
    header, rows = table()
    found = []
    for column, title in enumerate(header):
        match = re.fullmatch(r"`(\w+)`, \*w\* = (\d+)(?: \(default\))?", title)
        assert match, title
        for row, counts in rows.items():
            found.append((match.group(1), row, int(match.group(2)), counts[column]))
    return found


def test_the_table_has_every_row() -> None:
    assert list(table()[1]) == list(NEW)


@pytest.mark.parametrize("kind, row, width, shown", cases())
def test_end_search_costs_what_the_page_says(kind: str, row: str, width: int, shown: int) -> None:
    assert requests_to_find_the_end(kind, width, NEW[row]) == shown
