"""Ingestion assets: landing -> bronze -> silver for every source of the five applications.

Bronze keeps rows as delivered plus lineage; each bronze write replaces exactly what the files read
in this run delivered (per file, per batch or per day), so reruns are idempotent and a quarantined
file leaves the rows it delivered earlier untouched (a batch or day rewrite carries them over).
Each file is typed on its own, so a value that does not fit quarantines that file, not the source.
Fields that cannot be placed (an impossible date, a year or code that is not one) are listed in
``bronze.rejected_records`` with file, record, field, value and reason.
"""


from pathlib import Path

import dagster as dg
import polars as pl

from assets.common import asset_key, table_metadata, table_result, write_table
from assets.ingestion import readers
from assets.ingestion.landing import (LandedBatch, land_files, removed_files, removed_md,
                                     with_rows_of_quarantined_files, with_rows_of_removed_files)
from lakehouse import TableSpec
from lakehouse.tables import ingestion as T
from assets.partitions import crime_narrative_batches, economic_activity_batches, news_daily
from lakehouse.batches import FINGERPRINT_KEY, batch_snapshot, ingested_fingerprint
from resources.lakehouse import LakehouseResource

GROUP = "ingestion"


def _quarantine_check(asset_key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec("no_quarantined_files", asset=asset_key,
                             description="Every landing file of this run parsed; bad files go to landing/_quarantine.")


def _conform(lakehouse: LakehouseResource, spec: TableSpec):
    return lambda df: lakehouse.lakehouse.conform(spec, df)


def _bronze_result(spec: TableSpec, lakehouse: LakehouseResource, landed: LandedBatch, written,
                   key: dg.AssetKey, extra: dict | None = None,
                   removed: dict[str, int] | None = None, removed_kept: int = 0) -> dg.MaterializeResult:
    quarantine_md = "\n".join(f"- `{q.display}`: {q.reason}" for q in landed.quarantined) or "none"
    broken_md = "\n".join(f"- `{f}`: {why}" for f, why in landed.broken_reason_files) or "none"
    check = dg.AssetCheckResult(
        asset_key=key, check_name="no_quarantined_files",
        passed=not landed.quarantined and not landed.broken_reason_files,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": len(landed.quarantined), "files_read": len(landed.files),
                  "broken_reason_files": len(landed.broken_reason_files),
                  "details": dg.MetadataValue.md(quarantine_md)},
    )
    removed = removed or {}
    return table_result(spec, lakehouse.lakehouse, written, landed.frame, check_results=[check], extra={
        "files_read": len(landed.files),
        "quarantined_files": dg.MetadataValue.md(quarantine_md),
        "broken_reason_files": dg.MetadataValue.md(broken_md),
        # deleting a landing file keeps its rows (README "Sources, partitions and automation")
        "files_removed_from_landing": len(removed),
        "rows_of_removed_files": sum(removed.values()),
        "rows_kept_from_removed_files": removed_kept,
        "removed_files": dg.MetadataValue.md(removed_md(removed)),
        **(extra or {}),
    })


def _land_whole_source(lakehouse: LakehouseResource, source: str, spec: TableSpec, patterns: tuple[str, ...],
                       parse) -> tuple[LandedBatch, object, dict[str, int]]:
    landing = lakehouse.landing
    landed = land_files(landing, source, landing.files(source, patterns), lambda p: parse(p, landing.limits),
                        batch_id=lambda p: source, conform=_conform(lakehouse, spec),
                        refused=landing.refused_files(source, patterns))
    written = None
    if landed.files:   # partitions = the files read: a removed file's rows are not touched
        written = lakehouse.lakehouse.write(spec, landed.frame, mode="partitions", partitions=landed.files)
    return landed, written, removed_files(lakehouse.lakehouse, spec, landing, source, patterns, landed)


def _bronze_whole(source: str, spec: TableSpec, patterns: tuple[str, ...], parse, doc: str):
    key = asset_key(spec)

    @dg.asset(key=key, group_name=GROUP, kinds={"delta", "polars"}, description=doc,
              metadata=table_metadata(spec), check_specs=[_quarantine_check(key)])
    def _asset(lakehouse: LakehouseResource) -> dg.MaterializeResult:
        landed, written, removed = _land_whole_source(lakehouse, source, spec, patterns, parse)
        return _bronze_result(spec, lakehouse, landed, written, key, removed=removed)

    return _asset


def _silver_whole(spec: TableSpec, bronze: TableSpec, transform, doc: str):
    @dg.asset(key=asset_key(spec), group_name=GROUP, kinds={"delta", "polars"}, description=doc,
              deps=[asset_key(bronze)], metadata=table_metadata(spec))
    def _asset(lakehouse: LakehouseResource) -> dg.MaterializeResult:
        lh = lakehouse.lakehouse
        df = transform(lh.read(bronze))
        return write_table(lh, spec, df)

    return _asset


# ---------------------------------------------------------------- whole-source tables
bronze_municipalities = _bronze_whole(
    "municipalities", T.bronze_municipalities, ("*.json",),
    lambda p, limits: readers.read_json_records(
        p, ["cve_completa", "nom_municipio"],
        [c for c in T.MUNICIPALITIES_RAW if c not in ("cve_completa", "nom_municipio")], limits=limits),
    "Municipality catalogue files (JSON list, INEGI fields) as delivered, with lineage.")
silver_municipalities = _silver_whole(
    T.silver_municipalities, T.bronze_municipalities, readers.municipalities_to_silver,
    "Municipality catalogue keyed by 5-digit CVE_GEO with 2020 population by sex: the reference every "
    "municipality code in the lakehouse is validated against.")

bronze_shelters = _bronze_whole(
    "migrant_shelters", T.bronze_shelters, ("*.csv",),
    lambda p, limits: readers.read_csv(p, ["shelter_id", "name", "cve_geo", "capacity"], ["operator"],
                                       limits=limits),
    "Migrant shelter lists (CSV) as delivered, with lineage.")
silver_shelters = _silver_whole(
    T.silver_shelters, T.bronze_shelters, readers.shelters_to_silver,
    "Migrant shelters with their municipality (CVE_GEO) and capacity in beds.")

bronze_industry = _bronze_whole(
    "industry_stats", T.bronze_industry, ("*.csv",), lambda p, limits: readers.read_saic(p, limits=limits),
    "Economic census exports (INEGI SAIC format), one row per delivered cell, with lineage.")
silver_industry = _silver_whole(
    T.silver_industry, T.bronze_industry, readers.industry_to_silver,
    "Industry statistics by SCIAN sector, census year and geography (national, state, municipality). "
    "Blank cells in the source are confidential and stay null.")

bronze_scian = _bronze_whole(
    "scian_catalog", T.bronze_scian, ("*.csv",),
    lambda p, limits: readers.read_csv(p, ["codigo", "titulo", "nivel"], limits=limits),
    "SCIAN classification files (codigo, titulo, nivel) as delivered.")
silver_scian = _silver_whole(
    T.silver_scian, T.bronze_scian, readers.scian_to_silver,
    "SCIAN hierarchy with levels and parent codes, the catalogue the coding and search apps use.")


# ---------------------------------------------------------------- batch sources (dynamic partitions)
def _batch_assets(source: str, bronze: TableSpec, silver: TableSpec, partitions, required, optional,
                  transform, bronze_doc: str, silver_doc: str, id_col: str):
    bkey = asset_key(bronze)

    @dg.asset(key=bkey, group_name=GROUP, kinds={"delta", "polars"}, partitions_def=partitions,
              description=bronze_doc, metadata=table_metadata(bronze), check_specs=[_quarantine_check(bkey)])
    def _bronze(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        batch = context.partition_key
        landing = lakehouse.landing
        before = batch_snapshot(landing, source, batch)   # taken before reading: see ingested_fingerprint
        files = landing.files(source, ("*.csv",), batch=batch)
        landed = land_files(landing, source, files,
                            lambda p: readers.read_csv(p, required, optional, fill_id=id_col, limits=landing.limits),
                            batch_id=lambda p: batch, conform=_conform(lakehouse, bronze),
                            refused=landing.refused_files(source, ("*.csv",), batch=batch))
        frame = landed.frame if landed.files else bronze.empty()
        # the batch is rewritten whole: a quarantined file's earlier rows are carried over, not deleted
        frame, kept = with_rows_of_quarantined_files(lakehouse.lakehouse, bronze, landing, source, landed, frame,
                                                     [batch])
        # and so are the rows of a file deleted from landing (one rule for every source)
        removed = removed_files(lakehouse.lakehouse, bronze, landing, source, ("*.csv",), landed)
        frame, removed_kept = with_rows_of_removed_files(lakehouse.lakehouse, bronze, frame, [batch], removed)
        written = lakehouse.lakehouse.write(bronze, frame, mode="partitions", partitions=[batch])
        landed.frame = frame
        # the landing sensor adopts a batch whose current files this materialization read (no second run)
        fingerprint = ingested_fingerprint(landing, source, batch, before,
                                           [q.original for q in landed.quarantined])
        return _bronze_result(bronze, lakehouse, landed, written, bkey, removed=removed, removed_kept=removed_kept,
                              extra={"rows_kept_from_quarantined_files": kept,
                                     **({FINGERPRINT_KEY: fingerprint} if fingerprint else {})})

    @dg.asset(key=asset_key(silver), group_name=GROUP, kinds={"delta", "polars"}, partitions_def=partitions,
              deps=[bkey], description=silver_doc, metadata=table_metadata(silver))
    def _silver(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
        batch = context.partition_key
        lh = lakehouse.lakehouse
        rows = lh.read(bronze).filter(pl.col("_batch_id") == batch)
        if rows.height:
            df, rejects = transform(rows)
        else:
            df, rejects = silver.empty(), pl.DataFrame(schema=readers.REJECTS_SCHEMA)
        written = lh.write(silver, df, mode="partitions", partitions=[batch])
        rejected = record_rejects(lakehouse, source, rejects)
        return table_result(silver, lh, written, df, extra={
            "rejected_fields": len(rejects), "rejected_records": dg.MetadataValue.md(rejected or "none")})

    return _bronze, _silver


bronze_crime, silver_crime = _batch_assets(
    "crime_narratives", T.bronze_crime_narratives, T.silver_crime_narratives, crime_narrative_batches,
    ["record_id", "narrative"], ["crime_code", "reported_date", "cve_geo"], readers.crime_narratives_to_silver,
    "Crime narrative batches (CSV) as delivered, one dynamic partition per landing batch folder.",
    "Crime narratives, cleaned and deduplicated by record id, with the crime-type code where a coder gave one.",
    id_col="record_id")

bronze_activity, silver_activity = _batch_assets(
    "economic_activity_text", T.bronze_economic_activity, T.silver_economic_activity, economic_activity_batches,
    ["text"], ["year", "code", "code_title", "state", "municipality"],
    readers.economic_activity_to_silver,
    "Economic-activity free-text batches (census/register CSV) as delivered, one partition per batch.",
    "Economic-activity descriptions with the 6-digit SCIAN code where known (the coding app's input).",
    id_col="record_id")


# ---------------------------------------------------------------- news (daily partitions)
NEWS_KEY = asset_key(T.bronze_news)


@dg.asset(key=NEWS_KEY, group_name=GROUP, kinds={"delta", "polars"}, partitions_def=news_daily,
          backfill_policy=dg.BackfillPolicy.single_run(), metadata=table_metadata(T.bronze_news),
          check_specs=[_quarantine_check(NEWS_KEY)])
def bronze_news_articles(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """News articles (JSON lists of {id, date, text, url, ...}) as delivered, one partition per publication day.

    A run may cover a range of days (single-run backfill); each day present is rewritten whole.
    """
    days = set(context.partition_keys)
    landing = lakehouse.landing
    landed = land_files(
        landing, "news", landing.files("news", ("*.json",)),
        lambda p: readers.read_json_records(p, ["id", "date", "text"], ["url", "title", "outlet", "cve_geo"],
                                            limits=landing.limits),
        batch_id=lambda p: Path(p).stem, conform=_conform(lakehouse, T.bronze_news),
        refused=landing.refused_files("news", ("*.json",)))
    valid, invalid = readers.split_invalid_dates(landed.frame, "date") if landed.files else (
        T.bronze_news.empty(), T.bronze_news.empty())
    frame = valid.filter(pl.col("date").is_in(sorted(days)))
    # each day is rewritten whole: a quarantined file's earlier articles are carried over, not deleted
    frame, kept = with_rows_of_quarantined_files(lakehouse.lakehouse, T.bronze_news, landing, "news", landed, frame,
                                                 sorted(days))
    # a day's articles from a file deleted from landing are kept, as for every source
    removed = removed_files(lakehouse.lakehouse, T.bronze_news, landing, "news", ("*.json",), landed)
    frame, removed_kept = with_rows_of_removed_files(lakehouse.lakehouse, T.bronze_news, frame, sorted(days), removed)
    landed.frame = frame
    rejected = record_rejects(lakehouse, "news", readers.field_rejects(
        invalid, "id", "date", "not a calendar date YYYY-MM-DD; the article cannot be assigned a day"))
    written = lakehouse.lakehouse.write(T.bronze_news, frame, mode="partitions", partitions=sorted(days))
    return _bronze_result(T.bronze_news, lakehouse, landed, written, NEWS_KEY, removed=removed,
                          removed_kept=removed_kept, extra={"rejected_records": dg.MetadataValue.md(rejected or "none"),
                                 "rows_kept_from_quarantined_files": kept})


def record_rejects(lakehouse: LakehouseResource, source: str, rejects: pl.DataFrame) -> str:
    """Keep rejected fields (``readers.field_rejects``) in bronze.rejected_records (upsert) and return a
    markdown list of them. A record rejected twice for the same field in one file (a repeated id) is
    kept once, its last delivery."""
    if rejects.height == 0:
        return ""
    key = ["source_file", "record", "field"]
    rejects = (rejects.sort("rejected_at", maintain_order=True).unique(key, keep="last", maintain_order=True)
               .select(pl.lit(source).alias("source"), pl.all()))
    lakehouse.lakehouse.write(T.rejected_records, rejects, mode="merge")
    return "\n".join(f"- `{r['record']}` {r['field']}={r['value']!r} ({Path(r['source_file']).name}): {r['reason']}"
                     for r in rejects.iter_rows(named=True))


@dg.asset(key=asset_key(T.silver_news), group_name=GROUP, kinds={"delta", "polars"}, partitions_def=news_daily,
          backfill_policy=dg.BackfillPolicy.single_run(),
          deps=[NEWS_KEY, asset_key(T.silver_municipalities)], metadata=table_metadata(T.silver_news))
def silver_news_articles(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """News articles by publication day, deduplicated by URL and text hash (also against earlier days),
    with the municipality CVE_GEO validated against the catalogue (``cve_geo_status``)."""
    days = sorted(context.partition_keys)
    lh = lakehouse.lakehouse
    bronze = lh.read(T.bronze_news).filter(pl.col("date").is_in(days))
    valid = set(lh.read(T.silver_municipalities, columns=["cve_geo"]).get_column("cve_geo").to_list())
    df, dropped = readers.news_to_silver(bronze, valid) if bronze.height else (T.silver_news.empty(), bronze)
    earlier = lh.read(T.silver_news, columns=["article_id", "published_date", "text_hash"]).filter(
        ~pl.col("published_date").is_in(days))
    again = df.filter(pl.col("text_hash").is_in(earlier.get_column("text_hash").implode()))
    df = df.filter(~pl.col("text_hash").is_in(earlier.get_column("text_hash").implode()))
    status = df.group_by("cve_geo_status").len().sort("cve_geo_status")
    duplicates = [f"- `{r['article_id']}` ({r['date']}, {r['url']})" for r in dropped.iter_rows(named=True)]
    duplicates += [f"- `{r['article_id']}`: same text as an article of an earlier day" for r in again.iter_rows(named=True)]
    return write_table(lh, T.silver_news, df, mode="partitions", partitions=days, extra={
        "duplicates_dropped": len(duplicates),
        "duplicates": dg.MetadataValue.md("\n".join(duplicates) or "none"),
        "cve_geo_status": dg.MetadataValue.md(_status_md(status)),
    })


def _status_md(status: pl.DataFrame) -> str:
    return "\n".join(f"- {r['cve_geo_status']}: {r['len']}" for r in status.iter_rows(named=True)) or "none"


ingestion_assets = [
    bronze_municipalities, silver_municipalities, bronze_shelters, silver_shelters, bronze_industry,
    silver_industry, bronze_scian, silver_scian, bronze_crime, silver_crime, bronze_activity, silver_activity,
    bronze_news_articles, silver_news_articles,
]
