"""Executor side: an input partition in, Arrow record batches out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql.types import StructType

from rest_stream.decoders.arrow_json import ArrowRecords
from rest_stream.decoders.formats import LINE_FORMATS, arrow_decoder
from rest_stream.decoders.jsonpath import compile_path
from rest_stream.executor.merging import merge_concurrently
from rest_stream.http.pages import PageFetcher, parse_page, worker_session
from rest_stream.http.template import build_request
from rest_stream.options.parse import RestOptions
from rest_stream.partitions import (
    ChainPartition,
    PagesUnit,
    RangeUnit,
    RowsPartition,
    Unit,
    WorkPartition,
)
from rest_stream.positions import RangeKind, offset_kind
from rest_stream.positions.walk import Walk
from rest_stream.schema import INPUT_COLUMN, ArrowConverter, as_record


class PartitionReader:
    """Reads one input partition into record batches of the reader's schema.

    Where only the records of a page matter (input rows, page numbers, pages carried from
    the driver) or what the offset needs is a field of the schema (`incremental` ids,
    `timestamp` times), bodies are decoded straight to Arrow when the decoder of the
    `responseFormat` (`rest_stream.decoders.formats.arrow_decoder`) can do so exactly; every
    other page goes through the general path (`orjson` or `csv`, then `ArrowConverter`).
    An NDJSON or CSV response to an input row is read as it arrives, block by block, so a
    large export never sits whole in memory.
    """

    def __init__(self, options: RestOptions, schema: StructType) -> None:
        self.options = options
        self.converter = ArrowConverter(schema, options.on_type_mismatch)
        self.with_inputs = INPUT_COLUMN in schema.fieldNames()
        self.records_path = compile_path(options.records_path) if options.records_path else None
        record_fields = [f for f in self.converter.arrow_schema if f.name != INPUT_COLUMN]
        self.decoder = arrow_decoder(
            options.response_format, self.records_path, pa.schema(record_fields)
        )

    def read(self, partition: Any) -> Iterator[pa.RecordBatch]:
        """Record batches of `partition`, about one per page."""
        if isinstance(partition, WorkPartition) and not any(
            isinstance(u, RangeUnit) for u in partition.units
        ):
            yield from self._units(None, None, partition.units)  # carried pages: no network
            return
        session = worker_session(self.options, partition.rate_limit)
        kind = None if isinstance(partition, RowsPartition) else offset_kind(self.options)
        decoder = self.decoder
        if decoder is not None and kind is not None:
            guards = kind.arrow_guards({f.name: f.type for f in decoder.schema})
            is_chain = isinstance(partition, ChainPartition)
            decoder = None if is_chain or guards is None else decoder.guarded(guards)
        with PageFetcher(self.options, session=session, decoder=decoder) as fetcher:
            if isinstance(partition, RowsPartition):
                yield from self._rows(fetcher, partition.rows)
            elif isinstance(partition, WorkPartition):
                yield from self._units(fetcher, kind, partition.units)
            elif isinstance(partition, ChainPartition):
                assert kind is not None
                walk = Walk(kind, fetcher, partition.row, partition.start)
                yield from self._batches(partition.row, ((w.page.source, w.records) for w in walk))
            else:
                raise TypeError(f"unknown partition {partition!r}")

    def _units(
        self, fetcher: PageFetcher | None, kind: Any, units: tuple[Unit, ...]
    ) -> Iterator[pa.RecordBatch]:
        """The batches of every unit, `requestConcurrency` units at once. A lone range unit
        keeps its own page concurrency (`page`, `offset`); units read side by side go one
        request at a time each."""
        width = self.options.request_concurrency
        alone = len(units) == 1 or width <= 1

        def source(unit: Unit) -> Any:
            if isinstance(unit, PagesUnit):
                return lambda: self._batches(unit.row, self._carried(unit))
            assert fetcher is not None and isinstance(kind, RangeKind)
            reader = fetcher if alone else fetcher.sequential()
            return lambda: self._batches(
                unit.row, kind.read_range(reader, unit.row, unit.start, unit.end)
            )

        yield from merge_concurrently([source(u) for u in units], width)

    def _rows(
        self, fetcher: PageFetcher, rows: Iterable[Mapping[str, Any]]
    ) -> Iterator[pa.RecordBatch]:
        rows = list(rows)
        specs = (build_request(self.options, row) for row in rows)
        if self.options.response_format in LINE_FORMATS:
            for row, body in zip(rows, fetcher.stream_ordered(specs)):
                with body:
                    yield from self._batches(row, ((p.source, p.records) for p in body.pages()))
            return
        for row, page in zip(rows, fetcher.fetch_ordered(specs)):
            yield from self._batches(row, [(page.source, page.records)])

    def _carried(self, unit: PagesUnit) -> Iterator[tuple[str, Sequence[Any]]]:
        for carried in unit.pages:
            page = parse_page(
                carried.body,
                carried.url,
                carried.status,
                {},
                self.records_path,
                self.options,
                decoder=self.decoder,
                keep_body=False,
            )
            yield carried.url, page.records[carried.first : carried.stop]

    def _batches(
        self, row: Mapping[str, Any], pages: Iterable[tuple[str, Sequence[Any]]]
    ) -> Iterator[pa.RecordBatch]:
        for source, records in pages:
            if not records:
                continue
            if isinstance(records, ArrowRecords):
                batch = self._decoded(row, records.batch)
                if batch is not None:
                    yield batch
                    continue
            dicts = [as_record(r) for r in records]
            if self.with_inputs:
                dicts = [{**d, INPUT_COLUMN: row} for d in dicts]
            yield self.converter.to_batch(dicts, source)

    def _decoded(self, row: Mapping[str, Any], batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """A decoded batch in the reader's schema, with the input row as a column when asked
        for; None when the row does not convert alone (the general path then decides)."""
        if not self.with_inputs:
            return batch
        schema = self.converter.arrow_schema
        try:
            single = pa.scalar(dict(row), type=schema.field(INPUT_COLUMN).type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return None
        columns = [
            pa.repeat(single, batch.num_rows) if f.name == INPUT_COLUMN else batch.column(f.name)
            for f in schema
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)
