"""Site search: query understanding + a structured lookup of facts and place profiles, over the hybrid ranking
(no Dagster).

``SiteSearch(index, parser).search("cuántas personas trabajan en la manufactura de Tamaulipas en 2018")`` ->
``SiteResult(answer={value: 323720, unit: 'personas', place: 'Tamaulipas', year: 2018, ...}, hits=[fact, ...])``:

1. the query is parsed (:mod:`assets.search.understanding`): places -> CVE_GEO, years, measures -> metrics,
   sectors (words, sector titles, or the SCIAN class the remaining words find with BM25 -> its sector);
2. the facts whose attributes match (metric, place, sector, year: the latest census when no year is named) and, for
   a place asked about without a figure (or with no sector), its profile, are ranked first, in that order; when no
   fact has the measure asked for there, a notice says so (``SiteResult.notice``) and the other figures of that
   place and sector take its place;
3. the rest of the list is the ranking of ``mode`` (bm25 | dense | hybrid) with those documents left out;
4. for a question about a figure whose best match is a fact of the place asked (or national with no place), the
   fact is the answer card: value, unit, place, year, source table and the page of the document citing it.
Free text with nothing to understand is exactly the ranking of ``mode``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assets.search.corpus import names_of, names_sentence_of
from assets.search.engine import Hit, SearchIndex, validate_query
from assets.search.everyday import EVERYDAY_NAMES, RETAIL_SECTOR, base_words, buys_retail, shop_words
from assets.search.text import analyse
from assets.search.understanding import MEASURE_LABELS, ParsedQuery, QueryParser
from assets.search.wording import fmt_value

MAX_STRUCTURED = 5     # matching facts ranked ahead of the free ranking
# the figures of a place and sector shown, in this order, when the measure asked for has no fact
OTHER_FIGURES = ("employment", "gross_output", "value_added", "productivity", "investment",
                 "fixed_capital_formation", "fixed_assets", "intermediate_consumption")
BUYER_WINDOW = 10     # a buyer's words put the retail classes among the best this many classes first
TYPE_ORDER = ("fact", "place", "document", "section", "scian_class", "table", "mart", "synthetic")


def sector_of_class(code: str) -> str:
    """SCIAN sector (as the census writes it) of a class code: 311830 -> 31-33, 484 -> 48-49, 461 -> 46."""
    two = code[:2]
    if two in ("31", "32", "33"):
        return "31-33"
    if two in ("48", "49"):
        return "48-49"
    return two


@dataclass
class SiteResult:
    query: str
    mode: str
    parsed: ParsedQuery
    hits: list[Hit]
    answer: dict[str, Any] | None = None
    structured: int = 0                       # how many of the hits came from the structured lookup
    groups: dict[str, list[int]] = field(default_factory=dict)   # doc_type -> ranks (after the answer)
    notice: str | None = None                 # why the figure asked for is not among the hits (no such fact)

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "understood": self.parsed.as_dict(), "answer": self.answer,
                "notice": self.notice, "structured": self.structured, "hits": [h.as_dict() for h in self.hits],
                "groups": self.groups}


class SiteSearch:
    """The site's search over one index (thread-safe for concurrent ``search`` calls: read-only state)."""

    def __init__(self, index: SearchIndex, parser: QueryParser | None = None) -> None:
        self.index = index
        self.parser = parser
        c = index.corpus
        self._types = np.asarray(c["doc_type"].to_list(), dtype=object)
        self._geo = np.asarray(c["geo_code"].fill_null("").to_list(), dtype=object)
        self._sector = np.asarray(c["sector_code"].fill_null("").to_list(), dtype=object)
        self._year = c["year"].fill_null(-1).to_numpy()
        self._metric = np.asarray(c["metric"].fill_null("").to_list(), dtype=object)
        self._value = c["value"].to_list()
        self._unit = c["unit"].to_list()
        self._cited = c["cited_in"].to_list()
        self._refs = c["ref"].to_list()
        self._titles = c["title"].to_list()
        self._bodies = c["body"].to_list()
        self._facts = np.flatnonzero(self._types == "fact")
        self._place_pos = {self._refs[i]: int(i) for i in np.flatnonzero(self._types == "place")}
        self._classes = self._types == "scian_class"
        # the retail classes' names: title and everyday names (not the notes or the register's examples, which
        # name much more: "Comercio al por menor de otros alimentos" lists pan and tortillas among its goods)
        self._retail = {int(i): set(analyse(f"{self._titles[i]} {names_sentence_of(self._bodies[i])}"))
                        for i in np.flatnonzero(self._classes & np.array(
                            [sector_of_class(r) == RETAIL_SECTOR for r in self._refs], dtype=bool))}
        # the classes' names of two words or more, as stems (title and everyday names: "cocina económica" ->
        # (cocin, econom) -> the fonda's class): a query that contains one asks for that class by its name; and the
        # stems of the one-word everyday names of the classes outside retail (marisquería, pulquería): a shop word
        # that is one of them is the name written for that class, not a shop named after what it sells
        self._named: dict[tuple[str, ...], list[int]] = {}
        self._named_elsewhere: set[str] = set()
        for i in np.flatnonzero(self._classes):
            for n, name in enumerate((self._titles[i], *names_of(self._bodies[i]))):
                key = tuple(analyse(name))
                if len(key) >= 2 and int(i) not in self._named.setdefault(key, []):
                    self._named[key].append(int(i))
                elif len(key) == 1 and n > 0 and int(i) not in self._retail:
                    self._named_elsewhere.add(key[0])
        self._place_or_fact = np.isin(self._types, ["place", "fact"])
        self._fact_sectors = set(self._sector[self._facts].tolist())
        self._fact_geos = set(self._geo[self._facts].tolist())
        self._fact_metrics = set(self._metric[self._facts].tolist())
        # base_year of a change fact is in its id (<sector>:<geo>:<y0>-<y1>:<metric>)
        self._base = np.array([_base_year(self._refs[i]) for i in self._facts], dtype=np.int64)

    # ------------------------------------------------------------ the structured lookup
    def _activity_sector(self, rest: str) -> str | None:
        """The sector of the SCIAN class the leftover words find best with BM25 (None: no class shares a word)."""
        if not rest or not self._classes.any():
            return None
        scores = self.index.bm25_scores(rest)
        scores = np.where(self._classes, scores, 0.0)
        best = int(np.argmax(scores))
        if scores[best] <= 0:
            return None
        sector = sector_of_class(self._refs[best])
        return sector if sector in self._fact_sectors else None

    def lookup(self, parsed: ParsedQuery) -> list[int]:
        """Corpus positions of the facts (and place profiles) the parsed query asks for, best first."""
        return self._lookup(parsed)[0]

    def _lookup(self, parsed: ParsedQuery) -> tuple[list[int], bool, str | None]:
        """(positions, whether the facts are of a sector the query named or its words found, a notice when no
        fact has the measure asked for: see :meth:`_other_figures`)."""
        places = [p.cve_geo for p in parsed.places]
        profiles = [self._place_pos[g] for g in places if g in self._place_pos]
        metrics = parsed.metrics
        if not metrics:
            return (profiles if parsed.places else []), False, None
        sectors = list(parsed.sectors)
        if not sectors:
            s = self._activity_sector(parsed.rest)
            if s:
                sectors = [s]
        f = self._facts
        mask = np.isin(self._metric[f], metrics)
        mask &= np.isin(self._geo[f], places) if places else np.isin(self._geo[f], ["00"])
        if sectors:
            mask &= np.isin(self._sector[f], sectors)
        cand = f[mask]
        base = self._base[mask]
        if not len(cand):
            return self._other_figures(parsed, places, sectors, profiles)
        years = self._year[cand]
        if parsed.years:
            want = np.isin(years, parsed.years) | np.isin(base, parsed.years)
            both = np.isin(years, parsed.years) & np.isin(base, parsed.years)
            if both.any():      # "entre 2013 y 2018": the change over exactly that period
                want = both
            if want.any():
                cand, years, base = cand[want], years[want], base[want]
        else:
            latest = years.max()
            keep = years == latest
            cand, years, base = cand[keep], years[keep], base[keep]
        rank_metric = {m: i for i, m in enumerate(metrics)}
        rank_place = {g: i for i, g in enumerate(places)}
        rank_sector = {s: i for i, s in enumerate(sectors)}
        order = sorted(range(len(cand)), key=lambda j: (
            rank_metric.get(self._metric[cand[j]], 99), rank_place.get(self._geo[cand[j]], 0),
            rank_sector.get(self._sector[cand[j]], 0), self._value[cand[j]] is None,
            -(self._value[cand[j]] or 0) if not sectors else 0, -int(base[j])))
        facts = [int(cand[j]) for j in order][:MAX_STRUCTURED]
        # a place question with no sector: the profile (all sectors at a glance) before the sector facts
        out = (profiles + facts) if (profiles and not sectors) else (facts + profiles)
        return list(dict.fromkeys(out)), bool(sectors), None

    def _other_figures(self, parsed: ParsedQuery, places: list[str], sectors: list[str], profiles: list[int]
                       ) -> tuple[list[int], bool, str | None]:
        """No fact has the measure asked for at that place and sector ("cuánto ganan los trabajadores de la
        manufactura en Tamaulipas" when the census loaded has no remuneraciones): say so, and put the figures
        that exist for the same place and sector (the year asked, else the latest; levels before changes unless
        a change was asked) where the asked one would be. Never an answer card: none of them is what was asked."""
        asked = ", ".join(dict.fromkeys(MEASURE_LABELS.get(m, m) for m in parsed.measures)) or "esa medida"
        if parsed.growth:
            asked = f"la variación de {asked}"
        names = [self.parser.sector_title(s) if self.parser is not None else s for s in sectors]
        names += [p.name for p in parsed.places if p.cve_geo in places]
        scope = ", ".join(names)
        others: list[int] = []
        if places or sectors:
            f = self._facts
            mask = np.isin(self._geo[f], places) if places else np.isin(self._geo[f], ["00"])
            if sectors:
                mask &= np.isin(self._sector[f], sectors)
            cand, base = f[mask], self._base[mask]
            if len(cand):
                years = self._year[cand]
                asked_years = [y for y in parsed.years if (years == y).any()]
                year = asked_years[0] if asked_years else int(years.max())
                cand, base = cand[years == year], base[years == year]
                order = sorted(range(len(cand)), key=lambda j: (
                    bool(base[j] >= 0) != parsed.growth,     # a change fact has a base year
                    OTHER_FIGURES.index(self._metric[cand[j]]) if self._metric[cand[j]] in OTHER_FIGURES else 99,
                    self._metric[cand[j]]))
                others = [int(cand[j]) for j in order][:MAX_STRUCTURED]
        if self._fact_metrics.intersection(parsed.metrics):
            notice = f"No hay cifras de {asked}" + (f" para {scope}." if scope else ".")
        else:
            notice = (f"Los datos publicados no tienen cifras de {asked}: gold.industry_facts no trae esa medida "
                      "(el censo cargado no la incluye).")
        if others:
            notice += f" Se muestran las otras cifras de {scope} ({self._year[others[0]]})."
        elif places and not self._fact_geos.intersection(places):
            notice += f" Las cifras económicas cargadas son de {self._fact_places()}."
        out = (others + profiles) if sectors else (profiles + others)
        return list(dict.fromkeys(out)), False, notice

    def _fact_places(self) -> str:
        """Where the facts are: their states (with municipalities when they have some) and the national total."""
        geos = self._fact_geos
        states = sorted({g[:2] for g in geos if g and g != "00"})
        names = []
        for st in states:
            name = self._titles[self._place_pos[st]].split(" (")[0] if st in self._place_pos else st
            names.append(f"{name} y sus municipios" if any(len(g) == 5 and g.startswith(st) for g in geos) else name)
        if "00" in geos:
            names.append("el total nacional")
        return ", ".join(names[:-1]) + " y " + names[-1] if len(names) > 1 else (names[0] if names else "ningún lugar")

    def answer_card(self, parsed: ParsedQuery, pos: int) -> dict[str, Any] | None:
        """The answer card of a fact (None when the position is not a published fact the query asked about)."""
        if self._types[pos] != "fact" or not parsed.figure:
            return None
        geo = self._geo[pos]
        if parsed.places and geo not in {p.cve_geo for p in parsed.places}:
            return None
        value, unit = self._value[pos], self._unit[pos]
        title = self._titles[pos]
        return {"doc_id": f"fact:{self._refs[pos]}", "fact_id": self._refs[pos], "title": title,
                "sentence": self._bodies[pos].split(" Fuente:")[0], "value": value, "unit": unit,
                "value_text": fmt_value(value, unit), "metric": self._metric[pos], "geo_code": geo,
                "place": title.rsplit(", ", 1)[0].split("), ", 1)[-1] if "), " in title else geo,
                "sector_code": self._sector[pos], "year": int(self._year[pos]) if self._year[pos] >= 0 else None,
                "source_table": "gold.industry_facts (de silver.industry_stats)", "cited_in": self._cited[pos]}

    # ------------------------------------------------------------ search
    def parse(self, query: str) -> ParsedQuery:
        return self.parser.parse(query) if self.parser is not None else ParsedQuery(text=query)

    def search(self, query: Any, mode: Any = "hybrid", k: Any = 10, understand: bool = True) -> SiteResult:
        query, mode, k = validate_query(query, mode, k)
        parsed = self.parse(query) if understand else ParsedQuery(text=query)
        first, of_sector, notice = self._lookup(parsed) if understand else ([], False, None)
        final, bm25, dense = self.index.scores(query, mode)
        need = k + len(first)
        ranked = final
        if understand and not (parsed.places or parsed.figure):
            # no place, no figure: an activity or a topic (a profile word with no place named, "albergues",
            # "migración de mujeres", asks about the subject, not about one place): facts and place profiles only
            # after everything else
            ranked = np.where(self._place_or_fact, final - 1e6, final).astype(np.float32)
            ranked = self._named_first(query, self._shops_first(query, ranked))
        named: list[int] = []
        if understand and first and not of_sector and not parsed.places:
            # a measure with neither a place nor a sector ("trabajo en la presidencia municipal") finds only the
            # largest national figures, a guess; a class the query names word after word is what it asks for
            named = sorted(self._named_classes(query), key=lambda i: -final[i])
        top = self.index_top(ranked, bm25, mode, need + len(named))
        taken = set(first) | set(named)
        order = named + first + [int(i) for i in top if int(i) not in taken]
        order = order[:k]
        hits = [self.index.hit(i, r + 1, float(final[i]), float(bm25[i]), float(dense[i]))
                for r, i in enumerate(order)]
        # a card only for the figure of a named (or found) sector: with none, the largest sector is no answer
        answer = self.answer_card(parsed, first[0]) if first and of_sector else None
        groups: dict[str, list[int]] = {}
        for h in hits[1 if answer else 0:]:
            groups.setdefault(h.doc_type, []).append(h.rank)
        groups = {t: groups[t] for t in sorted(groups, key=lambda t: (TYPE_ORDER.index(t) if t in TYPE_ORDER
                                                                      else 99, t))}
        found = set(first)
        return SiteResult(query, mode, parsed, hits, answer, sum(i in found for i in order), groups, notice)

    def _named_first(self, query: str, ranked: np.ndarray) -> np.ndarray:
        """The classes whose title or everyday name (two words or more) the query contains, word after word, ahead
        of everything else, in their own order: "cocina económica" is the fonda, not the kitchen-ware factory that
        shares both words' stems with more weight."""
        named = self._named_classes(query)
        if not named:
            return ranked
        ranked = ranked.copy()
        ranked[sorted(named)] += 1e4
        return ranked

    def _named_classes(self, query: str) -> set[int]:
        """The classes whose title or everyday name of two words or more the query contains, word after word."""
        stems = analyse(query)
        return {i for n in range(2, len(stems) + 1) for j in range(len(stems) - n + 1)
                for i in self._named.get(tuple(stems[j:j + n]), ())}

    def _shops_first(self, query: str, ranked: np.ndarray) -> np.ndarray:
        """A shop name (``mueblería``): the retail classes that carry its word or base word ahead of the rest,
        in their own order (see :func:`assets.search.everyday.shop_words`); a buyer's words (``venta de clavos``,
        ``dónde compro medicinas``, :func:`assets.search.everyday.buys_retail`): the retail classes among the best
        :data:`BUYER_WINDOW` classes ahead of the other classes, in their own order."""
        if self._retail and buys_retail(query):
            # only the shops the ranking already finds for the thing (its best BUYER_WINDOW classes): "venta de
            # casas" is the real-estate agent's, and no shop that the word does not find takes its place
            best = np.flatnonzero(self._classes)[np.argsort(-ranked[self._classes], kind="stable")[:BUYER_WINDOW]]
            shops = [int(i) for i in best if int(i) in self._retail]
            if shops:
                ranked = ranked.copy()
                ranked[shops] += 1e3
        for word in shop_words(query) if self._retail else ():
            if set(analyse(word)) <= self._named_elsewhere:
                continue   # marisquería: the hand-written name of the seafood restaurant, not the fish shop
            stems = {s for w in (word, *base_words(word, self.index.config.equivalents_left_out)) for s in analyse(w)}
            shops = [i for i, own in self._retail.items() if stems & own]
            if shops:
                ranked = ranked.copy()
                ranked[shops] += 1e3
        return ranked

    @staticmethod
    def index_top(final: np.ndarray, bm25: np.ndarray, mode: str, n: int) -> np.ndarray:
        from assets.search.engine import _top

        top = _top(final, n)
        return top[bm25[top] > 0] if mode == "bm25" else top


def _base_year(fact_id: str) -> int:
    parts = fact_id.split(":")
    if len(parts) >= 3 and "-" in parts[2]:
        try:
            return int(parts[2].split("-")[0])
        except ValueError:
            return -1
    return -1


def parser_from_lakehouse_frames(municipalities, catalog_titles: dict[str, str],
                                 class_titles: list[str]) -> QueryParser | None:
    """A parser over silver.municipalities rows (None when the table is empty), the sector titles
    (code -> title) and the SCIAN titles whose words (with those of the everyday names of the classes) a
    one-word place name must not be taken for ("monte de piedad" is a pawnshop, not La Piedad)."""
    from assets.search.understanding import common_words

    if municipalities is None or municipalities.is_empty():
        return None
    names = [n for ns in EVERYDAY_NAMES.values() for n in ns]
    return QueryParser(municipalities.iter_rows(named=True), catalog_titles, common_words([*class_titles, *names]))
