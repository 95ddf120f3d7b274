"""Read-only HTTP server of the published static site (``fmlake docs serve``), stdlib only."""

from __future__ import annotations

import functools
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from assets.web import RequestDeadline


class _SiteHandler(RequestDeadline, SimpleHTTPRequestHandler):
    quiet = False
    timeout = 30.0   # per read and in total per request (RequestDeadline); http.server bounds lines and headers

    def list_directory(self, path):  # no directory listings: only the pages the site links to
        self.send_error(HTTPStatus.NOT_FOUND, "not found")
        return None

    def do_POST(self):  # noqa: N802 - the site is read-only
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only site")

    def end_headers(self):
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.quiet:
            super().log_message(fmt, *args)


def site_server(directory: str | Path, host: str = "127.0.0.1", port: int = 8010,
                quiet: bool = False, timeout_s: float = 30.0) -> ThreadingHTTPServer:
    """A threaded server of ``directory`` (not started: call ``serve_forever``). Port 0 = any free port."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"site folder {directory} does not exist: run `fmlake docs publish` first")
    handler = type("SiteHandler", (_SiteHandler,), {"quiet": quiet, "timeout": timeout_s})
    server = ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(directory)))
    server.daemon_threads = True
    return server
