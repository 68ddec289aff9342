"""Stripe's `GET /v1/events`, emulated on 127.0.0.1 from Stripe's public API reference.

Facts relied on, with their sources:

- List envelope `{"object": "list", "url": "/v1/events", "has_more": bool, "data": [...]}`;
  objects come back in reverse chronological order (newest first). `limit` is optional,
  default 10, "ranging between 1 and 100". `starting_after=<id>` "fetches the next page"
  (the objects listed after that id, i.e. older ones); `ending_before=<id>` "fetches the
  previous page" (the objects listed before it, i.e. newer ones); the two are mutually
  exclusive. https://docs.stripe.com/api/pagination
- Events: "List events, going back up to 30 days"; filters `created` (an integer, or
  `created[gt|gte|lt|lte]`, gt/lt exclusive and gte/lte inclusive), `type` (a name or a group
  with `*` as a wildcard), `types[]` (up to 20 names; "either `type` or `types`, but not
  both"), `delivery_success`. https://docs.stripe.com/api/events/list and the generated
  `EventListParams` / `RangeQueryParam` in stripe-node and stripe-ruby.
- Event object: `id` (`evt_1NG8Du2eZvKYlo2CUI79vXWy`, opaque), `object: "event"`,
  `api_version`, `created` (epoch seconds), `data.object` (the resource as it was at the
  change), `data.previous_attributes` (only on `*.updated` events), `livemode`,
  `pending_webhooks`, `request: {"id", "idempotency_key"}` (both null for automatic events),
  `type`. "Events occur when the state of another API resource changes" -- an update is a
  new event (e.g. `customer.updated`) about the same object id. https://docs.stripe.com/api/events/object
- Errors: `{"error": {"type", "code", "message", "param", "doc_url"}}`, `type` one of
  `api_error`, `card_error`, `idempotency_error`, `invalid_request_error`; 400 bad request,
  401 "No valid API key provided", 404 not found, 429 "Too many requests hit the API too
  quickly. We recommend an exponential backoff" (no Retry-After is promised).
  https://docs.stripe.com/api/errors , https://docs.stripe.com/rate-limits
- An unknown id is `resource_missing` with the message `No such <object>: '<id>'`
  (observed bodies: `{"code": "resource_missing", "doc_url": ".../resource-missing",
  "message": "No such price: 'price_...'", "param": "line_items[0][price]", "type":
  "invalid_request_error"}` with HTTP 400 when it names a parameter).
- Auth: "HTTP Basic Auth. Provide your API key as the basic auth username value. You do not
  need to provide a password", or `Authorization: Bearer sk_test_...`; "API requests without
  authentication will also fail". A wrong key is 401 with `{"error": {"message": "Invalid API
  Key provided: sk_test_***...", "type": "invalid_request_error"}}`.
  https://docs.stripe.com/api/authentication
- Rate limits: 25 requests per second per endpoint in test mode (sandbox).
  https://docs.stripe.com/rate-limits

Not confirmed from the docs (chosen to look like Stripe): the exact wording of the messages
for a bad `limit`, both cursors at once and unknown parameters; the `rate_limit` code on 429s
(a 2015 changelog says it was dropped, today's error-code list has it); the tie order of
events created in the same second (here: the later-added one first); `has_more` on an
`ending_before` page meaning "more in that (newer) direction"; the `WWW-Authenticate` header
on 401s.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import random
import string
import threading
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.loopback import Reply, Seen
from tests.vendors.base import Clock, LoopbackApi

_ALNUM = string.digits + string.ascii_letters
_DOC = "https://stripe.com/docs/error-codes/"
_LIST_PARAMS = {"limit", "starting_after", "ending_before", "created", "type", "delivery_success"}
_RANGE_OPS = {"gt", "gte", "lt", "lte"}
_PREFIXES = {
    "customer": "cus",
    "charge": "ch",
    "invoice": "in",
    "invoiceitem": "ii",
    "payment_intent": "pi",
    "payment_method": "pm",
    "setup_intent": "seti",
    "subscription": "sub",
    "product": "prod",
    "price": "price",
    "refund": "re",
    "payout": "po",
    "checkout.session": "cs_test",
    "coupon": "co",
    "dispute": "dp",
}
# event-type prefixes whose object is not simply the part before the last dot
_OBJECT_OF_TYPE = {
    "customer.subscription": "subscription",
    "customer.source": "source",
    "customer.tax_id": "tax_id",
    "customer.discount": "discount",
}
_AUTO: Any = object()


class StripeError(Exception):
    """A Stripe error object, ready to be sent."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = _DOC + code.replace("_", "-")
        if param is not None:
            self.body["param"] = param


class StripeApi(LoopbackApi):
    """`GET /v1/events` (list) and `GET /v1/events/{id}` of a Stripe test-mode account.

    Events are added with `add_event` / `update`; their `created` is the emulation's clock
    (`clock`, frozen by default so many events share one second). Thread-safe.
    """

    def __init__(
        self,
        *,
        api_key: str = "sk_test_emulated4eC39HqLyjWDarjtT1zdp7dc",
        clock: Clock | None = None,
        seed: int | None = None,
        api_version: str = "2024-06-20",
        livemode: bool = False,
        rate_limit: int | None = None,
        rate_window: float = 1.0,
        retention_days: float = 30,
    ) -> None:
        self.api_key = api_key
        self.clock = clock or Clock()
        self.api_version = api_version
        self.livemode = livemode
        self.rate_limit = rate_limit  # requests per `rate_window` real seconds; None: unlimited
        self.rate_window = rate_window
        self.retention_days = retention_days
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._events: list[tuple[int, dict[str, Any]]] = []  # (insertion seq, event)
        self._objects: dict[str, dict[str, Any]] = {}
        self._seq = 0
        self._recent: deque[float] = deque()
        self._failures: deque[int] = deque()
        super().__init__(self._handle)

    # ------------------------------------------------------------------ lifecycle

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.clock.advance(seconds)

    # ------------------------------------------------------------------ test hooks

    def add_event(
        self,
        type: str,
        *,
        previous_attributes: dict[str, Any] | None = None,
        request: Any = _AUTO,
        pending_webhooks: int = 0,
        **obj: Any,
    ) -> dict[str, Any]:
        """Record an event of `type` about the object `obj` (given fields; an `id` and `object`
        are made up if missing) and return it. `request=None` for an automatic event."""
        with self._lock:
            created = int(self.clock.now())
            kind = obj.get("object") or self._object_of(type)
            body = {"id": obj.get("id") or self._object_id(kind), "object": kind, **obj}
            body.setdefault("created", created)
            body.setdefault("livemode", self.livemode)
            self._objects[body["id"]] = copy.deepcopy(body)
            data: dict[str, Any] = {"object": copy.deepcopy(body)}
            if previous_attributes is not None:
                data["previous_attributes"] = previous_attributes
            if request is _AUTO:
                request = {"id": "req_" + self._random(14), "idempotency_key": str(uuid.uuid4())}
            event = {
                "id": "evt_1" + self._random(23),
                "object": "event",
                "api_version": self.api_version,
                "created": created,
                "data": data,
                "livemode": self.livemode,
                "pending_webhooks": pending_webhooks,
                "request": request,
                "type": type,
            }
            self._seq += 1
            self._events.append((self._seq, event))
            return copy.deepcopy(event)

    def update(self, object_id: str, type: str | None = None, **changes: Any) -> dict[str, Any]:
        """Change an object the only way Stripe shows it: a new `<object>.updated` event about
        the same id, carrying the new state and `previous_attributes`."""
        with self._lock:
            current = self._objects[object_id]
            previous = {k: copy.deepcopy(current.get(k)) for k in changes}
            state = {**copy.deepcopy(current), **changes}
            return self.add_event(
                type or f"{current['object']}.updated", previous_attributes=previous, **state
            )

    def fail_next(self, count: int = 1, status: int = 429) -> None:
        """Answer the next `count` requests with an error (429 rate limit, or a 5xx api_error)."""
        with self._lock:
            self._failures.extend([status] * count)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event, in list order (newest first)."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._ordered(retained_only=False)]

    def object(self, object_id: str) -> dict[str, Any]:
        """The current state of an object."""
        with self._lock:
            return copy.deepcopy(self._objects[object_id])

    # ------------------------------------------------------------------ internals

    def _random(self, n: int) -> str:
        return "".join(self._rng.choice(_ALNUM) for _ in range(n))

    @staticmethod
    def _object_of(event_type: str) -> str:
        prefix = event_type.rsplit(".", 1)[0] if "." in event_type else event_type
        return _OBJECT_OF_TYPE.get(prefix, prefix)

    def _object_id(self, kind: str) -> str:
        prefix = _PREFIXES.get(kind, kind.replace(".", "_")[:4])
        return f"{prefix}_{self._random(14)}"

    def _ordered(self, *, retained_only: bool = True) -> list[dict[str, Any]]:
        floor = self.clock.now() - self.retention_days * 86400 if retained_only else -math.inf
        rows = [(seq, e) for seq, e in self._events if e["created"] >= floor]
        rows.sort(key=lambda r: (r[1]["created"], r[0]), reverse=True)
        return [e for _, e in rows]

    def _handle(self, seen: Seen) -> Reply:
        headers = {"Request-Id": "req_" + self._random(14), "Stripe-Version": self.api_version}
        try:
            with self._lock:
                self._authenticate(seen)
                self._throttle()
                return Reply.json(self._route(seen), 200, **headers)
        except StripeError as err:
            if err.status == 401:
                headers["WWW-Authenticate"] = 'Basic realm="Stripe"'
            return Reply.json({"error": err.body}, err.status, **headers)

    def _authenticate(self, seen: Seen) -> None:
        auth = seen.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = value.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(value.strip(), validate=True).decode().partition(":")[0]
            except (binascii.Error, UnicodeDecodeError):
                key = ""
        if not auth or not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, "
                "or we can help at https://support.stripe.com/.",
            )
        if key != self.api_key:
            shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
            raise StripeError(401, f"Invalid API Key provided: {shown}")

    def _throttle(self) -> None:
        if self._failures:
            status = self._failures.popleft()
            if status == 429:
                raise self._rate_limited()
            raise StripeError(
                status,
                "An unknown error occurred while processing your request.",
                type="api_error",
            )
        if self.rate_limit is None:
            return
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= self.rate_window:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit:
            raise self._rate_limited()
        self._recent.append(now)

    @staticmethod
    def _rate_limited() -> StripeError:
        return StripeError(
            429,
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )

    def _route(self, seen: Seen) -> dict[str, Any]:
        path = seen.path.rstrip("/")
        if seen.method == "GET" and path == "/v1/events":
            return self._list(parse_qs(urlsplit(seen.target).query, keep_blank_values=True))
        if seen.method == "GET" and path.startswith("/v1/events/") and path.count("/") == 3:
            event_id = path.rsplit("/", 1)[1]
            for event in self._ordered():
                if event["id"] == event_id:
                    return copy.deepcopy(event)
            raise StripeError(
                404, f"No such event: '{event_id}'", code="resource_missing", param="id"
            )
        raise StripeError(
            404,
            f"Unrecognized request URL ({seen.method}: {seen.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    def _list(self, query: dict[str, list[str]]) -> dict[str, Any]:
        for name in query:
            base = name.split("[", 1)[0]
            if base not in _LIST_PARAMS | {"types", "expand"}:
                raise StripeError(400, f"Received unknown parameter: {name}", param=name)
        one = {k: v[-1] for k, v in query.items()}
        limit = _integer(one.get("limit", "10"), "limit")
        if limit < 1:
            raise StripeError(400, "This value must be greater than or equal to 1.", param="limit")
        if limit > 100:
            raise StripeError(400, "This value must be less than or equal to 100.", param="limit")
        after, before = one.get("starting_after"), one.get("ending_before")
        if after and before:
            raise StripeError(
                400,
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        created = _created_filter(one)
        wanted = _type_filter(query)
        ordered = self._ordered()
        rank = {e["id"]: i for i, e in enumerate(ordered)}
        matching = [
            (i, e) for i, e in enumerate(ordered) if created(e["created"]) and wanted(e["type"])
        ]
        if "delivery_success" in one:
            delivered = one["delivery_success"] == "true"
            matching = [(i, e) for i, e in matching if (e["pending_webhooks"] == 0) == delivered]
        if after:
            pos = self._position(rank, after, "starting_after")
            candidates = [e for i, e in matching if i > pos]
            page = candidates[:limit]
        elif before:
            pos = self._position(rank, before, "ending_before")
            candidates = [e for i, e in matching if i < pos]
            page = candidates[-limit:]
        else:
            candidates = [e for _, e in matching]
            page = candidates[:limit]
        return {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(candidates) > len(page),
            "data": copy.deepcopy(page),
        }

    @staticmethod
    def _position(rank: dict[str, int], event_id: str, param: str) -> int:
        if event_id not in rank:
            raise StripeError(
                400, f"No such event: '{event_id}'", code="resource_missing", param=param
            )
        return rank[event_id]


def _integer(text: str, param: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise StripeError(400, f"Invalid integer: {text}", param=param) from None


def _created_filter(one: dict[str, str]) -> Any:
    bounds: list[tuple[str, int]] = []
    for name, value in one.items():
        if name == "created":
            bounds.append(("eq", _integer(value, name)))
        elif name.startswith("created[") and name.endswith("]"):
            op = name[len("created[") : -1]
            if op not in _RANGE_OPS:
                raise StripeError(400, f"Received unknown parameter: {name}", param=name)
            bounds.append((op, _integer(value, name)))
    tests = {
        "eq": lambda c, v: c == v,
        "gt": lambda c, v: c > v,
        "gte": lambda c, v: c >= v,
        "lt": lambda c, v: c < v,
        "lte": lambda c, v: c <= v,
    }
    return lambda created: all(tests[op](created, v) for op, v in bounds)


def _type_filter(query: dict[str, list[str]]) -> Any:
    names = [v for k, vs in query.items() if k.startswith("types[") for v in vs]
    if "type" in query and names:
        raise StripeError(
            400, "You may pass either `type` or `types`, but not both.", param="types"
        )
    if len(names) > 20:
        raise StripeError(400, "You may pass at most 20 `types`.", param="types")
    if names:
        return lambda t: t in names
    if "type" in query:
        pattern = query["type"][-1]
        if "*" in pattern:
            head, _, tail = pattern.partition("*")
            return lambda t: t.startswith(head) and t.endswith(tail) and len(t) > len(head)
        return lambda t: t == pattern
    return lambda t: True
