"""Tables fed by ingestion: bronze (as delivered + lineage) and silver (typed, cleaned, deduplicated)."""

from __future__ import annotations

import polars as pl

from lakehouse.spec import TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
TS = pl.Datetime("us", "UTC")

# ---------------------------------------------------------------- municipalities
MUNICIPALITIES_RAW = {
    "cve_completa": U, "cve_entidad": U, "nom_entidad": U, "cve_municipio": U, "nom_municipio": U,
    "poblacion_total": I, "poblacion_femenina": I, "poblacion_masculina": I, "viviendas_habitadas": I,
    "nom_cabecera": U,
}
bronze_municipalities = TableSpec(
    "bronze", "municipalities", MUNICIPALITIES_RAW, partition_by="_source_file", lineage=True, domain="ingestion",
    description="Municipality catalogue as delivered (INEGI census 2020 figures).")
silver_municipalities = TableSpec(
    "silver", "municipalities",
    {"cve_geo": U, "cve_entidad": U, "state_name": U, "cve_municipio": U, "municipality_name": U,
     "population_total": I, "population_female": I, "population_male": I, "inhabited_dwellings": I,
     "seat_name": U},
    primary_key=("cve_geo",), domain="ingestion",
    description="Municipality catalogue: 5-digit CVE_GEO, names, municipal seat, 2020 population by sex.")

# ---------------------------------------------------------------- crime narratives (batches)
CRIME_RAW = {"record_id": U, "narrative": U, "crime_code": U, "reported_date": U, "cve_geo": U}
bronze_crime_narratives = TableSpec(
    "bronze", "crime_narratives", CRIME_RAW, partition_by="_batch_id", lineage=True, domain="ingestion",
    description="Crime narratives as delivered, one landing batch per partition.")
silver_crime_narratives = TableSpec(
    "silver", "crime_narratives",
    {"record_id": U, "batch_id": U, "narrative": U, "crime_code": U, "reported_date": pl.Date(), "cve_geo": U,
     "text_hash": U},
    primary_key=("record_id",), partition_by="batch_id", domain="ingestion",
    description="Crime narratives (free text) with the crime-type code where a coder assigned one.")

# ---------------------------------------------------------------- economic activity free text (batches)
ACTIVITY_RAW = {"record_id": U, "year": U, "text": U, "code": U, "code_title": U, "state": U, "municipality": U}
bronze_economic_activity = TableSpec(
    "bronze", "economic_activity_text", ACTIVITY_RAW, partition_by="_batch_id", lineage=True, domain="ingestion",
    description="Census / register answers describing an economic activity, as delivered.")
silver_economic_activity = TableSpec(
    "silver", "economic_activity_text",
    {"record_id": U, "batch_id": U, "year": I, "text": U, "code": U, "state": U, "municipality": U,
     "text_hash": U},
    primary_key=("record_id",), partition_by="batch_id", domain="ingestion",
    description="Free-text economic activity descriptions with the 6-digit SCIAN code where known.")

# ---------------------------------------------------------------- news (daily)
NEWS_RAW = {"id": U, "date": U, "text": U, "url": U, "title": U, "outlet": U, "cve_geo": U}
bronze_news = TableSpec(
    "bronze", "news_articles", NEWS_RAW, partition_by="date", lineage=True, domain="ingestion",
    description="News articles as delivered (one row per article and landing file).")
silver_news = TableSpec(
    "silver", "news_articles",
    {"article_id": U, "published_date": U, "cve_geo": U, "cve_geo_status": U, "outlet": U, "title": U,
     "text": U, "url": U, "text_hash": U},
    primary_key=("article_id",), partition_by="published_date", domain="ingestion",
    description="News articles, deduplicated by URL/text hash; cve_geo_status says whether the "
                "municipality is valid, missing or unknown to the catalogue.")

# ---------------------------------------------------------------- migrant shelters
SHELTERS_RAW = {"shelter_id": U, "name": U, "cve_geo": U, "capacity": U, "operator": U}
bronze_shelters = TableSpec(
    "bronze", "migrant_shelters", SHELTERS_RAW, partition_by="_source_file", lineage=True, domain="ingestion",
    description="Migrant shelters as delivered.")
silver_shelters = TableSpec(
    "silver", "migrant_shelters",
    {"shelter_id": U, "name": U, "cve_geo": U, "capacity": I, "operator": U},
    primary_key=("shelter_id",), domain="ingestion",
    description="Migrant shelters with their municipality and capacity (beds).")

# ---------------------------------------------------------------- industry statistics (SAIC export format)
bronze_industry = TableSpec(
    "bronze", "industry_stats",
    {"row_number": I, "census_year": U, "entity": U, "municipality": U, "activity": U, "variable": U, "value": U},
    partition_by="_source_file", lineage=True, domain="ingestion",
    description="Economic census export (SAIC format), unpivoted: one row per cell as delivered.")
silver_industry = TableSpec(
    "silver", "industry_stats",
    {"census_year": I, "geo_code": U, "geo_name": U, "geo_level": U, "sector_code": U, "sector_title": U,
     "employment": F, "gross_output": F, "intermediate_consumption": F, "value_added": F,
     "remuneration": F, "investment": F, "fixed_capital_formation": F, "fixed_assets": F,
     "price_index": F, "source_row": I},
    primary_key=("census_year", "geo_code", "sector_code"), domain="ingestion",
    description="Industry statistics by SCIAN sector, census year and geography (money in millions of "
                "pesos; null = confidential or not published, never imputed).")

# ---------------------------------------------------------------- SCIAN catalogue
bronze_scian = TableSpec(
    "bronze", "scian_catalog", {"codigo": U, "titulo": U, "nivel": U}, partition_by="_source_file", lineage=True, domain="ingestion",
    description="SCIAN classification as delivered.")
silver_scian = TableSpec(
    "silver", "scian_catalog",
    {"code": U, "title": U, "level": U, "digits": I, "parent_code": U},
    primary_key=("code",), domain="ingestion",
    description="SCIAN 2018 hierarchy: sector (2) > subsector (3) > rama (4) > subrama (5) > clase (6); a "
                "subsector's parent is its sector's code as the catalogue holds it (31-33 for 311).")

# ---------------------------------------------------------------- rejected records (any source)
rejected_records = TableSpec(
    "bronze", "rejected_records",
    {"source": U, "source_file": U, "record": U, "field": U, "value": U, "reason": U, "rejected_at": TS},
    primary_key=("source", "source_file", "record", "field"), domain="ingestion",
    description="Records of otherwise valid landing files that could not be ingested, or fields of them left "
                "null in silver, with the file, record, field, value as delivered and the reason (e.g. an "
                "impossible publication date, a reported date that is not YYYY-MM-DD). Nothing is dropped "
                "silently.")

TABLES: tuple[TableSpec, ...] = (
    bronze_municipalities,
    silver_municipalities,
    bronze_crime_narratives,
    silver_crime_narratives,
    bronze_economic_activity,
    silver_economic_activity,
    bronze_news,
    silver_news,
    bronze_shelters,
    silver_shelters,
    bronze_industry,
    silver_industry,
    bronze_scian,
    silver_scian,
    rejected_records,
)
