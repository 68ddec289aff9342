"""Small real servers on 127.0.0.1 for the HTTP tests: any replies, HTTP or HTTPS, logged.

`Loopback(reply)` serves every request with `reply(seen)` from a daemon thread and keeps
every request it saw, so a test can check what reached which origin. With an
`ssl.SSLContext` it speaks HTTPS (the handshake runs in the request's thread, so a refused
client certificate is logged, not fatal). `ForwardProxy` is a plain HTTP forward proxy.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson


@dataclass
class Seen:
    """One request a loopback server received."""

    method: str
    target: str  # the request target as sent: a path, or an absolute URL through a proxy
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    peer_cert: dict[str, Any] | None = None
    status: int = 0  # the status it was answered with
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def text(self) -> str:
        """Everything about the request, as one string (to look for secrets in)."""
        return f"{self.method} {self.target} {self.headers} {self.body!r}"


@dataclass
class Reply:
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b"{}"

    @classmethod
    def json(cls, payload: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status, {"Content-Type": "application/json", **headers}, orjson.dumps(payload))


Handler = Callable[[Seen], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    loopback: Loopback

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        context = self.loopback.ssl_context
        if context is not None:
            sock = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up, a refused handshake: the test looks at what was seen


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Headers and body go out in two writes: without TCP_NODELAY the body waits for the
    #: client's delayed ACK (~40 ms a request on Linux).
    disable_nagle_algorithm = True
    server: _Server

    def handle(self) -> None:
        loopback = self.server.loopback
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                loopback.handshake_errors.append(str(exc))
                return
        super().handle()

    def _serve(self) -> None:
        loopback = self.server.loopback
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        peer = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        seen = Seen(
            self.command,
            self.path,
            parts.path,
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            peer or None,
        )
        reply = loopback.reply(seen)
        seen.status = reply.status
        with loopback.lock:
            loopback.requests.append(seen)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Loopback:
    """A server on 127.0.0.1 (any free port) answering every request with `reply(seen)`."""

    def __init__(self, reply: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.ssl_context = ssl_context
        self.requests: list[Seen] = []
        self.handshake_errors: list[str] = []
        self.lock = threading.Lock()
        self._server: _Server | None = None

    def start(self) -> Loopback:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.loopback = self
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Loopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def forward_proxy() -> Loopback:
    """A plain HTTP forward proxy: it gets absolute-form requests (`GET http://host/path`)
    and relays them with `http.client`; `requests` shows what went through it."""

    def relay(seen: Seen) -> Reply:
        target = urlsplit(seen.target)
        if not target.scheme:
            return Reply(400, {}, b"not a proxy request")
        connection = http.client.HTTPConnection(target.hostname or "", target.port or 80, timeout=5)
        path = target.path + (f"?{target.query}" if target.query else "")
        hop_by_hop = {"proxy-authorization", "proxy-connection", "connection", "host"}
        headers = {k: v for k, v in seen.headers.items() if k not in hop_by_hop}
        try:
            connection.request(seen.method, path, body=seen.body or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() == "content-type"}
            return Reply(response.status, kept, body)
        finally:
            connection.close()

    return Loopback(relay)
