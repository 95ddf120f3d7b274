"""Spanish (Mexico) wording of numbers: thousands with commas, decimals with a point, plurals.

Mexico writes ``343,428`` and ``12.5%`` (NOM-008-SCFI allows a space as thousands separator, but
INEGI publications and the press use the comma). Money in the census is in millions of pesos; the
plain-language texts scale it to ``millones``, ``mil millones`` or ``billones`` (10^12, the Spanish
long scale) so a reader never sees "14,031,778.7 millones". The grounding check
(:mod:`assets.documents.grounding`) understands exactly these scale words, so what this module
writes can always be traced back to a fact.
"""

from __future__ import annotations

import math

# unit of a fact -> how many base units one value unit is (money facts are in millions of pesos)
UNIT_SCALE = {
    "personas": 1.0,
    "millones de pesos": 1e6,
    "pesos por persona ocupada": 1.0,
    "índice": 1.0,
    "%": 1.0,
    "puntos porcentuales": 1.0,
}
PERCENT_UNITS = ("%",)
POINT_UNITS = ("puntos porcentuales",)


def fmt_number(value: float, decimals: int = 0) -> str:
    """``1234567.891`` -> ``'1,234,567.9'`` (decimals=1). Rounds half away from zero; never ``-0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("cannot format a missing value (confidential cells are never written as numbers)")
    q = round_half_away(value, decimals)
    if q == 0:
        q = 0.0
    text = f"{abs(q):,.{decimals}f}"
    return f"-{text}" if q < 0 else text


def round_half_away(value: float, decimals: int) -> float:
    """Round like people do (2.25 -> 2.3), not banker's rounding; robust to binary noise."""
    factor = 10 ** decimals
    scaled = abs(value) * factor
    rounded = math.floor(scaled + 0.5 + 1e-9)
    return math.copysign(rounded / factor, value)


def fmt_percent(value: float, decimals: int = 1) -> str:
    """``12.345`` -> ``'12.3%'`` (the value is already a percentage)."""
    return f"{fmt_number(value, decimals)}%"


def fmt_points(value: float, decimals: int = 1) -> str:
    """Percentage points with a correct plural: ``'1.0 punto porcentual'`` only for exactly one."""
    text = fmt_number(value, decimals)
    return f"{text} {plural_for(text, 'punto porcentual', 'puntos porcentuales')}"


def fmt_pesos_millions(millions: float, decimals: int = 1) -> str:
    """An amount given in millions of pesos, in words a general reader follows.

    ``14031778.72`` -> ``'14.0 billones de pesos'``; ``424321.277`` -> ``'424.3 mil millones de pesos'``;
    ``63.464`` -> ``'63.5 millones de pesos'``; ``0.4`` -> ``'0.4 millones de pesos'``.
    """
    a = abs(millions)
    if a >= 1e6:
        text = fmt_number(millions / 1e6, decimals)
        return f"{text} {plural_for(text, 'billón', 'billones')} de pesos"
    if a >= 1e3:
        return f"{fmt_number(millions / 1e3, decimals)} mil millones de pesos"
    text = fmt_number(millions, decimals)
    return f"{text} {plural_for(text, 'millón', 'millones')} de pesos"


def fmt_people(n: float) -> str:
    """``343428`` -> ``'343,428 personas'``; ``1`` -> ``'1 persona'``."""
    text = fmt_number(n, 0)
    return f"{text} {plural_for(text, 'persona', 'personas')}"


def fmt_pesos(n: float) -> str:
    """Whole pesos: ``592594.2`` -> ``'592,594 pesos'``; ``1`` -> ``'1 peso'``."""
    text = fmt_number(n, 0)
    return f"{text} {plural_for(text, 'peso', 'pesos')}"


def fmt_index(n: float) -> str:
    return fmt_number(n, 1)


def plural(n: float, singular: str, plural_: str) -> str:
    """Spanish number agreement: singular only for exactly 1 (``0 personas``, ``1.5 millones``)."""
    return singular if n == 1 else plural_


def plural_for(written: str, singular: str, plural_: str) -> str:
    """Agreement with a number as written: singular only for exactly "1" ("1.0 millones", "-1 punto")."""
    return singular if written.lstrip("-") == "1" else plural_


def join_es(items: list[str]) -> str:
    """``['a', 'b', 'c']`` -> ``'a, b y c'``; uses ``e`` before a word starting with an /i/ sound."""
    items = [i for i in items if i]
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    last = items[-1]
    conj = "e" if last[:1].lower() in ("i", "í") or last[:2].lower() == "hi" and last[2:3].lower() not in "aeé" else "y"
    return f"{', '.join(items[:-1])} {conj} {last}"


def fmt_value(value: float, unit: str) -> str:
    """The canonical wording of a fact value in its unit (what the templates write and the prompt shows)."""
    if unit == "personas":
        return fmt_people(value)
    if unit == "millones de pesos":
        return fmt_pesos_millions(value)
    if unit == "pesos por persona ocupada":
        return f"{fmt_pesos(value)} por persona ocupada"
    if unit == "%":
        return fmt_percent(value)
    if unit == "puntos porcentuales":
        return fmt_points(value)
    if unit == "índice":
        return fmt_index(value)
    raise ValueError(f"unknown fact unit {unit!r}")


def lower_first(text: str) -> str:
    """'Industrias manufactureras' -> 'industrias manufactureras' (keeps acronyms such as 'SCIAN')."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]
