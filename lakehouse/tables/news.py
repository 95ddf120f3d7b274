"""Tables of the news domain: article locations, model answers (and their cache), agreement,
counts of migrant women/girls mentions per municipality, and the migration intensity indicator."""

from __future__ import annotations

import polars as pl

from lakehouse.spec import Col, TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
B = pl.Boolean()
TS = pl.Datetime("us", "UTC")

MUN_KEY = "5-digit INEGI municipality key CVE_GEO (state 2 digits + municipality 3)"
ARTICLE = "News article id (silver.news_articles.article_id)."
DAY = "Publication day YYYY-MM-DD of the article (silver.news_articles.published_date)."
MODEL = ("Model that answered: an Ollama model name as configured (FMLAKE_LLM_MODELS) or 'rules-es', the "
         "embedded rules extractor.")
PROMPT_VERSION = "Version of the prompt the question was asked with (assets/news/prompts.py)."
TEXT_HASH = "SHA-256 of the article's lower-cased cleaned text (silver.news_articles.text_hash)."
ANSWER = "1 = migrant women or girls are present in the article, 2 = absent, null when the answer was not valid."
STATUS = ("valid (answer parsed to 1 or 2) | invalid (the model answered something else) | failed (no answer "
          "after the retries).")
RAW = "The model's reply text as received (null when the call failed)."
INVALID_REASON = "Why an answer is invalid (e.g. not 1 or 2); null otherwise."
ERROR = "Error of a failed call after the retries (timeout, HTTP error...); null otherwise."
LATENCY = "Seconds the call took (all attempts)."
ATTEMPTS = "Calls made for this answer (1 plus retries)."
STATE_NAME = "State name (silver.municipalities)."
MUN_NAME = "Municipality name (silver.municipalities)."

article_locations = TableSpec(
    "silver", "news_article_locations", {
        "article_id": Col(U, ARTICLE),
        "published_date": Col(U, DAY),
        "cve_geo": Col(U, f"{MUN_KEY} the article is located in; null when no municipality is certain."),
        "method": Col(U, "How cve_geo was found: source (the source's valid code), name_state (a municipality "
                         "name followed by its state), alias (a known city or landmark name), name (a unique "
                         "municipality name after a locative cue such as 'en'), none."),
        "matched_text": Col(U, "The place name as it appears in the text (original spelling) that settled "
                               "cve_geo; null for source and none."),
        "candidates": Col(U, "Comma-separated CVE_GEO of every municipality the text mentions, in order of "
                             "appearance (kept for audit)."),
    },
    primary_key=("article_id",), domain="news",
    description="Municipality (CVE_GEO) of each news article: the source's valid code, else read from the "
                "text against the catalogue (name + state, alias, unique name after a locative cue); "
                "method='none' and cve_geo null when no municipality is certain.")

answer_cache = TableSpec(
    "silver", "news_answer_cache", {
        "model": Col(U, MODEL),
        "prompt_version": Col(U, PROMPT_VERSION),
        "text_hash": Col(U, TEXT_HASH),
        "prompt_hash": Col(U, "First 16 hex digits of the SHA-256 of the prompt template used (detects a "
                              "template edited without a new version)."),
        "answer": Col(I, ANSWER),
        "status": Col(U, STATUS),
        "raw": Col(U, RAW),
        "invalid_reason": Col(U, INVALID_REASON),
        "error": Col(U, ERROR),
        "latency_s": Col(F, LATENCY),
        "attempts": Col(I, ATTEMPTS),
        "answered_at": Col(TS, "When the answer was received (UTC)."),
    },
    primary_key=("model", "prompt_version", "text_hash"), domain="news",
    description="Every answer a model gave, keyed by (model, prompt version, text hash): a rerun asks a "
                "model only about texts it has not answered under that prompt version.")

llm_answers = TableSpec(
    "gold", "news_llm_answers", {
        "article_id": Col(U, ARTICLE),
        "model": Col(U, MODEL),
        "prompt_version": Col(U, PROMPT_VERSION),
        "published_date": Col(U, DAY),
        "cve_geo": Col(U, f"{MUN_KEY} of the article (silver.news_article_locations); null when unlocated."),
        "text_hash": Col(U, TEXT_HASH),
        "answer": Col(I, ANSWER),
        "status": Col(U, STATUS),
        "raw": Col(U, RAW),
        "invalid_reason": Col(U, INVALID_REASON),
        "error": Col(U, ERROR),
        "latency_s": Col(F, LATENCY + " For a cached answer, the latency of the original call."),
        "attempts": Col(I, ATTEMPTS),
        "from_cache": Col(B, "True when the answer came from silver.news_answer_cache (no model call this run)."),
        "evidence": Col(U, "The rules extractor's explanation (the words that decided); null for LLM answers and "
                           "cached ones."),
    },
    primary_key=("article_id", "model"), domain="news",
    description="One row per article and model: answer 1 (migrant women/girls present), 2 (absent) or null; "
                "status valid | invalid (answer not 1/2, raw kept) | failed (call failed after retries, "
                "error kept). The embedded rules extractor is one of the models.")

majority_vote = TableSpec(
    "gold", "news_majority_vote", {
        "article_id": Col(U, ARTICLE),
        "published_date": Col(U, DAY),
        "cve_geo": Col(U, f"{MUN_KEY} of the article; null when unlocated."),
        "n_models": Col(I, "Models that answered the article (valid or not)."),
        "n_valid": Col(I, "Models whose answer was valid (1 or 2)."),
        "votes_present": Col(I, "Valid answers 1 (migrant women or girls present)."),
        "votes_absent": Col(I, "Valid answers 2 (absent)."),
        "majority_answer": Col(I, "1 or 2, whichever has more votes; null on a tie or when no answer is valid."),
        "unanimous": Col(B, "True when every model answered validly and all gave the same answer."),
    },
    primary_key=("article_id",), domain="news",
    description="Majority vote of the models per article over their valid answers (null on a tie or when "
                "no model answered validly).")

model_agreement = TableSpec(
    "gold", "news_model_agreement", {
        "metric": Col(U, "cohen_kappa (one pair of models) | fleiss_kappa (all models)."),
        "model_a": Col(U, "First model of the pair (alphabetical); '*' for Fleiss' kappa."),
        "model_b": Col(U, "Second model of the pair; '*' for Fleiss' kappa."),
        "n_items": Col(I, "Articles compared: those both models (or, for Fleiss, all models) answered validly."),
        "observed_agreement": Col(F, "Share of the compared articles on which the models agree (0-1); null "
                                     "when there is none."),
        "kappa": Col(F, "Chance-corrected agreement (1 perfect, 0 chance level); null when undefined (no "
                        "articles, or no variation)."),
        "models": Col(U, "Comma-separated models the row covers."),
    },
    primary_key=("metric", "model_a", "model_b"), domain="news",
    description="Agreement between models on the valid answers both (or all) gave: pairwise Cohen's kappa "
                "and Fleiss' kappa (model_a = model_b = '*'). Kappa is null when undefined.")

mentions_by_municipality = TableSpec(
    "gold", "migrant_women_mentions_by_municipality", {
        "cve_geo": Col(U, f"{MUN_KEY} the articles are located in."),
        "model": Col(U, MODEL + " 'majority_vote' is the models' majority."),
        "state_name": Col(U, STATE_NAME),
        "municipality_name": Col(U, MUN_NAME),
        "n_articles": Col(I, "News articles located in the municipality."),
        "n_present": Col(I, "Articles the model says mention migrant women or girls (answer 1)."),
        "n_absent": Col(I, "Articles the model says do not (answer 2)."),
        "n_invalid": Col(I, "Articles without a valid answer (invalid or failed; for majority_vote: ties and "
                            "articles no model answered validly)."),
        "n_failed": Col(I, "Of n_invalid, the calls that failed after retries (0 for majority_vote)."),
        "share_present": Col(F, "n_present / (n_present + n_absent); null when no answer is valid."),
    },
    primary_key=("cve_geo", "model"), domain="news",
    description="Per municipality and model: news articles, answers present (1) / absent (2) / invalid "
                "(n_invalid includes n_failed, calls that failed after retries). model='majority_vote' "
                "is the models' majority.")

migration_intensity = TableSpec(
    "gold", "migration_intensity_indicator", {
        "cve_geo": Col(U, f"{MUN_KEY}; every municipality with located news or a shelter."),
        "state_name": Col(U, STATE_NAME),
        "municipality_name": Col(U, MUN_NAME),
        "population_total": Col(I, "Total population, 2020 census (inhabitants)."),
        "n_articles": Col(I, "News articles located in the municipality."),
        "n_valid_majority": Col(I, "Of them, articles with a majority answer (no tie, some valid answer)."),
        "n_present_majority": Col(I, "Articles whose majority answer is 1 (migrant women or girls present)."),
        "share_women_news": Col(F, "n_present_majority / n_valid_majority (0 when no article has a majority)."),
        "news_per_100k": Col(F, "n_articles per 100,000 inhabitants (2020 census population)."),
        "shelters": Col(I, "Migrant shelters in the municipality (silver.migrant_shelters)."),
        "shelter_capacity": Col(I, "Beds of those shelters (unknown capacity counts 0)."),
        "z_share_women_news": Col(F, "share_women_news standardised across the municipalities of the table "
                                     "(z-score; 0 when it has no spread)."),
        "z_news_per_100k": Col(F, "news_per_100k standardised (z-score)."),
        "z_shelters": Col(F, "shelters standardised (z-score)."),
        "z_shelter_capacity": Col(F, "shelter_capacity standardised (z-score)."),
        "intensity_index": Col(F, "Weighted mean of the z-scores, Σ wᵢ·zᵢ / Σ wᵢ, with the weights in weights."),
        "intensity_0_100": Col(F, "intensity_index rescaled min-max to 0-100 over the municipalities (0 for all "
                                  "when they are equal)."),
        "rank": Col(I, "Rank by intensity_index, 1 = most intense (ties by cve_geo)."),
        "weights": Col(U, "JSON of the component weights used (run config of the asset)."),
        "prompt_version": Col(U, "Prompt version(s) of the LLM answers behind the majority, comma-separated; "
                                 "'rules-only' when only the rules extractor answered."),
    },
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
