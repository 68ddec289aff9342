"""The input partitions: picklable plans that executors read, with no secrets in their repr."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql.datasource import InputPartition


@dataclass(frozen=True)
class RowsPartition(InputPartition):
    """Batch without offsets: one request per input row."""

    rows: tuple[dict[str, Any], ...]
    rate_limit: float | None = None

    def __repr__(self) -> str:
        return f"RowsPartition(rows={len(self.rows)})"


@dataclass(frozen=True)
class RangePartition(InputPartition):
    """A sub-range `[start, end)` of one stream, read by paging inside it."""

    stream: str
    row: dict[str, Any]
    start: Any
    end: Any
    rate_limit: float | None = None

    def __repr__(self) -> str:
        return f"RangePartition(stream={self.stream!r}, start={self.start!r}, end={self.end!r})"


@dataclass(frozen=True)
class CarriedPage:
    """A page the driver fetched while walking a chain: its body and the records to emit."""

    body: bytes
    url: str
    status: int
    first: int
    stop: int


@dataclass(frozen=True)
class PagesPartition(InputPartition):
    """Pages of one stream that the driver already fetched: executors parse and convert them."""

    stream: str
    row: dict[str, Any]
    pages: tuple[CarriedPage, ...]
    rate_limit: float | None = None

    def __repr__(self) -> str:
        size = sum(len(p.body) for p in self.pages)
        return f"PagesPartition(stream={self.stream!r}, pages={len(self.pages)}, bytes={size})"


@dataclass(frozen=True)
class ChainPartition(InputPartition):
    """Batch with a chain offset kind: walk one stream from `start` to its current end."""

    stream: str
    row: dict[str, Any]
    start: Any
    rate_limit: float | None = None

    def __repr__(self) -> str:
        return f"ChainPartition(stream={self.stream!r}, start={self.start!r})"
