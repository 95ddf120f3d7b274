"""Grounding check: every number in a draft must be one of its facts, after formatting and rounding.

Rules (the same ones :mod:`assets.documents.formatting` writes by):

- Numbers are read in Mexican notation: ``343,428``, ``12.5``, ``-3.2``. Anything else that looks
  like a number (``1,5`` or ``343.428,0``) is flagged as an unrecognised format, not guessed.
- What follows the number decides its kind: ``%`` / ``por ciento`` -> a percentage, compared with
  facts in ``%``; ``punto(s) porcentual(es)`` -> compared with facts in percentage points; the scale
  words ``mil``, ``millón/millones``, ``mil millones``, ``billón/billones`` (10^12) multiply the
  number, which is then compared with the fact in base units (pesos, personas); a following
  ``pesos`` or ``personas`` (``trabajadores``, ``empleos``) restricts it to money or head-count
  facts, so "0 millones de pesos" never matches a head count; a bare integer
  between 1900 and 2100 is a year and must be one of the census years of the facts, unless a head-count,
  money or establishment word follows ("2018 personas" is a quantity).
- A number with *d* decimals matches a fact when the fact rounds to it: ``|n·m - v| <= 0.5·10^-d·m``.
  For growth/change facts a text may state the magnitude with a verb ("disminuyó 3.2%"), so the
  absolute value also matches.
- Identifiers are not quantities and are skipped: SCIAN codes (``SCIAN 31-33``, ``sector 46``, ``sectores 31,
  32 y 33`` — codes of the first one's length; never the start of a longer number or a percentage),
  the sector codes of the facts, an index base like ``(2018=100)``, Markdown list numbering.

Numbers that match no fact are *flagged*; a draft with any flagged number cannot be approved.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Iterable

from assets.documents.facts import Fact
from assets.documents.formatting import POINT_UNITS, PERCENT_UNITS, UNIT_SCALE

# a number starts anywhere but inside another number: glued to a word (x999, _999_ in Markdown) it is still
# checked; a leading separator (.5, ,5) is kept so that the number is flagged as unrecognised, not half-read
_TOKEN = re.compile(r"(?<![\d.,])[-−]?[.,]?\d(?:[\d,.]*\d)?")
_MEXICAN = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$|^\d+(?:\.\d+)?$")
_PERCENT = re.compile(r"^\s*(%|por\s+ciento\b)", re.IGNORECASE)
_POINTS = re.compile(r"^\s*puntos?\s+porcentual(es)?\b", re.IGNORECASE)
_SCALES = [
    (re.compile(r"^\s*mil\s+millones\b", re.IGNORECASE), 1e9),
    (re.compile(r"^\s*(billones|billón|billon)\b", re.IGNORECASE), 1e12),
    (re.compile(r"^\s*(millones|millón|millon)\b", re.IGNORECASE), 1e6),
    (re.compile(r"^\s*mil\b", re.IGNORECASE), 1e3),
]
_MONEY = re.compile(r"^\s*(de\s+)?pesos?\b", re.IGNORECASE)
_PEOPLE = re.compile(r"^\s*(de\s+)?(personas?|trabajador(es|as)?|empleos?|empleados?|ocupados?)\b", re.IGNORECASE)
MONEY_UNITS = ("millones de pesos", "pesos por persona ocupada")
PEOPLE_UNITS = ("personas",)
_COUNTED = re.compile(r"^\s*(de\s+)?(establecimientos?|unidades|empresas?|negocios?)\b", re.IGNORECASE)
# a SCIAN code: not the start of a longer number (99.9, 343,428) and not a percentage
_CODE = r"\d{2,6}(?:-\d{2})?(?![\d.,]*\d|\s*(?:%|por\s+ciento))"
_CODE_HEAD = re.compile(rf"\b(?:SCIAN|[Ss]ectores|[Ss]ector|[Ss]ubsector)\s+({_CODE})")
# "sectores 31, 32 y 33": more codes of the same length, unless a quantity word follows ("y 45 personas")
_CODE_MORE = re.compile(rf"\s*(?:,|y|e|o)\s*({_CODE})(?!\s*(?:mil\b|mill|bill|pesos|personas|trabajador|emplead|"
                        r"empleos|ocupad|establecimientos|unidades|empresas))", re.IGNORECASE)
_IDENTIFIERS = [
    re.compile(r"\(\s*\d{4}\s*=\s*100\s*\)"),
    re.compile(r"(?m)^[ \t]*\d{1,2}[.)][ \t]"),
]


@dataclass
class NumberMention:
    text: str
    start: int
    end: int
    kind: str  # quantity | percent | points | year | unrecognised
    value: float | None
    decimals: int
    multiplier: float
    status: str  # grounded | flagged
    fact_id: str | None = None
    reason: str = ""
    context: str = ""


@dataclass
class GroundingReport:
    items: list[NumberMention] = field(default_factory=list)

    @property
    def numbers_found(self) -> int:
        return len(self.items)

    @property
    def grounded(self) -> int:
        return sum(1 for i in self.items if i.status == "grounded")

    @property
    def flagged(self) -> int:
        return sum(1 for i in self.items if i.status == "flagged")

    @property
    def approvable(self) -> bool:
        return self.flagged == 0

    @property
    def cited_fact_ids(self) -> list[str]:
        return sorted({i.fact_id for i in self.items if i.fact_id})

    def as_dict(self) -> dict:
        return {"numbers_found": self.numbers_found, "grounded": self.grounded, "flagged": self.flagged,
                "approvable": self.approvable, "items": [asdict(i) for i in self.items]}

    @classmethod
    def from_dict(cls, data: dict) -> "GroundingReport":
        return cls([NumberMention(**i) for i in data.get("items", [])])


def _mask(text: str, facts: Iterable[Fact]) -> str:
    """Blank out identifiers (same length, so offsets stay valid)."""
    out = text
    patterns = list(_IDENTIFIERS)
    for code in sorted({f.sector_code for f in facts}, key=len, reverse=True):
        if "-" in code:  # '31-33' alone; plain two-digit codes are only masked after SCIAN/sector
            patterns.append(re.compile(rf"(?<![\d,.]){re.escape(code)}(?![\d])"))
    for start, end in _code_lists(text):
        out = out[:start] + " " * (end - start) + out[end:]
    for pat in patterns:
        out = pat.sub(lambda m: " " * (m.end() - m.start()), out)
    return out


def _code_lists(text: str) -> list[tuple[int, int]]:
    """Spans of "sector 31-33", "SCIAN 336390", "sectores 31, 32 y 33" (codes of one length after the first)."""
    spans = []
    for head in _CODE_HEAD.finditer(text):
        digits = len(head.group(1).split("-")[0])
        end = head.end()
        while (more := _CODE_MORE.match(text, end)) and len(more.group(1).split("-")[0]) == digits:
            end = more.end()
        spans.append((head.start(), end))
    return spans


def _parse(token: str) -> tuple[float, int] | None:
    sign = -1.0 if token[:1] in "-−" else 1.0
    body = token.lstrip("-−")
    if not _MEXICAN.match(body):
        return None
    decimals = len(body.split(".", 1)[1]) if "." in body else 0
    return sign * float(body.replace(",", "")), decimals


def check(text: str, facts: Iterable[Fact], prefer_geo: str | None = None) -> GroundingReport:
    """Find every number in ``text`` and match it against ``facts`` (see the module rules).

    When several facts round to the same number, one of ``prefer_geo`` (the document's own
    geography) is reported, then the closest.
    """
    facts = [f for f in facts]
    published = [f for f in facts if f.value is not None]
    years = {f.census_year for f in facts} | {f.base_year for f in facts if f.base_year is not None}
    masked = _mask(text, facts)
    report = GroundingReport()
    for m in _TOKEN.finditer(masked):
        token = m.group(0)
        ctx = text[max(0, m.start() - 50): min(len(text), m.end() + 40)].replace("\n", " ")
        parsed = _parse(token)
        if parsed is None:
            report.items.append(NumberMention(token, m.start(), m.end(), "unrecognised", None, 0, 1.0, "flagged",
                                              reason="not a number in Mexican notation (1,234.5)", context=ctx))
            continue
        value, decimals = parsed
        after = masked[m.end(): m.end() + 40]
        kind, mult, noun = "quantity", 1.0, None
        if _PERCENT.match(after):
            kind = "percent"
        elif _POINTS.match(after):
            kind = "points"
        else:
            rest = after
            for pat, factor in _SCALES:
                if sm := pat.match(after):
                    mult, rest = factor, after[sm.end():]
                    break
            noun = "money" if _MONEY.match(rest) else "people" if _PEOPLE.match(rest) else None
            if mult == 1.0 and noun is None and not _COUNTED.match(rest) and decimals == 0 and "," not in token \
                    and value == int(value) and 1900 <= value <= 2100 and token[:1] not in "-−":
                kind = "year"
        item = NumberMention(token, m.start(), m.end(), kind, value, decimals, mult, "flagged", context=ctx)
        if kind == "year":
            if int(value) in years:
                item.status, item.reason = "grounded", "census year of the facts"
            else:
                item.reason = f"year {int(value)} is not a census year of the facts ({sorted(years)})"
        else:
            best = _match(value, decimals, mult, kind, published, prefer_geo, noun)
            if best is not None:
                item.status, item.fact_id, item.reason = "grounded", best.fact_id, best.label
            else:
                item.reason = _why_not(kind, mult)
        report.items.append(item)
    return report


def _candidates(kind: str, facts: list[Fact], noun: str | None = None) -> list[Fact]:
    if kind == "percent":
        return [f for f in facts if f.unit in PERCENT_UNITS]
    if kind == "points":
        return [f for f in facts if f.unit in POINT_UNITS]
    if noun == "money":  # "... pesos": only money facts
        return [f for f in facts if f.unit in MONEY_UNITS]
    if noun == "people":  # "... personas": only head counts
        return [f for f in facts if f.unit in PEOPLE_UNITS]
    return [f for f in facts if f.unit not in PERCENT_UNITS + POINT_UNITS]


def _match(value: float, decimals: int, mult: float, kind: str, facts: list[Fact],
           prefer_geo: str | None = None, noun: str | None = None) -> Fact | None:
    tol = 0.5 * 10 ** (-decimals) * mult * (1 + 1e-9) + 1e-9
    target = value * mult
    best, best_rank = None, None
    for f in _candidates(kind, facts, noun):
        base = f.value * UNIT_SCALE[f.unit]
        diffs = [abs(target - base)]
        if f.is_change:
            diffs.append(abs(target - abs(base)))
        diff = min(diffs)
        rank = (f.geo_code != prefer_geo, diff)
        if diff <= tol and (best_rank is None or rank < best_rank):
            best, best_rank = f, rank
    return best


def _why_not(kind: str, mult: float) -> str:
    if kind == "percent":
        return "no percentage fact rounds to this value"
    if kind == "points":
        return "no percentage-point fact rounds to this value"
    scale = {1e3: " (x mil)", 1e6: " (x millón)", 1e9: " (x mil millones)", 1e12: " (x billón)"}.get(mult, "")
    return f"no fact rounds to this value{scale}"
