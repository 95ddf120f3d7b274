"""Tables of the documents domain: facts, drafts, the review history and what is published.

Flow: ``silver.industry_stats`` -> ``gold.industry_facts`` (one row per number a document may
cite) -> ``gold.document_drafts`` (versioned drafts with their grounding report) ->
``gold.document_reviews`` (append-only expert decisions) -> ``gold.published_documents`` (what
the static site shows).
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
TS = pl.Datetime("us", "UTC")

industry_facts = TableSpec(
    "gold", "industry_facts",
    {"fact_id": U, "sector_code": U, "sector_title": U, "geo_code": U, "geo_name": U, "geo_level": U,
     "census_year": I, "base_year": I, "metric": U, "value": F, "unit": U, "label": U, "status": U,
     "source_table": U, "source_rows": U},
    primary_key=("fact_id",), domain="documents",
    description="Facts a sector study may cite: levels (employment, output, value added, remuneration...), "
                "ratios (productivity, intermediate share), growth between census years, shares of the "
                "national/state total and price-index change, per SCIAN sector, geography and census year. "
                "status='confidential' rows have a null value: the source cell was blank and is never "
                "estimated. source_rows lists the silver.industry_stats source_row values used.")

document_drafts = TableSpec(
    "gold", "document_drafts",
    {"draft_id": U, "version": I, "document_type": U, "instructions_id": U, "sector_code": U,
     "sector_title": U, "geo_code": U, "geo_name": U, "geo_level": U, "backend": U, "model": U,
     "title": U, "body_markdown": U, "facts_json": U, "grounding_json": U, "style_json": U,
     "numbers_found": I, "numbers_grounded": I, "numbers_flagged": I, "content_hash": U,
     "artifacts_dir": U, "created_at": TS, "input_hash": U},
    primary_key=("draft_id", "version"), domain="documents",
    description="Draft documents ('Conociendo la Industria'), one row per draft version: the narrative "
                "(Markdown), the facts it was given, and its grounding report (numbers found / grounded / "
                "flagged). A new version is added only when the content changes; old versions stay. "
                "input_hash identifies the LLM request (prompt, model, options; null for the templates): "
                "the same request is not sent again.")

document_reviews = TableSpec(
    "gold", "document_reviews",
    {"review_id": U, "draft_id": U, "version": I, "status": U, "reviewer": U, "comment": U,
     "numbers_flagged": I, "created_at": TS},
    primary_key=("review_id",), domain="documents",
    description="Append-only review history of the drafts: status draft (a version was created), "
                "approved, rejected or changes_requested, who decided, their comment and when. The latest "
                "row of a (draft_id, version) is its state; a version with flagged numbers is never approved.")

published_documents = TableSpec(
    "gold", "published_documents",
    {"draft_id": U, "version": I, "title": U, "sector_code": U, "geo_code": U, "geo_name": U,
     "approved_by": U, "approved_at": TS, "page_path": U, "published_at": TS},
    primary_key=("draft_id",), domain="documents",
    description="Documents on the published static site: for each draft the highest version whose latest "
                "review is 'approved', with who approved it and the page written under <root>/site.")

TABLES: tuple[TableSpec, ...] = (
    industry_facts,
    document_drafts,
    document_reviews,
    published_documents,
)
