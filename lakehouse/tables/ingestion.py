"""Tables fed by ingestion: bronze (as delivered + lineage) and silver (typed, cleaned, deduplicated)."""

from __future__ import annotations

import polars as pl

from lakehouse.spec import Col, TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
TS = pl.Datetime("us", "UTC")

MUN_KEY = "5-digit INEGI municipality key CVE_GEO: state (2 digits, 01-32) + municipality (3)"

# ---------------------------------------------------------------- municipalities
bronze_municipalities = TableSpec(
    "bronze", "municipalities", {
        "cve_completa": Col(U, "Municipality key as delivered (INEGI CVE_GEO, state + municipality); silver "
                               "zero-pads it to 5 digits."),
        "cve_entidad": Col(U, "State key as delivered (INEGI, 01-32)."),
        "nom_entidad": Col(U, "State name as delivered (INEGI)."),
        "cve_municipio": Col(U, "Municipality key within its state as delivered (INEGI, 3 digits)."),
        "nom_municipio": Col(U, "Municipality name as delivered (INEGI)."),
        "poblacion_total": Col(I, "Total population, 2020 census (inhabitants); null where the file leaves it blank."),
        "poblacion_femenina": Col(I, "Female population, 2020 census (inhabitants)."),
        "poblacion_masculina": Col(I, "Male population, 2020 census (inhabitants)."),
        "viviendas_habitadas": Col(I, "Inhabited private dwellings, 2020 census."),
        "nom_cabecera": Col(U, "Name of the municipal seat (cabecera municipal) as delivered."),
    }, partition_by="_source_file", lineage=True, domain="ingestion",
    description="Municipality catalogue as delivered (INEGI census 2020 figures).")
MUNICIPALITIES_RAW = bronze_municipalities.schema
silver_municipalities = TableSpec(
    "silver", "municipalities", {
        "cve_geo": Col(U, f"{MUN_KEY}; the key every municipality code in the lakehouse is checked against."),
        "cve_entidad": Col(U, "State key (INEGI, 2 digits, zero-padded): the first two digits of cve_geo."),
        "state_name": Col(U, "State name (INEGI)."),
        "cve_municipio": Col(U, "Municipality key within its state (INEGI, 3 digits, zero-padded): the last three "
                                "digits of cve_geo."),
        "municipality_name": Col(U, "Municipality name (INEGI)."),
        "population_total": Col(I, "Total population, 2020 census (inhabitants)."),
        "population_female": Col(I, "Female population, 2020 census (inhabitants)."),
        "population_male": Col(I, "Male population, 2020 census (inhabitants)."),
        "inhabited_dwellings": Col(I, "Inhabited private dwellings, 2020 census."),
        "seat_name": Col(U, "Name of the municipal seat (cabecera municipal); null where the catalogue leaves it "
                            "blank."),
    },
    primary_key=("cve_geo",), domain="ingestion",
    description="Municipality catalogue: 5-digit CVE_GEO, names, municipal seat, 2020 population by sex.")

# ---------------------------------------------------------------- crime narratives (batches)
bronze_crime_narratives = TableSpec(
    "bronze", "crime_narratives", {
        "record_id": Col(U, "Record id as delivered; where absent or blank, <batch folder>/<file stem>:<line "
                            "number>."),
        "narrative": Col(U, "Free-text description of the reported crime, as delivered."),
        "crime_code": Col(U, "Crime-type code a coder assigned, as delivered (blank when not coded yet)."),
        "reported_date": Col(U, "Date the crime was reported, as delivered (text; silver keeps only YYYY-MM-DD "
                                "calendar days)."),
        "cve_geo": Col(U, "Municipality code (CVE_GEO) as delivered (text; silver keeps only municipality "
                          "codes)."),
    }, partition_by="_batch_id", lineage=True, domain="ingestion",
    description="Crime narratives as delivered, one landing batch per partition.")
CRIME_RAW = bronze_crime_narratives.schema
silver_crime_narratives = TableSpec(
    "silver", "crime_narratives", {
        "record_id": Col(U, "Record id (as delivered, or <batch folder>/<file stem>:<line number>); the latest "
                            "delivery of an id wins."),
        "batch_id": Col(U, "Landing batch (folder under landing/crime_narratives/, the crime_narrative_batches "
                           "partition) the record came in."),
        "narrative": Col(U, "Free-text description of the crime: Unicode NFC, whitespace collapsed; rows without "
                            "text are dropped."),
        "crime_code": Col(U, "Crime-type code (upper case) a coder assigned; null where none (the coding app codes "
                             "those, see gold.coded_records)."),
        "reported_date": Col(pl.Date(), "Date the crime was reported; null when the delivered value was not a "
                                        "calendar day YYYY-MM-DD (recorded in bronze.rejected_records)."),
        "cve_geo": Col(U, f"{MUN_KEY} (a 4-digit code is zero-padded); null when blank or not a code (recorded in "
                          "bronze.rejected_records)."),
        "text_hash": Col(U, "SHA-256 of the cleaned narrative."),
    },
    primary_key=("record_id",), partition_by="batch_id", domain="ingestion",
    description="Crime narratives (free text) with the crime-type code where a coder assigned one.")

# ---------------------------------------------------------------- economic activity free text (batches)
bronze_economic_activity = TableSpec(
    "bronze", "economic_activity_text", {
        "record_id": Col(U, "Record id as delivered; where absent or blank, <batch folder>/<file stem>:<line "
                            "number>."),
        "year": Col(U, "Year of the register answer as delivered (text: 2019, or 2019.0 from a spreadsheet)."),
        "text": Col(U, "Free-text description of the economic activity, as the respondent wrote it."),
        "code": Col(U, "SCIAN code assigned to the answer, as delivered (blank when not coded)."),
        "code_title": Col(U, "Title of the assigned SCIAN code, as delivered (not carried to silver: the SCIAN "
                             "catalogue holds the titles)."),
        "state": Col(U, "State name as delivered (free text, e.g. JALISCO)."),
        "municipality": Col(U, "Municipality name as delivered (free text)."),
    }, partition_by="_batch_id", lineage=True, domain="ingestion",
    description="Census / register answers describing an economic activity, as delivered.")
ACTIVITY_RAW = bronze_economic_activity.schema
silver_economic_activity = TableSpec(
    "silver", "economic_activity_text", {
        "record_id": Col(U, "Record id (as delivered, or <batch folder>/<file stem>:<line number>); the latest "
                            "delivery of an id wins."),
        "batch_id": Col(U, "Landing batch (folder under landing/economic_activity_text/, the "
                           "economic_activity_batches partition) the record came in."),
        "year": Col(I, "Year of the answer (YYYY); null when the delivered value was not a year (recorded in "
                       "bronze.rejected_records)."),
        "text": Col(U, "Free-text activity description: Unicode NFC, whitespace collapsed; rows without text are "
                       "dropped."),
        "code": Col(U, "6-digit SCIAN code assigned to the answer; null where not coded (the coding app codes "
                       "those, see gold.coded_records)."),
        "state": Col(U, "State name as delivered (free text, not validated)."),
        "municipality": Col(U, "Municipality name as delivered (free text, not validated)."),
        "text_hash": Col(U, "SHA-256 of the cleaned text."),
    },
    primary_key=("record_id",), partition_by="batch_id", domain="ingestion",
    description="Free-text economic activity descriptions with the 6-digit SCIAN code where known.")

# ---------------------------------------------------------------- news (daily)
bronze_news = TableSpec(
    "bronze", "news_articles", {
        "id": Col(U, "Article id as delivered by the news source."),
        "date": Col(U, "Publication day as delivered, YYYY-MM-DD (the news_daily partition); articles whose date "
                       "is not a calendar day go to bronze.rejected_records instead."),
        "text": Col(U, "Article body as delivered."),
        "url": Col(U, "Web address of the article as delivered (may be a placeholder such as '#')."),
        "title": Col(U, "Headline as delivered."),
        "outlet": Col(U, "Name of the news outlet as delivered."),
        "cve_geo": Col(U, "Municipality code (CVE_GEO) the source tagged the article with, as delivered."),
    }, partition_by="date", lineage=True, domain="ingestion",
    description="News articles as delivered (one row per article and landing file).")
NEWS_RAW = bronze_news.schema
silver_news = TableSpec(
    "silver", "news_articles", {
        "article_id": Col(U, "Article id from the source; a re-delivered id keeps its latest delivery."),
        "published_date": Col(U, "Publication day YYYY-MM-DD (the news_daily partition)."),
        "cve_geo": Col(U, f"{MUN_KEY} the source tagged; null unless cve_geo_status is valid."),
        "cve_geo_status": Col(U, "valid (in silver.municipalities), missing (blank or 00000) or unknown (a code "
                                 "the catalogue lacks)."),
        "outlet": Col(U, "Name of the news outlet."),
        "title": Col(U, "Headline of the article (as delivered)."),
        "text": Col(U, "Article body: Unicode NFC, whitespace collapsed; articles without text are dropped."),
        "url": Col(U, "Web address as delivered; articles with the same http(s) address (lower case, query and "
                      "fragment ignored) on the same day are deduplicated; placeholders such as '#' never are."),
        "text_hash": Col(U, "SHA-256 of the lower-cased cleaned text: identical texts (syndicated copies) are "
                            "kept once, also across days."),
    },
    primary_key=("article_id",), partition_by="published_date", domain="ingestion",
    description="News articles, deduplicated by URL/text hash; cve_geo_status says whether the "
                "municipality is valid, missing or unknown to the catalogue.")

# ---------------------------------------------------------------- migrant shelters
bronze_shelters = TableSpec(
    "bronze", "migrant_shelters", {
        "shelter_id": Col(U, "Shelter id as delivered."),
        "name": Col(U, "Shelter name as delivered."),
        "cve_geo": Col(U, "Municipality code (CVE_GEO) of the shelter as delivered."),
        "capacity": Col(U, "Capacity in beds as delivered (text; blank when unknown)."),
        "operator": Col(U, "Organisation that runs the shelter, as delivered (optional column)."),
    }, partition_by="_source_file", lineage=True, domain="ingestion",
    description="Migrant shelters as delivered.")
SHELTERS_RAW = bronze_shelters.schema
silver_shelters = TableSpec(
    "silver", "migrant_shelters", {
        "shelter_id": Col(U, "Shelter id; a re-delivered id keeps its latest delivery."),
        "name": Col(U, "Shelter name (whitespace collapsed)."),
        "cve_geo": Col(U, f"{MUN_KEY} where the shelter is (4-digit codes zero-padded); null when not delivered."),
        "capacity": Col(I, "Capacity in beds; null when not delivered."),
        "operator": Col(U, "Organisation that runs the shelter."),
    },
    primary_key=("shelter_id",), domain="ingestion",
    description="Migrant shelters with their municipality and capacity (beds).")

# ---------------------------------------------------------------- industry statistics (SAIC export format)
bronze_industry = TableSpec(
    "bronze", "industry_stats", {
        "row_number": Col(I, "Line number of the cell's row in the delivered SAIC file (the header is line 1)."),
        "census_year": Col(U, "'Año Censal' as delivered (economic census year, e.g. 2018)."),
        "entity": Col(U, "'Entidad' as delivered: 2-digit state key and name ('00 Total Nacional' for the "
                         "country)."),
        "municipality": Col(U, "'Municipio' as delivered: 3-digit municipality key and name; blank for state and "
                               "national rows."),
        "activity": Col(U, "'Actividad económica' as delivered (e.g. 'Sector 31-33 Industrias manufactureras'); "
                           "only 'Sector ...' rows reach silver."),
        "variable": Col(U, "SAIC variable code of the cell: H001A employment, A111A gross output, A121A "
                           "intermediate consumption, A131A value added, A211A investment, A221A fixed capital "
                           "formation, Q000A fixed assets, J000A remuneration, P000A price index."),
        "value": Col(U, "Cell value as delivered (text; blank = confidential or not published)."),
    },
    partition_by="_source_file", lineage=True, domain="ingestion",
    description="Economic census export (SAIC format), unpivoted: one row per cell as delivered.")
silver_industry = TableSpec(
    "silver", "industry_stats", {
        "census_year": Col(I, "Economic census year (the reference year of the figures)."),
        "geo_code": Col(U, "Geography key: '00' national, the 2-digit state key, or the 5-digit CVE_GEO of a "
                           "municipality."),
        "geo_name": Col(U, "Name of the country, state or municipality (key prefix removed)."),
        "geo_level": Col(U, "national | state | municipality."),
        "sector_code": Col(U, "SCIAN sector code, 2 digits or a range such as 31-33."),
        "sector_title": Col(U, "SCIAN sector title as the census export names it."),
        "employment": Col(F, "Personal ocupado total (H001A): persons employed."),
        "gross_output": Col(F, "Producción bruta total (A111A), millions of pesos."),
        "intermediate_consumption": Col(F, "Consumo intermedio (A121A), millions of pesos."),
        "value_added": Col(F, "Valor agregado censal bruto (A131A), millions of pesos."),
        "remuneration": Col(F, "Total de remuneraciones (J000A), millions of pesos."),
        "investment": Col(F, "Inversión total (A211A), millions of pesos."),
        "fixed_capital_formation": Col(F, "Formación bruta de capital fijo (A221A), millions of pesos."),
        "fixed_assets": Col(F, "Acervo total de activos fijos (Q000A), millions of pesos."),
        "price_index": Col(F, "Índice de precios productor (P000A, 2018 = 100); null when the export has no such "
                              "column."),
        "source_row": Col(I, "Line of the latest delivered SAIC row of this year, geography and sector "
                             "(bronze.industry_stats.row_number)."),
    },
    primary_key=("census_year", "geo_code", "sector_code"), domain="ingestion",
    description="Industry statistics by SCIAN sector, census year and geography (money in millions of "
                "pesos; null = confidential or not published, never imputed).")

# ---------------------------------------------------------------- SCIAN catalogue
bronze_scian = TableSpec(
    "bronze", "scian_catalog", {
        "codigo": Col(U, "SCIAN 2018 code as delivered (2-6 digits, or a sector range such as 31-33)."),
        "titulo": Col(U, "Title of the code as delivered (Spanish)."),
        "nivel": Col(U, "Level as delivered: sector, subsector, rama, subrama or clase."),
    }, partition_by="_source_file", lineage=True, domain="ingestion",
    description="SCIAN classification as delivered.")
silver_scian = TableSpec(
    "silver", "scian_catalog", {
        "code": Col(U, "SCIAN 2018 code: 2 digits (or a range such as 31-33) sector, 3 subsector, 4 rama, 5 "
                       "subrama, 6 clase."),
        "title": Col(U, "Title of the code (Spanish, whitespace collapsed)."),
        "level": Col(U, "sector | subsector | rama | subrama | clase (lower case)."),
        "digits": Col(I, "Number of digits of the code (2 for a sector range such as 31-33)."),
        "parent_code": Col(U, "Code one level up: a subsector's sector as the catalogue holds it (31-33 for 311), "
                              "else the code without its last digit; null for sectors."),
    },
    primary_key=("code",), domain="ingestion",
    description="SCIAN 2018 hierarchy: sector (2) > subsector (3) > rama (4) > subrama (5) > clase (6); a "
                "subsector's parent is its sector's code as the catalogue holds it (31-33 for 311).")

# ---------------------------------------------------------------- rejected records (any source)
rejected_records = TableSpec(
    "bronze", "rejected_records", {
        "source": Col(U, "Landing source the record came from (news, crime_narratives, economic_activity_text)."),
        "source_file": Col(U, "Landing file that delivered the record."),
        "record": Col(U, "Id of the record (article id, record_id)."),
        "field": Col(U, "Field that was refused (date, reported_date, cve_geo, year)."),
        "value": Col(U, "The refused value exactly as delivered."),
        "reason": Col(U, "Why it was refused and what happened to the record (e.g. 'not a calendar date "
                         "YYYY-MM-DD; reported_date left null, the narrative is kept')."),
        "rejected_at": Col(TS, "Ingestion time of the delivery that carried the value (UTC)."),
    },
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
