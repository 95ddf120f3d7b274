"""Tables of the documents domain: facts, drafts, the review history and what is published.

Flow: ``silver.industry_stats`` -> ``gold.industry_facts`` (one row per number a document may
cite) -> ``gold.document_drafts`` (versioned drafts with their grounding report) ->
``gold.document_reviews`` (append-only expert decisions) -> ``gold.published_documents`` (what
the static site shows).
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import Col, TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
TS = pl.Datetime("us", "UTC")

SECTOR = "SCIAN sector code, 2 digits or a range such as 31-33 (silver.industry_stats.sector_code)."
SECTOR_TITLE = "SCIAN sector title as the census export names it."
GEO = "Geography key: '00' national, 2-digit state key or 5-digit municipality CVE_GEO."
GEO_NAME = "Name of the country, state or municipality."
GEO_LEVEL = "national | state | municipality."
DRAFT = "Draft id, stable across versions: <document_type>-<sector_code>-<geo_code>."
VERSION = "Draft version, 1, 2, ... (a new one only when the content changes)."

industry_facts = TableSpec(
    "gold", "industry_facts", {
        "fact_id": Col(U, "Stable fact id <sector>:<geo>:<year or base_year-year>:<metric>, e.g. "
                          "31-33:28:2018:employment."),
        "sector_code": Col(U, SECTOR),
        "sector_title": Col(U, SECTOR_TITLE),
        "geo_code": Col(U, GEO),
        "geo_name": Col(U, GEO_NAME),
        "geo_level": Col(U, GEO_LEVEL),
        "census_year": Col(I, "Census year the fact is about (the later year of a change)."),
        "base_year": Col(I, "Earlier census year of a growth or change fact; null for levels and ratios."),
        "metric": Col(U, "What is measured: a level (employment, gross_output, value_added, remuneration, ...), a "
                         "ratio (productivity, remuneration_per_worker, intermediate_share, value_added_ratio, "
                         "share_national_*, share_state_*) or a change (*_growth, *_change, price_index_change, "
                         "value_added_real_growth)."),
        "value": Col(F, "The figure in unit; null when status is confidential."),
        "unit": Col(U, "Unit of value (Spanish): personas, millones de pesos, pesos por persona ocupada, %, "
                       "puntos porcentuales, índice."),
        "label": Col(U, "Spanish label of the metric as a document cites it (e.g. 'Personal ocupado total')."),
        "status": Col(U, "published | confidential (the source cell was blank: value null, never estimated)."),
        "source_table": Col(U, "Table the fact is computed from (silver.industry_stats)."),
        "source_rows": Col(U, "The silver.industry_stats source_row values used, ';'-separated."),
    },
    primary_key=("fact_id",), domain="documents",
    description="Facts a sector study may cite: levels (employment, output, value added, remuneration...), "
                "ratios (productivity, intermediate share), growth between census years, shares of the "
                "national/state total and price-index change, per SCIAN sector, geography and census year. "
                "status='confidential' rows have a null value: the source cell was blank and is never "
                "estimated. source_rows lists the silver.industry_stats source_row values used.")

document_drafts = TableSpec(
    "gold", "document_drafts", {
        "draft_id": Col(U, DRAFT),
        "version": Col(I, VERSION),
        "document_type": Col(U, "Document series, e.g. conociendo_la_industria."),
        "instructions_id": Col(U, "Instructions the draft was written to: <document_type>.<industry>@v<n> "
                                  "(assets/documents/instructions)."),
        "sector_code": Col(U, SECTOR),
        "sector_title": Col(U, SECTOR_TITLE),
        "geo_code": Col(U, GEO),
        "geo_name": Col(U, GEO_NAME),
        "geo_level": Col(U, GEO_LEVEL),
        "backend": Col(U, "Writer: template (Spanish templates, no model) | llm (an Ollama model)."),
        "model": Col(U, "LLM that wrote the text; empty for the templates."),
        "title": Col(U, "Document title."),
        "body_markdown": Col(U, "The narrative, Markdown with one '## ' section per part the instructions ask for."),
        "facts_json": Col(U, "JSON list of the gold.industry_facts rows the writer was given."),
        "grounding_json": Col(U, "JSON grounding report: every number in the text and the fact it matches, or "
                                 "flagged."),
        "style_json": Col(U, "JSON style check: length against the instructions, words to avoid, required facts "
                             "cited."),
        "numbers_found": Col(I, "Numbers found in the text."),
        "numbers_grounded": Col(I, "Of them, numbers that match a given fact."),
        "numbers_flagged": Col(I, "Numbers that match no fact (a version with any cannot be approved)."),
        "content_hash": Col(U, "Hash of title, body, instructions, backend, model and facts: an unchanged hash "
                               "makes no new version."),
        "artifacts_dir": Col(U, "Folder with the version's rendered files and charts: "
                                "<root>/documents/<draft_id>/v<version>."),
        "created_at": Col(TS, "When the version was created (UTC)."),
        "input_hash": Col(U, "Hash of the LLM request (system prompt, prompt, model, options); null for the "
                             "templates. The same request is not sent again."),
    },
    primary_key=("draft_id", "version"), domain="documents",
    description="Draft documents ('Conociendo la Industria'), one row per draft version: the narrative "
                "(Markdown), the facts it was given, and its grounding report (numbers found / grounded / "
                "flagged). A new version is added only when the content changes; old versions stay. "
                "input_hash identifies the LLM request (prompt, model, options; null for the templates): "
                "the same request is not sent again.")

document_reviews = TableSpec(
    "gold", "document_reviews", {
        "review_id": Col(U, "Random id of the review event (UUID, hex)."),
        "draft_id": Col(U, DRAFT),
        "version": Col(I, "Draft version the decision is about."),
        "status": Col(U, "draft (the version was created) | approved | rejected | changes_requested."),
        "reviewer": Col(U, "Who decided ('sistema' for the row recorded when a version is created)."),
        "comment": Col(U, "The reviewer's comment."),
        "numbers_flagged": Col(I, "Flagged numbers of the version when the decision was taken."),
        "created_at": Col(TS, "When the decision was recorded (UTC)."),
    },
    primary_key=("review_id",), domain="documents",
    description="Append-only review history of the drafts: status draft (a version was created), "
                "approved, rejected or changes_requested, who decided, their comment and when. The latest "
                "row of a (draft_id, version) is its state; a version with flagged numbers is never approved.")

published_documents = TableSpec(
    "gold", "published_documents", {
        "draft_id": Col(U, DRAFT),
        "version": Col(I, "The published version: the highest whose latest review is approved."),
        "title": Col(U, "Document title."),
        "sector_code": Col(U, SECTOR),
        "geo_code": Col(U, GEO),
        "geo_name": Col(U, GEO_NAME),
        "approved_by": Col(U, "Reviewer who approved the version."),
        "approved_at": Col(TS, "When it was approved (UTC)."),
        "page_path": Col(U, "Page of the document under <root>/site: <draft_id>/index.html."),
        "published_at": Col(TS, "When the site was last written (UTC)."),
    },
    primary_key=("draft_id",), domain="documents",
    description="Documents on the published static site: for each draft the highest version whose latest "
                "review is 'approved', with who approved it and the page written under <root>/site.")

TABLES: tuple[TableSpec, ...] = (
    industry_facts,
    document_drafts,
    document_reviews,
    published_documents,
)
