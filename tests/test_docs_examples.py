"""Every code example of the docs runs: the ```python blocks of README.md and docs/**/*.md,
and the `>>>` examples of rest_stream's docstrings, on real Spark against the demo API.

A page's blocks run in order in one namespace that starts with `spark` (the shared session)
and `api` (a started `DemoApi` with 100 records); a block may start its own `DemoApi`, and
every one left in the namespace is stopped after the page. Output a block shows as `#> `
comments must be what it prints (`...` matches anything, whitespace runs are equal). A block
that cannot run here carries `<!-- no-run: why -->` on the line before its fence; those are
counted, listed in the report and kept few. Docstring examples run with doctest with the same
`spark` and `api` (ELLIPSIS and NORMALIZE_WHITESPACE on).
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
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


@pytest.fixture
def started_api() -> Iterator[DemoApi]:
    with DemoApi(100) as api:
        yield api


# --------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("page", docs_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_examples_run(page: Path, spark: Any, started_api: DemoApi) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__", "spark": spark, "api": started_api}
    ran = 0
    try:
        for block in python_blocks(page):
            if block.no_run:
                continue
            out = io.StringIO()
            code = compile("\n" * (block.line - 1) + block.code, str(block.page), "exec")
            with contextlib.redirect_stdout(out):
                exec(code, namespace)  # noqa: S102 - the docs' own examples
            ran += 1
            want = block.shown
            if want is not None and not doctest.OutputChecker().check_output(
                want, out.getvalue(), FLAGS
            ):
                pytest.fail(
                    f"{block.where}: the block printed\n{out.getvalue()}\nbut shows\n{want}"
                )
    finally:
        _clean_up(spark, namespace)
    TALLY.blocks += ran
    TALLY.pages += 1
    assert ran > 0


def _clean_up(spark: Any, namespace: dict[str, Any]) -> None:
    """Stop what a page left running: its streaming queries and demo APIs."""
    for query in spark.streams.active:
        query.stop()
    for value in list(namespace.values()):
        if isinstance(value, DemoApi):
            value.stop()


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
