"""Dagster definitions of the search domain (assets and checks; no resources).

silver.scian_catalog, silver.economic_activity_text, gold.published_documents / document_drafts / industry_facts,
the table registry ─> gold.search_documents ─> gold.search_embeddings (+ checks: vectors cover documents; search
quality on held-out labelled descriptions, BM25 vs dense vs hybrid).
The work is done by plain functions in this package (corpus, engine, store); this module only wires them.
"""


import dagster as dg
import numpy as np
import polars as pl

from assets.common import asset_key, markdown_preview, table_metadata, table_result, write_table
from assets.search import store
from assets.search.engine import SearchIndex
from assets.search.evaluation import Queries, evaluate_index
from lakehouse.tables import documents as DOC
from lakehouse.tables import ingestion as ING
from lakehouse.tables import news as NEWS
from lakehouse.tables import search as T
from assets.search.settings import SearchIndexResource
from resources.embedder import EmbedderResource
from resources.lakehouse import LakehouseResource

GROUP = "search"

K_SCIAN = asset_key(ING.silver_scian)
K_ACTIVITY = asset_key(ING.silver_economic_activity)
K_FACTS = asset_key(DOC.industry_facts)
K_DRAFTS = asset_key(DOC.document_drafts)
K_PUBLISHED = asset_key(DOC.published_documents)
K_MUNICIPALITIES = asset_key(ING.silver_municipalities)
K_SHELTERS = asset_key(ING.silver_shelters)
K_INDICATOR = asset_key(NEWS.migration_intensity)
K_DOCUMENTS = asset_key(T.search_documents)
K_EMBEDDINGS = asset_key(T.search_embeddings)


class SearchCorpusConfig(dg.Config):
    """How SCIAN class documents are enriched with labelled register descriptions."""

    max_examples: int = 200      # distinct descriptions kept per class (most frequent first); 0 = catalogue only
    holdout_percent: int = 20    # % of descriptions (by text hash) kept out of the index to measure it


@dg.asset(key=K_DOCUMENTS, group_name=GROUP, kinds={"delta", "polars"},
          deps=[K_SCIAN, K_ACTIVITY, K_PUBLISHED, K_DRAFTS, K_FACTS, K_MUNICIPALITIES, K_SHELTERS, K_INDICATOR],
          metadata=table_metadata(T.search_documents))
def search_documents(context: dg.AssetExecutionContext, config: SearchCorpusConfig,
                     lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """What the search engine can find, one row per document.

    SCIAN 2018 classes (title; the titles of their subrama, rama, subsector and sector; their ISIC/CIIU
    correspondence from the scian-ciiu package; and up to ``max_examples`` labelled descriptions of the class from
    silver.economic_activity_text, minus a hash-chosen ``holdout_percent`` kept out to measure the index), every
    registered lakehouse table and dbt mart (description, columns with their descriptions), the documents app's
    published documents and their sections, every fact of gold.industry_facts as a Spanish sentence, and a profile
    per municipality and state (silver.municipalities with the facts, migration indicator and shelters of each
    place) when those tables exist. Rewritten whole on each run (idempotent).
    """
    lh = lakehouse.lakehouse
    from resources.dbt import DBT_PROJECT_DIR

    corpus, counts = store.build_corpus(lh, max_examples=config.max_examples, holdout_percent=config.holdout_percent,
                                        marts_dir=DBT_PROJECT_DIR / "models")
    df = store.documents_table(corpus)
    context.log.info(f"search corpus: {counts}")
    by_type = df.group_by("doc_type").len().sort("doc_type")
    return write_table(lh, T.search_documents, df, preview=df.drop("examples"), extra={
        **{f"documents_{k}": dg.MetadataValue.int(v) for k, v in counts.items()},
        "by_type": dg.MetadataValue.md(markdown_preview(by_type)),
    })


@dg.asset(key=K_EMBEDDINGS, group_name=GROUP, kinds={"delta", "numpy"}, deps=[K_DOCUMENTS],
          metadata=table_metadata(T.search_embeddings), pool="embedding",
          check_specs=[
              dg.AssetCheckSpec("vectors_cover_documents", asset=K_EMBEDDINGS, blocking=True,
                                description="Every search document has a unit-norm vector of one model and width."),
              dg.AssetCheckSpec("search_quality_on_holdout", asset=K_EMBEDDINGS,
                                description="recall@10 of bm25, dense and hybrid on the held-out labelled "
                                            "descriptions; warns when hybrid does worse than BM25."),
          ])
def search_embeddings(context: dg.AssetExecutionContext, lakehouse: LakehouseResource,
                      embedder: EmbedderResource, search_index: SearchIndexResource) -> dg.MaterializeResult:
    """Sentence embeddings of every search document and of each example description.

    One L2-normalised vector per document text (kind='document': lower-cased title and body) and per distinct
    example description (kind='example'), made by the configured embedder (default: the multilingual USE encoder,
    offline; Ollama /api/embed in production). Vectors whose text and model did not change are reused, so a rerun
    embeds only what is new.
    """
    lh = lakehouse.lakehouse
    docs = lh.read(T.search_documents)
    if docs.is_empty():
        raise dg.Failure(f"{T.search_documents.key} is empty: materialize it first")
    existing = lh.read(T.search_embeddings)
    emb = embedder.get_embedder()
    rows, stats = store.embeddings_table(docs, emb, existing, batch_size=embedder.batch_size)
    written = lh.write(T.search_embeddings, rows, mode="overwrite")
    context.log.info(f"search embeddings: {stats}")

    # check 1: coverage and norms
    doc_ids = set(docs["doc_id"].to_list())
    covered = set(rows.filter(pl.col("kind") == "document")["doc_id"].to_list())
    matrix = np.asarray(rows["embedding"].to_list(), dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) if len(matrix) else np.zeros(0)
    bad_norms = int(np.sum(~np.isfinite(norms) | (np.abs(norms - 1.0) > 1e-3)))   # NaN is not a unit vector
    models, dims = rows["model"].unique().to_list(), rows["dim"].unique().to_list()
    coverage = dg.AssetCheckResult(
        check_name="vectors_cover_documents", passed=covered == doc_ids and bad_norms == 0 and len(models) == 1
        and len(dims) == 1,
        metadata={"documents": len(doc_ids), "documents_without_vector": len(doc_ids - covered),
                  "vectors_not_unit_norm": bad_norms, "models": ", ".join(models),
                  "dims": ", ".join(map(str, dims))})

    # check 2: quality on labelled descriptions the index never saw (held out, or beyond the per-class cap)
    texts, codes = store.unseen_labelled(lh, docs)
    texts, codes = texts[:2000], codes[:2000]
    quality_meta: dict = {"holdout_queries": len(texts)}
    passed = True
    if texts:
        index = SearchIndex.build(docs.select(store.C.DOC_COLUMNS), emb, search_index.index_config(), stored=rows)
        results = evaluate_index(index, Queries(texts, codes, [None] * len(texts), "silver.economic_activity_text"),
                                 latency_sample=0)
        for mode, m in results.items():
            quality_meta[f"{mode}_recall@10"] = m["recall@10"]
            quality_meta[f"{mode}_mrr@10"] = m["mrr@10"]
        passed = results["hybrid"]["recall@10"] >= results["bm25"]["recall@10"]
    quality = dg.AssetCheckResult(check_name="search_quality_on_holdout", passed=passed,
                                  severity=dg.AssetCheckSeverity.WARN, metadata=quality_meta)
    by_kind = rows.group_by("kind").len().sort("kind")
    return table_result(T.search_embeddings, lh, written, rows, preview=rows.drop("embedding"),
                        check_results=[coverage, quality], extra={
                            "embedded_now": dg.MetadataValue.int(stats["embedded"]),
                            "reused": dg.MetadataValue.int(stats["reused"]),
                            "embed_seconds": dg.MetadataValue.float(stats["embed_s"]),
                            "model": stats["model"],
                            "by_kind": dg.MetadataValue.md(markdown_preview(by_kind)),
                        })


defs = dg.Definitions(assets=[search_documents, search_embeddings])
