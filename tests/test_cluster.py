"""A real standalone cluster: a stream delivers every record exactly once across a worker's death.

A Spark standalone master and two workers (`spark-class` from the pyspark install, on
127.0.0.1, 1 core and 512m each) run tests/cluster_stream.py, submitted with `spark-submit`
in client mode: an `incremental` stream of the demo API with a processingTime trigger into a
parquet sink with a checkpoint. Records are appended to the API all along. Once two
micro-batches are committed, one worker is killed with SIGKILL, with its executor and Python
workers, while a task of the stream runs there; a new worker joins and runs tasks of later
batches. In the end the sink holds every id of the API exactly once, and the task cut short
ran again elsewhere.

Marked `cluster` (and `slow`): the default run leaves it out (pyproject's `addopts`);
`make test-cluster` runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyspark
import pytest

from rest_stream.demo import DemoApi, Fault

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parent.parent
SPARK_HOME = Path(pyspark.__file__).resolve().parent
DRIVER = ROOT / "tests" / "cluster_stream.py"
RECORDS = 200  # before the stream starts; micro-batches of 40 (cluster_stream.BATCH_SIZE)
APPEND = 6  # records appended every APPEND_EVERY seconds while the stream runs
APPEND_EVERY = 0.5
#: Each worker: one core, 512m for its executor (the least Spark accepts is 450m).
WORKER = ("--cores", "1", "--memory", "512m")
#: Short-lived JVMs on a small machine: the quick JIT only, one GC thread.
LIGHT_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
NOISE = (" WARN ", " INFO ", "\tat ", "\t... ")


class Process:
    """A process in a session of its own, its output in `log` (stderr in `log`.err)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.work_dir = folder / name  # a worker's --work-dir
        self.log = folder / f"{name}.log"
        self.err = folder / f"{name}.err"
        with self.log.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(
                args,
                env=env,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace") + self.err.read_text(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        """The output less INFO/WARN lines and JVM stack frames."""
        lines = self.text().splitlines()
        kept = "\n".join(line for line in lines if not any(n in line for n in NOISE))
        return f"--- {self.name} (exit {self.popen.poll()})\n{kept[-chars:]}"

    def alive(self) -> None:
        assert self.popen.poll() is None, f"{self.name} exited\n{self.tail()}"

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of `pattern` in the output; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.text())) is None:
            self.alive()
            assert time.monotonic() < deadline, f"{self.name}: no {pattern!r}\n{self.tail()}"
            time.sleep(0.1)
        return match

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


class Cluster:
    """Master, workers and driver, each started with spark-class or spark-submit; `close`
    ends every one of them and whatever they started (executors, Python workers)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[Process] = []
        (folder / "conf").mkdir()  # an empty SPARK_CONF_DIR: no local spark-defaults apply
        path = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        other_paths = [p for p in path if p and Path(p).resolve() != ROOT]
        self.env = {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_CONF_DIR": str(folder / "conf"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_DIRS": str(folder / "local"),
            "SPARK_DAEMON_MEMORY": "256m",  # master and worker JVMs (default 1g)
            "SPARK_DAEMON_JAVA_OPTS": LIGHT_JVM,
            # The Python of driver and executors, which must import rest_stream: this
            # environment, with this checkout first on the path.
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PYTHONPATH": os.pathsep.join([str(ROOT), *other_paths]),
        }
        self.url = ""

    def spawn(self, name: str, *args: str) -> Process:
        process = Process(name, list(args), self.env, self.folder)
        self.processes.append(process)
        return process

    def start_master(self) -> Process:
        master = self.spawn(
            "master",
            str(SPARK_HOME / "bin" / "spark-class"),
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", "0", "--webui-port", "0"),
        )
        self.url = master.wait_for(r"Starting Spark master at (spark://\S+)", 120).group(1)
        return master

    def start_worker(self, name: str) -> Process:
        worker = self.spawn(
            name,
            str(SPARK_HOME / "bin" / "spark-class"),
            "org.apache.spark.deploy.worker.Worker",
            *("--host", "127.0.0.1", "--port", "0", "--webui-port", "0", *WORKER),
            *("--work-dir", str(self.folder / name), self.url),
        )
        return worker

    def submit(self, *args: str) -> Process:
        return self.spawn(
            "driver",
            str(SPARK_HOME / "bin" / "spark-submit"),
            *("--master", self.url, "--driver-memory", "512m", "--driver-java-options", LIGHT_JVM),
            *("--conf", f"spark.executor.extraJavaOptions={LIGHT_JVM}"),
            *("--conf", "spark.executor.memory=512m", "--conf", "spark.executor.cores=1"),
            *("--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.ui.enabled=false"),
            *("--conf", "spark.ui.showConsoleProgress=false"),
            *("--conf", "spark.sql.shuffle.partitions=2"),
            *("--conf", f"spark.pyspark.python={sys.executable}"),
            *args,
        )

    def report(self) -> str:
        return "\n".join(p.tail() for p in self.processes)

    def close(self) -> None:
        """SIGTERM every group (a worker stops its executors), then SIGKILL what is left
        (the executor of a killed worker, the Python workers of any JVM)."""
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.signal_group(signal.SIGTERM)
        for process in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(20)
            process.signal_group(signal.SIGKILL)
            process.popen.wait(10)


class Feeder(threading.Thread):
    """Appends APPEND records to the API every APPEND_EVERY seconds until stopped."""

    def __init__(self, api: DemoApi) -> None:
        super().__init__(name="feeder", daemon=True)
        self.api = api
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(APPEND_EVERY):
            self.api.append(APPEND)


def batches(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.isdigit()} if folder.exists() else set()


#: An executor's log lines for a task it starts and ends (task index.attempt, stage.attempt).
RUNNING = re.compile(r"Running task (\d+)\.\d+ in stage (\d+)\.\d+ \(TID (\d+)\)")
FINISHED = re.compile(r"Finished task \S+ in stage \S+ \(TID (\d+)\)")


def executor_logs(work_dir: Path) -> str:
    """The logs of the executors a worker launched (in its work dir: app-*/<executor>/)."""
    return "".join(log.read_text(errors="replace") for log in work_dir.glob("app-*/*/stderr"))


def running_tasks(work_dir: Path) -> list[tuple[str, str]]:
    """(task index, stage) of each task this worker's executors started and have not ended."""
    text = executor_logs(work_dir)
    ended = set(FINISHED.findall(text))
    return [(index, stage) for index, stage, tid in RUNNING.findall(text) if tid not in ended]


def kill_mid_task(worker: Process, driver: Process, api: DemoApi, commits: Path) -> tuple[str, str]:
    """Once two batches are committed, SIGKILL `worker` with everything it started (its
    executor and their Python workers), as a machine failure would, while a task of the stream
    runs there; the (task index, stage) cut short.

    The next requests for records take two seconds each: a task is inside one when killed.
    """
    deadline = time.monotonic() + 120
    while len(batches(commits)) < 2:
        driver.alive()
        assert time.monotonic() < deadline, "the stream committed fewer than two batches"
        time.sleep(0.05)
    api.inject("/items", Fault.sleep(2.0), Fault.sleep(2.0))
    while not (running := running_tasks(worker.work_dir)):
        driver.alive()
        worker.alive()
        assert time.monotonic() < deadline, f"no task ran on {worker.name}"
        time.sleep(0.02)
    worker.signal_group(signal.SIGKILL)
    worker.popen.wait(10)
    return running[-1]


def test_stream_exactly_once_across_a_worker_killed_mid_task(tmp_path):
    started = time.monotonic()
    cluster = Cluster(tmp_path)
    work = tmp_path / "stream"
    work.mkdir()
    api = DemoApi(RECORDS, latency_ms=20).start()
    feeder = Feeder(api)
    facts: dict[str, Any] = {}
    phases: dict[str, float] = {}  # seconds since the start, printed at the end

    def reached(phase: str) -> None:
        phases[phase] = round(time.monotonic() - started, 1)

    try:
        cluster.start_master()
        # Workers and driver start together: the application waits for the workers.
        first, second = cluster.start_worker("worker-a"), cluster.start_worker("worker-b")
        driver = cluster.submit(str(DRIVER), api.url, str(work))
        for worker in (first, second):
            worker.wait_for("Successfully registered with master", 120)
        driver.wait_for("(?m)^streaming$", 180)
        reached("streaming")
        feeder.start()

        index, stage = kill_mid_task(first, driver, api, work / "checkpoint" / "commits")
        records_at_kill = api.record_count()
        reached("killed")
        replacement = cluster.start_worker("worker-c")
        replacement.wait_for("Successfully registered with master", 120)
        reached("replaced")
        deadline = time.monotonic() + 120
        while not RUNNING.search(executor_logs(replacement.work_dir)):
            driver.alive()
            assert time.monotonic() < deadline, "the new worker ran no task"
            time.sleep(0.2)

        reached("new worker ran a task")
        feeder.done.set()
        feeder.join()
        (work / "stop").touch()
        try:
            driver.popen.wait(180)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the driver did not stop\n{cluster.report()}")
        assert driver.popen.returncode == 0, cluster.report()
        reached("driver done")
        facts = json.loads((work / "facts.json").read_text())
        driver_log = driver.text()
    finally:
        feeder.done.set()
        cluster.close()
        api.stop()

    expected = [r["id"] for r in api.records()]
    assert facts["sink_ids"] == expected, (
        f"sink: {len(facts['sink_ids'])} rows, {len(set(facts['sink_ids']))} ids; "
        f"API: {len(expected)} ids"
    )
    assert len(expected) > records_at_kill > RECORDS  # appended before and after the kill
    assert "Lost executor" in driver_log
    # The task cut short ran again, on the surviving or the new worker.
    retried = re.compile(rf"Running task {index}\.[1-9]\d* in stage {stage}\.")
    assert any(retried.search(executor_logs(w.work_dir)) for w in (second, replacement))
    start, end = set(facts["executors_at_start"]), set(facts["executors_at_end"])
    assert len(start) == len(end) == 2 and start - end and end - start, facts
    assert len(batches(work / "checkpoint" / "commits")) >= 5
    reached("cleaned up")
    print(f"cluster test: {len(expected)} ids exactly once; phases (s): {phases}")
