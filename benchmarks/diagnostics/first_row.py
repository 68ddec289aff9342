"""`bench_first_row`: a sink that notes when the first row of a write reaches it.

Its Arrow writers (`DataSourceArrowWriter` for `df.write`, `DataSourceStreamArrowWriter` for
`writeStream`) take each task's batches in a Python worker of their own, note
`time.perf_counter()` (CLOCK_MONOTONIC on Linux, which every process shares, as the demo
API's request log does) when the task's first row arrives, and count the rows. The commit,
on the driver, appends `{"first": <earliest of the tasks>, "rows": <sum>}` to the file named
by option `stampPath`, one line per batch (`first_row` reads them back).

It costs far more than the noop sink (the JVM turns every row back into Arrow for the
writer's worker), so it serves the start-up timeline (`diagnostics.timeline`): the time to
the first row does not depend on what the sink does after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceStreamArrowWriter,
    WriterCommitMessage,
)
from pyspark.sql.types import StructType


@dataclass
class FirstRow(WriterCommitMessage):
    """What one task saw: when its first row arrived (None: it got none) and its rows."""

    first: float | None
    rows: int


def _write(iterator: Iterator[Any]) -> FirstRow:
    first, rows = None, 0
    for batch in iterator:
        if first is None and batch.num_rows:
            first = time.perf_counter()
        rows += batch.num_rows
    return FirstRow(first, rows)


def _record(path: str, messages: Sequence[Any]) -> None:
    found = [m for m in messages if isinstance(m, FirstRow)]
    firsts = [m.first for m in found if m.first is not None]
    line = {"first": min(firsts) if firsts else None, "rows": sum(m.rows for m in found)}
    with open(path, "a") as stamp:
        stamp.write(json.dumps(line) + "\n")


class FirstRowWriter(DataSourceArrowWriter):
    """`df.write.format("bench_first_row")`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, iterator: Iterator[Any]) -> FirstRow:
        """Note the first row's time; count the rows."""
        return _write(iterator)

    def commit(self, messages: list[WriterCommitMessage | None]) -> None:
        """Append the write's line to the stamp file."""
        _record(self.path, messages)


class FirstRowStreamWriter(DataSourceStreamArrowWriter):
    """`writeStream.format("bench_first_row")`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, iterator: Iterator[Any]) -> FirstRow:
        """Note the first row's time; count the rows."""
        return _write(iterator)

    def commit(self, messages: list[WriterCommitMessage | None], batchId: int) -> None:
        """Append the micro-batch's line to the stamp file."""
        _record(self.path, messages)


class FirstRowSink(DataSource):
    """Format `bench_first_row`; option `stampPath`: the file the commits append to."""

    @classmethod
    def name(cls) -> str:
        """The format name."""
        return "bench_first_row"

    def writer(self, schema: StructType, overwrite: bool) -> FirstRowWriter:
        """The batch writer."""
        return FirstRowWriter(self.options["stampPath"])

    def streamWriter(self, schema: StructType, overwrite: bool) -> FirstRowStreamWriter:
        """The streaming writer."""
        return FirstRowStreamWriter(self.options["stampPath"])


def first_row(path: Path) -> tuple[float | None, int]:
    """(the earliest first row, every row) of the writes a stamp file holds."""
    if not path.exists():
        return None, 0
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    firsts = [line["first"] for line in lines if line["first"] is not None]
    return (min(firsts) if firsts else None), sum(line["rows"] for line in lines)
