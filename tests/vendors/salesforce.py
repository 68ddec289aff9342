"""Salesforce's REST Query resource, emulated on 127.0.0.1 from Salesforce's public docs.

Facts relied on, with their sources:

- `GET /services/data/vXX.X/query?q=<SOQL>` (spaces as `+` or `%20`); "If the SOQL query
  string is invalid, a MALFORMED_QUERY response is returned". The response has `totalSize`
  (all the rows of the query), `done`, `nextRecordsUrl` (only while more remain) and
  `records`, each with `attributes: {"type", "url": "/services/data/vXX.X/sobjects/<Type>/<Id>"}`.
  Up to 2,000 records come back at a time; the rest are fetched with `GET nextRecordsUrl`
  (a relative URL like `/services/data/v68.0/query/01gD0000002HU6KIAW-2000`: an 18-character
  locator, a dash, the offset) "until done is true", and those requests "don't include any
  parameters". https://developer.salesforce.com/docs/platform/api-rest/guide/resources-query.html ,
  .../dome-query.html , .../resources-query-more-results.html
- `Sforce-Query-Options: batchSize=N`: "The default is 2,000; the minimum is 200, and the
  maximum is 2,000. There is no guarantee that the requested batch size is the actual batch
  size." https://developer.salesforce.com/docs/platform/api-rest/guide/headers-queryoptions.html
- Query locators: server-side cursors; they "expire automatically after 15 minutes of
  inactivity"; "a user can have up to 10 query cursors open at a time. If 10 QueryLocator
  cursors are open when a client application, logged in as the same user, attempts to open a
  new one, then the oldest of the 10 cursors is released. If the client application attempts
  to open the released query cursor, an error results"; using an invalid or expired locator
  "throws an INVALID_QUERY_LOCATOR error" (a `nextRecordsUrl` request is such a call). SOAP
  API guide, QueryLocator; Salesforce help articles 000384958 and 000004410 (which also say a
  locator's results stay available for two days -- the TTL is a constructor argument).
  `crowd_cursors` emulates another client of the same user opening its ten cursors right
  after each of ours, so every locator is released before its second page is fetched.
- SOQL dateTime literals in WHERE, unquoted: `YYYY-MM-DDThh:mm:ss+hh:mm`,
  `YYYY-MM-DDThh:mm:ss-hh:mm`, `YYYY-MM-DDThh:mm:ssZ`; a date (`YYYY-MM-DD`) only filters date
  fields. https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/sforce-api-calls-soql-select-dateformats.html
  Fractional seconds are accepted "as any arbitrary precision ... though Salesforce will only
  actually store up to 3 decimal places" (salesforce.stackexchange.com/questions/370738; a
  6-digit literal `...53.299852-06:00` runs in a real org: Illuminated Cloud issue 2283); the
  REST dateTime format is `yyyy-MM-ddTHH:mm:ss.SSS+/-HH:mm` or `...SSSZ`
  (.../intro_valid_date_formats.htm). So `+0000` (no colon), a missing zone, or a space for
  `T` are refused here (MALFORMED_QUERY), and a bare date against a dateTime field is
  INVALID_FIELD.
- Query results return dateTime values in UTC, rendered like `2026-01-01T00:00:00.000+0000`.
- Errors are a JSON array `[{"message": ..., "errorCode": ...}]`: 400 MALFORMED_QUERY (the
  message shows the clause, a caret and `ERROR at Row:1:Column:N`), INVALID_FIELD (`No such
  column 'X' on entity 'Y'`, or `value of filter criterion for field 'X' must be of type
  dateTime and should not be enclosed in quotes`), INVALID_TYPE; 401 "The session ID or
  OAuth token used has expired or is invalid", body
  `[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`.
  https://developer.salesforce.com/docs/platform/api-rest/guide/errorcodes.html
- Ids are 18 characters: a 3-character key prefix (`001` Account, `003` Contact, `006`
  Opportunity, `00Q` Lead, `500` Case), 12 more, and a 3-character case-safe checksum.

Not confirmed from the docs: the HTTP status of INVALID_QUERY_LOCATOR (400 here); the exact
wording of MALFORMED_QUERY messages; whether an exhausted locator can be fetched again (here:
yes, until it expires or is released); the order of rows that tie on every ORDER BY key (here:
insertion order -- Salesforce does not promise one); `+0000` being refused (inferred from the
documented `+hh:mm` forms).
"""

from __future__ import annotations

import copy
import functools
import re
import string
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.loopback import Reply, Seen
from tests.vendors.base import Clock, LoopbackApi

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_KEY_PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q"}
_KEY_PREFIXES |= {"Case": "500", "User": "005", "Task": "00T", "Event": "00U"}
_DATETIME_FIELDS = ("CreatedDate", "LastModifiedDate", "SystemModstamp")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z"
)
_LOOKS_DATEISH = re.compile(r"\d{4}-\d{2}-\d{2}")
_QUERY_PATH = re.compile(r"/services/data/v(\d+\.\d)/(query|queryAll)/?\Z")
_MORE_PATH = re.compile(r"/services/data/v(\d+\.\d)/(?:query|queryAll)/([0-9A-Za-z]{18})-(\d+)\Z")
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op>>=|<=|!=|<>|=|<|>)|(?P<paren>[(),])"
    r"|(?P<word>[^\s(),=<>!']+))"
)


class SalesforceError(Exception):
    """One Salesforce error, sent as `[{"message", "errorCode"}]`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def format_datetime(ms: int) -> str:
    """A stored instant (epoch milliseconds) as query results show it."""
    at = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}+0000"


def parse_datetime_literal(text: str) -> int | None:
    """A SOQL dateTime literal as epoch milliseconds (extra precision truncated), or None if
    it is not one of the accepted forms."""
    m = _DATETIME.match(text)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, zone = m.group(7) or "", m.group(8)
    try:
        at = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        at = at - offset if zone[0] == "+" else at + offset
    millis = int((fraction + "000")[:3])
    return int(at.timestamp()) * 1000 + millis


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character id: key prefix, a base-62 serial (so ids sort in creation order) and
    the case-safe checksum of the first 15 characters."""
    body = ""
    while number:
        number, digit = divmod(number, 62)
        body = _BASE62[digit] + body
    short = prefix + "5g0" + body.rjust(9, "0")
    suffix = ""
    for chunk in (short[0:5], short[5:10], short[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if c.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return short + suffix


@dataclass
class _Cursor:
    rows: list[dict[str, Any]]
    batch: int
    last_used: float


@dataclass
class _Query:
    fields: list[str]
    sobject: str
    where: Callable[[dict[str, Any]], bool] | None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int | None = None


class SalesforceApi(LoopbackApi):
    """The REST Query and Query More Results resources of one org, over in-memory records.

    `add_record` / `update_record` / `delete_record` change the data; `SystemModstamp`,
    `LastModifiedDate` (and `CreatedDate` on insert) are the emulation's clock (`clock`,
    frozen by default so many records share one millisecond). Thread-safe.
    """

    def __init__(
        self,
        *,
        token: str = "00D5g000004Emul!AQ0AQEmulatedSessionToken",
        clock: Clock | None = None,
        batch_size: int = 2000,
        locator_ttl: float = 15 * 60,
        max_open_cursors: int = 10,
    ) -> None:
        self.token = token
        self.clock = clock or Clock()
        self.batch_size = batch_size  # the default batch; tests may go below Salesforce's 200
        self.locator_ttl = locator_ttl  # seconds of the emulated clock without use
        self.max_open_cursors = max_open_cursors
        self.api_calls = 0
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}  # Id -> fields (datetimes as epoch ms)
        self._types: dict[str, dict[str, str]] = {
            name: _standard_fields() for name in _KEY_PREFIXES
        }
        self._serial = 0
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._locator_serial = 0
        self.crowd_cursors = False  # another client of the user opens 10 cursors after ours
        super().__init__(self._handle)

    # ------------------------------------------------------------------ lifecycle

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.clock.advance(seconds)

    # ------------------------------------------------------------------ test hooks

    def add_record(self, sobject: str, **fields: Any) -> dict[str, Any]:
        """Insert a record of type `sobject`; returns it as a query would show it."""
        with self._lock:
            types = self._types.setdefault(sobject, _standard_fields())
            for name, value in fields.items():
                types.setdefault(name, _kind_of(value))
            self._serial += 1
            prefix = _KEY_PREFIXES.get(sobject) or f"a{len(self._types) % 10}0"
            record_id = salesforce_id(prefix, self._serial)
            stamp = self._stamp()
            row = {"Name": None, **fields, "Id": record_id, "IsDeleted": False}
            row |= {"CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp}
            row["attributes"] = {"type": sobject}
            self._records[record_id] = row
            return self._shown(row, "v60.0")

    def update_record(self, record_id: str, **fields: Any) -> dict[str, Any]:
        """Change fields of a record; `SystemModstamp` and `LastModifiedDate` become the clock."""
        with self._lock:
            row = self._records[record_id]
            types = self._types[row["attributes"]["type"]]
            for name, value in fields.items():
                types.setdefault(name, _kind_of(value))
            row.update(fields)
            row["SystemModstamp"] = row["LastModifiedDate"] = self._stamp()
            return self._shown(row, "v60.0")

    def delete_record(self, record_id: str) -> None:
        """Move a record to the recycle bin: gone from `query`, still in `queryAll`."""
        with self._lock:
            row = self._records[record_id]
            row["IsDeleted"] = True
            row["SystemModstamp"] = row["LastModifiedDate"] = self._stamp()

    def expire_locators(self) -> None:
        """Invalidate every open query locator (as after 15 idle minutes)."""
        with self._lock:
            self._cursors.clear()

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record (deleted ones too), in insertion order, as a query would show it."""
        with self._lock:
            return [self._shown(r, "v60.0") for r in self._records.values()]

    # ------------------------------------------------------------------ internals

    def _stamp(self) -> int:
        return round(self.clock.now() * 1_000_000) // 1000  # to the microsecond, then floor

    def _shown(self, row: dict[str, Any], version: str, fields: list[str] | None = None) -> dict:
        sobject = row["attributes"]["type"]
        url = f"/services/data/{version}/sobjects/{sobject}/{row['Id']}"
        shown: dict[str, Any] = {"attributes": {"type": sobject, "url": url}}
        types = self._types[sobject]
        for name in fields if fields is not None else [k for k in row if k != "attributes"]:
            value = row.get(name)
            if types.get(name) == "datetime" and value is not None:
                value = format_datetime(value)
            shown[name] = copy.deepcopy(value)
        return shown

    def _handle(self, seen: Seen) -> Reply:
        try:
            with self._lock:
                self._authenticate(seen)
                self.api_calls += 1
                body = self._route(seen)
                limit_info = f"api-usage={self.api_calls}/15000"
                return Reply.json(body, 200, **{"Sforce-Limit-Info": limit_info})
        except SalesforceError as err:
            return Reply.json([{"message": err.message, "errorCode": err.code}], err.status)

    def _authenticate(self, seen: Seen) -> None:
        scheme, _, value = seen.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or value.strip() != self.token:
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _route(self, seen: Seen) -> dict[str, Any]:
        if seen.method != "GET":
            raise SalesforceError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{seen.method}' not allowed. Allowed are GET",
            )
        more = _MORE_PATH.match(seen.path)
        if more:
            version, locator, offset = more.groups()
            return self._more(f"v{version}", locator, int(offset), seen)
        query = _QUERY_PATH.match(seen.path)
        if query:
            version, resource = query.groups()
            soql = seen.query.get("q")
            if not soql:
                raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
            return self._query(f"v{version}", soql, resource == "queryAll", seen)
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")

    def _requested_batch(self, seen: Seen, default: int) -> int:
        options = seen.headers.get("sforce-query-options", "")
        m = re.search(r"batchSize\s*=\s*(\d+)", options)
        if not m:
            return default
        return max(min(200, self.batch_size), min(int(m.group(1)), 2000))

    def _query(self, version: str, soql: str, include_deleted: bool, seen: Seen) -> dict:
        parsed = _parse(soql, self._types)
        rows = [
            r
            for r in self._records.values()
            if r["attributes"]["type"] == parsed.sobject
            and (include_deleted or not r["IsDeleted"])
            and (parsed.where is None or parsed.where(r))
        ]
        for name, descending in reversed(parsed.order):  # stable sorts, last key first
            rows.sort(key=functools.partial(_sort_key_of, name), reverse=descending)
        if parsed.limit is not None:
            rows = rows[: parsed.limit]
        shown = [self._shown(r, version, parsed.fields) for r in rows]
        batch = self._requested_batch(seen, self.batch_size)
        if len(shown) <= batch:
            return {"totalSize": len(shown), "done": True, "records": shown}
        locator = self._open_cursor(_Cursor(shown, batch, self.clock.now()))
        page = self._page(version, locator, 0, batch)
        if self.crowd_cursors:  # the same user's other client: ours is the oldest, released
            for _ in range(self.max_open_cursors):
                self._open_cursor(_Cursor([], batch, self.clock.now()))
        return page

    def _open_cursor(self, cursor: _Cursor) -> str:
        while len(self._cursors) >= self.max_open_cursors:
            self._cursors.popitem(last=False)  # the oldest is released
        self._locator_serial += 1
        locator = salesforce_id("01g", self._locator_serial + 7_000_000)
        self._cursors[locator] = cursor
        return locator

    def _more(self, version: str, locator: str, offset: int, seen: Seen) -> dict[str, Any]:
        cursor = self._cursors.get(locator)
        now = self.clock.now()
        if cursor is not None and now - cursor.last_used > self.locator_ttl:
            del self._cursors[locator]
            cursor = None
        if cursor is None or offset > len(cursor.rows):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.last_used = now
        return self._page(version, locator, offset, self._requested_batch(seen, cursor.batch))

    def _page(self, version: str, locator: str, offset: int, batch: int) -> dict[str, Any]:
        rows = self._cursors[locator].rows
        end = offset + batch
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        body["records"] = copy.deepcopy(rows[offset:end])
        return body


# ---------------------------------------------------------------------- SOQL


def _standard_fields() -> dict[str, str]:
    types = {"Id": "id", "Name": "string", "IsDeleted": "boolean"}
    return types | dict.fromkeys(_DATETIME_FIELDS, "datetime")


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "double"
    return "string"


def _sort_key_of(name: str, row: dict[str, Any]) -> tuple[int, Any]:
    value = row.get(name)
    return (0, "") if value is None else (1, value)  # nulls first, as SOQL ASC does


def _malformed(soql: str, at: int, message: str) -> SalesforceError:
    line_start = soql.rfind("\n", 0, at) + 1
    column = at - line_start + 1
    snippet = soql[max(0, at - 40) : at + 40]
    caret = " " * (at - max(0, at - 40)) + "^"
    return SalesforceError(
        400,
        "MALFORMED_QUERY",
        f"\n{snippet}\n{caret}\nERROR at Row:1:Column:{column}\n{message}",
    )


class _Parser:
    """A recursive-descent parser for the SOQL subset the tests need."""

    def __init__(self, soql: str, types: dict[str, dict[str, str]]) -> None:
        self.soql = soql
        self.types = types
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        pos = 0
        while pos < len(soql):
            m = _TOKEN.match(soql, pos)
            if not m or m.end() == pos:
                if soql[pos:].strip() == "":
                    break
                raise _malformed(soql, pos, f"line 1:{pos} no viable alternative at character")
            kind = m.lastgroup or "word"
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0
        self.fields_of: dict[str, str] = {}

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "", len(self.soql))

    def keyword(self, *words: str) -> bool:
        kind, text, _ = self.peek()
        if kind == "word" and text.upper() in words:
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            kind, text, pos = self.peek()
            raise _malformed(self.soql, pos, f"unexpected token: '{text or '<EOF>'}'")

    def name(self) -> tuple[str, int]:
        kind, text, pos = self.peek()
        if kind != "word":
            raise _malformed(self.soql, pos, f"unexpected token: '{text or '<EOF>'}'")
        self.i += 1
        return text, pos

    def parse(self) -> _Query:
        self.expect("SELECT")
        selected = [self.name()]
        while self.peek()[1] == ",":
            self.i += 1
            selected.append(self.name())
        self.expect("FROM")
        sobject, sobject_at = self.name()
        canonical = {n.lower(): n for n in self.types}
        if sobject.lower() not in canonical:
            raise SalesforceError(
                400,
                "INVALID_TYPE",
                f"\n{self.soql}\n{' ' * sobject_at}^\nERROR at Row:1:Column:{sobject_at + 1}\n"
                f"sObject type '{sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        sobject = canonical[sobject.lower()]
        self.fields_of = {n.lower(): n for n in self.types[sobject]}
        query = _Query([self.field(n, at, sobject) for n, at in selected], sobject, None)
        if self.keyword("WHERE"):
            query.where = self.disjunction(sobject)
        if self.keyword("ORDER"):
            self.expect("BY")
            while True:
                name, at = self.name()
                column = self.field(name, at, sobject)
                descending = self.keyword("DESC")
                if not descending:
                    self.keyword("ASC")
                if self.keyword("NULLS"):
                    self.keyword("FIRST", "LAST")
                query.order.append((column, descending))
                if self.peek()[1] != ",":
                    break
                self.i += 1
        if self.keyword("LIMIT"):
            text, at = self.name()
            if not text.isdigit():
                raise _malformed(self.soql, at, f"unexpected token: '{text}'")
            query.limit = int(text)
        kind, text, pos = self.peek()
        if kind != "end":
            raise _malformed(self.soql, pos, f"unexpected token: '{text}'")
        return query

    def field(self, name: str, at: int, sobject: str) -> str:
        if name.lower() not in self.fields_of:
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"\n{self.soql}\n{' ' * at}^\nERROR at Row:1:Column:{at + 1}\n"
                f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        return self.fields_of[name.lower()]

    def disjunction(self, sobject: str) -> Callable[[dict[str, Any]], bool]:
        parts = [self.conjunction(sobject)]
        while self.keyword("OR"):
            parts.append(self.conjunction(sobject))
        return parts[0] if len(parts) == 1 else lambda r: any(p(r) for p in parts)

    def conjunction(self, sobject: str) -> Callable[[dict[str, Any]], bool]:
        parts = [self.factor(sobject)]
        while self.keyword("AND"):
            parts.append(self.factor(sobject))
        return parts[0] if len(parts) == 1 else lambda r: all(p(r) for p in parts)

    def factor(self, sobject: str) -> Callable[[dict[str, Any]], bool]:
        if self.keyword("NOT"):
            inner = self.factor(sobject)
            return lambda r: not inner(r)
        if self.peek()[1] == "(":
            self.i += 1
            inner = self.disjunction(sobject)
            if self.peek()[1] != ")":
                raise _malformed(self.soql, self.peek()[2], "expecting a right parentheses")
            self.i += 1
            return inner
        name, at = self.name()
        column = self.field(name, at, sobject)
        kind, op, op_at = self.peek()
        if kind != "op":
            raise _malformed(self.soql, op_at, f"unexpected token: '{op or '<EOF>'}'")
        self.i += 1
        value = self.value(column, sobject)
        compare: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<>": lambda a, b: a != b,
            ">": lambda a, b: a is not None and b is not None and a > b,
            ">=": lambda a, b: a is not None and b is not None and a >= b,
            "<": lambda a, b: a is not None and b is not None and a < b,
            "<=": lambda a, b: a is not None and b is not None and a <= b,
        }
        test = compare[op]
        return lambda r: test(r.get(column), value)

    def value(self, column: str, sobject: str) -> Any:
        kind, text, at = self.peek()
        self.i += 1
        ftype = self.types[sobject][column]
        if ftype == "datetime":
            if kind == "str" or (
                kind == "word"
                and _LOOKS_DATEISH.fullmatch(text)
                and not re.match(r"\d", self.peek()[1])  # not `2026-01-01 00:00:00Z`
            ):
                raise SalesforceError(
                    400,
                    "INVALID_FIELD",
                    f"\n{self.soql}\n{' ' * at}^\nERROR at Row:1:Column:{at + 1}\n"
                    f"value of filter criterion for field '{column}' must be of type dateTime "
                    "and should not be enclosed in quotes",
                )
            if kind == "word" and text.lower() == "null":
                return None
            stamp = parse_datetime_literal(text) if kind == "word" else None
            if stamp is None:
                raise _malformed(
                    self.soql, at, f"line 1:{at} no viable alternative at character '{text[:1]}'"
                )
            return stamp
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "word":
            lowered = text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            try:
                return float(text) if "." in text else int(text)
            except ValueError:
                pass
        raise _malformed(self.soql, at, f"unexpected token: '{text or '<EOF>'}'")


def _parse(soql: str, types: dict[str, dict[str, str]]) -> _Query:
    return _Parser(soql, types).parse()
