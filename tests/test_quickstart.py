"""docs/quickstart.md runs: its blocks read the GitHub emulation (tests/vendors/github.py)
with only `https://api.github.com` swapped, on real Spark; and a poll costs what the page
says: one probe per repository while nothing changed, reads only where issues changed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rest_stream.driver.planner import task_count
from tests.test_docs_examples import ROOT, python_blocks
from tests.vendors.base import wait_past_horizon
from tests.vendors.github import GitHubApi

PAGE = ROOT / "docs" / "quickstart.md"
REPOS = {("apache", "spark"): 130, ("apache", "arrow"): 3, ("pandas-dev", "pandas"): 0}


@pytest.fixture
def github() -> Iterator[GitHubApi]:
    with GitHubApi(token=os.environ["GITHUB_TOKEN"]) as api:
        api.clock = time.time() - 600  # issues updated over the last ten minutes
        for (owner, repo), count in REPOS.items():
            api.add_repo(owner, repo)
            for n in range(count):
                api.add_issue(owner, repo)
                if n % 10 == 9:
                    api.advance(1)
        yield api


def probes(api: GitHubApi, since: int) -> list[str]:
    """The paths of the probes (`direction=desc&per_page=1`) sent after request `since`."""
    return [s.path for s in api.requests[since:] if s.query.get("direction") == "desc"]


def reads(api: GitHubApi, since: int) -> list[str]:
    return [s.path for s in api.requests[since:] if s.query.get("direction") == "asc"]


def test_quickstart_reads_the_github_emulation(spark: Any, github: GitHubApi) -> None:
    namespace: dict[str, Any] = {"__name__": "__quickstart__"}
    blocks = python_blocks(PAGE)
    assert len(blocks) == 4
    for block in blocks:
        code = block.code.replace("https://api.github.com", github.url)
        exec(compile("\n" * (block.line - 1) + code, str(PAGE), "exec"), namespace)  # noqa: S102
    assert namespace["spark"] is spark  # the page's session is the tests' one (getOrCreate)
    table = spark.read.parquet(namespace["work"] + "/issues")
    assert table.count() == 133
    assert sorted(probes(github, 0)) == sorted(f"/repos/{o}/{r}/issues" for o, r in REPOS)

    # two issues change, one is opened: the next run reads those three versions only
    github.clock = time.time()
    github.update_issue("apache", "spark", 7, state="closed")
    github.update_issue("apache", "spark", 8, title="Renamed")
    github.add_issue("pandas-dev", "pandas")
    wait_past_horizon()
    before = len(github.requests)
    namespace["run"]()
    table = spark.read.parquet(namespace["work"] + "/issues")
    assert table.count() == 136
    assert table.select("id").distinct().count() == 134
    assert len(probes(github, before)) == 3  # one probe per repository
    assert "/repos/apache/arrow/issues" not in reads(github, before)  # unchanged: no read
    assert set(reads(github, before)) == {
        "/repos/apache/spark/issues",
        "/repos/pandas-dev/pandas/issues",
    }

    # nothing changed: one request per repository, the probe
    before = len(github.requests)
    namespace["run"]()
    assert len(github.requests) - before == 3
    assert len(probes(github, before)) == 3
    assert spark.read.parquet(namespace["work"] + "/issues").count() == 136


def test_without_the_probe_every_poll_reads_every_repository(
    spark: Any, github: GitHubApi, tmp_path: Any
) -> None:
    """The page's other claim: without `latestOffsetUrl` the end is the clock, so a poll
    with nothing changed still reads each repository: at least one request each, at most
    `numPartitions × requestConcurrency` in all."""
    namespace: dict[str, Any] = {"__name__": "__quickstart__"}
    first, stream = python_blocks(PAGE)[:2]
    code = "\n".join(
        line for line in stream.code.splitlines() if "latestOffset" not in line
    ).replace("https://api.github.com", github.url)
    for block in (first.code, code):
        exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102

    def run() -> None:
        query = (
            namespace["issues"]
            .writeStream.format("parquet")
            .option("path", str(tmp_path / "issues"))
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination()

    run()
    assert spark.read.parquet(str(tmp_path / "issues")).count() == 133
    time.sleep(3)  # a few seconds pass: the next range up to now is not empty
    before = len(github.requests)
    run()
    sent = github.requests[before:]
    assert not probes(github, before)
    # each repository's share of numPartitions × requestConcurrency (4), rounded, >= 1
    share = max(1, round(task_count(None) * 4 / len(REPOS)))
    assert len(sent) <= share * len(REPOS)
    assert {s.path for s in sent} == {f"/repos/{o}/{r}/issues" for o, r in REPOS}
