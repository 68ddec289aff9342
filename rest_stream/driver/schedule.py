"""When a stream is polled: `streamingInterval` between polls of a stream that caught up,
and the fixed ends of a `Trigger.AvailableNow` run."""

from __future__ import annotations

import time
from typing import Any


class PollSchedule:
    """Per-stream poll times and availableNow targets (driver state, never pickled)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.available_now = False
        self.targets: dict[str, Any] | None = None
        self._caught_up_at: dict[str, float] = {}
        self._polled_at: dict[str, float] = {}

    def due(self, key: str) -> bool:
        """Whether `key` may be polled now: always in availableNow, else when it has a
        backlog or `streamingInterval` has passed since it caught up."""
        if self.available_now:
            return True
        last = self._caught_up_at.get(key)
        return last is None or time.monotonic() - last >= self.interval

    def polled(self, key: str) -> None:
        """`key` was read from this poll (it got pages or a range)."""
        self._polled_at[key] = time.monotonic()

    def caught_up(self, key: str) -> None:
        """`key` has read all the API had: wait `streamingInterval` before the next poll."""
        self._caught_up_at[key] = time.monotonic()

    def oldest_first(self, keys: list[str]) -> list[str]:
        """`keys` with the streams read longest ago first, so under a byte budget the streams
        left out of one batch go first in the next (none starves)."""
        return sorted(keys, key=lambda k: self._polled_at.get(k, float("-inf")))

    def target(self, key: str) -> Any | None:
        """The end an availableNow run stops at, once fixed."""
        return None if self.targets is None else self.targets.get(key)
