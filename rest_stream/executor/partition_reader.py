"""Executor side: an input partition in, Arrow record batches out."""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql.types import StructType

from rest_stream.decoders.arrow_json import ArrowPageDecoder, ArrowRecords, select
from rest_stream.decoders.formats import LINE_FORMATS, PageDecoder, arrow_decoder
from rest_stream.decoders.jsonpath import compile_path
from rest_stream.executor.merging import merge_concurrently
from rest_stream.http.pages import PageFetcher, parse_page, worker_session
from rest_stream.http.request import RequestSpec
from rest_stream.http.template import build_request
from rest_stream.options.parse import RestOptions
from rest_stream.pagination import ResultSet
from rest_stream.partitions import (
    ChainPartition,
    PagesUnit,
    RangeUnit,
    RowsPartition,
    Unit,
    WorkPartition,
)
from rest_stream.positions import RangeKind, offset_kind
from rest_stream.positions.walk import walk_of
from rest_stream.schema import (
    DROPMALFORMED,
    INPUT_COLUMN,
    PERMISSIVE,
    ArrowConverter,
    Tally,
    record_field_names,
)

log = logging.getLogger("rest_stream.executor")
if log.level == logging.NOTSET:  # what a task rescued and dropped shows unless set otherwise
    log.setLevel(logging.INFO)


class PartitionReader:
    """Reads one input partition into record batches of the reader's schema.

    Where only the records of a page matter (input rows, page numbers, pages carried from
    the driver) or what the offset needs is a field of the schema (`incremental` ids,
    `timestamp` times), bodies are decoded straight to Arrow when the decoder of the
    `responseFormat` (`rest_stream.decoders.formats.arrow_decoder`) can do so exactly; every
    other page goes through the general path (`orjson` or `csv`, then `ArrowConverter`).
    An NDJSON or CSV response to an input row is read as it arrives, block by block, so a
    large export never sits whole in memory.

    What the read rescued (`rescuedDataColumn`) and the malformed records it kept or dropped
    (`mode`) are logged at INFO on the logger `rest_stream.executor` when the partition ends,
    with the URL of the first such page.
    """

    def __init__(self, options: RestOptions, schema: StructType) -> None:
        self.options = options
        self.converter = ArrowConverter.for_options(schema, options)
        self.with_inputs = INPUT_COLUMN in schema.fieldNames()
        self.records_path = compile_path(options.records_path) if options.records_path else None
        record_schema = pa.schema(
            [f for f in self.converter.record_schema if f.name != INPUT_COLUMN]
        )
        rescuing = self.converter.rescued_column is not None
        self.decoder: PageDecoder | None
        if options.response_format == "json":
            self.decoder = ArrowPageDecoder.for_schema(
                self.records_path, record_schema, exact_fields=rescuing
            )
        else:  # line and row formats: the general path sees what does not fit
            self.decoder = None if rescuing else arrow_decoder(
                options.response_format, self.records_path, record_schema
            )
        self.fields = record_field_names(schema, options)
        self.tally = Tally()

    def read(self, partition: Any) -> Iterator[pa.RecordBatch]:
        """Record batches of `partition`, about one per page."""
        self.tally = Tally()
        try:
            yield from self._read(partition)
        finally:
            self._log_tally(partition)
            freeze_worker_heap()

    def _read(self, partition: Any) -> Iterator[pa.RecordBatch]:
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
        # A body that is not JSON can stand as a malformed record only where nothing else
        # needs the page (one request per input row), and is kept only where it has a column.
        malformed_bodies = isinstance(partition, RowsPartition) and (
            self.options.mode == DROPMALFORMED
            or (self.options.mode == PERMISSIVE and self.converter.corrupt_column is not None)
        )
        with PageFetcher(
            self.options,
            session=session,
            decoder=decoder,
            malformed_bodies=malformed_bodies,
            record_fields=self.fields,
        ) as fetcher:
            if isinstance(partition, RowsPartition):
                yield from self._rows(fetcher, partition.rows)
            elif isinstance(partition, WorkPartition):
                yield from self._units(fetcher, kind, partition.units)
            elif isinstance(partition, ChainPartition):
                assert kind is not None
                walk = walk_of(kind, fetcher, partition.row, partition.start)
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

            def pages() -> Iterator[tuple[str, Sequence[Any]]]:
                read = kind.read_range(reader, unit.row, unit.start, unit.end)
                return read if unit.keep is None else unit.keep.select(kind, read)

            return lambda: self._batches(unit.row, pages())

        yield from merge_concurrently([source(u) for u in units], width)

    def _rows(
        self, fetcher: PageFetcher, rows: Iterable[Mapping[str, Any]]
    ) -> Iterator[pa.RecordBatch]:
        rows = list(rows)
        answers = ResultSet(self.options)
        if answers.paginated:  # each row's pages in order, `requestConcurrency` rows at once
            yield from merge_concurrently(
                [self._answer(fetcher, answers, row) for row in rows],
                self.options.request_concurrency,
            )
            return
        specs = (build_request(self.options, row) for row in rows)
        if self.options.response_format in LINE_FORMATS:
            for row, body in zip(rows, fetcher.stream_ordered(specs)):
                with body:
                    yield from self._batches(row, ((p.source, p.records) for p in body.pages()))
            return
        for row, page in zip(rows, fetcher.fetch_ordered(specs)):
            yield from self._batches(row, [(page.source, page.records)])

    def _answer(
        self, fetcher: PageFetcher, answers: ResultSet, row: Mapping[str, Any]
    ) -> Callable[[], Iterator[pa.RecordBatch]]:
        """Every page of one row's answer (`pagination`), as batches."""

        def build(values: Mapping[str, Any], url: str | None) -> RequestSpec:
            return build_request(self.options, row, values, url=url)

        def fetch(spec: RequestSpec) -> Any:
            return fetcher.fetch(spec, decode=not answers.paginator.needs_body)

        def pages() -> Iterator[tuple[str, Sequence[Any]]]:
            for page, _ in answers.pages(fetch, build):
                yield page.source, page.records

        return lambda: self._batches(row, pages())

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
                fields=self.fields,
            )
            records = page.records
            if carried.keep is not None:  # records picked by time, by index
                yield carried.url, select(records, list(carried.keep))
            elif carried.reverse:  # a newest-first page, emitted oldest first
                count = len(records)
                yield carried.url, records[count - carried.stop : count - carried.first][::-1]
            else:
                yield carried.url, records[carried.first : carried.stop]

    def _batches(
        self, row: Mapping[str, Any], pages: Iterable[tuple[str, Sequence[Any]]]
    ) -> Iterator[pa.RecordBatch]:
        for source, records in pages:
            if not records:
                continue
            if isinstance(records, ArrowRecords):
                batch = self._decoded(row, records.batch)
                if batch is not None:
                    self.tally.add(batch.num_rows, 0, 0, 0, source)
                    yield batch
                    continue
            inputs = row if self.with_inputs else None
            batch = self.converter.to_batch(records, source, inputs, self.tally)
            if batch.num_rows:
                yield batch

    def _decoded(self, row: Mapping[str, Any], batch: pa.RecordBatch) -> pa.RecordBatch | None:
        """A decoded batch in the reader's schema, with the input row as a column when asked
        for (and nothing rescued or malformed: the decoder takes only pages that fit); None
        when the row does not convert alone (the general path then decides)."""
        if self.with_inputs:
            field = self.converter.record_schema.field(INPUT_COLUMN)
            try:
                single = pa.scalar(dict(row), type=field.type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                return None
            schema = self.converter.record_schema
            rows = batch.num_rows
            columns = [
                pa.repeat(single, rows) if f.name == INPUT_COLUMN else batch.column(f.name)
                for f in schema
            ]
            batch = pa.RecordBatch.from_arrays(columns, schema=schema)
        return self.converter.with_columns(batch)

    def _log_tally(self, partition: Any) -> None:
        """One INFO line when the partition rescued, kept or dropped anything."""
        tally = self.tally
        if not tally.rescued + tally.kept + tally.dropped:
            return
        log.info(
            "%s: %d records read, %d with rescued data (column %s), %d malformed kept, %d "
            "malformed dropped (mode=%s); the first at %s",
            _task(partition),
            tally.records,
            tally.rescued,
            self.converter.rescued_column,
            tally.kept,
            tally.dropped,
            self.options.mode,
            tally.first,
        )


_FROZEN = False
_FROZEN_LOCK = threading.Lock()


def freeze_worker_heap() -> bool:
    """At the end of the first task a Python worker runs: collect its garbage once, then move
    everything it still holds (modules imported on the way, the shared HTTP session) out of
    reach of the cyclic garbage collector (`gc.freeze`). PySpark's daemon runs a full
    `gc.collect()` after every task of a reused worker, and Python runs full collections
    while a task reads; both walk the whole heap (about 90 000 objects after a read: 60–110 ms
    on a busy 2-core machine) unless it is frozen. Frozen objects are still freed when nothing
    refers to them. Outside a Spark task (the driver, tests) nothing happens; True once the
    heap is frozen."""
    global _FROZEN
    if _FROZEN:
        return True
    try:
        from pyspark import TaskContext

        in_task = TaskContext.get() is not None
    except ImportError:  # pragma: no cover - pyspark is a dependency
        in_task = False
    if not in_task:
        return False
    with _FROZEN_LOCK:
        if not _FROZEN:
            gc.collect()
            gc.freeze()
            _FROZEN = True
    return True


def _task(partition: Any) -> str:
    """The Spark task reading `partition` (stage and partition), or the partition's repr."""
    try:
        from pyspark import TaskContext

        context = TaskContext.get()
    except ImportError:  # pragma: no cover - pyspark is a dependency
        context = None
    if context is None:
        return repr(partition)
    return (
        f"Task {context.taskAttemptId()} (stage {context.stageId()}, partition "
        f"{context.partitionId()}) {partition!r}"
    )
