"""The pages a batch of a walked stream reads: those `latestOffset` walked and cached, or,
after a restart or an evicted cache, the same chain walked again and checked against the
logged end."""

from __future__ import annotations

from collections.abc import Callable

from rest_stream.driver.stream_list import StreamList
from rest_stream.driver.walk_cache import WalkCache, carried, position_key
from rest_stream.errors import RestOffsetError
from rest_stream.http.pages import PageFetcher
from rest_stream.options.parse import RestOptions
from rest_stream.partitions import CarriedPage
from rest_stream.positions import OffsetKind, Position, RangeKind
from rest_stream.positions.walk import walk_of


class BatchPages:
    """The walked pages of each stream's batch `[lo, hi)` for `partitions` (one instance per
    reader, never pickled)."""

    def __init__(
        self,
        options: RestOptions,
        fetcher: Callable[[], PageFetcher],
        streams: StreamList,
        walks: WalkCache,
    ) -> None:
        self.options = options
        self._fetcher = fetcher
        self.streams = streams
        self.walks = walks

    def pages(
        self, kind: OffsetKind, key: str, lo: Position, hi: Position, taken: int | None
    ) -> list[CarriedPage] | None:
        """The pages walked for `[lo, hi)`: cached, walked again on a replay (exactly the
        `taken` records the logged batch took, when the offset says), or None for a range to
        read on executors. A replay that does not end at `hi` fails (`RestOffsetError`)."""
        cached = self.walks.take(key, lo, hi)
        if cached is not None:
            return cached
        if isinstance(kind, RangeKind):
            return None  # a walked range replays as a range: its ends fall between timestamps
        row = self.streams.row(key)
        walk = walk_of(kind, self._fetcher(), row, lo, end=hi, keep_body=True, expected=taken)
        pages = carried(walk)
        short = taken is not None and walk.records != taken
        if short or position_key(walk.position) != position_key(hi):
            counts = f" after {walk.records} of its {taken} records" if taken is not None else ""
            raise RestOffsetError(
                self.options.redact(
                    f"Replaying stream {key} from {position_key(lo)} ended at "
                    f"{position_key(walk.position)}{counts}, not at the logged end "
                    f"{position_key(hi)}: the API no longer serves the same pages."
                )
            )
        return pages
