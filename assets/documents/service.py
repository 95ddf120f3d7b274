"""What the CLI, the assets and the review app share: reading statistics, drafting, publishing (no Dagster)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from assets.documents import instructions as instr
from assets.documents.drafting import Draft, TemplateWriter, Writer, draft_document
from assets.documents.facts import compute_facts, document_facts, normalize_sector, reference_geos, resolve_geo
from lakehouse import Lakehouse
from lakehouse.tables import documents as T
from lakehouse.tables import ingestion as ING

DOCUMENT_TYPE = "conociendo_la_industria"
DEFAULT_MODEL = "mixtral:8x7b"


def load_census_csv(path: str | Path) -> pl.DataFrame:
    """A SAIC export -> rows shaped like ``silver.industry_stats``, with the ingestion readers.

    Raises :class:`lakehouse.errors.LandingFileError` naming the file and row for bad input.
    """
    from assets.ingestion.readers import industry_to_silver, read_saic
    from lakehouse.errors import LandingFileError

    path = Path(path)
    bronze = read_saic(path).with_columns(pl.lit(str(path)).alias("_source_file"))
    silver = industry_to_silver(bronze)
    if silver.height == 0:
        raise LandingFileError(path, "no 'Sector NN ...' rows: nothing to describe")
    return silver.select(list(ING.silver_industry.schema))


@dataclass
class DraftRequest:
    sector: str
    geo: str | None = None
    document_type: str = DOCUMENT_TYPE
    instructions_version: int | None = None
    instructions_dir: str | None = None


def draft_from_stats(stats: pl.DataFrame, req: DraftRequest, writer: Writer | None = None) -> Draft:
    """Facts for one (sector, geography) straight from statistics, then one checked draft."""
    sector = normalize_sector(req.sector, stats.get_column("sector_code").unique().to_list())
    geo_code, _, _ = resolve_geo(stats, req.geo)
    facts = compute_facts(stats, sectors=[sector], geo_codes=reference_geos(geo_code))
    instructions = instr.select(req.document_type, sector, req.instructions_version, req.instructions_dir)
    return draft_document(document_facts(facts, sector, geo_code), geo_code, instructions,
                          writer or TemplateWriter())


def plan_documents(facts: pl.DataFrame, sectors: list[str] | None, geo_codes: list[str] | None,
                   geo_levels: list[str]) -> list[tuple[str, str]]:
    """Which (sector, geography) pairs get a document: the given ones, or every pair at ``geo_levels``."""
    own = facts.select("sector_code", "geo_code", "geo_level").unique()
    if sectors:
        own = own.filter(pl.col("sector_code").is_in(sectors))
    if geo_codes:
        own = own.filter(pl.col("geo_code").is_in(geo_codes))
    else:
        own = own.filter(pl.col("geo_level").is_in(geo_levels))
    return [(s, g) for s, g, _ in own.sort(["geo_code", "sector_code"]).iter_rows()]


def draft_all(facts: pl.DataFrame, pairs: list[tuple[str, str]], writer: Writer,
              instructions_version: int | None = None, instructions_dir: str | None = None,
              previous: dict[str, Draft] | None = None) -> list[Draft]:
    """One checked draft per (sector, geography). An LLM writer runs them concurrently (its client's
    limit); any failure raises before anything is stored, so a run never stores half of its drafts."""
    def one(pair: tuple[str, str]) -> Draft:
        sector, geo = pair
        ins = instr.select(DOCUMENT_TYPE, sector, instructions_version, instructions_dir)
        return draft_document(document_facts(facts, sector, geo), geo, ins, writer, previous=previous)

    mapper = getattr(getattr(writer, "client", None), "map", None)
    return list(mapper(one, pairs)) if callable(mapper) else [one(p) for p in pairs]


def publish(lh: Lakehouse):
    """Rebuild the static site from the approved drafts and record it in ``gold.published_documents``."""
    from assets.documents.site import build_site

    rows = build_site(lh)
    written = lh.write(T.published_documents, rows, mode="overwrite")
    return rows, written


def latest_drafts(lh: Lakehouse) -> dict[str, Draft]:
    """See :func:`assets.documents.store.latest_drafts`."""
    from assets.documents.store import latest_drafts as _latest

    return _latest(lh)


def save_drafts(lh: Lakehouse, drafts: list[Draft]):
    """See :func:`assets.documents.store.save_drafts`."""
    from assets.documents.store import save_drafts as _save

    return _save(lh, drafts)


def draft_summary(d: Draft) -> dict:
    return {"draft_id": d.draft_id, "version": d.version, "backend": d.backend,
            "numbers_found": d.grounding.numbers_found, "numbers_flagged": d.grounding.flagged, "title": d.title}


@dataclass
class PublicationDecision:
    state: str
    run_key: str | None
    reason: str = ""
    summary: str = ""


def publication_due(lh: Lakehouse) -> PublicationDecision:
    """The publishing sensor's core: is a publication run needed, and under which run_key?

    A run is due whenever the approved set (draft, version) differs from ``gold.published_documents`` —
    checked on every tick, so a publication that failed is still due afterwards. ``state`` names the
    review and published table versions; the run_key names the state, so one state asks for one run
    (the sensor adds an attempt number when an earlier run for it failed).
    """
    from assets.documents.review import publishable

    versions = [lh.version(T.document_reviews), lh.version(T.published_documents)]
    state = "reviews-v{}-published-v{}".format(*("none" if v is None else v for v in versions))
    wanted = sorted((p.draft_id, p.version) for p in publishable(lh))
    published = lh.read(T.published_documents, columns=["draft_id", "version"])
    have = sorted((r[0], r[1]) for r in published.iter_rows())
    if wanted == have:
        return PublicationDecision(state, None, f"published documents already match the approvals ({len(wanted)})")
    summary = ", ".join(f"{d}@v{v}" for d, v in wanted)[:200] or "none"
    return PublicationDecision(state, f"documents-publish-{state}", "approvals differ from what is published",
                               summary)
