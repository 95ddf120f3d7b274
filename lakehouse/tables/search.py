"""Tables of the search domain: what can be found, and the vectors that find it.

Flow: ``silver.scian_catalog`` (+ labelled ``silver.economic_activity_text``, the table registry, and the published
documents / facts of the documents app when they exist) -> ``gold.search_documents`` (one row per searchable
document) -> ``gold.search_embeddings`` (one vector per document text and per example description, tagged with the
embedding model). The keyword (BM25) index is rebuilt in memory from ``gold.search_documents`` when a search
service starts; the vector index (exact numpy or DuckDB vss HNSW, chosen by size) from ``gold.search_embeddings``.
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import TableSpec

U = pl.Utf8()
I = pl.Int64()
TS = pl.Datetime("us", "UTC")

search_documents = TableSpec(
    "gold", "search_documents",
    {"doc_id": U, "doc_type": U, "ref": U, "title": U, "body": U, "url": U, "source": U,
     "examples": pl.List(pl.Utf8()), "n_examples": I, "text_hash": U, "built_at": TS},
    primary_key=("doc_id",), domain="search",
    description="Searchable documents: SCIAN classes (title, parent titles, ISIC/CIIU correspondence notes and, "
                "when labelled register answers exist, example descriptions of that class), lakehouse table "
                "descriptions, and published documents / facts of the documents app. doc_type says which; ref "
                "is the SCIAN code, table key, draft id or fact id; url links the published page where there is one.")

search_embeddings = TableSpec(
    "gold", "search_embeddings",
    {"vector_id": U, "doc_id": U, "kind": U, "text": U, "text_hash": U, "model": U, "dim": I,
     "embedding": pl.List(pl.Float32()), "embedded_at": TS},
    primary_key=("vector_id",), domain="search",
    description="Sentence embeddings (L2-normalised float32) of each search document (kind='document') and of "
                "each example description attached to a document (kind='example'); model names the embedder. A "
                "document's dense score aggregates its vectors. Vectors are reused when text and model are unchanged.")

TABLES: tuple[TableSpec, ...] = (
    search_documents,
    search_embeddings,
)
