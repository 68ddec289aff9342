"""Schema inference on the driver: fetch a few sample responses and infer from their records."""

from __future__ import annotations

from typing import Any

from pyspark.sql.types import StructType

from rest_stream.decoders.formats import LINE_FORMATS
from rest_stream.decoders.jsonpath import Malformed
from rest_stream.driver.stream_list import StreamList
from rest_stream.errors import RestStreamError
from rest_stream.http.pages import PageFetcher
from rest_stream.http.template import build_request
from rest_stream.options.parse import RestOptions
from rest_stream.positions import offset_kind
from rest_stream.schema import FAILFAST, PERMISSIVE, infer_schema


def sample_schema(options: RestOptions) -> StructType:
    """The schema inferred from up to `schemaSampleSize` responses.

    With `mode=PERMISSIVE`, a sample that holds a malformed record (an item that is not an
    object, or, without `offsetType`, a body that is not JSON) adds the
    `columnNameOfCorruptRecord` column; with `rescuedDataColumn`, that column comes last.

    Of an NDJSON or CSV response only its first block of records (`BLOCK_RECORDS`) is
    read. CSV values are strings, so a CSV's inferred columns are all strings (as Spark's
    CSV reader without `inferSchema`).
    """
    kind = offset_kind(options) if options.stream.offset_type else None
    records: list[Any] = []
    sources: list[str] = []
    with PageFetcher(options, rate_limit=options.max_requests_per_second) as fetcher:
        streams = StreamList(options).current(fetcher)
        rows = list(streams.values())[: options.schema_sample_size]
        # Without offsets a data body that is not JSON is a malformed record, as in the read
        # (a parent list, `inputDataUrl`, must parse).
        fetcher.malformed_bodies = kind is None and options.mode != FAILFAST
        for row in rows:
            spec = kind.request(row, kind.initial()) if kind else build_request(options, row)
            if options.response_format in LINE_FORMATS:  # the first block: never a whole export
                with fetcher.stream(spec) as body:
                    page = next(body.pages(), None)
                    records += page.records if page is not None else []
                    sources.append(body.url)
                continue
            page = fetcher.fetch(spec)
            records += page.records
            sources.append(page.source)
    corrupt = options.corrupt_record_column if options.mode == PERMISSIVE else None
    if not any(not isinstance(r, Malformed) for r in records) and not (records and corrupt):
        raise RestStreamError(
            f"Cannot infer a schema: the sample responses ({', '.join(sources)}) hold no records "
            "(check recordsPath), or pass one with .schema(...)."
        )
    inputs = list(streams.values()) if options.include_inputs_in_output else []
    return infer_schema(
        records, inputs, corrupt_column=corrupt, rescued_column=options.rescued_data_column
    )
