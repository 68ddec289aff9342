"""Several iterators read at once on threads, their items merged as they come.

Used by executors to keep `requestConcurrency` work units in flight inside one task, with
memory bounded by `buffer` items waiting to be consumed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def merge_concurrently(
    sources: Sequence[Callable[[], Iterator[T]]], width: int, buffer: int | None = None
) -> Iterator[T]:
    """Items of every `sources[i]()`, with at most `width` sources running at once.

    Items of one source keep their order; sources interleave. The first error is raised
    here and the other sources stop. Closing the iterator early stops them too.

    >>> list(merge_concurrently([lambda: iter([1, 2]), lambda: iter([3])], width=1))
    [1, 2, 3]
    >>> sorted(merge_concurrently([lambda: iter(range(3)), lambda: iter(range(3, 5))], 2))
    [0, 1, 2, 3, 4]
    """
    if width <= 1 or len(sources) <= 1:
        for source in sources:
            yield from source()
        return
    width = min(width, len(sources))
    items: queue.Queue[object] = queue.Queue(maxsize=buffer or 2 * width)
    stop = threading.Event()
    pending = iter(list(sources))
    lock = threading.Lock()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            while not stop.is_set():
                with lock:
                    source = next(pending, None)
                if source is None:
                    break
                for item in source():
                    if not put(item):
                        return
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            put(_Failed(error))
        finally:
            put(_DONE)

    threads = [
        threading.Thread(target=run, name=f"rest-unit-{i}", daemon=True) for i in range(width)
    ]
    for thread in threads:
        thread.start()
    running = width
    try:
        while running:
            item = items.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
