"""Fixtures of the search tests: a fast deterministic embedder, a small SCIAN catalogue, a tiny index."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest

from assets.search import corpus as C
from assets.search.corpus import scian_documents
from assets.search.engine import IndexConfig, SearchIndex
from assets.search.site import SiteSearch
from assets.search.text import analyse
from assets.search.understanding import QueryParser, common_words


class HashEmbedder:
    """Bag of stemmed words hashed into 256 dims, L2-normalised: cheap, deterministic, meaning-free."""

    name = "hash-bow-256"

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0
        self.roles: list[str] = []

    def embed(self, texts, batch_size=None, role="passage"):
        self.calls += 1
        self.roles.append(role)
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, t in enumerate(texts):
            for tok in analyse(t) or ["_empty_"]:
                out[i, int(hashlib.md5(tok.encode()).hexdigest()[:6], 16) % 256] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


SMALL_SCIAN = [
    ("31-33", "Industrias manufactureras"),
    ("311", "Industria alimentaria"),
    ("3118", "Elaboración de productos de panadería y tortillas"),
    ("31181", "Elaboración de pan y otros productos de panadería"),
    ("311811", "Panificación industrial"),
    ("311812", "Panificación tradicional"),
    ("332", "Fabricación de productos metálicos"),
    ("3328", "Recubrimientos y terminados metálicos"),
    ("33281", "Recubrimientos y terminados metálicos"),
    ("332810", "Recubrimientos y terminados metálicos"),
    ("46", "Comercio al por menor"),
    ("461", "Comercio al por menor de abarrotes, alimentos, bebidas, hielo y tabaco"),
    ("4611", "Comercio al por menor de abarrotes y alimentos"),
    ("46111", "Comercio al por menor en tiendas de abarrotes, ultramarinos y misceláneas"),
    ("461110", "Comercio al por menor en tiendas de abarrotes, ultramarinos y misceláneas"),
    ("21", "Minería"),
    ("212", "Minería de minerales metálicos y no metálicos, excepto petróleo y gas"),
    ("2121", "Minería de carbón mineral"),
    ("21211", "Minería de carbón mineral"),
    ("212110", "Minería de carbón mineral"),
]


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def small_catalog() -> pl.DataFrame:
    return pl.DataFrame({"code": [c for c, _ in SMALL_SCIAN], "title": [t for _, t in SMALL_SCIAN]})


@pytest.fixture
def small_catalog_csv(tmp_path):
    path = tmp_path / "scian_small.csv"
    lines = ["codigo,titulo,nivel"] + [f'{c},"{t}",x' for c, t in SMALL_SCIAN]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_index(small_catalog, hash_embedder) -> SearchIndex:
    return SearchIndex.build(scian_documents(small_catalog), hash_embedder, IndexConfig())


# ---------------------------------------------------------------- a small site: classes, facts, places
MUNICIPALITIES = pl.DataFrame({
    "cve_geo": ["28032", "28041", "28022", "05017", "28016", "13048"],
    "cve_entidad": ["28", "28", "28", "05", "28", "13"],
    "state_name": ["Tamaulipas", "Tamaulipas", "Tamaulipas", "Coahuila de Zaragoza", "Tamaulipas", "Hidalgo"],
    "cve_municipio": ["032", "041", "022", "017", "016", "048"],
    "municipality_name": ["Reynosa", "Victoria", "Matamoros", "Matamoros", "Hidalgo", "Pachuca de Soto"],
    "population_total": [704767, 349688, 541979, 118337, 21475, 314331],
    "population_female": [352000, 178000, 272000, 59000, 10600, 164000],
    "population_male": [352767, 171688, 269979, 59337, 10875, 150331],
    "inhabited_dwellings": [200000, 100000, 150000, 30000, 6000, 90000],
    "seat_name": ["Reynosa", "Ciudad Victoria", "Heroica Matamoros", "Matamoros", "Hidalgo", "Pachuca de Soto"],
})


def _fact(sector, title, geo, name, level, year, metric, value, unit, label, base=None):
    period = f"{base}-{year}" if base else str(year)
    return {"fact_id": f"{sector}:{geo}:{period}:{metric}", "sector_code": sector, "sector_title": title,
            "geo_code": geo, "geo_name": name, "geo_level": level, "census_year": year, "base_year": base,
            "metric": metric, "value": value, "unit": unit, "label": label, "status": "published",
            "source_table": "silver.industry_stats", "source_rows": "1"}


MAN, COM = "Industrias manufactureras", "Comercio al por menor"
FACTS = pl.DataFrame([
    _fact("31-33", MAN, "28", "Tamaulipas", "state", 2018, "employment", 323720.0, "personas",
          "Personal ocupado total"),
    _fact("31-33", MAN, "28", "Tamaulipas", "state", 2023, "employment", 350100.0, "personas",
          "Personal ocupado total"),
    _fact("31-33", MAN, "28", "Tamaulipas", "state", 2018, "value_added", 150234.56, "millones de pesos",
          "Valor agregado censal bruto"),
    _fact("46", COM, "28032", "Reynosa", "municipality", 2018, "employment", 37366.0, "personas",
          "Personal ocupado total"),
    _fact("31-33", MAN, "28032", "Reynosa", "municipality", 2018, "employment", 150000.0, "personas",
          "Personal ocupado total"),
    _fact("31-33", MAN, "28", "Tamaulipas", "state", 2018, "employment_growth", 12.345, "%",
          "Variación porcentual: personal ocupado total", base=2013),
    _fact("21", "Minería", "00", "Total Nacional", "national", 2023, "employment", 166978.0, "personas",
          "Personal ocupado total"),
    _fact("21", "Minería", "28", "Tamaulipas", "state", 2023, "fixed_assets", None, "millones de pesos",
          "Acervo total de activos fijos"),
])


@pytest.fixture
def site_corpus(small_catalog) -> pl.DataFrame:
    classes = C.scian_documents(small_catalog, with_ciiu=False,
                                examples={"311812": [f"PANADERIA NUMERO {i}" for i in range(40)]})
    indicator = pl.DataFrame({"cve_geo": ["28032"], "intensity_0_100": [88.5], "rank": [1], "n_articles": [12],
                              "n_present_majority": [5], "shelters": [2]})
    shelters = pl.DataFrame({"shelter_id": ["s1", "s2"], "name": ["Casa del Migrante", "Senda de Vida"],
                             "cve_geo": ["28032", "28032"], "capacity": [120, 80], "operator": ["x", "y"]})
    states = {"28": "Tamaulipas", "05": "Coahuila de Zaragoza", "13": "Hidalgo"}
    return C.combine(classes, C.registry_documents(), C.fact_documents(FACTS, state_names=states,
                                                                       cited_in={"31-33:28:2018:employment":
                                                                                 "/site/d1/index.html"}),
                     C.place_documents(MUNICIPALITIES, FACTS, indicator, shelters))


@pytest.fixture
def parser(small_catalog) -> QueryParser:
    sectors = {"31-33": "Industrias manufactureras", "46": "Comercio al por menor", "21": "Minería"}
    return QueryParser(MUNICIPALITIES.iter_rows(named=True), sectors, common_words(small_catalog["title"]))


@pytest.fixture
def site(site_corpus, hash_embedder, parser) -> SiteSearch:
    return SiteSearch(SearchIndex.build(site_corpus, hash_embedder, IndexConfig()), parser)


