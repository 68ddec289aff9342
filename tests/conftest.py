"""Shared fixtures: one Spark session for the whole run, and demo APIs on loopback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# A secret the tests pass as `apiKey=env:REST_STREAM_TEST_API_KEY`: set before Spark starts,
# so Spark's Python workers (forked by the JVM) have it too.
os.environ.setdefault("REST_STREAM_TEST_API_KEY", "env-k3y-VWX")
# The tokens docs/recipes.md reads as `env:NAME`, matched by the vendor emulations there.
RECIPE_TOKENS = {
    "GITHUB_TOKEN": "ghp_recipe_token_0123456789",
    "SALESFORCE_TOKEN": "00D000000000001!recipe.session.token",
    "ZENDESK_TOKEN": "zd_recipe_oauth_token_0123456789",
    "STRIPE_KEY": "sk_test_recipe0123456789abcdef",
}
for _name, _value in RECIPE_TOKENS.items():
    os.environ[_name] = _value


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    """One local[2] Spark session shared by every integration test (cold start ~5 s)."""
    from rest_stream.demo.spark import local_spark

    session = local_spark("rest_stream tests", **{"spark.sql.streaming.pollingDelay": "10ms"})
    yield session
    session.stop()


@pytest.fixture
def demo_api() -> Iterator[Callable[..., object]]:
    """A factory of started `DemoApi`s on 127.0.0.1, all stopped after the test."""
    from rest_stream.demo import DemoApi

    started: list[DemoApi] = []

    def start(records: int = 100, **kwargs: object) -> DemoApi:
        api = DemoApi(records, **kwargs).start()  # type: ignore[arg-type]
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
