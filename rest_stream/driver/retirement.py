"""Streams a parent endpoint no longer lists: kept in the offset for a grace period
(`streamRetireSeconds`), then retired, so an offset does not grow forever.

The offset records when each stream was first missing from the list (`unlisted`, epoch
seconds), so the decision is the same after a restart. A stream listed again within the grace
period goes on from its position; one listed again after it starts anew at `initialOffset`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The offset's key for when each unlisted stream was first missing.
UNLISTED = "unlisted"


def retire(
    positions: Mapping[str, Any],
    listed: Iterable[str],
    unlisted: Mapping[str, float],
    now: float,
    grace: float,
) -> tuple[dict[str, Any], dict[str, float], list[str]]:
    """The positions to keep, when each kept stream that is not listed was first missing,
    and the streams retired now.

    >>> retire({"a": 1, "b": 2, "c": 3}, ["a"], {"b": 0.0}, now=100.0, grace=50.0)
    ({'a': 1, 'c': 3}, {'c': 100.0}, ['b'])
    """
    listed = set(listed)
    kept: dict[str, Any] = {}
    missing: dict[str, float] = {}
    retired: list[str] = []
    for key, position in positions.items():
        if key in listed:
            kept[key] = position
            continue
        since = float(unlisted.get(key, now))
        if now - since > grace:
            retired.append(key)
            continue
        kept[key] = position
        missing[key] = since
    return kept, missing, retired
