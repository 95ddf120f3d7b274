"""The reviewers' web page (``fmlake review serve``): stdlib ``http.server``, Jinja2 autoescaped pages.

Routes::

    GET  /                                   drafts (latest version each) with state and grounding counts
    GET  /drafts/<id>[?version=N]            one draft beside its grounding report, facts and history
    GET  /drafts/<id>/v<N>/charts/<f>.png    its charts
    POST /drafts/<id>/review                 version, decision, reviewer, comment -> gold.document_reviews
    GET  /healthz

The decision rules live in :mod:`assets.documents.review` (approve refused with flagged numbers,
outdated versions refused, comments required to reject); the app only shows their answer.

A page elsewhere must not be able to make a reviewer's browser decide (cross-site request forgery):
every decision form carries a token (an HMAC of draft and version under a secret made when the app
starts) that a POST must return; a POST whose ``Origin`` is ``null`` or names another host is refused;
and when the server knows the names it is reached by (``allowed_hosts``: the bound address, plus
``localhost`` for a loopback one) a request with any other ``Host`` is refused, so a DNS-rebinding page
cannot read a token either. Writes are serialised with a lock (one Delta append at a time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from assets.documents import review
from assets.documents.render import markdown_blocks, render_template
from assets.documents.store import exhibits, get_draft
from assets.web import AppHandler, app_server, host_allowed, same_origin, token_matches, write_response

CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'"
from lakehouse import Lakehouse

MAX_BODY = 64 * 1024
NOTICES = {"approved": "Borrador aprobado: se publicará en el sitio.",
           "rejected": "Borrador rechazado.",
           "changes_requested": "Se solicitaron cambios al borrador."}
_DRAFT = re.compile(r"^/drafts/([A-Za-z0-9_.-]+)$")
_REVIEW = re.compile(r"^/drafts/([A-Za-z0-9_.-]+)/review$")
_CHART = re.compile(r"^/drafts/([A-Za-z0-9_.-]+)/v(\d+)/charts/([a-z_]+\.png)$")


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _html(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"))


class ReviewApp:
    """Request handling, independent of the socket server (tests call :meth:`handle` directly too)."""

    def __init__(self, lh: Lakehouse, allowed_hosts: set[str] | None = None):
        self.lh = lh
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None
        self._secret = secrets.token_bytes(32)
        self._write_lock = threading.Lock()

    def csrf_token(self, draft_id: str, version: int) -> str:
        """The token the decision form of ``draft_id`` version ``version`` carries (valid while the app runs)."""
        return hmac.new(self._secret, f"{draft_id}\x00{version}".encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Response:
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if not host_allowed(headers, self.allowed_hosts):
            return self.message(403, "Host no permitido",
                                "Abra la página con la dirección en la que se inició el servidor.")
        url = urlsplit(target)
        path, query = unquote(url.path), parse_qs(url.query)
        if method == "GET":
            if path == "/":
                return self.index()
            if path == "/healthz":
                return Response(200, b"ok", "text/plain")
            if m := _DRAFT.match(path):
                version = query.get("version", [None])[0]
                done = query.get("done", [None])[0]
                return self.show(m.group(1), int(version) if version and version.isdigit() else None,
                                 notice=NOTICES.get(done or ""))
            if m := _CHART.match(path):
                return self.chart(m.group(1), int(m.group(2)), m.group(3))
            return self.message(404, "No encontrado", f"No existe la página {path}.")
        if method == "POST":
            if m := _REVIEW.match(path):
                if not same_origin(headers):
                    return self.message(403, "Origen no permitido", "La decisión debe enviarse desde esta página.")
                if len(body) > MAX_BODY:
                    return self.message(413, "Solicitud demasiado grande", "El comentario es demasiado largo.")
                form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
                version = form.get("version", "")
                if not version.isdigit() or not token_matches(form.get("csrf"), self.csrf_token(m.group(1),
                                                                                                 int(version))):
                    return self.message(403, "Formulario no válido",
                                        "Envíe la decisión desde la página del borrador (recárguela si el servidor "
                                        "se reinició).")
                return self.decide(m.group(1), form)
            return self.message(404, "No encontrado", f"No existe la acción {path}.")
        return self.message(405, "Método no permitido", method)

    # ------------------------------------------------------------------ pages
    def message(self, status: int, title: str, message: str) -> Response:
        return _html(status, render_template("message.html", title=title, message=message, home="/"))

    def index(self) -> Response:
        return _html(200, render_template("review_list.html", rows=review.overview(self.lh), home="/"))

    def show(self, draft_id: str, version: int | None, notice: str | None = None, error: str | None = None,
             status_code: int = 200) -> Response:
        draft = get_draft(self.lh, draft_id, version)
        if draft is None:
            return self.message(404, "Borrador inexistente", f"No hay borrador {draft_id} versión {version}.")
        latest = get_draft(self.lh, draft_id)
        hist = review.history(self.lh, draft_id)
        rows = [dict(r, status_es=review.STATUS_ES.get(r["status"], r["status"]),
                     created_at=r["created_at"].strftime("%Y-%m-%d %H:%M:%S")) for r in hist.iter_rows(named=True)]
        mine = [r for r in rows if r["version"] == draft.version]
        status = mine[-1]["status"] if mine else "draft"
        _, tables, charts = exhibits(draft, None)
        chart_dir = Path(draft.artifacts_dir or "/nonexistent") / "charts"
        charts = [c for c in charts if (chart_dir / c.filename).is_file()]
        facts = sorted(draft.facts, key=lambda f: (f.geo_code != draft.geo_code, f.geo_code, f.metric,
                                                   f.base_year or 0, f.census_year))
        page = render_template(
            "review_draft.html", draft=draft, latest_version=latest.version if latest else draft.version,
            blocks=markdown_blocks(draft.body_markdown), tables=tables, charts=charts,
            chart_prefix=f"/drafts/{quote(draft.draft_id)}/v{draft.version}/charts/", report=draft.grounding,
            style=draft.style, history=list(reversed(rows)), facts=facts, status=status,
            status_es=review.STATUS_ES.get(status, status), notice=notice, error=error, home="/",
            csrf=self.csrf_token(draft.draft_id, draft.version))
        return _html(status_code, page)

    def chart(self, draft_id: str, version: int, filename: str) -> Response:
        draft = get_draft(self.lh, draft_id, version)
        if draft is None or not draft.artifacts_dir:
            return Response(404, b"not found", "text/plain")
        path = Path(draft.artifacts_dir) / "charts" / filename
        if not path.is_file():
            return Response(404, b"not found", "text/plain")
        return Response(200, path.read_bytes(), "image/png")

    def decide(self, draft_id: str, form: dict[str, str]) -> Response:
        version = form.get("version", "")
        if not version.isdigit():
            return self.message(400, "Solicitud incompleta", "Falta la versión del borrador.")
        decision = form.get("decision", "")
        try:
            with self._write_lock:
                review.record_review(self.lh, draft_id, int(version), decision, form.get("reviewer", ""),
                                     form.get("comment", ""))
        except review.ReviewError as exc:
            return self.show(draft_id, int(version), error=f"Decisión no registrada: {exc}", status_code=409)
        location = f"/drafts/{quote(draft_id)}?version={int(version)}&done={quote(decision)}"
        return Response(303, b"", "text/plain", {"Location": location})




def make_server(lh: Lakehouse, host: str = "127.0.0.1", port: int = 8020, quiet: bool = False,
                allowed_hosts: set[str] | None = None, max_body_bytes: int = MAX_BODY,
                timeout_s: float = 30.0) -> ThreadingHTTPServer:
    """A threaded HTTP server around :class:`ReviewApp` (not started). Port 0 = any free port.

    ``allowed_hosts``: the ``Host`` values (name:port) requests may carry. Default: for a loopback address, the
    loopback names with the bound port; for another specific address, that address; for all interfaces
    (``0.0.0.0``) no check, as the names the machine is reached by are unknown (pass them to get the check)."""
    app = ReviewApp(lh)

    class Handler(AppHandler):
        timeout = timeout_s   # per read and in total per request: a byte-at-a-time client is cut off

        def _respond(self, method: str) -> None:
            raw = (self.headers.get("Content-Length") or "0").strip()
            try:
                if not raw.isdigit():
                    resp = Response(400, f"bad Content-Length {raw[:40]!r}".encode(), "text/plain")
                elif int(raw) > max_body_bytes:   # refused unread: the body is never held in memory
                    self.close_connection = True
                    resp = Response(413, f"request body of {int(raw):,} bytes is over the limit of "
                                         f"{max_body_bytes:,} (FMLAKE_MAX_REQUEST_KB)".encode(), "text/plain")
                else:
                    body = self.rfile.read(int(raw)) if int(raw) else b""
                    resp = app.handle(method, self.path, body, dict(self.headers.items()))
            except OSError:   # timed out or cut off mid-body: nothing to answer
                self.close_connection = True
                return
            except Exception as exc:  # an unexpected failure is a 500 page *and* a log line, never silent
                self.log_error("error handling %s %s: %r", method, self.path, exc)
                resp = Response(500, f"internal error: {type(exc).__name__}".encode(), "text/plain")
            write_response(self, resp.status, resp.content_type, resp.body, CSP, resp.headers)

    Handler.quiet = quiet
    server, app.allowed_hosts = app_server(Handler, host, port, allowed_hosts)
    server.app = app  # type: ignore[attr-defined]
    return server
