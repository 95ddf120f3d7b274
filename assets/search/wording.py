"""Spanish wording of the search documents: a fact as a sentence, a place as a profile (no Dagster).

``fact_sentence({"census_year": 2018, "sector_title": "Industrias manufactureras", "geo_name": "Tamaulipas",
"metric": "employment", "value": 323720.0, "unit": "personas", ...})`` ->
``"En 2018 las industrias manufactureras de Tamaulipas ocupaban 323,720 personas."``

Numbers are written the Mexican way (thousands with commas, decimals with a point) with the precision that suits the
unit: people and pesos per person as whole numbers, millions of pesos with one decimal, percentages and points with
one decimal. A confidential figure (null value) is said to be confidential, never invented.
"""

from __future__ import annotations

import math
from typing import Any

# sector titles whose first word is a plural noun take a plural article and verb ("las industrias ... ocupaban")
_PLURAL_HEADS = {"industrias": "las", "servicios": "los", "transportes": "los", "actividades": "las",
                 "otros": "los"}
_SINGULAR_FEMININE = ("minería", "construcción", "información", "generación", "agricultura", "dirección")

# level metrics: (verb singular, verb plural, object before the value)
_LEVEL_VERBS: dict[str, tuple[str, str, str]] = {
    "employment": ("ocupaba", "ocupaban", ""),
    "gross_output": ("tenía", "tenían", "una producción bruta total de "),
    "intermediate_consumption": ("tenía", "tenían", "un consumo intermedio de "),
    "value_added": ("generaba", "generaban", "un valor agregado censal bruto de "),
    "remuneration": ("pagaba", "pagaban", "remuneraciones por "),
    "investment": ("registraba", "registraban", "una inversión total de "),
    "fixed_capital_formation": ("registraba", "registraban", "una formación bruta de capital fijo de "),
    "fixed_assets": ("tenía", "tenían", "un acervo total de activos fijos de "),
}
_DECIMALS = {"personas": 0, "pesos por persona ocupada": 0, "millones de pesos": 1, "%": 1,
             "puntos porcentuales": 1, "índice": 1}


def fmt_number(value: float, decimals: int = 0) -> str:
    """``323720.0`` -> ``'323,720'``; ``1234.56`` (1 decimal) -> ``'1,234.6'`` (rounded half away from zero)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("a missing value has no wording (confidential figures are said to be confidential)")
    factor = 10 ** decimals
    q = math.copysign(math.floor(abs(value) * factor + 0.5 + 1e-9) / factor, value)
    text = f"{abs(q):,.{decimals}f}"
    return f"-{text}" if q < 0 else text


def fmt_value(value: float | None, unit: str | None) -> str:
    """A figure with its unit as a document writes it: ``323,720 personas``, ``1,234.6 millones de pesos``,
    ``12.5 %``; ``None`` -> ``'confidencial'``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "confidencial"
    unit = (unit or "").strip()
    text = fmt_number(value, _DECIMALS.get(unit, 2 if abs(value) < 100 else 0))
    if unit == "%":
        return f"{text} %"
    if unit == "puntos porcentuales" and text in ("1.0", "-1.0"):
        return f"{text} punto porcentual"
    return f"{text} {unit}".strip()


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def sector_subject(title: str | None, code: str | None = None) -> tuple[str, bool]:
    """(noun phrase, plural) for a sector: ``'las industrias manufactureras'``, True; ``'el comercio al por
    menor'``, False; ``'la minería'``, False."""
    title = (title or "").strip() or (f"sector {code}" if code else "el sector")
    head = title.split()[0].lower().strip(",;.")
    if head in _PLURAL_HEADS:
        return f"{_PLURAL_HEADS[head]} {_lower_first(title)}", True
    if head in _SINGULAR_FEMININE or head.endswith(("ción", "ía")):
        return f"la {_lower_first(title)}", False
    return f"el {_lower_first(title)}", False


def place_phrase(fact: dict[str, Any], state_names: dict[str, str] | None = None) -> str:
    """``'Tamaulipas'``, ``'Reynosa, Tamaulipas'`` or ``'México (total nacional)'``."""
    level, name, code = fact.get("geo_level"), (fact.get("geo_name") or "").strip(), fact.get("geo_code") or ""
    if level == "national" or code == "00":
        return "México (total nacional)"
    if level == "municipality" and state_names and state_names.get(code[:2]):
        return f"{name}, {state_names[code[:2]]}"
    return name or code


def period(fact: dict[str, Any]) -> str:
    base, year = fact.get("base_year"), fact.get("census_year")
    return f"{base}-{year}" if base else f"{year}"


def fact_title(fact: dict[str, Any], state_names: dict[str, str] | None = None) -> str:
    """``'Personal ocupado total: Industrias manufactureras (31-33), Tamaulipas, 2018'``."""
    label = fact.get("label") or fact.get("metric") or "Dato"
    return (f"{label}: {fact.get('sector_title') or ''} ({fact.get('sector_code') or ''}), "
            f"{place_phrase(fact, state_names)}, {period(fact)}")


def fact_sentence(fact: dict[str, Any], state_names: dict[str, str] | None = None) -> str:
    """The fact as one Spanish sentence with sector, place, census year(s), value and unit."""
    return _contract(_fact_sentence(fact, state_names))


def _contract(text: str) -> str:
    """Spanish contractions: ``de el`` -> ``del``, ``a el`` -> ``al``."""
    return text.replace(" de el ", " del ").replace(" a el ", " al ")


def _fact_sentence(fact: dict[str, Any], state_names: dict[str, str] | None) -> str:
    subject, plural = sector_subject(fact.get("sector_title"), fact.get("sector_code"))
    place = place_phrase(fact, state_names)
    where = "del país" if place.startswith("México (") else f"de {place}"
    value, unit, metric = fact.get("value"), fact.get("unit"), fact.get("metric") or ""
    base, year = fact.get("base_year"), fact.get("census_year")
    label = _lower_first((fact.get("label") or metric).strip())
    if value is None:
        when = f"Entre {base} y {year}" if base else f"En {year}"
        return (f"{when}, el dato «{label}» de {subject} {where} es confidencial (la celda del censo está en "
                f"blanco y no se estima).")
    figure = fmt_value(value, unit)
    if not base and metric in _LEVEL_VERBS:
        sing, plur, obj = _LEVEL_VERBS[metric]
        return f"En {year} {subject} {where} {plur if plural else sing} {obj}{figure}."
    if base:
        # "Variación porcentual: personal ocupado total" -> "el personal ocupado total creció 12.5 %"
        what = label.split(": ", 1)[1] if ": " in label else label
        if metric == "price_index_change":
            what = "índice de precios productor"
        elif metric == "value_added_real_growth":
            what = "valor agregado a precios constantes"
        up, down = ("aumentó", "disminuyó") if metric.endswith("_change") and metric != "price_index_change" \
            else ("creció", "se redujo")
        verb = up if value >= 0 else down
        shown = fmt_value(abs(value), unit)
        return f"Entre {base} y {year} {with_article(what)} de {subject} {where} {verb} {shown}."
    return f"En {year} {with_article(label)} de {subject} {where} fue de {figure}."


def with_article(noun_phrase: str) -> str:
    """``'personal ocupado total'`` -> ``'el personal ocupado total'``; ``'producción bruta total'`` -> ``'la
    producción bruta total'`` (by the ending of the first word: enough for the census labels)."""
    phrase = _lower_first(noun_phrase.strip())
    head = phrase.split()[0] if phrase else ""
    if head in ("el", "la", "los", "las"):
        return phrase
    if head.endswith(("ión", "ad", "a")) and head not in ("índice",):
        return f"la {phrase}"
    if head.endswith(("es", "os")) and head not in ("ingresos",):
        return f"los {phrase}"
    return f"el {phrase}"


def place_profile(place: dict[str, Any], facts: list[dict[str, Any]], indicator: dict[str, Any] | None,
                  shelters: list[dict[str, Any]], max_facts: int = 12) -> dict[str, Any]:
    """A search document (dict of corpus columns) describing a municipality or a state."""
    code, name, level = place["cve_geo"], place["name"], place["level"]
    parts = []
    if level == "municipality":
        title = f"{name}, {place['state_name']} (municipio)"
        seat = f" Su cabecera municipal es {place['seat_name']}." if place.get("seat_name") else ""
        parts.append(f"{name} es un municipio del estado de {place['state_name']} (CVE_GEO {code}).{seat}")
    else:
        title = f"{name} (estado)"
        parts.append(f"{name} es una entidad federativa de México (clave {code}) con "
                     f"{fmt_number(place.get('municipalities') or 0)} municipios.")
    pop, fem, male = place.get("population_total"), place.get("population_female"), place.get("population_male")
    if pop:
        parts.append(f"En el Censo de Población y Vivienda 2020 tenía {fmt_number(pop)} habitantes "
                     f"({fmt_number(fem or 0)} mujeres y {fmt_number(male or 0)} hombres) y "
                     f"{fmt_number(place.get('inhabited_dwellings') or 0)} viviendas particulares habitadas.")
    if facts:
        latest = max(f["census_year"] for f in facts)
        chosen = sorted((f for f in facts if f["census_year"] == latest),
                        key=lambda f: (f["metric"] != "employment", f["metric"], f["sector_code"]))[:max_facts]
        parts.append(f"Datos de los censos económicos ({latest}): "
                     + "; ".join(f"{f['label']} de {f['sector_title']}: {fmt_value(f['value'], f['unit'])}"
                                 for f in chosen) + ".")
    if indicator:
        parts.append(f"Indicador de intensidad migratoria en noticias: {fmt_number(indicator['intensity_0_100'] or 0, 1)} "
                     f"de 100 (lugar {indicator['rank']}), con {indicator['n_articles']} noticias ubicadas, "
                     f"{indicator['n_present_majority']} que mencionan mujeres o niñas migrantes, "
                     f"{indicator['shelters']} albergues para migrantes.")
    if shelters:
        beds = sum(s.get("capacity") or 0 for s in shelters)
        names = ", ".join(s["name"] for s in shelters[:8] if s.get("name"))
        parts.append(f"Albergues para migrantes: {len(shelters)} ({fmt_number(beds)} camas): {names}.")
    return {"doc_id": f"place:{code}", "doc_type": "place", "ref": code, "title": title, "body": " ".join(parts),
            "source": "silver.municipalities", "geo_code": code, "year": 2020,
            "metric": "population_total", "value": float(pop) if pop else None, "unit": "habitantes"}
