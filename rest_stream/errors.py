"""Error types: each names the option or the response at fault, never a secret."""

from __future__ import annotations

from typing import Any

from rest_stream.options.registry import SECRET_NAMES

#: Lower-cased names of the options whose values are secrets (from the option registry).
SECRET_OPTION_NAMES = SECRET_NAMES
#: Options whose values error messages never show: the secrets, and headers (credentials).
MASKED_OPTION_NAMES = SECRET_OPTION_NAMES | {"headers"}


class RestStreamError(Exception):
    """Base class of every error rest_stream raises.

    Errors pickle with their message and attributes (a task's error may cross processes),
    though most take other arguments than the message:

    >>> import pickle
    >>> error = pickle.loads(pickle.dumps(RestOptionError("pageSize", "0", "a whole number >= 1")))
    >>> error.option, str(error)
    ('pageSize', "Invalid option pageSize='0': expected a whole number >= 1.")
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(
    cls: type[RestStreamError], args: tuple[Any, ...], state: dict[str, Any]
) -> RestStreamError:
    """An error as it was pickled, without calling its `__init__` again."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class RestOptionError(RestStreamError, ValueError):
    """An option is missing or has a value that is not accepted."""

    def __init__(
        self, option: str, value: str | None, expected: str, *, message: str | None = None
    ) -> None:
        self.option = option
        self.expected = expected
        if message is not None:
            super().__init__(message)
            return
        if value is None:
            shown = "missing"
        elif option.lower() in MASKED_OPTION_NAMES:
            shown = "'***'"
        else:
            shown = repr(value if len(value) <= 200 else value[:200] + "...")
        super().__init__(f"Invalid option {option}={shown}: expected {expected}.")


class RestUnknownOptionError(RestOptionError):
    """An option name `format("rest")` does not know (its value is never shown: it may be a
    misspelt secret option)."""

    def __init__(self, option: str, suggestion: str | None) -> None:
        self.suggestion = suggestion
        hint = f"did you mean `{suggestion}`?" if suggestion else "no known option is close"
        super().__init__(
            option,
            None,
            f"a known option name ({hint})",
            message=f"Unknown option {option}: {hint} "
            "(option names are case-insensitive; docs/options.md lists every option).",
        )


class RestOptionWarning(UserWarning):
    """An option is set where it does nothing, and refusing it would be too strict (e.g.
    credentials of another `authType` in a shared option set)."""


class RestHTTPError(RestStreamError):
    """The API answered with an error status (after any retries)."""

    def __init__(
        self, method: str, url: str, status: int, body_start: str, attempts: int = 1
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body_start = body_start
        self.attempts = attempts
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(
            f"HTTP {status} from {method} {url}{tries}; response starts: {body_start!r}"
        )


class RestRedirectError(RestHTTPError):
    """A redirect the `followRedirects` policy does not follow, or too long a redirect chain."""

    def __init__(self, method: str, url: str, status: int, reason: str, attempts: int = 1) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body_start = ""
        self.attempts = attempts
        self.reason = reason
        RestStreamError.__init__(self, f"HTTP {status} from {method} {url}: {reason}")


class RestRateLimitError(RestHTTPError):
    """The API's rate limit asks for a wait longer than `rateLimitMaxWaitSeconds`."""

    def __init__(self, origin: str, header: str, wait: float, max_wait: float, status: int) -> None:
        self.method = ""
        self.url = origin
        self.status = status
        self.body_start = ""
        self.attempts = 1
        self.header = header
        self.wait = wait
        RestStreamError.__init__(
            self,
            f"Rate limit of {origin}: {header} asks to wait {wait:.0f} s, longer than "
            f"rateLimitMaxWaitSeconds={max_wait:g}. Raise rateLimitMaxWaitSeconds to wait it "
            "out, or "
            "lower maxRequestsPerSecond to stay under the API's budget.",
        )


class RestConnectionError(RestStreamError):
    """The API could not be reached (connection refused, dropped, timed out) after retries."""

    def __init__(self, method: str, url: str, cause: str, attempts: int) -> None:
        self.method = method
        self.url = url
        self.attempts = attempts
        super().__init__(f"{method} {url} failed after {attempts} attempts: {cause}")


class RestResponseError(RestStreamError):
    """A response could not be understood: not JSON, or not the shape the options expect."""

    def __init__(self, url: str, status: int, problem: str, body_start: str) -> None:
        self.url = url
        self.status = status
        self.problem = problem
        super().__init__(
            f"Response of {url} (HTTP {status}) {problem}; response starts: {body_start!r}"
        )


class RestNoRecordsError(RestResponseError):
    """A response without records where the options say they are (`recordsPath` matches
    nothing or null, an error object): never read as an empty page, never a malformed body to
    keep."""


class RestOffsetError(RestStreamError):
    """An offset in a response is missing, does not advance, goes backwards or loops."""


class RestSchemaError(RestStreamError):
    """A record value does not fit the schema."""
