"""parse_options: defaults, every option's parsing and validation, secrets, pickling."""

from __future__ import annotations

import pickle

import pytest

from rest_stream.errors import RestOptionError, RestOptionWarning
from rest_stream.options.parse import (
    AUTH_TYPES,
    METHODS,
    OAUTH2_CLIENT_AUTH_METHODS,
    OFFSET_TYPES,
    ON_BAD_OFFSET,
    ON_TYPE_MISMATCH,
    POST_INPUT_FORMATS,
    QUERY_TYPES,
    SECRET_OPTIONS,
    TIMESTAMP_FORMATS,
    AuthOptions,
    RestOptions,
    StreamOptions,
    parse_options,
)
from rest_stream.secrets import Secret

URL = "https://api.example.com/items"


def parse(**raw: str) -> RestOptions:
    return parse_options({"url": URL, **raw})


def error(**raw: str) -> RestOptionError:
    with pytest.raises(RestOptionError) as info:
        parse(**raw)
    return info.value


# --- defaults ---------------------------------------------------------------------------------


def test_defaults() -> None:
    o = parse()
    assert o.url == URL
    assert o.method == "GET"
    assert o.headers == {}
    assert o.cookie is None
    assert o.input_data == ()
    assert o.query_type == "querystring"
    assert o.post_input_format == "json"
    assert o.connection_timeout == 10.0
    assert o.read_timeout == 60.0
    assert o.auth == AuthOptions()
    assert o.auth.kind == "none"
    assert o.auth.api_key_header == "X-API-Key"
    assert o.auth.oauth_client_auth_method == "client_secret_basic"
    assert o.records_path is None
    assert o.include_inputs_in_output is False
    assert o.schema_sample_size == 3
    assert o.on_type_mismatch == "error"
    assert o.max_retries == 5
    assert o.retry_backoff_seconds == 0.5
    assert o.retry_max_wait_seconds == 60.0
    assert o.num_partitions is None
    assert o.request_concurrency == 4
    assert o.max_requests_per_second is None
    assert o.stream == StreamOptions()
    assert o.stream.offset_type is None
    assert o.stream.streaming_interval == 10.0
    assert o.stream.max_pages_per_batch == 100
    assert o.stream.on_bad_offset == "error"
    assert o.stream.max_bytes_per_batch == 256 * 1024 * 1024
    assert (o.follow_redirects, o.tls_verify, o.client_cert, o.client_key) == (
        "same-origin",
        True,
        None,
        None,
    )
    assert (o.proxy, o.rate_limit_remaining_header, o.rate_limit_reset_header) == (None,) * 3
    assert (o.input_data_url, o.input_data_path, o.stream_key) == (None,) * 3


@pytest.mark.parametrize(
    ("kind", "field", "initial", "record_path"),
    [
        ("cursor", "cursor", "", None),
        ("incremental", "id", "0", "$.id"),
        ("page", "page", "1", None),
        ("timestamp", "since", "0", None),
        ("offset", "skip", "0", None),
    ],
)
def test_stream_defaults_per_offset_type(
    kind: str, field: str, initial: str, record_path: str | None
) -> None:
    size = {"pageSize": "10"} if kind in ("page", "offset") else {}
    s = parse(offsetType=kind, offsetField=field, **size).stream
    assert s.offset_type == kind
    assert s.offset_field == field
    assert s.offset_path == f"$.{field}"
    assert s.initial_offset == initial
    assert s.record_offset_path == record_path
    assert s.timestamp_format == "seconds"
    assert s.timestamp_lag_seconds == 0.0
    assert s.batch_size is None
    assert s.latest_offset_url is None


def test_link_needs_no_offset_field() -> None:
    s = parse(offsetType="link").stream
    assert s.offset_type == "link"
    assert s.offset_field is None
    assert s.offset_path is None
    assert s.initial_offset == ""


def test_option_names_are_case_insensitive_and_blank_is_missing() -> None:
    o = parse(METHOD="delete", QueryType="INLINE", readtimeout="5", recordsPath="  ")
    assert (o.method, o.query_type, o.read_timeout, o.records_path) == (
        "DELETE",
        "inline",
        5.0,
        None,
    )


@pytest.mark.parametrize("name", ["streamingInterval", "batchSize", "initialOffset"])
def test_stream_options_without_offset_type_are_refused(name: str) -> None:
    exc = error(**{name: "7"})
    assert exc.option == name
    assert str(exc) == (
        f"Invalid option {name}='7': expected offsetType beside it "
        f"(offsetType is not set, so {name} would be ignored)."
    )


# --- choices ----------------------------------------------------------------------------------

CHOICES = [
    ("method", METHODS, {}),
    ("queryType", QUERY_TYPES, {}),
    ("postInputFormat", POST_INPUT_FORMATS, {"method": "POST"}),
    ("authType", AUTH_TYPES, {}),
    (
        "oauthClientAuthMethod",
        OAUTH2_CLIENT_AUTH_METHODS,
        {
            "authType": "oauth2",
            "oauthTokenUrl": "https://auth.example.com/token",
            "oauthClientId": "cid",
            "oauthClientSecret": "sec-1",
        },
    ),
    ("onTypeMismatch", ON_TYPE_MISMATCH, {}),
    ("offsetType", OFFSET_TYPES, {"offsetField": "id"}),
    ("onBadOffset", ON_BAD_OFFSET, {"offsetType": "cursor", "offsetField": "c"}),
]


@pytest.mark.parametrize(("name", "choices", "extra"), CHOICES, ids=[c[0] for c in CHOICES])
def test_choice_rejects_bad_value_naming_option_and_choices(
    name: str, choices: tuple[str, ...], extra: dict[str, str]
) -> None:
    exc = error(**extra, **{name: "bogus"})
    assert exc.option == name
    assert exc.expected == f"one of {', '.join(choices)}"
    assert str(exc) == f"Invalid option {name}='bogus': expected one of {', '.join(choices)}."


def test_timestamp_format_takes_a_name_or_a_pattern() -> None:
    raw = {"offsetType": "timestamp", "offsetField": "t"}
    exc = error(**raw, timestampFormat="bogus")
    assert exc.option == "timestampFormat" and "pattern with yyyy" in exc.expected
    pattern = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"
    assert parse(**raw, timestampFormat=pattern).stream.timestamp_format == pattern
    assert TIMESTAMP_FORMATS == ("seconds", "millis", "iso8601")


def test_choices_accept_any_case_and_spaces() -> None:
    o = parse(method=" put ", postInputFormat="FORM", onTypeMismatch="Null")
    assert (o.method, o.post_input_format, o.on_type_mismatch) == ("PUT", "form", "null")
    assert parse(offsetType="Page", offsetField="p", pageSize="5").stream.offset_type == "page"
    s = parse(offsetType="timestamp", offsetField="t", timestampFormat="ISO8601").stream
    assert s.timestamp_format == "iso8601"
    assert parse(offsetType="link", onBadOffset="STOP").stream.on_bad_offset == "stop"


# --- numbers, integers, booleans ----------------------------------------------------------------


def test_numbers_parse() -> None:
    o = parse(
        connectionTimeout="1.5",
        readTimeout="0",
        retryBackoffSeconds="2",
        retryMaxWaitSeconds="9.25",
        maxRequestsPerSecond="0.5",
    )
    assert o.connection_timeout == 1.5
    assert o.read_timeout == 0.0
    assert o.retry_backoff_seconds == 2.0
    assert o.retry_max_wait_seconds == 9.25
    assert o.max_requests_per_second == 0.5


@pytest.mark.parametrize(
    "name", ["connectionTimeout", "readTimeout", "retryBackoffSeconds", "retryMaxWaitSeconds"]
)
def test_numbers_reject(name: str) -> None:
    assert str(error(**{name: "soon"})) == (
        f"Invalid option {name}='soon': expected a number (seconds)."
    )
    assert str(error(**{name: "-1"})) == f"Invalid option {name}='-1': expected a number >= 0."
    assert str(error(**{name: "nan"})) == f"Invalid option {name}='nan': expected a number >= 0."


def test_max_requests_per_second_must_be_positive() -> None:
    exc = error(maxRequestsPerSecond="0")
    assert str(exc) == (
        "Invalid option maxRequestsPerSecond='0': expected a number > 0 (requests per second)."
    )
    assert error(maxRequestsPerSecond="-2").option == "maxRequestsPerSecond"


@pytest.mark.parametrize("value", ["-2", "fast"])
def test_max_requests_per_second_message_is_about_rates(value: str) -> None:
    assert error(maxRequestsPerSecond=value).expected == "a number > 0 (requests per second)"


def test_integers_parse() -> None:
    o = parse(schemaSampleSize="7", maxRetries="0", numPartitions="3", requestConcurrency="1")
    assert (o.schema_sample_size, o.max_retries, o.num_partitions, o.request_concurrency) == (
        7,
        0,
        3,
        1,
    )
    s = parse(offsetType="page", offsetField="p", pageSize="50", maxPagesPerBatch="2").stream
    assert (s.page_size, s.max_pages_per_batch) == (50, 2)


@pytest.mark.parametrize(
    ("name", "minimum", "extra"),
    [
        ("schemaSampleSize", 1, {}),
        ("maxRetries", 0, {}),
        ("numPartitions", 1, {}),
        ("requestConcurrency", 1, {}),
        ("batchSize", 1, {"offsetType": "link"}),
        ("pageSize", 1, {"offsetType": "page", "offsetField": "p"}),
        ("maxPagesPerBatch", 1, {"offsetType": "cursor", "offsetField": "c"}),
    ],
)
def test_integers_reject(name: str, minimum: int, extra: dict[str, str]) -> None:
    assert str(error(**extra, **{name: "1.5"})) == (
        f"Invalid option {name}='1.5': expected a whole number."
    )
    assert str(error(**extra, **{name: "many"})) == (
        f"Invalid option {name}='many': expected a whole number."
    )
    below = str(minimum - 1)
    assert str(error(**extra, **{name: below})) == (
        f"Invalid option {name}={below!r}: expected a whole number >= {minimum}."
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        (" false ", False),
        ("0", False),
        ("No", False),
    ],
)
def test_booleans(value: str, expected: bool) -> None:
    assert parse(includeInputsInOutput=value).include_inputs_in_output is expected


def test_boolean_rejects() -> None:
    assert str(error(includeInputsInOutput="maybe")) == (
        "Invalid option includeInputsInOutput='maybe': expected true or false."
    )


# --- url, JSON options ------------------------------------------------------------------------


def test_url_required_and_http() -> None:
    with pytest.raises(RestOptionError) as info:
        parse_options({})
    assert info.value.option == "url"
    assert str(info.value).startswith("Invalid option url=missing: expected the API's URL")
    exc = error(url="ftp://files.example.com/x")
    assert str(exc) == (
        "Invalid option url='ftp://files.example.com/x': expected an http:// or https:// URL."
    )
    assert parse(url="HTTP://Example.com/x").url == "HTTP://Example.com/x"


def test_headers_json() -> None:
    o = parse(headers='{"Accept": "application/json", "X-N": 5}')
    assert o.headers == {"Accept": "application/json", "X-N": "5"}
    exc = error(headers='{"Accept": ')
    assert exc.option == "headers"
    assert str(exc).startswith("Invalid option headers='***': expected a JSON object")
    assert "at char 11)" in str(exc)
    exc = error(headers='["Accept"]')
    assert str(exc) == (
        """Invalid option headers='***': expected a JSON object, """
        """e.g. {"Accept": "application/json"}."""
    )


def test_credential_headers_are_secrets() -> None:
    o = parse(headers='{"Authorization": "Token abc-123-xyz", "Accept": "application/json"}')
    assert "abc-123-xyz" not in repr(o)
    assert o.redact("sent Token abc-123-xyz") == "sent ***"
    assert o.headers["Accept"] == "application/json"


def test_input_data_json() -> None:
    o = parse(inputData='[{"region": "eu"}, {"region": "us", "n": 2}]')
    assert o.input_data == ({"region": "eu"}, {"region": "us", "n": 2})
    exc = error(inputData='{"region": "eu"}')
    assert exc.option == "inputData"
    assert exc.expected == 'a JSON array of objects, e.g. [{"region": "eu"}]'
    exc = error(inputData='[{"region": "eu"}, "us"]')
    assert exc.expected == "a JSON array of objects (item 1 is not)"
    exc = error(inputData="[{")
    assert exc.option == "inputData"
    assert "a JSON array of objects" in exc.expected and "at char 2" in exc.expected


def test_long_values_are_cut_in_messages() -> None:
    message = str(error(method="X" * 500))
    assert "X" * 200 + "..." in message
    assert "X" * 201 not in message


JSONPATH_CONTEXT = {
    "recordsPath": {},
    "recordOffsetPath": {"offsetType": "incremental", "offsetField": "id"},
    "offsetPath": {"offsetType": "cursor", "offsetField": "c"},
    "latestOffsetPath": {
        "offsetType": "incremental",
        "offsetField": "id",
        "latestOffsetUrl": "https://api.example.com/max",
    },
    "inputDataPath": {"inputDataUrl": "https://api.example.com/parents"},
}


@pytest.mark.parametrize("name", sorted(JSONPATH_CONTEXT))
def test_jsonpath_options_are_compiled(name: str) -> None:
    with pytest.raises(RestOptionError) as info:
        parse(**JSONPATH_CONTEXT[name], **{name: "$.data[?(@.x >"})
    assert info.value.option == name
    assert info.value.expected.startswith("a valid JSONPath, e.g. $.data[*]")


# --- auth ---------------------------------------------------------------------------------------

AUTH_REQUIRED = {
    "basic": {"userId": "ann", "userPassword": "pw-1"},
    "bearer": {"bearerToken": "tok-1"},
    "oauth1": {"oauthConsumerKey": "ck", "oauthConsumerSecret": "cs-1"},
    "oauth2": {
        "oauthTokenUrl": "https://auth.example.com/token",
        "oauthClientId": "cid",
        "oauthClientSecret": "sec-1",
    },
    "apikey": {"apiKey": "key-1"},
}


@pytest.mark.parametrize("kind", sorted(AUTH_REQUIRED))
def test_auth_kinds_require_their_fields(kind: str) -> None:
    fields = AUTH_REQUIRED[kind]
    assert parse(authType=kind, **fields).auth.kind == kind
    for missing in fields:
        given = {k: v for k, v in fields.items() if k != missing}
        exc = error(authType=kind, **given)
        assert exc.option == missing
        other = " (or oauthToken, its other name)" if missing == "bearerToken" else ""
        assert str(exc) == (
            f"Invalid option {missing}=missing: expected a value{other}: authType {kind} "
            "needs it."
        )


def test_bearer_token_and_its_other_name_oauth_token() -> None:
    assert parse(authType="Bearer", bearerToken="tok-1").auth.bearer_token == Secret("tok-1")
    old = parse(authType="Bearer", oauthToken="tok-1").auth
    assert (old.bearer_token, old.oauth_token) == (Secret("tok-1"), Secret("tok-1"))
    same = parse(authType="Bearer", bearerToken="tok-1", oauthToken="tok-1").auth
    assert same.bearer_token == Secret("tok-1")


def test_bearer_token_and_oauth_token_that_differ_are_refused() -> None:
    exc = error(authType="Bearer", bearerToken="tok-Secret-1", oauthToken="tok-Secret-2")
    assert exc.option == "bearerToken"
    assert "tok-Secret" not in str(exc)
    assert str(exc) == (
        "Invalid option bearerToken='***': expected no other value in oauthToken beside it "
        "(oauthToken is another name for the Bearer token: set one of the two)."
    )


def test_bearer_token_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REST_TEST_TOKEN", "tok-from-env")
    auth = parse(authType="Bearer", bearerToken="env:REST_TEST_TOKEN").auth
    assert auth.bearer_token is not None and auth.bearer_token.reveal() == "tok-from-env"
    same = parse(
        authType="Bearer", bearerToken="env:REST_TEST_TOKEN", oauthToken="tok-from-env"
    ).auth
    assert same.bearer_token == Secret("tok-from-env")


def test_bearer_token_under_another_auth_type_warns() -> None:
    with pytest.warns(RestOptionWarning, match="bearerToken is ignored: authType oauth1"):
        parse(authType="OAuth1", oauthConsumerKey="ck", oauthConsumerSecret="cs", bearerToken="t")


def test_auth_values_are_parsed() -> None:
    a = parse(
        authType="oauth2",
        oauthTokenUrl="https://auth.example.com/token",
        oauthClientId="cid",
        oauthClientSecret="sec-1",
        oauthScope="read write",
        oauthClientAuthMethod="client_secret_post",
    ).auth
    assert a.oauth_client_secret == Secret("sec-1")
    assert a.oauth_client_secret.reveal() == "sec-1"
    assert (a.oauth_scope, a.oauth_client_auth_method) == ("read write", "client_secret_post")
    a = parse(authType="ApiKey", apiKey="k-1", apiKeyHeader="X-Key").auth
    assert (a.api_key_header, a.api_key_param) == ("X-Key", None)
    a = parse(authType="ApiKey", apiKey="k-1", apiKeyParam="key").auth
    assert (a.api_key_header, a.api_key_param) == ("X-API-Key", "key")


# --- stream options ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["timestamp", "cursor", "incremental", "page"])
def test_offset_type_requires_offset_field(kind: str) -> None:
    exc = error(offsetType=kind, **({"pageSize": "10"} if kind == "page" else {}))
    assert exc.option == "offsetField"
    assert str(exc) == (
        "Invalid option offsetField=missing: expected the offset's name "
        f"(the {{placeholder}} in url) for offsetType {kind}."
    )


def test_page_requires_page_size() -> None:
    exc = error(offsetType="page", offsetField="page")
    assert exc.option == "pageSize"
    assert str(exc) == (
        "Invalid option pageSize=missing: expected the number of records on a full page "
        "(offsetType page needs it)."
    )


@pytest.mark.parametrize("kind", ["incremental", "page", "offset"])
def test_integer_initial_offset(kind: str) -> None:
    size = {} if kind == "incremental" else {"pageSize": "5"}
    assert (
        parse(offsetType=kind, offsetField="x", **size, initialOffset="42").stream.initial_offset
        == "42"
    )
    if kind != "incremental":
        negative = error(offsetType=kind, offsetField="x", **size, initialOffset="-1")
        assert negative.expected == "a whole number >= 0"
    exc = error(offsetType=kind, offsetField="x", **size, initialOffset="abc")
    assert str(exc) == "Invalid option initialOffset='abc': expected a whole number."


@pytest.mark.parametrize(
    ("fmt", "good", "bad"),
    [
        ("seconds", "1700000000", "yesterday"),
        ("millis", "1700000000123", "2024-01-01"),
        ("iso8601", "2024-01-02T03:04:05Z", "2024-13-01"),
    ],
)
def test_timestamp_initial_offset_parses_in_format(fmt: str, good: str, bad: str) -> None:
    raw = {"offsetType": "timestamp", "offsetField": "t", "timestampFormat": fmt}
    assert parse(**raw, initialOffset=good).stream.initial_offset == good
    exc = error(**raw, initialOffset=bad)
    assert str(exc) == (
        f"Invalid option initialOffset={bad!r}: expected a timestamp in timestampFormat {fmt}."
    )


def test_link_initial_offset_is_a_url() -> None:
    first = "https://api.example.com/items?page=3"
    assert parse(offsetType="link", initialOffset=first).stream.initial_offset == first
    exc = error(offsetType="link", initialOffset="page=3")
    assert (exc.option, exc.expected) == ("initialOffset", "an http:// or https:// URL")


def test_cursor_initial_offset_is_free_text() -> None:
    assert (
        parse(offsetType="cursor", offsetField="c", initialOffset="abc=").stream.initial_offset
        == "abc="
    )


def test_latest_offset_url_requires_path() -> None:
    raw = {"offsetType": "incremental", "offsetField": "id"}
    exc = error(**raw, latestOffsetUrl="https://api.example.com/max")
    assert exc.option == "latestOffsetPath"
    assert str(exc) == (
        "Invalid option latestOffsetPath=missing: expected a JSONPath: latestOffsetUrl needs it."
    )
    s = parse(**raw, latestOffsetUrl="https://api.example.com/max", latestOffsetPath="$.max").stream
    assert (s.latest_offset_url, s.latest_offset_path) == ("https://api.example.com/max", "$.max")


def test_stream_values() -> None:
    s = parse(
        offsetType="timestamp",
        offsetField="since",
        offsetPath="$.meta.next",
        recordOffsetPath="$.updated",
        timestampFormat="millis",
        timestampLagSeconds="1.5",
        batchSize="100",
        streamingInterval="0.25",
        onBadOffset="stop",
    ).stream
    assert s.offset_path == "$.meta.next"
    assert s.offset_header is None
    cursor = parse(offsetType="cursor", offsetField="c", offsetHeader="X-Next").stream
    assert cursor.offset_header == "X-Next"
    assert s.record_offset_path == "$.updated"
    assert (s.timestamp_format, s.timestamp_lag_seconds) == ("millis", 1.5)
    assert (s.batch_size, s.streaming_interval, s.on_bad_offset) == (100, 0.25, "stop")


LOOKBACK = {
    "offsetType": "timestamp",
    "offsetField": "since",
    "recordOffsetPath": "$.updated_at",
}


def test_lookback_values() -> None:
    s = parse(**LOOKBACK, lookbackSeconds="90.5", primaryKeyPath="$.key.id").stream
    assert (s.lookback_seconds, s.primary_key_path, s.lookback_max_keys) == (
        90.5,
        "$.key.id",
        100_000,
    )
    assert parse(**LOOKBACK, lookbackSeconds="60", primaryKeyPath="$.id", lookbackMaxKeys="7")
    assert parse(**LOOKBACK).stream.lookback_seconds is None


@pytest.mark.parametrize(
    ("raw", "name", "expected"),
    [
        (
            {"lookbackSeconds": "60"},
            "primaryKeyPath",
            "a JSONPath to each record's key, e.g. $.id: lookbackSeconds needs it to know "
            "which records it delivered",
        ),
        (
            {"lookbackSeconds": "0", "primaryKeyPath": "$.id"},
            "lookbackSeconds",
            "a number of seconds > 0",
        ),
        (
            {"lookbackSeconds": "-5", "primaryKeyPath": "$.id"},
            "lookbackSeconds",
            "a number of seconds > 0",
        ),
        (
            {"lookbackSeconds": "60", "primaryKeyPath": "$.id", "lookbackMaxKeys": "0"},
            "lookbackMaxKeys",
            "a whole number >= 1",
        ),
        (
            {"primaryKeyPath": "$.id"},
            "primaryKeyPath",
            "lookbackSeconds beside it (lookbackSeconds is not set, so primaryKeyPath would be "
            "ignored)",
        ),
        (
            {"lookbackMaxKeys": "10"},
            "lookbackMaxKeys",
            "lookbackSeconds beside it (lookbackSeconds is not set, so lookbackMaxKeys "
            "would be ignored)",
        ),
    ],
)
def test_lookback_refusals(raw: dict[str, str], name: str, expected: str) -> None:
    exc = error(**LOOKBACK, **raw)
    assert (exc.option, exc.expected) == (name, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"offsetType": "timestamp", "offsetField": "since"},
            "recordOffsetPath beside it (recordOffsetPath is not set, so lookbackSeconds "
            "would be ignored)",
        ),
        (
            {"offsetType": "incremental", "offsetField": "id"},
            "offsetType timestamp beside it (offsetType incremental does not use lookbackSeconds)",
        ),
    ],
)
def test_lookback_needs_timestamps_read_from_the_records(
    raw: dict[str, str], expected: str
) -> None:
    exc = error(**raw, lookbackSeconds="60", primaryKeyPath="$.id")
    assert (exc.option, exc.expected) == ("lookbackSeconds", expected)


# --- secrets ----------------------------------------------------------------------------------

SECRETS = {
    "userPassword": "pw-Secret-1",
    "bearerToken": "bearer-Secret-10",
    "oauthToken": "tok-Secret-2",
    "oauthTokenSecret": "tsec-Secret-3",
    "oauthConsumerSecret": "csec-Secret-4",
    "oauthClientSecret": "clsec-Secret-5",
    "apiKey": "key-Secret-6",
    "cookie": "sid=cookie-Secret-7",
    "clientKey": "/keys/client-Secret-8.pem",  # with clientCert: see secret_options
    "proxy": "http://proxyuser:proxy-Secret-9@127.0.0.1:3128",
}


CLIENT_CERT = __file__  # any existing file: the parser checks the path only


def secret_options() -> RestOptions:
    """Every secret option at once (those of other auth kinds warn: they are unused)."""
    with pytest.warns(RestOptionWarning):
        return parse(authType="basic", userId="ann", clientCert=CLIENT_CERT, **SECRETS)


def test_secret_options_cover_every_secret() -> None:
    from rest_stream.errors import SECRET_OPTION_NAMES

    assert {name.lower() for name in SECRETS} == set(SECRET_OPTIONS) == SECRET_OPTION_NAMES


def test_secrets_never_in_repr_or_str() -> None:
    o = secret_options()
    for text in (repr(o), str(o), repr(o.auth), repr(o.cookie)):
        for value in SECRETS.values():
            assert value not in text
            assert value.split("=")[-1] not in text
    assert "Secret('***')" in repr(o)
    assert o.auth.user_password is not None
    assert o.auth.user_password.reveal() == "pw-Secret-1"


def test_redact_and_secrets() -> None:
    o = secret_options()
    assert sorted(o.secrets()) == sorted([*SECRETS.values(), "cookie-Secret-7"])
    text = "a pw-Secret-1 b key-Secret-6 c cookie-Secret-7"
    assert o.redact(text) == "a *** b *** c ***"


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_secret_values_never_in_error_messages(name: str) -> None:
    from rest_stream.errors import RestOptionError as Error

    exc = Error(name, "Sup3rSecretValue", "something else")
    assert "Sup3rSecretValue" not in str(exc)
    assert str(exc) == f"Invalid option {name}='***': expected something else."


def test_errors_in_other_options_do_not_show_secrets() -> None:
    exc = error(authType="basic", userPassword="pw-Secret-1")  # userId missing
    assert "pw-Secret-1" not in str(exc)
    exc = error(apiKey="key-Secret-6")  # authType missing
    assert (exc.option, "key-Secret-6" in str(exc)) == ("apiKey", False)
    exc = error(apiKey="key-Secret-6", method="TRACE")
    assert "key-Secret-6" not in str(exc)


def test_options_pickle() -> None:
    o = parse(
        authType="oauth2",
        oauthTokenUrl="https://auth.example.com/token",
        oauthClientId="cid",
        oauthClientSecret="sec-1",
        cookie="sid=abc",
        headers='{"Accept": "application/json"}',
        inputData='[{"region": "eu"}]',
        offsetType="incremental",
        offsetField="id",
        recordsPath="$.data[*]",
    )
    copy = pickle.loads(pickle.dumps(o))
    assert copy == o
    assert copy.auth.oauth_client_secret is not None
    assert copy.auth.oauth_client_secret.reveal() == "sec-1"
    assert copy.cookie is not None and copy.cookie.reveal() == "sid=abc"
    assert copy.input_data == ({"region": "eu"},)


def test_options_are_frozen() -> None:
    o = parse()
    with pytest.raises(AttributeError):
        o.url = "https://other"  # type: ignore[misc]


def test_secret_option_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REST_TEST_KEY", "k3y-from-env")
    o = parse(authType="ApiKey", apiKey="env:REST_TEST_KEY")
    assert o.auth.api_key is not None and o.auth.api_key.reveal() == "k3y-from-env"
    monkeypatch.delenv("REST_TEST_KEY")
    exc = error(authType="ApiKey", apiKey="env:REST_TEST_KEY")
    assert exc.option == "apiKey"
    assert "environment variable REST_TEST_KEY" in str(exc)


# --- responseFormat ---------------------------------------------------------------------------


def test_response_format_default_and_choices() -> None:
    assert parse().response_format == "json"
    assert parse(responseFormat="NDJSON").response_format == "ndjson"
    assert parse(responseFormat="csv").response_format == "csv"
    exc = error(responseFormat="xml")
    assert exc.option == "responseFormat" and "json, ndjson, csv" in exc.expected


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_line_formats_take_only_a_records_path_over_the_whole_list(fmt: str) -> None:
    assert parse(responseFormat=fmt, recordsPath="$").records_path == "$"
    assert parse(responseFormat=fmt, recordsPath=" $[*] ").records_path == " $[*] "
    exc = error(responseFormat=fmt, recordsPath="$.data")
    assert exc.option == "recordsPath"
    assert f"$ or $[*], or no recordsPath, with responseFormat {fmt}" in exc.expected


def test_csv_refuses_offset_path() -> None:
    for kind in ({"offsetType": "cursor", "offsetField": "c"}, {"offsetType": "link"}):
        exc = error(responseFormat="csv", offsetPath="$.next", **kind)
        assert exc.option == "offsetPath"
        assert "no offsetPath with responseFormat csv" in exc.expected


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_a_body_offset_without_a_path_over_the_records_is_refused(fmt: str) -> None:
    exc = error(responseFormat=fmt, offsetType="cursor", offsetField="c")
    assert exc.option == "offsetHeader"
    assert f"with responseFormat {fmt} the body holds only records" in exc.expected
    exc = error(responseFormat=fmt, offsetType="timestamp", offsetField="since")
    assert exc.option == "recordOffsetPath"


def test_header_and_record_offsets_work_with_line_formats() -> None:
    for fmt in ("ndjson", "csv"):
        cursor = parse(
            responseFormat=fmt, offsetType="cursor", offsetField="c", offsetHeader="X-Next"
        )
        assert cursor.stream.offset_path is None and cursor.stream.offset_header == "X-Next"
        assert parse(responseFormat=fmt, offsetType="link").stream.offset_path is None
        ids = parse(responseFormat=fmt, offsetType="incremental", offsetField="since")
        assert ids.stream.record_offset_path == "$.id" and ids.stream.offset_path is None
        times = parse(
            responseFormat=fmt, offsetType="timestamp", offsetField="s", recordOffsetPath="$.ts"
        )
        assert times.stream.offset_path is None  # no `$.s` default: no document holds it


def test_ndjson_reads_an_offset_path_over_the_list_of_records() -> None:
    o = parse(responseFormat="ndjson", offsetType="cursor", offsetField="c", offsetPath="$[-1].id")
    assert o.stream.offset_path == "$[-1].id"
    o = parse(
        responseFormat="ndjson", offsetType="timestamp", offsetField="s", offsetPath="$[-1].t"
    )
    assert o.stream.offset_path == "$[-1].t"
