"""Spark's auto-registration hook: `format("rest")` works after `pip install` with no register call.

Spark imports every installed top-level module named `pyspark_*` and registers its
`DefaultSource`; keep this module light.
"""

from rest_stream.datasource import RestDataSource as DefaultSource

__all__ = ["DefaultSource"]
