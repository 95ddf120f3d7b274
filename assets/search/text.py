"""Spanish text normalisation for keyword search: lower case, accents folded, stop words dropped, Snowball stems.

``analyse("Fabricación de PANADERÍAS")`` -> ``["fabric", "panad"]``. Documents and queries go through the same
function, so "panaderías", "PANADERIA" and "panadería" all meet on the stem ``panad``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

# Spanish function words (Snowball list, accent-folded) plus catalogue boilerplate that carries no meaning
# for search ("otros", "excepto" and "n.c.p." appear in hundreds of SCIAN titles) and the forms of "hacer", which
# a query uses for any trade ("hacen páginas web", "hacen portones") and a class note for anything ("quienes hacen
# su corte" in Tala de árboles).
_STOPWORDS = """
a al algo algunas algunos ante antes como con contra cual cuando de del desde donde durante e el ella ellas
ellos en entre era erais eramos eran eras eres es esa esas ese eso esos esta estaba estado estais estamos estan
estar estas este esto estos estoy fue fueron fui fuimos ha habia han has hasta hay la las le les lo los mas me mi
mis mucho muchos muy nada ni no nos nosotras nosotros o os otra otras otro otros para pero poco por porque que
quien quienes se sea sean ser si sido sin sobre sois somos son soy su sus suya suyas suyo suyos tambien tanto te
tenia tiene tienen todo todos tu tus un una uno unos usted ustedes vosotras vosotros y ya
excepto ncp etc incluye incluyen incluido otros otras
hace hacen hacer hacemos haga hagan
""".split()
STOPWORDS = frozenset(_STOPWORDS)

_TOKEN = re.compile(r"[a-z0-9]+")
_stemmer_lock = threading.Lock()
_stemmer = None


def fold(text: str) -> str:
    """Lower case with accents removed (``ñ`` -> ``n``), keeping letters, digits and spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _stem_word(word: str) -> str:
    global _stemmer
    if _stemmer is None:
        with _stemmer_lock:
            if _stemmer is None:
                import Stemmer  # PyStemmer: the Snowball Spanish stemmer, C speed

                _stemmer = Stemmer.Stemmer("spanish")
    return _stemmer.stemWord(word)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball Spanish stem of one folded word (cached: vocabularies are small)."""
    return _stem_word(word)


def tokens(text: str) -> list[str]:
    """Folded word tokens of ``text`` (no stemming, stop words kept)."""
    return _TOKEN.findall(fold(text))


def analyse(text: str, max_tokens: int = 512) -> list[str]:
    """Tokens for BM25: folded, stop words and 1-letter tokens dropped, stemmed; at most ``max_tokens``."""
    out: list[str] = []
    for tok in tokens(text):
        if len(tok) < 2 or tok in STOPWORDS:
            continue
        out.append(stem(tok))
        if len(out) >= max_tokens:
            break
    return out


SURFACE = "="      # marks a word as written (folded, not stemmed) among the BM25 terms


_VOWELS = frozenset("aeiou")


def singular(word: str) -> str:
    """A folded word without its plural ending: *-es* after a vowel and l, r, n, d, j, y or z (hoteles, mujeres,
    leyes), else *-s* (tiendas, coches, muebles, madres). Not a lemmatiser: what a plural and its singular
    share, the same way for a document and a query."""
    if len(word) > 4 and word.endswith("es") and word[-3] in "lrndjyz" and word[-4] in _VOWELS:
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and word[-2] != "s":
        return word[:-1]
    return word


def surface_terms(text: str, max_tokens: int = 512) -> list[str]:
    """The words of ``text`` as written, in the singular (folded, :func:`singular`, not stemmed; stop words,
    digits and words under 3 letters dropped), marked with :data:`SURFACE`: indexed beside the stems, so that of
    two words with one stem ("fonda" and "fondos", "óptica" and "ópticos") the one a query wrote counts more."""
    out: list[str] = []
    for tok in tokens(text):
        if len(tok) < 3 or tok in STOPWORDS or tok.isdigit():
            continue
        out.append(SURFACE + singular(tok))
        if len(out) >= max_tokens:
            break
    return out


# ---------------------------------------------------------------- meeting inflections and derivations
EXPAND_MIN_PREFIX = 5      # stems sharing at least this many leading letters may meet
EXPAND_WEIGHT = 0.6        # an expanded term counts this much of an exact one


def stems_meet(a: str, b: str, min_prefix: int = EXPAND_MIN_PREFIX) -> bool:
    """Whether two different stems are forms of one word family: the shorter one (at least ``min_prefix`` letters)
    is a prefix of the longer one, give or take its last letter.

    Snowball leaves derivations apart: ``tortilleri`` (tortillería) and ``tortill`` (tortillas), ``zapateri`` and
    ``zapat``, ``manufacturer`` and ``manufactur``, ``refaccionari`` and ``refaccion`` meet; ``carniceri`` and
    ``carn`` (4 letters) or ``tall`` and ``taller`` do not (too short to say)."""
    if a == b:
        return False
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if len(short) < min_prefix:
        return False
    p = 0
    for x, y in zip(short, long_):
        if x != y:
            break
        p += 1
    return p >= min_prefix and p >= len(short) - 1


# ---------------------------------------------------------------- spelling as it sounds
_SOUNDS = [(re.compile(a), b) for a, b in (
    (r"ch", "\x01"),              # ch is one sound: kept apart from c and h
    (r"qu(?=[ei])", "k"), (r"c(?=[ei])", "s"), (r"c", "k"), (r"z", "s"),   # seseo: ce, ci, z, s sound alike
    (r"g(?=[ei])", "j"),          # ge, gi and je, ji
    (r"v", "b"), (r"ll", "y"), (r"h", ""),   # b / v, ll / y (yeísmo), a silent h
    (r"([^r])\1+", r"\1"),        # doubled letters once, except rr: perro / pero, carro / caro are two words
    (r"\x01", "ch"),
)]
SOUND_MIN_LETTERS = 5      # shorter words have too many neighbours that sound alike


def sound_key(word: str) -> str:
    """A folded word or stem as Mexican Spanish pronounces it: the letters people mix up when they write by ear
    (c / s / z, b / v, ll / y, g / j, a silent h, doubled letters but rr) written one way. ``sound_key("gimnacio") ==
    sound_key("gimnasio")``, ``domisilio`` / ``domicilio``, ``cerbeza`` / ``cerveza``, ``ospital`` / ``hospital``."""
    for pattern, repl in _SOUNDS:
        word = pattern.sub(repl, word)
    return word


def _sounding(sounds: dict[str, list[str]], term: str) -> list[str]:
    """The terms of ``sounds`` (sound key -> terms) other than ``term`` that sound like it."""
    if len(term) < SOUND_MIN_LETTERS or not term.isalpha():
        return []
    return [v for v in sounds.get(sound_key(term), ()) if v != term]


class VocabExpander:
    """Query stem -> the vocabulary stems of the same word family (:func:`stems_meet`), looked up by their first
    ``min_prefix`` letters (a dict of small buckets: microseconds per query word); and a stem the vocabulary does
    not know -> the vocabulary stems that sound the same (:meth:`respell`)."""

    def __init__(self, vocabulary, min_prefix: int = EXPAND_MIN_PREFIX) -> None:
        self.min_prefix = min_prefix
        self._buckets: dict[str, list[str]] = {}
        self._sounds: dict[str, list[str]] = {}
        self._word_sounds: dict[str, list[str]] = {}     # the same for the words as written (surface terms)
        for v in vocabulary:
            if len(v) >= min_prefix and not v.isdigit() and not v.startswith(SURFACE):
                self._buckets.setdefault(v[:min_prefix], []).append(v)
            if len(v) >= SOUND_MIN_LETTERS and v.isalpha():
                self._sounds.setdefault(sound_key(v), []).append(v)
            elif v.startswith(SURFACE) and len(v) > SOUND_MIN_LETTERS and v[1:].isalpha():
                self._word_sounds.setdefault(sound_key(v[1:]), []).append(v[1:])

    def respell(self, stem_: str) -> list[str]:
        """The vocabulary stems written differently from ``stem_`` that sound the same (:func:`sound_key`): what
        a query word written by ear ("gimnacio", "domisilio") meant. Callers ask only for stems the vocabulary
        lacks: a known word is taken as written (casa and caza are both words)."""
        return _sounding(self._sounds, stem_)

    def respell_word(self, word: str) -> list[str]:
        """:meth:`respell` for a folded singular word: the words of the vocabulary as written (its surface terms)
        that sound the same, ``bulcanizadora`` -> ``vulcanizadora``."""
        return _sounding(self._word_sounds, word)

    def expand(self, stem_: str) -> list[str]:
        if len(stem_) < self.min_prefix or stem_.isdigit():
            return []
        return [v for v in self._buckets.get(stem_[:self.min_prefix], ()) if stems_meet(stem_, v, self.min_prefix)]
