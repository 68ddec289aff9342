"""docs/options.md tells the truth: each option's documented default is what `parse_options`
yields when the option is absent, and its documented values are the ones it accepts.

The tables are read as a user reads them (the rendered Markdown of docs/options.md), not
from the registry they are generated from, so a default or a choice the parser handles
differently from what the page says fails here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from rest_stream.driver.planner import default_parallelism, task_count
from rest_stream.errors import RestOptionError
from rest_stream.options.parse import parse_options
from rest_stream.secrets import Secret

DOCS = Path(__file__).resolve().parent.parent / "docs" / "options.md"
URL = "https://api.example.com/items"

_ROW = re.compile(r"^\| `(?P<name>\w+)` \|(?P<cells>.*)\|\s*$")
_TICKED = re.compile(r"`([^`]*)`")


@dataclasses.dataclass(frozen=True)
class Documented:
    """One row of a generated table: the option, its default, where it applies, its meaning."""

    name: str
    default: str
    applies: str
    meaning: str

    def literal_default(self) -> str | None:
        """The default when the page gives one literal value (`GET`, `0.5`, `268435456`
        (256 MiB)), else None."""
        match = re.fullmatch(r"`([^`]*)`(?: \([^)]*\))?", self.default)
        return match.group(1) if match else None

    def choices(self) -> list[str]:
        """The values the meaning names: its `One of ...` list, else every value in
        backticks (the generator adds `One of` only when the text does not name them all)."""
        listed = re.search(r"One of ((?:`[^`]+`(?:, )?)+)\.", self.meaning)
        return _TICKED.findall(listed.group(1) if listed else self.meaning)


def documented() -> dict[str, Documented]:
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            cells = [cell.strip() for cell in match.group("cells").split(" | ")]
            default, applies, meaning = cells[0], cells[1], cells[2]
            rows[match.group("name")] = Documented(match.group("name"), default, applies, meaning)
    return rows


DOCUMENTED = documented()

#: Options that make a condition of the `applies` column hold, as few as that needs.
_AUTH = {
    "basic": {"authType": "Basic", "userId": "ann", "userPassword": "pw-1"},
    "bearer": {"authType": "Bearer", "bearerToken": "tok-1"},
    "oauth1": {"authType": "OAuth1", "oauthConsumerKey": "ck", "oauthConsumerSecret": "cs-1"},
    "oauth2": {
        "authType": "OAuth2",
        "oauthTokenUrl": "https://auth.example.com/token",
        "oauthClientId": "cid",
        "oauthClientSecret": "sec-1",
    },
    "apikey": {"authType": "ApiKey", "apiKey": "key-1"},
}
_OFFSETS = {
    "incremental": {"offsetType": "incremental", "offsetField": "since_id"},
    "timestamp": {"offsetType": "timestamp", "offsetField": "since"},
    "cursor": {"offsetType": "cursor", "offsetField": "cursor"},
    "page": {"offsetType": "page", "offsetField": "page", "pageSize": "100"},
    "offset": {"offsetType": "offset", "offsetField": "offset", "pageSize": "100"},
    "link": {"offsetType": "link"},
}
_PAGINATION = {
    "nextUrl": {"pagination": "nextUrl", "nextPagePath": "$.next"},
    "cursor": {"pagination": "cursor", "nextPagePath": "$.next", "nextPageParam": "after"},
    "page": {"pagination": "page", "nextPageParam": "page", "pageSize": "100"},
    "offset": {"pagination": "offset", "nextPageParam": "offset", "pageSize": "100"},
}
_SET = {
    "offsetType": _OFFSETS["incremental"],
    "inputDataUrl": {"inputDataUrl": "https://api.example.com/parents"},
    "clientCert": {"clientCert": __file__},
    "latestOffsetUrl": {
        **_OFFSETS["incremental"],
        "latestOffsetUrl": "https://api.example.com/latest",
        "latestOffsetPath": "$.max_id",
    },
    "lookbackSeconds": {
        "offsetType": "timestamp",
        "offsetField": "since",
        "recordOffsetPath": "$.ts",
        "lookbackSeconds": "60",
        "primaryKeyPath": "$.id",
    },
}


#: Where the first condition's first value would clash with the option itself.
_CONTEXTS = {
    "streaming": _OFFSETS["incremental"],
    "oauthToken": _AUTH["oauth1"],
    "nextPageHeader": {"pagination": "cursor", "nextPageParam": "after"},
}


def context(row: Documented) -> dict[str, str]:
    """Options under which `row`'s option applies (its `applies` column), without it."""
    if row.name in _CONTEXTS:
        return dict(_CONTEXTS[row.name])
    options: dict[str, str] = {}
    for part in row.applies.split("; "):
        words = part.split(" ")
        if part in ("always", "readStream only"):
            continue
        if words[-1] == "set":
            options.update(_SET[words[0]])
            continue
        option, value = words[0], words[1]  # the first value the condition takes
        table = {"authType": _AUTH, "offsetType": _OFFSETS, "pagination": _PAGINATION}.get(option)
        options.update(table[value] if table else {option: value})
    return {name: value for name, value in options.items() if name != row.name}


#: A value to set each option to where its example is not one this machine can take (a
#: file that must exist, an environment variable, a second spelling in one cell).
SAMPLES = {
    "url": URL,
    "tlsVerify": __file__,
    "clientCert": __file__,
    "streamKey": '["region"]',
    "inputData": '[{"region": "eu"}]',
    "headers": '{"Accept": "application/json"}',
    "initialOffset": "7",
    "offsetType": "link",
}


def sample(row: Documented) -> str:
    if row.name in SAMPLES:
        return SAMPLES[row.name]
    example = _TICKED.findall(row_example(row.name))[0]
    return "secret-value" if example.startswith("env:") else example


def row_example(name: str) -> str:
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match and match.group("name") == name:
            return match.group("cells").split(" | ")[-1]
    raise KeyError(name)


def parse(options: dict[str, str]) -> Any:
    return parse_options({"url": URL, **options})


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """The fields of parsed options, nested dataclasses flattened (`stream.batch_size`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found: dict[str, Any] = {}
        for field in dataclasses.fields(value):
            found.update(leaves(getattr(value, field.name), f"{prefix}{field.name}."))
        return found
    return {prefix.rstrip("."): value}


#: An option that cannot be set alone: what it needs beside it.
PAIRED = {"latestOffsetUrl": {"latestOffsetPath": "$.max_id"}}
#: Options that change no parsed field: `authType` needs credentials beside it (its
#: choices are checked below), `streaming` only checks that `offsetType` is set.
NO_FIELD = {"authType", "streaming"}


def changed(base: dict[str, str], name: str, value: str) -> dict[str, tuple[Any, Any]]:
    """The parsed fields that setting option `name` to `value` changes: (absent, set)."""
    given = {**base, name: value, **PAIRED.get(name, {})}
    before, after = leaves(parse(base)), leaves(parse(given))
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def test_the_tables_document_every_option() -> None:
    from rest_stream.options.registry import OPTIONS

    assert set(DOCUMENTED) == {option.name for option in OPTIONS}


@pytest.mark.parametrize(
    "row",
    [r for r in DOCUMENTED.values() if r.literal_default() is not None],
    ids=lambda r: r.name,
)
def test_a_literal_default_is_what_an_absent_option_gives(row: Documented) -> None:
    base = context(row)
    default = row.literal_default()
    assert default is not None
    assert leaves(parse(base)) == leaves(parse({**base, row.name: default})), (
        f"{row.name}: the page says the default is {default!r}"
    )
    # and the option does something: another value changes the parsed options
    other = sample(row) if sample(row) != default else None
    if other is not None and row.name not in NO_FIELD:
        assert changed(base, row.name, other), f"{row.name}={other!r} changes nothing"


@pytest.mark.parametrize(
    "row",
    [r for r in DOCUMENTED.values() if r.default in ("none", "unlimited")],
    ids=lambda r: r.name,
)
def test_an_option_without_a_default_is_unset_when_absent(row: Documented) -> None:
    base = context(row)
    try:
        parse(base)
    except RestOptionError as exc:  # a credential its authType needs: absent is refused
        assert row.name in (exc.option, *re.findall(r"set (\w+)", str(exc))), str(exc)
        return
    diff = changed(base, row.name, sample(row))
    assert diff, f"{row.name}={sample(row)!r} changes nothing"
    absent = {field: before for field, (before, _) in diff.items()}
    assert all(value in (None, (), {}) for value in absent.values()), (
        f"{row.name} is documented without a default, but absent it gives {absent}"
    )


@pytest.mark.parametrize(
    "row",
    [r for r in DOCUMENTED.values() if r.default.startswith("required")],
    ids=lambda r: r.name,
)
def test_a_required_option_is_refused_when_absent(row: Documented) -> None:
    base = context(row)
    if row.name == "nextPagePath":
        base = {k: v for k, v in _PAGINATION["nextUrl"].items() if k != row.name}
    if row.name == "nextPageParam":
        base = {k: v for k, v in _PAGINATION["page"].items() if k != row.name}
    if row.name == "pageSize":
        base = {k: v for k, v in _OFFSETS["page"].items() if k != row.name}
    if row.name == "url":
        with pytest.raises(RestOptionError) as info:
            parse_options({})
    else:
        with pytest.raises(RestOptionError) as info:
            parse(base)
    assert info.value.option == row.name


def test_num_partitions_defaults_to_the_cpu_count_at_least_2() -> None:
    assert DOCUMENTED["numPartitions"].default == "CPU count (≥ 2)"
    absent = parse({}).num_partitions
    assert task_count(absent) == default_parallelism() >= 2


def test_initial_offset_defaults_per_offset_type() -> None:
    text = DOCUMENTED["initialOffset"].default  # `""` cursor/link, `1` page, `0` offset/...
    pairs = re.findall(r'`([^`]*)` ([\w/]+)', text)
    assert pairs, text
    for literal, kinds in pairs:
        value = "" if literal == '""' else literal
        for kind in kinds.split("/"):
            base = _OFFSETS[kind]
            assert parse(base).stream.initial_offset == parse(
                {**base, "initialOffset": value} if value else base
            ).stream.initial_offset == value, kind


def test_record_offset_path_defaults_to_the_id_for_incremental() -> None:
    assert DOCUMENTED["recordOffsetPath"].default == "`$.id` for `incremental`"
    base = _OFFSETS["incremental"]
    assert leaves(parse(base)) == leaves(parse({**base, "recordOffsetPath": "$.id"}))


@pytest.mark.parametrize(
    "row",
    [r for r in DOCUMENTED.values() if "One of" in r.meaning or r.name in ("authType",)],
    ids=lambda r: r.name,
)
def test_documented_choices_are_the_accepted_ones(row: Documented) -> None:
    base = context(row)
    names = row.choices()
    accepted = []
    for value in names:
        extra = _OFFSETS[value] if row.name == "offsetType" else {}
        extra = _AUTH.get(value.lower(), extra) if row.name == "authType" else extra
        extra = _PAGINATION.get(value, extra) if row.name == "pagination" else extra
        try:
            parse({**base, **extra, row.name: value})
        except RestOptionError as exc:
            assert exc.option != row.name, f"{row.name}={value!r} is documented but refused"
        accepted.append(value.lower())
    with pytest.raises(RestOptionError) as info:
        parse({**base, row.name: "no-such-value"})
    assert info.value.option == row.name
    listed = re.search(r"expected one of (.*?)(?:\.|:|$)", str(info.value))
    assert listed is not None, str(info.value)
    refused_with = {value.strip().lower() for value in listed.group(1).split(",")}
    assert refused_with == set(accepted), (
        f"{row.name}: the page names {sorted(accepted)}, the parser takes {sorted(refused_with)}"
    )


def test_secret_defaults_are_none_and_masked() -> None:
    for name in ("bearerToken", "oauthToken", "apiKey"):
        assert DOCUMENTED[name].default == "none"
        assert "secret" in DOCUMENTED[name].meaning
    auth = parse(_AUTH["bearer"]).auth
    assert isinstance(auth.bearer_token, Secret)
