"""dbt: the documents sources and mart build over a temporary lakehouse, and their tests can fail."""

import subprocess
from pathlib import Path

import polars as pl
import pytest

from assets.documents import review
from assets.documents.service import publish
from lakehouse import Lakehouse
from lakehouse.tables import documents as T
from tests.documents.conftest import populate
from tests.support.dbt import dbt_build as run_dbt_build

pytestmark = pytest.mark.slow
SELECT = ("mart_document_status source:gold.industry_facts source:gold.document_drafts "
          "source:gold.document_reviews source:gold.published_documents")


def dbt_build(root: Path, tmp: Path) -> subprocess.CompletedProcess:
    (root / "marts").mkdir(parents=True, exist_ok=True)
    return run_dbt_build(root, tmp, SELECT.split())


def test_mart_document_status(tmp_path, sample_stats):
    root = tmp_path / "lakehouse"
    lh = Lakehouse(root)
    populate(lh, sample_stats, [("31-33", "28"), ("46", "28")])
    review.record_review(lh, "conociendo_la_industria-31-33-28", 1, "approved", "Ana")
    publish(lh)
    done = dbt_build(root, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    mart = pl.read_parquet(root / "marts" / "mart_document_status.parquet").sort("draft_id")
    assert mart.select("draft_id", "latest_status", "published_version", "approved_by", "review_rows").rows() == [
        ("conociendo_la_industria-31-33-28", "approved", 1, "Ana", 2),
        ("conociendo_la_industria-46-28", "draft", None, None, 1)]

    # a published version with an ungrounded number (written around the review rules) fails the dbt test
    drafts = lh.read(T.document_drafts).with_columns(
        pl.when(pl.col("draft_id") == "conociendo_la_industria-31-33-28").then(2).otherwise(
            pl.col("numbers_flagged")).alias("numbers_flagged"))
    lh.write(T.document_drafts, drafts, mode="overwrite")
    failed = dbt_build(root, tmp_path)
    assert failed.returncode != 0
    assert "FAIL 1 accepted_values_mart_document_status_published_flagged_numbers" in failed.stdout
