"""Lookup of one document's facts by geography, period and metric (used by writers, tables, charts)."""

from __future__ import annotations

from typing import Iterable

from assets.documents.facts import NATIONAL, Fact


class FactBook:
    """The facts of one document (sector + geography, with its reference geographies)."""

    def __init__(self, facts: Iterable[Fact], geo_code: str):
        self.facts = list(facts)
        self.geo_code = geo_code
        self._index = {(f.geo_code, f.base_year, f.census_year, f.metric): f for f in self.facts}
        own = [f for f in self.facts if f.geo_code == geo_code]
        if not own:
            raise ValueError(f"no facts for geography {geo_code}")
        first = own[0]
        self.sector_code, self.sector_title = first.sector_code, first.sector_title
        self.geo_name, self.geo_level = first.geo_name, first.geo_level
        self.state_code = geo_code[:2] if len(geo_code) == 5 else None
        state = [f for f in self.facts if f.geo_code == self.state_code]
        self.state_name = state[0].geo_name if state else None

    def get(self, metric: str, year: int, geo: str | None = None, base_year: int | None = None) -> Fact | None:
        return self._index.get((geo or self.geo_code, base_year, year, metric))

    def value(self, metric: str, year: int, geo: str | None = None, base_year: int | None = None) -> float | None:
        f = self.get(metric, year, geo, base_year)
        return None if f is None else f.value

    def years(self, geo: str | None = None) -> list[int]:
        """Census years with at least one published level fact for the geography."""
        geo = geo or self.geo_code
        return sorted({f.census_year for f in self.facts if f.geo_code == geo and f.base_year is None
                       and f.value is not None})

    def all_years(self) -> list[int]:
        return sorted({f.census_year for f in self.facts if f.geo_code == self.geo_code and f.base_year is None})

    def latest_year(self) -> int:
        """Most recent census year whose employment is published (else the most recent with any fact)."""
        with_emp = [y for y in self.years() if self.value("employment", y) is not None]
        if with_emp:
            return with_emp[-1]
        years = self.years() or self.all_years()
        return years[-1]

    def periods(self, metric: str, geo: str | None = None) -> list[tuple[int, int]]:
        """(base_year, year) pairs with a published change fact of ``metric``, shortest span last-ending first."""
        geo = geo or self.geo_code
        pairs = {(f.base_year, f.census_year) for f in self.facts
                 if f.geo_code == geo and f.metric == metric and f.base_year is not None and f.value is not None}
        return sorted(pairs, key=lambda p: (p[1], p[0]))

    def span(self, metric: str, geo: str | None = None) -> tuple[int, int] | None:
        """The longest period with a published change of ``metric`` (first to last census year)."""
        pairs = self.periods(metric, geo)
        return max(pairs, key=lambda p: (p[1] - p[0], p[1])) if pairs else None

    def last_interval(self, metric: str, geo: str | None = None) -> tuple[int, int] | None:
        """The most recent consecutive-census period with a published change of ``metric``."""
        pairs = self.periods(metric, geo)
        if not pairs:
            return None
        latest_end = max(p[1] for p in pairs)
        return max((p for p in pairs if p[1] == latest_end), key=lambda p: p[0])

    def confidential(self, year: int, metrics: Iterable[str]) -> list[Fact]:
        return [f for m in metrics if (f := self.get(m, year)) is not None and f.value is None]

    @property
    def is_national(self) -> bool:
        return self.geo_code == NATIONAL
