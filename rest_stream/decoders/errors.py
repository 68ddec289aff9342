"""`BodyError`: a body that cannot be read in its format, before the caller names its URL."""

from __future__ import annotations


class BodyError(ValueError):
    """A body is not what its format says: `problem` completes "Response of <url> ..." (e.g.
    "is not valid NDJSON: line 7 does not parse (...)"), `excerpt` is the bytes at fault.
    The HTTP layer turns it into a `RestResponseError` naming the URL, secrets masked."""

    def __init__(self, problem: str, excerpt: bytes = b"") -> None:
        super().__init__(problem)
        self.problem = problem
        self.excerpt = excerpt
