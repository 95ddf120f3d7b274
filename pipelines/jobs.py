"""Asset jobs: what the schedules and sensors launch, and what a user launches from the UI."""

import dagster as dg

from assets.common import asset_key
from assets.partitions import news_daily

NEWS_KEYS = [asset_key("bronze.news_articles"), asset_key("silver.news_articles")]

# Daily news: the day's articles land -> bronze -> silver; downstream gold/indicators refresh with them.
news_daily_job = dg.define_asset_job(
    "news_daily_job",
    selection=dg.AssetSelection.assets(*NEWS_KEYS),
    partitions_def=news_daily,
    description="Ingest one day of news (landing -> bronze -> silver).",
)

news_indicator_job = dg.define_asset_job(
    "news_indicator_job",
    selection=dg.AssetSelection.groups("news"),
    description="Re-ask the LLMs for new articles and rebuild the per-municipality tables and the indicator.",
)

# Monthly recoding: retrain on the latest human codes (review feedback included) and recode.
monthly_recoding_job = dg.define_asset_job(
    "monthly_recoding_job",
    selection=dg.AssetSelection.groups("coding"),
    description="Retrain the coding models with the latest human codes and recode pending records.",
)

marts_job = dg.define_asset_job(
    "marts_and_catalog_job",
    selection=dg.AssetSelection.groups("transform"),
    description="Rebuild the dbt marts and the analysts' DuckDB catalog.",
)

reference_data_job = dg.define_asset_job(
    "reference_data_job",
    selection=dg.AssetSelection.assets(
        *[asset_key(f"{layer}.{name}") for name in ("municipalities", "migrant_shelters", "industry_stats",
                                                     "scian_catalog") for layer in ("bronze", "silver")]),
    description="Re-ingest the catalogues and statistics that are delivered whole (not in batches).",
)

jobs = [news_daily_job, news_indicator_job, monthly_recoding_job, marts_job, reference_data_job]
