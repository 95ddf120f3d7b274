"""Tables of the news domain: article locations, model answers (and their cache), agreement,
counts of migrant women/girls mentions per municipality, and the migration intensity indicator."""

from __future__ import annotations

import polars as pl

from lakehouse.spec import TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
B = pl.Boolean()
TS = pl.Datetime("us", "UTC")

article_locations = TableSpec(
    "silver", "news_article_locations",
    {"article_id": U, "published_date": U, "cve_geo": U, "method": U, "matched_text": U, "candidates": U},
    primary_key=("article_id",), domain="news",
    description="Municipality (CVE_GEO) of each news article: the source's valid code, else read from the "
                "text against the catalogue (name + state, alias, unique name after a locative cue); "
                "method='none' and cve_geo null when no municipality is certain.")

answer_cache = TableSpec(
    "silver", "news_answer_cache",
    {"model": U, "prompt_version": U, "text_hash": U, "prompt_hash": U, "answer": I, "status": U, "raw": U,
     "invalid_reason": U, "error": U, "latency_s": F, "attempts": I, "answered_at": TS},
    primary_key=("model", "prompt_version", "text_hash"), domain="news",
    description="Every answer a model gave, keyed by (model, prompt version, text hash): a rerun asks a "
                "model only about texts it has not answered under that prompt version.")

llm_answers = TableSpec(
    "gold", "news_llm_answers",
    {"article_id": U, "model": U, "prompt_version": U, "published_date": U, "cve_geo": U, "text_hash": U,
     "answer": I, "status": U, "raw": U, "invalid_reason": U, "error": U, "latency_s": F, "attempts": I,
     "from_cache": B, "evidence": U},
    primary_key=("article_id", "model"), domain="news",
    description="One row per article and model: answer 1 (migrant women/girls present), 2 (absent) or null; "
                "status valid | invalid (answer not 1/2, raw kept) | failed (call failed after retries, "
                "error kept). The embedded rules extractor is one of the models.")

majority_vote = TableSpec(
    "gold", "news_majority_vote",
    {"article_id": U, "published_date": U, "cve_geo": U, "n_models": I, "n_valid": I, "votes_present": I,
     "votes_absent": I, "majority_answer": I, "unanimous": B},
    primary_key=("article_id",), domain="news",
    description="Majority vote of the models per article over their valid answers (null on a tie or when "
                "no model answered validly).")

model_agreement = TableSpec(
    "gold", "news_model_agreement",
    {"metric": U, "model_a": U, "model_b": U, "n_items": I, "observed_agreement": F, "kappa": F,
     "models": U},
    primary_key=("metric", "model_a", "model_b"), domain="news",
    description="Agreement between models on the valid answers both (or all) gave: pairwise Cohen's kappa "
                "and Fleiss' kappa (model_a = model_b = '*'). Kappa is null when undefined.")

mentions_by_municipality = TableSpec(
    "gold", "migrant_women_mentions_by_municipality",
    {"cve_geo": U, "model": U, "state_name": U, "municipality_name": U, "n_articles": I, "n_present": I,
     "n_absent": I, "n_invalid": I, "n_failed": I, "share_present": F},
    primary_key=("cve_geo", "model"), domain="news",
    description="Per municipality and model: news articles, answers present (1) / absent (2) / invalid "
                "(n_invalid includes n_failed, calls that failed after retries). model='majority_vote' "
                "is the models' majority.")

migration_intensity = TableSpec(
    "gold", "migration_intensity_indicator",
    {"cve_geo": U, "state_name": U, "municipality_name": U, "population_total": I, "n_articles": I,
     "n_valid_majority": I, "n_present_majority": I, "share_women_news": F, "news_per_100k": F,
     "shelters": I, "shelter_capacity": I, "z_share_women_news": F, "z_news_per_100k": F, "z_shelters": F,
     "z_shelter_capacity": F, "intensity_index": F, "intensity_0_100": F, "rank": I, "weights": U,
     "prompt_version": U},
    primary_key=("cve_geo",), domain="news",
    description="News-based migration intensity per municipality: a weighted mean of standardised "
                "components (majority-vote share of news mentioning migrant women/girls, news per 100k "
                "inhabitants, shelters, shelter beds), components kept; intensity_0_100 rescales the index.")

TABLES: tuple[TableSpec, ...] = (
    article_locations,
    answer_cache,
    llm_answers,
    majority_vote,
    model_agreement,
    mentions_by_municipality,
    migration_intensity,
)
