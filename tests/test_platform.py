"""Deployment shapes beyond the shared local[2] session: an installed wheel on Spark Connect,
and local-cluster.

Each Spark run is `tests/platform_check.py` in a process of its own (its docstring says why)
and checks exactly-once delivery there: batch read == API, stream sink == API with no
duplicates, across an append and a restart from the checkpoint. Two runs, not three: the
Spark Connect run uses the wheel installed in a new virtualenv, so one Spark start-up covers
both the wheel (its `format("rest")` needs no register call) and Spark Connect.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "tests" / "platform_check.py"
#: What a wheel is built from (the sdist's content, less tests, docs and benchmarks).
SOURCES = ("pyproject.toml", "README.md", "pyspark_rest.py", "rest_stream")


def run_check(
    *args: str,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run `platform_check.py *args` with `python`; its JSON facts (a failure shows its log)."""
    env = dict(os.environ if env is None else env)
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = python
    done = subprocess.run(
        [python, str(CHECK), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    facts = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and facts, (
        f"platform_check {' '.join(args)} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{_filtered(done.stderr)[-6000:]}"
    )
    return json.loads(facts[-1])


def _filtered(log: str) -> str:
    """The log less Spark's warnings and JVM stack frames: Python tracebacks and messages."""
    noise = (" WARN ", "\tat ", "\t... ")
    return "\n".join(line for line in log.splitlines() if not any(n in line for n in noise))


def test_local_cluster_two_executor_jvms_exactly_once():
    facts = run_check("cluster")
    assert facts["batch_rows"] == 240
    assert facts["executors"] == ["0", "1"]
    assert facts["sink_rows"] == 285
    assert len(facts["micro_batches"][0]) >= 3


def build_wheel(tmp: Path) -> Path:
    """The wheel of a copy of the sources (a build in the checkout would leave build/ there)."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    # No build isolation: setuptools>=77 comes with the dev extra, so no download is needed.
    pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src))
    (wheel,) = (tmp / "dist").glob("rest_stream-*.whl")
    return wheel


def pip(*args: str) -> None:
    """This environment's pip (a fresh `--without-pip` venv is reached with `--python`)."""
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, timeout=300)


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    """A new virtualenv holding the wheel; third-party packages come from this environment.

    A `.pth` line naming this environment's site-packages puts pyspark, httpx & co. on
    `sys.path` without installing them again. A plain path line does not run the `.pth`
    files inside that folder, so a development (editable) install of rest_stream there stays
    invisible: rest_stream and pyspark_rest can only come from the wheel.
    """
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip("--python", str(python), "install", "--no-deps", "--no-index", str(wheel))
    return python


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_ships_pyspark_rest_and_py_typed(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("pyspark_rest.py", "rest_stream/py.typed", "rest_stream/demo/server.py"):
        assert required in names, f"{required} is not in {wheel.name}"


def test_installed_wheel_on_spark_connect_needs_no_register_and_streams_exactly_once(
    wheel, tmp_path
):
    python = fresh_venv(tmp_path, wheel)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the wheel's code
    facts = run_check("connect", "--installed", python=str(python), env=env, cwd=tmp_path)

    venv = tmp_path / "venv"
    assert Path(facts["rest_stream"]).is_relative_to(venv), facts["rest_stream"]
    assert Path(facts["pyspark_rest"]).is_relative_to(venv), facts["pyspark_rest"]
    assert facts["client"] == "pyspark.sql.connect.session"
    assert facts["batch_rows"] == 240  # read before any register call: auto-registration
    assert facts["sink_rows"] == 285  # streamed after `register` on the Connect session
    assert len(facts["micro_batches"][0]) >= 3
