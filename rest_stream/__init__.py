"""rest_stream: a generic REST API data source for Apache Spark, batch and streaming.

Here `spark` is a `SparkSession` and `api` a started demo API (`rest_stream.demo.DemoApi`):

>>> from rest_stream import RestDataSource
>>> spark.dataSource.register(RestDataSource)
>>> spark.readStream.format("rest").option("url", api.url + "/cursor?cursor={next_cursor}") \\
...     .option("offsetType", "cursor").option("offsetField", "next_cursor").load().isStreaming
True
"""

from rest_stream.datasource import RestDataSource
from rest_stream.errors import (
    RestConnectionError,
    RestHTTPError,
    RestNoRecordsError,
    RestOffsetError,
    RestOptionError,
    RestResponseError,
    RestSchemaError,
    RestStreamError,
)

__all__ = [
    "RestDataSource",
    "RestStreamError",
    "RestOptionError",
    "RestHTTPError",
    "RestConnectionError",
    "RestResponseError",
    "RestNoRecordsError",
    "RestOffsetError",
    "RestSchemaError",
]
__version__ = "0.1.0"
