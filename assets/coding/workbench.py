"""The coder's workbench (``fmlake coding workbench serve``, 127.0.0.1:8040): a page and a JSON API over
``gold.coding_review_queue``. Plain functions and a request handler; no environment reads (the CLI passes
the lakehouse, the classifications and the catalogue search function).

Routes::

    GET  /                          the page (static HTML; record text is only ever set as text by the script)
    GET  /static/workbench.js       its script (a file, so the Content-Security-Policy can forbid inline script)
    GET  /api/queue?limit=N[&classification=scian]
         -> {"csrf_token", "claim_seconds", "records": [{"record_id", "classification", "text", "context",
             "candidates": [{"code", "title", "confidence"}, ... up to 5], "reason", "claim_id",
             "claim_expires_at"}]}
    POST /api/decisions             JSON {"record_id", "classification", "claim_id", "coder", "code"} or
                                    {..., "cannot_code": "<reason>"}, header X-CSRF-Token
         -> 200 {"status": "recorded", ...}; the decision is appended at once to silver.coding_feedback
    GET  /api/search?classification=scian&q=...&k=10   codes of that classification's catalogue
    GET  /api/stats                 decisions per coder and day, model agreement, audited auto precision
    GET  /api/classifications       the classifications served
    GET  /healthz

Claims: a record handed out is claimed for ``claim_seconds``; while the claim holds nobody else is handed
it, and only a decision carrying that claim is accepted. Claims live in the server's memory (one server per
lakehouse). Bad input is a 4xx naming the problem: 400 malformed, 403 host/origin/token, 404 unknown
record or classification, 409 stale claim or record already decided, 413 too large, 422 unknown code.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, unquote, urlsplit

import polars as pl

from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig
from assets.coding.pipeline import CANNOT_CODE, WORKBENCH_SOURCE
from assets.web import (AppHandler, app_server, host_allowed, not_cross_site, same_origin, token_matches,
                        write_response)
from lakehouse import Lakehouse, get_table
from lakehouse.tables import coding as T

MAX_BODY = 16 * 1024
MAX_FIELD = 500
MAX_LIMIT = 100
MAX_QUERY = 500
STATIC = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; "
       "form-action 'self'")

SearchFn = Callable[[str, str, int], list[dict[str, Any]]]   # (classification, query, k) -> [{code, title, score}]


class WorkbenchError(Exception):
    def __init__(self, status: int, problem: str, message: str):
        super().__init__(message)
        self.status, self.problem, self.message = status, problem, message


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any) -> Response:
    return Response(status, json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8"))


@dataclass
class Claim:
    claim_id: str
    classification: str
    record_id: str
    expires_at: float


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Workbench:
    """Queue, claims, decisions and stats over one lakehouse (thread-safe; tests call it directly too)."""

    def __init__(self, lh: Lakehouse, classifications: Mapping[str, tuple[ClassificationConfig, Catalog]],
                 search: SearchFn | None = None, claim_seconds: float = 600.0,
                 clock: Callable[[], float] = time.time, allowed_hosts: set[str] | None = None):
        if claim_seconds <= 0:
            raise ValueError(f"claim_seconds must be > 0, got {claim_seconds}")
        self.lh = lh
        self.classifications = dict(classifications)
        self.search_fn = search
        self.claim_seconds = float(claim_seconds)
        self.clock = clock
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None
        self.csrf_token = secrets.token_urlsafe(32)
        self._claims: dict[tuple[str, str], Claim] = {}
        self._lock = threading.Lock()        # claims, and one feedback append at a time

    # ------------------------------------------------------------------ data
    def _queue(self, classification: str | None) -> pl.DataFrame:
        queue = self.lh.read(T.coding_review_queue)
        names = [classification] if classification else sorted(self.classifications)
        return queue.filter(pl.col("classification").is_in(names)).sort("classification", "priority")

    def _feedback(self) -> pl.DataFrame:
        return self.lh.read(T.coding_feedback)

    def _decided(self, feedback: pl.DataFrame) -> set[tuple[str, str]]:
        done = feedback.filter(pl.col("status").is_in(["valid", CANNOT_CODE]))
        return set(zip(done.get_column("classification").to_list(), done.get_column("record_id").to_list()))

    def _candidates(self, classification: str, rows: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
        """Up to 5 codes per record: the model's candidates (gold.coded_records) with their probabilities."""
        _, catalog = self.classifications[classification]
        coded = self.lh.read(T.coded_records).filter(
            (pl.col("classification") == classification)
            & pl.col("record_id").is_in(rows.get_column("record_id").to_list()))
        out: dict[str, list[dict[str, Any]]] = {}
        for r in coded.iter_rows(named=True):
            cands = []
            pairs = [(r["code"], r["probability"])] + [(r[f"candidate_{j}"], r[f"probability_{j}"])
                                                       for j in range(2, 6)]
            for code, p in pairs:
                if code and code not in [c["code"] for c in cands]:
                    cands.append({"code": code, "title": catalog.title(code) if code in catalog else None,
                                  "confidence": round(float(p), 4) if p is not None else None})
            out[r["record_id"]] = cands[:5]
        return out

    def _contexts(self, cfg: ClassificationConfig, ids: list[str]) -> dict[str, dict[str, Any]]:
        if cfg.source is None or not cfg.source.context or not ids:
            return {}
        spec = get_table(cfg.source.table)
        cols = [cfg.source.id, *cfg.source.context]
        df = self.lh.read(spec, columns=cols).filter(pl.col(cfg.source.id).cast(pl.Utf8).is_in(ids))
        return {str(r[cfg.source.id]): {c: r[c] for c in cfg.source.context} for r in df.iter_rows(named=True)}

    # ------------------------------------------------------------------ API
    def queue(self, limit: int = 10, classification: str | None = None) -> dict[str, Any]:
        if classification is not None and classification not in self.classifications:
            raise WorkbenchError(404, "unknown_classification",
                                 f"unknown classification {classification!r}; served: {sorted(self.classifications)}")
        if not 1 <= limit <= MAX_LIMIT:
            raise WorkbenchError(400, "bad_limit", f"limit must be between 1 and {MAX_LIMIT}")
        queue = self._queue(classification)
        decided = self._decided(self._feedback())
        now = self.clock()
        picked: list[tuple[dict[str, Any], Claim]] = []
        with self._lock:
            for key in [k for k, c in self._claims.items() if c.expires_at <= now]:
                del self._claims[key]
            for r in queue.iter_rows(named=True):
                key = (r["classification"], r["record_id"])
                if key in decided or key in self._claims:
                    continue
                claim = Claim(uuid.uuid4().hex, *key, expires_at=now + self.claim_seconds)
                self._claims[key] = claim
                picked.append((r, claim))
                if len(picked) >= limit:
                    break
        records = []
        by_class: dict[str, list[str]] = {}
        for r, _ in picked:
            by_class.setdefault(r["classification"], []).append(r["record_id"])
        cands = {c: self._candidates(c, queue.filter(pl.col("record_id").is_in(ids))) for c, ids in by_class.items()}
        ctxs = {c: self._contexts(self.classifications[c][0], ids) for c, ids in by_class.items()}
        for r, claim in picked:
            c = r["classification"]
            records.append({
                "record_id": r["record_id"], "classification": c, "text": r["text"],
                "context": ctxs[c].get(r["record_id"], {}), "candidates": cands[c].get(r["record_id"], []),
                "reason": r["reason"], "confidence": r["confidence"], "backoff_code": r["backoff_code"],
                "model_version": r["model_version"], "claim_id": claim.claim_id,
                "claim_expires_at": _iso(claim.expires_at)})
        return {"csrf_token": self.csrf_token, "claim_seconds": self.claim_seconds, "records": records}

    def decide(self, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise WorkbenchError(400, "bad_json", "the body must be a JSON object")
        fields_ = {}
        for name in ("record_id", "classification", "claim_id", "coder"):
            value = payload.get(name)
            if not isinstance(value, str) or not value.strip():
                raise WorkbenchError(400, f"missing_{name}", f"{name} is required (a non-empty string)")
            if len(value) > MAX_FIELD:
                raise WorkbenchError(400, f"bad_{name}", f"{name} is longer than {MAX_FIELD} characters")
            fields_[name] = value.strip()
        code, cannot = payload.get("code"), payload.get("cannot_code")
        if (code is None) == (cannot is None):
            raise WorkbenchError(400, "code_or_cannot_code", "give either code or cannot_code (with the reason)")
        for name, value in (("code", code), ("cannot_code", cannot)):
            if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > MAX_FIELD):
                raise WorkbenchError(400, f"bad_{name}", f"{name} must be a non-empty string of at most "
                                                          f"{MAX_FIELD} characters")
        cls, rid = fields_["classification"], fields_["record_id"]
        if cls not in self.classifications:
            raise WorkbenchError(404, "unknown_classification", f"unknown classification {cls!r}")
        cfg, catalog = self.classifications[cls]
        code = code.strip() if code is not None else None
        if code is not None and (code not in catalog or not cfg.matches_pattern(code)):
            raise WorkbenchError(422, "unknown_code", f"{code!r} is not a code of {cls}")
        with self._lock:
            feedback = self._feedback()
            if (cls, rid) in self._decided(feedback):
                self._claims.pop((cls, rid), None)
                raise WorkbenchError(409, "already_decided", f"record {rid} of {cls} was already decided")
            claim = self._claims.get((cls, rid))
            now = self.clock()
            if claim is None or claim.claim_id != fields_["claim_id"]:
                raise WorkbenchError(409, "stale_claim", "this record is not claimed with that claim_id (it expired "
                                                         "or was handed to someone else): load the queue again")
            if claim.expires_at <= now:
                del self._claims[(cls, rid)]
                raise WorkbenchError(409, "stale_claim", "the claim expired: load the queue again")
            queued = self._queue(cls).filter(pl.col("record_id") == rid)
            if queued.height == 0:
                raise WorkbenchError(404, "unknown_record", f"record {rid} is not in the {cls} review queue")
            q = queued.row(0, named=True)
            mine = feedback.filter(pl.col("source_file") == WORKBENCH_SOURCE)
            row_no = int(mine.get_column("source_row").max()) + 1 if mine.height else 1
            stamp = datetime.fromtimestamp(now, timezone.utc)
            row = {"classification": cls, "record_id": rid, "code": code, "coder": fields_["coder"],
                   "reviewed_at": stamp.strftime("%Y-%m-%d %H:%M:%S"), "suggested_code": q["suggested_code"],
                   "queue_reason": q["reason"], "model_version": q["model_version"],
                   "source_file": WORKBENCH_SOURCE, "source_row": row_no,
                   "status": "valid" if code is not None else CANNOT_CODE,
                   "invalid_reason": None if code is not None else cannot.strip(),
                   "ingested_at": stamp}
            self.lh.write(T.coding_feedback, pl.DataFrame([row], schema=T.coding_feedback.full_schema), mode="append")
            del self._claims[(cls, rid)]
        return {"status": "recorded", "classification": cls, "record_id": rid, "code": code,
                "cannot_code": cannot.strip() if cannot is not None else None, "source_row": row_no,
                "reviewed_at": row["reviewed_at"]}

    def search(self, classification: str | None, query: str | None, k: int = 10) -> dict[str, Any]:
        if classification not in self.classifications:
            raise WorkbenchError(404, "unknown_classification", f"unknown classification {classification!r}")
        q = (query or "").strip()
        if not q:
            raise WorkbenchError(400, "empty_query", "type what to search for")
        if len(q) > MAX_QUERY:
            raise WorkbenchError(400, "query_too_long", f"queries are at most {MAX_QUERY} characters")
        if not 1 <= k <= 50:
            raise WorkbenchError(400, "bad_k", "k must be between 1 and 50")
        if self.search_fn is None:
            raise WorkbenchError(503, "search_unavailable", "this server was started without catalogue search")
        cfg, catalog = self.classifications[classification]
        hits = [h for h in self.search_fn(classification, q, k) if h["code"] in catalog]
        return {"classification": classification, "query": q, "results": hits[:k]}

    def stats(self) -> dict[str, Any]:
        fb = self._feedback().filter(pl.col("status").is_in(["valid", CANNOT_CODE]))
        per_day = (fb.with_columns(day=pl.col("reviewed_at").str.slice(0, 10), coder=pl.col("coder").fill_null(""))
                   .group_by("classification", "coder", "day").len().sort("classification", "day", "coder"))
        valid = fb.filter((pl.col("status") == "valid") & pl.col("suggested_code").is_not_null())
        out: dict[str, Any] = {"decisions": per_day.rename({"len": "decisions"}).to_dicts(), "by_classification": []}
        for name in sorted(self.classifications):
            part = valid.filter(pl.col("classification") == name)
            audits = part.filter(pl.col("queue_reason") == "audit")
            agree = (part.get_column("suggested_code") == part.get_column("code"))
            a_ok = (audits.get_column("suggested_code") == audits.get_column("code"))
            out["by_classification"].append({
                "classification": name, "decided": int(part.height),
                "model_first_code_agreement": round(float(agree.mean()), 4) if part.height else None,
                "audited": int(audits.height),
                "auto_precision_on_audits": round(float(a_ok.mean()), 4) if audits.height else None})
        return out

    # ------------------------------------------------------------------ HTTP
    def handle(self, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> Response:
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        if not host_allowed(headers, self.allowed_hosts):
            return _json(403, {"error": "host_not_allowed",
                               "message": "open the workbench at the address the server was started on"})
        url = urlsplit(target)
        path, query = unquote(url.path), {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if path.startswith("/api/") and not not_cross_site(headers):
                raise WorkbenchError(403, "cross_site", "the workbench API answers its own page only")
            if method == "GET":
                return self._get(path, query)
            if method == "POST":
                if path != "/api/decisions":
                    raise WorkbenchError(404, "not_found", f"no action {path}")
                if not same_origin(headers):
                    raise WorkbenchError(403, "origin_not_allowed", "decisions are sent from the workbench page")
                if not token_matches(headers.get("x-csrf-token"), self.csrf_token):
                    raise WorkbenchError(403, "bad_csrf_token", "missing or wrong X-CSRF-Token: load the queue "
                                                                "again (the server may have restarted)")
                if len(body) > MAX_BODY:
                    raise WorkbenchError(413, "too_large", f"the body is larger than {MAX_BODY} bytes")
                try:
                    payload = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise WorkbenchError(400, "bad_json", f"the body is not JSON: {exc}") from None
                return _json(200, self.decide(payload))
            raise WorkbenchError(405, "method_not_allowed", method)
        except WorkbenchError as exc:
            return _json(exc.status, {"error": exc.problem, "message": exc.message})

    def _get(self, path: str, query: dict[str, str]) -> Response:
        if path == "/":
            return Response(200, (STATIC / "workbench.html").read_bytes(), "text/html; charset=utf-8")
        if path == "/static/workbench.js":
            return Response(200, (STATIC / "workbench.js").read_bytes(), "text/javascript; charset=utf-8")
        if path == "/healthz":
            return Response(200, b"ok", "text/plain")
        if path == "/api/queue":
            return _json(200, self.queue(_int(query.get("limit"), 10, "limit"), query.get("classification") or None))
        if path == "/api/search":
            return _json(200, self.search(query.get("classification"), query.get("q"), _int(query.get("k"), 10, "k")))
        if path == "/api/classifications":
            return _json(200, {"classifications": sorted(self.classifications)})
        if path == "/api/stats":
            return _json(200, self.stats())
        raise WorkbenchError(404, "not_found", f"no page {path}")


def _int(value: str | None, default: int, name: str) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit():
        raise WorkbenchError(400, f"bad_{name}", f"{name} must be a whole number")
    return int(value)


def make_server(workbench: Workbench, host: str = "127.0.0.1", port: int = 8040, quiet: bool = False,
                allowed_hosts: set[str] | None = None, timeout_s: float = 30.0) -> ThreadingHTTPServer:
    """A threaded HTTP server around ``workbench`` (not started). Port 0 = any free port. ``allowed_hosts``:
    the Host values (name:port) requests may carry; default: the bound address's names."""

    class Handler(AppHandler):
        timeout = timeout_s   # per read and in total per request: a byte-at-a-time client is cut off

        def _respond(self, method: str) -> None:
            length = self.headers.get("Content-Length") or "0"
            n = int(length) if length.isdigit() else 0
            body = self.rfile.read(min(n, MAX_BODY + 1)) if n else b""
            try:
                resp = workbench.handle(method, self.path, body, dict(self.headers.items()))
            except Exception as exc:  # an unexpected failure is a 500 *and* a log line, never silent
                self.log_error("error handling %s %s: %r", method, self.path, exc)
                resp = _json(500, {"error": "internal", "message": type(exc).__name__})
            write_response(self, resp.status, resp.content_type, resp.body, CSP, resp.headers, no_store=True)

    Handler.quiet = quiet
    server, workbench.allowed_hosts = app_server(Handler, host, port, allowed_hosts)
    server.workbench = workbench  # type: ignore[attr-defined]
    return server
