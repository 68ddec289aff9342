"""`RestDataSource`: the `rest` format, wiring options, schema and readers together."""

from __future__ import annotations

from pyspark.sql.datasource import DataSource, DataSourceReader, DataSourceStreamReader
from pyspark.sql.types import StructType

from rest_stream.batch_reader import RestBatchReader
from rest_stream.driver.sampling import sample_schema
from rest_stream.options.parse import RestOptions, missing_offset_type, parse_options
from rest_stream.schema import bad_record_columns
from rest_stream.stream_reader import RestStreamReader


class RestDataSource(DataSource):
    """Any REST API as a Spark source, batch (`spark.read`) or streaming (`spark.readStream`).

    >>> spark.dataSource.register(RestDataSource)
    >>> spark.read.format("rest").option("url", api.url + "/items").load().count()
    100
    """

    def __init__(self, options: dict[str, str]) -> None:
        """Parse and check every option: a bad one fails `load()` with `RestOptionError`.

        Spark passes the same options to `spark.read` and `spark.readStream` (plus `path` /
        `paths` from `load(...)`), and nothing here tells the two apart: a stream read without
        `offsetType` is refused here only with `streaming=true`, else in `streamReader()`.
        """
        super().__init__(options)
        self.rest_options: RestOptions = parse_options(options)

    @classmethod
    def name(cls) -> str:
        """The format name: `rest`."""
        return "rest"

    def schema(self) -> StructType:
        """The schema inferred from sample responses (skipped when `.schema(...)` is given)."""
        return sample_schema(self.rest_options)

    def reader(self, schema: StructType) -> DataSourceReader:
        """The batch reader; a `RestOptionError` when the schema lacks the rescued-data column,
        or it or the corrupt-record column is not a string column."""
        bad_record_columns(schema, self.rest_options)
        return RestBatchReader(self.rest_options, schema)

    def streamReader(self, schema: StructType) -> DataSourceStreamReader:
        """The stream reader (a full `DataSourceStreamReader`, partitioned offsets); a
        `RestOptionError` naming `offsetType` when it is not set, or for the schema's columns
        as in `reader()`."""
        if self.rest_options.stream.offset_type is None:
            raise missing_offset_type("spark.readStream")
        bad_record_columns(schema, self.rest_options)
        return RestStreamReader(self.rest_options, schema)

    def __repr__(self) -> str:
        return f"RestDataSource(url={self.rest_options.redact(self.rest_options.url)!r})"
