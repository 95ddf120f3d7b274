"""Drafting a document from its facts and instructions, with either backend, and checking it (no Dagster).

``draft_document`` picks the facts of (sector, geography), writes the body with the embedded
Spanish templates or an LLM (:class:`LLMWriter`), then runs the grounding check and the style
check (length, words to avoid, required facts cited). The result is a :class:`Draft`.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol

from assets.documents import spanish_templates
from assets.documents.factbook import FactBook
from assets.documents.facts import Fact
from assets.documents.formatting import fmt_value
from assets.documents.grounding import GroundingReport, check
from assets.documents.instructions import Instructions


class DraftingError(RuntimeError):
    """A draft could not be written (the message names the draft and the cause)."""


class Writer(Protocol):
    backend: str
    model: str

    def write(self, book: FactBook, instructions: Instructions, title: str) -> str: ...


class TemplateWriter:
    """The embedded default: Spanish templates (offline, deterministic)."""

    backend = "template"
    model = ""

    def write(self, book: FactBook, instructions: Instructions, title: str) -> str:
        return spanish_templates.write_body(book, instructions)


def draft_id_for(document_type: str, sector_code: str, geo_code: str) -> str:
    """Stable id of a document across versions: ``conociendo_la_industria-31-33-28``."""
    return f"{document_type}-{sector_code}-{geo_code}"


@dataclass
class Draft:
    draft_id: str
    version: int
    document_type: str
    instructions_id: str
    sector_code: str
    sector_title: str
    geo_code: str
    geo_name: str
    geo_level: str
    backend: str
    model: str
    title: str
    body_markdown: str
    facts: list[Fact]
    grounding: GroundingReport
    style: dict[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    artifacts_dir: str = ""
    input_hash: str = ""   # what the writer was asked (LLM: system prompt, prompt, model, options); "" = templates

    @property
    def approvable(self) -> bool:
        return self.grounding.approvable

    @property
    def content_hash(self) -> str:
        """What makes two drafts the same document version (not the version number or the time)."""
        payload = json.dumps({
            "title": self.title, "body": self.body_markdown, "instructions": self.instructions_id,
            "backend": self.backend, "model": self.model,
            "facts": [[f.fact_id, f.value, f.status] for f in self.facts],
        }, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def report(self) -> dict[str, Any]:
        """The grounding report as printed by ``fmlake docs draft --json``."""
        g = self.grounding
        return {
            "draft_id": self.draft_id, "version": self.version, "title": self.title,
            "sector_code": self.sector_code, "geo_code": self.geo_code, "geo_name": self.geo_name,
            "backend": self.backend, "model": self.model, "instructions": self.instructions_id,
            "facts_given": len(self.facts), "numbers_found": g.numbers_found, "grounded": g.grounded,
            "flagged": g.flagged, "approvable": g.approvable,
            "flagged_numbers": [{"text": i.text, "kind": i.kind, "reason": i.reason, "context": i.context}
                                for i in g.items if i.status == "flagged"],
            "style": self.style,
        }


def style_check(body: str, instructions: Instructions, grounding: GroundingReport, book: FactBook) -> dict:
    """Length against the instructions, words to avoid, and which required facts the text cites."""
    words = re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)?", body)
    folded = {_fold(w) for w in words}
    avoid = sorted(w for w in instructions.words_to_avoid if _fold(w) in folded or
                   (" " in w and _fold(w) in _fold(body)))
    cited_metrics = set()
    by_id = {f.fact_id: f for f in book.facts}
    for fid in grounding.cited_fact_ids:
        if fid in by_id and by_id[fid].geo_code == book.geo_code:
            cited_metrics.add(by_id[fid].metric)
    own_published = {f.metric for f in book.facts if f.geo_code == book.geo_code and f.value is not None}
    missing = []
    for section in instructions.sections:
        for metric in section.required_facts:
            if metric in own_published and metric not in cited_metrics:
                missing.append(f"{section.id}:{metric}")
    issues = []
    if len(words) < instructions.min_words:
        issues.append(f"too short: {len(words)} words < {instructions.min_words}")
    if len(words) > instructions.max_words:
        issues.append(f"too long: {len(words)} words > {instructions.max_words}")
    if avoid:
        issues.append(f"words to avoid: {', '.join(avoid)}")
    if missing:
        issues.append(f"required facts not cited: {', '.join(missing)}")
    return {"words": len(words), "min_words": instructions.min_words, "max_words": instructions.max_words,
            "words_to_avoid_found": avoid, "required_facts_missing": missing, "issues": issues}


def _fold(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.lower())
    return "".join(c for c in s if not unicodedata.combining(c))


def draft_document(facts: list[Fact], geo_code: str, instructions: Instructions, writer: Writer | None = None,
                   version: int = 1, previous: Mapping[str, Draft] | None = None) -> Draft:
    """Write and check one draft from the facts of (sector, geography) and the instructions.

    ``previous`` (draft id -> its latest stored version): a writer with a ``request_key`` (the LLM) is not
    asked again when the latest version was written from exactly the same request; that version is returned,
    so a rerun on unchanged facts neither calls the model nor makes a new version to review."""
    writer = writer or TemplateWriter()
    book = FactBook(facts, geo_code)
    title = instructions.render_title(book.sector_title, book.geo_name)
    did = draft_id_for(instructions.document_type, book.sector_code, geo_code)
    request_key = getattr(writer, "request_key", None)
    key = request_key(book, instructions, title) if callable(request_key) else ""
    before = (previous or {}).get(did)
    if key and before is not None and before.input_hash == key:
        return before
    body = writer.write(book, instructions, title)
    if not body or not body.strip():
        raise DraftingError(f"draft {did}: the {writer.backend} backend returned an empty text")
    grounding = check(body, facts, prefer_geo=geo_code)
    return Draft(
        draft_id=did, version=version, document_type=instructions.document_type,
        instructions_id=instructions.instructions_id, sector_code=book.sector_code,
        sector_title=book.sector_title, geo_code=geo_code, geo_name=book.geo_name, geo_level=book.geo_level,
        backend=writer.backend, model=writer.model, title=title, body_markdown=body, facts=list(facts),
        grounding=grounding, style=style_check(body, instructions, grounding, book), input_hash=key,
    )


# ---------------------------------------------------------------- the LLM backend
SYSTEM_PROMPT = (
    "Eres analista de un instituto nacional de estadística de México y redactas la serie "
    "«Conociendo la Industria»: estudios breves en lenguaje sencillo. Reglas estrictas:\n"
    "1. Usa ÚNICAMENTE las cifras de la lista de datos, copiadas tal como aparecen (mismo redondeo y "
    "formato mexicano: coma para miles, punto decimal, p. ej. 343,428 y 12.5%). No calcules cifras nuevas, "
    "no redondees de otra manera y no inventes datos, años ni porcentajes.\n"
    "2. Los datos confidenciales no se estiman: di que no se publican.\n"
    "3. Escribe en Markdown: una sección por cada apartado pedido, con encabezado '## Título'; sin título "
    "principal, sin tablas ni listas numeradas.\n"
    "4. Años: solo los años censales de los datos."
)


def build_prompt(book: FactBook, instructions: Instructions, title: str) -> str:
    """The user prompt: instructions (sections, tone, length, words to avoid) and the facts, formatted."""
    lines = [f"Documento: {title}", f"Público: {instructions.audience}", f"Tono: {instructions.tone}",
             f"Extensión: entre {instructions.min_words} y {instructions.max_words} palabras.",
             "Palabras que no debes usar: " + ", ".join(instructions.words_to_avoid), "", "Apartados:"]
    for s in instructions.sections:
        opt = " (opcional)" if s.optional else ""
        req = f" Datos requeridos: {', '.join(s.required_facts)}." if s.required_facts else ""
        lines.append(f"- ## {s.title}{opt}: {s.guidance}{req}")
    lines += ["", "Datos (id | geografía | periodo | concepto | cifra):"]
    confidential = []
    for f in sorted(book.facts, key=lambda f: (f.geo_code != book.geo_code, f.geo_code, f.metric,
                                               f.base_year or 0, f.census_year)):
        period = f"{f.base_year}-{f.census_year}" if f.base_year else str(f.census_year)
        if f.value is None:
            confidential.append(f"{f.label} ({f.geo_name}, {period})")
            continue
        lines.append(f"- {f.fact_id} | {f.geo_name} | {period} | {f.label} [{f.metric}] | "
                     f"{fmt_value(f.value, f.unit)}")
    if confidential:
        lines += ["", "Datos confidenciales (no publicados; no des cifras): " + "; ".join(confidential)]
    lines += ["", "Redacta ahora el texto de los apartados."]
    return "\n".join(lines)


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*?)\n```\s*$", re.DOTALL)


def clean_llm_text(text: str) -> str:
    """Strip reasoning blocks, a surrounding code fence and a leading '# title' line."""
    from resources.llm import strip_thinking

    text = strip_thinking(text).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    lines = text.splitlines()
    if lines and re.match(r"^#\s", lines[0]):
        text = "\n".join(lines[1:]).strip()
    return text + "\n"


class LLMWriter:
    """Drafts through an LLM (Ollama via ``resources.llm``); ``client`` has ``chat(model, prompt, ...)``."""

    backend = "llm"

    def __init__(self, client, model: str, temperature: float = 0.2, num_ctx: int = 16384):
        if not model:
            raise DraftingError("the LLM backend needs a model name (e.g. mixtral:8x7b)")
        self.client = client
        self.model = model
        self.options = {"temperature": temperature, "num_ctx": num_ctx}

    def request_key(self, book: FactBook, instructions: Instructions, title: str) -> str:
        """Hash of everything the model is asked: the same key means the same question."""
        payload = json.dumps({"system": SYSTEM_PROMPT, "prompt": build_prompt(book, instructions, title),
                              "model": self.model, "options": self.options}, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def write(self, book: FactBook, instructions: Instructions, title: str) -> str:
        prompt = build_prompt(book, instructions, title)
        reply = self.client.chat(self.model, prompt, system=SYSTEM_PROMPT, options=self.options)
        if not reply.ok:
            raise DraftingError(f"LLM {self.model} failed for {title!r}: {reply.error}")
        return clean_llm_text(reply.text or "")
