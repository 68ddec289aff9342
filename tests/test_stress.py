"""The stress harness (tests/stress): its plans and checks, and one tiny seeded round on Spark."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.stress.kinds import KINDS, link_body_support, reader_options
from tests.stress.plan import Kill, RunAvailableNow, Start, Stop, make_round
from tests.stress.runner import batch_ids, exactly_once_problems, run_round


def test_rounds_replay_from_their_seed_and_restart_both_ways() -> None:
    kinds = list(KINDS)
    for index in range(30):
        rnd = make_round(42, index, kinds)
        assert rnd.describe() == make_round(42, index, kinds).describe()
        assert rnd.setup.kind == kinds[index % len(kinds)]
        assert any(isinstance(a, Kill) for a in rnd.actions)
        clean = [a for a in rnd.actions[:-1] if isinstance(a, (Stop, RunAvailableNow))]
        assert clean, "every round restarts after a clean end too"
        assert isinstance(rnd.actions[-1], RunAvailableNow)
        starts = [a for a in rnd.actions if isinstance(a, Start)]
        assert len(starts) == sum(isinstance(a, Stop) for a in rnd.actions)
    assert make_round(42, 0, kinds).describe() != make_round(43, 0, kinds).describe()


def test_every_kind_builds_valid_reader_options() -> None:
    from rest_stream.options.parse import parse_options

    for kind in KINDS.values():
        for variant in kind.variants:
            options = reader_options(kind.name, variant, "http://127.0.0.1:1", 20, ["eu"], 40, 2)
            wanted = "cursor" if kind.name == "newest" else kind.name  # a newest-first cursor
            assert parse_options(options).stream.offset_type in ("link", wanted)


def test_link_from_the_body_is_detected_as_supported() -> None:
    assert link_body_support() is None  # so the default kinds include link-body


def test_exactly_once_problems_names_duplicates_gaps_and_strangers() -> None:
    expected = {"eu": [1, 3, 5, 7], "us": [2, 4]}
    assert exactly_once_problems([(1, "eu"), (3, "eu"), (2, "us")], expected, False) == []
    assert exactly_once_problems([(1, "eu"), (3, "eu"), (2, "us")], expected, True) == [
        "stream 'eu': missing ids [5, 7] (2) of 4",
        "stream 'us': missing ids [4] (1) of 2",
    ]
    problems = exactly_once_problems([(1, "eu"), (1, "eu"), (5, "eu"), (9, "us")], expected, False)
    assert problems == [
        "stream 'eu': duplicated ids [1] (1)",
        "stream 'eu': gaps (ids before later ones committed) [3] (1) of 4",
        "stream 'us': ids the API never served [9] (1)",
        "stream 'us': gaps (ids before later ones committed) [2] (1) of 2",
    ]
    assert exactly_once_problems([(8, "mars")], expected, False)[0].startswith("stream 'mars'")


def test_batch_ids_read_checkpoint_and_compacted_sink_logs(tmp_path: Path) -> None:
    for name in ("0", "1", ".1.crc", "9.compact", "tmp"):
        (tmp_path / name).write_text("")
    assert batch_ids(tmp_path) == {0, 1, 9}
    assert batch_ids(tmp_path / "absent") == set()


def test_one_seeded_round_survives_faults_a_sigkill_and_restarts(spark, tmp_path) -> None:
    """`make stress` in miniature: kind cursor, one SIGKILL, one clean restart, exact sink."""
    stats: Counter[str] = Counter()
    rnd = make_round(75, 0, ["cursor"], kills=1, extra=0)  # 5xx, 429, drops; no slow faults
    try:
        run_round(spark, rnd, tmp_path, stats)
    except AssertionError:
        print(rnd.describe())
        raise
    assert stats["rounds"] == 1 and stats["kills"] == 1
    assert stats["restarts"] >= 2 and stats["checks"] >= 3
