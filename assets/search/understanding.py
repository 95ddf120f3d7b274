"""Query understanding: what a site visitor asks for, as a structured lookup (no Dagster).

``QueryParser(places, sectors).parse("cuántas personas trabajan en la manufactura de Reynosa en 2018")`` ->
``ParsedQuery(places=[Place('28032', 'Reynosa', ...)], years=[2018], metrics=['employment'], sectors=['31-33'])``.

* **places**: municipality and state names from the municipality catalogue (silver.municipalities) and their common
  variants: accents and case folded, the municipal seat's name, leading articles and "Ciudad"/"Heroica" dropped or
  added ("Victoria" = "Ciudad Victoria"), the state's short name without its "de ..." tail ("Coahuila", "Veracruz",
  "Michoacán"), its abbreviation ("Tamps.", "CDMX"), "Estado de México"/"Edomex" and "nacional"/"país"; a
  municipality by the one-word head of a name with a "de ..." tail ("Ecatepec") when that head names no other place.
  A name that is also an everyday word of the catalogue ("Casas", "Progreso", "Reforma") is a place only after
  "en"/"de". A municipality name shared by several states resolves to the one in a state the query names, else to
  every candidate (the lookup prefers the one with facts).
* **years**: 4-digit years 1990-2039.
* **measures**: colloquial words for the census variables ("trabajan", "empleo", "personal ocupado" ->
  employment; "ganan", "salarios", "remuneraciones" -> remuneration; "producción"; "valor agregado"; "inversión";
  "productividad"), with "crecimiento"/"cambió" turning a level into its change between censuses.
* **sectors**: everyday names of the SCIAN sectors ("manufactura", "fábricas", "comercio al por menor", "tiendas",
  "minería", "hoteles y restaurantes"), plus the sector titles themselves from the catalogue; the caller can map
  activity words to a sector through the SCIAN classes (``SiteSearch`` does, with the index's BM25).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from assets.search.text import STOPWORDS, fold, singular, stem, tokens

ARTICLES = frozenset({"el", "la", "los", "las"})   # leading articles of place names, dropped or counted aside
YEAR_RE = re.compile(r"\b(19[9]\d|20[0-3]\d)\b")
MAX_PLACE_WORDS = 6

# measure -> trigger phrases (folded words; a trailing * is a prefix); checked longest first
MEASURES: dict[str, tuple[str, ...]] = {
    "productivity": ("productividad", "productiv*", "valor agregado por persona", "valor agregado por trabajador",
                     "produce cada trabajador"),
    "remuneration_per_worker": ("salario promedio", "sueldo promedio", "remuneracion por persona",
                                "remuneracion promedio", "ganan en promedio", "cuanto gana un", "salario por",
                                "cuanto gana cada"),
    "remuneration": ("ganan", "gana", "ganaban", "salario*", "sueldo*", "remuneracion*", "pagan en", "nomina"),
    "value_added": ("valor agregado", "valor anadido", "vacb"),
    "intermediate_consumption": ("consumo intermedio", "insumos"),
    "fixed_capital_formation": ("formacion bruta de capital", "capital fijo"),
    "fixed_assets": ("activos fijos", "acervo"),
    "investment": ("inversion*", "invierte*", "invirtio", "invirtieron"),
    "gross_output": ("produccion*", "produce", "producen", "produjo", "produjeron", "producido", "producto bruto",
                     "ventas"),
    "employment": ("personal ocupado", "trabajan", "trabajaba*", "trabajador*", "trabajo", "empleo*", "emplea*",
                   "ocupa", "ocupaba*", "ocupan", "ocupados", "cuantas personas", "cuanta gente", "plazas",
                   "puestos de trabajo"),
    "share_national": ("participacion nacional", "del total nacional", "porcentaje nacional", "peso nacional"),
    "share_state": ("participacion estatal", "del total estatal", "porcentaje estatal", "peso en el estado"),
    "price_index": ("indice de precios", "precios productor", "inflacion"),
}
# a share asked in other words ("participación de Reynosa en el empleo estatal"): the scope from these words, else
# from the place (a municipality's share is of its state, a state's of the country)
SHARE_WORDS = ("participacion", "porcentaje", "proporcion", "peso", "aporta", "aportacion", "contribucion", "concentra",
               "concentran", "representa", "representan")
SHARE_SCOPE = {"share_national": ("nacional", "pais", "nacion"), "share_state": ("estatal", "estado", "entidad")}
GROWTH_WORDS = ("crecimiento", "crecio", "crece", "crecieron", "variacion", "cambio", "cambiado", "aumento",
                "aumentado", "disminuyo", "bajo", "subio", "evolucion")
# metrics of gold.industry_facts each measure may mean, best first
MEASURE_METRICS: dict[str, tuple[str, ...]] = {
    "employment": ("employment",),
    "remuneration": ("remuneration", "remuneration_per_worker"),
    "remuneration_per_worker": ("remuneration_per_worker", "remuneration"),
    "gross_output": ("gross_output",),
    "value_added": ("value_added", "productivity"),
    "intermediate_consumption": ("intermediate_consumption", "intermediate_share"),
    "fixed_capital_formation": ("fixed_capital_formation",),
    "fixed_assets": ("fixed_assets",),
    "investment": ("investment", "fixed_capital_formation"),
    "productivity": ("productivity",),
    "share_national": ("share_national_employment", "share_national_value_added", "share_national_gross_output"),
    "share_state": ("share_state_employment", "share_state_value_added"),
    "price_index": ("price_index",),
}
# measure -> how a notice names it ("No hay cifras de remuneraciones ...")
MEASURE_LABELS: dict[str, str] = {
    "employment": "personal ocupado", "remuneration": "remuneraciones",
    "remuneration_per_worker": "remuneraciones por persona ocupada", "gross_output": "producción bruta",
    "value_added": "valor agregado", "intermediate_consumption": "consumo intermedio",
    "fixed_capital_formation": "formación bruta de capital fijo", "fixed_assets": "activos fijos",
    "investment": "inversión", "productivity": "productividad", "share_national": "participación nacional",
    "share_state": "participación estatal", "price_index": "índice de precios",
}
GROWTH_METRICS = {"employment": "employment_growth", "gross_output": "gross_output_growth",
                  "value_added": "value_added_growth", "remuneration": "remuneration_growth",
                  "productivity": "productivity_growth", "remuneration_per_worker": "remuneration_per_worker_growth",
                  "price_index": "price_index_change", "share_national_employment": "share_national_employment_change",
                  "share_national_value_added": "share_national_value_added_change",
                  "share_state_employment": "share_state_employment_change"}

# SCIAN sector -> everyday words (folded; * = prefix)
SECTOR_WORDS: dict[str, tuple[str, ...]] = {
    "11": ("agricultura", "agricola*", "ganaderia", "ganadero*", "pesca", "forestal", "campo", "agropecuari*",
           "cultivo*", "cria de animales"),
    "21": ("mineria", "minero*", "minera*", "minas", "mina", "petrolera*", "extraccion de petroleo"),
    "22": ("electricidad", "energia electrica", "agua potable", "suministro de agua", "suministro de gas"),
    "23": ("construccion", "constructora*", "obra civil", "edificacion"),
    "31-33": ("manufactura*", "manufacturera*", "fabricas", "fabrica", "maquiladora*", "industria manufacturera",
              "industrias manufactureras", "manufacturero*"),
    "43": ("comercio al por mayor", "mayoreo", "mayorista*", "comercio mayorista"),
    "46": ("comercio al por menor", "menudeo", "minorista*", "tiendas", "comercio minorista", "comercio"),
    "48-49": ("transporte*", "correos", "almacenamiento", "logistica"),
    "51": ("medios masivos", "telecomunicacion*", "informacion en medios", "editorial*"),
    "52": ("financieros", "bancos", "banca", "seguros", "servicios financieros"),
    "53": ("inmobiliari*", "alquiler", "renta de bienes"),
    "54": ("servicios profesionales", "cientificos y tecnicos", "despachos"),
    "55": ("corporativos", "grupos empresariales"),
    "56": ("apoyo a los negocios", "manejo de residuos", "residuos"),
    "61": ("educativos", "educacion", "escuelas", "servicios educativos"),
    "62": ("salud", "hospitales", "asistencia social", "clinicas"),
    "71": ("esparcimiento", "culturales", "deportivos", "recreativos", "entretenimiento"),
    "72": ("hoteles", "restaurantes", "alojamiento", "preparacion de alimentos", "turismo", "hoteleria"),
    "81": ("otros servicios",),
}
# words that ask for a place's profile (population, dwellings, migration, shelters)
PROFILE_WORDS = ("poblacion", "habitantes", "viven", "viviendas", "mujeres", "hombres", "albergue", "albergues",
                 "migracion", "migrantes", "migrante", "migratoria", "migratorio", "perfil", "municipio",
                 "cabecera")
# words that make a query a question about a figure even without a measure word
FIGURE_CUES = ("cuanto", "cuantos", "cuanta", "cuantas", "cifra", "dato", "total de", "numero de")

# state variants beyond the catalogue's own names and abbreviations
STATE_VARIANTS = {"09": ("cdmx", "df", "distrito federal", "ciudad de mexico"),
                  "15": ("estado de mexico", "edomex", "edo mex", "edo de mexico"),
                  "05": ("coahuila",), "16": ("michoacan",), "30": ("veracruz",),
                  "19": ("nuevo leon", "nl"), "00": ("nacional", "pais", "republica mexicana", "todo mexico",
                                                     "total nacional", "a nivel nacional")}


@dataclass(frozen=True)
class Place:
    cve_geo: str            # 5 digits (municipality), 2 (state) or '00' (national)
    name: str
    level: str              # municipality | state | national
    state: str = ""


@dataclass
class ParsedQuery:
    text: str
    places: list[Place] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    growth: bool = False
    sectors: list[str] = field(default_factory=list)
    figure: bool = False            # a question about a figure (a measure was named, or "cuánto(s)")
    profile: bool = False           # asks about a place itself (population, dwellings, migration, shelters)
    rest: str = ""                  # the words no slot took (for mapping activities to a sector)

    @property
    def metrics(self) -> list[str]:
        """gold.industry_facts metrics the measures may mean (best first; changes when growth was asked). A share
        with another measure is the share of that measure first ("participación ... en el empleo" ->
        share_state_employment)."""
        out: list[str] = []
        for share in (m for m in self.measures if m.startswith("share_")):
            for base in self.measures:
                metric = f"{share}_{base}"
                if metric in MEASURE_METRICS[share] and metric not in out:
                    out.append(GROWTH_METRICS.get(metric, metric) if self.growth else metric)
        for m in self.measures:
            for metric in MEASURE_METRICS.get(m, ()):
                if self.growth:
                    metric = GROWTH_METRICS.get(metric, metric)
                if metric not in out:
                    out.append(metric)
        return out

    def as_dict(self) -> dict:
        return {"places": [p.__dict__ for p in self.places], "years": self.years, "measures": self.measures,
                "metrics": self.metrics, "growth": self.growth, "sectors": self.sectors, "figure": self.figure,
                "profile": self.profile}


def _phrase_matches(words: list[str], phrase: str) -> list[tuple[int, int]]:
    """Spans (start, end) of ``words`` matching ``phrase`` (folded words; a final ``*`` makes its last word a
    prefix)."""
    parts = phrase.split()
    prefix = parts[-1].endswith("*")
    if prefix:
        parts[-1] = parts[-1][:-1]
    n = len(parts)
    out = []
    for i in range(len(words) - n + 1):
        if words[i:i + n - 1] != parts[:-1]:
            continue
        last = words[i + n - 1]
        if last == parts[-1] or (prefix and last.startswith(parts[-1])):
            out.append((i, i + n))
    return out


def _head_of(name: str) -> str | None:
    """The folded first word of a municipality name with a "de ..." tail ("Ecatepec de Morelos" -> "ecatepec"),
    when it is one word of five letters or more; else None."""
    words = tokens(name)
    if len(words) >= 3 and words[1] == "de" and len(words[0]) >= 5:
        return words[0]
    return None


class QueryParser:
    """Parses queries against a place catalogue and the sector titles (build once, parse many: thread-safe)."""

    def __init__(self, places: Iterable[dict], sector_titles: dict[str, str] | None = None,
                 common_words: Iterable[str] = ()) -> None:
        """``places``: rows with cve_geo, municipality_name, state_name, cve_entidad, seat_name (the columns of
        silver.municipalities; population_total orders namesakes); ``sector_titles``: SCIAN sector code ->
        title; ``common_words``: folded words of everyday text (e.g. the SCIAN titles' vocabulary) that a
        one-word place name must not be taken for unless "en"/"de" precedes it."""
        self._names: dict[tuple[str, ...], list[tuple[Place, int]]] = {}
        self._common = set(common_words)
        states: dict[str, str] = {}
        heads: dict[str, list[tuple[Place, int]]] = {}
        for r in places:
            code, name, state = r["cve_geo"], r["municipality_name"], r["state_name"]
            states[r["cve_entidad"]] = state
            place = Place(code, name, "municipality", state)
            pop = int(r.get("population_total") or 0)
            for variant in self._variants(name, r.get("seat_name")):
                self._add(variant, place, pop)
            head = _head_of(name)
            if head:
                heads.setdefault(head, []).append((place, pop))
        for code, state in states.items():
            place = Place(code, state, "state", state)
            for variant in (state, state.split(" de ")[0], *STATE_VARIANTS.get(code, ())):
                self._add(variant, place, 10**9)
        self._add_state_abbreviations(places, states)
        national = Place("00", "México (total nacional)", "national")
        for variant in STATE_VARIANTS["00"]:
            self._add(variant, national, 10**10)
        # "en México" is the country; the state is "Estado de México" / "Edomex"
        self._names[("mexico",)] = [(national, 10**10)]
        # "Ecatepec" for Ecatepec de Morelos, "Naucalpan", "Pachuca": the one-word head of a name with a "de ..."
        # tail, when one municipality has it and it names no other place (Oaxaca is the state; Tlalnepantla is
        # also a municipality of Morelos; "Valle" heads three names)
        for head, owners in heads.items():
            if len(owners) == 1 and (head,) not in self._names:
                self._add(head, *owners[0])
        self._max_words = max((len(k) for k in self._names), default=1)
        self._sectors = dict(sector_titles or {})
        self._sector_phrases: list[tuple[str, str]] = []
        for code, words in SECTOR_WORDS.items():
            for w in words:
                self._sector_phrases.append((w, code))
        for code, title in self._sectors.items():
            t = " ".join(tokens(title))
            if t:
                self._sector_phrases.append((t, code))
        self._sector_phrases.sort(key=lambda x: -len(x[0].split()))
        self._measure_phrases = sorted(((p, m) for m, ps in MEASURES.items() for p in ps),
                                       key=lambda x: -len(x[0].split()))

    def sector_title(self, code: str) -> str:
        """The catalogue title of a SCIAN sector code (the code itself when the catalogue lacks it)."""
        return self._sectors.get(code, code)

    def _add_state_abbreviations(self, places: Iterable[dict], states: dict[str, str]) -> None:
        for r in places:
            abbr = r.get("state_abbreviation")
            if abbr and r["cve_entidad"] in states:
                self._add(abbr, Place(r["cve_entidad"], states[r["cve_entidad"]], "state",
                                      states[r["cve_entidad"]]), 10**9)

    @staticmethod
    def _variants(name: str, seat: str | None) -> set[str]:
        out = {name}
        if seat:
            out.add(seat)
        for v in list(out):
            f = " ".join(tokens(v))
            for pre in (*(a + " " for a in sorted(ARTICLES)), "heroica ", "h ", "ciudad "):
                if f.startswith(pre) and len(f) > len(pre) + 3:
                    out.add(f[len(pre):])
            out.add(f)
        return out

    def _add(self, variant: str, place: Place, priority: int) -> None:
        key = tuple(tokens(variant))
        if not key or (len(key) == 1 and (key[0] in STOPWORDS or len(key[0]) < 3)):
            return
        entries = self._names.setdefault(key, [])
        if all(p != place for p, _ in entries):
            entries.append((place, priority))

    # ------------------------------------------------------------ parsing
    @staticmethod
    def _place_cue(words: list[str], i: int, q: "ParsedQuery") -> bool:
        """Whether the name at ``i`` whose one word (its article aside) is also a common word ("Casas", "Mina",
        "La Compañía") is said as a place: after "en", or after "de"/"del" in a question about a figure or a place
        ("población de Mina"); "constructora de casas" is about houses, "la compañía de luz" about electricity.
        A query that is the name alone is the place (``parse``)."""
        before = words[i - 1] if i > 0 else ""
        if before == "en":
            return True
        return before in ("de", "del") and bool(q.measures or any(w in PROFILE_WORDS or w in FIGURE_CUES
                                                                   for w in words))

    def parse(self, text: str) -> ParsedQuery:
        words = tokens(text)
        used = [False] * len(words)
        q = ParsedQuery(text=text)
        # years
        for i, w in enumerate(words):
            if YEAR_RE.fullmatch(w):
                q.years.append(int(w))
                used[i] = True
        # measures (longest phrases first)
        for phrase, measure in self._measure_phrases:
            for s, e in _phrase_matches(words, phrase):
                if not any(used[s:e]):
                    if measure not in q.measures:
                        q.measures.append(measure)
                    used[s:e] = [True] * (e - s)
        if "employment" in q.measures and any(m.startswith("remuneration") for m in q.measures):
            q.measures.remove("employment")   # "cuánto ganan los trabajadores": pay, not head count
        for i, w in enumerate(words):
            if w in GROWTH_WORDS:
                q.growth = True
                used[i] = True
        # places: longest names first, not over words already taken
        candidates: list[tuple[int, int, list[tuple[Place, int]]]] = []
        for n in range(min(self._max_words, MAX_PLACE_WORDS), 0, -1):
            for i in range(len(words) - n + 1):
                key = tuple(words[i:i + n])
                if key not in self._names or any(used[i:i + n]):
                    continue
                content = [w for w in key if w not in ARTICLES]   # "La Piedad", "La Compañía": one word
                if (len(content) == 1 and content[0] in self._common and n < len(words)
                        and not self._place_cue(words, i, q)):
                    continue
                candidates.append((i, i + n, self._names[key]))
                used[i:i + n] = [True] * n
        named_states = {p.cve_geo for _, _, entries in candidates for p, _ in entries if p.level == "state"}
        for s, e, entries in sorted(candidates):
            muni = [(p, pr) for p, pr in entries if p.level == "municipality"]
            states = [(p, pr) for p, pr in entries if p.level != "municipality"]
            if muni and named_states:
                in_state = [(p, pr) for p, pr in muni if p.cve_geo[:2] in named_states]
                if in_state:
                    muni = in_state
                    states = []   # "Victoria, Tamaulipas": the municipality, not also the state
            chosen = states + sorted(muni, key=lambda x: -x[1]) if states else sorted(muni, key=lambda x: -x[1])
            for p, _ in chosen:
                if p not in q.places:
                    q.places.append(p)
        # a state named only to locate a municipality in it is not a place of its own
        munis = {p.cve_geo[:2] for p in q.places if p.level == "municipality"}
        if munis:
            q.places = [p for p in q.places if not (p.level == "state" and p.cve_geo in munis
                                                       and any(m.state == p.name for m in q.places))]
        # sectors
        for phrase, code in self._sector_phrases:
            for s, e in _phrase_matches(words, phrase):
                if not any(used[s:e]):
                    if code not in q.sectors:
                        q.sectors.append(code)
                    used[s:e] = [True] * (e - s)
        # a share in other words: its scope from the query's words, else from the place named; only with a place,
        # a measure or a sector to be a share of ("participación ciudadana" is not a figure)
        if not any(m.startswith("share_") for m in q.measures):
            at = [i for i, w in enumerate(words) if w in SHARE_WORDS]
            if at and (q.places or q.measures or q.sectors):
                free = [w for w, u in zip(words, used) if not u]   # "Estado de México" is a place, not a scope
                scope = next((m for m, ws in SHARE_SCOPE.items() if any(w in ws for w in free)), None)
                if scope is None:
                    scope = "share_state" if any(p.level == "municipality" for p in q.places) else "share_national"
                q.measures.insert(0, scope)
                for i in at:
                    used[i] = True
        q.figure = bool(q.measures) or any(w in FIGURE_CUES for w in words)
        q.profile = any(w in PROFILE_WORDS for w in words)
        q.rest = " ".join(w for w, u in zip(words, used) if not u and w not in STOPWORDS and w not in FIGURE_CUES
                          and w not in PROFILE_WORDS and len(w) > 2)
        return q


def common_words(texts: Iterable[str]) -> set[str]:
    """Folded words of ``texts`` (e.g. SCIAN titles and everyday names) and their singulars ("compañías" ->
    "compania"): a place name of one such word needs "en"/"de" before it."""
    out: set[str] = set()
    for t in texts:
        for w in tokens(t):
            if len(w) > 2:
                out.add(w)
                out.add(singular(w))
    return out


__all__ = ["ParsedQuery", "Place", "QueryParser", "common_words", "fold", "stem"]
