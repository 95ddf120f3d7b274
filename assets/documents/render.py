"""Rendering drafts to Markdown and HTML (no Dagster).

HTML never passes text through raw: the Markdown body is parsed into a few block types
(headings, paragraphs, lists, bold spans) and every piece of text goes through Jinja2 with
autoescaping, so a hostile fact label, geography name or LLM answer (``<script>``) shows as text.
Links, images and raw HTML inside the body are not interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from assets.documents.exhibits import Chart, Table

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
_ENV: Environment | None = None


def env() -> Environment:
    """The Jinja2 environment of the domain (autoescape on for every template)."""
    global _ENV
    if _ENV is None:
        _ENV = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                           autoescape=select_autoescape(enabled_extensions=("html",), default=True),
                           trim_blocks=True, lstrip_blocks=True)
        _ENV.filters["fmt_int"] = lambda v: "" if v is None else f"{int(v):,}"
    return _ENV


def render_template(name: str, **context: Any) -> str:
    return env().get_template(name).render(**context)


# ---------------------------------------------------------------- Markdown body -> blocks
@dataclass
class Block:
    kind: str  # heading | paragraph | list | olist
    level: int = 0
    spans: list[tuple[str, bool]] = field(default_factory=list)  # (text, bold)
    items: list[list[tuple[str, bool]]] = field(default_factory=list)


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline(text: str) -> list[tuple[str, bool]]:
    """Text -> [(piece, bold)]; only ``**bold**`` is understood, everything else stays literal."""
    spans, pos = [], 0
    for m in _BOLD.finditer(text):
        if m.start() > pos:
            spans.append((text[pos:m.start()], False))
        spans.append((m.group(1), True))
        pos = m.end()
    if pos < len(text):
        spans.append((text[pos:], False))
    return spans


def markdown_blocks(md: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []

    def flush():
        if para:
            blocks.append(Block("paragraph", spans=inline(" ".join(para))))
            para.clear()

    for raw in md.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if m := re.match(r"^(#{1,6})\s+(.*)$", line):
            flush()
            blocks.append(Block("heading", level=min(len(m.group(1)) + 0, 6), spans=inline(m.group(2).strip())))
        elif m := re.match(r"^[-*+]\s+(.*)$", line):
            flush()
            if not blocks or blocks[-1].kind != "list":
                blocks.append(Block("list"))
            blocks[-1].items.append(inline(m.group(1)))
        elif m := re.match(r"^\d{1,3}[.)]\s+(.*)$", line):
            flush()
            if not blocks or blocks[-1].kind != "olist":
                blocks.append(Block("olist"))
            blocks[-1].items.append(inline(m.group(1)))
        else:
            if blocks and blocks[-1].kind in ("list", "olist") and not para and raw.startswith((" ", "\t")):
                blocks[-1].items[-1].extend(inline(" " + line))
            else:
                para.append(line)
    flush()
    return blocks


# ---------------------------------------------------------------- documents
def _md_escape_alt(text: str) -> str:
    return re.sub(r"[\[\]\(\)]", "", text)


def md_safe(text: str) -> str:
    """Neutralise HTML in Markdown text: most Markdown renderers pass ``<tags>`` through raw."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def document_markdown(draft, tables: list[Table], charts: list[Chart], chart_prefix: str = "charts/") -> str:
    """The full draft as Markdown: title, status line, body, tables, charts and the grounding summary.

    Text is Markdown-safe: ``<`` and ``>`` are written as entities, so a renderer never runs a tag.
    """
    g = draft.grounding
    parts = [f"# {md_safe(draft.title)}", "",
             f"_Borrador versión {draft.version} · redacción: {draft.backend}"
             f"{' (' + draft.model + ')' if draft.model else ''} · instrucciones: {draft.instructions_id}_", "",
             md_safe(draft.body_markdown.strip()), ""]
    if tables:
        parts += ["## Cuadros", ""]
        for t in tables:
            parts += [md_safe(t.to_markdown()), ""]
    if charts:
        parts += ["## Gráficas", ""]
        for c in charts:
            parts += [f"![{md_safe(_md_escape_alt(c.alt))}]({chart_prefix}{c.filename})", ""]
    parts += ["## Verificación de cifras", "",
              f"Cifras en el texto: {g.numbers_found}; respaldadas por un dato: {g.grounded}; "
              f"señaladas: {g.flagged}.", ""]
    for item in g.items:
        if item.status == "flagged":
            parts.append(md_safe(f"- SEÑALADA `{item.text}`: {item.reason} — «{item.context.strip()}»"))
    return "\n".join(parts).rstrip() + "\n"


def document_html(draft, tables: list[Table], charts: list[Chart], chart_prefix: str = "charts/",
                  published: bool = False, home: str | None = None, approval: dict | None = None) -> str:
    """A standalone HTML page of the document (the draft view of the CLI, or a published page)."""
    return render_template(
        "document.html", draft=draft, blocks=markdown_blocks(draft.body_markdown), tables=tables,
        charts=charts, chart_prefix=chart_prefix, published=published, home=home, approval=approval,
        report=draft.grounding,
    )


def write_document(draft, tables: list[Table], charts: list[Chart], out_dir: str | Path) -> dict[str, str]:
    """Write ``draft.md``, ``draft.html`` and ``facts.json`` (charts already drawn under out/charts)."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "draft.md").write_text(document_markdown(draft, tables, charts), encoding="utf-8")
    (out / "draft.html").write_text(document_html(draft, tables, charts), encoding="utf-8")
    facts = [{"id": f.fact_id, "value": f.value, "unit": f.unit, "label": f.label, "status": f.status,
              "geo_code": f.geo_code, "geo_name": f.geo_name, "census_year": f.census_year,
              "base_year": f.base_year, "metric": f.metric, "source": f"{f.source_table}#{f.source_rows}"}
             for f in draft.facts]
    (out / "facts.json").write_text(json.dumps(facts, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / "grounding.json").write_text(json.dumps(draft.report() | {"items": draft.grounding.as_dict()["items"]},
                                                   ensure_ascii=False, indent=1), encoding="utf-8")
    return {name: str(out / name) for name in ("draft.md", "draft.html", "facts.json", "grounding.json")}
