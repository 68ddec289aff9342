"""Garbage into every option: each value is accepted, or refused with a `RestOptionError`
naming that option — never another exception.

Hypothesis runs with a fixed, derandomized profile (the same examples every run, no example
database), bounded so the whole module takes a few seconds.
"""

from __future__ import annotations

import pickle
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rest_stream.errors import RestOptionError, RestOptionWarning, RestUnknownOptionError
from rest_stream.options.parse import RestOptions, parse_options
from rest_stream.options.registry import BY_KEY, OPTIONS, SPARK_KEYS, OptionSpec

URL = "https://api.example.com/items"

FIXED = settings(
    derandomize=True,
    database=None,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: Hand-picked garbage: blanks, signs, NaN and infinities, broken and nested JSON, long
#: values, NUL and other Unicode, header injection, paths, URLs, JSONPaths, env: secrets.
GARBAGE = [
    "",
    " ",
    "\t\n",
    "-1",
    "-0",
    "0",
    "1",
    "-1.5",
    "0.0000001",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-309",
    "1e18",
    "99999999999999999999",
    "9" * 5000,
    "x" * 5000,
    "[" * 5000,
    "{" * 5000,
    '{"a":' * 3000,
    "{",
    "[",
    "]",
    '{"a":',
    "[{",
    '{"a": NaN}',
    "[Infinity]",
    '[{"a": -Infinity}]',
    "null",
    "true",
    "[]",
    "{}",
    "[[]]",
    '[{"a": 1}]',
    '{"X-A": "\\u0000"}',
    '{"Bad Name": "v"}',
    '{"X-A": "caf\\u00e9"}',
    '"text"',
    "\x00",
    "a\x00b",
    "é",
    "日本語",
    "\u202e",
    "\ud800",
    "０",
    "١٢",
    "𝟘",
    "1_000",
    " 5 ",
    "0x10",
    "$",
    "$.",
    "$..",
    "$[",
    "$.a[?(@.b >",
    "$.a[" * 2000,
    "$" + ".a" * 3000,
    "env:",
    "env:\x00",
    "env:A=B",
    "env:REST_STREAM_SURELY_UNSET",
    "http://",
    "https://",
    "https:///x",
    "http://\x00",
    "https://h/\r\nX: 1",
    "socks5://",
    "file:///etc/passwd",
    "YES",
    "none",
    "/",
    "/etc",
    "/dev/null",
    "\r\nX-Injected: 1",
    "a,,b",
    ",",
    '["", "a"]',
    '[1, 2]',
]

VALUES = st.one_of(
    st.sampled_from(GARBAGE),
    st.text(max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(GARBAGE).flatmap(lambda g: st.text(max_size=5).map(lambda t: g + t)),
)

BASIC = {"authType": "basic", "userId": "ann", "userPassword": "pw"}
AUTH_CONTEXT = {
    "basic": BASIC,
    "bearer": {"authType": "bearer", "oauthToken": "t"},
    "oauth1": {"authType": "oauth1", "oauthConsumerKey": "ck", "oauthConsumerSecret": "cs"},
    "oauth2": {
        "authType": "oauth2",
        "oauthTokenUrl": "https://auth.example.com/token",
        "oauthClientId": "cid",
        "oauthClientSecret": "cs",
    },
    "apikey": {"authType": "apikey", "apiKey": "k"},
}
OFFSET_CONTEXT = {
    "timestamp": {"offsetType": "timestamp", "offsetField": "since"},
    "cursor": {"offsetType": "cursor", "offsetField": "c"},
    "incremental": {"offsetType": "incremental", "offsetField": "id"},
    "page": {"offsetType": "page", "offsetField": "p", "pageSize": "10"},
    "offset": {"offsetType": "offset", "offsetField": "o", "pageSize": "10"},
    "link": {"offsetType": "link"},
}
PAGINATION_CONTEXT = {
    "nextUrl": {"pagination": "nextUrl", "nextPagePath": "$.next"},
    "cursor": {"pagination": "cursor", "nextPagePath": "$.next", "nextPageParam": "after"},
    "page": {"pagination": "page", "nextPageParam": "page"},
}
SET_CONTEXT = {
    "latestOffsetUrl": {**OFFSET_CONTEXT["incremental"], "latestOffsetUrl": URL + "/max"},
    "inputDataUrl": {"inputDataUrl": URL + "/parents"},
    "clientCert": {"clientCert": __file__},
    "recordOffsetPath": {"recordOffsetPath": "$.ts"},
    "lookbackSeconds": {
        **OFFSET_CONTEXT["timestamp"],
        "recordOffsetPath": "$.ts",
        "lookbackSeconds": "60",
        "primaryKeyPath": "$.id",
    },
}


def context(option: OptionSpec) -> dict[str, str]:
    """Options beside `option` under which it applies (and every requirement is met)."""
    raw: dict[str, str] = {}
    for condition in option.when:
        if condition.option == "authType":
            raw.update(AUTH_CONTEXT[condition.values[0]])
        elif condition.option == "offsetType":
            raw.update(OFFSET_CONTEXT[(condition.values or ("cursor",))[0]])
        elif condition.option == "method":
            raw["method"] = condition.values[0]
        elif condition.option == "pagination":
            raw.update(PAGINATION_CONTEXT[condition.values[0]])
        elif condition.option == "mode":
            raw["mode"] = condition.values[0]
        else:
            raw.update(SET_CONTEXT[condition.option])
    if option.name == "streaming":
        raw.update(OFFSET_CONTEXT["cursor"])
    if option.name == "nextPageHeader":
        raw.pop("nextPagePath")  # the token comes from one place
    if option.name == "streamKey":
        raw["inputData"] = '[{"a": 1, "b": 2}]'
    if option.name == "latestOffsetUrl":
        raw["latestOffsetPath"] = "$.max"
    if option.name == "lookbackSeconds":
        raw["primaryKeyPath"] = "$.id"
    raw.pop(option.name, None)
    return raw


def valid_choice(option: OptionSpec, value: str) -> bool:
    return value.strip().lower() in {c.lower() for c in option.choices}


def check(option: OptionSpec, value: str) -> None:
    raw = {"url": URL, **context(option), option.name: value}
    if option.name == "url":
        raw = {option.name: value}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RestOptionWarning)
            parsed = parse_options(raw)
    except RestOptionError as exc:
        # A valid choice may need another option (offsetType page needs pageSize, ...); a
        # blank value is no value, so an option that needs this one may complain.
        expected = exc.option == option.name or valid_choice(option, value) or not value.strip()
        assert expected, (option.name, exc)
        str(exc)  # the message itself builds
        return
    assert isinstance(parsed, RestOptions)
    assert pickle.loads(pickle.dumps(parsed)) == parsed  # it travels to executors
    parsed.redact(value)


@pytest.mark.parametrize("name", [o.name for o in OPTIONS])
@FIXED
@given(value=VALUES)
def test_garbage_in_any_option_is_accepted_or_refused_naming_it(name: str, value: str) -> None:
    check(BY_KEY[name.lower()], value)


@pytest.mark.parametrize("name", [o.name for o in OPTIONS])
def test_every_hand_picked_garbage_value(name: str) -> None:
    failures = []
    for value in GARBAGE:
        try:
            check(BY_KEY[name.lower()], value)
        except Exception as exc:  # every failing value at once, each shown short
            failures.append(f"{value[:40]!r}: {type(exc).__name__}: {str(exc)[:300]}")
    assert failures == []


@FIXED
@given(key=st.text(min_size=1, max_size=30), value=VALUES)
def test_garbage_option_names_are_refused_as_unknown(key: str, value: str) -> None:
    if key.lower() in BY_KEY or key.lower() in SPARK_KEYS:
        return
    with pytest.raises(RestUnknownOptionError) as info:
        parse_options({"url": URL, key: value})
    assert info.value.option == key.lower()
    assert value not in str(info.value) or value in key or len(value) < 3
