"""The search HTTP service (``fmlake search serve``), stdlib only; no Dagster.

``GET /search?q=&mode=bm25|dense|hybrid&k=10`` -> JSON ``{"query", "mode", "k", "took_ms", "hits": [...]}``;
``GET /`` (and ``/?q=...``) -> a plain HTML page with a search form and the results; ``GET /healthz`` -> JSON.
Bad input (no query, a query over 2,000 characters, an unknown mode, k outside 1..100) is a 400 with a JSON (or
HTML) message; everything shown in the page is HTML-escaped and links are only http(s) or site-relative.
"""

from __future__ import annotations

import html
import json
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from assets.search.engine import MAX_K, MAX_QUERY_CHARS, MODES, SearchError, SearchIndex, validate_query

MAX_URL_CHARS = 16_384
TYPE_LABELS = {"scian_class": "Clase SCIAN", "table": "Tabla", "document": "Documento", "fact": "Dato",
               "synthetic": "Sintético"}

PAGE = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
form{{display:flex;gap:.5rem;flex-wrap:wrap;margin-bottom:1rem}} input[type=search]{{flex:1;min-width:16rem;padding:.4rem}}
ol{{padding-left:1.5rem}} li{{margin:.8rem 0}} .meta{{color:#666;font-size:.85rem}} .error{{color:#a00}}
.snippet{{margin:.2rem 0 0}} .type{{background:#eef;border-radius:3px;padding:0 .3rem;font-size:.8rem}}
</style></head>
<body><h1>Buscador</h1>
<form method="get" action="/" role="search">
<input type="search" name="q" id="q" value="{q}" maxlength="{max_chars}" placeholder="p. ej. fabricación de pan" autofocus>
<select name="mode" id="mode">{mode_options}</select>
<input type="number" name="k" id="k" value="{k}" min="1" max="{max_k}">
<button type="submit" id="go">Buscar</button></form>
{body}
</body></html>
"""


def _safe_url(url: str | None) -> str | None:
    if not url:
        return None
    u = url.strip()
    if u.startswith("/") and not u.startswith("//"):
        return u
    if urlsplit(u).scheme in ("http", "https"):
        return u
    return None


def render_page(query: str = "", mode: str = "hybrid", k: int | str = 10, hits: list[dict] | None = None,
                error: str | None = None, took_ms: float | None = None) -> str:
    """The HTML page; every value from the request or the index is escaped."""
    esc = html.escape
    mode_options = "".join(
        f'<option value="{m}"{" selected" if m == mode else ""}>{m}</option>' for m in MODES)
    parts: list[str] = []
    if error:
        parts.append(f'<p class="error" id="error" role="alert">{esc(error)}</p>')
    elif hits is not None:
        parts.append(f'<p class="meta" id="summary">{len(hits)} resultado(s) para «{esc(query)}» '
                     f'({esc(mode)}, {took_ms or 0:.1f} ms)</p>')
        if hits:
            items = []
            for h in hits:
                url = _safe_url(h.get("url"))
                title = esc(h["title"] or h["doc_id"])
                title_html = f'<a href="{esc(url, quote=True)}">{title}</a>' if url else title
                items.append(
                    f'<li class="hit" data-doc-id="{esc(h["doc_id"], quote=True)}">'
                    f'<span class="type">{esc(TYPE_LABELS.get(h["doc_type"], h["doc_type"]))}</span> '
                    f'<strong class="ref">{esc(h["ref"] or "")}</strong> {title_html}'
                    f'<p class="snippet">{esc(h.get("snippet") or "")}</p>'
                    f'<span class="meta">puntaje {h["score"]:.4f}</span></li>')
            parts.append('<ol id="results">' + "".join(items) + "</ol>")
        else:
            parts.append('<p id="no-results">Sin resultados.</p>')
    return PAGE.format(title=esc(f"{query} · Buscador" if query else "Buscador"), q=esc(query, quote=True),
                       k=esc(str(k), quote=True), max_k=MAX_K, max_chars=MAX_QUERY_CHARS,
                       mode_options=mode_options, body="\n".join(parts))


class SearchHandler(BaseHTTPRequestHandler):
    index: SearchIndex
    quiet: bool = False
    origin: str = ""
    server_version = "fmlake-search"
    sys_version = ""

    # ------------------------------------------------------------ plumbing
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def _html(self, status: int, page: str) -> None:
        self._send(status, page.encode("utf-8"), "text/html; charset=utf-8")

    def log_message(self, fmt: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(fmt, *args)

    def _params(self) -> dict[str, str]:
        query = urlsplit(self.path).query
        # the URL length is capped (MAX_URL_CHARS), which bounds the fields; extra ones (utm_*, empty &&) are ignored
        parsed = parse_qs(query, keep_blank_values=True)
        return {key: values[0] for key, values in parsed.items()}

    # ------------------------------------------------------------ routes
    def do_GET(self) -> None:  # noqa: N802
        try:
            if len(self.path) > MAX_URL_CHARS:
                self._json(HTTPStatus.REQUEST_URI_TOO_LONG, {"error": f"URL longer than {MAX_URL_CHARS} characters"})
                return
            route = urlsplit(self.path).path
            if route == "/search":
                self._api()
            elif route == "/":
                self._page()
            elif route == "/healthz":
                self._json(HTTPStatus.OK, {"status": "ok", "index": self.index.describe(), "origin": self.origin})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no route {route[:100]}; try /search?q=... or /"})
        except Exception:  # noqa: BLE001 - a bug must still answer, and must be visible in the log
            traceback.print_exc()
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see the server log)"})

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use GET /search?q=..."})

    def _search(self, params: dict[str, str]) -> tuple[str, str, int, list[dict], float]:
        q, mode, k = validate_query(params.get("q", ""), params.get("mode", "hybrid") or "hybrid",
                                    params.get("k", "10") or "10")
        t = time.perf_counter()
        hits = [h.as_dict() for h in self.index.search(q, mode, k)]
        return q, mode, k, hits, (time.perf_counter() - t) * 1000

    def _api(self) -> None:
        params = self._params()
        try:
            q, mode, k, hits, ms = self._search(params)
        except SearchError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"query": q, "mode": mode, "k": k, "took_ms": round(ms, 2), "hits": hits})

    def _page(self) -> None:
        params = self._params()
        raw_mode = params.get("mode", "hybrid")
        mode = raw_mode if raw_mode in MODES else "hybrid"
        k = params.get("k", "10")
        if "q" not in params:
            self._html(HTTPStatus.OK, render_page(mode=mode, k=10))
            return
        try:
            q, mode, k_int, hits, ms = self._search(params)
        except SearchError as exc:
            self._html(HTTPStatus.BAD_REQUEST, render_page(params.get("q", "")[:MAX_QUERY_CHARS], mode,
                                                          k[:10], error=str(exc)))
            return
        self._html(HTTPStatus.OK, render_page(q, mode, k_int, hits=hits, took_ms=ms))


def make_server(index: SearchIndex, host: str = "127.0.0.1", port: int = 8030, quiet: bool = False,
                origin: str = "") -> ThreadingHTTPServer:
    """A threaded server over ``index`` (not started: call ``serve_forever``). Port 0 = any free port."""
    handler = type("BoundSearchHandler", (SearchHandler,), {"index": index, "quiet": quiet, "origin": origin})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


__all__ = ["make_server", "render_page"]
