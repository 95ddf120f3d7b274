"""Synthetic Spanish news articles for benchmarks and tests (built from the sample-data templates).

Deterministic for a seed; every text is distinct (a running number is part of it) so caches and
deduplication see as many texts as articles.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from assets.ingestion.sample_data import MUNICIPALITIES, NEWS_ABSENT, NEWS_PRESENT, ROUTE


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
