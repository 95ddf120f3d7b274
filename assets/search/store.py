"""The search corpus and its vectors in the lakehouse, and loading a ready index from them (no Dagster).

The embedder and the index configuration are parameters: callers build them from the settings
(``SEARCH_*`` variables, see ``pipelines/settings.py`` and ``.env.example``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assets.search import corpus as C
from assets.search.engine import IndexConfig, SearchIndex, vector_texts
from assets.search.text import tokens
from lakehouse import Lakehouse
from lakehouse.lineage import text_hash
from lakehouse.tables.search import search_documents, search_embeddings

# ---------------------------------------------------------------- corpus from the lakehouse
def _read_if_registered(lh: Lakehouse, key: str) -> pl.DataFrame:
    """A table of another domain, or an empty frame when it is not declared or not written yet."""
    from lakehouse import LakehouseError, get_table

    try:
        spec = get_table(key)
    except LakehouseError:
        return pl.DataFrame()
    return lh.read(spec)


def is_holdout(text: str, percent: int) -> bool:
    """Whether a labelled description is held out of the examples (to measure the index on it).

    Decided by a hash of the normalised text, so the same description always falls on the same side and a held-out
    query never appears among the examples under another spelling of case or accents."""
    if percent <= 0:
        return False
    norm = " ".join(tokens(text))
    return int(text_hash(norm)[:8], 16) % 100 < percent


def labelled_activity(lh: Lakehouse) -> pl.DataFrame:
    from lakehouse.tables.ingestion import silver_economic_activity

    return lh.read(silver_economic_activity, columns=["text", "code"]).filter(
        pl.col("code").is_not_null() & pl.col("text").is_not_null())


def unseen_labelled(lh: Lakehouse, documents: pl.DataFrame) -> tuple[list[str], list[str]]:
    """Labelled descriptions whose normalised text is not an example of any document: (texts, codes).

    These are queries the index has never seen (held out by hash, or beyond the per-class cap)."""
    seen = {" ".join(tokens(t)) for ex in documents["examples"].to_list() for t in (ex or [])}
    rows = [(t, c) for t, c in labelled_activity(lh).iter_rows() if " ".join(tokens(t)) not in seen]
    return [t for t, _ in rows], [c for _, c in rows]


def build_corpus(lh: Lakehouse, max_examples: int = 200, holdout_percent: int = 20,
                 marts_dir: str | Path | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Every searchable document from the lakehouse: SCIAN classes (silver.scian_catalog, with up to
    ``max_examples`` labelled descriptions from silver.economic_activity_text each, leaving ``holdout_percent`` % of
    the descriptions out to measure the index), registered tables and the dbt marts under ``marts_dir`` with their
    column descriptions, the documents app's published documents (and their sections) and facts (as Spanish
    sentences), and a profile per municipality and state (silver.municipalities, with the facts, the migration
    indicator and the shelters of each place) when those tables exist. Returns (corpus, rows per source)."""
    from lakehouse.tables.ingestion import silver_scian

    catalog = lh.read(silver_scian, columns=["code", "title"])
    if catalog.is_empty():
        raise C.CorpusError("silver.scian_catalog is empty: materialize it before the search corpus")
    examples: dict[str, list[str]] = {}
    if max_examples > 0:
        activity = [(t, c) for t, c in labelled_activity(lh).iter_rows() if not is_holdout(t, holdout_percent)]
        examples = C.examples_by_code([t for t, _ in activity], [c for _, c in activity])
    classes = C.scian_documents(catalog, source="silver.scian_catalog")
    legacy = C.legacy_class_documents(set(classes["ref"].to_list()), examples, source="silver.economic_activity_text")
    scian = C.attach_examples(C.combine(classes, legacy), examples, max_examples)
    tables = C.registry_documents()
    marts = C.mart_documents(marts_dir)
    published_t = _read_if_registered(lh, "gold.published_documents")
    drafts_t = _read_if_registered(lh, "gold.document_drafts")
    published = C.published_documents(published_t, drafts_t)
    facts_t = _read_if_registered(lh, "gold.industry_facts")
    municipalities = _read_if_registered(lh, "silver.municipalities")
    states = {} if municipalities.is_empty() else dict(
        municipalities.select("cve_entidad", "state_name").unique("cve_entidad").iter_rows())
    facts = C.fact_documents(facts_t, cited_in=C.citing_pages(published_t, drafts_t), state_names=states)
    places = C.place_documents(municipalities, facts_t, _read_if_registered(lh, "gold.migration_intensity_indicator"),
                               _read_if_registered(lh, "silver.migrant_shelters"))
    corpus = C.combine(scian, tables, marts, published, facts, places)
    counts = {"scian_class": scian.height, "legacy_scian_class": legacy.height, "table": tables.height,
              "mart": marts.height, "document": int((published["doc_type"] == "document").sum()),
              "section": int((published["doc_type"] == "section").sum()), "fact": facts.height,
              "place": places.height, "examples": int(scian["examples"].list.len().sum())}
    return corpus, counts


def documents_table(corpus: pl.DataFrame) -> pl.DataFrame:
    """Rows of gold.search_documents."""
    now = datetime.now(timezone.utc)
    return C.with_hashes(corpus).with_columns(pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("built_at")).select(
        search_documents.columns)


def embeddings_table(corpus: pl.DataFrame, embedder: Any, existing: pl.DataFrame | None = None,
                     batch_size: int = 64) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Rows of gold.search_embeddings for ``corpus``: vectors of unchanged (text, model) pairs are reused."""
    texts, owners, kinds = vector_texts(corpus)
    doc_ids = corpus["doc_id"].to_list()
    model = embedder.name
    reuse: dict[str, list[float]] = {}
    if existing is not None and existing.height:
        for h, emb in existing.filter(pl.col("model") == model).select("text_hash", "embedding").iter_rows():
            reuse[h] = emb
    hashes = [text_hash(t) for t in texts]
    need = sorted({i for i, h in enumerate(hashes) if h not in reuse}, key=lambda i: i)
    t = time.perf_counter()
    fresh = embedder.embed([texts[i] for i in need], batch_size=batch_size) if need else np.zeros((0, 0))
    seconds = time.perf_counter() - t
    vectors: list[list[float]] = []
    fresh_pos = {i: j for j, i in enumerate(need)}
    for i, h in enumerate(hashes):
        vectors.append(fresh[fresh_pos[i]].tolist() if i in fresh_pos else list(reuse[h]))
    dims = {len(v) for v in vectors}
    if len(dims) > 1:
        raise ValueError(f"embeddings of model {model} have mixed widths {sorted(dims)}")
    now = datetime.now(timezone.utc)
    rows = pl.DataFrame({
        "vector_id": [f"{doc_ids[o]}#{k}:{h[:16]}" for o, k, h in zip(owners, kinds, hashes)],
        "doc_id": [doc_ids[o] for o in owners], "kind": kinds, "text": texts, "text_hash": hashes,
        "model": [model] * len(texts), "dim": [len(v) for v in vectors],
        "embedding": pl.Series(vectors, dtype=pl.List(pl.Float32())),
        "embedded_at": pl.Series([now] * len(texts), dtype=pl.Datetime("us", "UTC")),
    }).unique("vector_id", keep="first", maintain_order=True)
    stats = {"vectors": rows.height, "embedded": len(need), "reused": len(texts) - len(need),
             "embed_s": round(seconds, 3), "model": model}
    return rows.select(search_embeddings.columns), stats


# ---------------------------------------------------------------- loading an index for queries
def load_index(lh: Lakehouse, embedder: Any, config: IndexConfig | None = None, source: str = "auto",
               catalog_path: str | None = None, transform=None) -> tuple[SearchIndex, str]:
    """A ready SearchIndex and a description of where it came from (``transform``: a function applied to the
    corpus before it is indexed, e.g. :func:`assets.search.corpus.with_everyday_names` for a leave-out check).

    ``lakehouse``: gold.search_documents + the vectors of gold.search_embeddings made by ``embedder``'s model (texts
    without a stored vector are embedded now). ``catalog``: the SCIAN classes and the table registry, built in
    memory. ``auto``: lakehouse when gold.search_documents has rows, else catalog.
    """
    if source not in ("auto", "lakehouse", "catalog"):
        raise ValueError(f"source must be auto, lakehouse or catalog, got {source!r}")
    config = config or IndexConfig()
    if source in ("auto", "lakehouse"):
        docs = lh.read(search_documents)
        if docs.height:
            stored = lh.read(search_embeddings).filter(pl.col("model") == embedder.name)
            corpus = C.with_attr_columns(docs)
            if transform is not None:
                corpus = transform(corpus)
            index = SearchIndex.build(corpus, embedder, config, stored=stored)
            return index, (f"lakehouse {lh.uri(search_documents)} (v{lh.version(search_documents)}; "
                           f"{index.stats.reused_vectors} stored vectors, {index.stats.embedded} embedded now)")
        if source == "lakehouse":
            raise C.CorpusError(f"{search_documents.key} is empty under {lh.root}: materialize the search assets "
                                "(or use --source catalog)")
    catalog, origin = _catalog(lh, catalog_path)
    corpus = C.combine(C.scian_documents(catalog, source=origin), C.registry_documents())
    if transform is not None:
        corpus = transform(corpus)
    return SearchIndex.build(corpus, embedder, config), f"catalog {origin} + table registry (in memory)"


def _catalog(lh: Lakehouse, catalog_path: str | None) -> tuple[pl.DataFrame, str]:
    from lakehouse.tables.ingestion import silver_scian

    if catalog_path:
        return C.read_scian_csv(catalog_path), str(catalog_path)
    silver = lh.read(silver_scian, columns=["code", "title"])
    if silver.height and (silver["code"].str.len_chars() == 6).any():
        return silver, "silver.scian_catalog"
    # The product never reads ../shared/data (evaluation commands do): the package ships the catalogue.
    return C.scian_from_package(), "scian-ciiu package"


# ---------------------------------------------------------------- the site search over a loaded index
def query_parser(lh: Lakehouse, corpus: pl.DataFrame):
    """The query parser of the site search: places from silver.municipalities, sector titles from
    silver.scian_catalog (2-digit codes and ranges), everyday words from the SCIAN class titles of ``corpus``.
    None when silver.municipalities is empty (free-text ranking only)."""
    from assets.search.site import parser_from_lakehouse_frames
    from lakehouse.tables.ingestion import silver_scian

    municipalities = _read_if_registered(lh, "silver.municipalities")
    catalog = lh.read(silver_scian, columns=["code", "title"])
    sectors = {c: t for c, t in catalog.iter_rows() if c and (len(c) == 2 or "-" in c)}
    classes = corpus.filter(pl.col("doc_type") == "scian_class")["title"].to_list()
    return parser_from_lakehouse_frames(municipalities, sectors, classes)


def load_site(lh: Lakehouse, embedder: Any, config: IndexConfig | None = None, source: str = "auto",
              catalog_path: str | None = None, transform=None):
    """(SiteSearch, origin): :func:`load_index` plus the query understanding of the site."""
    from assets.search.site import SiteSearch

    index, origin = load_index(lh, embedder, config, source=source, catalog_path=catalog_path, transform=transform)
    parser = query_parser(lh, index.corpus)
    return SiteSearch(index, parser), origin + ("" if parser else "; no silver.municipalities: no place lookup")
