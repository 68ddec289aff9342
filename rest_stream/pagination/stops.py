"""Stop conditions: what ends a result set (or a chain of positions) whatever its next page
or cursor says. Each is one small class answering `ends(page)`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from rest_stream.decoders.jsonpath import CompiledPath, compile_path
from rest_stream.errors import RestResponseError
from rest_stream.options.parse import RestOptions


class StopCondition(Protocol):
    """Whether a page is the last of its result set."""

    def ends(self, page: Any) -> bool: ...


def _flag(page: Any, path: CompiledPath, option: str) -> bool:
    """The boolean at `path` in the page's body; a clear error when it is missing or is not a
    boolean (a typo must not end or extend a stream silently)."""
    matches = path.find(page.document)
    value = matches[0] if matches else None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if not isinstance(value, bool):
        found = "nothing" if not matches else repr(value)[:60]
        raise RestResponseError(
            page.source,
            page.status,
            f"has no boolean at {option}={path.text} (found {found})",
            str(page.document)[:200],
        )
    return value


@dataclass(frozen=True)
class HasMore:
    """`hasMorePath`: false ends the pages (Stripe `has_more`, GraphQL
    `pageInfo.hasNextPage`)."""

    path: CompiledPath

    def ends(self, page: Any) -> bool:
        return not _flag(page, self.path, "hasMorePath")


@dataclass(frozen=True)
class Done:
    """`donePath`: true ends the pages (Salesforce `done`, Zendesk `end_of_stream`)."""

    path: CompiledPath

    def ends(self, page: Any) -> bool:
        return _flag(page, self.path, "donePath")


@dataclass(frozen=True)
class EmptyPage:
    """A page without records ends page-number and offset pagination."""

    def ends(self, page: Any) -> bool:
        return len(page.records) == 0


@dataclass(frozen=True)
class ShortPage:
    """A page with fewer records than `pageSize` is the last."""

    size: int

    def ends(self, page: Any) -> bool:
        return len(page.records) < self.size


def stop_conditions(options: RestOptions) -> tuple[StopCondition, ...]:
    """The stop conditions the options name (`hasMorePath`, `donePath`)."""
    pagination = options.pagination
    found: list[StopCondition] = []
    if pagination.has_more_path:
        found.append(HasMore(compile_path(pagination.has_more_path, "hasMorePath")))
    if pagination.done_path:
        found.append(Done(compile_path(pagination.done_path, "donePath")))
    return tuple(found)


def explicit_end(options: RestOptions) -> bool:
    """Whether a stop condition decides where pages end (so a missing next is an error)."""
    return bool(options.pagination.has_more_path or options.pagination.done_path)
