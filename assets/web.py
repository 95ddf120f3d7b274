"""What the domains' small HTTP services share (review page, published site, search service, coding workbench).

Stdlib only, no Dagster: a mixin that bounds the total time of one request, and the request guards of the
loopback web apps — a Host allow-list (DNS rebinding), same-origin POSTs, cross-site GETs refused, CSRF token
comparison.
"""

from __future__ import annotations

import hmac
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Mapping
from urllib.parse import urlsplit


class RequestDeadline:
    """Mixin for ``BaseHTTPRequestHandler``s: each request (request line, headers, body and answer) must be
    done within ``timeout`` seconds in total, or the connection is shut. The socket timeout alone is per read:
    a client sending a byte every second would hold its thread forever."""

    timeout = 30.0

    def handle_one_request(self):
        timer = threading.Timer(self.timeout, self._cut_off)
        timer.daemon = True
        timer.start()
        try:
            super().handle_one_request()
        except OSError:              # the connection was cut (deadline) or dropped by the client
            self.close_connection = True
        finally:
            timer.cancel()

    def _cut_off(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ALL_INTERFACES = {"", "0.0.0.0", "::"}


def default_allowed_hosts(host: str, port: int) -> set[str] | None:
    """The ``Host`` values a server bound to ``host:port`` is reached by: the loopback names for a loopback
    address, the address itself otherwise; None (no check) when bound to all interfaces."""
    if host in ALL_INTERFACES:
        return None
    names = LOOPBACK if host in LOOPBACK else {host}
    return {(f"[{n}]:{port}" if ":" in n else f"{n}:{port}").lower() for n in names}


def host_allowed(headers: Mapping[str, str], allowed: set[str] | None) -> bool:
    """Whether the request's ``Host`` is one the server is reached by (``headers`` with lower-case names)."""
    return allowed is None or headers.get("host", "").lower() in allowed


def same_origin(headers: Mapping[str, str]) -> bool:
    """A POST without ``Origin`` (same-origin forms of older browsers, scripts) passes; ``null`` or another
    host than the one addressed is refused."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def not_cross_site(headers: Mapping[str, str]) -> bool:
    """False for a request a browser marks as made by another site (``Sec-Fetch-Site: cross-site`` or
    ``same-site``): a GET with side effects (claiming records) must not be triggerable by an image tag
    elsewhere. Clients that send no such header (scripts, older browsers) pass."""
    return headers.get("sec-fetch-site", "same-origin").lower() in ("same-origin", "none")


def token_matches(given: str | None, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


def write_response(handler, status: int, content_type: str, body: bytes, csp: str,
                   headers: Mapping[str, str] | None = None, no_store: bool = False) -> None:
    """Send one complete answer from a ``BaseHTTPRequestHandler``: status, type, length, ``nosniff``, the page's
    Content-Security-Policy (and ``no-store`` for answers that must not be cached), extra headers, the body."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("X-Content-Type-Options", "nosniff")
    if no_store:
        handler.send_header("Cache-Control", "no-store")
    handler.send_header("Content-Security-Policy", csp)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.wfile.write(body)


class AppHandler(RequestDeadline, BaseHTTPRequestHandler):
    """Base of the apps' request handlers: GET and POST go to ``_respond(method)``; ``quiet`` silences the
    access log; ``timeout`` bounds each request in total (:class:`RequestDeadline`)."""

    quiet = False

    def _respond(self, method: str) -> None:  # pragma: no cover - every app defines it
        raise NotImplementedError

    def do_GET(self) -> None:  # noqa: N802
        self._respond("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._respond("POST")

    def log_message(self, fmt, *args) -> None:
        if not self.quiet:
            super().log_message(fmt, *args)


def app_server(handler: type[AppHandler], host: str, port: int,
               allowed_hosts: set[str] | None) -> tuple[ThreadingHTTPServer, set[str] | None]:
    """A threaded server for ``handler`` (not started; port 0 = any free port) and the lower-cased ``Host``
    values its requests may carry (``allowed_hosts``, else :func:`default_allowed_hosts` of the bound port)."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    hosts = allowed_hosts if allowed_hosts is not None else default_allowed_hosts(host, server.server_address[1])
    return server, ({h.lower() for h in hosts} if hosts else None)
