"""`merge_concurrently`: several units in flight inside one task, bounded, failing loudly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from rest_stream.executor.merging import merge_concurrently


def numbers(lo: int, hi: int, delay: float = 0.0) -> Iterator[int]:
    for n in range(lo, hi):
        if delay:
            time.sleep(delay)
        yield n


def test_every_item_once_and_each_source_in_order() -> None:
    sources = [lambda lo=lo: numbers(lo, lo + 50) for lo in range(0, 500, 50)]
    got = list(merge_concurrently(sources, width=4))
    assert sorted(got) == list(range(500))
    for lo in range(0, 500, 50):
        mine = [n for n in got if lo <= n < lo + 50]
        assert mine == list(range(lo, lo + 50))


def test_width_sources_run_at_once() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def source() -> Iterator[int]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        yield 1

    assert sum(merge_concurrently([source] * 12, width=3)) == 12
    assert peak == 3


def test_an_error_in_one_source_is_raised_and_stops_the_others() -> None:
    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            n += 1
            yield n

    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("page 7 is not JSON")

    with pytest.raises(ValueError, match="page 7 is not JSON"):
        list(merge_concurrently([endless, broken], width=2, buffer=4))
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) <= count + 1  # the endless source stopped


def test_memory_is_bounded_by_the_buffer() -> None:
    produced = []

    def source() -> Iterator[int]:
        for n in range(1000):
            produced.append(n)
            yield n

    merged = merge_concurrently([source, source], width=2, buffer=3)
    next(merged)
    time.sleep(0.2)
    assert len(produced) <= 3 + 2 + 2  # buffer, one item held by each thread, one taken
    merged.close()


def test_sequential_when_width_is_one() -> None:
    order = list(merge_concurrently([lambda: numbers(0, 3), lambda: numbers(3, 6)], width=1))
    assert order == [0, 1, 2, 3, 4, 5]
