"""An API of events whose timestamps can be older than records it already served: what
`lookbackSeconds` is for.

`/events?since=t&limit=n[&region=r]` returns the records with `ts > t` (epoch seconds or
ISO-8601, an exclusive bound), oldest first (by `ts`, then `id`), `n` a page; `/newest` names
the newest `ts`. `add(ts)` appends a record stamped `ts`, which may be older than the newest;
`update(id, ts)` stamps a record anew, as an API lists a record by its `updated_at` (the old
version is no longer served). Imported as `late_api` (as `loopback` is) by the tests.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from loopback import Loopback, Reply, Seen

from rest_stream.demo.server import parse_timestamp, to_iso


class LateApi:
    """The records, and a `Loopback` server that serves them (start it with `with`)."""

    def __init__(self, regions: tuple[str, ...] = ("eu",), iso: bool = False) -> None:
        self.regions = regions
        self.iso = iso  # stamps written as ISO-8601 (`2023-11-14T22:13:20Z`), else seconds
        self.records: dict[int, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds each `/events` answer waits (batches long enough to kill)
        self.server = Loopback(self.reply)

    def __enter__(self) -> LateApi:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    def add(self, *stamps: int, region: str | None = None) -> list[int]:
        """New records stamped `stamps` (ids go on from the largest); their ids."""
        with self.lock:
            first = max(self.records, default=0) + 1
            ids = list(range(first, first + len(stamps)))
            for i, ts in zip(ids, stamps):
                where = region or self.regions[(i - 1) % len(self.regions)]
                self.records[i] = {"id": i, "ts": int(ts), "region": where, "name": f"r{i}"}
        return ids

    def update(self, record_id: int, ts: int) -> None:
        """Record `record_id` stamped `ts` anew (a new version; the old one is gone)."""
        with self.lock:
            self.records[record_id] = {**self.records[record_id], "ts": int(ts)}

    def versions(self, region: str | None = None) -> set[tuple[int, int]]:
        """(id, ts) of every record the API serves now."""
        with self.lock:
            return {
                (r["id"], r["ts"])
                for r in self.records.values()
                if region is None or r["region"] == region
            }

    def reply(self, seen: Seen) -> Reply:
        with self.lock:
            rows = sorted(self.records.values(), key=lambda r: (r["ts"], r["id"]))
        region = seen.query.get("region")
        rows = [r for r in rows if region is None or r["region"] == region]
        if seen.path == "/newest":
            return Reply.json({"newest": rows[-1]["ts"] if rows else None})
        time.sleep(self.delay)
        since = parse_timestamp(seen.query.get("since") or "0")
        limit = int(seen.query.get("limit") or 50)
        page = [r for r in rows if r["ts"] > since][:limit]
        if self.iso:
            page = [{**r, "ts": to_iso(r["ts"])} for r in page]
        return Reply.json({"data": page})
