"""Locating news articles in a municipality (CVE_GEO) from their text, against the catalogue.

Articles that arrive with a valid CVE_GEO keep it (``method="source"``). Others are read for place
names, conservatively — a wrong municipality is worse than none:

1. ``name_state``: "Nuevo Laredo, Tamaulipas", "Piedras Negras, Coahuila" — a municipality name
   followed by its own state (short state names accepted) settles even ambiguous names (Matamoros).
2. ``alias``: well-known city or landmark names whose municipality has another name (Villahermosa →
   Centro, Tabasco; Ciudad Juárez → Juárez, Chihuahua; estación migratoria Siglo XXI → Tapachula).
3. ``name``: a municipality name that is unique in the catalogue, is not also a state name
   (Chihuahua, Oaxaca… could be either) and follows a locative cue ("en", "de", "desde", "municipio
   de", …) — so "Centro por la Justicia" or the person "Lázaro Cárdenas" are not read as places.

The first mention with the strongest method wins; other candidates are kept for audit. Names are
matched case-sensitively (accents folded), so "la frontera" is not the municipality Frontera.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping

# city / landmark -> (cve_geo, what it is). Short on purpose: only unambiguous, well-known places.
ALIASES: dict[str, tuple[str, str]] = {
    "Villahermosa": ("27004", "seat of Centro, Tabasco"),
    "Ciudad Juárez": ("08037", "seat of Juárez, Chihuahua"),
    "Cancún": ("23005", "seat of Benito Juárez, Quintana Roo"),
    "Playa del Carmen": ("23008", "seat of Solidaridad, Quintana Roo"),
    "Chetumal": ("23004", "seat of Othón P. Blanco, Quintana Roo"),
    "Ciudad Hidalgo": ("07087", "seat of Suchiate, Chiapas"),
    "Ciudad Acuña": ("05002", "seat of Acuña, Coahuila"),
    "Ciudad Victoria": ("28041", "seat of Victoria, Tamaulipas"),
    "Siglo XXI": ("07089", "estación migratoria Siglo XXI, Tapachula"),
    "El Hueyate": ("07040", "estancia provisional El Hueyate, Huixtla"),
    "campamento de Matamoros": ("28022", "migrant camp of Matamoros, Tamaulipas"),
}
# Common short names of states as they appear after a comma ("Piedras Negras, Coahuila").
STATE_SHORT = {
    "Coahuila": "Coahuila de Zaragoza", "Veracruz": "Veracruz de Ignacio de la Llave",
    "Michoacán": "Michoacán de Ocampo", "Estado de México": "México", "Edomex": "México", "CDMX": "Ciudad de México",
}
# Unique municipality names that in the news are nearly always something else (a country, a surname):
# found only as "name, state". Names followed by another capitalised word ("López Obrador") are
# skipped too, as part of a longer proper noun.
NAME_STOPLIST = {"El Salvador", "China", "López", "García", "González"}
LOCATIVE_CUES = ("en", "de", "desde", "hacia", "a", "por", "municipio de", "ciudad de", "localidad de")
METHOD_RANK = {"source": 0, "name_state": 1, "alias": 2, "name": 3}


def _fold(s: str) -> str:
    nfkd = unicodedata.normalize("NFKD", s)
    return "".join(c for c in nfkd if not unicodedata.combining(c))


@dataclass(frozen=True)
class Location:
    cve_geo: str | None
    method: str  # source | name_state | alias | name | none
    matched: str | None = None
    candidates: tuple[str, ...] = ()


class MunicipalityGeocoder:
    """Built once from the catalogue (cve_geo, state_name, municipality_name), then ``locate(text)``."""

    def __init__(self, municipalities: Iterable[Mapping[str, str]]) -> None:
        rows = [dict(r) for r in municipalities]
        self.valid = {r["cve_geo"] for r in rows}
        self.names: dict[str, list[tuple[str, str]]] = {}
        states: set[str] = set()
        for r in rows:
            self.names.setdefault(_fold(r["municipality_name"]), []).append((r["cve_geo"], r["state_name"]))
            states.add(r["state_name"])
        self.state_names = {_fold(s): s for s in states}
        for short, full in STATE_SHORT.items():
            if full in states:
                self.state_names[_fold(short)] = full
        self._stop = {_fold(n) for n in NAME_STOPLIST}
        self.aliases = {_fold(k): v[0] for k, v in ALIASES.items() if v[0] in self.valid}
        # names indexed by first word, longest first ("San Pedro Garza García" before "San Pedro"):
        # the text is scanned once, trying only names that start with the capitalised word at hand
        self._by_first: dict[str, list[str]] = {}
        for name in sorted(self.names, key=len, reverse=True):
            self._by_first.setdefault(name.split()[0], []).append(name)
        self._alias_by_first: dict[str, list[str]] = {}
        for alias in sorted(self.aliases, key=len, reverse=True):
            self._alias_by_first.setdefault(alias.split()[0], []).append(alias)
        states_sorted = sorted(self.state_names, key=len, reverse=True)
        self._state_after = re.compile(r"\s*,?\s*(?:estado de\s+)?(" + "|".join(re.escape(s) for s in states_sorted)
                                       + r")(?![\w])")
        self._cue_re = re.compile(r"(?:^|[\s(“\"])(" + "|".join(re.escape(c) for c in LOCATIVE_CUES) + r")\s+$",
                                  re.IGNORECASE)

    def locate(self, text: str, source_cve_geo: str | None = None) -> Location:
        if source_cve_geo and source_cve_geo in self.valid:
            return Location(source_cve_geo, "source", None, (source_cve_geo,))
        folded = _fold(text or "")
        found: list[tuple[int, int, str, str]] = []  # (rank, position, cve_geo, matched)
        for m in _WORD.finditer(folded):
            start, word = m.start(), m.group(0)
            for alias in self._alias_by_first.get(word, ()):
                if _matches_at(folded, start, alias):
                    found.append((METHOD_RANK["alias"], start, self.aliases[alias], alias))
                    break
            if not word[:1].isupper():
                continue
            for name in self._by_first.get(word, ()):
                if not _matches_at(folded, start, name):
                    continue
                entries = self.names[name]
                end = start + len(name)
                after = self._state_after.match(folded, end)
                if after:
                    state = self.state_names[after.group(1)]
                    same = [cve for cve, st in entries if st == state]
                    if len(same) == 1:
                        found.append((METHOD_RANK["name_state"], start, same[0], folded[start:after.end()]))
                        break
                if len(entries) == 1 and name not in self.state_names and name not in self._stop \
                        and not _NEXT_CAPITAL.match(folded, end) \
                        and self._cue_re.search(folded[max(0, start - 20):start]):
                    found.append((METHOD_RANK["name"], start, entries[0][0], name))
                break  # the longest name at this position decides (ambiguous ones give nothing)
        if not found:
            return Location(None, "none")
        found.sort()
        best = found[0]
        method = next(k for k, v in METHOD_RANK.items() if v == best[0])
        candidates = tuple(dict.fromkeys(f[2] for f in sorted(found, key=lambda f: f[1])))
        return Location(best[2], method, text_span(text, best[3]), candidates)


_NEXT_CAPITAL = re.compile(r" [A-Z]")
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)


def _matches_at(text: str, start: int, name: str) -> bool:
    end = start + len(name)
    return text.startswith(name, start) and (end == len(text) or not (text[end].isalnum() or text[end] == "_"))


def text_span(text: str, folded_match: str) -> str:
    """The original spelling (with accents) of a match found in the folded text."""
    start = _fold(text).find(folded_match)
    return text[start:start + len(folded_match)] if start >= 0 else folded_match
