"""The stress test's actions and their seeded generator (pure: no Spark, no network).

A round is a `Setup` and a list of actions; `str(action)` is a readable line of the replay
printed on failure. Every query start carries its own `batchSize` / `numPartitions`, so the
options change between restarts. Each round restarts at least once after a SIGKILL and once
after a clean stop (or a completed `availableNow` run), and ends with a final `availableNow`
run whose sink must equal the API exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, fields

from tests.stress.kinds import KINDS

REGIONS = ("eu", "us", "apac", "latam", "mena")
FAULTS = ("5xx", "429", "drop", "slow", "timeout")
#: When a child query is SIGKILLed: a random moment while a batch runs, right after the
#: offset log is written (`offsets/N` without `commits/N`), or after the sink committed
#: batch N but before the checkpoint did.
KILL_POINTS = ("mid-batch", "offset-logged", "sink-committed")


class Action:
    """One step of a round; printed as `Name(field=value, ...)`, defaults left out."""

    def __str__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)]  # type: ignore[arg-type]
        return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class Setup(Action):
    """A fresh demo API and checkpoint: `records` records over `regions` (the inputData)."""

    kind: str
    variant: str
    regions: tuple[str, ...]
    records: int
    limit: int
    latency_ms: float


@dataclass(frozen=True)
class Append(Action):
    """Append `n` records to `region` (None: dealt round-robin over every served region)."""

    n: int
    region: str | None = None


@dataclass(frozen=True)
class AddStream(Action):
    """Serve a new region with `n` records and add it to inputData from the next start."""

    region: str
    n: int


@dataclass(frozen=True)
class Inject(Action):
    """Queue `count` faults of one kind on `path` (capped so retries always suffice)."""

    path: str
    fault: str
    count: int


@dataclass(frozen=True)
class RunAvailableNow(Action):
    """Run the query in-process with `availableNow` to the end; the sink must equal the API."""

    batch_size: int | None
    partitions: int | None


@dataclass(frozen=True)
class Start(Action):
    """Start the query in-process (processingTime 0): it runs while the next actions do."""

    batch_size: int | None
    partitions: int | None


@dataclass(frozen=True)
class Stop(Action):
    """`query.stop()` the in-process query `after` seconds after its first batch was logged."""

    after: float


@dataclass(frozen=True)
class Kill(Action):
    """Run the query in a child process and SIGKILL it at `point`, after `skip` batches.

    `append` records arrive (round-robin) while the child runs; `delay` is how long into a
    batch a `mid-batch` kill waits.
    """

    point: str
    batch_size: int | None
    partitions: int | None
    skip: int
    delay: float
    append: int


@dataclass(frozen=True)
class Round:
    """Everything one round does, reproducible from its seed."""

    index: int
    seed: int
    setup: Setup
    actions: tuple[Action, ...]

    def describe(self) -> str:
        lines = [f"round {self.index} (round seed {self.seed}):", f"  {self.setup}"]
        lines += [f"  {i:2d}. {a}" for i, a in enumerate(self.actions, 1)]
        return "\n".join(lines)


def round_seed(seed: int, index: int) -> int:
    """The seed of round `index` of a run seeded `seed` (stable across Python versions)."""
    return (seed * 1_000_003 + index * 7_919) % 2**31


def make_round(
    seed: int,
    index: int,
    kinds: Sequence[str],
    kills: int | None = None,
    extra: int | None = None,
) -> Round:
    """Round `index` of a run seeded `seed`, over kind `kinds[index % len(kinds)]`.

    `kills` (default 1-2) SIGKILLed child runs and `extra` (default 0-2) more query blocks
    can be fixed, e.g. to keep a smoke round short.
    """
    rng = random.Random(round_seed(seed, index))
    kind = kinds[index % len(kinds)]
    setup = Setup(
        kind=kind,
        variant=rng.choice(KINDS[kind].variants),
        regions=tuple(REGIONS[: rng.randint(1, 3)]),
        records=rng.randint(20, 200),
        limit=rng.choice((7, 20, 50)),
        latency_ms=rng.choice((0.0, 5.0, 15.0)),
    )
    actions = _actions(rng, setup, kills, extra)
    return Round(index, round_seed(seed, index), setup, tuple(actions))


def _options(rng: random.Random) -> tuple[int | None, int | None]:
    """`batchSize` / `numPartitions` of an in-process run (batches stay few: it runs to the end)."""
    batch_size = rng.choice((None, None, 60, 150, 400))
    partitions = rng.choice((None, 1, 2, 3, 5))
    return batch_size, partitions


def _actions(
    rng: random.Random, setup: Setup, kills: int | None, extra: int | None
) -> list[Action]:
    paths = KINDS[setup.kind].paths(setup.variant)
    served = list(setup.regions)
    kill_count = kills if kills is not None else rng.choice((1, 1, 2))
    blocks = ["kill"] * kill_count + [rng.choice(("session", "available-now"))]
    more = extra if extra is not None else rng.randint(0, 2)
    blocks += rng.choices(("session", "available-now", "kill"), (2, 2, 1), k=more)
    rng.shuffle(blocks)
    actions: list[Action] = []
    for block in blocks:
        actions += _between(rng, paths, served)
        if block == "kill":
            actions.append(Append(rng.randint(150, 450)))  # a backlog for batches to be in flight
            actions.append(_kill(rng))
        elif block == "session":
            actions.append(Start(*_options(rng)))
            actions += _between(rng, paths, served, running=True)
            actions.append(Stop(round(rng.uniform(0.2, 2.5), 2)))
        else:
            actions.append(RunAvailableNow(*_options(rng)))
    actions += _between(rng, paths, served)
    actions.append(RunAvailableNow(*_options(rng)))
    return actions


def _kill(rng: random.Random) -> Kill:
    return Kill(
        point=rng.choice(KILL_POINTS),
        batch_size=rng.choice((13, 40, 90, 150)),  # several batches, so one is in flight
        partitions=rng.choice((None, 1, 2, 3)),
        skip=rng.choice((0, 0, 1, 2)),
        delay=round(rng.uniform(0.0, 0.6), 2),
        append=rng.choice((0, 0, 30, 120)),
    )


def _between(
    rng: random.Random, paths: Sequence[str], served: list[str], running: bool = False
) -> list[Action]:
    """Data and faults between two query actions (or while an in-process query runs)."""
    actions: list[Action] = []
    for _ in range(rng.randint(1 if running else 0, 3)):
        roll = rng.random()
        if roll < 0.45:
            region = rng.choice([None, *served])
            actions.append(Append(rng.randint(1, 120), region))
        elif roll < 0.9:
            actions.append(Inject(rng.choice(paths), rng.choice(FAULTS), rng.randint(1, 3)))
        elif len(served) < len(REGIONS):
            region = REGIONS[len(served)]
            served.append(region)
            actions.append(AddStream(region, rng.randint(0, 60)))
    return actions
