"""Every code example of the docs runs: the ```python blocks of README.md and docs/**/*.md,
and the `>>>` examples of rest_stream's docstrings, on real Spark against the demo API.

Each page runs as a reader would run it: its blocks are executed in order, in one namespace,
in a fresh `python` process of its own (`sys.executable`, in an empty temporary directory),
so a page's first python block creates its own `spark` and demo `api` (as docs/index.md
does) and nothing else is predefined. That process sees the environment of a shell in which
this interpreter's environment is activated: its `bin` directory first on `PATH`, and no
`PYSPARK_PYTHON` or `PYSPARK_DRIVER_PYTHON` (`make test` exports both); its Spark JVM runs
with options for a short life (`PAGE_JVM_OPTIONS`, speed only). What a page leaves
running (streaming queries, `DemoApi`s, the Spark session) is stopped after its last block.
One process per page, not per block: a Spark start-up is the dearest part of a page; the
pages run `DOCS_PAGES_AT_ONCE` (default 3) at a time.

Output a block shows as `#> ` comments must be what it prints (`...` matches anything,
whitespace runs are equal). A failure names the page and the line of the page that failed.
A block that cannot run here carries `<!-- no-run: why -->` on the line before its fence;
those are counted, listed in the report and kept few.

Docstring examples run with doctest in this process instead, with the shared test session as
`spark` and a started `DemoApi` with 100 records as `api` (ELLIPSIS and NORMALIZE_WHITESPACE
on): they are one-line illustrations, not pages a reader copies whole.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import json
import os
import pkgutil
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import rest_stream
from rest_stream.demo import DemoApi

ROOT = Path(__file__).resolve().parents[1]
#: Pages whose examples read real APIs run in their own tests, against emulations.
OWN_TESTS = {ROOT / "docs" / p: f"tests/test_{p[:-3]}.py" for p in ("recipes.md", "quickstart.md")}
PAGES = [
    page
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if page not in OWN_TESTS
]
PYTHON = frozenset({"python", "py", "python3"})
#: How many blocks may be marked `no-run`: each one is a page example nobody checks.
MAX_NO_RUN = 3
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
_NO_RUN = re.compile(r"^\s*<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->\s*$")
_SHOWN = re.compile(r"^[ \t]*#>(?: (?P<text>.*)|$)")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page; `line` is the 1-based line of its first code line."""

    page: Path
    line: int
    lang: str
    code: str
    no_run: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def shown(self) -> str | None:
        """The output the block shows in `#> ` comments, or None when it shows none."""
        lines = [m.group("text") or "" for m in map(_SHOWN.match, self.code.splitlines()) if m]
        return "\n".join(lines) + "\n" if lines else None


def fenced_blocks(page: Path) -> list[Block]:
    """Every fenced block of a Markdown page, with its language and any `no-run` reason."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening.group("indent"), opening.group("fence")
        info = opening.group("info").strip()
        lang = info.split()[0].strip("{}.").lower() if info else ""
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [
            line[len(indent) :] if line.startswith(indent) else line.lstrip()
            for line in lines[index + 1 : end]
        ]
        previous = next((ln for ln in reversed(lines[:index]) if ln.strip()), "")
        marker = _NO_RUN.match(previous)
        blocks.append(
            Block(
                page,
                index + 2,
                lang,
                "\n".join(body) + "\n",
                marker.group("reason") if marker else None,
            )
        )
        index = end + 1
    return blocks


def python_blocks(page: Path) -> list[Block]:
    return [block for block in fenced_blocks(page) if block.lang in PYTHON]


def docs_pages() -> list[Path]:
    """The pages with at least one python block to run."""
    return [page for page in PAGES if any(not b.no_run for b in python_blocks(page))]


def public_modules() -> list[ModuleType]:
    """rest_stream's modules (and the auto-registration module) that hold `>>>` examples."""
    names = ["pyspark_rest", "rest_stream"] + [
        info.name
        for info in pkgutil.walk_packages(rest_stream.__path__, "rest_stream.")
        if not info.name.endswith("__main__")
    ]
    modules = [importlib.import_module(name) for name in names]
    return [module for module in modules if _doctests(module, {})]


def _doctests(module: ModuleType, globs: dict[str, Any]) -> list[doctest.DocTest]:
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, globs=globs)
    return [test for test in tests if test.examples]


# --------------------------------------------------------------------------- the report


@dataclass
class Tally:
    blocks: int = 0
    pages: int = 0
    doc_examples: int = 0
    docstrings: int = 0
    #: Each page's process: its wall time in seconds.
    page_seconds: dict[str, float] = field(default_factory=dict)


TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    """After this module: how many examples ran, and every block marked `no-run`."""
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    skipped = [b for page in PAGES for b in python_blocks(page) if b.no_run]
    with capture.global_and_fixture_disabled():
        reporter.write_line(
            f"docs examples: {TALLY.blocks} code blocks run on {TALLY.pages} pages, "
            f"{TALLY.doc_examples} docstring examples in {TALLY.docstrings} docstrings; "
            f"{len(skipped)} blocks marked no-run"
            + "".join(f"\n  no-run {b.where}: {b.no_run}" for b in skipped)
        )
        if TALLY.page_seconds:
            slowest = sorted(TALLY.page_seconds.items(), key=lambda item: -item[1])[:3]
            reporter.write_line(
                f"docs pages: {len(TALLY.page_seconds)} processes, "
                f"{sum(TALLY.page_seconds.values()):.0f} s in all, {PAGES_AT_ONCE} at a time; "
                "slowest: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in slowest)
            )


@pytest.fixture
def started_api() -> Iterator[DemoApi]:
    with DemoApi(100) as api:
        yield api


# --------------------------------------------------------------------------- the pages

#: How long one page's process may take (its Spark start-up included).
PAGE_TIMEOUT_S = 1200
#: Unset in a page's process: a reader's shell does not have them.
PYSPARK_PYTHONS = ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")
#: The JVM options of a page's Spark driver (`SPARK_SUBMIT_OPTS`). A page's JVM lives seconds
#: to a minute: with the C1 compiler alone and the serial collector it spends its two cores
#: on the page instead of compiling and collecting for a long life (a page ran ~1.6x faster).
PAGE_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#: How many pages run at once, each in its own process (a Spark driver JVM of ~0.5 GB and its
#: Python workers). A page waits on Spark's scheduler, its Python workers and the demo API
#: much of the time: on two shared cores the pages took 150 s 3 at once, 190 s 2 at once.
PAGES_AT_ONCE = max(1, int(os.environ.get("DOCS_PAGES_AT_ONCE", "3")))

#: Runs in the page's own `python -c` process: `argv[1]` is the job (the page's blocks), the
#: result goes to `argv[2]`. Only the standard library is imported before the page's code.
_RUNNER = r"""
import contextlib, doctest, io, json, sys, traceback

job_path, result_path = sys.argv[1], sys.argv[2]
with open(job_path, encoding="utf-8") as file:
    job = json.load(file)
namespace = {"__name__": "__main__"}
result = {"ran": 0, "failure": None}


def failed_line(block):
    # The line of the page the innermost frame in the page's code was running.
    frames = traceback.extract_tb(sys.exc_info()[2])
    lines = [frame.lineno for frame in frames if frame.filename == block["page"]]
    return lines[-1] if lines else block["line"]


def clean_up():
    # Stop what the page left running: streaming queries, demo APIs, the Spark session.
    server = sys.modules.get("rest_stream.demo.server")
    for value in list(namespace.values()):
        if server is not None and isinstance(value, server.DemoApi):
            with contextlib.suppress(Exception):
                value.stop()
    if "pyspark.sql" in sys.modules:
        from pyspark.sql import SparkSession

        session = SparkSession.getActiveSession()
        if session is not None:
            with contextlib.suppress(Exception):
                for query in session.streams.active:
                    query.stop()
            session.stop()


try:
    for block in job["blocks"]:
        out = io.StringIO()
        try:
            code = compile("\n" * (block["line"] - 1) + block["code"], block["page"], "exec")
            with contextlib.redirect_stdout(out):
                exec(code, namespace)
        except BaseException as exc:
            result["failure"] = {
                "line": failed_line(block),
                "error": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
                "traceback": traceback.format_exc(),
                "printed": out.getvalue(),
            }
            break
        result["ran"] += 1
        want = block["shown"]
        if want is not None and not doctest.OutputChecker().check_output(
            want, out.getvalue(), job["flags"]
        ):
            result["failure"] = {
                "line": block["line"],
                "error": "the block printed\n" + out.getvalue() + "\nbut shows\n" + want,
            }
            break
finally:
    try:
        clean_up()
    finally:
        with open(result_path, "w", encoding="utf-8") as file:
            json.dump(result, file)
"""


def fresh_env() -> dict[str, str]:
    """The environment of a new shell in which this interpreter's environment is activated.

    Its `bin` directory comes first on `PATH`, so `python3` there is this interpreter, as in
    an activated virtualenv; `PYSPARK_PYTHON` and `PYSPARK_DRIVER_PYTHON` are unset, as a
    reader's shell has them. (Where `python3` there is not this interpreter, `PYSPARK_PYTHON`
    names this interpreter instead.) `SPARK_SUBMIT_OPTS` gains `PAGE_JVM_OPTIONS`: speed only.
    """
    env = {k: v for k, v in os.environ.items() if k not in PYSPARK_PYTHONS}
    env["SPARK_SUBMIT_OPTS"] = " ".join(
        filter(None, [env.get("SPARK_SUBMIT_OPTS"), PAGE_JVM_OPTIONS])
    )
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    python3 = shutil.which("python3", path=bin_dir)
    if python3 is None or not os.path.samefile(python3, sys.executable):
        env["PYSPARK_PYTHON"] = sys.executable
    return env


@dataclass
class PageRun:
    """What the page's process reported: the blocks that ran, and the first failure."""

    ran: int
    failure: dict[str, Any] | None
    returncode: int
    stderr: str
    seconds: float


def run_page(blocks: list[Block], work: Path, running: PagePool | None = None) -> PageRun:
    """Run `blocks` (one page's, in order) in a fresh `python` process whose cwd is `work`."""
    job, result, log = work / "job.json", work / "result.json", work / "stderr.log"
    job.write_text(
        json.dumps(
            {
                "flags": FLAGS,
                "blocks": [
                    {"page": str(b.page), "line": b.line, "code": b.code, "shown": b.shown}
                    for b in blocks
                ],
            }
        ),
        encoding="utf-8",
    )
    cwd = work / "cwd"
    cwd.mkdir()
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as err:
        # A session of its own: a page that hangs is killed with its Spark JVM.
        process = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, str(job), str(result)],
            cwd=cwd,
            env=fresh_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        if running is not None:
            running.started(process)
        try:
            returncode = process.wait(timeout=PAGE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            _kill(process)
            returncode = -signal.SIGKILL
        finally:
            if running is not None:
                running.ended(process)
    seconds = time.perf_counter() - started
    stderr = log.read_text(encoding="utf-8", errors="replace")
    if not result.exists():
        return PageRun(0, None, returncode, stderr, seconds)
    reported = json.loads(result.read_text(encoding="utf-8"))
    return PageRun(reported["ran"], reported["failure"], returncode, stderr, seconds)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill a page's process and everything it started (its Spark JVM, Python workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class PagePool:
    """The selected pages' runs, `PAGES_AT_ONCE` at a time, the longest pages first.

    Each page's test waits for its own run; whatever still runs when the module ends (after
    `-x`, or ^C) is killed.
    """

    def __init__(self, work: Path, at_once: int) -> None:
        self.work = work
        self.executor = ThreadPoolExecutor(at_once, thread_name_prefix="docs-page")
        self.runs: dict[Path, Future[PageRun]] = {}
        self.processes: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()

    def submit(self, pages: list[Path]) -> None:
        def size(page: Path) -> int:
            return sum(len(b.code) for b in python_blocks(page) if not b.no_run)

        for index, page in enumerate(sorted(pages, key=size, reverse=True)):
            blocks = [b for b in python_blocks(page) if not b.no_run]
            work = self.work / f"{index:02d}-{page.stem}"
            work.mkdir()
            self.runs[page] = self.executor.submit(run_page, blocks, work, self)

    def result(self, page: Path) -> PageRun:
        if page not in self.runs:
            self.submit([page])
        return self.runs[page].result()

    def started(self, process: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.processes.add(process)

    def ended(self, process: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.processes.discard(process)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        with self.lock:
            left = list(self.processes)
        for process in left:
            _kill(process)
        self.executor.shutdown(wait=True)


def _filtered(log: str, limit: int = 4000) -> str:
    """The end of a page's stderr less Spark's warnings, JVM stack frames and progress bars."""
    noise = (" WARN ", "\tat ", "\t... ", "[Stage ")
    kept = [line for line in log.splitlines() if not any(n in line for n in noise)]
    return "\n".join(kept)[-limit:]


def failure_report(page: Path, run: PageRun) -> str:
    """Where a page failed (page:line) and why, for the test's failure message."""
    name = page.relative_to(ROOT) if page.is_relative_to(ROOT) else page
    if run.failure is None:
        return (
            f"{name}: the page's python process exited {run.returncode} with no result "
            f"(killed after {PAGE_TIMEOUT_S} s?)\n--- stderr\n{_filtered(run.stderr)}"
        )
    failure = run.failure
    report = f"{name}:{failure['line']}: {failure['error']}"
    if re.search(r"NameError: name '(spark|api)' is not defined", failure["error"]):
        report += (
            "\n(each page runs in a fresh python: its first python block creates `spark` "
            "and the demo `api`, as docs/index.md does)"
        )
    if "traceback" in failure:
        report += f"\n--- traceback\n{failure['traceback']}"
        if failure["printed"]:
            report += f"\n--- the block printed\n{failure['printed']}"
        report += f"\n--- stderr\n{_filtered(run.stderr)}"
    return report


@pytest.fixture(scope="module")
def page_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PagePool]:
    """Every selected page's run, started when the first page's test starts."""
    pool = PagePool(tmp_path_factory.mktemp("pages"), PAGES_AT_ONCE)
    pool.submit(
        [
            item.callspec.params["page"]
            for item in request.session.items
            if getattr(item, "originalname", None) == "test_page_examples_run"
            and hasattr(item, "callspec")
        ]
    )
    yield pool
    pool.close()


@pytest.mark.parametrize("page", docs_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page: Path, page_runs: PagePool) -> None:
    run = page_runs.result(page)
    if run.failure is not None or run.returncode != 0:
        pytest.fail(failure_report(page, run), pytrace=False)
    TALLY.blocks += run.ran
    TALLY.pages += 1
    TALLY.page_seconds[str(page.relative_to(ROOT))] = run.seconds
    assert run.ran > 0


def test_a_page_runs_in_a_fresh_python_and_its_failure_names_the_line(tmp_path: Path) -> None:
    """The harness itself, with no Spark: what a page's process starts with, and its reports."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nimport os, sys\nprint(sorted(k for k in globals() if not k.startswith('__')))"
        "\nprint(os.listdir(), os.environ.get('PYSPARK_PYTHON'))\nprint(__name__)\n"
        f"#> ['os', 'sys']\n#> [] {fresh_env().get('PYSPARK_PYTHON')}\n#> __main__\n```\n\n"
        "```python\nx = 1\nprint(x + 1)\n#> 3\n```\n",
        encoding="utf-8",
    )
    work = tmp_path / "work"
    work.mkdir()
    run = run_page(python_blocks(page), work)
    assert (run.ran, run.returncode) == (2, 0), run
    assert failure_report(page, run).startswith(
        f"{page}:12: the block printed\n2\n\nbut shows\n3\n"
    )

    page.write_text("Text\n\n```python\nx = 1\n\nprint(spark)\n```\n", encoding="utf-8")
    work = tmp_path / "work-2"
    work.mkdir()
    run = run_page(python_blocks(page), work)
    report = failure_report(page, run)
    assert run.ran == 0
    assert report.startswith(f"{page}:6: NameError: name 'spark' is not defined\n(each page")
    assert f'File "{page}", line 6, in <module>' in report


def test_no_run_blocks_are_few_and_give_a_reason() -> None:
    marked = [block for page in PAGES for block in python_blocks(page) if block.no_run]
    assert len(marked) <= MAX_NO_RUN, [b.where for b in marked]


def test_fenced_blocks_parse_languages_markers_and_shown_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text\n\n```python\nprint(1)\n#> 1\n```\n\n<!-- no-run: needs a real token -->\n"
        '```py\nx = 1\n```\n\n- item\n\n    ```python title="a.py"\n    y = 2\n    ```\n'
        "```sh\nmake docs\n```\n",
        encoding="utf-8",
    )
    blocks = fenced_blocks(page)
    assert [(b.lang, b.line, b.no_run) for b in blocks] == [
        ("python", 4, None),
        ("py", 10, "needs a real token"),
        ("python", 16, None),
        ("sh", 19, None),
    ]
    assert blocks[0].shown == "1\n" and blocks[1].shown is None
    assert blocks[2].code == "y = 2\n"
    assert [b.lang for b in python_blocks(page)] == ["python", "py", "python"]


# --------------------------------------------------------------------------- the docstrings


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_docstring_examples_run(module: ModuleType, spark: Any, started_api: DemoApi) -> None:
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = io.StringIO()
    tests = _doctests(module, {**vars(module), "spark": spark, "api": started_api})
    for test in tests:
        runner.run(test, out=out.write)
    results = runner.summarize(verbose=False)
    TALLY.doc_examples += results.attempted
    TALLY.docstrings += len(tests)
    assert results.failed == 0, out.getvalue()
