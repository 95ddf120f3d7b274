"""Tables of the search domain: what can be found, and the vectors that find it.

Flow: ``silver.scian_catalog`` (+ labelled ``silver.economic_activity_text``, the table registry, and the published
documents / facts of the documents app when they exist) -> ``gold.search_documents`` (one row per searchable
document) -> ``gold.search_embeddings`` (one vector per document text and per example description, tagged with the
embedding model). The keyword (BM25) index is rebuilt in memory from ``gold.search_documents`` when a search
service starts; the vector index (exact numpy or DuckDB vss HNSW, chosen by size) from ``gold.search_embeddings``.
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import Col, TableSpec

U = pl.Utf8()
I = pl.Int64()
TS = pl.Datetime("us", "UTC")

search_documents = TableSpec(
    "gold", "search_documents", {
        "doc_id": Col(U, "Document id <doc_type prefix>:<ref>: scian:<code>, table:<layer.name>, "
                         "mart:marts.<model>, document:<draft id>, section:<draft id>#<n>, fact:<fact id>, "
                         "place:<CVE_GEO>."),
        "doc_type": Col(U, "scian_class | table | mart | document | section | fact | place (synthetic only in "
                           "benchmarks)."),
        "ref": Col(U, "What the document is: the SCIAN code, table or mart key, draft id (#section), fact id or "
                      "CVE_GEO."),
        "title": Col(U, "Title shown in results (the SCIAN class title, 'Tabla <key>', the document title, the "
                        "fact label)."),
        "body": Col(U, "Text indexed with the title: parent SCIAN titles and ISIC/CIIU notes, a table's or mart's "
                       "description and its columns with their descriptions, a published document's (or section's) "
                       "text (Markdown stripped), a fact as a Spanish sentence with its source table, a place's "
                       "profile (2020 population, dwellings, facts, migration indicator, shelters)."),
        "url": Col(U, "Link to the published page (documents); null otherwise."),
        "source": Col(U, "Where the document comes from: silver.scian_catalog, silver.economic_activity_text "
                         "(classes known only from labelled answers), lakehouse_registry, dbt_project, "
                         "published_documents, gold.industry_facts, silver.municipalities."),
        "examples": Col(pl.List(pl.Utf8()), "Labelled register descriptions of the SCIAN class (most frequent "
                                            "first, held-out ones excluded); empty for other types."),
        "geo_code": Col(U, "Place the document is about: CVE_GEO of a municipality (5 digits), a state (2) or '00' "
                           "(national); facts, place profiles and documents; null otherwise."),
        "sector_code": Col(U, "SCIAN sector of a fact or document (e.g. 31-33); null otherwise."),
        "year": Col(I, "Census year of a fact (the later year of a change), 2020 for a place profile; null "
                       "otherwise."),
        "metric": Col(U, "gold.industry_facts metric of a fact (employment, value_added, ..._growth); "
                         "population_total for a place profile; null otherwise."),
        "value": Col(pl.Float64(), "The figure of a fact in unit (null when confidential), the 2020 population of "
                                   "a place profile; null otherwise."),
        "unit": Col(U, "Unit of value (personas, millones de pesos, %, habitantes, ...)."),
        "cited_in": Col(U, "Page of the published document whose text was given the fact; null when none."),
        "n_examples": Col(I, "Number of example descriptions in examples."),
        "text_hash": Col(U, "SHA-256 of title, body and examples: what the indexes see."),
        "built_at": Col(TS, "When the corpus was built (UTC)."),
    },
    primary_key=("doc_id",), domain="search",
    description="Searchable documents: SCIAN classes (title, parent titles, ISIC/CIIU correspondence notes and, "
                "when labelled register answers exist, example descriptions of that class), lakehouse tables and "
                "dbt marts with their column descriptions, published documents and their sections, every fact of "
                "gold.industry_facts as a Spanish sentence, and a profile per municipality and state. doc_type "
                "says which; ref is the SCIAN code, table key, draft id, fact id or CVE_GEO; geo_code, "
                "sector_code, year, metric, value and unit are what the query understanding matches; url links "
                "the published page where there is one.")

search_embeddings = TableSpec(
    "gold", "search_embeddings", {
        "vector_id": Col(U, "Vector id <doc_id>#<kind>:<first 16 hex digits of text_hash>."),
        "doc_id": Col(U, "Document the vector belongs to (gold.search_documents.doc_id)."),
        "kind": Col(U, "document (the document's lower-cased title and body) | example (one of its example "
                       "descriptions)."),
        "text": Col(U, "The text that was embedded."),
        "text_hash": Col(U, "SHA-256 of text: with model, what decides whether a stored vector is reused."),
        "model": Col(U, "Embedder that made the vector: use:<encoder>, minilm:<model path> or ollama:<model>."),
        "dim": Col(I, "Width of the vector (the embedder's dimension)."),
        "embedding": Col(pl.List(pl.Float32()), "The L2-normalised embedding (float32)."),
        "embedded_at": Col(TS, "When the table was last written with this row (UTC; reused vectors too)."),
    },
    primary_key=("vector_id",), domain="search",
    description="Sentence embeddings (L2-normalised float32) of each search document (kind='document') and of "
                "each example description attached to a document (kind='example'); model names the embedder. A "
                "document's dense score aggregates its vectors. Vectors are reused when text and model are unchanged.")

TABLES: tuple[TableSpec, ...] = (
    search_documents,
    search_embeddings,
)
