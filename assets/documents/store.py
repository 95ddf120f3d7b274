"""Drafts in the lakehouse: versioning, artifacts, and reading them back (no Dagster).

A draft id names a document (type, sector, geography); a new *version* is written only when the
content changes (title, body, facts, instructions or backend), so rerunning the drafts asset on
the same facts is a no-op. Each new version also gets a ``draft`` row in the append-only review
table, which is where its review history starts.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from assets.documents.drafting import Draft
from assets.documents.exhibits import Chart, Table, document_tables, draw_charts
from assets.documents.factbook import FactBook
from assets.documents.facts import facts_from_json, facts_to_json
from assets.documents.grounding import GroundingReport
from assets.documents.render import write_document
from lakehouse import Lakehouse
from lakehouse.tables import documents as T


def review_row(draft_id: str, version: int, status: str, reviewer: str, comment: str, numbers_flagged: int,
               created_at: datetime) -> dict:
    """One row of gold.document_reviews (a decision, or the opening 'draft' row of a new version)."""
    return {"review_id": uuid.uuid4().hex, "draft_id": draft_id, "version": version, "status": status,
            "reviewer": reviewer, "comment": comment, "numbers_flagged": numbers_flagged, "created_at": created_at}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def draft_row(d: Draft) -> dict:
    g = d.grounding
    return {
        "draft_id": d.draft_id, "version": d.version, "document_type": d.document_type,
        "instructions_id": d.instructions_id, "sector_code": d.sector_code, "sector_title": d.sector_title,
        "geo_code": d.geo_code, "geo_name": d.geo_name, "geo_level": d.geo_level, "backend": d.backend,
        "model": d.model, "title": d.title, "body_markdown": d.body_markdown, "facts_json": facts_to_json(d.facts),
        "grounding_json": json.dumps(g.as_dict(), ensure_ascii=False), "style_json": json.dumps(d.style,
                                                                                               ensure_ascii=False),
        "numbers_found": g.numbers_found, "numbers_grounded": g.grounded, "numbers_flagged": g.flagged,
        "content_hash": d.content_hash, "artifacts_dir": d.artifacts_dir, "created_at": d.created_at,
        "input_hash": d.input_hash or None,
    }


def draft_from_row(r: dict) -> Draft:
    return Draft(
        draft_id=r["draft_id"], version=r["version"], document_type=r["document_type"],
        instructions_id=r["instructions_id"], sector_code=r["sector_code"], sector_title=r["sector_title"],
        geo_code=r["geo_code"], geo_name=r["geo_name"], geo_level=r["geo_level"], backend=r["backend"],
        model=r["model"] or "", title=r["title"], body_markdown=r["body_markdown"],
        facts=facts_from_json(r["facts_json"]), grounding=GroundingReport.from_dict(json.loads(r["grounding_json"])),
        style=json.loads(r["style_json"] or "{}"), created_at=r["created_at"], artifacts_dir=r["artifacts_dir"] or "",
        input_hash=r.get("input_hash") or "",
    )


def latest_drafts(lh: Lakehouse) -> dict[str, Draft]:
    """Each draft id's highest stored version."""
    return {r["draft_id"]: draft_from_row(r) for r in latest_versions(lh).iter_rows(named=True)}


def latest_versions(lh: Lakehouse) -> pl.DataFrame:
    """One row per draft id: its highest version (all columns)."""
    df = lh.read(T.document_drafts)
    if df.height == 0:
        return df
    return df.sort(["draft_id", "version"]).group_by("draft_id", maintain_order=True).last().sort("draft_id")


def get_draft(lh: Lakehouse, draft_id: str, version: int | None = None) -> Draft | None:
    df = lh.read(T.document_drafts).filter(pl.col("draft_id") == draft_id)
    if version is not None:
        df = df.filter(pl.col("version") == version)
    if df.height == 0:
        return None
    return draft_from_row(df.sort("version").row(-1, named=True))


def exhibits(draft: Draft, charts_dir: str | Path | None) -> tuple[FactBook, list[Table], list[Chart]]:
    """Tables and charts of a draft; charts drawn into ``charts_dir`` (None: chart specs only)."""
    from assets.documents.exhibits import chart_specs

    book = FactBook(draft.facts, draft.geo_code)
    charts = draw_charts(book, charts_dir) if charts_dir is not None else chart_specs(book)
    return book, document_tables(book), charts


def write_artifacts(draft: Draft, out_dir: str | Path) -> dict[str, str]:
    """Charts under ``out_dir/charts`` plus draft.md, draft.html, facts.json, grounding.json."""
    out = Path(out_dir)
    _, tables, charts = exhibits(draft, out / "charts")
    files = write_document(draft, tables, charts, out)
    files.update({f"charts/{c.filename}": c.path for c in charts})
    return files


@dataclass
class SaveResult:
    drafts: list[Draft]          # every draft with its final version
    new_versions: list[Draft]    # the ones written in this call
    review_rows: int


def save_drafts(lh: Lakehouse, drafts: list[Draft], now: datetime | None = None) -> SaveResult:
    """Assign versions, write artifacts and new versions, and open their review history.

    Idempotent: a draft whose content hash equals its latest version's keeps that version and
    writes nothing. A version without any review row (e.g. a run that stopped between the two
    writes) gets its ``draft`` row on the next call.
    """
    now = now or utcnow()
    latest = {r["draft_id"]: r for r in latest_versions(lh).iter_rows(named=True)}
    final, new = [], []
    for d in drafts:
        prev = latest.get(d.draft_id)
        if prev is not None and prev["content_hash"] == d.content_hash:
            kept = draft_from_row(prev)
            final.append(kept)
            continue
        d.version = (prev["version"] + 1) if prev is not None else 1
        d.created_at = now
        # <root>/documents/<draft>/v<n>: a local folder, or a mirror uploaded to the object store after writing
        with lh.artifacts.directory("documents", d.draft_id, f"v{d.version}") as folder:
            d.artifacts_dir = str(folder)
            write_artifacts(d, d.artifacts_dir)
            d.artifacts_dir = lh.artifacts.location(folder)
        final.append(d)
        new.append(d)
    if new:
        lh.write(T.document_drafts, pl.DataFrame([draft_row(d) for d in new], schema=T.document_drafts.schema),
                 mode="merge")
    reviewed = lh.read(T.document_reviews, columns=["draft_id", "version"])
    seen = {(r[0], r[1]) for r in reviewed.iter_rows()}
    opening = [d for d in final if (d.draft_id, d.version) not in seen]
    if opening:
        rows = [review_row(d.draft_id, d.version, "draft", "sistema",
                           f"versión creada ({d.backend}); cifras señaladas: {d.grounding.flagged}",
                           d.grounding.flagged, now + timedelta(microseconds=i)) for i, d in enumerate(opening)]
        lh.write(T.document_reviews, pl.DataFrame(rows, schema=T.document_reviews.schema), mode="append")
    return SaveResult(final, new, len(opening))
