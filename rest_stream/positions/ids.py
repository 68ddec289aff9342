"""`incremental`: ids. The API returns records with id >= `{offsetField}`; next = largest + 1.

Position: the next id to read. Range `[start, end)`: records with `start <= id < end`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from rest_stream.decoders.arrow_json import select
from rest_stream.errors import RestOffsetError
from rest_stream.positions.base import CountedRange, Fetcher, SourcedRecords, even_cuts


class IncrementalOffset(CountedRange):
    """Ids that only grow: `?since_id={id}` returns records with id >= `{id}`, in any order."""

    name = "incremental"
    end_search: ClassVar[str | None] = "ids"

    def initial(self) -> int:
        return int(self.stream.initial_offset)

    def arrow_guards(self, fields: Mapping[str, Any]) -> tuple[bytes, ...] | None:
        name = self._record_field()
        if name is None or name not in fields:
            return None
        return () if pa.types.is_integer(fields[name]) else None

    def record_ids(self, page: Any) -> list[int]:
        """The id of every record of `page` (`recordOffsetPath`)."""
        assert self.record_path is not None
        ids = []
        for index, value in enumerate(self._record_values(page)):
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise RestOffsetError(
                    f"Record {index} of {page.source} has no whole-number id at "
                    f"recordOffsetPath={self.record_path.text} (found {value!r})"
                )
            try:
                ids.append(int(value))
            except ValueError:
                raise RestOffsetError(
                    f"Record {index} of {page.source}: recordOffsetPath="
                    f"{self.record_path.text} gives {value!r}, not a whole number"
                ) from None
        return ids

    def id_array(self, page: Any) -> np.ndarray[Any, Any] | None:
        """The ids of a decoded page whose id column holds whole numbers and no nulls, as
        an array (no Python int per record); None where `record_ids` must read them."""
        column = self._record_column(page)
        if column is None or not pa.types.is_integer(column.type):
            return None
        return column.to_numpy()

    def split(self, start: int, end: int, parts: int) -> list[tuple[int, int]]:
        return even_cuts(start, end, parts)

    def end_from_probe(self, value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(value)
        return int(value) + 1

    def read_range(
        self, fetcher: Fetcher, row: Mapping[str, Any], start: int, end: int
    ) -> Iterator[SourcedRecords]:
        position = start
        while position < end:
            page = self.fetch_at(
                fetcher,
                row,
                position,
                enough=lambda part: bool(part.records) and max(self.record_ids(part)) >= end,
            )
            if not page.records:
                return
            found = self.id_array(page)
            ids = np.asarray(self.record_ids(page), dtype=object) if found is None else found
            lowest, highest = int(ids.min()), int(ids.max())
            if position <= lowest and highest < end:
                yield page.source, page.records
            else:
                inside = np.flatnonzero((ids >= position) & (ids < end)).tolist()
                yield page.source, select(page.records, inside)
            following = highest + 1
            if following <= position:
                self.range_stopped(
                    f"Offset does not advance: {page.source} returned ids up to "
                    f"{following - 1}, below {self.field}={position}"
                )
            position = following
