"""The embedded drafting backend: Spanish sentences written from the facts, section by section.

Works offline with no model. Each section id of the instructions has a writer; an id it does not
know (an expert added a section to the YAML) gets a plain list of its required facts, so editing
the instructions never breaks drafting. Every number written comes from a fact through
:func:`assets.documents.formatting.fmt_value` (or the same helpers), so a template draft is fully
grounded by construction, and the grounding check proves it on every draft anyway.
"""

from __future__ import annotations

from typing import Callable

from assets.documents.factbook import FactBook
from assets.documents.facts import NATIONAL
from assets.documents.formatting import (
    fmt_number,
    fmt_people,
    fmt_percent,
    fmt_pesos,
    fmt_pesos_millions,
    fmt_points,
    fmt_value,
    join_es,
    lower_first,
    round_half_away,
)
from assets.documents.instructions import Instructions, Section

BACKEND = "template"


def sector_phrase(book: FactBook) -> str:
    return f"el sector de {lower_first(book.sector_title)} (SCIAN {book.sector_code})"


def geo_phrase(book: FactBook) -> str:
    if book.is_national:
        return "en el país"
    if book.geo_level == "municipality":
        state = f", {book.state_name}" if book.state_name else ""
        return f"en el municipio de {book.geo_name}{state}"
    return f"en {book.geo_name}"


def _change(value: float, decimals: int = 1) -> tuple[str, str]:
    """(verb, magnitude) for a percentage change: ('aumentó', '12.3%'), or ('se mantuvo sin cambio', '')."""
    if round_half_away(value, decimals) == 0:
        return "se mantuvo prácticamente sin cambio", ""
    return ("aumentó" if value > 0 else "disminuyó"), fmt_percent(abs(value), decimals)


def _sentence(*parts: str) -> str:
    """Join clause parts with spaces (no space before the final period) and capitalise."""
    text = " ".join(p for p in parts if p).strip().replace(" .", ".")
    return text[:1].upper() + text[1:] if text else ""


# ---------------------------------------------------------------- sections
def panorama(book: FactBook) -> list[str]:
    y = book.latest_year()
    paras = []
    clauses = []
    if (emp := book.value("employment", y)) is not None:
        clauses.append(f"ocupó a {fmt_people(emp)}")
    if (go := book.value("gross_output", y)) is not None:
        clauses.append(f"tuvo una producción bruta total de {fmt_pesos_millions(go)}")
    if (va := book.value("value_added", y)) is not None:
        clauses.append(f"generó un valor agregado censal bruto de {fmt_pesos_millions(va)}")
    if clauses:
        paras.append(f"Según los Censos Económicos {y}, {sector_phrase(book)} {geo_phrase(book)} "
                     f"{join_es(clauses)}.")
    else:
        paras.append(f"Para {y}, las cifras principales del {sector_phrase(book)[3:]} {geo_phrase(book)} son "
                     "confidenciales.")
    hidden = book.confidential(y, ["employment", "gross_output", "value_added"])
    if hidden and clauses:
        paras.append(f"Por confidencialidad, INEGI no publica {join_es([lower_first(f.label) for f in hidden])} "
                     f"de este sector {geo_phrase(book)} en {y}; no se estiman.")
    if not book.is_national:
        shares = []
        if (s := book.value("share_national_employment", y)) is not None:
            shares.append(f"el {fmt_percent(s)} del personal ocupado")
        if (s := book.value("share_national_value_added", y)) is not None:
            shares.append(f"el {fmt_percent(s)} del valor agregado")
        if shares:
            paras.append(f"Esto representa {join_es(shares)} de este sector en todo el país.")
        if book.geo_level == "municipality":
            if (s := book.value("share_state_employment", y)) is not None:
                paras.append(f"Dentro de {book.state_name}, el municipio concentra el {fmt_percent(s)} del "
                             "personal ocupado del sector.")
    paras.append("El valor agregado es la riqueza que el sector genera por sí mismo: lo que produce menos los "
                 "bienes y servicios que compra a otras actividades para producir.")
    return paras


def empleo(book: FactBook) -> list[str]:
    paras = []
    span = book.span("employment_growth")
    if span:
        y0, y1 = span
        verb, mag = _change(book.value("employment_growth", y1, base_year=y0))
        e0, e1 = book.value("employment", y0), book.value("employment", y1)
        if mag:
            paras.append(f"Entre {y0} y {y1}, el personal ocupado {verb} {mag}, al pasar de {fmt_people(e0)} "
                         f"a {fmt_people(e1)}.")
        else:
            paras.append(f"Entre {y0} y {y1}, el personal ocupado {verb}: {fmt_people(e1)} en {y1}.")
        last = book.last_interval("employment_growth")
        if last and last != span:
            verb, mag = _change(book.value("employment_growth", last[1], base_year=last[0]))
            paras.append(_sentence(f"en el periodo más reciente, de {last[0]} a {last[1]}, el empleo {verb}",
                                   f"{mag}." if mag else "."))
        pp_span = book.span("share_national_employment_change")
        if pp_span and not book.is_national:
            pp = book.value("share_national_employment_change", pp_span[1], base_year=pp_span[0])
            if round_half_away(pp, 1) == 0:
                paras.append(f"Su participación en el empleo nacional del sector se mantuvo prácticamente igual "
                             f"entre {pp_span[0]} y {pp_span[1]}.")
            else:
                paras.append(f"Su participación en el empleo nacional del sector {'subió' if pp > 0 else 'bajó'} "
                             f"{fmt_points(abs(pp))} entre {pp_span[0]} y {pp_span[1]}.")
    else:
        paras.append("No hay dos censos con personal ocupado publicado para medir su cambio.")
    y = book.latest_year()
    rem = book.get("remuneration_per_worker", y)
    rem_level = book.get("remuneration", y)
    if rem is not None:
        text = f"En {y}, la remuneración por persona ocupada fue de {fmt_pesos(rem.value)} al año"
        last = book.last_interval("remuneration_per_worker_growth")
        if last and last[1] == y:
            verb, mag = _change(book.value("remuneration_per_worker_growth", y, base_year=last[0]))
            text += f", cifra que {verb} {mag} respecto de {last[0]} en pesos corrientes" if mag else \
                f" y {verb} respecto de {last[0]}"
        paras.append(text + ".")
    elif rem_level is not None and rem_level.value is None:
        paras.append(f"Las remuneraciones de {y} son confidenciales, por lo que no se calcula el pago medio por "
                     "persona ocupada.")
    else:
        paras.append("La fuente no publica las remuneraciones de este sector, por lo que no se reporta el pago "
                     "medio por persona ocupada.")
    return paras


def produccion(book: FactBook) -> list[str]:
    paras = []
    y = book.latest_year()
    if (p := book.value("productivity", y)) is not None:
        paras.append(f"En {y}, cada persona ocupada generó en promedio {fmt_pesos(p)} de valor agregado; a esta "
                     "medida se le llama productividad laboral.")
        if not book.is_national and (pn := book.value("productivity", y, geo=NATIONAL)) is not None:
            comp = "más" if p > pn else "menos"
            paras.append(f"En el mismo sector a nivel nacional, la cifra fue de {fmt_pesos(pn)}; es decir, "
                         f"{geo_phrase(book)} se genera {comp} valor agregado por persona que en el promedio "
                         "nacional del sector.")
    else:
        paras.append(f"La productividad laboral de {y} no puede calcularse porque el personal ocupado o el valor "
                     "agregado son confidenciales.")
    span = book.span("productivity_growth")
    if span:
        verb, mag = _change(book.value("productivity_growth", span[1], base_year=span[0]))
        paras.append(_sentence(f"entre {span[0]} y {span[1]} la productividad laboral {verb}",
                               f"{mag} en pesos corrientes." if mag else "."))
    span = book.span("value_added_growth")
    if span:
        verb, mag = _change(book.value("value_added_growth", span[1], base_year=span[0]))
        paras.append(_sentence(f"el valor agregado {verb}", f"{mag}" if mag else "",
                               f"de {span[0]} a {span[1]}, a precios corrientes."))
    return paras


def encadenamientos(book: FactBook) -> list[str]:
    paras = []
    y = book.latest_year()
    ci, va = book.value("intermediate_share", y), book.value("value_added_ratio", y)
    if ci is not None:
        text = (f"En {y}, el consumo intermedio (los bienes y servicios que el sector compra a otras actividades "
                f"para producir) representó el {fmt_percent(ci)} de su producción bruta")
        if va is not None and abs(ci + va - 100) < 0.05:
            text += f"; el {fmt_percent(va)} restante fue valor agregado."
        elif va is not None:
            text += f", y el valor agregado, el {fmt_percent(va)}."
        else:
            text += "."
        paras.append(text)
        if ci >= 60:
            paras.append("Es una proporción alta: el sector depende de muchas compras a otras actividades, por lo "
                         "que su actividad arrastra a sus proveedores.")
        elif ci <= 40:
            paras.append("Es una proporción baja: la mayor parte del valor de lo que produce se genera dentro del "
                         "propio sector.")
        if not book.is_national and (cin := book.value("intermediate_share", y, geo=NATIONAL)) is not None:
            paras.append(f"En el mismo sector a nivel nacional, el consumo intermedio fue el {fmt_percent(cin)} "
                         "de la producción.")
    else:
        paras.append(f"La producción bruta o el consumo intermedio de {y} son confidenciales, por lo que no se "
                     "describe la estructura de costos.")
    return paras


def precios(book: FactBook) -> list[str]:
    span = book.span("price_index_change")
    if not span:
        return ["La fuente no incluye un índice de precios para este sector, por lo que las cifras monetarias "
                "están a precios corrientes y sus variaciones incluyen el efecto de la inflación."]
    y0, y1 = span
    p0, p1 = book.value("price_index", y0), book.value("price_index", y1)
    verb, mag = _change(book.value("price_index_change", y1, base_year=y0))
    paras = [_sentence(f"el índice de precios productor del sector pasó de {fmt_number(p0, 1)} en {y0} a "
                       f"{fmt_number(p1, 1)} en {y1}, es decir,", f"{verb} {mag}." if mag else f"{verb}.")]
    real = book.value("value_added_real_growth", y1, base_year=y0)
    if real is not None:
        verb, mag = _change(real)
        paras.append(_sentence(f"descontado el cambio en los precios, el valor agregado {verb}",
                               f"{mag} en términos reales en ese periodo." if mag else "en términos reales."))
    return paras


def fuentes(book: FactBook) -> list[str]:
    years = [str(y) for y in book.all_years()]
    return [f"Fuente: INEGI, Censos Económicos {join_es(years)}. Las cifras monetarias están en pesos corrientes. "
            "Los datos que INEGI no publica por confidencialidad no se estiman ni se sustituyen.",
            "Borrador redactado automáticamente a partir de los datos del lago de datos; debe revisarlo y "
            "aprobarlo una persona experta antes de publicarse."]


WRITERS: dict[str, Callable[[FactBook], list[str]]] = {
    "panorama": panorama, "empleo": empleo, "produccion": produccion,
    "encadenamientos": encadenamientos, "precios": precios, "fuentes": fuentes,
}


def generic(book: FactBook, section: Section) -> list[str]:
    """A section the templates do not know: its required facts, most recent value each."""
    items = []
    for metric in section.required_facts:
        facts = [f for f in book.facts if f.geo_code == book.geo_code and f.metric == metric]
        if not facts:
            continue
        f = max(facts, key=lambda f: (f.census_year, -(f.base_year or 0)))
        period = f"{f.base_year} a {f.census_year}" if f.base_year else str(f.census_year)
        value = "dato confidencial" if f.value is None else fmt_value(f.value, f.unit)
        items.append(f"- {f.label} ({period}): {value}.")
    return ["\n".join(items)] if items else []


def write_body(book: FactBook, instructions: Instructions) -> str:
    """The Markdown body (``## section`` + paragraphs) following the instructions' sections."""
    parts = []
    for section in instructions.sections:
        writer = WRITERS.get(section.id)
        paras = writer(book) if writer else generic(book, section)
        if not paras and section.optional:
            continue
        parts.append(f"## {section.title}\n\n" + "\n\n".join(paras))
    return "\n\n".join(parts) + "\n"
