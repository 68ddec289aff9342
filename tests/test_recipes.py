"""docs/recipes.md runs: each recipe reads the emulation of its vendor (tests/vendors), built
from the vendor's documentation, with only the base URL swapped, on real Spark."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.test_docs_examples import ROOT, Block, python_blocks
from tests.vendors.base import wait_past_horizon
from tests.vendors.github import GitHubApi
from tests.vendors.salesforce import SalesforceApi
from tests.vendors.stripe import StripeApi
from tests.vendors.zendesk import ZendeskApi

PAGE = ROOT / "docs" / "recipes.md"


def github(stack: ExitStack) -> tuple[dict[str, str], int]:
    api = stack.enter_context(GitHubApi(token=os.environ["GITHUB_TOKEN"]))
    api.clock = time.time()
    for name in ("r1", "r2", "r3"):
        api.add_repo("acme", name)
    for repo, count in (("r1", 130), ("r2", 3), ("repo", 0)):
        for _ in range(count):
            api.add_issue("acme" if repo != "repo" else "octo", repo)
    for _ in range(7):
        api.add_issue("octo", "repo")
    wait_past_horizon()
    return {"https://api.github.com": api.url}, 0


def salesforce(stack: ExitStack) -> tuple[dict[str, str], int]:
    api = stack.enter_context(SalesforceApi(token=os.environ["SALESFORCE_TOKEN"], batch_size=200))
    api.clock.set(time.time())
    for n in range(450):
        api.add_record("Account", Name=f"account {n}")
    wait_past_horizon()
    return {"https://example.my.salesforce.com": api.url}, 450


def stripe(stack: ExitStack) -> tuple[dict[str, str], int]:
    api = stack.enter_context(StripeApi(api_key=os.environ["STRIPE_KEY"]))
    for n in range(230):
        api.add_event("customer.created", name=f"customer {n}")
        if n % 40 == 0:
            api.advance(1)
    return {"https://api.stripe.com": api.url}, 230


def zendesk(stack: ExitStack) -> tuple[dict[str, str], int]:
    api = stack.enter_context(
        ZendeskApi(oauth_token=os.environ["ZENDESK_TOKEN"], per_page=50, rate_limit=None)
    )
    for n in range(120):
        api.add_ticket(subject=f"ticket {n}")
    api.advance(61)  # the export withholds the last minute
    return {"https://example.zendesk.com": api.url}, 120


#: (base URL in the recipe, the emulation that serves it, records the recipe must deliver)
VENDORS: dict[str, tuple[Callable[[ExitStack], tuple[dict[str, str], int]], int]] = {
    "https://api.github.com/graphql": (github, 7),
    "https://api.github.com": (github, 133),
    "https://example.my.salesforce.com": (salesforce, 450),
    "https://example.zendesk.com": (zendesk, 120),
    "https://api.stripe.com": (stripe, 230),
}


def vendor_of(block: Block) -> str:
    return next(base for base in VENDORS if base in block.code)


def recipes() -> list[Block]:
    return python_blocks(PAGE)


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as exits:
        yield exits


@pytest.mark.parametrize("block", recipes(), ids=lambda b: vendor_of(b).split("//")[1])
def test_recipe_reads_its_vendor_emulation(
    block: Block, spark: Any, stack: ExitStack, tmp_path: Path
) -> None:
    start, expected = VENDORS[vendor_of(block)]
    swaps, _ = start(stack)
    code = block.code
    for real, emulated in swaps.items():
        code = code.replace(real, emulated)
    namespace: dict[str, Any] = {"__name__": "__recipes__", "spark": spark}
    exec(compile("\n" * (block.line - 1) + code, str(PAGE), "exec"), namespace)  # noqa: S102
    frames = [v for v in namespace.values() if getattr(v, "isStreaming", False)]
    assert len(frames) == 1, "a recipe defines one streaming DataFrame"
    query = (
        frames[0]
        .writeStream.format("parquet")
        .option("path", str(tmp_path / "sink"))
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(180)
    assert query.exception() is None
    assert spark.read.parquet(str(tmp_path / "sink")).count() == expected


def test_every_recipe_has_an_emulation() -> None:
    assert len(recipes()) == 5
    assert {vendor_of(b) for b in recipes()} == set(VENDORS)
