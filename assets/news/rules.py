"""Embedded default "model": a rule/lexicon extractor of migrant women and girls in Spanish news.

It answers the same question as the LLMs (1 = present, 2 = absent) with no server, and appears in
every output as one more model (``RULES_MODEL``). An article is ``1`` when it holds both

* a **female mention** (in a sentence, with the migration context in that sentence or the one
  just before or after — news summaries often name the migrants in one sentence and the women in
  the next): a female noun (mujer, niña, madre, embarazada, hija, esposa, señora, …), or a
  feminine form used as a noun — a feminine determiner or a preposition right before refugiada,
  desplazada, deportada, hondureña, mexicana, … ("las refugiadas", "para mexicanas"), a feminine
  determiner before an epicene word ("las migrantes", "una solicitante", "las adolescentes"), or an
  epicene young person with feminine agreement ("adolescentes migrantes no acompañadas"); and
* a **migration context**: migrante, refugiad-, asilo, deportad-, caravana, albergue, estación
  migratoria, detención migratoria, centro de detención, protección internacional, …

Traps it avoids, on purpose:

* organisation and document names: a female noun inside a chain of capitalised words ("Instituto
  para las Mujeres en la Migración", "ONU Mujeres", "Día Internacional de la Mujer", "Women’s
  Refugee Commission") is a name, not a presence;
* grammatical feminine of "personas"/"familias"/"autoridades": "personas migrantes … encerradas",
  "personas refugiadas" are not women (the feminine form is only read as a woman when it stands as a
  noun, i.e. right after a determiner or preposition);
* gender-neutral groups ("niñez migrante", "familias", "menores de edad", "personas") are not a
  presence of women or girls, and a negated mention ("ninguna niña", "sin mujeres") does not count;
* female words with no migration in the sentence ("el presidente y su esposa") are not a presence.

The result carries the evidence (matched words and context), so a person can audit every ``1``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

RULES_VERSION = "lexicon-v1"
RULES_MODEL = "rules-es"

# Female nouns: a woman or a girl whatever the context of the word.
FEMALE_NOUNS = {
    "mujer", "mujeres", "nina", "ninas", "madre", "madres", "embarazada", "embarazadas", "hija", "hijas",
    "esposa", "esposas", "abuela", "abuelas", "senora", "senoras", "muchacha", "muchachas", "chica", "chicas",
    "jovencita", "jovencitas", "hermana", "hermanas", "nieta", "nietas",
    "women", "woman", "girl", "girls", "mother", "mothers",
}
# Feminine forms that name a woman only when used as a noun (after a determiner or a preposition).
FEMININE_FORMS = {
    "migranta", "migrantas", "refugiada", "refugiadas", "desplazada", "desplazadas", "deportada", "deportadas",
    "detenida", "detenidas", "retornada", "retornadas", "expulsada", "expulsadas", "trabajadora", "trabajadoras",
    "jornalera", "jornaleras", "extranjera", "extranjeras", "adulta", "adultas",
    "hondurena", "hondurenas", "guatemalteca", "guatemaltecas", "salvadorena", "salvadorenas", "mexicana",
    "mexicanas", "venezolana", "venezolanas", "haitiana", "haitianas", "cubana", "cubanas", "colombiana",
    "colombianas", "ecuatoriana", "ecuatorianas", "centroamericana", "centroamericanas", "africana",
    "africanas", "peruana", "peruanas", "dominicana", "dominicanas", "sudamericana", "sudamericanas",
}
# Same form for both sexes: a woman only with a feminine determiner ("las migrantes", "una solicitante").
EPICENE = {
    "migrante", "migrantes", "inmigrante", "inmigrantes", "emigrante", "emigrantes", "solicitante",
    "solicitantes", "adolescente", "adolescentes", "joven", "jovenes", "nicaraguense", "nicaraguenses",
    "indigena", "indigenas", "menor", "menores",
}
# Epicene young people followed (within 3 words) by a feminine agreement: "adolescentes … no acompañadas".
YOUNG_EPICENE = {"adolescente", "adolescentes", "joven", "jovenes", "menor", "menores"}
FEMININE_AGREEMENT = {
    "acompanada", "acompanadas", "detenida", "detenidas", "embarazada", "embarazadas", "deportada",
    "deportadas", "separada", "separadas", "desaparecida", "desaparecidas", "violentada", "violentadas",
    "rescatada", "rescatadas", "localizada", "localizadas", "canalizada", "canalizadas",
}
FEMININE_DETERMINERS = {
    "la", "las", "una", "unas", "esta", "estas", "esa", "esas", "aquella", "aquellas", "dichas", "otras", "otra",
    "varias", "muchas", "algunas", "ambas", "todas", "cuantas",
}
PREPOSITIONS = {"a", "para", "con", "entre", "de", "hacia", "contra", "sobre"}
NUMBER_WORDS = {"dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce",
                "veinte", "treinta", "cien", "cientos", "miles", "decenas", "centenares"}
NEGATIONS = {"sin", "ninguna", "ningun", "ni"}
# Words that join the capitalised words of a name ("Instituto para las Mujeres en la Migración").
CONNECTORS = {"de", "del", "la", "las", "los", "el", "para", "en", "y", "e", "por", "a", "of", "for", "the", "and"}

MIGRATION_STEMS = (
    "migrant", "inmigrant", "emigrant", "migrator", "refugiad", "refugee", "asilo", "asylum", "solicitant",
    "desplazad", "deportad", "deportacion", "expulsad", "retornad", "caravana", "albergue", "albergad",
    "transmigrant",
)
MIGRATION_PHRASES = (
    "centro de detencion", "centros de detencion", "estacion migratoria", "estaciones migratorias",
    "proteccion internacional", "en transito", "movilidad humana", "no acompanad", "proteccion consular",
    "cruzar el rio", "cruzaron el rio", "contexto de movilidad", "contexto de migracion",
)

_TOKEN = re.compile(r"[^\W\d_]+(?:[’'][^\W\d_]+)?|\d+", re.UNICODE)
_POSSESSIVE = re.compile(r"[’']s$")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def fold(s: str) -> str:
    """Lowercase without accents (ñ → n, á → a): the lexicon is written in this form."""
    nfkd = unicodedata.normalize("NFKD", s.lower())
    return "".join(c for c in nfkd if not unicodedata.combining(c))


@dataclass(frozen=True)
class RulesResult:
    answer: int  # 1 present, 2 absent
    evidence: tuple[str, ...]
    ignored: tuple[str, ...]  # female words seen and rejected (names, negations, no context)

    @property
    def raw(self) -> str:
        return str(self.answer)

    def explain(self) -> str:
        parts = []
        if self.evidence:
            parts.append("present: " + "; ".join(self.evidence))
        if self.ignored:
            parts.append("ignored: " + "; ".join(self.ignored))
        return " | ".join(parts) or "no female mention"


def _has_context(folded_sentence: str, tokens: list[str]) -> str | None:
    for tok in tokens:
        for stem in MIGRATION_STEMS:
            if tok.startswith(stem):
                return tok
    for phrase in MIGRATION_PHRASES:
        if phrase in folded_sentence:
            return phrase
    return None


def _name_chains(raw_tokens: list[str]) -> set[int]:
    """Indexes of tokens inside a proper-name chain: ≥ 2 capitalised words joined by connectors."""
    inside: set[int] = set()
    i, n = 0, len(raw_tokens)
    while i < n:
        if not raw_tokens[i][:1].isupper():
            i += 1
            continue
        j, caps, last_cap = i, 0, i
        while j < n:
            tok = raw_tokens[j]
            if tok[:1].isupper():
                caps += 1
                last_cap = j
            elif fold(tok) not in CONNECTORS:
                break
            j += 1
        if caps >= 2:
            inside.update(range(i, last_cap + 1))
        i = last_cap + 1
    return inside


def _female_mentions(raw_tokens: list[str], folded: list[str]) -> tuple[list[tuple[int, str]], list[str]]:
    """(index, reason) of female mentions in one sentence, plus rejected ones with why."""
    names = _name_chains(raw_tokens)
    found: list[tuple[int, str]] = []
    ignored: list[str] = []
    for i, tok in enumerate(folded):
        prev = folded[i - 1] if i else ""
        prev2 = folded[i - 2] if i > 1 else ""
        kind = None
        if tok in FEMALE_NOUNS:
            kind = "female noun"
        elif tok in FEMININE_FORMS and (prev in FEMININE_DETERMINERS or prev in PREPOSITIONS
                                        or prev in NUMBER_WORDS or prev.isdigit()):
            kind = f"feminine noun use after '{prev}'"
        elif tok in EPICENE and prev in FEMININE_DETERMINERS:
            kind = f"feminine determiner '{prev}'"
        elif tok in YOUNG_EPICENE and any(t in FEMININE_AGREEMENT for t in folded[i + 1:i + 4]):
            kind = "feminine agreement"
        if kind is None:
            continue
        word = raw_tokens[i]
        if i in names:
            ignored.append(f"'{word}' in a name")
            continue
        if prev in NEGATIONS or (prev2 in NEGATIONS and prev in {"una", "la", "las"}):
            ignored.append(f"'{word}' negated")
            continue
        found.append((i, kind))
    return found, ignored


class RulesExtractor:
    """Stateless and thread-safe; ``answer(text)`` costs well under a millisecond."""

    model = RULES_MODEL
    version = RULES_VERSION

    def analyse(self, text: str) -> RulesResult:
        evidence: list[str] = []
        ignored: list[str] = []
        sentences = []
        for sentence in _SENTENCE.split(text or ""):
            raw_tokens = _TOKEN.findall(sentence)
            if raw_tokens:
                folded = [_POSSESSIVE.sub("", fold(t)) for t in raw_tokens]
                sentences.append((raw_tokens, folded, sentence))
        contexts: list[str | None] | None = None
        for k, (raw_tokens, folded, sentence) in enumerate(sentences):
            mentions, rejected = _female_mentions(raw_tokens, folded)
            ignored.extend(rejected)
            if not mentions:
                continue
            if contexts is None:  # only articles with a female mention pay for the context scan
                contexts = [_has_context(fold(s), f) for _, f, s in sentences]
            context = contexts[k] or (contexts[k - 1] if k else None) or \
                (contexts[k + 1] if k + 1 < len(contexts) else None)
            for i, kind in mentions:
                phrase = " ".join(raw_tokens[max(0, i - 1):i + 2])
                if context:
                    evidence.append(f"'{phrase}' ({kind}; context '{context}')")
                else:
                    ignored.append(f"'{raw_tokens[i]}' without migration context")
        return RulesResult(1 if evidence else 2, tuple(evidence), tuple(ignored))

    def answer(self, text: str) -> int:
        return self.analyse(text).answer
