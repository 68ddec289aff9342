"""The API's rate-limit headers: one request budget per API origin, shared by a whole process.

APIs announce their budget in headers: `X-RateLimit-Remaining` with `X-RateLimit-Reset`
(GitHub style: the reset as epoch seconds, or as seconds from now), the IETF
`RateLimit-Remaining` with `RateLimit-Reset` (seconds from now) or one combined
`RateLimit: remaining=0, reset=30` field, names of their own (`rateLimitRemainingHeader`,
`rateLimitResetHeader`), and `Retry-After` on 429, 503 and rate-limit 403s.

`read_signal` reads those headers off a response. `Budget` keeps what they said about one
origin (scheme, host, port): every request of this Python process to that origin, the
driver's and every task's, data and token requests alike, goes through `Budget.acquire`,
which waits while the budget is spent (remaining 0 until the reset, or a `Retry-After`), so
the next requests wait for the reset instead of hitting the wall. `budget_for` is the
process-wide registry.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from rest_stream.errors import RestRateLimitError

logger = logging.getLogger("rest_stream.http.ratelimit")

Sleep = Callable[[float], None]
Clock = Callable[[], float]

#: A reset value above this is a point in time (epoch seconds), not seconds from now:
#: 1e9 s is ~31 years, 1e9 epoch seconds is the year 2001.
EPOCH_SECONDS_THRESHOLD = 1e9
#: ... and above this, epoch milliseconds.
EPOCH_MILLIS_THRESHOLD = 1e12

#: Waits shorter than this are not worth a sleep (clock noise between two readings of a header).
MIN_WAIT_SECONDS = 0.01

#: How long a request near the end of the budget waits for the answers of the others in
#: flight: in steps of `DRAIN_STEP_SECONDS`, `MAX_DRAIN_SECONDS` in all (then it goes).
DRAIN_STEP_SECONDS = 0.5
MAX_DRAIN_SECONDS = 10.0

#: Two resets closer than this (seconds) belong to one window: APIs round resets to seconds.
WINDOW_SLACK_SECONDS = 1.0

#: (remaining, reset) header pairs understood without options, first found wins.
STANDARD_HEADER_PAIRS: tuple[tuple[str, str], ...] = (
    ("X-RateLimit-Remaining", "X-RateLimit-Reset"),
    ("RateLimit-Remaining", "RateLimit-Reset"),
    ("X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"),
)

#: Statuses whose `Retry-After` means "the budget is spent": every request of the origin waits.
BLOCKING_STATUSES = frozenset({403, 429, 503})


# --- parsing --------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait per a `Retry-After` value (delay seconds or HTTP-date), else None.

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
    ...                   now=datetime(2015, 10, 21, 7, 27, 30, tzinfo=timezone.utc))
    30.0
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        return _seconds_until(value, now)
    return seconds if seconds >= 0 and seconds == seconds else None


def _seconds_until(http_date: str, now: datetime | None) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def parse_reset(value: str | None, *, now_epoch: float | None = None) -> float | None:
    """Seconds until a rate-limit reset: epoch seconds or milliseconds (told apart by size),
    seconds from now, or an HTTP-date; None when unreadable. Never negative.

    >>> parse_reset("30")
    30.0
    >>> parse_reset("1700000060", now_epoch=1700000000.0)
    60.0
    >>> parse_reset("1700000060000", now_epoch=1700000000.0)
    60.0
    """
    if value is None or not value.strip():
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return _seconds_until(value.strip(), None)
    if number != number or number < 0:
        return None
    if number > EPOCH_SECONDS_THRESHOLD:
        epoch = number / 1000 if number > EPOCH_MILLIS_THRESHOLD else number
        return max(0.0, epoch - (time.time() if now_epoch is None else now_epoch))
    return number


def parse_remaining(value: str | None) -> int | None:
    """The remaining request count of a header value (the first number of a list), or None.

    >>> parse_remaining("0"), parse_remaining(" 12, 40;w=60"), parse_remaining("many")
    (0, 12, None)
    """
    if value is None:
        return None
    match = re.match(r"\s*(-?\d+)", value)
    return max(0, int(match.group(1))) if match else None


_COMBINED_FIELD = re.compile(r"(?:^|[;,\s])(r|remaining|t|reset)\s*=\s*\"?(\d+(?:\.\d+)?)", re.I)


def _combined(value: str) -> tuple[int | None, float | None]:
    """(remaining, reset) of the IETF combined `RateLimit` field, e.g. `"d";r=0;t=30`."""
    remaining: int | None = None
    reset: float | None = None
    for key, number in _COMBINED_FIELD.findall(value):
        if key.lower() in ("r", "remaining") and remaining is None:
            remaining = int(float(number))
        elif key.lower() in ("t", "reset") and reset is None:
            reset = float(number)
    return remaining, reset


@dataclass(frozen=True)
class HeaderNames:
    """Which headers carry the budget: the options' names first, then the standard pairs."""

    remaining: str | None = None
    reset: str | None = None

    def pairs(self) -> tuple[tuple[str | None, str | None], ...]:
        custom = (self.remaining, self.reset)
        return ((custom,) if any(custom) else ()) + STANDARD_HEADER_PAIRS


@dataclass(frozen=True)
class RateLimitSignal:
    """What one response says about the budget of its origin."""

    origin: str
    status: int
    remaining: int | None = None
    remaining_header: str | None = None
    reset: float | None = None  # seconds from when the response arrived
    reset_header: str | None = None
    retry_after: float | None = None

    @property
    def is_rate_limited(self) -> bool:
        """A 429, or a 403 that is about the rate (a `Retry-After` or a spent budget)."""
        if self.status == 429:
            return True
        return self.status == 403 and (self.retry_after is not None or self.remaining == 0)

    @property
    def is_spent(self) -> bool:
        """The response says no request is left before the reset."""
        return self.remaining == 0 or (self.is_rate_limited and self.remaining is None)

    def reset_wait(self, max_wait: float) -> float | None:
        """Seconds until the reset when the budget is spent and the reset is ahead, else None;
        `RestRateLimitError` when that is longer than `max_wait`."""
        if not self.is_spent or self.reset is None or self.reset <= 0:
            return None
        if self.reset > max_wait:
            raise RestRateLimitError(
                self.origin, self.describe_reset(), self.reset, max_wait, self.status
            )
        return self.reset

    def describe_reset(self) -> str:
        """The headers behind a reset wait, for messages: `X-RateLimit-Reset
        (X-RateLimit-Remaining: 0)`."""
        spent = f" ({self.remaining_header}: 0)" if self.remaining_header else ""
        return f"{self.reset_header or 'the reset header'}{spent}"


def read_signal(
    response: httpx.Response, names: HeaderNames, *, now_epoch: float | None = None
) -> RateLimitSignal:
    """The rate-limit headers of `response`, read with `names` first."""
    headers = response.headers
    origin = origin_of(response.request.url) if _has_request(response) else ""
    status = response.status_code
    retry_after = None
    if status in BLOCKING_STATUSES:
        retry_after = parse_retry_after(headers.get("Retry-After"))
    remaining, reset, remaining_name, reset_name = _budget_headers(headers, names, now_epoch)
    return RateLimitSignal(
        origin, status, remaining, remaining_name, reset, reset_name, retry_after
    )


def _budget_headers(
    headers: Mapping[str, str], names: HeaderNames, now_epoch: float | None
) -> tuple[int | None, float | None, str | None, str | None]:
    for remaining_name, reset_name in names.pairs():
        remaining = parse_remaining(headers.get(remaining_name)) if remaining_name else None
        reset = parse_reset(headers.get(reset_name), now_epoch=now_epoch) if reset_name else None
        if remaining is not None or reset is not None:
            return (
                remaining,
                reset,
                remaining_name if remaining is not None else None,
                reset_name if reset is not None else None,
            )
    combined = headers.get("RateLimit")
    if combined:
        remaining, reset = _combined(combined)
        if remaining is not None or reset is not None:
            return remaining, reset, "RateLimit", "RateLimit"
    return None, None, None, None


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - raises when the response has no request
    except RuntimeError:
        return False
    return True


def origin_of(url: httpx.URL | str) -> str:
    """`scheme://host:port` of `url`, the port always written (no user, path or query).

    >>> origin_of("https://user:pw@API.example.com/x?key=1")
    'https://api.example.com:443'
    """
    url = httpx.URL(url) if isinstance(url, str) else url
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    host = url.host.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{url.scheme}://{host}:{port}"


# --- the budget of one origin ----------------------------------------------------------------


class Budget:
    """What the API said about the budget of one origin, shared by the threads of a process.

    `acquire` before each request: it waits while the budget is spent until its reset, or
    while a `Retry-After` holds, then counts the request as sent and in flight. `settle` each
    answered request (`release` one that got no answer): the API's count, less this process's
    requests still in flight, wins when it is lower or belongs to a new window.

    Other processes spend the same budget unseen, so while nothing is known of it (the first
    request to the origin, the first of a new window) and near its end (no more left than
    `low_water`, the requests one task keeps in flight), a request goes only once this
    process has no other in flight: each decision then stands on the API's latest count, and
    a process loses about one request per window, at most, to the race with the others.
    Times are on the caller's monotonic clock.
    """

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.in_flight = 0
        self.answered = False  # some request of this origin got an answer
        self.limited = False  # the origin announces a budget
        self._spent_signal: RateLimitSignal | None = None
        self.blocked_until: float | None = None
        self._blocked_status = 0
        self._logged_deadline: float | None = None

    def settle(
        self,
        signal: RateLimitSignal | None,
        now: float,
        max_wait: float,
        *,
        not_modified: bool = False,
    ) -> None:
        """A request of this origin got its answer (at `now`), which said `signal`.

        A `304 Not Modified` (`not_modified`) to a conditional request costs no budget at
        GitHub and APIs like it: when the 304 states the remaining count, the request
        `acquire` took is given back first, and that count decides (it is lower if the API
        counted the request after all)."""
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            self.answered = True
            if signal is not None:
                if not_modified and signal.remaining is not None and self.remaining is not None:
                    self.remaining += 1
                self._observe(signal, now, max_wait)
            self._settled.notify_all()

    def release(self) -> None:
        """A request counted by `acquire` got no answer (it failed, or was never sent)."""
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            self._settled.notify_all()

    def observe(self, signal: RateLimitSignal, now: float, max_wait: float) -> None:
        """Take in what a response of this origin said (received at `now`)."""
        with self._lock:
            self._observe(signal, now, max_wait)

    def _observe(self, signal: RateLimitSignal, now: float, max_wait: float) -> None:
        self._expire(now)
        if signal.retry_after is not None:  # read on 403, 429 and 503 only
            until = now + min(signal.retry_after, max_wait)
            if self.blocked_until is None or until > self.blocked_until:
                self.blocked_until, self._blocked_status = until, signal.status
        remaining = signal.remaining
        if remaining is None and signal.status == 429 and signal.reset is not None:
            remaining = 0  # a 429 with a reset but no count: nothing left until then
        if remaining is None:
            return
        self.limited = True
        remaining = max(0, remaining - self.in_flight)  # ours in flight may not be counted yet
        reset_at = now + signal.reset if signal.reset is not None else None
        same_window = self.remaining is not None and (
            reset_at is None
            or self.reset_at is None
            or reset_at <= self.reset_at + WINDOW_SLACK_SECONDS
        )
        if same_window:
            assert self.remaining is not None
            self.remaining = min(self.remaining, remaining)
            if reset_at is not None:
                self.reset_at = max(self.reset_at or reset_at, reset_at)
        else:
            self.remaining, self.reset_at = remaining, reset_at
        if self.remaining <= 0:
            self._spent_signal = signal

    def acquire(self, *, clock: Clock, sleep: Sleep, max_wait: float, low_water: int = 1) -> None:
        """Wait until a request may go, and count it; `RestRateLimitError` if the wait would be
        longer than `max_wait`. Logs one WARNING per wait (not per waiting thread)."""
        slept_until: float | None = None
        drain_until = time.monotonic() + MAX_DRAIN_SECONDS
        while True:
            with self._lock:
                now = clock()
                self._expire(now)
                deadline, why = self._deadline()
                if deadline is not None and slept_until is not None and deadline <= slept_until:
                    self._expire(deadline)  # waited for it already (a coarse clock)
                    deadline = None
                if deadline is None or deadline - now < MIN_WAIT_SECONDS:
                    waiting = self._in_the_dark() or self._near_the_end(low_water)
                    if waiting and time.monotonic() < drain_until:
                        self._settled.wait(DRAIN_STEP_SECONDS)
                        continue
                    if self.remaining is not None:
                        self.remaining -= 1
                    self.in_flight += 1
                    return
                wait = deadline - now
                if wait > max_wait + 0.001:
                    status = self._status_of(why)
                    raise RestRateLimitError(self.origin, why, wait, max_wait, status)
                log = self._logged_deadline != deadline
                self._logged_deadline = deadline
            if log:
                logger.warning(
                    "Rate limit of %s: waiting %.2f s before the next request, as %s asks",
                    self.origin,
                    wait,
                    why,
                )
            sleep(wait)
            slept_until = deadline

    def _in_the_dark(self) -> bool:
        """Nothing known of the budget (first contact, or a new window of a limited API) and a
        request of ours in flight, whose answer will tell."""
        unknown = not self.answered or (self.limited and self.remaining is None)
        return unknown and self.in_flight > 0

    def _near_the_end(self, low_water: int) -> bool:
        """Little budget left and requests of ours in flight, whose answers will tell more."""
        return self.remaining is not None and self.remaining <= low_water and self.in_flight > 0

    def _expire(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            self.remaining, self.reset_at, self._spent_signal = None, None, None
        if self.blocked_until is not None and now >= self.blocked_until:
            self.blocked_until = None

    def _deadline(self) -> tuple[float | None, str]:
        spent = self.remaining is not None and self.remaining <= 0 and self.reset_at is not None
        reset_at = self.reset_at if spent else None
        if self.blocked_until is not None and (reset_at is None or self.blocked_until >= reset_at):
            return self.blocked_until, f"Retry-After (HTTP {self._blocked_status})"
        if reset_at is not None:
            signal = self._spent_signal
            return reset_at, signal.describe_reset() if signal else "the rate-limit reset"
        return None, ""

    def _status_of(self, why: str) -> int:
        if why.startswith("Retry-After"):
            return self._blocked_status
        return self._spent_signal.status if self._spent_signal else 429


_BUDGETS: dict[str, Budget] = {}
_BUDGETS_LOCK = threading.Lock()


def budget_for(origin: str) -> Budget:
    """The `Budget` of `origin` in this process (created on first use)."""
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(origin)
        if budget is None:
            budget = _BUDGETS[origin] = Budget(origin)
        return budget


def clear_budgets() -> None:
    """Forget every origin's budget (for tests)."""
    with _BUDGETS_LOCK:
        _BUDGETS.clear()
