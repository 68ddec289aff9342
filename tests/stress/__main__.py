"""`python -m tests.stress --rounds N --seed S`: the randomized exactly-once stress test.

Prints the seed first; a failing round prints its action list and the command that replays
it, and the exit status is 1. The summary counts rounds, restarts, kills and faults.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tests.stress.kinds import DEFAULT_KINDS, KINDS, link_body_support
from tests.stress.plan import Round, make_round
from tests.stress.runner import HarnessError, Violation, run_round


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.stress", description=__doc__)
    parser.add_argument("--rounds", type=int, default=100, help="number of rounds (100)")
    parser.add_argument("--seed", type=int, default=None, help="run seed (default: random)")
    parser.add_argument("--round", type=int, default=None, help="run only this round (replay)")
    parser.add_argument(
        "--kinds",
        default=None,
        help=f"comma-separated kinds (default: all of {','.join(DEFAULT_KINDS)}; "
        "link-body only when rest_stream supports it)",
    )
    parser.add_argument("--kills", type=int, default=None, help="SIGKILLs per round (1-2)")
    parser.add_argument("--extra", type=int, default=None, help="extra query blocks (0-2)")
    parser.add_argument("--workdir", type=Path, default=None, help="where rounds run")
    parser.add_argument("--keep", action="store_true", help="keep every round's folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each action")
    parser.add_argument("--keep-going", action="store_true", help="run on after a failure")
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="start no round after this long"
    )
    return parser.parse_args(argv)


def choose_kinds(requested: str | None) -> tuple[list[str], str | None]:
    """The kinds to run and, when link-body is left out by default, why."""
    if requested:
        kinds = [k.strip() for k in requested.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise SystemExit(f"unknown kinds {unknown}; known: {', '.join(KINDS)}")
        return kinds, None
    reason = link_body_support()
    kinds = [k for k in DEFAULT_KINDS if k != "link-body" or reason is None]
    return kinds, reason


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big") % 10**6
    kinds, left_out = choose_kinds(args.kinds)
    print(f"stress: seed {seed}, kinds {','.join(kinds)}", flush=True)
    if left_out:
        print(f"stress: NOT RUN link-body (offsetType=link + offsetPath): {left_out}", flush=True)
    from rest_stream.demo.spark import local_spark

    spark = local_spark("rest_stream stress", **{"spark.sql.streaming.pollingDelay": "10ms"})
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rest-stress-"))
    stats: Counter[str] = Counter()
    failures: list[str] = []
    indexes = [args.round] if args.round is not None else range(args.rounds)
    began = time.monotonic()
    for index in indexes:
        if args.max_seconds is not None and time.monotonic() - began > args.max_seconds:
            print(f"stress: time budget spent after {stats['rounds']} rounds", flush=True)
            break
        rnd = make_round(seed, index, kinds, args.kills, args.extra)
        started = time.monotonic()
        try:
            run_round(spark, rnd, work, stats, keep=args.keep, verbose=args.verbose)
        except (Violation, HarnessError) as exc:
            replay = replay_command(seed, index, kinds, args)
            failures.append(report_failure(rnd, exc, replay, work / f"round-{index}"))
            if not args.keep_going:
                break
            continue
        took = time.monotonic() - started
        print(f"round {index}: {rnd.setup.kind}/{rnd.setup.variant} ok in {took:.0f} s", flush=True)
    print(summary(stats, failures, seed, time.monotonic() - began), flush=True)
    spark.stop()
    return 1 if failures else 0


def replay_command(seed: int, index: int, kinds: Sequence[str], args: argparse.Namespace) -> str:
    """The command that runs round `index` again, exactly as generated this time."""
    command = f"python -m tests.stress --seed {seed} --round {index} --kinds {','.join(kinds)}"
    for name in ("kills", "extra"):
        if getattr(args, name) is not None:
            command += f" --{name} {getattr(args, name)}"
    return command


def report_failure(rnd: Round, exc: Exception, replay: str, folder: Path) -> str:
    """Print the failure, the round's actions and how to replay it; returns a summary line."""
    kind = "EXACTLY-ONCE VIOLATION" if isinstance(exc, Violation) else "HARNESS FAILURE"
    print(
        f"\n{kind} in round {rnd.index}: {exc}\n{rnd.describe()}\nreplay: {replay}\n"
        f"folder: {folder}\n",
        file=sys.stderr,
        flush=True,
    )
    return f"round {rnd.index} {rnd.setup.kind}/{rnd.setup.variant}: {kind.lower()}"


def summary(stats: Counter[str], failures: list[str], seed: int, seconds: float) -> str:
    """Rounds, restarts, kills, faults and failures of the run, one fact a line."""
    lines = [f"stress summary (seed {seed}, {seconds:.0f} s):"]
    lines += [f"  {name}: {stats[name]}" for name in sorted(stats)]
    lines.append(f"  failures: {len(failures)}")
    lines += [f"    {f}" for f in failures]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
