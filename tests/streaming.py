"""Starting a `format("rest")` stream in tests: options in, a started query out.

Imported as `tests.streaming` by the test modules and as `streaming` by
`tests/platform_check.py`, which runs as a script (so no pytest here).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def start_stream(
    spark: Any,
    options: Mapping[str, str],
    work: Path,
    *,
    sink: str = "parquet",
    each_batch: Callable[[Any, int], None] | None = None,
    trigger: Mapping[str, Any] | None = None,
    schema: str | None = None,
    name: str | None = None,
) -> Any:
    """Start a stream of `options` with its checkpoint in `work/checkpoint`: into the `sink`
    format (a parquet sink writes `work/sink`), or through `each_batch` (`foreachBatch`);
    `trigger` defaults to `availableNow`."""
    reader = spark.readStream.format("rest")
    if schema is not None:
        reader = reader.schema(schema)
    for key, value in options.items():
        reader = reader.option(key, value)
    writer = reader.load().writeStream
    if each_batch is not None:
        writer = writer.foreachBatch(each_batch)
    else:
        writer = writer.format(sink)
        if sink == "parquet":
            writer = writer.option("path", str(work / "sink"))
    if name is not None:
        writer = writer.queryName(name)
    writer = writer.option("checkpointLocation", str(work / "checkpoint"))
    return writer.trigger(**(trigger or {"availableNow": True})).start()


def run_to_end(query: Any, timeout: float = 120) -> Any:
    """Wait for an `availableNow` query to end; fail with its error if it had one."""
    query.awaitTermination(timeout)
    error = query.exception()
    assert error is None, error
    return query
