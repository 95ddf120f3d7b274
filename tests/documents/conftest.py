"""Fixtures of the documents tests: statistics (sample and real), a lakehouse holding drafts."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from lakehouse import Lakehouse


@pytest.fixture(scope="session")
def sample_stats(tmp_path_factory) -> pl.DataFrame:
    """silver.industry_stats rows from the deterministic sample generator (has remuneration and prices)."""
    from assets.documents.service import load_census_csv
    from assets.ingestion.sample_data import write_industry_stats

    landing = tmp_path_factory.mktemp("landing")
    path = write_industry_stats(landing, random.Random(7 + 5))
    return load_census_csv(path)


@pytest.fixture(scope="session")
def real_census_path() -> Path:
    from tests.conftest import SHARED_DATA

    path = SHARED_DATA / "census" / "saic_tamaulipas_2003_2023.csv"
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture(scope="session")
def real_stats(real_census_path) -> pl.DataFrame:
    from assets.documents.service import load_census_csv

    return load_census_csv(real_census_path)


def populate(lh: Lakehouse, stats: pl.DataFrame, pairs: list[tuple[str, str]], writer=None, redraft=False):
    """Facts into gold.industry_facts and drafts for ``pairs`` saved like the drafts asset does."""
    from assets.documents import service
    from assets.documents.drafting import TemplateWriter
    from assets.documents.facts import compute_facts
    from lakehouse.tables import documents as T

    facts = compute_facts(stats, sectors=sorted({s for s, _ in pairs}))
    lh.write(T.industry_facts, facts, mode="overwrite")
    previous = {} if redraft else service.latest_drafts(lh)
    drafts = service.draft_all(facts, pairs, writer or TemplateWriter(), previous=previous)
    return service.save_drafts(lh, drafts)


@pytest.fixture
def tmp_lh(tmp_path) -> Lakehouse:
    return Lakehouse(tmp_path / "lakehouse")
