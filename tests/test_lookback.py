"""`lookbackSeconds` without Spark: the window and digest logic (pure), a poll on the driver
(`LookbackRange.look_back`), and the stream reader's own calls against a real HTTP API on
127.0.0.1 with late records, replays of logged batches and restarts from logged offsets.

The clock is a fake (`now_micros`), so positions and windows are exact."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from late_api import LateApi
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows
from pyspark.sql.types import LongType, StringType, StructField, StructType

from rest_stream.decoders.jsonpath import extract_records
from rest_stream.driver.planner import WINDOW
from rest_stream.errors import RestOffsetError
from rest_stream.options.parse import parse_options
from rest_stream.positions import LookbackRange, TimestampRange, offset_kind
from rest_stream.positions.lookback import DIGEST_BYTES, Dedup, Window, digest
from rest_stream.stream_reader import RestStreamReader

S = 1_000_000  # a second in microseconds
T0 = 1_700_000_000  # the fake clock starts here (epoch seconds)
SCHEMA = StructType(
    [
        StructField("id", LongType()),
        StructField("ts", LongType()),
        StructField("region", StringType()),
    ]
)


# --- digests and windows (pure) -----------------------------------------------------------------


def test_a_digest_names_a_key_at_a_timestamp() -> None:
    at = 1_700_000_000 * S
    assert len(digest(7, at)) == DIGEST_BYTES
    assert digest(7, at) == digest(7, at)
    assert digest(7, at + 1) != digest(7, at)  # an update is a new version
    assert digest(8, at) != digest(7, at)
    assert digest("7", at) != digest(7, at)  # the key's JSON type counts
    assert digest({"b": 1, "a": 2}, at) == digest({"a": 2, "b": 1}, at)  # canonical JSON


def window_of(*versions: tuple[str, int], start: int = 0) -> Window:
    """A window from `start` (seconds) with the digests of `(key, second)` versions."""
    found = {digest(key, second * S): second * S for key, second in versions}
    return Window(start * S).advanced(start * S, found)


def test_a_window_advances_by_pruning_what_is_at_or_before_its_new_start() -> None:
    window = window_of(("a", 10), ("b", 11), ("c", 11), ("d", 20), start=5)
    assert sorted(window.buckets) == [10, 11, 20] and window.count == 4
    later = window.advanced(11 * S, {digest("e", 21 * S): 21 * S, digest("x", 9 * S): 9 * S})
    # second 11 may hold stamps after 11.000000 s: kept whole; 10 and 9 are gone
    assert sorted(later.buckets) == [11, 20, 21] and later.start == 11 * S
    assert later.digests() == {
        digest(k, t * S) for k, t in [("b", 11), ("c", 11), ("d", 20), ("e", 21)]
    }
    assert window.advanced(20 * S, {}).count == 1  # stamps after 20 s: only second 20's own


def test_a_window_in_the_offset_is_sorted_json_and_comes_back_the_same() -> None:
    window = window_of(("b", 11), ("a", 11), ("z", 3), start=2)
    kept = window.to_offset(2)
    assert list(kept) == ["every", "from", "seen"] and list(kept["seen"]) == ["11", "3"]
    assert json.loads(json.dumps(kept)) == kept
    assert Window.from_offset(kept, 2 * S) == window
    again = window_of(("a", 11), ("z", 3), ("b", 11), start=2).to_offset(2)
    assert again == kept  # the same versions, the same text: Spark compares offsets as text


def test_a_long_window_groups_its_digests_by_a_sixtieth_of_it() -> None:
    kind = lookback_kind(lookbackSeconds="3600")
    window = kind.window(None, 0)
    assert window.every == 60
    found = {digest(k, t * S): t * S for k, t in [("a", 119), ("b", 120), ("c", 179), ("d", 180)]}
    window = window.advanced(0, found)
    assert {g: len(blob) // DIGEST_BYTES for g, blob in window.buckets.items()} == {
        60: 1,
        120: 2,
        180: 1,
    }
    later = window.advanced(150 * S, {})  # group 120 may hold 179 s: kept whole
    assert sorted(later.buckets) == [120, 180] and later.every == 60
    kept = later.to_offset(150)
    assert kept["every"] == 60 and Window.from_offset(kept, 150 * S) == later
    assert Window.from_offset({"from": 0, "seen": {}}, 0).every == 1
    assert window.within(150 * S, 160 * S) == window.buckets[120]


def test_within_gives_the_digests_of_the_seconds_that_overlap_a_range() -> None:
    window = window_of(("a", 10), ("b", 11), ("c", 12), start=0)
    assert window.within(10 * S, 11 * S) == digest("a", 10 * S) + digest("b", 11 * S)
    assert len(window.within(12 * S, 20 * S)) == 1 * DIGEST_BYTES  # second 12 may hold 12.5
    assert window.within(13 * S, 20 * S) == b""


class Versions:
    """What `Dedup.select` needs of the kind: each record's digest and timestamp."""

    def versions(self, source: str, records: list[dict[str, Any]]) -> list[tuple[bytes, int]]:
        return [(digest(r["id"], r["ts"] * S), r["ts"] * S) for r in records]


def test_dedup_delivers_new_versions_up_to_the_cut_and_listed_ones_after_it() -> None:
    records = [
        {"id": 1, "ts": 10},  # delivered before: in `seen`
        {"id": 2, "ts": 10},  # late, before the cut: delivered
        {"id": 3, "ts": 30},  # after the cut, listed: delivered
        {"id": 4, "ts": 30},  # after the cut, not listed (appeared after the plan): waits
        {"id": 2, "ts": 10},  # the same version twice on a page: once
        {"id": 1, "ts": 31},  # an update of 1, listed: delivered
    ]
    keep = Dedup(digest(1, 10 * S), digest(3, 30 * S) + digest(1, 31 * S), cut=20 * S)
    pages = list(keep.select(Versions(), [("u", records)]))  # type: ignore[arg-type]
    assert [(r["id"], r["ts"]) for _, page in pages for r in page] == [(2, 10), (3, 30), (1, 31)]
    assert repr(keep) == f"Dedup(seen=1, listed=2, cut={20 * S})"


# --- a poll on the driver ---------------------------------------------------------------------


class FakeFetcher:
    """`fetch` over a list of records `{"id", "ts"}`: `since` exclusive, oldest first."""

    def __init__(self, records: list[dict[str, Any]], limit: int = 3) -> None:
        self.records = records
        self.limit = limit
        self.requests: list[str] = []

    def fetch(self, spec: Any, *, keep_body: bool = False, decode: bool = True) -> Any:
        from rest_stream.http.pages import Page

        since = float(spec.url.split("since=")[1].split("&")[0])
        self.requests.append(str(since))
        rows = sorted(self.records, key=lambda r: (r["ts"], r["id"]))
        page = [r for r in rows if r["ts"] > since][: self.limit]
        return Page(extract_records(page, None), page, {}, spec.url, 200)

    def fetch_ordered(self, specs: Any) -> Iterator[Any]:
        return (self.fetch(spec) for spec in specs)


def lookback_kind(**raw: str) -> LookbackRange:
    options = {
        "url": "https://api.example.com/events?since={since}",
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.ts",
        "lookbackSeconds": "10",
        "primaryKeyPath": "$.id",
        **raw,
    }
    kind = offset_kind(parse_options(options))
    assert isinstance(kind, LookbackRange)
    return kind


def test_offset_kind_is_a_lookback_range_only_with_lookback_seconds() -> None:
    assert type(lookback_kind()) is LookbackRange
    plain = {"url": "https://a.example.com/?s={s}", "offsetType": "timestamp", "offsetField": "s"}
    assert type(offset_kind(parse_options({**plain, "recordOffsetPath": "$.ts"}))) is TimestampRange
    assert lookback_kind().arrow_guards({"ts": None}) is None  # digests from parsed JSON


def test_the_first_poll_lists_the_versions_after_end_minus_lookback() -> None:
    kind = lookback_kind()
    api = FakeFetcher([{"id": i, "ts": 100 + i} for i in range(1, 21)])  # ts 101 .. 120
    end, window = kind.look_back(api, {}, 0, kind.window(None, 0), 120)
    assert end == 120 and window.start == 110 * S
    assert window.digests() == {digest(i, (100 + i) * S) for i in range(11, 21)}
    assert api.requests[0] == "110.0"  # the long batch: only the window is read here


def test_a_poll_that_finds_nothing_new_leaves_the_stream_where_it_is() -> None:
    kind = lookback_kind()
    api = FakeFetcher([{"id": i, "ts": 100 + i} for i in range(1, 21)])
    end, window = kind.look_back(api, {}, 0, kind.window(None, 0), 120)
    before = len(api.requests)
    again = kind.look_back(api, {}, end, window, 125)  # the clock moved, nothing appeared
    assert again == (120, window)
    assert api.requests[before] == "110.0"  # read from the window's start: all of the batch


def test_a_late_record_and_an_update_are_found_and_listed() -> None:
    kind = lookback_kind()
    records = [{"id": i, "ts": 100 + i} for i in range(1, 21)]
    api = FakeFetcher(records)
    end, window = kind.look_back(api, {}, 0, kind.window(None, 0), 120)
    records += [{"id": 99, "ts": 115}]  # late: older than the position 120
    records[19] = {"id": 20, "ts": 121}  # record 20 updated
    end, after = kind.look_back(api, {}, end, window, 122)
    assert end == 122 and after.start == 112 * S
    new = after.digests() - window.digests()
    assert new == {digest(99, 115 * S), digest(20, 121 * S)}
    assert digest(11, 111 * S) not in after.digests()  # pruned: at or before 112


def test_a_window_that_outgrows_lookback_max_keys_fails_naming_it() -> None:
    kind = lookback_kind(lookbackMaxKeys="5")
    api = FakeFetcher([{"id": i, "ts": 100 + i} for i in range(1, 21)])
    with pytest.raises(RestOffsetError) as info:
        kind.look_back(api, {}, 0, kind.window(None, 0), 120, stream='{"region":"eu"}')
    assert str(info.value) == (
        'The lookback window of stream {"region":"eu"} holds 6 record versions, more than '
        "lookbackMaxKeys=5: raise lookbackMaxKeys (each version adds about 11 bytes to every "
        "offset Spark logs) or lower lookbackSeconds=10"
    )


def test_a_record_without_a_key_fails_naming_primary_key_path() -> None:
    kind = lookback_kind(primaryKeyPath="$.key")
    api = FakeFetcher([{"id": 1, "ts": 115}])
    with pytest.raises(
        RestOffsetError, match=r"Record 0 of .* has no value at primaryKeyPath=\$\.key"
    ):
        kind.look_back(api, {}, 0, kind.window(None, 0), 120)


def test_a_missing_window_starts_at_the_position_and_an_empty_one_is_not_kept() -> None:
    kind = lookback_kind(timestampFormat="iso8601", initialOffset="2023-11-14T22:13:20Z")
    window = kind.window(None, "2023-11-14T22:13:20Z")
    assert window == Window(1_700_000_000 * S)
    assert kind.window_offset(window, "2023-11-14T22:13:20Z") is None
    moved = kind.window_offset(Window(1_700_000_000 * S), "2023-11-14T22:14:00Z")
    assert moved == {"every": 1, "from": "2023-11-14T22:13:20Z", "seen": {}}


# --- the stream reader's calls over HTTP, with a fake clock ---------------------------------------


class Clock:
    """`now_micros` for the timestamp kinds: seconds that move only when told."""

    def __init__(self, seconds: int = T0) -> None:
        self.seconds = seconds

    def __call__(self) -> int:
        return self.seconds * S


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("rest_stream.positions.times.now_micros", fake)
    return fake


def options(api: LateApi, **raw: str) -> dict[str, str]:
    return {
        "url": f"{api.url}/events?since={{since}}&limit=7",
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.ts",
        "lookbackSeconds": "60",
        "primaryKeyPath": "$.id",
        "streamingInterval": "0",
        "numPartitions": "3",
        **raw,
    }


def new_reader(raw: dict[str, str]) -> RestStreamReader:
    return RestStreamReader(parse_options(raw), SCHEMA)


def run(
    reader: RestStreamReader, start: dict[str, Any], end: dict[str, Any]
) -> list[tuple[int, int]]:
    """The (id, ts) of every row batch `(start, end)` delivers, as executors read it."""
    rows = []
    for partition in reader.partitions(start, end):
        for batch in reader.read(partition):
            rows += zip(batch.column("id").to_pylist(), batch.column("ts").to_pylist())
    return rows


def test_late_records_arrive_once_across_replays_and_restarts(clock: Clock) -> None:
    with LateApi() as api:
        api.add(*range(T0 - 300, T0 - 100))  # 200 records, one a second
        raw = options(api)
        reader = new_reader(raw)
        start = reader.initialOffset()
        first = reader.latestOffset(start, ReadAllAvailable())
        got = run(reader, start, first)
        assert sorted(got) == sorted(api.versions())
        position = first["streams"]["{}"]
        assert position == T0 - 1  # the horizon: the last whole second before now
        assert first[WINDOW]["{}"]["from"] == position - 60

        late = api.add(T0 - 30, T0 - 20)  # stamped before the position, within the lookback
        clock.seconds += 5
        second = reader.latestOffset(first, ReadAllAvailable())
        more = api.add(T0 - 10)  # appears after the batch was planned (logged)
        delivered = run(reader, first, second)
        assert sorted(i for i, _ in delivered) == late
        # a replay of the logged batch (a crash before its commit) delivers the same records:
        # the one that appeared since is left for the next batch
        assert sorted(run(new_reader(raw), first, second)) == sorted(delivered)
        got += delivered

        api.update(late[0], T0 - 4)  # an update: the same key, a newer timestamp
        restarted = new_reader(raw)  # a restart from the checkpoint: offsets only
        third = restarted.latestOffset(second, ReadAllAvailable())
        delivered = run(restarted, second, third)
        assert sorted(delivered) == sorted([(more[0], T0 - 10), (late[0], T0 - 4)])
        got += delivered
        clock.seconds += 5
        assert restarted.latestOffset(third, ReadAllAvailable()) == third  # nothing new
    assert len(got) == len(set(got)) == 200 + 2 + 1 + 1


def test_iso_positions_keep_an_iso_window_and_late_records_arrive_once(clock: Clock) -> None:
    schema = StructType([StructField("id", LongType()), StructField("ts", StringType())])
    with LateApi(iso=True) as api:
        api.add(*range(T0 - 100, T0 - 40))
        raw = options(api, timestampFormat="iso8601", initialOffset="2023-01-01T00:00:00Z")
        reader = RestStreamReader(parse_options(raw), schema)
        start = reader.initialOffset()
        first = reader.latestOffset(start, ReadAllAvailable())
        assert first["streams"]["{}"] == "2023-11-14T22:13:19Z"  # T0 - 1
        assert first[WINDOW]["{}"]["from"] == "2023-11-14T22:12:19Z"
        got = [
            i
            for p in reader.partitions(start, first)
            for b in reader.read(p)
            for i in b["id"].to_pylist()
        ]
        late = api.add(T0 - 30)
        clock.seconds += 2
        second = reader.latestOffset(first, ReadAllAvailable())
        got += [
            i
            for p in reader.partitions(first, second)
            for b in reader.read(p)
            for i in b["id"].to_pylist()
        ]
    assert sorted(got) == list(range(1, 61)) + late


def test_without_lookback_records_that_appear_late_are_missed(clock: Clock) -> None:
    with LateApi() as api:
        api.add(*range(T0 - 300, T0 - 100))
        raw = options(api)
        for name in ("lookbackSeconds", "primaryKeyPath"):
            raw.pop(name)
        reader = new_reader(raw)
        start = reader.initialOffset()
        first = reader.latestOffset(start, ReadAllAvailable())
        got = run(reader, start, first)
        api.add(T0 - 30, T0 - 20)
        clock.seconds += 5
        second = reader.latestOffset(first, ReadAllAvailable())
        got += run(reader, first, second)
    assert len(got) == 200  # the two late records are never read
    assert WINDOW not in second


def test_streams_keep_their_own_windows(clock: Clock) -> None:
    with LateApi(regions=("eu", "us")) as api:
        api.add(*range(T0 - 100, T0 - 40))
        raw = options(api, inputData='[{"region": "eu"}, {"region": "us"}]')
        reader = new_reader(raw)
        start = reader.initialOffset()
        first = reader.latestOffset(start, ReadAllAvailable())
        got = run(reader, start, first)
        assert set(first[WINDOW]) == {'{"region":"eu"}', '{"region":"us"}'}
        api.add(T0 - 50, region="us")
        clock.seconds += 3
        second = reader.latestOffset(first, ReadAllAvailable())
        assert second[WINDOW]['{"region":"eu"}'] == first[WINDOW]['{"region":"eu"}']
        assert second["streams"]['{"region":"eu"}'] == first["streams"]['{"region":"eu"}']
        got += run(reader, first, second)
        for region in ("eu", "us"):
            assert {(i, t) for i, t in got if (i, t) in api.versions(region)} == api.versions(
                region
            )
    assert len(got) == len(set(got)) == 61


@pytest.mark.parametrize("seed", range(16))
def test_randomized_late_records_replays_and_restarts_deliver_every_version_once(
    clock: Clock, seed: int
) -> None:
    """Polls while records appear up to `lookbackSeconds` late, with updates; a logged batch
    is run again after a crash (its first run lost, or its first run kept by the sink and the
    second thrown away), the reader restarts from the offsets, `batchSize` changes."""
    rng = random.Random(seed)
    lookback = rng.choice((20, 60))
    with LateApi(regions=("eu", "us")) as api:
        api.add(*sorted(rng.randint(T0 - 400, T0 - 5) for _ in range(rng.randint(0, 150))))
        inputs = '[{"region": "eu"}, {"region": "us"}]' if rng.random() < 0.5 else "[]"
        raw = options(api, lookbackSeconds=str(lookback), inputData=inputs)
        reader = new_reader(raw)
        offset = reader.initialOffset()
        kept: list[tuple[int, int]] = []  # what the sink committed
        for _ in range(25):
            for _ in range(rng.randint(0, 4)):  # records that appear now, up to `lookback` late
                api.add(clock.seconds - rng.randint(0, lookback - 3))
            if api.records and rng.random() < 0.2:  # an update of a delivered record
                record_id = rng.choice(sorted({i for i, _ in kept} or {1}))
                if (record_id, api.records[record_id]["ts"]) in kept:
                    api.update(record_id, clock.seconds - rng.randint(0, 2))
            budget = rng.choice((None, None, 5, 40))
            limit = ReadMaxRows(budget) if budget else ReadAllAvailable()
            end = reader.latestOffset(offset, limit)
            if end == offset:
                clock.seconds += rng.randint(1, 8)
                continue
            crash = rng.choice(("none", "none", "before commit", "after sink"))
            if rng.random() < 0.5:
                api.add(clock.seconds - rng.randint(0, lookback - 3))  # while the batch runs
            rows = run(reader, offset, end)
            if rng.random() < 0.5:
                api.add(clock.seconds - rng.randint(0, lookback - 3))  # before the replay
            if crash != "none":
                reader = new_reader(raw)  # restarted: the logged batch runs again
                again = run(reader, offset, end)
                assert sorted(again) == sorted(rows), "a replay delivers what the batch did"
                rows = again if crash == "before commit" else rows
            kept += rows
            offset = end
            clock.seconds += rng.randint(1, 8)
        clock.seconds += lookback + 5  # everything settles: no more appends
        while True:
            end = reader.latestOffset(offset, ReadAllAvailable())
            if end == offset:
                break
            kept += run(reader, offset, end)
            offset = end
        served = api.versions()
    duplicates = sorted(v for v in set(kept) if kept.count(v) > 1)
    assert duplicates == []
    assert served <= set(kept), sorted(served - set(kept))[:10]  # the latest of each record
    assert len(json.dumps(offset)) < 20_000
