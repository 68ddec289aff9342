"""What every vendor emulation shares: a clock tests can stop and move, and the life of a
loopback server (start, stop, URL, the requests it saw)."""

from __future__ import annotations

import threading
import time
from typing import TypeVar

from tests.loopback import Handler, Loopback, Seen

Api = TypeVar("Api", bound="LoopbackApi")


def wait_past_horizon() -> None:
    """Sleep until records stamped now (to the millisecond) lie before a `timestamp` range's
    horizon: the last whole second before the clock. A record of second `s` is in reach once
    the clock reaches `s + 2`."""
    time.sleep(2.05 - time.time() % 1)


class Clock:
    """An emulation's wall clock: frozen at `start` (so many records share one instant)
    until `set` or `advance`; with `running=True` it also ticks with real time."""

    def __init__(self, start: float | None = None, *, running: bool = False) -> None:
        self._base = float(int(time.time())) if start is None else float(start)
        self._running = running
        self._mono = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            if self._running:
                return self._base + (time.monotonic() - self._mono)
            return self._base

    def set(self, at: float) -> None:
        with self._lock:
            self._base, self._mono = float(at), time.monotonic()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._base += seconds


class LoopbackApi:
    """An emulated API served on 127.0.0.1 by `handler`; a context manager."""

    def __init__(self, handler: Handler) -> None:
        self._loopback = Loopback(handler)

    def start(self: Api) -> Api:
        self._loopback.start()
        return self

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self: Api) -> Api:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL (the vendor's `https://api.example.com` swapped for this server)."""
        return self._loopback.url

    @property
    def requests(self) -> list[Seen]:
        """Every request the server answered, in order."""
        with self._loopback.lock:
            return list(self._loopback.requests)
