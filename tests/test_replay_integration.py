"""Replays on real Spark: a batch logged but never committed (a crash before the commit) is
read again with exactly its records, even when its last page has grown since and now names
another next position."""

from __future__ import annotations

import pytest

from tests.test_partitioning_integration import delivered, stream_with_batches

#: Chain kinds whose partial last page names a next position that moves as the page grows:
#: a cursor after the page's last record, a timestamp (tests/test_offsets.py has the rest).
CHAINS = {
    "cursor": {
        "url": "{api}/cursor?cursor={{c}}&limit=50",
        "offsetType": "cursor",
        "offsetField": "c",
        "offsetPath": "$.next_cursor",
        "initialOffset": "",
    },
    "timestamp chain": {
        "url": "{api}/events?since={{since}}&limit=50",
        "offsetType": "timestamp",
        "offsetField": "since",
        "offsetPath": "$.next_since",
    },
}


@pytest.mark.parametrize("kind", list(CHAINS))
def test_a_replayed_chain_batch_whose_last_page_grew_holds_the_same_records(
    spark, demo_api, tmp_path, kind
):
    api = demo_api(95)  # pages of 50 and 45: the last one can still grow
    options = {k: v.format(api=api.url) for k, v in CHAINS[kind].items()}
    seen: dict[int, list[str]] = {}
    stream_with_batches(spark, options, tmp_path, seen, [])
    last = max(seen)
    commits = tmp_path / "checkpoint" / "commits"
    for name in (str(last), f".{last}.crc"):  # as if killed between the offset log and commit
        (commits / name).unlink(missing_ok=True)
    api.append(30)  # the partial last page fills up before the restart
    stream_with_batches(spark, options, tmp_path, seen, [])
    assert len(seen[last]) == 2 and seen[last][-1] == seen[last][0]
    assert delivered(seen) == list(range(1, 126))
