"""When a stream is polled: `streamingInterval` between polls of a stream that caught up,
and the fixed ends of a `Trigger.AvailableNow` run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: A poll may start this share of `streamingInterval` early (at most `MAX_SLACK` s), so a
#: trigger of the same interval, whose polls start a few milliseconds apart from one trigger
#: to the next, polls at every trigger rather than every other one.
SLACK = 0.1
MAX_SLACK = 0.1


def _monotonic() -> float:
    """The module's clock, looked up at each call (a benchmark can swap `time`)."""
    return time.monotonic()


class PollSchedule:
    """Per-stream poll times and availableNow targets (driver state, never pickled).

    `streamingInterval` runs from the start of the poll in which a stream caught up to the
    start of its next poll.

    >>> now = [0.0]
    >>> schedule = PollSchedule(0.5, clock=lambda: now[0])
    >>> schedule.begin(); schedule.caught_up("a"); now[0] = 0.47
    >>> schedule.due("a")
    True
    """

    def __init__(self, interval: float, clock: Callable[[], float] | None = None) -> None:
        self.interval = interval
        self.available_now = False
        self.targets: dict[str, Any] | None = None
        self._clock = clock or _monotonic
        self._began: float | None = None
        self._caught_up_at: dict[str, float] = {}
        self._polled_at: dict[str, float] = {}

    def begin(self) -> None:
        """A poll (`latestOffset`) starts now."""
        self._began = self._clock()

    def due(self, key: str) -> bool:
        """Whether `key` may be polled now: always in availableNow, else when it has a
        backlog or `streamingInterval` (less its slack) has passed since the start of the poll
        in which it caught up."""
        if self.available_now:
            return True
        last = self._caught_up_at.get(key)
        slack = min(self.interval * SLACK, MAX_SLACK)
        return last is None or self._clock() - last >= self.interval - slack

    def polled(self, key: str) -> None:
        """`key` was read from this poll (it got pages or a range)."""
        self._polled_at[key] = self._clock()

    def caught_up(self, key: str) -> None:
        """`key` has read all the API had: wait `streamingInterval` before the next poll."""
        self._caught_up_at[key] = self._clock() if self._began is None else self._began

    def oldest_first(self, keys: list[str]) -> list[str]:
        """`keys` with the streams read longest ago first, so under a byte budget the streams
        left out of one batch go first in the next (none starves)."""
        return sorted(keys, key=lambda k: self._polled_at.get(k, float("-inf")))

    def target(self, key: str) -> Any | None:
        """The end an availableNow run stops at, once fixed."""
        return None if self.targets is None else self.targets.get(key)
