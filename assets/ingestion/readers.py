"""Parsers for landing files (no Dagster). Each raises LandingFileError naming the file and what is wrong.

Readers return raw string columns exactly as delivered (bronze keeps the original values);
``to_silver_*`` functions type, clean and deduplicate.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import Path

import polars as pl

from lakehouse.errors import LandingFileError
from lakehouse.lineage import text_hash


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LandingFileError(path, f"cannot be read: {exc}") from None
    if not raw.strip():
        raise LandingFileError(path, "file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingFileError(path, f"not UTF-8 text (byte {exc.start})") from None


def read_csv(path: Path, required: list[str], optional: list[str] = (), fill_id: str | None = None) -> pl.DataFrame:
    """A CSV with a header; every cell kept as text; ``required`` columns must be present.

    ``fill_id`` names an id column that, where absent or blank, gets ``<folder>/<file stem>:<line number>``
    (real registers such as RETC carry no record id).
    """
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except (StopIteration, csv.Error) as exc:
        raise LandingFileError(path, f"no readable header: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise LandingFileError(path, f"missing column(s) {missing}; header is {header}")
    rows, lines = [], []
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise LandingFileError(path, f"row {line_no} has {len(row)} fields, header has {len(header)}")
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise LandingFileError(path, f"CSV syntax error near row {reader.line_num}: {exc}") from None
    cols = [c for c in dict.fromkeys([*required, *optional, *([fill_id] if fill_id else [])]) if c in header]
    idx = {c: header.index(c) for c in cols}
    data = {c: [r[idx[c]] for r in rows] for c in cols}
    for c in optional:
        if c not in data:
            data[c] = [None] * len(rows)
    if fill_id:
        data[fill_id] = [v if v and v.strip() else f"{path.parent.name}/{path.stem}:{n}"
                         for v, n in zip(data.get(fill_id, [None] * len(rows)), lines)]
    return pl.DataFrame(data, schema={c: pl.Utf8 for c in dict.fromkeys([*required, *optional, *([fill_id] if fill_id else [])])})


def read_json_records(path: Path, required: list[str], optional: list[str] = ()) -> pl.DataFrame:
    """A JSON list of objects; ``required`` keys must be present in each record."""
    try:
        records = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise LandingFileError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(records, list):
        raise LandingFileError(path, f"expected a JSON list of records, got {type(records).__name__}")
    cols = [*required, *optional]
    data: dict[str, list] = {c: [] for c in cols}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise LandingFileError(path, f"record {i} is {type(rec).__name__}, not an object")
        missing = [c for c in required if rec.get(c) in (None, "")]
        if missing:
            raise LandingFileError(path, f"record {i} (id={rec.get('id')!r}) lacks field(s) {missing}")
        for c in cols:
            v = rec.get(c)
            data[c].append(None if v is None else str(v))
    return pl.DataFrame(data, schema={c: pl.Utf8 for c in cols})


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def split_invalid_dates(df: pl.DataFrame, column: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows whose ``column`` is a real calendar day YYYY-MM-DD, the other rows)."""
    parsed = pl.col(column).str.to_date("%Y-%m-%d", strict=False)
    ok = pl.col(column).str.contains(_ISO_DAY.pattern) & parsed.is_not_null()
    return df.filter(ok), df.filter(~ok)


# ---------------------------------------------------------------- silver transforms
def clean_text(s: str | None) -> str | None:
    if s is None:
        return None
    s = unicodedata.normalize("NFC", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s or None


def _clean_col(name: str) -> pl.Expr:
    return pl.col(name).map_elements(clean_text, return_dtype=pl.Utf8)


def municipalities_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(pl.col("cve_completa").str.strip_chars().str.zfill(5).alias("cve_geo"))
    bad = df.filter(~pl.col("cve_geo").str.contains(r"^\d{5}$"))
    if bad.height:
        row = bad.row(0, named=True)
        raise LandingFileError(row["_source_file"], f"cve_completa {row['cve_completa']!r} is not a 5-digit CVE_GEO")
    return (
        df.sort("_ingested_at", descending=True).unique("cve_geo", keep="first", maintain_order=True)
        .select(
            "cve_geo",
            pl.col("cve_entidad").str.zfill(2),
            pl.col("nom_entidad").alias("state_name"),
            pl.col("cve_municipio").str.zfill(3),
            pl.col("nom_municipio").alias("municipality_name"),
            pl.col("poblacion_total").alias("population_total"),
            pl.col("poblacion_femenina").alias("population_female"),
            pl.col("poblacion_masculina").alias("population_male"),
            pl.col("viviendas_habitadas").alias("inhabited_dwellings"),
            pl.when(pl.col("nom_cabecera").str.strip_chars() == "").then(None)
            .otherwise(pl.col("nom_cabecera").str.strip_chars()).alias("seat_name"),
        ).sort("cve_geo")
    )


def crime_narratives_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(_clean_col("narrative").alias("narrative"))
    return (
        df.filter(pl.col("narrative").is_not_null())
        .with_columns(
            pl.col("_batch_id").alias("batch_id"),
            pl.when(pl.col("crime_code").str.strip_chars() == "").then(None)
            .otherwise(pl.col("crime_code").str.strip_chars().str.to_uppercase()).alias("crime_code"),
            pl.col("reported_date").str.to_date("%Y-%m-%d", strict=False),
            pl.col("narrative").map_elements(text_hash, return_dtype=pl.Utf8).alias("text_hash"),
            pl.when(pl.col("cve_geo").str.strip_chars() == "").then(None)
            .otherwise(pl.col("cve_geo").str.strip_chars().str.zfill(5)).alias("cve_geo"),
        )
        .unique("record_id", keep="last", maintain_order=True)
        .select("record_id", "batch_id", "narrative", "crime_code", "reported_date", "cve_geo", "text_hash")
    )


def economic_activity_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(_clean_col("text").alias("text"))
    return (
        df.filter(pl.col("text").is_not_null())
        .with_columns(
            pl.col("_batch_id").alias("batch_id"),
            pl.col("year").str.strip_chars().cast(pl.Int64, strict=False),
            pl.when(pl.col("code").str.strip_chars() == "").then(None)
            .otherwise(pl.col("code").str.strip_chars()).alias("code"),
            pl.col("text").map_elements(text_hash, return_dtype=pl.Utf8).alias("text_hash"),
        )
        .unique("record_id", keep="last", maintain_order=True)
        .select("record_id", "batch_id", "year", "text", "code", "state", "municipality", "text_hash")
    )


def news_to_silver(bronze: pl.DataFrame, valid_cve_geo: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed, deduplicated articles with the CVE_GEO validated, and the duplicates that were dropped.

    An article is a duplicate when (1) its id was delivered again (the latest delivery wins), (2) its
    text is identical to an earlier article's (syndicated copies), or (3) it has the same real web
    address (http/https, query and fragment ignored) and the same day as another (a re-published
    update; the latest delivery wins). Placeholder addresses such as "#" never deduplicate.
    """
    df = (
        bronze.with_columns(
            _clean_col("text").alias("text"),
            pl.col("cve_geo").str.strip_chars().str.zfill(5).alias("cve_geo"),
        )
        .filter(pl.col("text").is_not_null())
        .with_columns(
            pl.col("text").str.to_lowercase().map_elements(text_hash, return_dtype=pl.Utf8).alias("text_hash"),
            pl.when(pl.col("url").str.contains(r"^https?://[^/?#]+"))
            .then(pl.col("url").str.replace(r"[?#].*$", "").str.to_lowercase()).otherwise(None).alias("_url_key"),
        )
        .with_row_index("_order")
    )
    kept = (
        df.sort(["_ingested_at", "_order"]).unique("id", keep="last", maintain_order=True)
        .sort(["date", "id"]).unique("text_hash", keep="first", maintain_order=True)
    )
    with_url = kept.filter(pl.col("_url_key").is_not_null()).sort(["_ingested_at", "_order"]) \
        .unique(["_url_key", "date"], keep="last", maintain_order=True)
    kept = pl.concat([with_url, kept.filter(pl.col("_url_key").is_null())]).sort(["date", "id"])
    dropped = df.join(kept.select("_order"), on="_order", how="anti").select(
        pl.col("id").alias("article_id"), "date", "url", "_source_file")
    status = (
        pl.when(pl.col("cve_geo").is_null() | (pl.col("cve_geo") == "00000")).then(pl.lit("missing"))
        .when(pl.col("cve_geo").is_in(sorted(valid_cve_geo))).then(pl.lit("valid"))
        .otherwise(pl.lit("unknown"))
    )
    articles = kept.select(
        pl.col("id").alias("article_id"),
        pl.col("date").alias("published_date"),
        pl.when(status == "valid").then(pl.col("cve_geo")).otherwise(None).alias("cve_geo"),
        status.alias("cve_geo_status"),
        "outlet", "title", "text", "url", "text_hash",
    )
    return articles, dropped


def shelters_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(pl.col("capacity").str.strip_chars().cast(pl.Int64, strict=False).alias("cap"))
    bad = df.filter(pl.col("cap").is_null() & (pl.col("capacity").str.strip_chars() != ""))
    if bad.height:
        row = bad.row(0, named=True)
        raise LandingFileError(row["_source_file"], f"shelter {row['shelter_id']}: capacity {row['capacity']!r} "
                                                    "is not a whole number")
    return (
        df.unique("shelter_id", keep="last", maintain_order=True)
        .select("shelter_id", _clean_col("name").alias("name"), pl.col("cve_geo").str.zfill(5),
                pl.col("cap").alias("capacity"), "operator")
    )


# SAIC variable codes -> silver columns
SAIC_VARIABLES = {
    "H001A": "employment", "A111A": "gross_output", "A121A": "intermediate_consumption",
    "A131A": "value_added", "A211A": "investment", "A221A": "fixed_capital_formation",
    "Q000A": "fixed_assets", "J000A": "remuneration", "P000A": "price_index",
}
SAIC_KEYS = ["Año Censal", "Entidad", "Municipio", "Actividad económica"]


def read_saic(path: Path) -> pl.DataFrame:
    """An INEGI SAIC export, unpivoted to (row_number, census_year, entity, municipality, activity, variable, value)."""
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader)]
    missing = [c for c in SAIC_KEYS if c not in header]
    if missing:
        raise LandingFileError(path, f"not a SAIC export: missing column(s) {missing}")
    var_cols = [(i, h.split(" ", 1)[0]) for i, h in enumerate(header) if h.split(" ", 1)[0] in SAIC_VARIABLES]
    if not var_cols:
        raise LandingFileError(path, f"no known SAIC variable column (expected codes {sorted(SAIC_VARIABLES)})")
    key_idx = [header.index(c) for c in SAIC_KEYS]
    out: dict[str, list] = {k: [] for k in ["row_number", "census_year", "entity", "municipality", "activity",
                                            "variable", "value"]}
    for n, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise LandingFileError(path, f"row {n} has {len(row)} fields, header has {len(header)}")
        keys = [row[i].strip() for i in key_idx]
        for i, code in var_cols:
            out["row_number"].append(n)
            out["census_year"].append(keys[0])
            out["entity"].append(keys[1])
            out["municipality"].append(keys[2])
            out["activity"].append(keys[3])
            out["variable"].append(code)
            out["value"].append(row[i].strip())
    return pl.DataFrame(out, schema={"row_number": pl.Int64, **{k: pl.Utf8 for k in list(out)[1:]}})


_SECTOR_RE = re.compile(r"^Sector\s+(\d{2}(?:-\d{2})?)\s+(.*)$")


def industry_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    """Pivot SAIC cells back to one row per (year, geography, sector); blanks stay null (confidential)."""
    rows = bronze.filter(pl.col("activity").str.contains(r"^Sector "))
    if rows.height == 0:
        return pl.DataFrame()
    bad_year = rows.filter(~pl.col("census_year").str.contains(r"^\d{4}$"))
    if bad_year.height:
        r = bad_year.row(0, named=True)
        raise LandingFileError(r["_source_file"], f"row {r['row_number']}: census year {r['census_year']!r} invalid")
    bad_value = rows.filter((pl.col("value") != "") & pl.col("value").str.replace_all(",", "")
                            .cast(pl.Float64, strict=False).is_null())
    if bad_value.height:
        r = bad_value.row(0, named=True)
        raise LandingFileError(r["_source_file"], f"row {r['row_number']}, variable {r['variable']}: "
                                                  f"{r['value']!r} is not a number")
    ent_code = pl.col("entity").str.extract(r"^(\d{2})")
    mun_code = pl.col("municipality").str.extract(r"^(\d{3})")
    geo = rows.with_columns(
        pl.when(ent_code == "00").then(pl.lit("00"))
        .when(mun_code.is_null()).then(ent_code)
        .otherwise(ent_code + mun_code).alias("geo_code"),
        pl.when(ent_code == "00").then(pl.lit("national"))
        .when(mun_code.is_null()).then(pl.lit("state"))
        .otherwise(pl.lit("municipality")).alias("geo_level"),
        pl.when(mun_code.is_null()).then(pl.col("entity").str.replace(r"^\d{2}\s+", ""))
        .otherwise(pl.col("municipality").str.replace(r"^\d{3}\s+", "")).alias("geo_name"),
        pl.col("activity").str.extract(_SECTOR_RE.pattern, 1).alias("sector_code"),
        pl.col("activity").str.extract(_SECTOR_RE.pattern, 2).alias("sector_title"),
        pl.col("census_year").cast(pl.Int64),
        pl.when(pl.col("value") == "").then(None).otherwise(pl.col("value").str.replace_all(",", ""))
        .cast(pl.Float64).alias("num"),
        pl.col("variable").replace_strict(SAIC_VARIABLES, return_dtype=pl.Utf8).alias("column"),
    )
    wide = geo.pivot(on="column", index=["census_year", "geo_code", "geo_name", "geo_level", "sector_code",
                                         "sector_title"], values="num", aggregate_function="first")
    first_row = geo.group_by(["census_year", "geo_code", "sector_code"]).agg(pl.col("row_number").min()
                                                                             .alias("source_row"))
    wide = wide.join(first_row, on=["census_year", "geo_code", "sector_code"], how="left")
    for col in SAIC_VARIABLES.values():
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    return wide.sort(["census_year", "geo_code", "sector_code"])


def scian_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(pl.col("codigo").str.strip_chars().alias("code"))
    bad = df.filter(~pl.col("code").str.contains(r"^\d{2,6}(-\d{2})?$"))
    if bad.height:
        r = bad.row(0, named=True)
        raise LandingFileError(r["_source_file"], f"SCIAN code {r['codigo']!r} is not 2-6 digits")
    df = df.unique("code", keep="last", maintain_order=True)
    digits = pl.col("code").str.replace(r"-\d{2}$", "").str.len_chars()
    return df.select(
        "code",
        _clean_col("titulo").alias("title"),
        pl.col("nivel").str.strip_chars().str.to_lowercase().alias("level"),
        digits.cast(pl.Int64).alias("digits"),
        pl.when(digits > 2).then(pl.col("code").str.slice(0, digits - 1)).otherwise(None).alias("parent_code"),
    ).sort("code")
