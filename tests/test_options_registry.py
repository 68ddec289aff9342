"""The option registry: one list the parser, the secrets and docs/options.md all follow;
unknown names and options set where they do nothing are refused at parse time."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
from test_options import URL, error, parse  # noqa: E402 - the same two helpers

from rest_stream.errors import (
    SECRET_OPTION_NAMES,
    RestOptionError,
    RestOptionWarning,
    RestUnknownOptionError,
)
from rest_stream.options import docs as option_docs
from rest_stream.options.parse import (
    AuthOptions,
    RestOptions,
    StreamOptions,
    _Reader,
    parse_options,
)
from rest_stream.options.registry import (
    BY_KEY,
    GROUPS,
    KINDS,
    OPTIONS,
    SPARK_KEYS,
    closest,
    spec,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "options.md"


# --- the registry itself ------------------------------------------------------------------------


def test_every_option_is_complete() -> None:
    assert len(BY_KEY) == len(OPTIONS), "two options share a name (case-insensitively)"
    for option in OPTIONS:
        assert option.kind in KINDS, option.name
        assert option.group in GROUPS, option.name
        assert option.doc.strip() and option.example.strip(), option.name
        assert option.default_text(), option.name
        assert (option.kind == "choice") == bool(option.choices), option.name
        if option.choices and option.default is not None:
            assert option.default in option.choices, option.name
        for condition in option.when:
            target = spec(condition.option)  # conditions name registered options
            assert set(condition.values) <= set(target.choices), option.name


#: The option names /work/shared/design/options.md promises.
PROMISED = """url method headers cookie inputData inputDataUrl inputDataPath streamKey
followRedirects queryType postInputFormat connectionTimeout readTimeout authType userId
userPassword oauthToken oauthConsumerKey oauthConsumerSecret oauthTokenSecret oauthTokenUrl
oauthClientId oauthClientSecret oauthScope apiKey apiKeyHeader apiKeyParam recordsPath
offsetPath recordOffsetPath streaming streamingInterval maxRequestsPerSecond
rateLimitRemainingHeader rateLimitResetHeader offsetField offsetType initialOffset
batchSize maxBytesPerBatch latestOffsetUrl latestOffsetPath numPartitions
requestConcurrency tlsVerify clientCert clientKey proxy"""


def test_design_option_names_are_all_registered() -> None:
    promised = PROMISED.split()
    assert [name for name in promised if name.lower() not in BY_KEY] == []
    assert "offset" in spec("offsetType").choices


def test_secret_names_come_from_the_registry() -> None:
    assert {o.key for o in OPTIONS if o.secret} == SECRET_OPTION_NAMES
    assert {"apikey", "clientkey", "proxy", "cookie", "userpassword"} <= SECRET_OPTION_NAMES
    assert all(spec(name).kind == "secret" for name in SECRET_OPTION_NAMES)


def test_dataclass_defaults_are_the_registry_defaults() -> None:
    """RestOptions' field defaults repeat no literal: each is the registry's default."""
    fields = {
        "method": "method",
        "query_type": "queryType",
        "post_input_format": "postInputFormat",
        "connection_timeout": "connectionTimeout",
        "read_timeout": "readTimeout",
        "include_inputs_in_output": "includeInputsInOutput",
        "schema_sample_size": "schemaSampleSize",
        "on_type_mismatch": "onTypeMismatch",
        "max_retries": "maxRetries",
        "retry_backoff_seconds": "retryBackoffSeconds",
        "retry_max_wait_seconds": "retryMaxWaitSeconds",
        "request_concurrency": "requestConcurrency",
        "follow_redirects": "followRedirects",
        "tls_verify": "tlsVerify",
        "response_format": "responseFormat",
    }
    defaults = {f.name: f.default for f in dataclasses.fields(RestOptions)}
    for field, name in fields.items():
        assert defaults[field] == spec(name).default, field
    stream = StreamOptions()
    assert stream.max_bytes_per_batch == spec("maxBytesPerBatch").default == 256 * 1024 * 1024
    assert stream.streaming_interval == spec("streamingInterval").default
    assert AuthOptions().api_key_header == spec("apiKeyHeader").default == "X-API-Key"


#: Option sets that together make the parser read every registered option.
FULL = [
    {
        "authType": "apikey",
        "apiKey": "k",
        "apiKeyHeader": "X-K",
        "inputDataUrl": "https://api.example.com/parents",
        "inputDataPath": "$.rows",
        "streamKey": "id",
        "offsetType": "timestamp",
        "offsetField": "since",
        "streaming": "true",
    },
    {"offsetType": "page", "offsetField": "p", "pageSize": "5", "method": "POST"},
]


def test_the_parser_reads_every_registered_option() -> None:
    seen: set[str] = set()
    original = _Reader.__init__

    def spy(self: _Reader, raw: object) -> None:
        original(self, raw)  # type: ignore[arg-type]
        self.seen = seen

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Reader, "__init__", spy)
        for raw in FULL:
            parse(**raw)
    assert sorted(set(BY_KEY) - seen) == []


def test_reading_an_unregistered_option_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        _Reader({}).text("noSuchOption")


# --- unknown names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "suggestion"),
    [
        ("recordPath", "recordsPath"),
        ("recordspath ", "recordsPath"),
        ("offsettyp", "offsetType"),
        ("apikey_header", "apiKeyHeader"),
        ("api_key", "apiKey"),
        ("pagesize", None),  # a known name in another case is no unknown name
        ("headers.X-Token", "headers"),
    ],
)
def test_unknown_options_are_refused_with_the_closest_name(
    given: str, suggestion: str | None
) -> None:
    if suggestion is None:
        assert parse(**{given: "5", "offsetType": "page", "offsetField": "p"}).stream.page_size == 5
        return
    with pytest.raises(RestUnknownOptionError) as info:
        parse_options({"url": URL, given: "Sup3r-secret"})
    exc = info.value
    assert isinstance(exc, RestOptionError)
    assert exc.option == given.lower()
    assert exc.suggestion == suggestion
    assert str(exc) == (
        f"Unknown option {given.lower()}: did you mean `{suggestion}`? (option names are "
        "case-insensitive; docs/options.md lists every option)."
    )
    assert "Sup3r-secret" not in str(exc)


def test_unknown_option_without_a_close_name() -> None:
    with pytest.raises(RestUnknownOptionError) as info:
        parse(zzqx="1")
    assert info.value.suggestion is None
    assert "Unknown option zzqx: no known option is close" in str(info.value)
    assert closest("zzqx") is None


def test_unknown_options_are_checked_before_anything_else() -> None:
    with pytest.raises(RestUnknownOptionError):
        parse_options({"uri": URL})  # not "url is missing": the typo is the problem


@pytest.mark.parametrize("key", sorted(SPARK_KEYS))
def test_spark_own_keys_are_accepted(key: str) -> None:
    assert parse(**{key: "/some/path"}).url == URL


def test_load_path_without_url_says_the_path_is_not_the_url() -> None:
    with pytest.raises(RestOptionError) as info:
        parse_options({"path": "https://api.example.com/items"})
    assert info.value.option == "url"
    assert "load(path)'s path is not it" in str(info.value)


# --- options set where they do nothing -------------------------------------------------------

INAPPLICABLE = [
    # (options, option refused, expected text)
    (
        {"pageSize": "100", "offsetType": "cursor", "offsetField": "c"},
        "pageSize",
        "offsetType page or offset, or pagination page or offset beside it (else it would be "
        "ignored)",
    ),
    (
        {"pageSize": "100"},
        "pageSize",
        "offsetType page or offset, or pagination page or offset beside it (else it would be "
        "ignored)",
    ),
    (
        {"offsetHeader": "X-Next", "offsetType": "link"},
        "offsetHeader",
        "offsetType cursor beside it (offsetType link does not use offsetHeader)",
    ),
    (
        {"timestampFormat": "millis", "offsetType": "incremental", "offsetField": "id"},
        "timestampFormat",
        "offsetType timestamp beside it (offsetType incremental does not use timestampFormat)",
    ),
    (
        {"recordOffsetPath": "$.id", "offsetType": "cursor", "offsetField": "c"},
        "recordOffsetPath",
        "recordOrder descending beside it (offsetType cursor reads record ids only to walk a "
        "newest-first list down to the newest record delivered)",
    ),
    (
        {"recordOffsetPath": "$.id", "offsetType": "page", "offsetField": "p", "pageSize": "5"},
        "recordOffsetPath",
        "offsetType incremental or timestamp or cursor beside it (offsetType page does not use "
        "recordOffsetPath)",
    ),
    (
        {"recordOrder": "descending", "offsetType": "link"},
        "recordOrder",
        "offsetType cursor beside it (offsetType link does not use recordOrder)",
    ),
    (
        {"offsetField": "id", "offsetType": "link"},
        "offsetField",
        "offsetType timestamp or cursor or incremental or page or offset beside it "
        "(offsetType link does not use offsetField)",
    ),
    (
        {"latestOffsetUrl": URL + "/max", "offsetType": "cursor", "offsetField": "c"},
        "latestOffsetUrl",
        "offsetType incremental or timestamp or page or offset beside it (offsetType cursor "
        "does not use latestOffsetUrl)",
    ),
    (
        {"latestOffsetUrl": URL + "/max", "latestOffsetPath": "$.t", "offsetType": "timestamp"},
        "latestOffsetUrl",
        "recordOffsetPath beside it (without it a timestamp stream is a chain of pages the "
        "driver walks, with no end to probe)",
    ),
    (
        {"latestOffsetPath": "$.max", "offsetType": "incremental", "offsetField": "id"},
        "latestOffsetPath",
        "latestOffsetUrl beside it (latestOffsetUrl is not set, so latestOffsetPath would be "
        "ignored)",
    ),
    (
        {"queryType": "inline", "method": "POST"},
        "queryType",
        "method GET or DELETE beside it (method POST does not use queryType)",
    ),
    (
        {"postInputFormat": "form"},
        "postInputFormat",
        "method POST or PUT or PATCH beside it (method GET does not use postInputFormat)",
    ),
    (
        {"inputDataPath": "$.rows"},
        "inputDataPath",
        "inputDataUrl beside it (inputDataUrl is not set, so inputDataPath would be ignored)",
    ),
    (
        {"clientKey": "/keys/client.key"},
        "clientKey",
        "clientCert beside it (clientCert is not set, so clientKey would be ignored)",
    ),
    (
        {"apiKey": "k-1"},
        "apiKey",
        "authType apikey beside it (authType is not set, so apiKey would be ignored)",
    ),
    (
        {"apiKeyParam": "key", "authType": "none"},
        "apiKeyParam",
        "authType apikey beside it (authType is not set, so apiKeyParam would be ignored)",
    ),
    (
        {"userId": "ann", "userPassword": "pw"},
        "userId",
        "authType basic beside it (authType is not set, so userId would be ignored)",
    ),
    (
        {"authType": "apikey", "apiKey": "k", "apiKeyHeader": "X-K", "apiKeyParam": "key"},
        "apiKeyHeader",
        "no value beside apiKeyParam (the key goes in one place: a header or a parameter; set "
        "one of the two)",
    ),
    (
        {"offsetType": "cursor", "offsetField": "c", "offsetPath": "$.n", "offsetHeader": "X-N"},
        "offsetPath",
        "no value beside offsetHeader (the next cursor comes from one place; set one of the "
        "two)",
    ),
    (
        {"streamKey": "region"},
        "streamKey",
        "inputData or inputDataUrl beside it (it names their fields)",
    ),
    (
        {"streamKey": "region,zone", "inputData": '[{"region": "eu", "zone": 1}, {"region": 2}]'},
        "streamKey",
        "fields of every inputData row (row 1 lacks ['zone'])",
    ),
    (
        {"streaming": "true"},
        "offsetType",
        "one of timestamp, cursor, incremental, page, offset, link: streaming=true needs it to "
        "know where each stream is (see docs/offsets.md)",
    ),
]


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    INAPPLICABLE,
    ids=[f"{r[1]}-{i}" for i, r in enumerate(INAPPLICABLE)],
)
def test_options_set_where_they_do_nothing_are_refused(
    raw: dict[str, str], name: str, expected: str
) -> None:
    exc = error(**raw)
    assert (exc.option, exc.expected) == (name, expected)


def test_refusals_mask_secret_values() -> None:
    exc = error(apiKey="Sup3r-secret-key")
    assert "Sup3r-secret-key" not in str(exc)
    assert str(exc).startswith("Invalid option apiKey='***': expected authType apikey")


def test_blank_values_are_not_set() -> None:
    o = parse(pageSize=" ", timestampFormat="", apiKey="")
    assert o.stream.page_size is None and o.auth.api_key is None


def test_options_that_apply_are_accepted() -> None:
    o = parse(
        method="PATCH",
        postInputFormat="form",
        inputData='[{"region": "eu", "zone": 1}]',
        streamKey='["region"]',
        authType="apikey",
        apiKey="k-1",
        apiKeyParam="key",
        offsetType="offset",
        offsetField="skip",
        pageSize="50",
        latestOffsetUrl=URL + "/count",
        latestOffsetPath="$.total",
        batchSize="10",
        streaming="true",
    )
    assert (o.post_input_format, o.stream_key, o.auth.api_key_param) == ("form", ("region",), "key")
    assert (o.stream.offset_type, o.stream.page_size, o.stream.latest_offset_path) == (
        "offset",
        50,
        "$.total",
    )


def test_credentials_of_another_auth_kind_warn() -> None:
    with pytest.warns(RestOptionWarning) as caught:
        o = parse(authType="basic", userId="ann", userPassword="pw", oauthToken="Sup3r-tok")
    assert o.auth.kind == "basic"
    messages = [str(w.message) for w in caught]
    assert messages == [
        "Option oauthToken is ignored: authType basic does not use oauthToken."
    ]


def test_options_that_apply_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parse(authType="oauth1", oauthConsumerKey="ck", oauthConsumerSecret="cs", oauthToken="t")


# --- docs/options.md --------------------------------------------------------------------------


def test_docs_tables_are_generated_from_the_registry() -> None:
    current = DOCS.read_text(encoding="utf-8")
    assert option_docs.render(current) == current, (
        "docs/options.md differs from the registry: run "
        "python -m rest_stream.options.docs --write docs/options.md"
    )


def test_docs_name_every_option_with_default_and_example() -> None:
    current = DOCS.read_text(encoding="utf-8")
    for option in OPTIONS:
        row = next(line for line in current.splitlines() if line.startswith(f"| `{option.name}` |"))
        cells = row.split(" | ")
        assert cells[1] == option.default_text() and cells[-1].rstrip(" |"), option.name


def test_docs_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "options.md"
    stale.write_text(DOCS.read_text(encoding="utf-8").replace("| `url` |", "| `uri` |"))
    assert option_docs.main(["--check", str(stale)]) == 1
    assert "is stale" in capsys.readouterr().out
    assert option_docs.main(["--write", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOCS.read_text(encoding="utf-8")
    assert option_docs.main(["--check", str(stale)]) == 0
    assert option_docs.main([]) == 0
    assert "| `recordsPath` |" in capsys.readouterr().out


def test_docs_without_a_generated_section_fail_loudly() -> None:
    with pytest.raises(ValueError, match="generated sections"):
        option_docs.render("# no tables\n")
