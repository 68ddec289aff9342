"""`RestBatchReader`: `spark.read.format("rest")`: one call per input row, or every page."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql.datasource import DataSourceReader, InputPartition
from pyspark.sql.types import StructType

from rest_stream.driver.ends import EndFinder
from rest_stream.driver.planner import plan_batch, plan_rows, with_rate_shares
from rest_stream.driver.stream_list import StreamList, parent_rows
from rest_stream.errors import RestOptionError
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.http.pages import PageFetcher
from rest_stream.options.parse import RestOptions
from rest_stream.partitions import ChainPartition, RowsPartition
from rest_stream.positions import RangeKind, offset_kind
from rest_stream.schema import record_field_names


class RestBatchReader(DataSourceReader):
    """Reads a REST API in parallel Spark tasks.

    Without `offsetType`: one request per `inputData` row (or one request), rows spread over
    `numPartitions` tasks. With `offsetType`: every page from `initialOffset` to the current
    end, with the stream reader's plans (split ranges, or one chain per stream).

    >>> rows = '[{"id": 3}, {"id": 7}]'
    >>> df = (spark.read.format("rest").option("url", api.url + "/items?since_id={id}&limit=1")
    ...       .option("inputData", rows).option("queryType", "inline").load())
    >>> sorted(row.id for row in df.collect())
    [3, 7]
    """

    def __init__(self, options: RestOptions, schema: StructType) -> None:
        if options.stream.start_latest:
            raise RestOptionError(
                "initialOffset",
                "latest",
                "earliest or a position with spark.read: a batch read from the latest position "
                "reads nothing (latest is for readStream)",
            )
        self.options = options
        self.schema = schema

    def partitions(self) -> list[InputPartition]:
        """The plan: row chunks, sub-ranges of each stream, or one chain per stream."""
        return with_rate_shares(self._plan(), self.options.max_requests_per_second)

    def _plan(self) -> list[InputPartition]:
        options = self.options
        fields = record_field_names(self.schema, options)
        rate = options.max_requests_per_second
        with PageFetcher(options, rate_limit=rate, record_fields=fields) as fetcher:
            if not options.stream.offset_type:
                if options.input_data_url is None:
                    return list(plan_rows(list(options.input_data), options.num_partitions))
                rows = parent_rows(options, fetcher)  # fan-out: one call per parent row
                return (
                    list(plan_rows(rows, options.num_partitions)) if rows else [RowsPartition(())]
                )
            streams = StreamList(options).current(fetcher)
            kind = offset_kind(options)
            initial = kind.initial()
            if not isinstance(kind, RangeKind):
                return [ChainPartition(key, row, initial) for key, row in streams.items()]
            finder = EndFinder(kind, fetcher)
            ranges = [(key, row, initial, finder.end(row, initial)) for key, row in streams.items()]
        ranges = [r for r in ranges if not kind.reached(r[2], r[3])]
        return list(
            plan_batch(kind, ranges, [], options.num_partitions, options.request_concurrency)
        )

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        """Arrow record batches of one partition (runs on an executor)."""
        yield from PartitionReader(self.options, self.schema).read(partition)
