"""Spanish text normalisation for coding: case, accents, punctuation, abbreviations, stop words.

Free-text answers arrive in every case ("PANADERIA", "Panadería"), with and without accents, with
abbreviations coders know ("fab. de pzas. automotrices", "cia", "s.a. de c.v.") and company-form
noise. ``Normalizer`` maps them to one comparable form; the stop words are only dropped for the word
features and the near-duplicate key (character n-grams keep them: "de" carries little, but
"venta de" vs "ventas" is still a signal).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Mapping

# Common Spanish function words (kept short on purpose: "sin", "para", "por" can change a code).
SPANISH_STOP_WORDS: frozenset[str] = frozenset(
    "de del la las el los y e o u a al en un una unos unas con su sus lo le les se que como".split()
)

# Abbreviations seen in census / register answers and crime reports, expanded before featurising.
DEFAULT_ABBREVIATIONS: dict[str, str] = {
    "fab": "fabricacion", "fabric": "fabricacion", "fabr": "fabricacion", "fca": "fabrica",
    "mfg": "manufactura", "manuf": "manufactura", "mfra": "manufactura",
    "prod": "produccion", "prods": "productos", "pdtos": "productos", "ptos": "productos",
    "pza": "pieza", "pzas": "piezas", "pzs": "piezas",
    "distrib": "distribucion", "comerc": "comercializacion",
    "elab": "elaboracion", "elabor": "elaboracion", "maq": "maquila", "maqs": "maquinas",
    "automot": "automotriz", "autom": "automotriz",
    "serv": "servicio", "servs": "servicios", "mant": "mantenimiento",
    "indust": "industria", "equip": "equipo",
    "mats": "materiales", "mtto": "mantenimiento", "mto": "mantenimiento",
    "const": "construccion", "constr": "construccion", "transp": "transporte",
    "elect": "electrico", "electr": "electrico", "electron": "electronico",
    "av": "avenida", "col": "colonia", "tel": "telefono", "cel": "celular",
}

# Company forms and filler that never decide a code.
_NOISE = re.compile(r"\b(s ?a ?p ?i ?de ?c ?v|s ?a ?de ?c ?v|s ?de ?r ?l ?de ?c ?v|s ?de ?r ?l|s ?a ?b ?de ?c ?v|sapi|sa de cv)\b")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"\d+")


def strip_accents(text: str) -> str:
    """'Panadería Ñandú' -> 'Panaderia Nandu' (NFKD, combining marks removed)."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Normalizer:
    """Lower case, no accents, no punctuation, abbreviations expanded, company forms removed.

    ``normalize`` gives the text the character n-grams see; ``key`` the near-duplicate key (stop
    words dropped, digits collapsed) the memory of human codes matches on.
    """

    abbreviations: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ABBREVIATIONS))
    stop_words: frozenset[str] = SPANISH_STOP_WORDS

    def normalize(self, text: str | None) -> str:
        if text is None:
            return ""
        s = strip_accents(str(text).lower())
        s = _NON_WORD.sub(" ", s)
        s = _NOISE.sub(" ", s)
        tokens = [self.abbreviations.get(t, t) for t in s.split()]
        return " ".join(tokens)

    def normalize_many(self, texts: Iterable[str | None]) -> list[str]:
        return [self.normalize(t) for t in texts]

    def key(self, normalized: str) -> str:
        """Near-duplicate key of an already normalised text."""
        return " ".join(_DIGITS.sub("0", t) for t in normalized.split() if t not in self.stop_words)


def is_blank(text: str | None) -> bool:
    """True for None, '' and texts with no letter or digit at all ('  ', '---', 'N/A' is not blank)."""
    return text is None or not any(ch.isalnum() for ch in str(text))
