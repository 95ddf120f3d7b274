"""The search assets in-process against a temporary lakehouse, the index loaded back from it, and the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg
import polars as pl
import pytest
from click.testing import CliRunner

from assets.search import defs as S
from pipelines.cli.search import cli
from assets.search.store import load_index
from lakehouse.tables import documents as DOC
from lakehouse.tables import ingestion as ING
from lakehouse.tables import search as T
from resources.embedder import EmbedderResource
from tests.search.conftest import SMALL_SCIAN

ACTIVITY = [
    ("r1", "PANADERIA DE BOLILLOS", "311812"), ("r2", "panadería de bolillos", "311812"),
    ("r3", "EXTRACCION DE CARBON", "212110"), ("r4", "TIENDA DE ABARROTES Y MISCELANEA", "461110"),
    ("r5", "GENERACION DE ENERGIA ELECTRICA", "221110"), ("r6", "CROMADO DE PIEZAS", "332810"),
    ("r7", "respuesta sin código", None),
] + [(f"h{i}", f"MAQUILA DE GALVANIZADO NUMERO {i}", "332810") for i in range(30)]


@pytest.fixture
def seeded(resources):
    lh = resources["lakehouse"].lakehouse
    lh.write(ING.silver_scian, pl.DataFrame({
        "code": [c for c, _ in SMALL_SCIAN], "title": [t for _, t in SMALL_SCIAN],
        "level": ["x"] * len(SMALL_SCIAN), "digits": [len(c) for c, _ in SMALL_SCIAN],
        "parent_code": [None] * len(SMALL_SCIAN)}, schema=ING.silver_scian.schema))
    lh.write(ING.silver_economic_activity, pl.DataFrame({
        "record_id": [r[0] for r in ACTIVITY], "batch_id": ["b1"] * len(ACTIVITY), "year": [2020] * len(ACTIVITY),
        "text": [r[1] for r in ACTIVITY], "code": [r[2] for r in ACTIVITY], "state": ["x"] * len(ACTIVITY),
        "municipality": ["y"] * len(ACTIVITY), "text_hash": [r[0] for r in ACTIVITY]},
        schema=ING.silver_economic_activity.schema))
    now = datetime.now(timezone.utc)
    lh.write(DOC.document_drafts, pl.DataFrame([{c: None for c in DOC.document_drafts.columns} | {
        "draft_id": "cli-311", "version": 1, "title": "Conociendo la industria del pan",
        "body_markdown": "## Panaderías de Tamaulipas\nEl **empleo** creció.", "created_at": now}],
        schema=DOC.document_drafts.schema))
    lh.write(DOC.published_documents, pl.DataFrame([{
        "draft_id": "cli-311", "version": 1, "title": "Conociendo la industria del pan", "sector_code": "311",
        "geo_code": "28", "geo_name": "Tamaulipas", "approved_by": "ana", "approved_at": now,
        "page_path": "/cli-311.html", "published_at": now}], schema=DOC.published_documents.schema))
    return {**resources, "embedder": EmbedderResource(backend="use")}, lh


def materialize(res):
    return dg.materialize([S.search_documents, S.search_embeddings], resources=res, raise_on_error=True)


def test_assets_write_corpus_vectors_and_checks(seeded):
    res, lh = seeded
    result = materialize(res)
    docs = lh.read(T.search_documents)
    by_type = dict(docs.group_by("doc_type").len().iter_rows())
    assert by_type["scian_class"] == 6          # 5 catalogue classes + legacy 221110 from the labelled rows
    assert by_type["document"] == 1 and by_type["table"] >= 10
    bread = docs.filter(pl.col("ref") == "311812").row(0, named=True)
    # examples: distinct descriptions, hash-held-out ones excluded; unlabelled rows never used
    assert set(bread["examples"]) <= {"PANADERIA DE BOLILLOS", "panadería de bolillos"}
    assert "respuesta sin código" not in {e for ex in docs["examples"] for e in ex}
    galv = docs.filter(pl.col("ref") == "332810")["examples"].to_list()[0]
    assert 15 < len(galv) < 31                  # ~20 % of the 31 descriptions held out
    vectors = lh.read(T.search_embeddings)
    assert set(vectors.filter(pl.col("kind") == "document")["doc_id"]) == set(docs["doc_id"])
    assert vectors["dim"].unique().to_list() == [512]
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["vectors_cover_documents"].passed
    quality = checks["search_quality_on_holdout"]
    assert quality.metadata["holdout_queries"].value >= 5
    assert 0.0 <= quality.metadata["hybrid_recall@10"].value <= 1.0
    md = result.asset_materializations_for_node("gold__search_embeddings")[0].metadata
    assert md["embedded_now"].value == vectors.height and md["dagster/row_count"].value == vectors.height

    # idempotent rerun: same rows, every vector reused
    again = materialize(res)
    md = again.asset_materializations_for_node("gold__search_embeddings")[0].metadata
    assert md["embedded_now"].value == 0 and md["reused"].value == vectors.height
    assert lh.read(T.search_embeddings).sort("vector_id")["embedding"].to_list() == \
        vectors.sort("vector_id")["embedding"].to_list()

    # the index loads back from the lakehouse without re-embedding the corpus
    index, origin = load_index(lh, res["embedder"].get_embedder(), source="lakehouse")
    assert origin.startswith("lakehouse") and index.stats.embedded == 0
    assert index.search("maquila de galvanizado", "hybrid", 1)[0].ref == "332810"  # found through its examples
    top = index.search("industria del pan tamaulipas", "bm25", 3)[0].doc_id
    assert top == "document:cli-311" or top.startswith("section:cli-311#")   # the document or one of its sections


def test_cli_query_and_errors(seeded, lakehouse_env):
    res, _ = seeded
    materialize(res)
    runner = CliRunner()
    out = runner.invoke(cli, ["query", "extraccion de carbon", "--mode", "bm25", "-k", "3", "--json",
                              "--source", "lakehouse"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["hits"][0]["ref"] == "212110" and data["index"].startswith("lakehouse")
    out = runner.invoke(cli, ["query", "   ", "--source", "lakehouse"])
    assert out.exit_code == 2 and "empty" in out.output
    out = runner.invoke(cli, ["query", "pan", "--mode", "nope"])
    assert out.exit_code == 2


def test_cli_query_from_catalog_and_missing_lakehouse(lakehouse_env, small_catalog_csv):
    runner = CliRunner()
    out = runner.invoke(cli, ["query", "panificación tradicional", "--source", "catalog", "--catalog",
                              str(small_catalog_csv), "--mode", "bm25", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["hits"][0]["ref"] == "311812"
    out = runner.invoke(cli, ["query", "pan", "--source", "lakehouse"])
    assert out.exit_code == 1 and "is empty" in out.output


def test_search_documents_needs_the_catalogue(resources):
    result = dg.materialize([S.search_documents], resources=resources, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert failure.cause.cls_name == "CorpusError" and "silver.scian_catalog is empty" in failure.cause.message
    assert resources["lakehouse"].lakehouse.read(T.search_documents).is_empty()   # nothing half-written
