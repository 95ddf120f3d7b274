"""Facts per industry, geography and census year, computed from ``silver.industry_stats`` (no Dagster).

A fact is one number a document may cite, with a stable id, its unit, a Spanish label and the
source rows it comes from. Three kinds:

- levels straight from the census (employment, gross output, value added, remuneration, ...); a
  blank (confidential) census cell becomes a fact with ``status='confidential'`` and a null value
  (never estimated); a variable the source does not publish at all (e.g. remuneration in the SAIC
  export) produces no fact;
- ratios of one census row (value added per worker, intermediate consumption / gross output, ...);
- comparisons: growth between census years, shares of the national (and, for a municipality, the
  state) total of the same sector and year, and their change in percentage points, the change of
  the producer price index and real (deflated) value-added growth where the index is present.

Fact ids: ``<sector>:<geo>:<year>:<metric>`` for one year, ``<sector>:<geo>:<y0>-<y1>:<metric>``
for a change between two census years (e.g. ``31-33:28:2018-2023:employment_growth``).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Iterable

import polars as pl

SOURCE_TABLE = "silver.industry_stats"
NATIONAL = "00"

# metric -> (unit, Spanish label)
BASE_METRICS: dict[str, tuple[str, str]] = {
    "employment": ("personas", "Personal ocupado total"),
    "gross_output": ("millones de pesos", "Producción bruta total"),
    "intermediate_consumption": ("millones de pesos", "Consumo intermedio"),
    "value_added": ("millones de pesos", "Valor agregado censal bruto"),
    "remuneration": ("millones de pesos", "Total de remuneraciones"),
    "investment": ("millones de pesos", "Inversión total"),
    "fixed_capital_formation": ("millones de pesos", "Formación bruta de capital fijo"),
    "fixed_assets": ("millones de pesos", "Acervo total de activos fijos"),
    "price_index": ("índice", "Índice de precios productor"),
}
RATIO_METRICS: dict[str, tuple[str, str]] = {
    "productivity": ("pesos por persona ocupada", "Valor agregado por persona ocupada"),
    "remuneration_per_worker": ("pesos por persona ocupada", "Remuneración por persona ocupada"),
    "intermediate_share": ("%", "Consumo intermedio como porcentaje de la producción bruta"),
    "value_added_ratio": ("%", "Valor agregado como porcentaje de la producción bruta"),
    "share_national_employment": ("%", "Participación en el personal ocupado nacional del sector"),
    "share_national_value_added": ("%", "Participación en el valor agregado nacional del sector"),
    "share_national_gross_output": ("%", "Participación en la producción bruta nacional del sector"),
    "share_state_employment": ("%", "Participación en el personal ocupado estatal del sector"),
    "share_state_value_added": ("%", "Participación en el valor agregado estatal del sector"),
}
GROWTH_OF = ("employment", "gross_output", "value_added", "remuneration", "productivity",
             "remuneration_per_worker")
POINTS_OF = ("share_national_employment", "share_national_value_added", "share_state_employment")
CHANGE_METRICS: dict[str, tuple[str, str]] = {
    **{f"{m}_growth": ("%", f"Variación porcentual: {(BASE_METRICS | RATIO_METRICS)[m][1].lower()}")
       for m in GROWTH_OF},
    **{f"{m}_change": ("puntos porcentuales", f"Cambio en puntos porcentuales: "
                                              f"{RATIO_METRICS[m][1].lower()}") for m in POINTS_OF},
    "price_index_change": ("%", "Variación porcentual del índice de precios productor"),
    "value_added_real_growth": ("%", "Variación porcentual real (a precios constantes) del valor agregado"),
}
ALL_METRICS = {**BASE_METRICS, **RATIO_METRICS, **CHANGE_METRICS}

FACT_SCHEMA = {
    "fact_id": pl.Utf8, "sector_code": pl.Utf8, "sector_title": pl.Utf8, "geo_code": pl.Utf8,
    "geo_name": pl.Utf8, "geo_level": pl.Utf8, "census_year": pl.Int64, "base_year": pl.Int64,
    "metric": pl.Utf8, "value": pl.Float64, "unit": pl.Utf8, "label": pl.Utf8, "status": pl.Utf8,
    "source_table": pl.Utf8, "source_rows": pl.Utf8,
}
_SECTOR_RE = re.compile(r"^\d{2}(-\d{2})?$")


class FactsError(ValueError):
    """The statistics cannot give facts for what was asked (unknown sector or geography, bad input)."""


@dataclass(frozen=True)
class Fact:
    fact_id: str
    sector_code: str
    sector_title: str
    geo_code: str
    geo_name: str
    geo_level: str
    census_year: int
    base_year: int | None
    metric: str
    value: float | None
    unit: str
    label: str
    status: str  # published | confidential
    source_table: str
    source_rows: str

    @property
    def is_change(self) -> bool:
        """Growth / change facts: a text may state their magnitude with a verb ('disminuyó 3.2%')."""
        return self.base_year is not None

    def as_dict(self) -> dict:
        return asdict(self)


def fact_id(sector: str, geo: str, year: int, metric: str, base_year: int | None = None) -> str:
    period = f"{base_year}-{year}" if base_year is not None else str(year)
    return f"{sector}:{geo}:{period}:{metric}"


def normalize_sector(code: str, known: Iterable[str]) -> str:
    """'31-33', '31' or '32' -> '31-33' when the data has the combined sector; clear error otherwise."""
    code = code.strip()
    known = sorted(set(known))
    if code in known:
        return code
    if re.fullmatch(r"\d{2}", code):
        for k in known:
            if "-" in k:
                lo, hi = k.split("-")
                if int(lo) <= int(code) <= int(hi):
                    return k
    raise FactsError(f"sector {code!r} is not in the data; sectors available: {', '.join(known)}")


def compute_facts(stats: pl.DataFrame, sectors: Iterable[str] | None = None,
                  geo_codes: Iterable[str] | None = None) -> pl.DataFrame:
    """Every fact for the given sectors and geographies (default: all), as a frame with ``FACT_SCHEMA``.

    National and state rows are always read (they are the denominators of the shares); only the
    facts of ``geo_codes`` are returned.
    """
    need = {"census_year", "geo_code", "geo_name", "geo_level", "sector_code", "sector_title", "source_row"}
    missing = sorted(need - set(stats.columns))
    if missing:
        raise FactsError(f"industry statistics lack column(s) {missing}")
    for col in BASE_METRICS:
        if col not in stats.columns:
            stats = stats.with_columns(pl.lit(None, dtype=pl.Float64).alias(col))
    bad = stats.filter(~pl.col("sector_code").str.contains(_SECTOR_RE.pattern))
    if bad.height:
        r = bad.row(0, named=True)
        raise FactsError(f"source_row {r['source_row']}: sector code {r['sector_code']!r} is not a SCIAN sector")
    # A variable nobody published anywhere in the source is "not available", not "confidential".
    available = [m for m in BASE_METRICS if stats.get_column(m).is_not_null().any()]

    sector_set = set(sectors) if sectors is not None else None
    geo_set = set(geo_codes) if geo_codes is not None else None
    rows = stats
    if sector_set is not None:
        rows = rows.filter(pl.col("sector_code").is_in(sorted(sector_set)))
    index = {(r["sector_code"], r["geo_code"], r["census_year"]): r for r in rows.iter_rows(named=True)}

    facts: list[Fact] = []
    groups: dict[tuple[str, str], list[int]] = {}
    for (sector, geo, year) in index:
        groups.setdefault((sector, geo), []).append(year)
    for (sector, geo), years in sorted(groups.items()):
        if geo_set is not None and geo not in geo_set:
            continue
        years = sorted(years)
        per_year: dict[int, dict[str, tuple[float | None, str]]] = {}
        for year in years:
            row = index[(sector, geo, year)]
            values = _year_values(row, index, available)
            per_year[year] = values
            for metric, (value, rows_used) in values.items():
                facts.append(_fact(row, year, None, metric, value, rows_used))
        for y0, y1 in _periods(years):
            r1 = index[(sector, geo, y1)]
            for metric, value, rows_used in _changes(per_year[y0], per_year[y1]):
                facts.append(_fact(r1, y1, y0, metric, value, rows_used))
    if not facts:
        return pl.DataFrame(schema=FACT_SCHEMA)
    return pl.DataFrame([f.as_dict() for f in facts], schema=FACT_SCHEMA).sort("fact_id")


def _periods(years: list[int]) -> list[tuple[int, int]]:
    pairs = list(zip(years, years[1:]))
    if len(years) > 2:
        pairs.append((years[0], years[-1]))
    return pairs


def _year_values(row: dict, index: dict, available: list[str]) -> dict[str, tuple[float | None, str]]:
    """metric -> (value or None when confidential, source rows) for one census row."""
    sector, geo, year = row["sector_code"], row["geo_code"], row["census_year"]
    src = str(row["source_row"])
    out: dict[str, tuple[float | None, str]] = {m: (row[m], src) for m in available}

    def v(m: str) -> float | None:
        return row.get(m)

    emp, va, go, ci, rem = v("employment"), v("value_added"), v("gross_output"), v("intermediate_consumption"), \
        v("remuneration")
    if emp and va is not None and emp > 0:
        out["productivity"] = (va * 1e6 / emp, src)
    if emp and rem is not None and emp > 0:
        out["remuneration_per_worker"] = (rem * 1e6 / emp, src)
    if go and go > 0:
        if ci is not None:
            out["intermediate_share"] = (100 * ci / go, src)
        if va is not None:
            out["value_added_ratio"] = (100 * va / go, src)
    refs = []
    if geo != NATIONAL:
        refs.append(("national", index.get((sector, NATIONAL, year)),
                     ("employment", "value_added", "gross_output")))
    if row["geo_level"] == "municipality":
        refs.append(("state", index.get((sector, geo[:2], year)), ("employment", "value_added")))
    for scope, ref, metrics in refs:
        if ref is None:
            continue
        for m in metrics:
            num, den = row.get(m), ref.get(m)
            if num is not None and den is not None and den > 0:
                out[f"share_{scope}_{m}"] = (100 * num / den, _rows(src, str(ref["source_row"])))
    return out


def _changes(before: dict, after: dict):
    for m in GROWTH_OF:
        a, b = before.get(m, (None, "")), after.get(m, (None, ""))
        if a[0] is not None and b[0] is not None and a[0] > 0:
            yield f"{m}_growth", 100 * (b[0] / a[0] - 1), _rows(a[1], b[1])
    for m in POINTS_OF:
        a, b = before.get(m, (None, "")), after.get(m, (None, ""))
        if a[0] is not None and b[0] is not None:
            yield f"{m}_change", b[0] - a[0], _rows(a[1], b[1])
    p0, p1 = before.get("price_index", (None, "")), after.get("price_index", (None, ""))
    if p0[0] and p1[0] and p0[0] > 0:
        yield "price_index_change", 100 * (p1[0] / p0[0] - 1), _rows(p0[1], p1[1])
        va0, va1 = before.get("value_added", (None, "")), after.get("value_added", (None, ""))
        if va0[0] and va1[0] is not None and va0[0] > 0:
            real = (va1[0] / p1[0]) / (va0[0] / p0[0])
            yield "value_added_real_growth", 100 * (real - 1), _rows(va0[1], va1[1], p0[1], p1[1])


def _rows(*parts: str) -> str:
    rows = sorted({int(x) for p in parts for x in p.split(";") if x})
    return ";".join(str(r) for r in rows)


def _fact(row: dict, year: int, base_year: int | None, metric: str, value: float | None, rows_used: str) -> Fact:
    unit, label = ALL_METRICS[metric]
    return Fact(
        fact_id=fact_id(row["sector_code"], row["geo_code"], year, metric, base_year),
        sector_code=row["sector_code"], sector_title=row["sector_title"], geo_code=row["geo_code"],
        geo_name=row["geo_name"], geo_level=row["geo_level"], census_year=year, base_year=base_year,
        metric=metric, value=None if value is None else float(value), unit=unit, label=label,
        status="published" if value is not None else "confidential",
        source_table=SOURCE_TABLE, source_rows=rows_used,
    )


# ---------------------------------------------------------------- selecting the facts of one document
def reference_geos(geo_code: str) -> list[str]:
    """The geographies a document about ``geo_code`` compares with: itself, its state, the nation."""
    geos = [geo_code]
    if len(geo_code) == 5:
        geos.append(geo_code[:2])
    if geo_code != NATIONAL:
        geos.append(NATIONAL)
    return geos


def document_facts(facts: pl.DataFrame, sector: str, geo_code: str) -> list[Fact]:
    """The facts a document about (sector, geography) is given: its own and its reference totals."""
    sub = facts.filter((pl.col("sector_code") == sector) & pl.col("geo_code").is_in(reference_geos(geo_code)))
    if sub.filter(pl.col("geo_code") == geo_code).height == 0:
        raise FactsError(f"no facts for sector {sector} in geography {geo_code}")
    return [Fact(**r) for r in sub.sort("fact_id").iter_rows(named=True)]


def facts_by_id(facts: Iterable[Fact]) -> dict[str, Fact]:
    return {f.fact_id: f for f in facts}


def facts_to_json(facts: Iterable[Fact]) -> str:
    return json.dumps([f.as_dict() for f in facts], ensure_ascii=False)


def facts_from_json(text: str) -> list[Fact]:
    return [Fact(**d) for d in json.loads(text)]


def resolve_geo(stats: pl.DataFrame, geo: str | None) -> tuple[str, str, str]:
    """(geo_code, geo_name, geo_level) for a name or code; default: the only state, else the nation.

    Names match without case or accents ('reynosa', 'Gómez Farías', 'nacional', '28032').
    """
    geos = stats.select("geo_code", "geo_name", "geo_level").unique().sort("geo_code")
    if geo is None:
        states = geos.filter(pl.col("geo_level") == "state")
        pick = states if states.height == 1 else geos.filter(pl.col("geo_code") == NATIONAL)
        if pick.height == 0:
            raise FactsError("no --geo given and the data has neither a single state nor national totals")
        return tuple(pick.row(0))  # type: ignore[return-value]
    want = _fold(geo)
    if want in ("nacional", "total nacional", "mexico", "pais"):
        want = _fold("Total Nacional")
    for code, name, level in geos.iter_rows():
        if geo.strip() == code or _fold(name) == want:
            return code, name, level
    close = [n for _, n, _ in geos.iter_rows() if want in _fold(n)]
    hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
    raise FactsError(f"geography {geo!r} is not in the data{hint}")


def _fold(s: str) -> str:
    import unicodedata

    s = unicodedata.normalize("NFKD", s.strip().lower())
    return "".join(c for c in s if not unicodedata.combining(c))


def verify_facts(stats: pl.DataFrame, facts: pl.DataFrame) -> dict:
    """Cross-check census-level facts against the statistics they came from.

    ``mismatches``: a published fact whose value differs from its cell; ``invented``: a fact with a
    value where the cell is blank (or absent), or a confidential fact where the cell has a value.
    """
    levels = facts.filter(pl.col("base_year").is_null() & pl.col("metric").is_in(list(BASE_METRICS)))
    metrics = [m for m in BASE_METRICS if m in stats.columns]
    if levels.height == 0 or not metrics:
        return {"mismatches": 0, "invented": 0, "examples": []}
    cells = stats.unpivot(index=["sector_code", "geo_code", "census_year"], on=metrics,
                          variable_name="metric", value_name="cell").with_columns(pl.lit(True).alias("_row"))
    joined = levels.join(cells, on=["sector_code", "geo_code", "census_year", "metric"], how="left")
    tol = pl.max_horizontal(pl.lit(1.0), pl.col("cell").abs()) * 1e-9
    mismatch = joined.filter(pl.col("value").is_not_null() & pl.col("cell").is_not_null()
                             & ((pl.col("value") - pl.col("cell")).abs() > tol))
    invented = joined.filter((pl.col("value").is_not_null() & pl.col("cell").is_null())
                             | (pl.col("value").is_null() & pl.col("cell").is_not_null())
                             | pl.col("_row").is_null())
    examples = [f"{r['fact_id']}: fact {r['value']} vs cell {r['cell']}"
                for r in pl.concat([mismatch, invented]).head(10).iter_rows(named=True)]
    return {"mismatches": mismatch.height, "invented": invented.height, "examples": examples}
