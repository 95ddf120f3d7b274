"""Everyday names of establishments and trades -> the words of the SCIAN catalogue (no Dagster).

The catalogue says "Restaurantes con servicio de preparación de tacos y tortas" and "Comercio al por menor de
calzado"; people type "taquería" and "zapatería". Two sources meet them, neither taken from a query set:

1. **Morphology** (:func:`base_words`, applied to every query word by the engine): Spanish names a shop or workshop
   after what it sells or makes with *-ería* (tortillería, taquería, heladería), a trade or a place with *-ero* /
   *-era* (llantera, gasolinera, zapatero), an establishment after its verb with *-dora* (purificadora ->
   purificación), and shrinks words with *-ito* / *-ita* (tiendita). The rules undo the suffix and its spelling
   changes (taqu- -> taco, marisqu- -> marisco, jugu- -> jugo, cervec- -> cerveza, dulc- -> dulce) and give candidate
   base words; the index keeps only the candidates whose stem is in its vocabulary (catalogue titles, their parents,
   CIIU notes and register examples), so a rule adds words of the corpus, never invented ones. A few derivations
   no rule produces are listed by hand (:data:`IRREGULAR`: panadería <- pan, carnicería <- carne, herrería <- hierro).
2. **Hand-written names** (:data:`EVERYDAY_NAMES`, added to the class documents as ``Nombres comunes: ...``):
   general knowledge of Mexican names and synonyms that no rule derives from the class's own text (tlapalería is a
   ferretería, a vulcanizadora repairs tyres, an estética is a salón de belleza, a zapato is calzado). A name whose
   words the rules already meet in its class's own text is not listed, unless those words also meet many other
   classes (carnicería: the rule's "carne" is in some 20 titles; the name says the shop is the retail one).

The judged dev set of the site search (``site_queries_dev.json``) shares words with some of these names, so
``fmlake search evaluate --site-queries FILE --everyday-leave-out`` also reports the dev set with every hand-written
name that shares a word with one of its queries removed: how much of the result the list carries for queries it
was not written for.
"""

from __future__ import annotations

import re
from typing import Iterable

from assets.search.text import STOPWORDS, fold, tokens

# hand-written, general Spanish knowledge: derivations no suffix rule makes (folded word -> base words)
IRREGULAR: dict[str, tuple[str, ...]] = {
    "panaderia": ("pan",), "panadero": ("pan",), "panaderias": ("pan",),
    "carniceria": ("carne",), "carnicero": ("carne",), "carnicerias": ("carne",),
    "herreria": ("hierro",), "herrero": ("hierro",), "ferreteria": ("hierro",),
    "verduleria": ("verdura",), "verdulero": ("verdura",), "vinateria": ("vino",),
    "neveria": ("nieve",), "cafeteria": ("cafe",), "rosticeria": ("rostizado",),
    "tapiceria": ("tapiz",), "tapicero": ("tapiz",), "constructora": ("construccion",),
}

# hand-written, general knowledge of Mexican establishment names and synonyms, per SCIAN 2018 class; only names
# the suffix rules do not derive from the class's own text (a name may point to several classes)
EVERYDAY_NAMES: dict[str, tuple[str, ...]] = {
    "311830": ("molino de nixtamal",),
    "311812": ("pan dulce", "bizcochería"),
    "311811": ("fábrica de pan",),
    "311520": ("fábrica de paletas y helados",),
    "312112": ("garrafones de agua",),
    "722514": ("puesto de tacos",),
    "722515": ("juguería",),
    "722511": ("fonda", "cocina económica"),
    "722412": ("pulquería",),
    "722411": ("antro",),
    "461110": ("tienda de la esquina",),
    "461121": ("carnicería",),   # the rule's "carne" meets some 20 classes (slaughter, wholesale, retail)
    "461122": ("pollería", "venta de pollo"),
    "461130": ("recaudería",),
    "461150": ("cremería", "salchichonería"),
    "461170": ("nevería",),
    "461212": ("depósito de cerveza", "expendio de cerveza"),
    "462112": ("tienda de conveniencia",),
    "463211": ("tienda de ropa", "boutique"),
    "463310": ("zapatería", "venta de zapatos"),
    "464111": ("botica",),
    "465912": ("tienda de regalos",),
    "466212": ("tienda de celulares",),
    "467116": ("casa de materiales",),
    "468211": ("autopartes",),
    "468412": ("gasera",),
    "811111": ("taller mecánico",),
    "811191": ("vulcanizadora",),
    "811192": ("autolavado", "lavado de autos"),
    "811430": ("zapatero remendón",),
    "811492": ("taller de motos",),
    "811493": ("taller de bicicletas",),
    "812110": ("estética", "barbería", "corte de pelo"),
    "812410": ("pensión de autos",),
    "238350": ("carpintería de obra",),
    "238320": ("pintor de casas",),
    "561431": ("copias",),
    "561432": ("cibercafé", "café internet"),
    "541211": ("despacho contable", "contador"),
    "541110": ("despacho de abogados", "abogado"),
    "621111": ("doctor",),
    "621211": ("dentista",),
    "622111": ("clínica privada",),
    "624411": ("estancia infantil",),
    "611111": ("kínder", "jardín de niños"),
    "611631": ("escuela de inglés",),
    "713943": ("gimnasio", "gym"),
    "211111": ("pozo petrolero",),
    "315229": ("maquiladora de ropa", "taller de costura"),
    "315225": ("costurera", "modista"),
    "336390": ("fábrica de autopartes",),
    "484119": ("fletes",),
}


def everyday_names(code: str, leave_out: Iterable[str] = ()) -> tuple[str, ...]:
    """The hand-written names of a class; ``leave_out``: folded words whose names are dropped (the leave-out check
    of the dev set)."""
    names = EVERYDAY_NAMES.get(code, ())
    drop = set(leave_out)
    if not drop:
        return names
    return tuple(n for n in names if not (content_words(n) & drop))


def content_words(text: str) -> set[str]:
    """Folded words of ``text`` that carry meaning (no stop words, at least 2 letters)."""
    return {t for t in tokens(text) if len(t) >= 2 and t not in STOPWORDS}


# ---------------------------------------------------------------- suffix rules
# (suffix, minimum word length): the stem left must keep at least 3 letters
_SUFFIXES = (("erias", 8), ("eria", 7), ("eros", 8), ("eras", 8), ("ero", 7), ("era", 7),
             ("citos", 8), ("citas", 8), ("cito", 7), ("cita", 7), ("itos", 7), ("itas", 7), ("ito", 6), ("ita", 6))
_AGENT = re.compile(r"^(\w{3,})(a|e|i)(dora|doras|dor|dores)$")     # purificadora, embotelladora, tostador


def _respell(base: str) -> list[str]:
    """Stems as written before a front vowel -> as written before a back one (taqu -> tac, jugu -> jug,
    cervec -> cervez): the candidates a suffix rule may come from."""
    out = [base]
    if base.endswith("qu"):
        out.append(base[:-2] + "c")
    elif base.endswith("gu"):
        out.append(base[:-2] + "g")
    elif base.endswith("c"):
        out.append(base[:-1] + "z")
    return out


def base_words(word: str) -> tuple[str, ...]:
    """Candidate base words of one folded word (``taqueria`` -> ``(taqu, taquo, ..., taco, taca, tace)``):
    the irregular ones first, then what the suffix rules give (nothing when no rule applies)."""
    word = fold(word)
    out: list[str] = list(IRREGULAR.get(word, ()))
    for suffix, min_len in _SUFFIXES:
        if word.endswith(suffix) and len(word) >= min_len:
            for b in _respell(word[:-len(suffix)]):
                out.extend((b, b + "o", b + "a", b + "e", b + "os", b + "as", b + "es"))
            break
    m = _AGENT.match(word)
    if m:
        root, vowel = m.group(1), m.group(2)
        out.extend((root + vowel + "cion", root + vowel + "do", root + vowel + "r"))
    return tuple(w for w in dict.fromkeys(out) if w != word and len(w) >= 3)


def shop_words(query: str) -> list[str]:
    """The query's shop names: folded words with the *-ería* suffix (mueblería, pescadería, zapaterías). Spanish
    names a shop after what it sells with it; where the catalogue has a retail class of that thing (sector 46,
    "Comercio al por menor de muebles"), that is the establishment meant, not the factory that makes it (where it
    has none, as for tortillería, panadería or herrería, the shop is the workshop and nothing changes)."""
    return [w for w in tokens(query) if any(w.endswith(sfx) and len(w) >= n for sfx, n in _SUFFIXES[:2])]


def met_by(name: str, stems: set[str]) -> bool:
    """Whether every content word of ``name`` meets ``stems`` (a document's stems) exactly, as a word-family
    expansion (:func:`assets.search.text.stems_meet`) or through one of its :func:`base_words`: the rules already
    find that document for that name."""
    from assets.search.text import analyse, stems_meet

    def meets(s: str) -> bool:
        return s in stems or any(stems_meet(s, v) for v in stems)

    words = content_words(name)
    return bool(words) and all(
        any(meets(s) for s in analyse(w)) or any(meets(s) for b in base_words(w) for s in analyse(b))
        for w in words)
