"""The search HTTP service (``fmlake search serve``), stdlib only; no Dagster.

``GET /search?q=&mode=bm25|dense|hybrid&k=10`` (or ``POST /search`` with a JSON body ``{"q", "mode", "k"}``) ->
JSON ``{"query", "mode", "k", "took_ms", "understood", "answer", "notice", "hits": [...], "groups"}``: for a question
about a figure, ``answer`` is the fact (value, unit, place, year, source table, the page citing it) and the first hit,
and ``notice`` says when no fact has the measure asked for (the place and sector's other figures come first);
``groups`` lists the ranks of the other hits by document type. ``GET /`` (and ``/?q=...``) -> the HTML page: the
answer card first, then the other results grouped by type; ``GET /doc?id=<doc_id>`` -> one document in full;
``GET /healthz`` -> JSON.

Request sizes are bounded: a URL over 16,384 characters is a 414, a body over 8,192 bytes a 413 (no
Content-Length: 411), a query over 2,000 characters, an unknown mode or k outside 1..100 a 400 with a JSON (or HTML)
message. Everything shown in the page is HTML-escaped and links are only http(s) or site-relative.
"""

from __future__ import annotations

import html
import json
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from assets.search.engine import MAX_K, MAX_QUERY_CHARS, MODES, SearchError, SearchIndex, validate_query
from assets.search.site import SiteSearch
from assets.web import RequestDeadline

MAX_URL_CHARS = 16_384
MAX_BODY_BYTES = 8_192
TYPE_LABELS = {"scian_class": "Clase SCIAN", "table": "Tabla", "mart": "Mart", "document": "Documento",
               "section": "Sección", "fact": "Dato", "place": "Lugar", "synthetic": "Sintético"}
GROUP_LABELS = {"fact": "Datos", "place": "Lugares", "document": "Documentos publicados", "section": "Secciones",
                "scian_class": "Actividades (clases SCIAN)", "table": "Tablas del lakehouse", "mart": "Marts",
                "synthetic": "Sintéticos"}

PAGE = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}}
form{{display:flex;gap:.5rem;flex-wrap:wrap;margin-bottom:1rem}} input[type=search]{{flex:1;min-width:16rem;padding:.4rem}}
ol{{padding-left:1.5rem}} li{{margin:.8rem 0}} .meta{{color:#666;font-size:.85rem}} .error{{color:#a00}}
.snippet{{margin:.2rem 0 0}} .type{{background:#eef;border-radius:3px;padding:0 .3rem;font-size:.8rem}}
.notice{{background:#fff8e1;border-left:4px solid #e0a800;padding:.5rem .8rem}}
#answer{{border:2px solid #36c;border-radius:6px;padding:.8rem 1rem;margin:1rem 0;background:#f5f8ff}}
#answer .value{{font-size:1.8rem;font-weight:bold}} #answer dl{{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem}}
#answer dt{{color:#555}} section.group h2{{font-size:1.1rem;margin:1.2rem 0 .2rem}}
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


def _hit_item(h: dict) -> str:
    esc = html.escape
    url = _safe_url(h.get("url")) or f"/doc?id={quote(h['doc_id'], safe='')}"
    title = esc(h["title"] or h["doc_id"])
    return (f'<li class="hit" data-doc-id="{esc(h["doc_id"], quote=True)}" value="{int(h.get("rank") or 0)}">'
            f'<span class="type">{esc(TYPE_LABELS.get(h["doc_type"], h["doc_type"]))}</span> '
            f'<strong class="ref">{esc(h["ref"] or "")}</strong> <a href="{esc(url, quote=True)}">{title}</a>'
            f'<p class="snippet">{esc(h.get("snippet") or "")}</p>'
            f'<span class="meta">puntaje {h["score"]:.4f}</span></li>')


def render_answer(answer: dict) -> str:
    """The answer card of a fact: the figure, then unit, place, year, source table and the citing document."""
    esc = html.escape
    cited = _safe_url(answer.get("cited_in"))
    doc_link = (f'<a id="answer-cited" href="{esc(cited, quote=True)}">documento publicado que lo cita</a>' if cited
                else "ningún documento publicado lo cita todavía")
    fact_link = f"/doc?id={quote(answer['doc_id'], safe='')}"
    year = "" if answer.get("year") is None else str(answer["year"])
    return (f'<section id="answer" data-doc-id="{esc(answer["doc_id"], quote=True)}" aria-label="Respuesta">'
            f'<p class="value" id="answer-value">{esc(answer["value_text"])}</p>'
            f'<p id="answer-sentence">{esc(answer["sentence"])}</p><dl>'
            f'<dt>Unidad</dt><dd id="answer-unit">{esc(answer.get("unit") or "")}</dd>'
            f'<dt>Lugar</dt><dd id="answer-place">{esc(answer.get("place") or "")}</dd>'
            f'<dt>Año</dt><dd id="answer-year">{esc(year)}</dd>'
            f'<dt>Fuente</dt><dd id="answer-source">{esc(answer.get("source_table") or "")}</dd>'
            f'<dt>Documento</dt><dd>{doc_link} · <a id="answer-fact" href="{esc(fact_link, quote=True)}">'
            f'ver el dato</a></dd></dl></section>')


def render_page(query: str = "", mode: str = "hybrid", k: int | str = 10, hits: list[dict] | None = None,
                error: str | None = None, took_ms: float | None = None, answer: dict | None = None,
                notice: str | None = None) -> str:
    """The HTML page; every value from the request or the index is escaped. With an answer, the card comes first
    and the other hits are grouped by document type."""
    esc = html.escape
    mode_options = "".join(
        f'<option value="{m}"{" selected" if m == mode else ""}>{m}</option>' for m in MODES)
    parts: list[str] = []
    if error:
        parts.append(f'<p class="error" id="error" role="alert">{esc(error)}</p>')
    elif hits is not None:
        parts.append(f'<p class="meta" id="summary">{len(hits)} resultado(s) para «{esc(query)}» '
                     f'({esc(mode)}, {took_ms or 0:.1f} ms)</p>')
        if notice:
            parts.append(f'<p class="notice" id="notice" role="status">{esc(notice)}</p>')
        if answer:
            parts.append(render_answer(answer))
        rest = [h for h in hits if not (answer and h["doc_id"] == answer["doc_id"])]
        if rest:
            groups: dict[str, list[dict]] = {}
            for h in rest:
                groups.setdefault(h["doc_type"], []).append(h)
            sections = [f'<section class="group" data-type="{esc(t, quote=True)}"><h2>'
                        f'{esc(GROUP_LABELS.get(t, t))}</h2><ol>' + "".join(_hit_item(h) for h in hs) + "</ol></section>"
                        for t, hs in groups.items()]
            parts.append('<div id="results">' + "".join(sections) + "</div>")
        elif not answer:
            parts.append('<p id="no-results">Sin resultados.</p>')
    return PAGE.format(title=esc(f"{query} · Buscador" if query else "Buscador"), q=esc(query, quote=True),
                       k=esc(str(k), quote=True), max_k=MAX_K, max_chars=MAX_QUERY_CHARS,
                       mode_options=mode_options, body="\n".join(parts))


def render_document(doc: dict) -> str:
    esc = html.escape
    url = _safe_url(doc.get("url"))
    link = f'<p><a href="{esc(url, quote=True)}">Página publicada</a></p>' if url else ""
    body = (f'<article id="document" data-doc-id="{esc(doc["doc_id"], quote=True)}"><h2>{esc(doc["title"] or "")}</h2>'
            f'<p class="meta">{esc(TYPE_LABELS.get(doc["doc_type"], doc["doc_type"]))} · {esc(doc["ref"] or "")}'
            f' · fuente {esc(doc.get("source") or "")}</p><p>{esc(doc.get("body") or "")}</p>{link}</article>')
    return PAGE.format(title=esc(doc["title"] or "Documento"), q="", k=10, max_k=MAX_K, max_chars=MAX_QUERY_CHARS,
                       mode_options="".join(f'<option value="{m}">{m}</option>' for m in MODES), body=body)


class SearchHandler(RequestDeadline, BaseHTTPRequestHandler):
    site: SiteSearch
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
            elif route == "/doc":
                self._doc()
            elif route == "/healthz":
                self._json(HTTPStatus.OK, {"status": "ok", "index": self.site.index.describe(), "origin": self.origin,
                                           "understanding": self.site.parser is not None})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no route {route[:100]}; try /search?q=... or /"})
        except Exception:  # noqa: BLE001 - a bug must still answer, and must be visible in the log
            traceback.print_exc()
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see the server log)"})

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        try:
            if urlsplit(self.path).path != "/search":
                self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST is only for /search (JSON body q, mode, k)"})
                return
            length = self.headers.get("Content-Length")
            if length is None:
                self._json(HTTPStatus.LENGTH_REQUIRED, {"error": "POST /search needs a Content-Length"})
                return
            try:
                n = int(length)
            except ValueError:
                self._json(HTTPStatus.BAD_REQUEST, {"error": f"Content-Length {length[:20]!r} is not a number"})
                return
            if n > MAX_BODY_BYTES or n < 0:
                self.close_connection = True   # the body is not read
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           {"error": f"body of {n} bytes; at most {MAX_BODY_BYTES} are accepted"})
                return
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except (UnicodeDecodeError, ValueError):
                self._json(HTTPStatus.BAD_REQUEST, {"error": "the body is not UTF-8 JSON"})
                return
            if not isinstance(body, dict):
                self._json(HTTPStatus.BAD_REQUEST, {"error": 'the body must be a JSON object {"q": ..., "mode": ..., '
                                                             '"k": ...}'})
                return
            self._api({"q": body.get("q", ""), "mode": body.get("mode") or "hybrid", "k": body.get("k", 10)})
        except Exception:  # noqa: BLE001 - a bug must still answer, and must be visible in the log
            traceback.print_exc()
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error (see the server log)"})

    def _search(self, params: dict) -> tuple[str, str, int, Any, float]:
        q, mode, k = validate_query(params.get("q", ""), params.get("mode", "hybrid") or "hybrid",
                                    params.get("k", "10") if params.get("k", "10") not in ("", None) else "10")
        t = time.perf_counter()
        result = self.site.search(q, mode, k)
        return q, mode, k, result, (time.perf_counter() - t) * 1000

    def _api(self, params: dict | None = None) -> None:
        params = self._params() if params is None else params
        try:
            q, mode, k, result, ms = self._search(params)
        except SearchError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"query": q, "mode": mode, "k": k, "took_ms": round(ms, 2), **{
            key: value for key, value in result.as_dict().items() if key not in ("query", "mode")}})

    def _page(self) -> None:
        params = self._params()
        raw_mode = params.get("mode", "hybrid")
        mode = raw_mode if raw_mode in MODES else "hybrid"
        k = params.get("k", "10")
        if "q" not in params:
            self._html(HTTPStatus.OK, render_page(mode=mode, k=10))
            return
        try:
            q, mode, k_int, result, ms = self._search(params)
        except SearchError as exc:
            self._html(HTTPStatus.BAD_REQUEST, render_page(params.get("q", "")[:MAX_QUERY_CHARS], mode,
                                                          k[:10], error=str(exc)))
            return
        self._html(HTTPStatus.OK, render_page(q, mode, k_int, hits=[h.as_dict() for h in result.hits], took_ms=ms,
                                              answer=result.answer, notice=result.notice))

    def _doc(self) -> None:
        doc_id = self._params().get("id", "")
        corpus = self.site.index.corpus
        rows = corpus.filter(corpus["doc_id"] == doc_id).to_dicts() if doc_id else []
        if not rows:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no document {doc_id[:200]!r}"})
            return
        self._html(HTTPStatus.OK, render_document(rows[0]))


def make_server(index: SearchIndex | SiteSearch, host: str = "127.0.0.1", port: int = 8030, quiet: bool = False,
                origin: str = "", timeout_s: float = 30.0) -> ThreadingHTTPServer:
    """A threaded server over ``index`` (a SiteSearch, or a bare SearchIndex: free-text ranking only; not
    started: call ``serve_forever``). Port 0 = any free port. ``timeout_s``: per read and in total per request
    (a client sending a byte at a time is cut off, :class:`assets.web.RequestDeadline`)."""
    site = index if isinstance(index, SiteSearch) else SiteSearch(index, None)
    handler = type("BoundSearchHandler", (SearchHandler,), {"site": site, "quiet": quiet, "origin": origin,
                                                            "timeout": timeout_s})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


__all__ = ["make_server", "render_page"]
