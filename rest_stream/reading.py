"""Executor side: an input partition in, Arrow record batches out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa
from pyspark.sql.types import StructType

from rest_stream.chains import Walk
from rest_stream.extract import compile_path
from rest_stream.offsets import offset_kind
from rest_stream.options import RestOptions
from rest_stream.pages import PageFetcher, parse_page, worker_session
from rest_stream.partitions import ChainPartition, PagesPartition, RangePartition, RowsPartition
from rest_stream.schema import INPUT_COLUMN, ArrowConverter, as_record
from rest_stream.template import build_request


class PartitionReader:
    """Reads one input partition into record batches of the reader's schema."""

    def __init__(self, options: RestOptions, schema: StructType) -> None:
        self.options = options
        self.converter = ArrowConverter(schema, options.on_type_mismatch)
        self.with_inputs = INPUT_COLUMN in schema.fieldNames()

    def read(self, partition: Any) -> Iterator[pa.RecordBatch]:
        """Record batches of `partition`, about one per page."""
        if isinstance(partition, PagesPartition):
            yield from self._batches(partition.row, self._carried(partition))
            return
        session = worker_session(self.options, partition.rate_limit)
        with PageFetcher(self.options, session=session) as fetcher:
            if isinstance(partition, RowsPartition):
                yield from self._rows(fetcher, partition.rows)
            elif isinstance(partition, RangePartition):
                kind = offset_kind(self.options)
                pages = kind.read_range(fetcher, partition.row, partition.start, partition.end)
                yield from self._batches(partition.row, pages)
            elif isinstance(partition, ChainPartition):
                kind = offset_kind(self.options)
                walk = Walk(kind, fetcher, partition.row, partition.start)
                yield from self._batches(partition.row, ((w.page.source, w.records) for w in walk))
            else:
                raise TypeError(f"unknown partition {partition!r}")

    def _rows(
        self, fetcher: PageFetcher, rows: Iterable[dict[str, Any]]
    ) -> Iterator[pa.RecordBatch]:
        rows = list(rows)
        specs = (build_request(self.options, row) for row in rows)
        for row, page in zip(rows, fetcher.fetch_ordered(specs)):
            yield from self._batches(row, [(page.source, page.records)])

    def _carried(self, partition: PagesPartition) -> Iterator[tuple[str, list[Any]]]:
        path = compile_path(self.options.records_path) if self.options.records_path else None
        for carried in partition.pages:
            page = parse_page(carried.body, carried.url, carried.status, {}, path, self.options)
            yield carried.url, page.records[carried.first : carried.stop]

    def _batches(
        self, row: Mapping[str, Any], pages: Iterable[tuple[str, list[Any]]]
    ) -> Iterator[pa.RecordBatch]:
        for source, records in pages:
            if not records:
                continue
            dicts = [as_record(r) for r in records]
            if self.with_inputs:
                dicts = [{**d, INPUT_COLUMN: row} for d in dicts]
            yield self.converter.to_batch(dicts, source)
