"""Zendesk's cursor-based Incremental Ticket Export, emulated on 127.0.0.1 from Zendesk's docs.

Facts relied on, with their sources:

- `GET /api/v2/incremental/tickets/cursor.json?start_time=<epoch>` starts an export;
  later requests pass `cursor=<after_cursor>` instead ("start_time is not required"; a cursor
  takes precedence). The response is `{"tickets": [...], "after_url", "after_cursor",
  "before_url", "before_cursor", "end_of_stream"}`; `end_of_stream` is "true if the current
  request has returned all the results up to the current time". The cursor is opaque (the
  documented examples, e.g. `MTU4MDc1Mzc5OC4wfHw0MzJ8`, are base64 of `1580753798.0||432|`:
  a timestamp and a ticket id). `per_page` up to 1000 (the default).
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/ ,
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api
- The export returns "the items that were created or changed on or after the start time";
  it "compares the start_time with the ticket's generated_timestamp value, not its updated_at
  value", and generated_timestamp "is updated for all ticket updates, including system
  updates" -- so a ticket can come back with `updated_at` earlier than `start_time`. A ticket
  appears once, at its latest change: updated again, it comes back later in the stream.
  Here the stream is ordered by (generated_timestamp, id), which is (updated_at, id) unless a
  system update moved generated_timestamp alone.
  Deleted tickets are exported with `status: "deleted"` unless `exclude_deleted=true`.
- "start_time must be at least one minute in the past. Data isn't provided for the most
  recent minute", and since 28 Oct 2024 "all ticket creation and updates that occur in the
  minute preceding the request are excluded" (the API picks them up on a later request).
  Zendesk announcement 8143500919322. A too-recent start_time is 422 with
  `{"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older
  than ..."}` (bodies quoted by client libraries, from when the floor was 5 minutes).
- Rate limit: "up to 10 requests per minute to these endpoints" (30 with the High Volume
  add-on); over it, 429 with a `Retry-After` header giving the seconds to wait; responses
  carry `X-Rate-Limit` / `X-Rate-Limit-Remaining`. The 429 body is plain text, "Number of
  allowed API requests per minute exceeded" (a Zendesk community thread shows it, 50 bytes,
  `text/plain`). https://developer.zendesk.com/api-reference/introduction/rate-limits
- Auth: `Authorization: Basic base64({email}/token:{api_token})`, basic with the password, or
  `Authorization: Bearer {oauth_token}`; a failure is 401 `{"error": "Couldn't authenticate
  you"}`. https://developer.zendesk.com/api-reference/introduction/security-and-auth/
- Ticket JSON (from the documented example): `id`, `url`, `created_at` / `updated_at` (ISO
  8601 with `Z`, whole seconds), `generated_timestamp`, `subject`, `raw_subject`,
  `description`, `status`, `priority`, `type`, `tags`, `via: {"channel": ...}`,
  `custom_fields: [{"id", "value"}]`, `requester_id`, ... .

Not confirmed from the docs: the exact 422 wording under today's one-minute rule, and the
errors for a missing `start_time` or a malformed cursor (422 `InvalidValue` here); whether
`after_url` keeps `per_page` (here: yes); `before_cursor`/`before_url` (always null here, no
backward paging); whether rejected (429) requests count toward the limit (here: no).
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from tests.loopback import Reply, Seen
from tests.vendors.base import Clock, LoopbackApi

_EXPORT_PATH = re.compile(r"/api/v2/incremental/tickets/cursor(?:\.json)?/?\Z")
_CURSOR = re.compile(r"(\d+)\.0\|\|(\d+)\|\Z")


class ZendeskError(Exception):
    """A Zendesk error reply."""

    def __init__(self, status: int, body: Any, **headers: str) -> None:
        super().__init__(str(body))
        self.status, self.body, self.headers = status, body, headers


def iso(epoch: int) -> str:
    """Epoch seconds as Zendesk writes times: `2026-01-01T00:00:00Z`."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(generated: int, ticket_id: int) -> str:
    """The opaque cursor for the position just after (generated_timestamp, id)."""
    return base64.b64encode(f"{generated}.0||{ticket_id}|".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        text = base64.b64decode(cursor + "=" * (-len(cursor) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    m = _CURSOR.match(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


class ZendeskApi(LoopbackApi):
    """The cursor-based Incremental Ticket Export of one Zendesk account.

    `add_ticket` / `update_ticket` / `system_update` / `delete_ticket` change the data; their
    times are the emulation's clock (`clock`, frozen by default so many tickets share one
    second). The rate limit counts real (monotonic) seconds, since a client honours
    `Retry-After` by really waiting. Thread-safe.
    """

    def __init__(
        self,
        *,
        subdomain: str = "emulated",
        email: str = "agent@example.com",
        api_token: str = "zdtoken6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv",
        oauth_token: str = "zdoauth0a1b2c3d4e5f60a1b2c3d4e5f60a1b2c3d4e5f6",
        password: str | None = None,
        clock: Clock | None = None,
        per_page: int = 1000,
        recent_exclusion: float = 60.0,
        min_start_age: float = 60.0,
        rate_limit: int | None = 10,
        rate_window: float = 60.0,
    ) -> None:
        self.subdomain = subdomain
        self.email, self.api_token, self.oauth_token = email, api_token, oauth_token
        self.password = password
        self.clock = clock or Clock()
        self.per_page = per_page  # the default page size (Zendesk's is 1000, also the maximum)
        self.recent_exclusion = recent_exclusion  # seconds: changes this recent are withheld
        self.min_start_age = min_start_age  # seconds: a start_time must be at least this old
        self.rate_limit = rate_limit  # requests per `rate_window` real seconds; None: unlimited
        self.rate_window = rate_window
        self._lock = threading.RLock()
        self._tickets: dict[int, dict[str, Any]] = {}
        self._next_id = 1
        self._recent: deque[float] = deque()
        super().__init__(self._handle)

    # ------------------------------------------------------------------ lifecycle

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.clock.advance(seconds)

    # ------------------------------------------------------------------ test hooks

    def add_ticket(self, **fields: Any) -> dict[str, Any]:
        """Create a ticket (defaults for every field not given) at the clock's time."""
        with self._lock:
            now = int(self.clock.now())
            ticket_id = fields.pop("id", None) or self._next_id
            self._next_id = max(self._next_id, ticket_id) + 1
            subject = fields.pop("subject", f"Ticket {ticket_id}")
            ticket: dict[str, Any] = {
                "url": f"https://{self.subdomain}.zendesk.com/api/v2/tickets/{ticket_id}.json",
                "id": ticket_id,
                "external_id": None,
                "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": iso(now),
                "updated_at": iso(now),
                "generated_timestamp": now,
                "type": None,
                "subject": subject,
                "raw_subject": subject,
                "description": f"Description of ticket {ticket_id}",
                "priority": None,
                "status": "new",
                "recipient": None,
                "requester_id": 1000 + ticket_id,
                "submitter_id": 1000 + ticket_id,
                "assignee_id": None,
                "organization_id": None,
                "group_id": None,
                "collaborator_ids": [],
                "follower_ids": [],
                "email_cc_ids": [],
                "problem_id": None,
                "has_incidents": False,
                "is_public": True,
                "due_at": None,
                "tags": [],
                "custom_fields": [],
                "satisfaction_rating": None,
                "sharing_agreement_ids": [],
                "ticket_form_id": None,
                "brand_id": None,
                "allow_channelback": False,
                "allow_attachments": True,
            }
            self._apply(ticket, fields)
            self._tickets[ticket_id] = ticket
            return copy.deepcopy(ticket)

    def update_ticket(self, ticket_id: int, **fields: Any) -> dict[str, Any]:
        """Change a ticket: `updated_at` and `generated_timestamp` become the clock's time."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            now = int(self.clock.now())
            self._apply(ticket, fields)
            ticket["updated_at"] = iso(now)
            ticket["generated_timestamp"] = now
            return copy.deepcopy(ticket)

    def system_update(self, ticket_id: int) -> dict[str, Any]:
        """A system update (e.g. an SLA recount): only `generated_timestamp` moves."""
        with self._lock:
            ticket = self._tickets[ticket_id]
            ticket["generated_timestamp"] = int(self.clock.now())
            return copy.deepcopy(ticket)

    def delete_ticket(self, ticket_id: int) -> dict[str, Any]:
        """Delete a ticket: it is exported once more, with `status: "deleted"`."""
        return self.update_ticket(ticket_id, status="deleted")

    @property
    def tickets(self) -> list[dict[str, Any]]:
        """Every ticket, by id."""
        with self._lock:
            return [copy.deepcopy(self._tickets[i]) for i in sorted(self._tickets)]

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _apply(ticket: dict[str, Any], fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name == "custom_fields" and isinstance(value, dict):
                value = [{"id": k, "value": v} for k, v in value.items()]
            if name == "subject":
                ticket["raw_subject"] = value
            ticket[name] = copy.deepcopy(value)
        if "custom_fields" in fields:
            ticket["fields"] = copy.deepcopy(ticket["custom_fields"])

    def _handle(self, seen: Seen) -> Reply:
        try:
            with self._lock:
                self._authenticate(seen)
                if seen.method != "GET" or not _EXPORT_PATH.match(seen.path):
                    raise ZendeskError(
                        404, {"error": "InvalidEndpoint", "description": "Not found"}
                    )
                headers = self._throttle()
                return Reply.json(self._export(seen), 200, **headers)
        except ZendeskError as err:
            if isinstance(err.body, str):
                return Reply(
                    err.status, {"Content-Type": "text/plain", **err.headers}, err.body.encode()
                )
            return Reply.json(err.body, err.status, **err.headers)

    def _authenticate(self, seen: Seen) -> None:
        scheme, _, value = seen.headers.get("authorization", "").partition(" ")
        ok = False
        if scheme.lower() == "bearer":
            ok = value.strip() == self.oauth_token
        elif scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value.strip()).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, secret = "", ""
            ok = (user == f"{self.email}/token" and secret == self.api_token) or (
                self.password is not None and user == self.email and secret == self.password
            )
        if not ok:
            raise ZendeskError(
                401,
                {"error": "Couldn't authenticate you"},
                **{"WWW-Authenticate": 'Basic realm="Web Password"'},
            )

    def _throttle(self) -> dict[str, str]:
        if self.rate_limit is None:
            return {}
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= self.rate_window:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit:
            wait = max(1, math.ceil(self._recent[0] + self.rate_window - now))
            raise ZendeskError(
                429,
                "Number of allowed API requests per minute exceeded",
                **{"Retry-After": str(wait)},
            )
        self._recent.append(now)
        remaining = self.rate_limit - len(self._recent)
        return {"X-Rate-Limit": str(self.rate_limit), "X-Rate-Limit-Remaining": str(remaining)}

    @staticmethod
    def _invalid(description: str) -> ZendeskError:
        return ZendeskError(422, {"error": "InvalidValue", "description": description})

    def _export(self, seen: Seen) -> dict[str, Any]:
        now = self.clock.now()
        params = seen.query
        cursor = params.get("cursor")
        if cursor:
            position = decode_cursor(cursor)
            if position is None:
                raise self._invalid("Invalid cursor")
        elif "start_time" in params:
            try:
                start_time = int(params["start_time"])
            except ValueError:
                raise self._invalid("start_time must be an integer") from None
            if start_time > now - self.min_start_age:
                raise self._invalid("Too recent start_time. Use a start_time older than 1 minute")
            position = (start_time, 0)  # on or after start_time: (ts > s) or (ts == s, id > 0)
        else:
            raise self._invalid("start_time or cursor is required")
        try:
            per_page = min(int(params.get("per_page", self.per_page)), 1000)
        except ValueError:
            raise self._invalid("per_page must be an integer") from None
        per_page = max(per_page, 1)
        exclude_deleted = params.get("exclude_deleted", "false").lower() == "true"
        cutoff = now - self.recent_exclusion
        ready = sorted(
            (t for t in self._tickets.values() if t["generated_timestamp"] <= cutoff),
            key=lambda t: (t["generated_timestamp"], t["id"]),
        )
        after = [t for t in ready if (t["generated_timestamp"], t["id"]) > position]
        page = after[:per_page]
        last = (page[-1]["generated_timestamp"], page[-1]["id"]) if page else position
        shown = [t for t in page if not (exclude_deleted and t["status"] == "deleted")]
        next_cursor = encode_cursor(*last)
        query = {"cursor": next_cursor}
        for name in ("per_page", "exclude_deleted", "include"):
            if name in params:
                query[name] = params[name]
        return {
            "tickets": copy.deepcopy(shown),
            "after_url": f"{self.url}/api/v2/incremental/tickets/cursor.json?{urlencode(query)}",
            "after_cursor": next_cursor,
            "before_url": None,
            "before_cursor": None,
            "end_of_stream": len(after) <= per_page,
        }
