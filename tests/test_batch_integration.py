"""`spark.read.format("rest")` end to end: real Spark (local[2]) against the real `DemoApi`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.functions import spark_partition_id

from rest_stream.demo import DemoApi, Fault
from rest_stream.executor.partition_reader import PartitionReader
from rest_stream.options.parse import parse_options
from rest_stream.positions import offset_kind

DemoFactory = Callable[..., DemoApi]

#: Retry settings that keep every failing read well under a second or two.
FAST = {"maxRetries": "3", "retryBackoffSeconds": "0.05", "retryMaxWaitSeconds": "0.5"}


def read(
    spark: SparkSession, url: str | None, schema: str | None = None, **options: Any
) -> DataFrame:
    """`spark.read.format("rest")` with `options` (lists and dicts are sent as JSON)."""
    reader = spark.read.format("rest")
    if url is not None:
        reader = reader.option("url", url)
    for name, value in options.items():
        text = json.dumps(value) if isinstance(value, (list, dict)) else str(value)
        reader = reader.option(name, text)
    if schema is not None:
        reader = reader.schema(schema)
    return reader.load()


def ids(df: DataFrame) -> list[int]:
    """The `id` column, sorted (duplicates kept, so a double read shows)."""
    return sorted(row.id for row in df.select("id").collect())


def error_of(action: Callable[[], object]) -> str:
    """The message of the exception `action` raises (Spark wraps ours; its text survives)."""
    with pytest.raises(Exception) as caught:
        action()
    return str(caught.value)


def decodes(df: DataFrame, page: str, url: str, **options: Any) -> bool:
    """Whether executors decode this read's pages straight to Arrow: the reader they build
    from these options and `df`'s schema decodes the body at `page`, and its offset kind can
    use decoded pages."""
    raw = {"url": url, **{name: str(value) for name, value in options.items()}}
    reader = PartitionReader(parse_options(raw), df.schema)
    if reader.decoder is None or reader.decoder.decode(httpx.get(page).content) is None:
        return False
    fields = {field.name: field.type for field in reader.decoder.schema}
    return "offsetType" not in raw or offset_kind(reader.options).arrow_guards(fields) is not None


def served(api: DemoApi, path: str) -> list[Any]:
    """The logged requests to `path`, in arrival order."""
    return sorted((r for r in api.requests if r.path == path), key=lambda r: r.start)


# --------------------------------------------------------------------------- inputData, GET


def test_querystring_input_rows_become_query_parameters(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20)
    rows = [{"region": "eu", "limit": 5}, {"region": "us", "limit": 5}]
    df = read(spark, api.url + "/items", inputData=rows, queryType="querystring")
    got = df.select("id", "region").collect()
    assert sorted(r.id for r in got if r.region == "eu") == [1, 3, 5, 7, 9]
    assert sorted(r.id for r in got if r.region == "us") == [2, 4, 6, 8, 10]
    queries = [r.query for r in served(api, "/items")]
    assert {"region": "eu", "limit": "5"} in queries
    assert {"region": "us", "limit": "5"} in queries
    assert all(set(q) == {"region", "limit"} for q in queries)


def test_inline_input_rows_fill_url_placeholders_only(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20)
    rows = [{"region": "eu", "n": 2, "unused": "x"}, {"region": "us", "n": 3, "unused": "y"}]
    url = api.url + "/items?region={region}&limit={n}"
    df = read(spark, url, inputData=rows, queryType="inline")
    assert ids(df) == [1, 2, 3, 4, 6]
    queries = [r.query for r in served(api, "/items")]
    assert {"region": "eu", "limit": "2"} in queries
    assert {"region": "us", "limit": "3"} in queries
    assert all("unused" not in q and "n" not in q for q in queries)


def test_inline_placeholder_values_are_url_encoded(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    tricky = "a b&c=d/é?#%"
    df = read(
        spark,
        api.url + "/echo?q={q}",
        inputData=[{"q": tricky}],
        queryType="inline",
    )
    rows = df.select("method", "path", "query.q").collect()
    assert [(r.method, r.path, r.q) for r in rows] == [("GET", "/echo", tricky)]
    assert all(r.query == {"q": tricky} for r in served(api, "/echo"))


# --------------------------------------------------------------------------- bodies


def test_post_json_sends_each_input_row_as_a_json_body(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20)
    rows = [{"region": "eu", "limit": 3}, {"region": "us", "limit": 2}]
    df = read(spark, api.url + "/search", method="POST", postInputFormat="json", inputData=rows)
    assert ids(df) == [1, 2, 3, 4, 5]
    calls = served(api, "/search")
    assert {r.method for r in calls} == {"POST"}
    assert all(r.headers["content-type"] == "application/json" for r in calls)
    bodies = [json.loads(r.body) for r in calls]
    assert {"region": "eu", "limit": 3} in bodies
    assert {"region": "us", "limit": 2} in bodies


def test_post_form_sends_each_input_row_as_a_form_body(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20)
    rows = [{"region": "eu", "limit": 2, "note": "a b&c"}]
    df = read(
        spark,
        api.url + "/search",
        method="POST",
        postInputFormat="form",
        inputData=rows,
        recordsPath="$.received",
    )
    got = [r.asDict() for r in df.collect()]
    assert got == [
        {
            "region": "eu",
            "limit": "2",
            "note": "a b&c",
            "content_type": "application/x-www-form-urlencoded",
        }
    ]
    assert [r.body for r in served(api, "/search")][-1] == b"region=eu&limit=2&note=a+b%26c"


@pytest.mark.parametrize(("method", "body_format"), [("PUT", "json"), ("PATCH", "form")])
def test_put_and_patch_send_the_row_as_body(
    spark: SparkSession, demo_api: DemoFactory, method: str, body_format: str
) -> None:
    api = demo_api(20)
    df = read(
        spark,
        api.url + "/search",
        method=method,
        postInputFormat=body_format,
        inputData=[{"region": "us", "limit": 3}],
    )
    assert ids(df) == [2, 4, 6]
    calls = served(api, "/search")
    assert {r.method for r in calls} == {method}
    if body_format == "json":
        assert json.loads(calls[-1].body) == {"region": "us", "limit": 3}
    else:
        assert calls[-1].body == b"region=us&limit=3"


def test_include_inputs_in_output_adds_the_input_row_as_a_struct(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20)
    rows = [{"region": "eu", "limit": 2}, {"region": "us", "limit": 3}]
    df = read(spark, api.url + "/items", inputData=rows, includeInputsInOutput="true")
    assert df.schema["_input"].dataType.simpleString() == "struct<region:string,limit:bigint>"
    got = sorted((r.id, r.region, r._input.region, r._input.limit) for r in df.collect())
    assert got == [
        (1, "eu", "eu", 2),
        (2, "us", "us", 3),
        (3, "eu", "eu", 2),
        (4, "us", "us", 3),
        (6, "us", "us", 3),
    ]


def test_num_partitions_spreads_rows_over_concurrent_tasks(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20, latency_ms=150)
    rows = [{"since_id": i, "limit": 1} for i in range(1, 9)]
    df = read(spark, api.url + "/items", "id bigint", inputData=rows, numPartitions=4)
    assert df.rdd.getNumPartitions() == 4
    by_task: dict[int, list[int]] = {}
    for row in df.select("id", spark_partition_id().alias("task")).collect():
        by_task.setdefault(row.task, []).append(row.id)
    assert {task: sorted(v) for task, v in by_task.items()} == {
        0: [1, 2],
        1: [3, 4],
        2: [5, 6],
        3: [7, 8],
    }
    assert api.max_concurrency("/items") >= 2


# --------------------------------------------------------------------------- auth


def test_basic_auth_reads_a_protected_api(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(4, basic_auth=("alice", "pw-basic-1"))
    df = read(
        spark, api.url + "/items", authType="Basic", userId="alice", userPassword="pw-basic-1"
    )
    assert ids(df) == [1, 2, 3, 4]
    assert all(r.status == 200 for r in api.requests)


def test_bearer_auth_reads_a_protected_api(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(4, bearer_token="tok-bearer-1")
    df = read(spark, api.url + "/items", authType="bearer", oauthToken="tok-bearer-1")
    assert ids(df) == [1, 2, 3, 4]
    assert {r.headers["authorization"] for r in api.requests} == {"Bearer tok-bearer-1"}


def test_api_key_auth_in_the_default_header(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(4, api_key="key-header-1")
    df = read(spark, api.url + "/items", authType="ApiKey", apiKey="key-header-1")
    assert ids(df) == [1, 2, 3, 4]
    assert {r.headers["x-api-key"] for r in api.requests} == {"key-header-1"}
    assert all("api_key" not in r.query for r in api.requests)


def test_api_key_auth_in_a_query_parameter(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(4, api_key="key-param-1")
    df = read(
        spark,
        api.url + "/items?limit=3",
        authType="apikey",
        apiKey="key-param-1",
        apiKeyParam="api_key",
    )
    assert ids(df) == [1, 2, 3]
    assert [r.query for r in api.requests] == [{"limit": "3", "api_key": "key-param-1"}] * 2
    assert all("x-api-key" not in r.headers for r in api.requests)


def test_oauth1_signs_every_request_in_the_authorization_header(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(4, oauth1=("ck-1", "cs-1", "tk-1", "ts-1"))
    df = read(
        spark,
        api.url + "/items",
        authType="OAuth1",
        oauthConsumerKey="ck-1",
        oauthConsumerSecret="cs-1",
        oauthToken="tk-1",
        oauthTokenSecret="ts-1",
    )
    assert ids(df) == [1, 2, 3, 4]
    headers = [r.headers["authorization"] for r in api.requests]
    assert headers and all(h.startswith("OAuth ") for h in headers)
    assert all('oauth_consumer_key="ck-1"' in h and "oauth_signature=" in h for h in headers)


def test_oauth2_client_credentials_fetches_and_caches_the_token(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(20, oauth2_client=("client-1", "secret-1"))
    rows = [{"since_id": i, "limit": 1} for i in range(1, 7)]
    df = read(
        spark,
        api.url + "/items",
        inputData=rows,
        numPartitions=2,
        authType="OAuth2",
        oauthTokenUrl=api.url + "/oauth/token",
        oauthClientId="client-1",
        oauthClientSecret="secret-1",
    )
    assert ids(df) == [1, 2, 3, 4, 5, 6]
    item_calls = served(api, "/items")
    assert len(item_calls) == 9  # 3 schema samples + 6 reads
    assert all(r.status == 200 for r in item_calls)
    assert all(r.headers["authorization"].startswith("Bearer tok-") for r in item_calls)
    # one token per Python worker process at most (schema worker + two task workers)
    assert 1 <= api.tokens_issued <= 3
    assert len(served(api, "/oauth/token")) == api.tokens_issued


def test_wrong_basic_password_fails_with_401_without_the_password(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(4, basic_auth=("alice", "right-pw"))
    message = error_of(
        lambda: read(
            spark,
            api.url + "/items",
            authType="basic",
            userId="alice",
            userPassword="wr0ng-pw-Q7",
            **FAST,
        ).collect()
    )
    assert "HTTP 401 from GET " + api.url + "/items" in message
    assert "wr0ng-pw-Q7" not in message
    assert [r.status for r in api.requests] == [401]  # a 401 is not retried


# --------------------------------------------------------------------------- schema


def test_schema_inference_of_nested_records(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(5)
    df = read(spark, api.url + "/items?limit=3")
    assert df.schema.simpleString() == (
        "struct<id:bigint,ts:bigint,region:string,name:string,value:double,"
        "tags:array<string>,meta:struct<source:string,score:bigint>>"
    )
    rows = sorted(df.collect(), key=lambda r: r.id)
    assert [r.asDict(recursive=True) for r in rows[1:2]] == [
        {
            "id": 2,
            "ts": 1_700_000_002,
            "region": "us",
            "name": "item-2",
            "value": 3.0,
            "tags": ["t2", "t2"],
            "meta": {"source": "demo", "score": 2},
        }
    ]
    assert [r.id for r in rows] == [1, 2, 3]


def test_a_user_schema_wins_and_skips_the_sample_request(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    df = read(spark, api.url + "/items?limit=3", "id bigint, meta struct<score:bigint>")
    assert api.requests == []  # no sample request at load
    assert df.schema.simpleString() == "struct<id:bigint,meta:struct<score:bigint>>"
    got = sorted((r.id, r.meta.score) for r in df.collect())
    assert got == [(1, 1), (2, 2), (3, 3)]
    assert len(api.requests) == 1  # the read itself


def test_a_type_mismatch_fails_naming_the_field_by_default(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    df = read(spark, api.url + "/items?limit=3", "id bigint, name bigint")
    message = error_of(df.collect)
    assert 'field name = "item-1" does not fit the schema type bigint' in message
    assert "onTypeMismatch=null" in message


def test_on_type_mismatch_null_reads_misfits_as_null(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    df = read(spark, api.url + "/items?limit=3", "id bigint, name bigint", onTypeMismatch="null")
    assert sorted(tuple(r) for r in df.collect()) == [(1, None), (2, None), (3, None)]


def test_on_type_mismatch_null_nulls_only_the_nested_value_that_misfits(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    df = read(
        spark,
        api.url + "/items?limit=2",
        "id bigint, meta struct<source:bigint,score:bigint>, tags array<bigint>",
        onTypeMismatch="null",
    )
    got = sorted((r.id, tuple(r.meta or ()), r.tags) for r in df.collect())
    assert got == [(1, (None, 1), [None, None]), (2, (None, 2), [None, None])]


def test_a_nested_type_mismatch_names_the_nested_field_and_its_value(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    df = read(spark, api.url + "/items?limit=2", "id bigint, meta struct<source:bigint>")
    message = error_of(df.collect)
    assert "field meta.source" in message
    assert 'field meta.source = "demo" does not fit the schema type bigint' in message


# --------------------------------------------------------------------------- faults


def test_429_with_retry_after_is_waited_out_then_rows_arrive(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    api.inject("/items", Fault.retry_after("1"))
    df = read(
        spark, api.url + "/items?limit=3", "id bigint", **{**FAST, "retryMaxWaitSeconds": "5"}
    )
    assert ids(df) == [1, 2, 3]
    first, second = served(api, "/items")
    assert (first.status, second.status) == (429, 200)
    assert second.start - first.end >= 0.9  # Retry-After honoured, not the 0.05 s backoff


def test_a_burst_of_503_is_retried_then_rows_arrive(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    api.inject("/items", 503, 503, 503)
    df = read(spark, api.url + "/items?limit=3", "id bigint", **FAST)
    assert ids(df) == [1, 2, 3]
    assert [r.status for r in served(api, "/items")] == [503, 503, 503, 200]


def test_a_truncated_json_body_fails_naming_the_url(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    api.inject("/items", Fault.truncated())
    df = read(spark, api.url + "/items?limit=3", "id bigint", **FAST)
    message = error_of(df.collect)
    assert "not valid JSON" in message
    assert api.url + "/items?limit=3" in message
    assert '{"data":[{"id":1' in message  # the start of the body
    assert len(api.requests) == 1


def test_an_html_page_fails_naming_json_the_content_type_and_the_body(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(5)
    api.inject("/items", Fault.html())
    df = read(spark, api.url + "/items", "id bigint", **FAST)
    message = error_of(df.collect)
    assert "not valid JSON" in message
    assert "text/html" in message
    assert "<html><body>Service down" in message
    assert api.url + "/items" in message


def test_a_dropped_connection_is_retried(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(5)
    api.inject("/items", Fault.drop())
    df = read(spark, api.url + "/items?limit=3", "id bigint", **FAST)
    assert ids(df) == [1, 2, 3]
    assert [r.status for r in served(api, "/items")] == [0, 200]


def test_a_404_fails_at_once(spark: SparkSession, demo_api: DemoFactory) -> None:
    api = demo_api(5)
    df = read(spark, api.url + "/missing", "id bigint", **FAST)
    message = error_of(df.collect)
    assert "HTTP 404 from GET " + api.url + "/missing" in message
    assert [r.status for r in api.requests] == [404]


# --------------------------------------------------------------------------- batch with offsets


def test_incremental_offsets_read_every_record_exactly_once(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(1000)
    df = read(
        spark,
        api.url + "/items?since_id={since_id}&limit=100",
        offsetType="incremental",
        offsetField="since_id",
        numPartitions=4,
    )
    assert df.rdd.getNumPartitions() == 4
    assert ids(df) == list(range(1, 1001))


def test_page_offsets_read_every_page_exactly_once(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(95)
    df = read(
        spark,
        api.url + "/pages?per_page=10&page={page}",
        offsetType="page",
        offsetField="page",
        pageSize=10,
        numPartitions=3,
    )
    assert ids(df) == list(range(1, 96))
    pages = {int(r.query["page"]) for r in served(api, "/pages")}
    assert set(range(1, 11)) <= pages


@pytest.mark.parametrize(
    ("count", "path", "first", "options"),
    [
        # page numbers, a plain records path
        (
            45,
            "/pages?per_page=10&page={page}",
            {"page": 1},
            {
                "offsetType": "page",
                "offsetField": "page",
                "pageSize": 10,
                "numPartitions": 2,
                "recordsPath": "$.data",
            },
        ),
        # ids cut into 3 ranges whose ends fall inside pages; the default records path
        (
            95,
            "/items?since_id={since_id}&limit=10",
            {"since_id": 1},
            {"offsetType": "incremental", "offsetField": "since_id", "numPartitions": 3},
        ),
    ],
    ids=["page", "incremental"],
)
def test_decoded_pages_carry_every_value_as_the_api_sent_it(
    spark: SparkSession,
    demo_api: DemoFactory,
    count: int,
    path: str,
    first: dict[str, int],
    options: dict[str, Any],
) -> None:
    """Pages decoded straight to Arrow keep nested structs, lists and doubles exact, and
    ranges are cut exactly at their ends."""
    api = demo_api(count)
    url = api.url + path
    df = read(spark, url, **options)
    assert decodes(df, url.format(**first), url, **options)
    rows = sorted((row.asDict(recursive=True) for row in df.collect()), key=lambda r: r["id"])
    assert rows == api.records()


def test_cursor_offsets_follow_next_cursor_to_the_end(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(45)
    df = read(
        spark,
        api.url + "/cursor?limit=10",
        offsetType="cursor",
        offsetField="cursor",
        offsetPath="$.next_cursor",
    )
    assert ids(df) == list(range(1, 46))


def test_link_offsets_follow_the_link_header_to_the_end(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(45)
    df = read(spark, api.url + "/linked?limit=10", offsetType="link")
    assert ids(df) == list(range(1, 46))
    followed = [r.query.get("after") for r in served(api, "/linked")]
    assert {"10", "20", "30", "40"} <= set(followed)


def test_timestamp_offsets_read_every_record_exactly_once(
    spark: SparkSession, demo_api: DemoFactory
) -> None:
    api = demo_api(45)
    df = read(
        spark,
        api.url + "/events?limit=10",
        offsetType="timestamp",
        offsetField="since",
        recordOffsetPath="$.ts",
        numPartitions=2,
    )
    rows = df.select("id", "ts").collect()
    assert sorted(r.id for r in rows) == list(range(1, 46))
    assert all(r.ts == 1_700_000_000 + r.id for r in rows)


# --------------------------------------------------------------------------- option errors


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"authType": "kerberos"}, ("Invalid option authType='kerberos': expected one of none",)),
        ({"headers": "{not json"}, ("Invalid option headers=", "expected a JSON object")),
        ({"inputData": '{"region": "eu"}'}, ("Invalid option inputData=", "a JSON array")),
        ({"inputData": "[1, 2]"}, ("Invalid option inputData=", "(item 0 is not)")),
        ({"recordsPath": "$.data[?("}, ("Invalid option recordsPath='$.data[?(': expected",)),
        ({"readTimeout": "soon"}, ("Invalid option readTimeout='soon': expected a number",)),
    ],
    ids=["authType", "headers", "inputData-object", "inputData-items", "recordsPath", "timeout"],
)
def test_a_bad_option_value_fails_naming_the_option(
    spark: SparkSession, demo_api: DemoFactory, options: dict[str, str], expected: tuple[str, ...]
) -> None:
    api = demo_api(5)
    message = error_of(lambda: read(spark, api.url + "/items", **options))
    for fragment in expected:
        assert fragment in message
    assert api.requests == []  # rejected before any request


def test_a_missing_url_fails_naming_the_url_option(spark: SparkSession) -> None:
    message = error_of(lambda: read(spark, None))
    assert "Invalid option url=missing: expected the API's URL" in message


# --------------------------------------------------------------------------- auto-registration


def test_format_rest_is_found_without_registering(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from pyspark.sql import SparkSession

        from rest_stream.demo import DemoApi

        with DemoApi(6) as api:
            spark = (
                SparkSession.builder.master("local[1]")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .getOrCreate()
            )
            spark.sparkContext.setLogLevel("ERROR")
            df = spark.read.format("rest").option("url", api.url + "/items?limit=4").load()
            print("IDS=" + ",".join(str(r.id) for r in df.orderBy("id").collect()))
            spark.stop()
        """
    )
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "IDS=1,2,3,4" in done.stdout, done.stderr[-3000:]
