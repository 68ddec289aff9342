"""Executes stress rounds on real Spark against the demo API and checks exactly-once delivery.

In-process queries (`RunAvailableNow`, `Start`/`Stop`) share one Spark session; `Kill` runs
the query in a child process (`tests.stress.child`) and SIGKILLs its process group. After every
action that ends a query the sink is checked: per stream, the committed ids are a prefix of
the API's ids without duplicates; after an `availableNow` run they are all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rest_stream.demo import DemoApi, Fault
from tests.stress.kinds import READ_TIMEOUT, SCHEMA, reader_options
from tests.stress.plan import (
    Action,
    AddStream,
    Append,
    Inject,
    Kill,
    Round,
    RunAvailableNow,
    Start,
    Stop,
)

ROOT = Path(__file__).resolve().parents[2]
QUERY_TIMEOUT = 600.0
KILL_TIMEOUT = 150.0
MAX_PENDING_FAULTS = 4  # below maxRetries (6): a request always gets through


class Violation(AssertionError):
    """The sink broke exactly-once: a duplicate, a gap, or a record the API never served."""


class HarnessError(RuntimeError):
    """The round could not run as planned (a query failed, a child never got going...)."""


def batch_ids(folder: Path) -> set[int]:
    """Batch ids of a checkpoint log folder (`N`, or `N.compact` in a sink's metadata log)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return set()
    return {int(n.split(".")[0]) for n in names if n.split(".")[0].isdigit()}


def exactly_once_problems(
    rows: Iterable[tuple[int, str]], expected: dict[str, list[int]], complete: bool
) -> list[str]:
    """What is wrong with the sink `rows` (id, region) given each stream's expected ids.

    Always: no duplicates, nothing unexpected, and each stream's ids a prefix of its
    expected ids (no gaps). With `complete`, every expected id must be there.
    """
    got: dict[str, list[int]] = defaultdict(list)
    for record_id, region in rows:
        got[region].append(record_id)
    problems = [
        f"stream {r!r}: {len(ids)} records from a stream not in inputData"
        for r, ids in got.items()
        if r not in expected
    ]
    for region, want in expected.items():
        ids = got.get(region, [])
        counts = Counter(ids)
        duplicates = sorted(i for i, c in counts.items() if c > 1)
        if duplicates:
            problems.append(f"stream {region!r}: duplicated ids {_few(duplicates)}")
        unknown = sorted(set(counts) - set(want))
        if unknown:
            problems.append(f"stream {region!r}: ids the API never served {_few(unknown)}")
        upto = len(want) if complete else len(counts)
        missing = sorted(set(want[:upto]) - set(counts))
        if missing:
            what = "missing ids" if complete else "gaps (ids before later ones committed)"
            problems.append(f"stream {region!r}: {what} {_few(missing)} of {len(want)}")
    return problems


def _few(ids: list[int], n: int = 12) -> str:
    return f"{ids[:n]}{' ...' if len(ids) > n else ''} ({len(ids)})"


def make_fault(name: str) -> Fault:
    """One injected fault of kind `name` (see `plan.FAULTS`)."""
    if name == "5xx":
        return Fault(status=503)
    if name == "429":
        return Fault.retry_after("1")
    if name == "drop":
        return Fault.drop()
    if name == "slow":
        return Fault.sleep(0.4)
    if name == "timeout":
        return Fault.sleep(READ_TIMEOUT + 0.5)
    raise ValueError(f"unknown fault {name!r}")


class RoundRunner:
    """Runs one `Round` in `work` with the in-process `spark`; counts into `stats`."""

    def __init__(
        self, spark: Any, rnd: Round, work: Path, stats: Counter[str], verbose: bool = False
    ) -> None:
        self.verbose = verbose
        self.spark = spark
        self.round = rnd
        self.setup = rnd.setup
        self.work = work
        self.stats = stats
        self.sink = work / "sink"
        self.checkpoint = work / "checkpoint"
        self.regions = list(rnd.setup.regions)
        self.api: DemoApi | None = None
        self.query: Any = None
        self.starts = 0
        self.last_end = ""
        self.injected: Counter[str] = Counter()
        self.fault_paths: set[str] = set()
        self.step = 0

    # ------------------------------------------------------------------ driving

    def run(self) -> None:
        """Every action in order, then the final check; raises Violation / HarnessError."""
        s = self.setup
        self.api = DemoApi(
            s.records, regions=s.regions, latency_ms=s.latency_ms, clock_stamps=self._clock()
        ).start()
        try:
            for step, action in enumerate(self.round.actions, 1):
                self.step = step
                began = time.monotonic()
                self.do(action)
                if self.verbose:
                    print(f"  {step:2d}. {action}  [{time.monotonic() - began:.1f} s]", flush=True)
        finally:
            self._stop_query()
            self._count_faults()
            self.api.stop()

    def do(self, action: Action) -> None:
        api = self._api()
        if isinstance(action, Append):
            api.append(action.n, action.region)
        elif isinstance(action, AddStream):
            api.add_stream(action.region, action.n)
            self.regions.append(action.region)
        elif isinstance(action, Inject):
            room = MAX_PENDING_FAULTS - api.pending_faults(action.path)
            faults = [make_fault(action.fault) for _ in range(max(0, min(action.count, room)))]
            api.inject(action.path, *faults)
            self.fault_paths.add(action.path)
            self.injected[action.fault] += len(faults)
        elif isinstance(action, RunAvailableNow):
            self._run_available_now(action)
        elif isinstance(action, Start):
            self._start(action.batch_size, action.partitions, available_now=False)
        elif isinstance(action, Stop):
            self._wait_for_first_batch()
            time.sleep(action.after)
            self._stop_query(check=True)
        elif isinstance(action, Kill):
            self._kill(action)
        else:
            raise TypeError(f"unknown action {action}")

    # ------------------------------------------------------------------ in-process queries

    def _options(self, batch_size: int | None, partitions: int | None) -> dict[str, str]:
        s = self.setup
        return reader_options(
            s.kind, s.variant, self._api().url, s.limit, self.regions, batch_size, partitions
        )

    def _count_start(self) -> None:
        self.starts += 1
        if self.starts > 1:
            self.stats["restarts"] += 1
            self.stats[f"restarts after {self.last_end}"] += 1

    def _start(self, batch_size: int | None, partitions: int | None, available_now: bool) -> Any:
        self._count_start()
        reader = self.spark.readStream.format("rest").schema(SCHEMA)
        for key, value in self._options(batch_size, partitions).items():
            reader = reader.option(key, value)
        writer = (
            reader.load()
            .writeStream.format("parquet")
            .option("path", str(self.sink))
            .option("checkpointLocation", str(self.checkpoint))
        )
        trigger = {"availableNow": True} if available_now else {"processingTime": "0 seconds"}
        self.query = writer.trigger(**trigger).start()
        return self.query

    def _clock(self) -> bool:
        """A `timestamp` stream that ends at the clock: the API must stamp records when they
        arrive (the contract: none shows up later with a time before now − lag)."""
        return self.setup.variant == "clock"

    def _run_available_now(self, action: RunAvailableNow) -> None:
        if self._clock():  # the end is the last whole second before now: let it pass the
            time.sleep(2.05)  # newest record, so that this run reads every record
        query = self._start(action.batch_size, action.partitions, available_now=True)
        finished = query.awaitTermination(QUERY_TIMEOUT)
        self.query = None
        if not finished:
            query.stop()
            raise HarnessError(f"availableNow run did not end within {QUERY_TIMEOUT:.0f} s")
        self._raise_if_failed(query)
        self.last_end = "availableNow end"
        self.stats["availableNow runs"] += 1
        self.check(complete=True)

    def _wait_for_first_batch(self, timeout: float = 120.0) -> None:
        """Wait until the checkpoint logged a batch (or the query ended).

        Spark limitation, not the reader's: `query.stop()` while Spark writes `offsets/0`
        leaves `offsets/.0.<uuid>.tmp`, and every later start then fails with
        STATE_STORE_CHECKPOINT_LOCATION_NOT_EMPTY ("should be empty on batch 0").
        """
        deadline = time.monotonic() + timeout
        offsets = self.checkpoint / "offsets"
        while not batch_ids(offsets) and time.monotonic() < deadline:
            if self.query is None or not self.query.isActive:
                return
            time.sleep(0.05)

    def _stop_query(self, check: bool = False) -> None:
        query, self.query = self.query, None
        if query is None:
            return
        query.stop()
        self._raise_if_failed(query)
        self.last_end = "clean stop"
        self.stats["clean stops"] += 1
        if check:
            self.check(complete=False)

    @staticmethod
    def _raise_if_failed(query: Any) -> None:
        failure = query.exception()
        if failure is not None:
            raise HarnessError(f"the query failed: {str(failure)[:3000]}")

    # ------------------------------------------------------------------ killed child queries

    def _kill(self, action: Kill) -> None:
        self._count_start()
        spec = self.work / f"child-{self.step}.json"
        log = self.work / f"child-{self.step}.log"
        spec.write_text(
            json.dumps(
                {
                    "options": self._options(action.batch_size, action.partitions),
                    "schema": SCHEMA,
                    "sink": str(self.sink),
                    "checkpoint": str(self.checkpoint),
                }
            )
        )
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        with log.open("wb") as out:
            child = subprocess.Popen(
                [sys.executable, "-m", "tests.stress.child", str(spec)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            hit = self._wait_for_kill_point(action, child, log)
        finally:
            kill_group(child)
        self.stats["kills"] += 1
        self.stats[f"kills {hit}"] += 1
        self.last_end = f"SIGKILL {hit}"
        self.check(complete=False)

    def _wait_for_kill_point(self, action: Kill, child: subprocess.Popen[bytes], log: Path) -> str:
        """Poll the checkpoint until `action.point` is reached; returns what was hit."""
        offsets, commits = self.checkpoint / "offsets", self.checkpoint / "commits"
        sink_log = self.sink / "_spark_metadata"
        first = max(batch_ids(offsets), default=-1) + 1 + action.skip  # a batch of this run
        started = time.monotonic()
        seen: dict[int, float] = {}
        last_change, last_state = started, (set[int](), set[int]())
        appended = action.append == 0
        while True:
            now = time.monotonic()
            if child.poll() is not None:
                raise HarnessError(f"the child query exited ({child.returncode}):\n{_tail(log)}")
            logged, done = batch_ids(offsets), batch_ids(commits)
            pending = sorted(b for b in logged - done if b >= first)
            for batch in pending:
                seen.setdefault(batch, now)
            if not appended and logged - done:
                self._api().append(action.append)  # new data while batches run
                appended = True
            if action.point == "offset-logged" and pending:
                return "offset-logged"
            if action.point == "sink-committed" and set(pending) & batch_ids(sink_log):
                return "sink-committed"
            if action.point == "mid-batch" and pending and now - seen[pending[0]] >= action.delay:
                return "mid-batch" if pending[0] not in batch_ids(commits) else "between batches"
            if (logged, done) != last_state:
                last_change, last_state = now, (logged, done)
            caught_up = done and logged == done and max(done) >= first - action.skip
            if caught_up and now - last_change > 4.0:  # no batch left to kill in
                return "idle (caught up)"
            if now - started > KILL_TIMEOUT:
                raise HarnessError(f"the child made no progress in {KILL_TIMEOUT:.0f} s")
            time.sleep(0.003 if action.point == "sink-committed" else 0.01)

    # ------------------------------------------------------------------ checks

    def _api(self) -> DemoApi:
        assert self.api is not None
        return self.api

    def expected(self) -> dict[str, list[int]]:
        return {r: [rec["id"] for rec in self._api().records(r)] for r in self.regions}

    def sink_rows(self) -> list[tuple[int, str]]:
        if not batch_ids(self.sink / "_spark_metadata"):
            return []
        frame = self.spark.read.schema(SCHEMA).parquet(str(self.sink)).select("id", "region")
        return [(row["id"], row["region"]) for row in frame.collect()]

    def check(self, complete: bool) -> None:
        self.stats["checks"] += 1
        problems = exactly_once_problems(self.sink_rows(), self.expected(), complete)
        if problems:
            when = "after an availableNow run" if complete else "after a stop or kill"
            lines = "\n  ".join(problems)
            raise Violation(f"exactly-once broken {when} (step {self.step}):\n  {lines}")

    def _count_faults(self) -> None:
        api = self.api
        if api is None:
            return
        for fault, count in self.injected.items():
            self.stats[f"faults injected {fault}"] += count
        pending = sum(api.pending_faults(p) for p in self.fault_paths)
        self.stats["faults injected"] += sum(self.injected.values())
        self.stats["faults served"] += sum(self.injected.values()) - pending


def kill_group(child: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (JVM and Python workers) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(60)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_round(
    spark: Any,
    rnd: Round,
    work: Path,
    stats: Counter[str],
    keep: bool = False,
    verbose: bool = False,
) -> None:
    """Run `rnd` in a fresh folder under `work`; the folder is removed when it passes."""
    folder = work / f"round-{rnd.index}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    RoundRunner(spark, rnd, folder, stats, verbose).run()
    stats["rounds"] += 1
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
