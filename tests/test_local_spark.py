"""`local_spark` checks the Python that Spark would start its workers with, before Spark starts.

A Python that cannot import rest_stream there means every read of `format("rest")` fails
(`DATA_SOURCE_NOT_FOUND`, or `ModuleNotFoundError` in a worker): docs/troubleshooting.md.
No test here starts Spark.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rest_stream.demo.spark import WorkerPythonError, check_worker_python, worker_python_problem
from rest_stream.errors import RestStreamError

posix_only = pytest.mark.skipif(os.name != "posix", reason="a #!/bin/sh wrapper")


@pytest.fixture
def python_without_rest_stream(tmp_path: Path) -> str:
    """This interpreter with no site-packages and no PYTHONPATH (`-I -S`): no rest_stream."""
    wrapper = tmp_path / "python-without-rest_stream"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return str(wrapper)


def test_this_interpreter_passes_without_a_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("no check needed for this interpreter")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert worker_python_problem(sys.executable) is None
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    check_worker_python()


def test_another_interpreter_that_imports_rest_stream_passes() -> None:
    """Asked as a worker would ask it: `import rest_stream, pyspark_rest` in a subprocess."""
    other = Path(sys.executable).with_name("python3")
    if not other.exists() or str(other) == sys.executable:
        other = Path(sys.executable).with_name("python")
    if not other.exists() or str(other) == sys.executable:
        pytest.skip("no second name for this interpreter")
    assert worker_python_problem(str(other)) is None


@posix_only
def test_a_python_without_rest_stream_is_named_with_the_fix(
    python_without_rest_stream: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYSPARK_PYTHON", python_without_rest_stream)
    with pytest.raises(WorkerPythonError) as raised:
        check_worker_python()
    message = str(raised.value)
    assert f"PYSPARK_PYTHON={python_without_rest_stream!r}" in message
    assert "cannot import rest_stream (ModuleNotFoundError: No module named 'rest_stream')" in (
        message
    )
    assert "[DATA_SOURCE_NOT_FOUND]" in message
    assert f"this one for instance ({sys.executable})" in message
    assert "docs/troubleshooting.md" in message
    assert isinstance(raised.value, RestStreamError)


@posix_only
def test_a_running_sessions_python_is_named_as_such(python_without_rest_stream: str) -> None:
    message = worker_python_problem(python_without_rest_stream)
    assert message is not None
    assert message.startswith(f"this session's Python workers run {python_without_rest_stream!r}")
    assert "stop this one first: spark.stop()" in message


def test_a_program_that_does_not_exist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-python")
    monkeypatch.setenv("PYSPARK_PYTHON", missing)
    with pytest.raises(WorkerPythonError, match="cannot import rest_stream \\(no such program\\)"):
        check_worker_python()


def test_unset_pyspark_python_names_python3_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3 there
    message = worker_python_problem()
    assert message is not None
    assert message.startswith(
        "Spark would start its Python workers with 'python3' (PYSPARK_PYTHON unset)"
    )


@posix_only
def test_local_spark_raises_before_spark_starts(python_without_rest_stream: str) -> None:
    """In a process of its own: the error, and no SparkContext (no JVM) behind it."""
    script = (
        "from pyspark import SparkContext\n"
        "from rest_stream.demo.spark import WorkerPythonError, local_spark\n"
        "try:\n"
        "    local_spark('checked')\n"
        "except WorkerPythonError as error:\n"
        "    print('raised:', error)\n"
        "print('context:', SparkContext._active_spark_context)\n"
    )
    env = dict(os.environ, PYSPARK_PYTHON=python_without_rest_stream)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "raised: Spark would start its Python workers with PYSPARK_PYTHON=" in done.stdout
    assert "context: None" in done.stdout
