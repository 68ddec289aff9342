"""Schema inference on the driver: fetch a few sample responses and infer from their records."""

from __future__ import annotations

from typing import Any

from pyspark.sql.types import StructType

from rest_stream.errors import RestStreamError
from rest_stream.offsets import offset_kind
from rest_stream.options import RestOptions
from rest_stream.pages import PageFetcher
from rest_stream.planner import stream_rows
from rest_stream.schema import infer_schema
from rest_stream.template import build_request


def sample_schema(options: RestOptions) -> StructType:
    """The schema inferred from up to `schemaSampleSize` responses."""
    rows = list(stream_rows(options.input_data).values())[: options.schema_sample_size]
    kind = offset_kind(options) if options.stream.offset_type else None
    records: list[Any] = []
    sources: list[str] = []
    with PageFetcher(options) as fetcher:
        for row in rows:
            spec = kind.request(row, kind.initial()) if kind else build_request(options, row)
            page = fetcher.fetch(spec)
            records += page.records
            sources.append(page.source)
    if not records:
        raise RestStreamError(
            f"Cannot infer a schema: the sample responses ({', '.join(sources)}) hold no records "
            "(check recordsPath), or pass one with .schema(...)."
        )
    inputs = list(options.input_data) if options.include_inputs_in_output else []
    return infer_schema(records, inputs)
