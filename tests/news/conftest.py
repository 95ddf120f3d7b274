"""Fixtures of the news tests: a tmp lakehouse with silver municipalities, shelters and news articles."""

from __future__ import annotations

import pytest

from assets.news.synthetic import seed_silver_tables, synthetic_articles
from resources.lakehouse import LakehouseResource


@pytest.fixture
def news_lake(tmp_path):
    """(LakehouseResource, articles): 40 synthetic articles, a few without a municipality."""
    articles = synthetic_articles(40, seed=11)
    for a in articles[:4]:
        a["cve_geo"] = None  # the text names the municipality: the geocoder may find it, or not
    resource = LakehouseResource(root=str(tmp_path / "lake"), landing_root=str(tmp_path / "landing"))
    seed_silver_tables(resource.lakehouse, articles)
    return resource, articles
