"""The input partitions: picklable plans that executors read, with no secrets in their repr.

A stream micro-batch (and a batch read with a range kind) is a list of `WorkPartition`s, each
holding work units of one or more streams: a sub-range to read (`RangeUnit`) or pages the
driver already walked (`PagesUnit`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql.datasource import InputPartition


@dataclass(frozen=True)
class RowsPartition(InputPartition):
    """Batch without offsets: one request per input row."""

    rows: tuple[Mapping[str, Any], ...]
    rate_limit: float | None = None

    def __repr__(self) -> str:
        return f"RowsPartition(rows={len(self.rows)})"


@dataclass(frozen=True)
class CarriedPage:
    """A page the driver fetched while walking a chain: its body and the records to emit,
    `[first, stop)` of its records (of them in reverse order, oldest first, when `reverse`:
    a newest-first page) or, with `keep`, those at its indices (a `timestamp` walk's
    records)."""

    body: bytes
    url: str
    status: int
    first: int
    stop: int
    reverse: bool = False
    keep: tuple[int, ...] | None = None

    @property
    def count(self) -> int:
        """The records it emits."""
        return len(self.keep) if self.keep is not None else self.stop - self.first


@dataclass(frozen=True)
class RangeUnit:
    """A sub-range `[start, end)` of one stream, read by paging inside it; `keep`, when set,
    picks the records it delivers (`positions.lookback.Dedup`)."""

    stream: str
    row: dict[str, Any]
    start: Any
    end: Any
    weight: float = 1.0
    keep: Any = None

    def __repr__(self) -> str:
        kept = "" if self.keep is None else f", keep={self.keep!r}"
        return f"RangeUnit(stream={self.stream!r}, start={self.start!r}, end={self.end!r}{kept})"


@dataclass(frozen=True)
class PagesUnit:
    """Pages of one stream the driver already fetched: executors parse and convert them."""

    stream: str
    row: dict[str, Any]
    pages: tuple[CarriedPage, ...]

    @property
    def weight(self) -> float:
        """The records the pages hold for the batch."""
        return float(sum(p.count for p in self.pages))

    def __repr__(self) -> str:
        size = sum(len(p.body) for p in self.pages)
        return f"PagesUnit(stream={self.stream!r}, pages={len(self.pages)}, bytes={size})"


Unit = RangeUnit | PagesUnit


@dataclass(frozen=True)
class WorkPartition(InputPartition):
    """One Spark task's share of a batch: units of one or several streams, read with up to
    `requestConcurrency` units at once."""

    units: tuple[Unit, ...]
    rate_limit: float | None = None

    def __repr__(self) -> str:
        streams = len({u.stream for u in self.units})
        return f"WorkPartition(units={len(self.units)}, streams={streams})"


@dataclass(frozen=True)
class ChainPartition(InputPartition):
    """Batch with a chain offset kind: walk one stream from `start` to its current end."""

    stream: str
    row: dict[str, Any]
    start: Any
    rate_limit: float | None = None

    def __repr__(self) -> str:
        return f"ChainPartition(stream={self.stream!r}, start={self.start!r})"
