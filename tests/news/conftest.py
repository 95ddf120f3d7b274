"""Fixtures of the news tests: a tmp lakehouse with silver municipalities, shelters and news articles."""

from __future__ import annotations

import polars as pl
import pytest

from assets.ingestion.sample_data import MUNICIPALITIES
from assets.news.synthetic import synthetic_articles
from lakehouse import Lakehouse
from lakehouse.lineage import text_hash
from lakehouse.tables import ingestion as I
from resources.lakehouse import LakehouseResource


def seed_silver(lh: Lakehouse, articles: list[dict]) -> None:
    """Write silver.municipalities, silver.migrant_shelters and silver.news_articles directly."""
    lh.write(I.silver_municipalities, pl.DataFrame([{
        "cve_geo": c, "cve_entidad": c[:2], "state_name": st, "cve_municipio": c[2:], "municipality_name": mun,
        "population_total": pop, "population_female": fem, "population_male": male, "inhabited_dwellings": viv,
    } for c, st, mun, pop, fem, male, viv in MUNICIPALITIES]), mode="overwrite")
    lh.write(I.silver_shelters, pl.DataFrame({
        "shelter_id": ["ALB-1", "ALB-2", "ALB-3"], "name": ["Albergue Belén", "La 72", "Nazareth"],
        "cve_geo": ["07089", "27017" if any(m[0] == "27017" for m in MUNICIPALITIES) else "07089", "28027"],
        "capacity": [150, 80, 60], "operator": ["Iglesia", "Asociación civil", "Iglesia"]}), mode="overwrite")
    lh.write(I.silver_news, pl.DataFrame([{
        "article_id": a["id"], "published_date": a["date"], "cve_geo": a.get("cve_geo"),
        "cve_geo_status": "valid" if a.get("cve_geo") else "missing", "outlet": a.get("outlet"),
        "title": a.get("title"), "text": a["text"], "url": a.get("url"), "text_hash": text_hash(a["text"].lower()),
    } for a in articles], schema=I.silver_news.full_schema), mode="overwrite")


@pytest.fixture
def news_lake(tmp_path):
    """(LakehouseResource, articles): 40 synthetic articles, a few without a municipality."""
    articles = synthetic_articles(40, seed=11)
    for a in articles[:4]:
        a["cve_geo"] = None  # the text names the municipality: the geocoder may find it, or not
    resource = LakehouseResource(root=str(tmp_path / "lake"), landing_root=str(tmp_path / "landing"))
    seed_silver(resource.lakehouse, articles)
    return resource, articles
