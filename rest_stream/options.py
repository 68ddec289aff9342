"""Option names, defaults, parsing and validation: strings in, one typed `RestOptions` out.

Every option of `format("rest")` is parsed here, once, on the driver. Errors name the
option, the value (secrets masked) and what is accepted. The result is a frozen,
picklable value that travels to executors inside input partitions.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rest_stream.errors import SECRET_OPTION_NAMES, RestOptionError
from rest_stream.secrets import Secret

AUTH_TYPES = ("none", "basic", "bearer", "oauth1", "oauth2", "apikey")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
QUERY_TYPES = ("querystring", "inline")
POST_INPUT_FORMATS = ("json", "form")
OFFSET_TYPES = ("timestamp", "cursor", "incremental", "page", "offset", "link")
FOLLOW_REDIRECTS = ("same-origin", "all", "none")
TIMESTAMP_FORMATS = ("seconds", "millis", "iso8601")
ON_BAD_OFFSET = ("error", "stop")
ON_TYPE_MISMATCH = ("error", "null")
OAUTH2_CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

#: Options whose values are secrets: never printed, logged or checkpointed.
SECRET_OPTIONS = tuple(sorted(SECRET_OPTION_NAMES))

#: Header names whose values are credentials: kept as `Secret`s and masked like the options.
SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|session|signature|password", re.I)

DEFAULT_INITIAL_OFFSET = {
    "cursor": "",
    "link": "",
    "page": "1",
    "offset": "0",
    "incremental": "0",
    "timestamp": "0",
}


@dataclass(frozen=True)
class AuthOptions:
    """Credentials of one auth kind; every secret is a `Secret`."""

    kind: str = "none"
    user_id: str | None = None
    user_password: Secret | None = None
    oauth_token: Secret | None = None
    oauth_consumer_key: str | None = None
    oauth_consumer_secret: Secret | None = None
    oauth_token_secret: Secret | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: Secret | None = None
    oauth_scope: str | None = None
    oauth_client_auth_method: str = "client_secret_basic"
    api_key: Secret | None = None
    api_key_header: str = "X-API-Key"
    api_key_param: str | None = None


@dataclass(frozen=True)
class StreamOptions:
    """Offset and streaming options (meaningful when `offsetType` is set)."""

    offset_type: str | None = None
    offset_field: str | None = None
    offset_path: str | None = None
    offset_header: str | None = None
    record_offset_path: str | None = None
    initial_offset: str = ""
    timestamp_format: str = "seconds"
    timestamp_lag_seconds: float = 0.0
    page_size: int | None = None
    batch_size: int | None = None
    max_pages_per_batch: int = 100
    max_bytes_per_batch: int = 256 * 1024 * 1024
    latest_offset_url: str | None = None
    latest_offset_path: str | None = None
    streaming_interval: float = 10.0
    on_bad_offset: str = "error"


@dataclass(frozen=True)
class RestOptions:
    """Every option of `format("rest")`, parsed and validated."""

    url: str
    method: str = "GET"
    headers: Mapping[str, str | Secret] = field(default_factory=dict)
    cookie: Secret | None = None
    input_data: tuple[Mapping[str, Any], ...] = ()
    query_type: str = "querystring"
    post_input_format: str = "json"
    connection_timeout: float = 10.0
    read_timeout: float = 60.0
    auth: AuthOptions = field(default_factory=AuthOptions)
    records_path: str | None = None
    include_inputs_in_output: bool = False
    schema_sample_size: int = 3
    on_type_mismatch: str = "error"
    max_retries: int = 5
    retry_backoff_seconds: float = 0.5
    retry_max_wait_seconds: float = 60.0
    num_partitions: int | None = None
    request_concurrency: int = 4
    max_requests_per_second: float | None = None
    follow_redirects: str = "same-origin"
    tls_verify: bool | str = True
    client_cert: str | None = None
    client_key: Secret | None = None
    proxy: Secret | None = None
    rate_limit_remaining_header: str | None = None
    rate_limit_reset_header: str | None = None
    input_data_url: str | None = None
    input_data_path: str | None = None
    stream_key: tuple[str, ...] | None = None
    stream: StreamOptions = field(default_factory=StreamOptions)

    def secrets(self) -> list[str]:
        """The secret values of these options, for masking text."""
        values = [self.cookie, self.client_key, self.proxy]
        values += [getattr(self.auth, f) for f in _AUTH_SECRET_FIELDS]
        values += list(self.headers.values())
        found = [s.reveal() for s in values if isinstance(s, Secret) and s.reveal()]
        if self.cookie is not None:
            found += _cookie_values(self.cookie.reveal())
        return found

    def redact(self, text: str) -> str:
        """`text` with every secret value of these options replaced by `***`."""
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if len(secret) >= 3:
                text = text.replace(secret, "***")
        return text


_AUTH_SECRET_FIELDS = (
    "user_password",
    "oauth_token",
    "oauth_consumer_secret",
    "oauth_token_secret",
    "oauth_client_secret",
    "api_key",
)


def _cookie_values(cookie: str) -> list[str]:
    return [part.split("=", 1)[1].strip() for part in cookie.split(";") if "=" in part]


class _Reader:
    """Typed access to the raw, case-insensitive option strings, with clear errors."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = {str(k).lower(): v for k, v in raw.items()}

    def str(self, name: str, default: str | None = None) -> str | None:
        value = self.raw.get(name.lower())
        if value is None or str(value).strip() == "":
            return default
        return str(value)

    def secret(self, name: str) -> Secret | None:
        """A secret option; `env:NAME` reads it from the driver's environment variable NAME
        (so the value never stands in the query plan, which shows option values)."""
        value = self.str(name)
        if value is None:
            return None
        if value.startswith("env:"):
            variable = value[4:]
            if variable not in os.environ:
                raise RestOptionError(
                    name, value, f"an environment variable {variable} set on the driver"
                )
            return Secret(os.environ[variable])
        return Secret(value)

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.str(name, default)
        assert value is not None
        normalized = value.strip().lower()
        lowered = {c.lower(): c for c in choices}
        if normalized not in lowered:
            raise RestOptionError(name, value, f"one of {', '.join(choices)}")
        return lowered[normalized]

    def number(self, name: str, default: float | None, *, minimum: float = 0.0) -> float | None:
        value = self.str(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise RestOptionError(name, value, "a number (seconds)") from None
        if number < minimum or number != number:
            raise RestOptionError(name, value, f"a number >= {minimum:g}")
        return number

    def integer(self, name: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self.str(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise RestOptionError(name, value, "a whole number") from None
        if number < minimum:
            raise RestOptionError(name, value, f"a whole number >= {minimum}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.str(name)
        if value is None:
            return default
        if value.strip().lower() in ("true", "1", "yes"):
            return True
        if value.strip().lower() in ("false", "0", "no"):
            return False
        raise RestOptionError(name, value, "true or false")

    def json(self, name: str, kind: type, what: str) -> Any:
        value = self.str(name)
        if value is None:
            return None
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RestOptionError(name, value, f"{what} ({exc.msg} at char {exc.pos})") from None
        if not isinstance(parsed, kind):
            raise RestOptionError(name, value, what)
        return parsed

    def jsonpath(self, name: str) -> str | None:
        from rest_stream.extract import compile_path

        value = self.str(name)
        if value is not None:
            compile_path(value, option=name)
        return value


def parse_options(raw: Mapping[str, str]) -> RestOptions:
    """Parse Spark's option strings into `RestOptions`, or raise `RestOptionError`."""
    r = _Reader(raw)
    url = r.str("url")
    if url is None:
        raise RestOptionError("url", None, "the API's URL, e.g. https://api.example.com/items")
    if not url.lower().startswith(("http://", "https://")):
        raise RestOptionError("url", url, "an http:// or https:// URL")
    headers = r.json("headers", dict, 'a JSON object, e.g. {"Accept": "application/json"}') or {}
    input_data = _parse_input_data(r)
    stream = _parse_stream_options(r, url)
    return RestOptions(
        url=url,
        method=r.choice("method", METHODS, "GET"),
        headers={str(k): _header_value(str(k), v) for k, v in headers.items()},
        cookie=r.secret("cookie"),
        input_data=input_data,
        query_type=r.choice("queryType", QUERY_TYPES, "querystring"),
        post_input_format=r.choice("postInputFormat", POST_INPUT_FORMATS, "json"),
        connection_timeout=_num(r.number("connectionTimeout", 10.0)),
        read_timeout=_num(r.number("readTimeout", 60.0)),
        auth=_parse_auth(r),
        records_path=r.jsonpath("recordsPath"),
        include_inputs_in_output=r.boolean("includeInputsInOutput", False),
        schema_sample_size=_int(r.integer("schemaSampleSize", 3, minimum=1)),
        on_type_mismatch=r.choice("onTypeMismatch", ON_TYPE_MISMATCH, "error"),
        max_retries=_int(r.integer("maxRetries", 5, minimum=0)),
        retry_backoff_seconds=_num(r.number("retryBackoffSeconds", 0.5)),
        retry_max_wait_seconds=_num(r.number("retryMaxWaitSeconds", 60.0)),
        num_partitions=r.integer("numPartitions", None, minimum=1),
        request_concurrency=_int(r.integer("requestConcurrency", 4, minimum=1)),
        max_requests_per_second=_positive_or_none(r, "maxRequestsPerSecond"),
        follow_redirects=r.choice("followRedirects", FOLLOW_REDIRECTS, "same-origin"),
        tls_verify=_tls_verify(r),
        client_cert=_existing_file(r, "clientCert"),
        client_key=r.secret("clientKey"),
        proxy=_proxy(r),
        rate_limit_remaining_header=r.str("rateLimitRemainingHeader"),
        rate_limit_reset_header=r.str("rateLimitResetHeader"),
        input_data_url=_input_data_url(r, input_data),
        input_data_path=r.jsonpath("inputDataPath"),
        stream_key=_stream_key(r),
        stream=stream,
    )


def _header_value(name: str, value: object) -> str | Secret:
    text = str(value)
    return Secret(text) if SENSITIVE_HEADER.search(name) else text


def _num(value: float | None) -> float:
    assert value is not None
    return value


def _int(value: int | None) -> int:
    assert value is not None
    return value


def _positive_or_none(r: _Reader, name: str) -> float | None:
    text = r.str(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise RestOptionError(name, text, "a number > 0 (requests per second)")
    return value


def _tls_verify(r: _Reader) -> bool | str:
    value = r.str("tlsVerify")
    if value is None or value.strip().lower() in ("true", "1", "yes"):
        return True
    if value.strip().lower() in ("false", "0", "no"):
        return False
    if not os.path.isfile(value):
        raise RestOptionError("tlsVerify", value, "true, false or the path of a CA bundle file")
    return value


def _existing_file(r: _Reader, name: str) -> str | None:
    value = r.str(name)
    if value is not None and not os.path.isfile(value):
        raise RestOptionError(name, value, "the path of a readable PEM file")
    return value


def _proxy(r: _Reader) -> Secret | None:
    value = r.secret("proxy")
    if value is not None and not value.reveal().lower().startswith(
        ("http://", "https://", "socks5://")
    ):
        raise RestOptionError("proxy", "***", "an http://, https:// or socks5:// proxy URL")
    return value


def _input_data_url(r: _Reader, input_data: tuple[Mapping[str, Any], ...]) -> str | None:
    url = r.str("inputDataUrl")
    if url is None:
        return None
    if not url.lower().startswith(("http://", "https://")):
        raise RestOptionError("inputDataUrl", url, "an http:// or https:// URL")
    if input_data:
        raise RestOptionError("inputDataUrl", url, "no inputData beside it (use one of the two)")
    return url


def _stream_key(r: _Reader) -> tuple[str, ...] | None:
    text = r.str("streamKey")
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = [part.strip() for part in text.split(",")]
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, list) or not parsed or not all(
        isinstance(p, str) and p for p in parsed
    ):
        raise RestOptionError("streamKey", text, 'input field names, e.g. ["repo"] or repo,owner')
    return tuple(parsed)


def _parse_input_data(r: _Reader) -> tuple[Mapping[str, Any], ...]:
    rows = r.json("inputData", list, 'a JSON array of objects, e.g. [{"region": "eu"}]')
    if rows is None:
        return ()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RestOptionError(
                "inputData", r.str("inputData"), f"a JSON array of objects (item {index} is not)"
            )
    return tuple(rows)


def _parse_auth(r: _Reader) -> AuthOptions:
    kind = r.choice("authType", AUTH_TYPES, "none")
    auth = AuthOptions(
        kind=kind,
        user_id=r.str("userId"),
        user_password=r.secret("userPassword"),
        oauth_token=r.secret("oauthToken"),
        oauth_consumer_key=r.str("oauthConsumerKey"),
        oauth_consumer_secret=r.secret("oauthConsumerSecret"),
        oauth_token_secret=r.secret("oauthTokenSecret"),
        oauth_token_url=r.str("oauthTokenUrl"),
        oauth_client_id=r.str("oauthClientId"),
        oauth_client_secret=r.secret("oauthClientSecret"),
        oauth_scope=r.str("oauthScope"),
        oauth_client_auth_method=r.choice(
            "oauthClientAuthMethod", OAUTH2_CLIENT_AUTH_METHODS, "client_secret_basic"
        ),
        api_key=r.secret("apiKey"),
        api_key_header=r.str("apiKeyHeader", "X-API-Key") or "X-API-Key",
        api_key_param=r.str("apiKeyParam"),
    )
    required = {
        "basic": ("userId", "userPassword"),
        "bearer": ("oauthToken",),
        "oauth1": ("oauthConsumerKey", "oauthConsumerSecret"),
        "oauth2": ("oauthTokenUrl", "oauthClientId", "oauthClientSecret"),
        "apikey": ("apiKey",),
    }.get(kind, ())
    for name in required:
        if r.str(name) is None:
            raise RestOptionError(name, None, f"a value: authType {kind} needs it")
    return auth


def _parse_stream_options(r: _Reader, url: str) -> StreamOptions:
    offset_type = r.str("offsetType")
    if offset_type is None:
        return StreamOptions(
            streaming_interval=_num(r.number("streamingInterval", 10.0)),
            batch_size=r.integer("batchSize", None, minimum=1),
        )
    offset_type = r.choice("offsetType", OFFSET_TYPES, "cursor")
    offset_field = r.str("offsetField")
    if offset_field is None and offset_type != "link":
        raise RestOptionError(
            "offsetField",
            None,
            f"the offset's name (the {{placeholder}} in url) for offsetType {offset_type}",
        )
    record_offset_path = r.jsonpath("recordOffsetPath")
    if record_offset_path is None and offset_type == "incremental":
        record_offset_path = "$.id"
    page_size = r.integer("pageSize", None, minimum=1)
    if offset_type in ("page", "offset") and page_size is None:
        raise RestOptionError(
            "pageSize",
            None,
            f"the number of records on a full page (offsetType {offset_type} needs it)",
        )
    initial = r.str("initialOffset", DEFAULT_INITIAL_OFFSET[offset_type]) or ""
    if offset_type in ("page", "offset", "incremental"):
        _require_int("initialOffset", initial)
    timestamp_format = r.choice("timestampFormat", TIMESTAMP_FORMATS, "seconds")
    if offset_type == "timestamp":
        from rest_stream.timestamps import parse_timestamp

        try:
            parse_timestamp(initial, timestamp_format)
        except ValueError:
            raise RestOptionError(
                "initialOffset", initial, f"a timestamp in timestampFormat {timestamp_format}"
            ) from None
    latest_url = r.str("latestOffsetUrl")
    latest_path = r.jsonpath("latestOffsetPath")
    if latest_url is not None and latest_path is None:
        raise RestOptionError("latestOffsetPath", None, "a JSONPath: latestOffsetUrl needs it")
    return StreamOptions(
        offset_type=offset_type,
        offset_field=offset_field,
        offset_path=r.jsonpath("offsetPath") or (f"$.{offset_field}" if offset_field else None),
        offset_header=r.str("offsetHeader"),
        record_offset_path=record_offset_path,
        initial_offset=initial,
        timestamp_format=timestamp_format,
        timestamp_lag_seconds=_num(r.number("timestampLagSeconds", 0.0)),
        page_size=page_size,
        batch_size=r.integer("batchSize", None, minimum=1),
        max_pages_per_batch=_int(r.integer("maxPagesPerBatch", 100, minimum=1)),
        max_bytes_per_batch=_int(r.integer("maxBytesPerBatch", 256 * 1024 * 1024, minimum=1)),
        latest_offset_url=latest_url,
        latest_offset_path=latest_path,
        streaming_interval=_num(r.number("streamingInterval", 10.0)),
        on_bad_offset=r.choice("onBadOffset", ON_BAD_OFFSET, "error"),
    )


def _require_int(name: str, value: str) -> None:
    try:
        int(value)
    except ValueError:
        raise RestOptionError(name, value, "a whole number") from None
