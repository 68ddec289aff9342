"""Every option of `format("rest")` in one place: name, type, default, accepted values,
secrecy, where it applies and a one-line doc.

`rest_stream.options.parse_options` validates against this registry (unknown names, typed
defaults, choices, bounds, options set where they do nothing), `rest_stream.errors` takes the
secret names from it, and `rest_stream.options.docs` generates the reference tables of
docs/options.md from it (`python -m rest_stream.options.docs --write docs/options.md`).

This module is plain data: it imports nothing from rest_stream.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Option kinds: how a value is read (see `rest_stream.options._Reader`).
KINDS = (
    "text",  # free text
    "secret",  # free text, a credential: masked everywhere, `env:NAME` allowed
    "choice",  # one of `choices`, case-insensitive
    "number",  # a finite decimal number within [minimum, maximum]
    "integer",  # a whole number within [minimum, maximum]
    "boolean",  # true/false, 1/0, yes/no
    "json",  # a JSON value (object or array, per option)
    "jsonpath",  # a JSONPath expression
    "url",  # an http:// or https:// URL
    "file",  # the path of a file on the driver
    "header",  # an HTTP header name
)

#: The largest whole number an integer option takes (Spark passes limits as Java ints).
MAX_INT = 2**31 - 1
#: The largest number of seconds a number option takes (about 31 years).
MAX_SECONDS = 1e9


@dataclass(frozen=True)
class Condition:
    """An option applies only when `option` has one of `values` (any value when empty)."""

    option: str
    values: tuple[str, ...] = ()

    def describe(self) -> str:
        """`offsetType page or offset`, or `latestOffsetUrl set`."""
        if not self.values:
            return f"{self.option} set"
        return f"{self.option} {' or '.join(self.values)}"


@dataclass(frozen=True)
class OptionSpec:
    """One option: what it is called, what it takes, what it does and where it applies."""

    name: str
    kind: str
    group: str
    doc: str
    example: str
    default: Any = None
    default_doc: str | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False
    stream_only: bool = False
    when: tuple[Condition, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def key(self) -> str:
        """The name as Spark passes it: lower-cased."""
        return self.name.lower()

    def default_text(self) -> str:
        """The default as docs/options.md shows it."""
        if self.default_doc is not None:
            return self.default_doc
        if self.default is None:
            return "none"
        if isinstance(self.default, bool):
            return f"`{str(self.default).lower()}`"
        if isinstance(self.default, float) and self.default.is_integer():
            return f"`{int(self.default)}`"
        return f"`{self.default}`"

    def applies_text(self) -> str:
        """Where the option does something, as docs/options.md shows it."""
        parts = ["readStream only"] if self.stream_only else []
        parts += [c.describe() for c in self.when]
        return "; ".join(parts) or "always"


REQUEST = "request"
CONNECTION = "connection"
AUTH = "auth"
RESPONSE = "response"
STREAM = "stream"
PAGINATION = "pagination"
#: The groups of options, each a table in docs/options.md: id -> heading.
GROUPS = {
    REQUEST: "Request (batch and streaming)",
    CONNECTION: "Connection, retries and rate limits",
    AUTH: "Authentication (one code path for batch and streaming)",
    RESPONSE: "Response",
    PAGINATION: "Pagination (the pages of one answer)",
    STREAM: "Streaming and offsets",
}

OFFSET_TYPES = ("timestamp", "cursor", "incremental", "page", "offset", "link")
#: Where a new stream starts for each `offsetType` when `initialOffset` is not set.
DEFAULT_INITIAL_OFFSET = {
    "cursor": "",
    "link": "",
    "page": "1",
    "offset": "0",
    "incremental": "0",
    "timestamp": "0",
}

_OFFSET = Condition("offsetType")
_BODY = Condition("method", ("POST", "PUT", "PATCH"))
_NO_BODY = Condition("method", ("GET", "DELETE"))


def _auth(*kinds: str) -> tuple[Condition, ...]:
    return (Condition("authType", kinds),)


def _offsets(*kinds: str) -> tuple[Condition, ...]:
    return (Condition("offsetType", kinds),)


OPTIONS: tuple[OptionSpec, ...] = (
    # -- request -----------------------------------------------------------------------------
    OptionSpec(
        "url", "url", REQUEST,
        "The API URL. `{name}` placeholders are filled from the current offset "
        "(`{<offsetField>}`) and from the current `inputData` row; values are URL-encoded.",
        "`https://api.example.com/v1/{region}/items?since_id={since_id}`",
        default_doc="required",
    ),
    OptionSpec(
        "method", "choice", REQUEST, "The HTTP method.", "`POST`",
        default="GET", choices=("GET", "POST", "PUT", "PATCH", "DELETE"),
    ),
    OptionSpec(
        "headers", "json", REQUEST,
        "Extra headers, a JSON object. Values of headers whose names contain `auth`, `token`, "
        "`key`, `secret`, `cookie`, `session`, `signature` or `password` are secrets.",
        '`{"Accept": "application/json"}`',
    ),
    OptionSpec(
        "cookie", "secret", REQUEST, "Cookies sent with every request.",
        "`session=abc; theme=dark`", secret=True,
    ),
    OptionSpec(
        "inputData", "json", REQUEST,
        "JSON array of objects. Batch: one call per object. Streaming: one logical stream per "
        "object, each with its own offset.",
        '`[{"region": "eu"}, {"region": "us"}]`', default_doc="one call / one stream",
    ),
    OptionSpec(
        "inputDataUrl", "url", REQUEST,
        "Instead of `inputData`: the rows come from this parent endpoint (same auth, headers, "
        "retries, `pagination`), at the JSONPath `inputDataPath`. Streaming reads the list "
        "again at most every `streamingInterval` seconds, at the first poll after that: a new "
        "row is a new stream at `initialOffset`, a row no longer listed is no longer polled. "
        "The whole list is held in the driver's memory.",
        "`https://api.example.com/repos`",
    ),
    OptionSpec(
        "inputDataPath", "jsonpath", REQUEST,
        "JSONPath to the rows in the `inputDataUrl` response (default: as `recordsPath`'s "
        "default).",
        "`$.repos[*]`", when=(Condition("inputDataUrl"),),
    ),
    OptionSpec(
        "streamKey", "text", REQUEST,
        "The input fields that identify a stream (default: the whole row), so adding another "
        "field to the rows does not restart every stream. A JSON array or comma-separated "
        "names.",
        '`["repo"]` or `repo,owner`', default_doc="the whole row",
    ),
    OptionSpec(
        "queryType", "choice", REQUEST,
        "How an `inputData` row reaches a GET: `querystring` (fields not used by `url` "
        "placeholders become query parameters) or `inline` (only through `url` placeholders).",
        "`inline`", default="querystring", choices=("querystring", "inline"), when=(_NO_BODY,),
    ),
    OptionSpec(
        "postInputFormat", "choice", REQUEST,
        "Body of POST/PUT/PATCH: `json` or `form`. The body holds the `inputData` row and, in "
        "streaming, the offset (`{offsetField: value}`).",
        "`form`", default="json", choices=("json", "form"), when=(_BODY,),
    ),
    OptionSpec(
        "bodyTemplate", "json", REQUEST,
        "A JSON body for POST/PUT/PATCH instead of the input row. A string value, at any "
        "depth, that is exactly `\"{name}\"` becomes the offset field (or next-page value) or "
        "the `inputData` field of that name, keeping its JSON type; an empty position (a "
        "chain's first page) becomes `null`. Braces anywhere else are sent as written, so a "
        "GraphQL `query` goes as it is.",
        '`{"query": "query($after: String) {...}", "variables": {"after": "{after}"}}`',
        when=(_BODY,),
    ),
    OptionSpec(
        "numPartitions", "integer", REQUEST,
        "Most Spark tasks a read (batch) or micro-batch (streaming) is split into. Batch "
        "without offsets: input rows are spread over them.",
        "`8`", default_doc="CPU count (≥ 2)", minimum=1, maximum=MAX_INT,
    ),
    OptionSpec(
        "requestConcurrency", "integer", REQUEST,
        "Requests in flight at once inside one task where requests are independent (input "
        "rows, `page` numbers), and probes per round of the driver's end search. The driver "
        "polls its streams (probes, end searches, chain walks) with `numPartitions` × this many "
        "requests at once (at most 64), as many as one batch's tasks read together. On a slow "
        "API a backfill's rate grows with the requests in flight: at 20 ms per request, 8 "
        "read about 1.5× as fast as 4 "
        "([performance](performance.md#throughput-against-numpartitions)).",
        "`8`", default=4, minimum=1, maximum=MAX_INT,
    ),
    # -- connection --------------------------------------------------------------------------
    OptionSpec(
        "connectionTimeout", "number", CONNECTION, "Seconds to connect.", "`5`",
        default=10.0, minimum=0.0, maximum=MAX_SECONDS,
    ),
    OptionSpec(
        "readTimeout", "number", CONNECTION, "Seconds to wait for a response.", "`30`",
        default=60.0, minimum=0.0, maximum=MAX_SECONDS,
    ),
    OptionSpec(
        "maxRetries", "integer", CONNECTION,
        "Retries after the first attempt for connection errors, timeouts and dropped "
        "connections, and for the statuses 408, 429, 5xx except 501 and 505, and 403s about "
        "the rate limit (with `Retry-After`, or a remaining budget of 0). Other statuses fail "
        "at once. Waits: [rate limits](security.md#rate-limits).",
        "`3`", default=5, minimum=0, maximum=MAX_INT,
    ),
    OptionSpec(
        "retryBackoffSeconds", "number", CONNECTION,
        "First wait of the exponential backoff (with jitter).", "`1`",
        default=0.5, minimum=0.0, maximum=MAX_SECONDS,
    ),
    OptionSpec(
        "retryMaxWaitSeconds", "number", CONNECTION,
        "Longest backoff between attempts. A wait the API asks for (`Retry-After`, a "
        "rate-limit reset) is capped by `rateLimitMaxWaitSeconds` instead.",
        "`30`", default=60.0, minimum=0.0, maximum=MAX_SECONDS,
    ),
    OptionSpec(
        "rateLimitMaxWaitSeconds", "number", CONNECTION,
        "Longest wait for a rate limit the API announces (`Retry-After`, or the reset of a "
        "spent budget: the headers are listed in [rate limits](security.md#rate-limit-headers)): "
        "such a wait is waited out, whatever `retryMaxWaitSeconds` says, up to this; a reset "
        "further away fails with `RestRateLimitError`. The default covers hourly windows "
        "(GitHub's 5,000 requests an hour).",
        "`900`", default=3600.0, minimum=0.0, maximum=MAX_SECONDS,
    ),
    OptionSpec(
        "maxRequestsPerSecond", "number", CONNECTION,
        "Cap on the request rate of a read or micro-batch: each of its tasks gets an equal "
        "share (the driver's own requests — end searches, chain walks — are held to the whole "
        "cap). Greater than 0.",
        "`20`", default_doc="unlimited", minimum=0.0, maximum=MAX_SECONDS,
    ),
    OptionSpec(
        "rateLimitRemainingHeader", "header", CONNECTION,
        "Another header name for the API's remaining request budget, read before the "
        "[standard ones](security.md#rate-limit-headers).",
        "`X-Quota-Left`",
    ),
    OptionSpec(
        "rateLimitResetHeader", "header", CONNECTION,
        "Another header name for when the budget resets (epoch seconds or milliseconds, "
        "seconds from now, or an HTTP date), read before the "
        "[standard ones](security.md#rate-limit-headers).",
        "`X-Quota-Reset`",
    ),
    OptionSpec(
        "followRedirects", "choice", CONNECTION,
        "`same-origin`, `all` or `none`. Credentials (auth headers, API key header or "
        "parameter, secret headers, cookies) never go to another origin.",
        "`none`", default="same-origin", choices=("same-origin", "all", "none"),
    ),
    OptionSpec(
        "tlsVerify", "text", CONNECTION,
        "`true`, `false` or the path of a CA bundle file on the driver and executors.",
        "`/etc/ssl/my-ca.pem`", default=True,
    ),
    OptionSpec(
        "clientCert", "file", CONNECTION,
        "PEM file of the client certificate for mutual TLS (it may hold the key too).",
        "`/etc/rest/client.pem`",
    ),
    OptionSpec(
        "clientKey", "secret", CONNECTION,
        "PEM file of the client certificate's private key for mutual TLS (secret).",
        "`/etc/rest/client.key`", secret=True, when=(Condition("clientCert"),),
    ),
    OptionSpec(
        "proxy", "secret", CONNECTION,
        "Proxy URL, `http://`, `https://` or `socks5://` (secret: it may hold credentials).",
        "`http://user:pw@proxy:3128`", secret=True,
    ),
    # -- auth --------------------------------------------------------------------------------
    OptionSpec(
        "authType", "choice", AUTH,
        "`none`, `Basic`, `Bearer`, `OAuth1`, `OAuth2` (client credentials), `ApiKey`; "
        "case-insensitive.",
        "`Bearer`", default="none",
        choices=("none", "basic", "bearer", "oauth1", "oauth2", "apikey"),
    ),
    OptionSpec(
        "userId", "text", AUTH, "Basic: the user name.", "`alice`", when=_auth("basic"),
    ),
    OptionSpec(
        "userPassword", "secret", AUTH, "Basic: the password (secret).", "`env:API_PASSWORD`",
        secret=True, when=_auth("basic"),
    ),
    OptionSpec(
        "bearerToken", "secret", AUTH,
        "Bearer: the token, sent as `Authorization: Bearer <token>` (secret). `oauthToken` is "
        "another name for it; both at once must hold the same value.",
        "`env:GITHUB_TOKEN`", secret=True, when=_auth("bearer"),
    ),
    OptionSpec(
        "oauthToken", "secret", AUTH,
        "OAuth1: the token (secret). Bearer: another name for `bearerToken`.",
        "`env:API_TOKEN`", secret=True, when=_auth("bearer", "oauth1"),
    ),
    OptionSpec(
        "oauthConsumerKey", "text", AUTH,
        "OAuth1 consumer key. Requests are HMAC-SHA1 signed with authlib; form bodies are "
        "signed, JSON bodies are sent unchanged. Needs https (loopback http is allowed).",
        "`my-app`", when=_auth("oauth1"),
    ),
    OptionSpec(
        "oauthConsumerSecret", "secret", AUTH, "OAuth1 consumer secret (secret).",
        "`env:CONSUMER_SECRET`", secret=True, when=_auth("oauth1"),
    ),
    OptionSpec(
        "oauthTokenSecret", "secret", AUTH, "OAuth1 token secret (secret).",
        "`env:TOKEN_SECRET`", secret=True, when=_auth("oauth1"),
    ),
    OptionSpec(
        "oauthTokenUrl", "text", AUTH,
        "OAuth2 client credentials: the token is fetched from this URL, shared by every "
        "request of a Python worker, refreshed before it expires and once on a 401.",
        "`https://auth.example.com/token`", when=_auth("oauth2"),
    ),
    OptionSpec(
        "oauthClientId", "text", AUTH, "OAuth2 client id.", "`client-1`", when=_auth("oauth2"),
    ),
    OptionSpec(
        "oauthClientSecret", "secret", AUTH, "OAuth2 client secret (secret).",
        "`env:CLIENT_SECRET`", secret=True, when=_auth("oauth2"),
    ),
    OptionSpec(
        "oauthScope", "text", AUTH, "OAuth2 scope requested with the token.", "`read write`",
        when=_auth("oauth2"),
    ),
    OptionSpec(
        "oauthClientAuthMethod", "choice", AUTH,
        "How the client authenticates at the token URL.", "`client_secret_post`",
        default="client_secret_basic", choices=("client_secret_basic", "client_secret_post"),
        when=_auth("oauth2"),
    ),
    OptionSpec(
        "apiKey", "secret", AUTH,
        "ApiKey: the key (secret), sent in the header `apiKeyHeader`, or as the query "
        "parameter `apiKeyParam` when that is set.",
        "`env:MY_API_KEY`", secret=True, when=_auth("apikey"),
    ),
    OptionSpec(
        "apiKeyHeader", "header", AUTH, "ApiKey: the header that carries the key.",
        "`X-Key`", default="X-API-Key", when=_auth("apikey"),
    ),
    OptionSpec(
        "apiKeyParam", "text", AUTH,
        "ApiKey: send the key as this query parameter instead of a header.", "`api_key`",
        when=_auth("apikey"),
    ),
    # -- response ----------------------------------------------------------------------------
    OptionSpec(
        "recordsPath", "jsonpath", RESPONSE,
        "JSONPath to the records. Default: the response itself when it is an array, else the "
        "first array at its top level (never `error` or `errors`), else the object as one "
        "record when it has a field of the schema. A path that matches nothing, or null, fails "
        "the read: only an empty array means no records "
        "([contract](contract.md#what-the-reader-refuses)). With the default or a "
        "plain chain of fields (`$.data`, `$.result.items[*]`), `page`, `incremental` and "
        "`timestamp` ranges, input rows and carried pages decode bodies straight to Arrow, "
        "about twice as fast; a filter, slice or `..` path reads every page through the "
        "general path ([architecture](architecture.md)). With `responseFormat` `ndjson` or "
        "`csv` the records are every line or row: only `$` or `$[*]` is accepted.",
        "`$.data[*]`", default_doc="see meaning",
    ),
    OptionSpec(
        "errorPath", "jsonpath", RESPONSE,
        "JSONPath to an error in a 2xx response: when it matches a value other than null, "
        "`false` or an empty list, the read fails and shows what it matched (secrets masked), "
        "instead of reading the body as records (GraphQL `$.errors[*].message`, `$.error`).",
        "`$.errors[*].message`",
    ),
    OptionSpec(
        "responseFormat", "choice", RESPONSE,
        "How a response body is read: `json` (one JSON document), `ndjson` (one JSON value "
        "per line, blank lines skipped) or `csv` (RFC 4180 text with a header row; values are "
        "strings unless the schema gives another type; an empty field is null). A gzip body "
        "(`.gz` download) is unpacked first, whatever the format. With `ndjson` and `csv` the "
        "records are the lines or rows: nothing in the body around them can hold a next "
        "offset ([formats](formats.md)).",
        "`ndjson`", default="json", choices=("json", "ndjson", "csv"),
    ),
    OptionSpec(
        "schemaSampleSize", "integer", RESPONSE,
        "How many responses (input rows / streams) the schema is inferred from when no "
        "`.schema(...)` is given.",
        "`10`", default=3, minimum=1, maximum=MAX_INT,
    ),
    OptionSpec(
        "onTypeMismatch", "choice", RESPONSE,
        "A value that does not fit the schema: `error` (names the field, record and URL) or "
        "`null`. Does nothing when `rescuedDataColumn` is set: such values are rescued.",
        "`null`", default="error", choices=("error", "null"),
    ),
    OptionSpec(
        "rescuedDataColumn", "text", RESPONSE,
        "The string column that keeps what a record holds and the schema cannot: a value of "
        "another type than its field (the field is read as null) and a field the schema does "
        "not have, as one JSON object keyed by field path (`price`, `meta.score`, `tags[2]`) "
        "with the page's URL under `_url`; null when nothing was rescued. A `.schema(...)` "
        "must have the column; an inferred schema gets it last. Takes precedence over "
        "`onTypeMismatch` ([bad records](troubleshooting.md#bad-records-rescued-values-and-"
        "malformed-records)).",
        "`_rescued_data`",
    ),
    OptionSpec(
        "mode", "choice", RESPONSE,
        "What happens to a malformed record: an item of the records that is not a JSON "
        "object, or (reads without `offsetType`) a response body that is not JSON. "
        "`PERMISSIVE` keeps a row of nulls with the record's text in the "
        "`columnNameOfCorruptRecord` column, `DROPMALFORMED` drops it, `FAILFAST` fails the "
        "query naming the URL. As in Spark's JSON reader; a body that is not JSON fails under "
        "`PERMISSIVE` too unless the schema has that column.",
        "`DROPMALFORMED`", default="PERMISSIVE",
        choices=("PERMISSIVE", "DROPMALFORMED", "FAILFAST"),
    ),
    OptionSpec(
        "columnNameOfCorruptRecord", "text", RESPONSE,
        "The string column that holds a malformed record's text under `mode=PERMISSIVE`, when "
        "the schema has it. An inferred schema gets it when a sample response held a "
        "malformed record.",
        "`_bad_record`", default="_corrupt_record", when=(Condition("mode", ("PERMISSIVE",)),),
    ),
    OptionSpec(
        "includeInputsInOutput", "boolean", RESPONSE,
        "Add an `_input` struct column holding the `inputData` row each record came from.",
        "`true`", default=False,
    ),
    # -- pagination --------------------------------------------------------------------------
    OptionSpec(
        "pagination", "choice", PAGINATION,
        "How the pages of one answer are reached from its first page, apart from the position "
        "(`offsetType`): `none` (one page), `link` (the `Link` header's `rel=\"next\"`), "
        "`nextUrl` (a URL in the body at `nextPagePath`), `cursor` (a token at `nextPagePath` or "
        "`nextPageHeader`, sent back as `nextPageParam`), `page` (page numbers in "
        "`nextPageParam`) or `offset` (records to skip in `nextPageParam`). Combines with the "
        "`incremental` and `timestamp` positions, a newest-first `cursor` walk "
        "(`recordOrder=descending` with `recordOffsetPath`), batch reads and `inputDataUrl`; "
        "other `cursor` and `link` positions already page ([pagination](pagination.md)).",
        "`link`", default="none", choices=("none", "link", "nextUrl", "cursor", "page", "offset"),
    ),
    OptionSpec(
        "nextPagePath", "jsonpath", PAGINATION,
        "JSONPath to the next page's URL (`pagination=nextUrl`) or token (`cursor`) in the body.",
        "`$.nextRecordsUrl`", default_doc="required by `nextUrl`, and by `cursor` without "
        "`nextPageHeader`", when=(Condition("pagination", ("nextUrl", "cursor")),),
    ),
    OptionSpec(
        "nextPageHeader", "header", PAGINATION,
        "`pagination=cursor`: take the next token from this response header instead of the body.",
        "`X-Next-Page-Token`", when=(Condition("pagination", ("cursor",)),),
    ),
    OptionSpec(
        "nextPageParam", "text", PAGINATION,
        "The name the next token, page number or offset is sent as: a `{placeholder}` of `url` "
        "or `bodyTemplate` when there is one, else a query parameter (GET) or body field.",
        "`after`", default_doc="required by `cursor`, `page` and `offset`",
        when=(Condition("pagination", ("cursor", "page", "offset")),),
    ),
    OptionSpec(
        "firstPage", "integer", PAGINATION, "`pagination=page`: the first page's number.", "`0`",
        default=1, minimum=0, maximum=MAX_INT, when=(Condition("pagination", ("page",)),),
    ),
    OptionSpec(
        "hasMorePath", "jsonpath", PAGINATION,
        "JSONPath to a boolean: false ends the pages, whatever the next token or URL says "
        "(Stripe `$.has_more`, GraphQL `$..pageInfo.hasNextPage`). A missing or non-boolean "
        "value fails the read. Also ends a `cursor` or `link` position's pages.",
        "`$.has_more`",
    ),
    OptionSpec(
        "donePath", "jsonpath", PAGINATION,
        "JSONPath to a boolean: true ends the pages (Salesforce `$.done`, Zendesk "
        "`$.end_of_stream`). A missing or non-boolean value fails the read.",
        "`$.done`",
    ),
    # -- streaming and offsets ---------------------------------------------------------------
    OptionSpec(
        "streaming", "boolean", STREAM,
        "Optional; `readStream` always returns the stream reader. `true` checks at `load()` "
        "that `offsetType` is set (without it the check waits until the query starts).",
        "`true`", default=False, stream_only=True,
    ),
    OptionSpec(
        "offsetType", "choice", STREAM,
        "`incremental` (next = largest id + 1), `timestamp`, `cursor`, `page` (page numbers), "
        "`offset` (records skipped, offset/limit paging; `pageSize` is the limit), `link` "
        "(next URL from the `Link` header, or from the body at `offsetPath`). See "
        "[offsets.md](offsets.md). Required by "
        "`readStream`; with `spark.read` it reads every page from `initialOffset` to the "
        "current end.",
        "`incremental`", choices=OFFSET_TYPES,
    ),
    OptionSpec(
        "offsetField", "text", STREAM,
        "Name of the offset: the `{placeholder}` in `url` (or the query parameter / body "
        "field when there is no placeholder).",
        "`since_id`",
        default_doc="required with `offsetType` (not `link`, nor a newest-first `cursor` walk)",
        when=_offsets("timestamp", "cursor", "incremental", "page", "offset"),
    ),
    OptionSpec(
        "initialOffset", "text", STREAM,
        "Where a new query (and a stream added later) starts: an id, a page number (≥ 0), "
        "records to skip (≥ 0), a timestamp in `timestampFormat`, a cursor, for `link` "
        "the first page's URL (default: `url`), or for a newest-first `cursor` walk the id "
        "of the newest record already delivered (default: none, the whole list). Also "
        "`earliest` (the whole history: the default) or `latest` (only what arrives after the "
        "stream's first poll, as Kafka's `startingOffsets`; `readStream` only).",
        "`2024-01-01T00:00:00Z`",
        default_doc="`\"\"` cursor/link, `1` page, `0` offset/incremental/timestamp",
        when=(_OFFSET,),
    ),
    OptionSpec(
        "offsetPath", "jsonpath", STREAM,
        "JSONPath to the next offset in a response (a list match takes its last element); "
        "with `link`, to the next page's URL in the body (e.g. `$.\"@odata.nextLink\"`). "
        "With `responseFormat=ndjson` it reads the list of records (e.g. `$[-1].id`, the last "
        "record's id); refused with `csv`. Null or an empty value there ends a chain; a key "
        "absent from a stream's first page fails the read.",
        "`$.meta.next_cursor`",
        default_doc="`$.<offsetField>` (`json` only); `link`: the `Link` header",
        when=_offsets("timestamp", "cursor", "link"),
    ),
    OptionSpec(
        "offsetHeader", "header", STREAM,
        "Take the next `cursor` from this response header instead of the body.",
        "`X-Next-Cursor`", when=_offsets("cursor"),
    ),
    OptionSpec(
        "recordOffsetPath", "jsonpath", STREAM,
        "JSONPath, on each record, to the value an `incremental` or `timestamp` offset "
        "advances by. With it a `timestamp` range can be split. With `cursor` and "
        "`recordOrder=descending`: the record's id (compared only for equality).",
        "`$.updated_at`", default_doc="`$.id` for `incremental`",
        when=_offsets("incremental", "timestamp", "cursor"),
    ),
    OptionSpec(
        "recordOrder", "choice", STREAM,
        "The order of the records in a response: `ascending` (oldest first) or `descending` "
        "(newest first: Stripe lists, `since_id` timelines, activity feeds). With `descending` "
        "and `recordOffsetPath`, each poll reads from the newest page down to the newest "
        "record already delivered (pages down with `pagination`); without `recordOffsetPath`, "
        "the cursor chain goes towards newer records (Stripe `ending_before`) and each page is "
        "read oldest first. See [cursor](kinds/cursor.md#newest-first-lists).",
        "`descending`", default="ascending", choices=("ascending", "descending"),
        when=_offsets("cursor"),
    ),
    OptionSpec(
        "timestampFormat", "text", STREAM,
        "`seconds`, `millis` (epoch), `iso8601`, or a pattern the position is written back in "
        "(Java `DateTimeFormatter` letters: `yyyy-MM-dd'T'HH:mm:ss.SSSXXX` writes "
        "`2026-01-01T00:00:00.000Z`). With `iso8601` a position is written in the style of the "
        "API's own values (fraction digits, `Z`, `+0000` or `+00:00`; every zone form is read "
        "on every supported Python, 3.10 included).",
        "`iso8601`", default="seconds",
        when=_offsets("timestamp"),
    ),
    OptionSpec(
        "timestampLagSeconds", "number", STREAM,
        "How late records can join a timestamp: a timestamp range's end (clock or probe) and "
        "its walks stop at the last whole second before now − lag.",
        "`30`", default=0.0, minimum=0.0, maximum=MAX_SECONDS, when=_offsets("timestamp"),
    ),
    OptionSpec(
        "lookbackSeconds", "number", STREAM,
        "Read again, at every poll, the records of the last seconds before the position, and "
        "deliver those not delivered before (late records, updates), each record version "
        "exactly once; needs `primaryKeyPath`. See "
        "[lookback](kinds/timestamp.md#late-records-lookbackseconds).",
        "`3600`", default_doc="none (no window is read again)", maximum=MAX_SECONDS,
        stream_only=True, when=(*_offsets("timestamp"), Condition("recordOffsetPath")),
    ),
    OptionSpec(
        "primaryKeyPath", "jsonpath", STREAM,
        "JSONPath, on each record, to what names the record (its id). A key with a newer "
        "timestamp is a new version, delivered again.",
        "`$.id`", default_doc="required with `lookbackSeconds`", stream_only=True,
        when=(Condition("lookbackSeconds"),),
    ),
    OptionSpec(
        "lookbackMaxKeys", "integer", STREAM,
        "Most record versions one stream's lookback window may hold (each adds about 11 "
        "bytes to every offset Spark logs); a window that holds more fails the query.",
        "`500000`", default=100_000, minimum=1, maximum=MAX_INT, stream_only=True,
        when=(Condition("lookbackSeconds"),),
    ),
    OptionSpec(
        "pageSize", "integer", STREAM,
        "Records on a full page (as in your `per_page`); the `limit` of `offset` paging. "
        "Applies to `offsetType` `page` and `offset`, and to `pagination` `page` and `offset` "
        "(a shorter page is the last).",
        "`100`", default_doc="required for `offsetType` `page` and `offset`", minimum=1,
        maximum=MAX_INT,
    ),
    OptionSpec(
        "latestOffsetUrl", "url", STREAM,
        "A cheap probe for the newest value (largest id, newest timestamp, last page number, "
        "total count), so the planner knows where a range ends without searching. `url`-style "
        "placeholders from the input row are filled. `timestamp` needs `recordOffsetPath` "
        "(without it the driver walks pages: nothing to probe).",
        "`https://api.example.com/items/latest`",
        when=_offsets("incremental", "timestamp", "page", "offset"),
    ),
    OptionSpec(
        "latestOffsetPath", "jsonpath", STREAM,
        "JSONPath to the newest value in the `latestOffsetUrl` response (null there: no "
        "records yet; a path that matches nothing fails).", "`$.max_id`",
        default_doc="required with `latestOffsetUrl`", when=(Condition("latestOffsetUrl"),),
    ),
    OptionSpec(
        "batchSize", "integer", STREAM,
        "Most records in one micro-batch (Spark's `ReadMaxRows`), shared equally by the "
        "streams: each gets `batchSize` ÷ the number of streams (at least 1). The unit depends "
        "on `offsetType`. `incremental` counts **ids**: a batch ends at most that many ids "
        "after its start, so a range with gaps in its ids gives fewer records. `page`, "
        "`offset`, `cursor`, `link` and a newest-first `cursor` count records, exactly, "
        "cutting inside a page when needed. `timestamp` with `recordOffsetPath` counts "
        "records but never cuts between equal timestamps (fewer; or, when the first "
        "timestamp alone holds more, all of its records); without `recordOffsetPath` it takes "
        "whole pages until the count is reached.",
        "`10000`", default_doc="unlimited", minimum=1, maximum=MAX_INT, stream_only=True,
        when=(_OFFSET,),
    ),
    OptionSpec(
        "maxPagesPerBatch", "integer", STREAM,
        "Most pages the driver walks for one micro-batch of a chain (bounds driver memory).",
        "`500`", default=100, minimum=1, maximum=MAX_INT, stream_only=True, when=(_OFFSET,),
    ),
    OptionSpec(
        "maxBytesPerBatch", "integer", STREAM,
        "Most bytes of pages the driver walks for one micro-batch, across all streams. It is "
        "checked before each page, so a batch can pass it by the pages of the streams walked "
        "at once (a newest-first descent: by its pages down to the position, at most "
        "`maxPagesPerBatch`).",
        "`67108864`", default=256 * 1024 * 1024, default_doc="`268435456` (256 MiB)",
        minimum=1, maximum=2**63 - 1,
        stream_only=True, when=(_OFFSET,),
    ),
    OptionSpec(
        "streamingInterval", "number", STREAM,
        "Least seconds between the starts of two polls of a stream that has caught up, less "
        "a tenth of it (at most 0.1 s), so a trigger of the same interval polls at every "
        "trigger. A stream with a backlog is polled at once.",
        "`1`", default=10.0, minimum=0.0, maximum=MAX_SECONDS, stream_only=True,
        when=(_OFFSET,),
    ),
    OptionSpec(
        "streamRetireSeconds", "number", STREAM,
        "With `inputDataUrl`: a stream the parent list has not named for longer than this is "
        "retired from the offset (listed again later, it starts anew at `initialOffset`), so "
        "the offset does not grow forever. Within it, a stream listed again goes on from its "
        "position.",
        "`604800`", default=86400.0, minimum=0.0, maximum=MAX_SECONDS, stream_only=True,
        when=(_OFFSET, Condition("inputDataUrl")),
    ),
    OptionSpec(
        "onBadOffset", "choice", STREAM,
        "An offset that is missing, does not advance, goes backwards or loops: `error` fails "
        "the query with the URL and value; `stop` logs a warning and ends that stream's batch "
        "there.",
        "`stop`", default="error", choices=("error", "stop"), when=(_OFFSET,),
    ),
)

#: Option keys Spark itself adds: `load(path)` passes `path`, `load([a, b])` passes `paths`
#: (checked on pyspark 4.x: nothing else reaches a Python data source's options).
SPARK_KEYS = frozenset({"path", "paths"})

BY_KEY: Mapping[str, OptionSpec] = {spec.key: spec for spec in OPTIONS}

#: Lower-cased names of the options whose values are secrets.
SECRET_NAMES = frozenset(spec.key for spec in OPTIONS if spec.secret)


def spec(name: str) -> OptionSpec:
    """The spec of option `name` (any case); KeyError for a name the registry lacks."""
    return BY_KEY[name.lower()]


def choices(name: str) -> tuple[str, ...]:
    """The accepted values of choice option `name`."""
    return spec(name).choices


def default(name: str) -> Any:
    """The default of option `name` (None when it has none)."""
    return spec(name).default


def closest(name: str) -> str | None:
    """The known option name closest to `name` (any case), or None when none is close."""
    lowered = name.lower()
    found: list[str] = []
    if "." in lowered:  # `headers.X-Token`: structure belongs in the value
        found = [k for k in BY_KEY if k == lowered.split(".", 1)[0]]
    found = found or difflib.get_close_matches(lowered, list(BY_KEY), n=1, cutoff=0.6)
    return BY_KEY[found[0]].name if found else None
