"""Dagster definitions of the news domain (assets and checks; no resources).

silver.news_articles ─┬─> silver.news_article_locations ─┐
                      └─────────────────────────────────-┴─> gold.news_llm_answers (LLMs + rules, cached)
gold.news_llm_answers ─> gold.news_majority_vote, gold.news_model_agreement
                      ─> gold.migrant_women_mentions_by_municipality ─> gold.migration_intensity_indicator
                                                      (+ silver.municipalities, silver.migrant_shelters)
The work is done by plain functions in this package; this module only wires them.
"""


import json
import math

import dagster as dg
import polars as pl

from assets.common import asset_key, markdown_preview, table_metadata, table_result, write_table
from assets.news import analysis
from assets.news.extraction import AnswerCache, ArticleText, extract_answers
from assets.news.geocode import MunicipalityGeocoder
from assets.news.prompts import DEFAULT_PROMPT_VERSION, get_prompt
from assets.news.rules import RULES_MODEL
from lakehouse.tables import ingestion as I
from lakehouse.tables import news as T
from resources.lakehouse import LakehouseResource
from resources.llm import LLMResource, LLMUnavailable

GROUP = "news"

K_ARTICLES = asset_key(I.silver_news)
K_MUNICIPALITIES = asset_key(I.silver_municipalities)
K_SHELTERS = asset_key(I.silver_shelters)
K_LOCATIONS = asset_key(T.article_locations)
K_ANSWERS = asset_key(T.llm_answers)
K_MAJORITY = asset_key(T.majority_vote)
K_AGREEMENT = asset_key(T.model_agreement)
K_MENTIONS = asset_key(T.mentions_by_municipality)
K_INDICATOR = asset_key(T.migration_intensity)


def _valid_cve_check(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec("cve_geo_valid", asset=key, blocking=True,
                             description="Every non-null CVE_GEO is a municipality of silver.municipalities.")


def _cve_check_result(key: dg.AssetKey, df: pl.DataFrame, valid: set[str]) -> dg.AssetCheckResult:
    codes = df.filter(pl.col("cve_geo").is_not_null()).get_column("cve_geo")
    bad = sorted(set(codes.to_list()) - valid)
    return dg.AssetCheckResult(asset_key=key, check_name="cve_geo_valid", passed=not bad,
                               metadata={"invalid_codes": len(bad), "examples": ", ".join(bad[:10]) or "none",
                                         "rows_with_code": codes.len()})


def _municipality_codes(lh) -> set[str]:
    return set(lh.read(I.silver_municipalities, columns=["cve_geo"]).get_column("cve_geo").to_list())


# ---------------------------------------------------------------- locations
@dg.asset(key=K_LOCATIONS, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_ARTICLES, K_MUNICIPALITIES],
          metadata=table_metadata(T.article_locations), check_specs=[_valid_cve_check(K_LOCATIONS)],
          automation_condition=dg.AutomationCondition.eager())
def news_article_locations(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Municipality (CVE_GEO) of every silver news article.

    A valid code delivered with the article is kept (method ``source``); otherwise the text is read
    for a municipality of the catalogue: "Municipio, Estado" (``name_state``), a well-known city or
    landmark (``alias``: Villahermosa → Centro), or a unique municipality name after a locative cue
    (``name``). When none is certain the article stays unlocated (``none``): it still counts in the
    answers and agreement, not in the per-municipality tables.
    """
    lh = lakehouse.lakehouse
    articles = lh.read(I.silver_news, columns=["article_id", "published_date", "cve_geo", "title", "text"])
    catalogue = lh.read(I.silver_municipalities, columns=["cve_geo", "state_name", "municipality_name"])
    geocoder = MunicipalityGeocoder(catalogue.iter_rows(named=True))
    rows = []
    for r in articles.iter_rows(named=True):
        text = " ".join(t for t in (r["title"], r["text"]) if t)
        loc = geocoder.locate(text, r["cve_geo"])
        rows.append({"article_id": r["article_id"], "published_date": r["published_date"], "cve_geo": loc.cve_geo,
                     "method": loc.method, "matched_text": loc.matched, "candidates": ",".join(loc.candidates)})
    df = pl.DataFrame(rows, schema=T.article_locations.full_schema) if rows else T.article_locations.empty()
    methods = df.group_by("method").len().sort("method")
    return write_table(lh, T.article_locations, df, extra={
        "located": int(df.get_column("cve_geo").is_not_null().sum()),
        "unlocated": int(df.get_column("cve_geo").is_null().sum()),
        "methods": dg.MetadataValue.md(markdown_preview(methods, rows=10)),
    }, check_results=[_cve_check_result(K_LOCATIONS, df, set(catalogue.get_column("cve_geo").to_list()))])


# ---------------------------------------------------------------- answers
class NewsAnswersConfig(dg.Config):
    """Which models, which prompt, and when an invalid-answer rate is worth a warning."""

    prompt_version: str = DEFAULT_PROMPT_VERSION
    prompt_template: str | None = None
    models: list[str] = []
    include_rules: bool = True
    retry_failed: bool = False
    options_json: str = '{"temperature": 0}'
    invalid_rate_warn: float = 0.2
    # answers are written to silver.news_answer_cache as they arrive, in chunks of this many (or this often):
    # a run killed mid-batch loses at most one chunk and the answers in flight
    cache_flush_every: int = 50
    cache_flush_seconds: float = 5.0


def _answers_checks() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec("every_article_answered", asset=K_ANSWERS, blocking=True,
                          description="Exactly one row per silver article and model: no article silently dropped."),
        dg.AssetCheckSpec("invalid_answer_rate", asset=K_ANSWERS,
                          description="Share of invalid or failed answers per model; WARN above the threshold."),
    ]


def run_models(config: NewsAnswersConfig, llm: LLMResource) -> list[str]:
    """The models of this run: config's list, else the LLM resource's (when it has a server), plus rules."""
    models = list(config.models) or (list(llm.models) if llm.enabled else [])
    if config.include_rules and RULES_MODEL not in models:
        models.append(RULES_MODEL)
    return models


@dg.asset(key=K_ANSWERS, group_name=GROUP, kinds={"ollama", "delta", "polars"}, deps=[K_ARTICLES, K_LOCATIONS],
          metadata=table_metadata(T.llm_answers), check_specs=_answers_checks(), pool="llm")
def news_llm_answers(context: dg.AssetExecutionContext, config: NewsAnswersConfig, lakehouse: LakehouseResource,
                     llm: LLMResource) -> dg.MaterializeResult:
    """Each model's answer to the seed question — are migrant women or girls present in this news
    article? (1 yes, 2 no) — for every silver article, side by side.

    LLMs are asked through Ollama (models from config or the LLM resource); the embedded rules
    extractor (``rules-es``) is always one more model. Answers are parsed strictly (``<think>``
    blocks removed; anything but 1/2 is ``invalid`` with the raw answer kept; calls that fail after
    the retries are ``failed``) and cached by (model, prompt version, text hash) in
    ``silver.news_answer_cache`` as they arrive (in chunks, so a run killed mid-batch loses at most
    a chunk and the answers in flight): re-materialising unchanged articles makes no model call, and
    a new prompt version or model asks only what changed. The cache is shared by every Ollama host
    (``OLLAMA_HOSTS``: nothing in it is keyed by host). Before the first question every host is
    checked once: when none answers, or none has a model, the step fails at once saying so, and
    nothing is asked or written; a host that does not answer or lacks a model is logged and skipped.
    """
    lh = lakehouse.lakehouse
    prompt = get_prompt(config.prompt_version, config.prompt_template)
    models = run_models(config, llm)
    articles_df = lh.read(I.silver_news, columns=["article_id", "published_date", "text", "text_hash"])
    locations = lh.read(T.article_locations, columns=["article_id", "cve_geo"])
    articles = [ArticleText.of(r["article_id"], r["text"], r["text_hash"]) for r in articles_df.iter_rows(named=True)]
    cache = AnswerCache(lh.read(T.answer_cache))
    try:
        options = json.loads(config.options_json or "{}")
    except json.JSONDecodeError as exc:
        raise dg.Failure(f"options_json is not valid JSON: {exc}") from None
    try:
        client = llm.get_client() if any(m != RULES_MODEL for m in models) else None
        result = extract_answers(articles, models, prompt=prompt, client=client, cache=cache,
                                 retry_failed=config.retry_failed, options=options, log=context.log.info,
                                 on_answers=lambda rows: lh.write(T.answer_cache, rows, mode="merge"),
                                 flush_every=config.cache_flush_every, flush_seconds=config.cache_flush_seconds)
    except LLMUnavailable as exc:
        # no server, a server that does not answer, or a model it lacks: fail now, nothing asked or written
        raise dg.Failure(description=str(exc), metadata={
            "models": ", ".join(models), "hosts": ", ".join(llm.host_list) if llm.enabled else "none"}) from exc
    # the cache was written as the answers came (before the answers table: if that write fails, a
    # rerun still finds every answer already paid for)
    df = result.answers.join(articles_df.select("article_id", "published_date"), on="article_id", how="left") \
        .join(locations, on="article_id", how="left").select(list(T.llm_answers.full_schema))

    expected = len(articles) * len(models)
    pairs = df.select("article_id", "model").unique().height
    missing = set(articles_df.get_column("article_id").to_list()) - set(df.get_column("article_id").to_list())
    complete = dg.AssetCheckResult(
        asset_key=K_ANSWERS, check_name="every_article_answered", passed=df.height == expected == pairs and not missing,
        metadata={"articles": len(articles), "models": len(models), "expected_rows": expected, "rows": df.height,
                  "articles_missing": len(missing)})
    rates = df.group_by("model").agg(
        (pl.col("status") != "valid").mean().alias("invalid_rate"),
        (pl.col("status") == "invalid").sum().alias("invalid"),
        (pl.col("status") == "failed").sum().alias("failed"),
        pl.len().alias("answers"),
    ).sort("model")
    over = rates.filter(pl.col("invalid_rate") > config.invalid_rate_warn)
    rate_check = dg.AssetCheckResult(
        asset_key=K_ANSWERS, check_name="invalid_answer_rate", passed=over.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"threshold": config.invalid_rate_warn,
                  "models_over_threshold": ", ".join(over.get_column("model").to_list()) or "none",
                  "max_invalid_rate": float(rates.get_column("invalid_rate").max() or 0.0),
                  "by_model": dg.MetadataValue.md(markdown_preview(rates, rows=50))})
    stats = result.summary()
    calls = int(sum(s.get("asked", 0) for m, s in result.stats.items() if m != RULES_MODEL))
    return write_table(lh, T.llm_answers, df, check_results=[complete, rate_check], extra={
        "models": ", ".join(models),
        "prompt_version": prompt.version,
        "prompt_hash": prompt.hash,
        "questions_asked": calls,
        "answers_from_cache": int(sum(s.get("cached", 0) for s in result.stats.values())),
        "seconds": round(result.seconds, 3),
        "by_model": dg.MetadataValue.md(markdown_preview(stats, rows=50)),
        "client_stats": dg.MetadataValue.json(client.stats if client else {}),
        "hosts": dg.MetadataValue.json(client.host_status() if client else []),
        "host_problems": "; ".join(client.host_problems) if client and client.host_problems else "none",
    })


# ---------------------------------------------------------------- majority vote and agreement
@dg.asset(key=K_MAJORITY, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_ANSWERS, K_LOCATIONS],
          metadata=table_metadata(T.majority_vote), automation_condition=dg.AutomationCondition.eager(),
          check_specs=[dg.AssetCheckSpec("every_article_voted", asset=K_MAJORITY, blocking=True,
                                         description="One majority row per located-or-not silver article.")])
def news_majority_vote(lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Per article, the models' votes over their valid answers and the majority (null on a tie or
    when no model answered validly); ``unanimous`` when every model answered and all agree."""
    lh = lakehouse.lakehouse
    answers = lh.read(T.llm_answers, columns=["article_id", "model", "answer"])
    locations = lh.read(T.article_locations, columns=["article_id", "published_date", "cve_geo"])
    df = analysis.majority_vote(answers, locations)
    check = dg.AssetCheckResult(asset_key=K_MAJORITY, check_name="every_article_voted",
                                passed=df.height == locations.height,
                                metadata={"articles": locations.height, "rows": df.height})
    dist = df.group_by("majority_answer").len().sort("majority_answer")
    return write_table(lh, T.majority_vote, df, check_results=[check], extra={
        "majority_distribution": dg.MetadataValue.md(markdown_preview(dist)),
        "ties_or_no_valid": int(df.get_column("majority_answer").is_null().sum()),
    })


@dg.asset(key=K_AGREEMENT, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_ANSWERS],
          metadata=table_metadata(T.model_agreement), automation_condition=dg.AutomationCondition.eager())
def news_model_agreement(lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """How much the models agree: Cohen's kappa for every pair (over articles both answered validly)
    and Fleiss' kappa over the articles every model answered validly."""
    lh = lakehouse.lakehouse
    answers = lh.read(T.llm_answers, columns=["article_id", "model", "answer"])
    df = analysis.model_agreement(answers)
    fleiss = df.filter(pl.col("metric") == "fleiss_kappa")
    kappa = fleiss.get_column("kappa")[0] if fleiss.height else None
    return write_table(lh, T.model_agreement, df, preview=df.sort("metric", "kappa"), extra={
        "fleiss_kappa": dg.MetadataValue.float(float(kappa)) if kappa is not None else "undefined",
    })


# ---------------------------------------------------------------- per municipality
@dg.asset(key=K_MENTIONS, group_name=GROUP, kinds={"delta", "polars"},
          deps=[K_ANSWERS, K_MAJORITY, K_LOCATIONS, K_MUNICIPALITIES],
          metadata=table_metadata(T.mentions_by_municipality), automation_condition=dg.AutomationCondition.eager(),
          check_specs=[_valid_cve_check(K_MENTIONS),
                       dg.AssetCheckSpec("located_articles_accounted", asset=K_MENTIONS, blocking=True,
                                         description="For every model, the counts add up to the located "
                                                     "articles (n_present + n_absent + n_invalid = n_articles).")])
def migrant_women_mentions_by_municipality(lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """The seed's table: per municipality (CVE_GEO) and model, news articles and how many the model
    says mention migrant women or girls (n_present), do not (n_absent), or could not tell (n_invalid,
    failed calls included) — with the majority vote as one more model. The metadata shows the wide
    view (one column per model), also published as a dbt mart."""
    lh = lakehouse.lakehouse
    answers = lh.read(T.llm_answers, columns=["article_id", "model", "answer", "status"])
    majority = lh.read(T.majority_vote, columns=["article_id", "majority_answer", "n_valid"])
    locations = lh.read(T.article_locations, columns=["article_id", "cve_geo"])
    municipalities = lh.read(I.silver_municipalities, columns=["cve_geo", "state_name", "municipality_name"])
    df = analysis.mentions_by_municipality(answers, majority, locations, municipalities)
    located = int(locations.get_column("cve_geo").is_not_null().sum())
    per_model = df.group_by("model").agg(pl.col("n_articles").sum(),
                                         (pl.col("n_present") + pl.col("n_absent") + pl.col("n_invalid")).sum()
                                         .alias("counted"))
    bad = per_model.filter((pl.col("n_articles") != located) | (pl.col("counted") != located))
    n_models = answers.get_column("model").n_unique() + 1 if answers.height else 0
    accounted = dg.AssetCheckResult(
        asset_key=K_MENTIONS, check_name="located_articles_accounted",
        passed=bad.height == 0 and (located == 0 or per_model.height == n_models),
        metadata={"located_articles": located, "unlocated_articles": locations.height - located,
                  "models": per_model.height, "models_off": ", ".join(bad.get_column("model").to_list()) or "none"})
    wide = analysis.mentions_wide(df)
    return write_table(lh, T.mentions_by_municipality, df, check_results=[
        _cve_check_result(K_MENTIONS, df, set(municipalities.get_column("cve_geo").to_list())), accounted,
    ], extra={
        "municipalities": df.get_column("cve_geo").n_unique(),
        "unlocated_articles": locations.height - located,
        "wide_view": dg.MetadataValue.md(markdown_preview(wide, rows=20, max_chars=30)),
    })


# ---------------------------------------------------------------- indicator
class IndicatorConfig(dg.Config):
    """Weights of the standardised components of the index (>= 0, not all 0) and the chart size."""

    w_share_women_news: float = 0.4
    w_news_per_100k: float = 0.3
    w_shelters: float = 0.15
    w_shelter_capacity: float = 0.15
    chart_top_n: int = 15


@dg.asset(key=K_INDICATOR, group_name=GROUP, kinds={"delta", "polars", "matplotlib"},
          deps=[K_MAJORITY, K_MENTIONS, K_LOCATIONS, K_MUNICIPALITIES, K_SHELTERS],
          metadata=table_metadata(T.migration_intensity), automation_condition=dg.AutomationCondition.eager(),
          check_specs=[_valid_cve_check(K_INDICATOR),
                       dg.AssetCheckSpec("index_finite", asset=K_INDICATOR,
                                         description="Every index value and component is a finite number.")])
def migration_intensity_indicator(config: IndicatorConfig, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """News-based migration intensity per municipality (CVE_GEO).

    Components, each z-scored across the municipalities with news or shelters: the majority-vote
    share of news mentioning migrant women or girls, news articles per 100,000 inhabitants (2020
    census), migrant shelters and their beds. ``intensity_index`` is their weighted mean (weights
    in run config, stored in ``weights``); ``intensity_0_100`` rescales it; components are kept.
    The chart shows the top municipalities and, for them, what each model found.
    """
    lh = lakehouse.lakehouse
    weights = analysis.IndicatorWeights(config.w_share_women_news, config.w_news_per_100k, config.w_shelters,
                                        config.w_shelter_capacity)
    try:
        weights.validate()
    except ValueError as exc:
        raise dg.Failure(str(exc)) from None
    majority = lh.read(T.majority_vote, columns=["article_id", "majority_answer"])
    locations = lh.read(T.article_locations, columns=["article_id", "cve_geo"])
    municipalities = lh.read(I.silver_municipalities,
                             columns=["cve_geo", "state_name", "municipality_name", "population_total"])
    shelters = lh.read(I.silver_shelters, columns=["cve_geo", "capacity"])
    prompt_versions = lh.read(T.llm_answers, columns=["model", "prompt_version"]).filter(
        pl.col("model") != RULES_MODEL).get_column("prompt_version").unique().sort().to_list()
    df = analysis.migration_intensity(majority, locations, municipalities, shelters, weights,
                                      ",".join(prompt_versions) or "rules-only")
    written = lh.write(T.migration_intensity, df, mode="overwrite")
    mentions = lh.read(T.mentions_by_municipality, columns=["cve_geo", "model", "n_present"])
    extra = {"weights": dg.MetadataValue.json(weights.as_dict())}
    if df.height:
        with lh.artifacts.directory("news", "charts") as charts:   # <root>/news/charts, local or object store
            chart = analysis.intensity_chart(df, mentions, charts / "migration_intensity.png",
                                             top_n=config.chart_top_n)
            extra["chart"] = dg.MetadataValue.md(analysis.png_markdown(chart, "migration intensity"))
            extra["chart_path"] = dg.MetadataValue.path(lh.artifacts.location(chart))
    numeric = ["share_women_news", "news_per_100k", "z_share_women_news", "z_news_per_100k", "z_shelters",
               "z_shelter_capacity", "intensity_index", "intensity_0_100"]
    not_finite = sum(1 for row in df.select(numeric).iter_rows() for v in row if v is None or not math.isfinite(v))
    finite = dg.AssetCheckResult(asset_key=K_INDICATOR, check_name="index_finite", passed=not_finite == 0,
                                 metadata={"non_finite_values": not_finite})
    return table_result(T.migration_intensity, lh, written, df, preview=df.sort("rank"), extra=extra,
                        check_results=[_cve_check_result(K_INDICATOR, df, _municipality_codes(lh)), finite])


defs = dg.Definitions(
    assets=[news_article_locations, news_llm_answers, news_majority_vote, news_model_agreement,
            migrant_women_mentions_by_municipality, migration_intensity_indicator],
)
