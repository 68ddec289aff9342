"""Option names, defaults, parsing and validation: strings in, one typed `RestOptions` out.

Every option of `format("rest")` is parsed here, once, on the driver. Errors name the
option, the value (secrets masked) and what is accepted. The result is a frozen,
picklable value that travels to executors inside input partitions.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rest_stream.errors import (
    SECRET_OPTION_NAMES,
    RestOptionError,
    RestOptionWarning,
    RestUnknownOptionError,
)
from rest_stream.options.registry import (
    BY_KEY,
    DEFAULT_INITIAL_OFFSET,
    SPARK_KEYS,
    Condition,
    OptionSpec,
    choices,
    closest,
    default,
    spec,
)
from rest_stream.options.registry import OFFSET_TYPES as OFFSET_TYPES
from rest_stream.secrets import Secret

AUTH_TYPES = choices("authType")
METHODS = choices("method")
QUERY_TYPES = choices("queryType")
POST_INPUT_FORMATS = choices("postInputFormat")
FOLLOW_REDIRECTS = choices("followRedirects")
#: The named timestamp formats (`timestampFormat` also takes a pattern).
TIMESTAMP_FORMATS = ("seconds", "millis", "iso8601")
ON_BAD_OFFSET = choices("onBadOffset")
ON_TYPE_MISMATCH = choices("onTypeMismatch")
MODES = choices("mode")
RESPONSE_FORMATS = choices("responseFormat")
#: The `recordsPath` values a line or row format accepts: paths over the whole list.
WHOLE_LIST_PATHS = ("$", "$[*]")
OAUTH2_CLIENT_AUTH_METHODS = choices("oauthClientAuthMethod")

#: Options whose values are secrets: never printed, logged or checkpointed.
SECRET_OPTIONS = tuple(sorted(SECRET_OPTION_NAMES))

#: Header names whose values are credentials: kept as `Secret`s and masked like the options.
SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|cookie|session|signature|password", re.I)

#: An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Characters an HTTP header value can carry as text: visible ASCII, space and tab.
_HEADER_TEXT = re.compile(r"[\t\x20-\x7e]*")


@dataclass(frozen=True)
class AuthOptions:
    """Credentials of one auth kind; every secret is a `Secret`."""

    kind: str = default("authType")
    user_id: str | None = None
    user_password: Secret | None = None
    #: `bearerToken`, or `oauthToken` when only that is given (its other name).
    bearer_token: Secret | None = None
    oauth_token: Secret | None = None
    oauth_consumer_key: str | None = None
    oauth_consumer_secret: Secret | None = None
    oauth_token_secret: Secret | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: Secret | None = None
    oauth_scope: str | None = None
    oauth_client_auth_method: str = default("oauthClientAuthMethod")
    api_key: Secret | None = None
    api_key_header: str = default("apiKeyHeader")
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
    #: `initialOffset=latest`: a new stream starts where its API ends at its first poll.
    start_latest: bool = False
    timestamp_format: str = default("timestampFormat")
    timestamp_lag_seconds: float = default("timestampLagSeconds")
    #: Seconds before the position read again at every poll (None: no lookback).
    lookback_seconds: float | None = None
    primary_key_path: str | None = None
    lookback_max_keys: int = default("lookbackMaxKeys")
    page_size: int | None = None
    batch_size: int | None = None
    max_pages_per_batch: int = default("maxPagesPerBatch")
    max_bytes_per_batch: int = default("maxBytesPerBatch")
    latest_offset_url: str | None = None
    latest_offset_path: str | None = None
    streaming_interval: float = default("streamingInterval")
    on_bad_offset: str = default("onBadOffset")
    stream_retire_seconds: float = default("streamRetireSeconds")
    record_order: str = default("recordOrder")

    @property
    def walks_down(self) -> bool:
        """A newest-first list read from its newest page down to the newest record already
        delivered (`offsetType=cursor`, `recordOrder=descending` and `recordOffsetPath`)."""
        return (
            self.offset_type == "cursor"
            and self.record_order == "descending"
            and self.record_offset_path is not None
        )


@dataclass(frozen=True)
class PaginationOptions:
    """How the pages of one answer are walked (`pagination`) and what ends them."""

    style: str = default("pagination")
    next_page_path: str | None = None
    next_page_header: str | None = None
    next_page_param: str = ""
    first_page: int = default("firstPage")
    page_size: int | None = None
    has_more_path: str | None = None
    done_path: str | None = None


@dataclass(frozen=True)
class RestOptions:
    """Every option of `format("rest")`, parsed and validated."""

    url: str
    method: str = default("method")
    headers: Mapping[str, str | Secret] = field(default_factory=dict)
    cookie: Secret | None = None
    input_data: tuple[Mapping[str, Any], ...] = ()
    query_type: str = default("queryType")
    post_input_format: str = default("postInputFormat")
    connection_timeout: float = default("connectionTimeout")
    read_timeout: float = default("readTimeout")
    auth: AuthOptions = field(default_factory=AuthOptions)
    records_path: str | None = None
    error_path: str | None = None
    body_template: Mapping[str, Any] | None = None
    response_format: str = default("responseFormat")
    include_inputs_in_output: bool = default("includeInputsInOutput")
    schema_sample_size: int = default("schemaSampleSize")
    on_type_mismatch: str = default("onTypeMismatch")
    rescued_data_column: str | None = None
    mode: str = default("mode")
    corrupt_record_column: str = default("columnNameOfCorruptRecord")
    max_retries: int = default("maxRetries")
    retry_backoff_seconds: float = default("retryBackoffSeconds")
    retry_max_wait_seconds: float = default("retryMaxWaitSeconds")
    rate_limit_max_wait_seconds: float = default("rateLimitMaxWaitSeconds")
    num_partitions: int | None = None
    request_concurrency: int = default("requestConcurrency")
    max_requests_per_second: float | None = None
    follow_redirects: str = default("followRedirects")
    tls_verify: bool | str = default("tlsVerify")
    client_cert: str | None = None
    client_key: Secret | None = None
    proxy: Secret | None = None
    rate_limit_remaining_header: str | None = None
    rate_limit_reset_header: str | None = None
    input_data_url: str | None = None
    input_data_path: str | None = None
    stream_key: tuple[str, ...] | None = None
    stream: StreamOptions = field(default_factory=StreamOptions)
    pagination: PaginationOptions = field(default_factory=PaginationOptions)

    @property
    def rate_limit_wait_cap(self) -> float:
        """Longest wait for a rate limit the API announces (`rateLimitMaxWaitSeconds`)."""
        return self.rate_limit_max_wait_seconds

    def secrets(self) -> list[str]:
        """The secret values of these options, for masking text."""
        values: list[object] = [self.cookie, self.client_key, self.proxy]
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
    "bearer_token",
    "oauth_token",
    "oauth_consumer_secret",
    "oauth_token_secret",
    "oauth_client_secret",
    "api_key",
)


def _cookie_values(cookie: str) -> list[str]:
    return [part.split("=", 1)[1].strip() for part in cookie.split(";") if "=" in part]


class _Reader:
    """Typed access to the raw, case-insensitive option strings, with clear errors.

    Each typed reader takes the option's default, choices and bounds from the registry
    (`rest_stream.options.registry`); reading a name the registry lacks is a KeyError, so
    every option the parser reads is registered (and so documented).
    """

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = {str(k).lower(): v for k, v in raw.items()}
        self.seen: set[str] = set()

    def given(self) -> list[tuple[OptionSpec, str]]:
        """The registered options given a non-blank value, in the registry's order."""
        values = [(s, self.raw.get(s.key)) for s in BY_KEY.values()]
        return [(s, str(v)) for s, v in values if v is not None and str(v).strip()]

    def text(self, name: str, default: str | None = None) -> str | None:
        self.seen.add(spec(name).key)
        value = self.raw.get(name.lower())
        if value is None or str(value).strip() == "":
            return default
        return str(value)

    def secret(self, name: str) -> Secret | None:
        """A secret option; `env:NAME` reads it from the driver's environment variable NAME
        (so the value never stands in the query plan, which shows option values)."""
        value = self.text(name)
        if value is None:
            return None
        if value.startswith("env:"):
            variable = value[4:]
            if not variable or "\0" in variable or "=" in variable:
                raise RestOptionError(name, value, "env: followed by an environment variable name")
            if variable not in os.environ:
                raise RestOptionError(
                    name, value, f"an environment variable {variable} set on the driver"
                )
            return Secret(os.environ[variable])
        return Secret(value)

    def choice(self, name: str) -> str:
        """A choice option: one of the registry's choices (any case), else its default."""
        option = spec(name)
        value = self.text(name, option.default)
        assert value is not None, f"{name} has no default: read it with choice_or_none"
        return self._choose(option, value)

    def choice_or_none(self, name: str) -> str | None:
        """A choice option without a default: None when it is not given."""
        value = self.text(name)
        return None if value is None else self._choose(spec(name), value)

    @staticmethod
    def _choose(option: OptionSpec, value: str) -> str:
        lowered = {c.lower(): c for c in option.choices}
        normalized = value.strip().lower()
        if normalized not in lowered:
            raise RestOptionError(option.name, value, f"one of {', '.join(option.choices)}")
        return lowered[normalized]

    def number(self, name: str) -> float:
        """A finite number within the registry's bounds, else the default."""
        return _need(self.number_or_none(name), name)

    def number_or_none(self, name: str) -> float | None:
        option = spec(name)
        value = self.text(name)
        if value is None:
            return option.default
        try:
            number = float(value)
        except ValueError:
            raise RestOptionError(name, value, "a number (seconds)") from None
        minimum = option.minimum if option.minimum is not None else -math.inf
        if number != number or number < minimum:
            raise RestOptionError(name, value, f"a number >= {minimum:g}")
        if option.maximum is not None and number > option.maximum:
            raise RestOptionError(name, value, f"a number <= {option.maximum:g}")
        return number

    def integer(self, name: str) -> int:
        """A whole number within the registry's bounds, else the default."""
        return _need(self.integer_or_none(name), name)

    def integer_or_none(self, name: str) -> int | None:
        option = spec(name)
        value = self.text(name)
        if value is None:
            return option.default
        try:
            number = int(value)
        except ValueError:
            raise RestOptionError(name, value, "a whole number") from None
        if option.minimum is not None and number < option.minimum:
            raise RestOptionError(name, value, f"a whole number >= {option.minimum:g}")
        if option.maximum is not None and number > option.maximum:
            raise RestOptionError(name, value, f"a whole number <= {option.maximum:g}")
        return number

    def boolean(self, name: str) -> bool:
        value = self.text(name)
        if value is None:
            return bool(spec(name).default)
        if value.strip().lower() in ("true", "1", "yes"):
            return True
        if value.strip().lower() in ("false", "0", "no"):
            return False
        raise RestOptionError(name, value, "true or false")

    def json(self, name: str, kind: type, what: str) -> Any:
        value = self.text(name)
        if value is None:
            return None
        try:
            parsed = json.loads(value, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise RestOptionError(name, value, f"{what} ({exc.msg} at char {exc.pos})") from None
        except (ValueError, RecursionError):  # NaN/Infinity, or nested too deeply
            raise RestOptionError(name, value, f"{what} (strict JSON)") from None
        if not isinstance(parsed, kind):
            raise RestOptionError(name, value, what)
        return parsed

    def jsonpath(self, name: str) -> str | None:
        from rest_stream.decoders.jsonpath import compile_path

        value = self.text(name)
        if value is not None:
            try:
                compile_path(value, option=name)
            except RecursionError:
                raise RestOptionError(name, value, "a JSONPath nested less deeply") from None
        return value

    def header(self, name: str, default: str | None = None) -> str | None:
        """An HTTP header name."""
        value = self.text(name, default)
        if value is not None and not _HEADER_NAME.fullmatch(value.strip()):
            raise RestOptionError(name, value, "an HTTP header name, e.g. X-Next-Cursor")
        return None if value is None else value.strip()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _need(value: Any, name: str) -> Any:
    assert value is not None, f"{name} has no default in the registry"
    return value


def parse_options(raw: Mapping[str, str]) -> RestOptions:
    """Parse Spark's option strings into `RestOptions`, or raise `RestOptionError`.

    Unknown option names are refused (with the closest known name); options set where they do
    nothing (e.g. `pageSize` with `offsetType cursor`) are refused too, except credentials of
    another `authType`, which warn (`RestOptionWarning`).
    """
    r = _Reader(raw)
    _refuse_unknown(r)
    _refuse_inapplicable(r)
    url = _url(r, "url")
    if url is None:
        hint = " (load(path)'s path is not it)" if r.raw.get("path") else ""
        raise RestOptionError(
            "url", None, f"the API's URL, e.g. https://api.example.com/items{hint}"
        )
    headers = r.json("headers", dict, 'a JSON object, e.g. {"Accept": "application/json"}') or {}
    input_data = _parse_input_data(r)
    response_format = r.choice("responseFormat")
    stream = _parse_stream_options(r, response_format)
    rescued, corrupt = _bad_record_columns(r)
    options = RestOptions(
        url=url,
        method=r.choice("method"),
        headers={_header_name(str(k)): _header_value(str(k), v) for k, v in headers.items()},
        cookie=_header_secret(r, "cookie"),
        input_data=input_data,
        query_type=r.choice("queryType"),
        post_input_format=r.choice("postInputFormat"),
        connection_timeout=r.number("connectionTimeout"),
        read_timeout=r.number("readTimeout"),
        auth=_parse_auth(r),
        records_path=_records_path(r, response_format),
        response_format=response_format,
        error_path=r.jsonpath("errorPath"),
        body_template=r.json(
            "bodyTemplate",
            dict,
            'a JSON object, e.g. {"query": "...", "variables": {"after": "{after}"}}',
        ),
        include_inputs_in_output=r.boolean("includeInputsInOutput"),
        schema_sample_size=r.integer("schemaSampleSize"),
        on_type_mismatch=r.choice("onTypeMismatch"),
        rescued_data_column=rescued,
        mode=r.choice("mode"),
        corrupt_record_column=corrupt,
        max_retries=r.integer("maxRetries"),
        retry_backoff_seconds=r.number("retryBackoffSeconds"),
        retry_max_wait_seconds=r.number("retryMaxWaitSeconds"),
        rate_limit_max_wait_seconds=r.number("rateLimitMaxWaitSeconds"),
        num_partitions=r.integer_or_none("numPartitions"),
        request_concurrency=r.integer("requestConcurrency"),
        max_requests_per_second=_positive_or_none(r, "maxRequestsPerSecond"),
        follow_redirects=r.choice("followRedirects"),
        tls_verify=_tls_verify(r),
        client_cert=_existing_file(r, "clientCert"),
        client_key=r.secret("clientKey"),
        proxy=_proxy(r),
        rate_limit_remaining_header=r.header("rateLimitRemainingHeader"),
        rate_limit_reset_header=r.header("rateLimitResetHeader"),
        input_data_url=_input_data_url(r, input_data),
        input_data_path=r.jsonpath("inputDataPath"),
        stream_key=_stream_key(r, input_data),
        stream=stream,
        pagination=_parse_pagination(r, stream),
    )
    if r.boolean("streaming") and stream.offset_type is None:
        raise missing_offset_type("streaming=true")
    return options


def missing_offset_type(why: str) -> RestOptionError:
    """The error for a stream read without `offsetType`."""
    return RestOptionError(
        "offsetType",
        None,
        f"one of {', '.join(OFFSET_TYPES)}: {why} needs it to know where each stream is "
        "(see docs/offsets.md)",
    )


def _refuse_unknown(r: _Reader) -> None:
    for key in r.raw:
        if key not in BY_KEY and key not in SPARK_KEYS:
            raise RestUnknownOptionError(key, closest(key))


def _refuse_inapplicable(r: _Reader) -> None:
    """Options given where they do nothing: refused, or warned about for auth options of
    another kind than the `authType` chosen."""
    for option, value in r.given():
        for condition in option.when:
            actual = _condition_value(r, condition)
            if _holds(condition, actual):
                continue
            wanted = condition.describe() if condition.values else condition.option
            if actual is None:
                reason = f"{condition.option} is not set, so {option.name} would be ignored"
            else:
                reason = f"{condition.option} {actual} does not use {option.name}"
            if condition.option == "authType" and actual is not None:
                warnings.warn(
                    RestOptionWarning(f"Option {option.name} is ignored: {reason}."), stacklevel=3
                )
                continue
            raise RestOptionError(option.name, value, f"{wanted} beside it ({reason})")
    _refuse_pairs(r)


def _holds(condition: Condition, actual: str | None) -> bool:
    return actual is not None and (not condition.values or actual in condition.values)


def _condition_value(r: _Reader, condition: Condition) -> str | None:
    """The option a condition looks at: its chosen value (choices), `set` when it is given
    (other options), or None when it is not given (and has no default) or is `none`."""
    option = spec(condition.option)
    if option.kind == "choice":
        value = r.choice_or_none(option.name) or option.default
        return value if value != "none" else None
    return "set" if r.text(option.name) is not None else None


def _applies(r: _Reader, name: str) -> bool:
    return all(_holds(c, _condition_value(r, c)) for c in spec(name).when)


def _refuse_pairs(r: _Reader) -> None:
    """Two options that each apply but cannot both: one of them would be ignored."""
    pairs = (
        ("apiKeyHeader", "apiKeyParam", "the key goes in one place: a header or a parameter"),
        ("offsetPath", "offsetHeader", "the next cursor comes from one place"),
    )
    for ignored, winner, why in pairs:
        value = r.text(ignored)
        if value is not None and r.text(winner) is not None and _applies(r, ignored):
            raise RestOptionError(
                ignored, value, f"no value beside {winner} ({why}; set one of the two)"
            )
    probe = r.text("latestOffsetUrl")
    if probe and r.choice_or_none("offsetType") == "timestamp" and not r.text("recordOffsetPath"):
        raise RestOptionError(
            "latestOffsetUrl",
            probe,
            "recordOffsetPath beside it (without it a timestamp stream is a chain of pages the "
            "driver walks, with no end to probe)",
        )


def _bad_record_columns(r: _Reader) -> tuple[str | None, str]:
    """`rescuedDataColumn` (None when not set) and `columnNameOfCorruptRecord`: different
    columns, neither of them `_input`."""
    rescued = r.text("rescuedDataColumn")
    corrupt = _need(
        r.text("columnNameOfCorruptRecord", default("columnNameOfCorruptRecord")),
        "columnNameOfCorruptRecord",
    )
    taken = {"_input": "includeInputsInOutput"} if r.boolean("includeInputsInOutput") else {}
    for name, value in (("columnNameOfCorruptRecord", corrupt), ("rescuedDataColumn", rescued)):
        if value is not None and value in taken:
            raise RestOptionError(name, value, f"another column name than {taken[value]}'s")
        if value is not None:
            taken[value] = name
    return rescued, corrupt


def _url(r: _Reader, name: str) -> str | None:
    url = r.text(name)
    if url is None:
        return None
    if not url.lower().startswith(("http://", "https://")):
        raise RestOptionError(name, url, "an http:// or https:// URL")
    if not url.split("://", 1)[1].split("/", 1)[0].strip():
        raise RestOptionError(name, url, "an http:// or https:// URL with a host")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise RestOptionError(name, url, "a URL without control characters")
    return url


def _header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise RestOptionError("headers", name, f"HTTP header names (not {name[:50]!r})")
    return name


def _header_value(name: str, value: object) -> str | Secret:
    text = str(value)
    if not _HEADER_TEXT.fullmatch(text):
        raise RestOptionError(
            "headers", text, f"header values in visible ASCII (the value of {name} is not)"
        )
    return Secret(text) if SENSITIVE_HEADER.search(name) else text


def _header_secret(r: _Reader, name: str) -> Secret | None:
    """A secret sent in a header: it must be text a header can carry."""
    value = r.secret(name)
    if value is not None and not _HEADER_TEXT.fullmatch(value.reveal()):
        raise RestOptionError(name, "***", "visible ASCII text (it is sent in a header)")
    return value


def _positive_or_none(r: _Reader, name: str) -> float | None:
    text = r.text(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    maximum = spec(name).maximum or math.inf
    if not value > 0 or value > maximum:
        raise RestOptionError(name, text, "a number > 0 (requests per second)")
    return value


def _tls_verify(r: _Reader) -> bool | str:
    value = r.text("tlsVerify")
    if value is None or value.strip().lower() in ("true", "1", "yes"):
        return True
    if value.strip().lower() in ("false", "0", "no"):
        return False
    if not os.path.isfile(value):
        raise RestOptionError("tlsVerify", value, "true, false or the path of a CA bundle file")
    return value


def _existing_file(r: _Reader, name: str) -> str | None:
    value = r.text(name)
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
    url = _url(r, "inputDataUrl")
    if url is not None and input_data:
        raise RestOptionError("inputDataUrl", url, "no inputData beside it (use one of the two)")
    return url


def _stream_key(r: _Reader, input_data: tuple[Mapping[str, Any], ...]) -> tuple[str, ...] | None:
    text = r.text("streamKey")
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        parsed = [part.strip() for part in text.split(",")]
    if isinstance(parsed, str):
        parsed = [parsed]
    if (
        not isinstance(parsed, list)
        or not parsed
        or not all(isinstance(p, str) and p.strip() for p in parsed)
    ):
        raise RestOptionError("streamKey", text, 'input field names, e.g. ["repo"] or repo,owner')
    if not input_data and r.text("inputDataUrl") is None:
        raise RestOptionError(
            "streamKey", text, "inputData or inputDataUrl beside it (it names their fields)"
        )
    for index, row in enumerate(input_data):
        missing = [name for name in parsed if name not in row]
        if missing:
            raise RestOptionError(
                "streamKey", text, f"fields of every inputData row (row {index} lacks {missing})"
            )
    return tuple(parsed)


def _parse_input_data(r: _Reader) -> tuple[Mapping[str, Any], ...]:
    rows = r.json("inputData", list, 'a JSON array of objects, e.g. [{"region": "eu"}]')
    if rows is None:
        return ()
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RestOptionError(
                "inputData", r.text("inputData"), f"a JSON array of objects (item {index} is not)"
            )
    return tuple(rows)


def _parse_auth(r: _Reader) -> AuthOptions:
    kind = r.choice("authType")
    user_id = r.text("userId")
    if user_id is not None and ":" in user_id:
        raise RestOptionError("userId", user_id, "a user id without ':' (Basic auth splits at it)")
    api_key_param = r.text("apiKeyParam")
    oauth_token = _header_secret(r, "oauthToken")
    auth = AuthOptions(
        kind=kind,
        user_id=user_id,
        user_password=r.secret("userPassword"),
        bearer_token=_bearer_token(r, kind, oauth_token),
        oauth_token=oauth_token,
        oauth_consumer_key=r.text("oauthConsumerKey"),
        oauth_consumer_secret=r.secret("oauthConsumerSecret"),
        oauth_token_secret=r.secret("oauthTokenSecret"),
        oauth_token_url=_url(r, "oauthTokenUrl"),
        oauth_client_id=r.text("oauthClientId"),
        oauth_client_secret=r.secret("oauthClientSecret"),
        oauth_scope=r.text("oauthScope"),
        oauth_client_auth_method=r.choice("oauthClientAuthMethod"),
        api_key=r.secret("apiKey") if api_key_param else _header_secret(r, "apiKey"),
        api_key_header=_need(r.header("apiKeyHeader", default("apiKeyHeader")), "apiKeyHeader"),
        api_key_param=api_key_param,
    )
    required = {
        "basic": ("userId", "userPassword"),
        "bearer": ("bearerToken",) if auth.bearer_token is None else (),
        "oauth1": ("oauthConsumerKey", "oauthConsumerSecret"),
        "oauth2": ("oauthTokenUrl", "oauthClientId", "oauthClientSecret"),
        "apikey": ("apiKey",),
    }.get(kind, ())
    for name in required:
        if r.text(name) is None:
            other = " (or oauthToken, its other name)" if name == "bearerToken" else ""
            raise RestOptionError(name, None, f"a value{other}: authType {kind} needs it")
    return auth


def _records_path(r: _Reader, response_format: str) -> str | None:
    """`recordsPath`; with a line or row format only a path over the whole list."""
    path = r.jsonpath("recordsPath")
    if path is not None and response_format != "json" and path.strip() not in WHOLE_LIST_PATHS:
        raise RestOptionError(
            "recordsPath",
            path,
            f"$ or $[*], or no recordsPath, with responseFormat {response_format} (the records "
            f"are every {_ITEM[response_format]} of the body: there is no document around them "
            "to pick them from)",
        )
    return path


#: What one record is in each line or row format, for messages.
_ITEM = {"ndjson": "line", "csv": "row"}


def _refuse_body_offsets(
    r: _Reader, response_format: str, offset_type: str, offset_path: str | None
) -> None:
    """A line or row body has nothing around its records: an offset read from the body
    needs a path over the list of records (`ndjson`), and cannot exist in `csv`."""
    if response_format == "json":
        return
    if response_format == "csv" and offset_path is not None:
        raise RestOptionError(
            "offsetPath",
            offset_path,
            "no offsetPath with responseFormat csv (a CSV body holds only rows: nothing in it "
            "can name the next offset; take it from a header with offsetHeader or offsetType "
            "link, or from each row with recordOffsetPath)",
        )
    needs_body = (offset_type == "cursor" and r.text("offsetHeader") is None) or (
        offset_type == "timestamp" and r.text("recordOffsetPath") is None
    )
    if not needs_body or offset_path is not None:
        return
    if offset_type == "cursor":
        ndjson = " or offsetPath over the list of records (e.g. $[-1].id)"
        raise RestOptionError(
            "offsetHeader",
            None,
            f"the response header that holds the next cursor"
            f"{ndjson if response_format == 'ndjson' else ''}: with responseFormat "
            f"{response_format} the body holds only records, with no next cursor around them",
        )
    ndjson = ", or offsetPath over the list of records (e.g. $[-1].ts)"
    raise RestOptionError(
        "recordOffsetPath",
        None,
        f"the field of each record that holds its timestamp"
        f"{ndjson if response_format == 'ndjson' else ''}: with responseFormat "
        f"{response_format} the body holds only records, with no next timestamp around them",
    )


def _bearer_token(r: _Reader, kind: str, oauth_token: Secret | None) -> Secret | None:
    """`bearerToken`, or its other name `oauthToken`; under `authType=Bearer` the two must
    not disagree (one of them would be sent, the other silently dropped)."""
    token = _header_secret(r, "bearerToken")
    if token is None:
        return oauth_token
    if kind == "bearer" and oauth_token is not None and oauth_token != token:
        raise RestOptionError(
            "bearerToken",
            "***",
            "no other value in oauthToken beside it (oauthToken is another name for the "
            "Bearer token: set one of the two)",
        )
    return token


def _parse_stream_options(r: _Reader, response_format: str = "json") -> StreamOptions:
    offset_type = r.choice_or_none("offsetType")
    if offset_type is None:
        return StreamOptions()  # stream options given without offsetType are refused later
    offset_field = r.text("offsetField")
    record_offset_path = r.jsonpath("recordOffsetPath")
    record_order = r.choice("recordOrder")
    walks_down = offset_type == "cursor" and record_offset_path is not None
    if walks_down and record_order != "descending":
        raise RestOptionError(
            "recordOffsetPath",
            record_offset_path,
            "recordOrder descending beside it (offsetType cursor reads record ids only to walk "
            "a newest-first list down to the newest record delivered)",
        )
    if offset_field is None and offset_type != "link" and not walks_down:
        raise RestOptionError(
            "offsetField",
            None,
            f"the offset's name (the {{placeholder}} in url) for offsetType {offset_type}",
        )
    if record_offset_path is None and offset_type == "incremental":
        record_offset_path = "$.id"
    page_size = r.integer_or_none("pageSize")
    if offset_type in ("page", "offset") and page_size is None:
        raise RestOptionError(
            "pageSize",
            None,
            f"the number of records on a full page (offsetType {offset_type} needs it)",
        )
    initial = r.text("initialOffset", DEFAULT_INITIAL_OFFSET[offset_type]) or ""
    start_at = initial.strip().lower()
    if start_at in ("earliest", "latest"):  # like Kafka's startingOffsets
        initial = DEFAULT_INITIAL_OFFSET[offset_type]
    if offset_type in ("page", "offset", "incremental"):
        _require_int("initialOffset", initial, minimum=0 if offset_type != "incremental" else None)
    if offset_type == "link" and initial:
        _url(r, "initialOffset")  # the first page's URL
    timestamp_format = _timestamp_format(r)
    if offset_type == "timestamp":
        _require_timestamp(initial, timestamp_format)
    latest_url = _url(r, "latestOffsetUrl")
    latest_path = r.jsonpath("latestOffsetPath")
    if latest_url is not None and latest_path is None:
        raise RestOptionError("latestOffsetPath", None, "a JSONPath: latestOffsetUrl needs it")
    offset_path = r.jsonpath("offsetPath")
    offset_header = r.header("offsetHeader")
    _refuse_body_offsets(r, response_format, offset_type, offset_path)
    if walks_down:
        _refuse_next_cursor(offset_path, offset_header)
    elif offset_path is None and offset_field is not None and response_format == "json":
        offset_path = f"$.{offset_field}"
    return StreamOptions(
        offset_type=offset_type,
        offset_field=offset_field,
        offset_path=offset_path,
        offset_header=offset_header,
        record_offset_path=record_offset_path,
        initial_offset=initial,
        start_latest=start_at == "latest",
        timestamp_format=timestamp_format,
        timestamp_lag_seconds=r.number("timestampLagSeconds"),
        **_lookback(r),
        page_size=page_size,
        batch_size=r.integer_or_none("batchSize"),
        max_pages_per_batch=r.integer("maxPagesPerBatch"),
        max_bytes_per_batch=r.integer("maxBytesPerBatch"),
        latest_offset_url=latest_url,
        latest_offset_path=latest_path,
        streaming_interval=r.number("streamingInterval"),
        on_bad_offset=r.choice("onBadOffset"),
        stream_retire_seconds=r.number("streamRetireSeconds"),
        record_order=record_order,
    )


def _refuse_next_cursor(offset_path: str | None, offset_header: str | None) -> None:
    """A newest-first walk reads its position from the records and pages down with
    `pagination`: a next cursor of its own would be ignored."""
    for name, value in (("offsetPath", offset_path), ("offsetHeader", offset_header)):
        if value is not None:
            raise RestOptionError(
                name,
                value,
                "no value with recordOrder=descending and recordOffsetPath (the position is the "
                "newest record's id at recordOffsetPath; the pages down come from pagination, "
                "e.g. pagination=cursor with nextPagePath and nextPageParam)",
            )


def _lookback(r: _Reader) -> dict[str, Any]:
    """`lookbackSeconds` (more than 0), with the `primaryKeyPath` it needs, and its bound."""
    seconds = r.number_or_none("lookbackSeconds")
    key_path = r.jsonpath("primaryKeyPath")
    max_keys = r.integer("lookbackMaxKeys")
    if seconds is not None and seconds <= 0:
        raise RestOptionError(
            "lookbackSeconds", r.text("lookbackSeconds"), "a number of seconds > 0"
        )
    if seconds is not None and key_path is None:
        raise RestOptionError(
            "primaryKeyPath",
            None,
            "a JSONPath to each record's key, e.g. $.id: lookbackSeconds needs it to know "
            "which records it delivered",
        )
    return {
        "lookback_seconds": seconds,
        "primary_key_path": key_path,
        "lookback_max_keys": max_keys,
    }


def _parse_pagination(r: _Reader, stream: StreamOptions) -> PaginationOptions:
    style = r.choice("pagination")
    chains = ("cursor", "link", "page", "offset")
    if style != "none" and stream.offset_type in chains and not stream.walks_down:
        raise RestOptionError(
            "pagination",
            style,
            f"none with offsetType {stream.offset_type}: that position already walks the pages "
            "one by one (pagination combines with incremental and timestamp positions, a "
            "newest-first cursor walk with recordOrder=descending and recordOffsetPath, batch "
            "reads and inputDataUrl; hasMorePath and donePath end a cursor or link position's "
            "pages)",
        )
    path, header = r.jsonpath("nextPagePath"), r.header("nextPageHeader")
    if style == "nextUrl" and path is None:
        raise RestOptionError("nextPagePath", None, "a JSONPath to the next page's URL")
    if style == "cursor" and path is None and header is None:
        raise RestOptionError(
            "nextPagePath", None, "a JSONPath to the next token (or set nextPageHeader)"
        )
    if path is not None and header is not None:
        raise RestOptionError(
            "nextPagePath", path, "no value beside nextPageHeader (the token comes from one place)"
        )
    if stream.walks_down and style == "none":
        for name in ("hasMorePath", "donePath"):
            value = r.text(name)
            if value is not None:
                raise RestOptionError(
                    "pagination",
                    None,
                    f"a way down the list beside {name} (with recordOrder=descending and "
                    "recordOffsetPath each poll pages down from the newest page: e.g. "
                    "pagination=cursor with nextPagePath and nextPageParam)",
                )
    param = r.text("nextPageParam") or ""
    if style in ("cursor", "page", "offset") and not param:
        raise RestOptionError(
            "nextPageParam", None, f"the name the next {style} is sent as (pagination={style})"
        )
    size = r.text("pageSize")
    paged = style in ("page", "offset") or stream.offset_type in ("page", "offset")
    if size is not None and not paged:
        raise RestOptionError(
            "pageSize",
            size,
            "offsetType page or offset, or pagination page or offset beside it (else it "
            "would be ignored)",
        )
    return PaginationOptions(
        style=style,
        next_page_path=path,
        next_page_header=header,
        next_page_param=param,
        first_page=r.integer("firstPage"),
        page_size=r.integer_or_none("pageSize"),
        has_more_path=r.jsonpath("hasMorePath"),
        done_path=r.jsonpath("donePath"),
    )


#: The range of timestamps Python's datetime can show: years 1 to 9999, in microseconds.
_TIMESTAMP_RANGE = (-62_135_596_800_000_000, 253_402_300_799_999_999)


def _timestamp_format(r: _Reader) -> str:
    from rest_stream.positions.timestamps import is_pattern

    value = (r.text("timestampFormat", "seconds") or "seconds").strip()
    if value.lower() in ("seconds", "millis", "iso8601"):
        return value.lower()
    if is_pattern(value):
        return value
    raise RestOptionError(
        "timestampFormat",
        value,
        "seconds, millis, iso8601, or a pattern with yyyy (e.g. yyyy-MM-dd'T'HH:mm:ss.SSSXXX)",
    )


def _require_timestamp(value: str, timestamp_format: str) -> None:
    from rest_stream.positions.timestamps import parse_timestamp

    try:
        micros = parse_timestamp(value, timestamp_format)
    except (ValueError, OverflowError):
        micros = None
    if micros is None or not _TIMESTAMP_RANGE[0] <= micros <= _TIMESTAMP_RANGE[1]:
        raise RestOptionError(
            "initialOffset", value, f"a timestamp in timestampFormat {timestamp_format}"
        )


def _require_int(name: str, value: str, minimum: int | None = None) -> None:
    try:
        number = int(value)
    except ValueError:
        raise RestOptionError(name, value, "a whole number") from None
    if minimum is not None and number < minimum:
        raise RestOptionError(name, value, f"a whole number >= {minimum}")
    if not -(2**63) <= number < 2**63:
        raise RestOptionError(name, value, "a whole number that fits in 64 bits")
