"""Synthetic Spanish news articles for benchmarks and tests (built from the sample-data templates).

Deterministic for a seed; every text is distinct (a running number is part of it) so caches and
deduplication see as many texts as articles.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from assets.ingestion.sample_data import MUNICIPALITIES, NEWS_ABSENT, NEWS_PRESENT, ROUTE, SEATS

SHELTERS = [("ALB-1", "Albergue Belén", "07089", 150, "Iglesia"),
            ("ALB-2", "Casa del Migrante Nazareth", "28027", 60, "Iglesia"),
            ("ALB-3", "Albergue Frontera Digna", "05025", 80, "Asociación civil")]


def synthetic_articles(n: int, seed: int = 7, start: date = date(2026, 11, 1), days: int = 14,
                       with_cve_geo: bool = True) -> list[dict]:
    """``n`` articles ``{id, date, title, text, url, outlet, cve_geo}``; about a third mention migrant women."""
    rng = random.Random(seed)
    names = {m[0]: m[2] for m in MUNICIPALITIES}
    out = []
    for i in range(n):
        cve = rng.choice(ROUTE) if rng.random() < 0.75 else rng.choice(MUNICIPALITIES)[0]
        present = rng.random() < 0.35
        template = rng.choice(NEWS_PRESENT if present else NEWS_ABSENT)
        text = template.replace("{mun}", names[cve]).replace("{k}", str(rng.randint(2, 30)))
        text = f"{text} (Nota {i + 1}.)"
        day = (start + timedelta(days=i % days)).isoformat()
        out.append({"id": f"syn-{i:06d}", "date": day, "title": text.split(";")[0][:80], "text": text,
                    "url": f"https://noticias.example.mx/{day}/{i}", "outlet": "Sintético",
                    "cve_geo": cve if with_cve_geo else None})
    return out


def seed_silver_tables(lh, articles: list[dict]) -> None:
    """Write silver.municipalities (sample catalogue), silver.migrant_shelters and silver.news_articles
    straight into a (scratch) lakehouse, for benchmarks and tests of the news assets."""
    import polars as pl

    from lakehouse.lineage import text_hash
    from lakehouse.tables import ingestion as I

    lh.write(I.silver_municipalities, pl.DataFrame([{
        "cve_geo": c, "cve_entidad": c[:2], "state_name": st, "cve_municipio": c[2:], "municipality_name": mun,
        "population_total": pop, "population_female": fem, "population_male": male, "inhabited_dwellings": viv,
        "seat_name": SEATS.get(c, mun) or None,
    } for c, st, mun, pop, fem, male, viv in MUNICIPALITIES]), mode="overwrite")
    lh.write(I.silver_shelters, pl.DataFrame(SHELTERS, schema=list(I.silver_shelters.full_schema), orient="row"),
             mode="overwrite")
    lh.write(I.silver_news, pl.DataFrame([{
        "article_id": a["id"], "published_date": a["date"], "cve_geo": a.get("cve_geo"),
        "cve_geo_status": "valid" if a.get("cve_geo") else "missing", "outlet": a.get("outlet"),
        "title": a.get("title"), "text": a["text"], "url": a.get("url"), "text_hash": text_hash(a["text"].lower()),
    } for a in articles], schema=I.silver_news.full_schema), mode="overwrite")
