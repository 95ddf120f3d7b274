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
from lakehouse.landing import ReadLimits
from lakehouse.lineage import text_hash
from lakehouse.tables import ingestion as T


def _read_text(path: Path, limits: ReadLimits | None = None) -> str:
    limits = limits or ReadLimits()
    try:
        size = path.stat().st_size
        if size > limits.max_file_bytes:
            raise LandingFileError(path, f"file is {size:,} bytes, more than the limit of {limits.max_file_bytes:,} "
                                         "(FMLAKE_MAX_LANDING_FILE_MB); split it or raise the limit")
        with path.open("rb") as f:
            raw = f.read(limits.max_file_bytes + 1)
    except OSError as exc:
        raise LandingFileError(path, f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > limits.max_file_bytes:
        raise LandingFileError(path, f"file grew past the limit of {limits.max_file_bytes:,} bytes while read")
    if not raw.strip():
        raise LandingFileError(path, "file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingFileError(path, f"not UTF-8 text (byte {exc.start})") from None


class _FieldLimit:
    """``csv.field_size_limit`` set to the limit while a file is read (the csv module's limit is global)."""

    def __init__(self, limit: int):
        self.limit = limit

    def __enter__(self):
        self.before = csv.field_size_limit(self.limit)

    def __exit__(self, *exc):
        csv.field_size_limit(self.before)


def _csv_rows(path: Path, reader, limits: ReadLimits):
    """Rows of ``reader`` with their line, bounded: a field past the limit or too many rows fail the file."""
    n = 0
    with _FieldLimit(limits.max_field_chars):
        try:
            for row in reader:
                n += 1
                if n > limits.max_records:
                    raise LandingFileError(path, f"more than {limits.max_records:,} rows "
                                                 "(FMLAKE_MAX_RECORDS_PER_FILE); split the file")
                yield row
        except csv.Error as exc:
            msg = str(exc)
            if "field larger than field limit" in msg:
                raise LandingFileError(path, f"a field near row {reader.line_num} is longer than "
                                             f"{limits.max_field_chars:,} characters (FMLAKE_MAX_FIELD_CHARS)") from None
            raise LandingFileError(path, f"CSV syntax error near row {reader.line_num}: {msg}") from None


def read_csv(path: Path, required: list[str], optional: list[str] = (), fill_id: str | None = None,
             limits: ReadLimits | None = None) -> pl.DataFrame:
    """A CSV with a header; every cell kept as text; ``required`` columns must be present.

    ``fill_id`` names an id column that, where absent or blank, gets ``<folder>/<file stem>:<line number>``
    (real registers such as RETC carry no record id). ``limits`` bound the file size, a field and the rows.
    """
    limits = limits or ReadLimits()
    text = _read_text(path, limits)
    reader = csv.reader(io.StringIO(text))
    rows_of = _csv_rows(path, reader, limits)
    try:
        header = [h.strip() for h in next(rows_of)]
    except StopIteration as exc:
        raise LandingFileError(path, f"no readable header: {exc}") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise LandingFileError(path, f"missing column(s) {missing}; header is {header}")
    rows, lines = [], []
    for line_no, row in enumerate(rows_of, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise LandingFileError(path, f"row {line_no} has {len(row)} fields, header has {len(header)}")
        _refuse_repeated_header(path, row, header, reader.line_num)
        rows.append(row)
        lines.append(reader.line_num)
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


def _refuse_repeated_header(path: Path, row: list[str], header: list[str], line: int) -> None:
    """A line equal to the header (two exports joined into one file) is not a record: the file is refused,
    naming the line, rather than the header being ingested as data (text="text", code="code")."""
    if [c.strip().lstrip("\ufeff") for c in row] == header:
        raise LandingFileError(path, f"line {line} repeats the header (files joined together?); "
                                     "remove that line and deliver the file again")


def json_depth(value, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counted without recursion and stopping past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def read_json_records(path: Path, required: list[str], optional: list[str] = (),
                      limits: ReadLimits | None = None) -> pl.DataFrame:
    """A JSON list of objects; ``required`` keys must be present in each record.

    A blank value ("" or spaces: e.g. a confidential census figure) is read as null, like a missing key,
    so a numeric column still converts; every other value is kept as its text. ``limits`` bound the file
    size, the nesting (a file nested deeper than Python's parser can go fails the file, not the run), the
    records and the length of one value."""
    limits = limits or ReadLimits()
    text = _read_text(path, limits)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LandingFileError(path, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise LandingFileError(path, "JSON nested too deeply to parse (more levels than the parser allows; "
                                     f"records may nest at most {limits.max_json_depth})") from None
    if not isinstance(records, list):
        raise LandingFileError(path, f"expected a JSON list of records, got {type(records).__name__}")
    depth = json_depth(records, limits.max_json_depth)
    if depth > limits.max_json_depth:
        raise LandingFileError(path, f"JSON nested more than {limits.max_json_depth} levels (FMLAKE_MAX_JSON_DEPTH)")
    if len(records) > limits.max_records:
        raise LandingFileError(path, f"{len(records):,} records, more than {limits.max_records:,} "
                                     "(FMLAKE_MAX_RECORDS_PER_FILE); split the file")
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
            text = None if v is None or (isinstance(v, str) and not v.strip()) else str(v)
            if text is not None and len(text) > limits.max_field_chars:
                raise LandingFileError(path, f"record {i} field {c!r} is {len(text):,} characters, more than "
                                             f"{limits.max_field_chars:,} (FMLAKE_MAX_FIELD_CHARS)")
            data[c].append(text)
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


def _stripped(name: str) -> pl.Expr:
    """The column's text without surrounding spaces; blank -> null."""
    s = pl.col(name).str.strip_chars()
    return pl.when(s == "").then(None).otherwise(s)


def cve_geo(name: str) -> pl.Expr:
    """A delivered municipality code as a 5-digit CVE_GEO (null where blank or not a code).

    Spaces are stripped and a 4-digit code is zero-padded: CVE_GEO is state (2 digits, 01-32) +
    municipality (3), so a 4-digit code is one whose state's leading zero a spreadsheet dropped
    (9015 is 09015). Anything else is not a code: callers reject it, naming the value."""
    s = _stripped(name)
    return (pl.when(s.str.contains(r"^\d{5}$")).then(s)
            .when(s.str.contains(r"^\d{4}$")).then(s.str.zfill(5))
            .otherwise(None))


def _latest(df: pl.DataFrame, key: str | list[str], *order: str) -> pl.DataFrame:
    """One row per ``key``: the latest delivery wins, whatever order the rows were read in.

    Rows are ordered by ingestion time, then source file, then ``order`` (e.g. the row number) and,
    last, the order within the file; the last of each key is kept."""
    by = [c for c in ("_ingested_at", "_source_file", *order) if c in df.columns]
    if by:
        df = df.sort(by, maintain_order=True)
    return df.unique(key, keep="last", maintain_order=True)


REJECTS_SCHEMA = {"source_file": pl.Utf8, "record": pl.Utf8, "field": pl.Utf8, "value": pl.Utf8,
                  "reason": pl.Utf8, "rejected_at": pl.Datetime("us", "UTC")}


def field_rejects(rows: pl.DataFrame, id_col: str, field: str, reason: str) -> pl.DataFrame:
    """``rows`` as rejected fields (``bronze.rejected_records`` without its ``source``): file, record,
    field, the value as delivered and why it was refused."""
    if rows.height == 0:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    return rows.select(
        pl.col("_source_file").alias("source_file"), pl.col(id_col).alias("record"), pl.lit(field).alias("field"),
        pl.col(field).alias("value"), pl.lit(reason).alias("reason"), pl.col("_ingested_at").alias("rejected_at"),
    ).cast(REJECTS_SCHEMA)


def municipalities_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    df = bronze.with_columns(pl.col("cve_completa").str.strip_chars().str.zfill(5).alias("cve_geo"))
    bad = df.filter(~pl.col("cve_geo").str.contains(r"^\d{5}$"))
    if bad.height:
        row = bad.row(0, named=True)
        raise LandingFileError(row["_source_file"], f"cve_completa {row['cve_completa']!r} is not a 5-digit CVE_GEO")
    return (
        _latest(df, "cve_geo")
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


def crime_narratives_to_silver(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Narratives deduplicated by record id (the latest delivery wins), and the fields that were refused.

    A ``reported_date`` that is not a calendar day YYYY-MM-DD (``05/03/2021`` is ambiguous, ``2021-02-30``
    does not exist) or a ``cve_geo`` that is not a municipality code stays null in silver and is returned
    as a rejected field (for ``bronze.rejected_records``); the narrative itself is kept."""
    df = _latest(bronze.with_columns(_clean_col("narrative").alias("narrative"))
                 .filter(pl.col("narrative").is_not_null()), "record_id")
    day = _stripped("reported_date")
    df = df.with_columns(
        pl.when(day.str.contains(_ISO_DAY.pattern)).then(day.str.to_date("%Y-%m-%d", strict=False))
        .otherwise(None).alias("_day"),
        cve_geo("cve_geo").alias("_cve_geo"),
    )
    rejects = pl.concat([
        field_rejects(df.filter(day.is_not_null() & pl.col("_day").is_null()), "record_id", "reported_date",
                      "not a calendar date YYYY-MM-DD; reported_date left null, the narrative is kept"),
        field_rejects(df.filter(_stripped("cve_geo").is_not_null() & pl.col("_cve_geo").is_null()), "record_id",
                      "cve_geo", "not a 5-digit municipality code (CVE_GEO); cve_geo left null, the narrative is kept"),
    ])
    silver = df.select(
        "record_id",
        pl.col("_batch_id").alias("batch_id"),
        "narrative",
        _stripped("crime_code").str.to_uppercase().alias("crime_code"),
        pl.col("_day").alias("reported_date"),
        pl.col("_cve_geo").alias("cve_geo"),
        pl.col("narrative").map_elements(text_hash, return_dtype=pl.Utf8).alias("text_hash"),
    )
    return silver, rejects


_YEAR = r"^\d{4}(\.0+)?$"   # 2019, or 2019.0 as a spreadsheet exports a whole number


def economic_activity_to_silver(bronze: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Descriptions deduplicated by record id (the latest delivery wins), and the fields that were refused.

    ``year`` takes ``2019`` or ``2019.0``; any other non-blank value stays null in silver and is returned
    as a rejected field (for ``bronze.rejected_records``); the text itself is kept."""
    df = _latest(bronze.with_columns(_clean_col("text").alias("text")).filter(pl.col("text").is_not_null()),
                 "record_id")
    year = _stripped("year")
    df = df.with_columns(pl.when(year.str.contains(_YEAR)).then(year.str.extract(r"^(\d{4})").cast(pl.Int64))
                         .otherwise(None).alias("_year"))
    rejects = field_rejects(df.filter(year.is_not_null() & pl.col("_year").is_null()), "record_id", "year",
                            "not a year (YYYY); year left null, the text is kept")
    silver = df.select(
        "record_id",
        pl.col("_batch_id").alias("batch_id"),
        pl.col("_year").alias("year"),
        "text",
        _stripped("code").alias("code"),
        "state", "municipality",
        pl.col("text").map_elements(text_hash, return_dtype=pl.Utf8).alias("text_hash"),
    )
    return silver, rejects


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
    """Shelters by id (the latest delivery wins). A capacity that is not a whole number or a cve_geo that is
    not a municipality code fails the transform, naming the file, shelter and value; blank stays null."""
    df = bronze.with_columns(pl.col("capacity").str.strip_chars().cast(pl.Int64, strict=False).alias("cap"),
                             cve_geo("cve_geo").alias("_cve_geo"))
    bad = df.filter(pl.col("cap").is_null() & (pl.col("capacity").str.strip_chars() != ""))
    if bad.height:
        row = bad.row(0, named=True)
        raise LandingFileError(row["_source_file"], f"shelter {row['shelter_id']}: capacity {row['capacity']!r} "
                                                    "is not a whole number")
    bad = df.filter(pl.col("_cve_geo").is_null() & _stripped("cve_geo").is_not_null())
    if bad.height:
        row = bad.row(0, named=True)
        raise LandingFileError(row["_source_file"], f"shelter {row['shelter_id']}: cve_geo {row['cve_geo']!r} "
                                                    "is not a 5-digit municipality code (CVE_GEO)")
    return (
        _latest(df, "shelter_id")
        .select("shelter_id", _clean_col("name").alias("name"), pl.col("_cve_geo").alias("cve_geo"),
                pl.col("cap").alias("capacity"), "operator")
    )


# SAIC variable codes -> silver columns
SAIC_VARIABLES = {
    "H001A": "employment", "A111A": "gross_output", "A121A": "intermediate_consumption",
    "A131A": "value_added", "A211A": "investment", "A221A": "fixed_capital_formation",
    "Q000A": "fixed_assets", "J000A": "remuneration", "P000A": "price_index",
}
SAIC_KEYS = ["Año Censal", "Entidad", "Municipio", "Actividad económica"]


def read_saic(path: Path, limits: ReadLimits | None = None) -> pl.DataFrame:
    """An INEGI SAIC export, unpivoted to (row_number, census_year, entity, municipality, activity, variable, value)."""
    limits = limits or ReadLimits()
    text = _read_text(path, limits)
    reader = csv.reader(io.StringIO(text))
    rows_of = _csv_rows(path, reader, limits)
    try:
        header = [h.strip() for h in next(rows_of)]
    except StopIteration as exc:
        raise LandingFileError(path, f"no readable header: {exc or 'the file has no lines'}") from None
    missing = [c for c in SAIC_KEYS if c not in header]
    if missing:
        raise LandingFileError(path, f"not a SAIC export: missing column(s) {missing}")
    var_cols = [(i, h.split(" ", 1)[0]) for i, h in enumerate(header) if h.split(" ", 1)[0] in SAIC_VARIABLES]
    if not var_cols:
        raise LandingFileError(path, f"no known SAIC variable column (expected codes {sorted(SAIC_VARIABLES)})")
    key_idx = [header.index(c) for c in SAIC_KEYS]
    out: dict[str, list] = {k: [] for k in ["row_number", "census_year", "entity", "municipality", "activity",
                                            "variable", "value"]}
    for n, row in enumerate(rows_of, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise LandingFileError(path, f"row {n} has {len(row)} fields, header has {len(header)}")
        _refuse_repeated_header(path, row, header, reader.line_num)
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
_INDUSTRY_KEY = ["census_year", "geo_code", "sector_code"]


def industry_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    """Pivot SAIC cells back to one row per (year, geography, sector); blanks stay null (confidential).

    A cell delivered more than once (a corrected export, a repeated row) takes the latest delivery:
    ingestion time, then source file, then row number decide, never the read order. ``source_row``
    is the row of the latest delivery of the (year, geography, sector). No sector rows: an empty table.
    """
    rows = bronze.filter(pl.col("activity").str.contains(r"^Sector "))
    if rows.height == 0:
        return T.silver_industry.empty()
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
    cells = _latest(geo, [*_INDUSTRY_KEY, "column"], "row_number")
    wide = cells.pivot(on="column", index=_INDUSTRY_KEY, values="num", aggregate_function=None)
    latest_row = _latest(geo, _INDUSTRY_KEY, "row_number").select(
        *_INDUSTRY_KEY, "geo_name", "geo_level", "sector_title", pl.col("row_number").alias("source_row"))
    wide = wide.join(latest_row, on=_INDUSTRY_KEY, how="left")
    for col in SAIC_VARIABLES.values():
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    return wide.select(T.silver_industry.columns).sort(_INDUSTRY_KEY)


_RANGE_SECTOR = re.compile(r"^(\d{2})-(\d{2})$")


def scian_to_silver(bronze: pl.DataFrame) -> pl.DataFrame:
    """The SCIAN hierarchy: one row per code (the latest delivery wins) with its parent code.

    A subsector's parent is its sector. Some SCIAN sectors span a range of two-digit prefixes (31-33
    manufacturing, 48-49 transport): subsector 311's parent is the range code the catalogue holds
    (31-33), not the bare prefix 31, which is no code; without a range code it is the 2-digit prefix.
    """
    df = bronze.with_columns(pl.col("codigo").str.strip_chars().alias("code"))
    bad = df.filter(~pl.col("code").str.contains(r"^\d{2,6}(-\d{2})?$"))
    if bad.height:
        r = bad.row(0, named=True)
        raise LandingFileError(r["_source_file"], f"SCIAN code {r['codigo']!r} is not 2-6 digits")
    df = _latest(df, "code")
    sector_of: dict[str, str] = {}
    for code in df.get_column("code").to_list():
        m = _RANGE_SECTOR.match(code)
        if m:
            for prefix in range(int(m.group(1)), int(m.group(2)) + 1):
                sector_of[f"{prefix:02d}"] = code
    digits = pl.col("code").str.replace(r"-\d{2}$", "").str.len_chars()
    prefix2 = pl.col("code").str.slice(0, 2)
    return df.select(
        "code",
        _clean_col("titulo").alias("title"),
        pl.col("nivel").str.strip_chars().str.to_lowercase().alias("level"),
        digits.cast(pl.Int64).alias("digits"),
        pl.when(digits == 3).then(prefix2.replace(sector_of))
        .when(digits > 3).then(pl.col("code").str.slice(0, digits - 1))
        .otherwise(None).alias("parent_code"),
    ).sort("code")
