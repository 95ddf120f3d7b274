"""The embedded rules extractor (traps included) and the municipality geocoder."""

import json
import os
from pathlib import Path

import pytest

from assets.news.geocode import MunicipalityGeocoder
from assets.news.rules import RulesExtractor

RULES = RulesExtractor()


def shared_data() -> Path:
    env = os.environ.get("FMLAKE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.parametrize("text", [
    "Un grupo de mujeres migrantes centroamericanas llegó a Tapachula.",
    "Niñas y niños migrantes permanecen en la estación migratoria.",
    "Una mujer migrante embarazada fue trasladada al hospital.",
    "Organizaciones reportan que adolescentes migrantes no acompañadas fueron canalizadas al DIF.",
    "La refugiada salvadoreña y sus dos hijas recibieron atención médica.",
    "Las migrantes hondureñas esperan en el albergue.",
    "El consulado protege a mexicanas afectadas por abusos en el centro de detención de Irwin.",
    "La caravana avanzó por Chiapas. Entre quienes caminan hay madres con bebés en brazos.",
])
def test_present(text):
    res = RULES.analyse(text)
    assert res.answer == 1, res.explain()
    assert res.evidence


@pytest.mark.parametrize("text,why", [
    ("El Instituto para las Mujeres en la Migración presentó un amparo por las personas migrantes.", "in a name"),
    ("ONU Mujeres publicó un informe sobre personas refugiadas.", "in a name"),
    ("Women’s Refugee Commission publica recomendaciones sobre asilo.", "in a name"),
    ("El presidente de Honduras y su esposa dieron positivo a Covid-19.", "without migration context"),
    ("Guía para proteger derechos de mujeres y niñas durante la pandemia.", "without migration context"),
    ("Se garantizará que ninguna niña sea detenida en estaciones migratorias.", "negated"),
])
def test_traps_are_absent_and_explained(text, why):
    res = RULES.analyse(text)
    assert res.answer == 2
    assert any(why in i for i in res.ignored), res.explain()


@pytest.mark.parametrize("text", [
    "Las autoridades les mantienen encerradas a las personas migrantes en la estación migratoria.",
    "Más de 30 mil personas migrantes hondureñas deportadas durante la pandemia.",
    "Un grupo de hombres migrantes fue detenido en un retén.",
    "Protección de niñez migrante detenida y sus familias.",
    "Migrantes venezolanos varones esperan respuesta a su trámite migratorio.",
])
def test_grammatical_feminine_and_neutral_groups_are_not_women(text):
    assert RULES.answer(text) == 2, RULES.analyse(text).explain()


CATALOGUE = [
    {"cve_geo": "28027", "state_name": "Tamaulipas", "municipality_name": "Nuevo Laredo"},
    {"cve_geo": "28022", "state_name": "Tamaulipas", "municipality_name": "Matamoros"},
    {"cve_geo": "05017", "state_name": "Coahuila de Zaragoza", "municipality_name": "Matamoros"},
    {"cve_geo": "07089", "state_name": "Chiapas", "municipality_name": "Tapachula"},
    {"cve_geo": "27004", "state_name": "Tabasco", "municipality_name": "Centro"},
    {"cve_geo": "08019", "state_name": "Chihuahua", "municipality_name": "Chihuahua"},
    {"cve_geo": "08039", "state_name": "Chihuahua", "municipality_name": "López"},
    {"cve_geo": "05010", "state_name": "Coahuila de Zaragoza", "municipality_name": "Frontera"},
]


@pytest.mark.parametrize("text,cve,method", [
    ("En el albergue Nazareth, en Nuevo Laredo, Tamaulipas, hubo contagios.", "28027", "name_state"),
    ("El campamento de Matamoros, Tamaulipas registró un caso.", "28022", "name_state"),
    ("Protesta en la estación migratoria de Villahermosa, Tabasco.", "27004", "alias"),
    ("Represión en la estación migratoria de Tapachula.", "07089", "name"),
    ("Motín en Matamoros.", None, "none"),                       # three Matamoros: ambiguous
    ("Un juez de Chihuahua ordenó medidas.", None, "none"),       # state or city
    ("A días de recibir a López Obrador, Trump anunció el muro.", None, "none"),  # surname
    ("Cierre de la frontera con Guatemala.", None, "none"),       # common word, lowercase
    ("El Centro por la Justicia denunció.", None, "none"),        # no locative cue
])
def test_geocoder(text, cve, method):
    loc = MunicipalityGeocoder(CATALOGUE).locate(text)
    assert (loc.cve_geo, loc.method) == (cve, method)


def test_geocoder_keeps_a_valid_source_code_and_ignores_an_unknown_one():
    g = MunicipalityGeocoder(CATALOGUE)
    assert g.locate("texto en Tapachula", "28027").method == "source"
    assert g.locate("texto en Tapachula", "99999").cve_geo == "07089"


@pytest.mark.realdata
def test_real_2020_news_answers_and_locations():
    path = shared_data() / "news" / "migration_news_2020.json"
    cat_path = shared_data() / "catalogs" / "municipios_completo.json"
    if not path.exists() or not cat_path.exists():
        pytest.skip(f"real data not found under {shared_data()} (set FMLAKE_SHARED_DATA)")
    news = {a["id"]: a["text"] for a in json.loads(path.read_text(encoding="utf-8"))}
    present = {i for i, t in news.items() if RULES.answer(t) == 1}
    # read by a person: 014 (mexicanas in the Irwin detention centre), 045 (pregnant women among
    # detained migrants), 047 (migrant and refugee women and girls) mention migrant women; the
    # IMUMI (Instituto para las Mujeres en la Migración) and Women's Refugee Commission items do not
    assert {"imumi-014", "imumi-045", "imumi-047"} <= present
    assert not present & {"imumi-049", "imumi-052", "imumi-054", "imumi-055", "imumi-056", "imumi-100"}
    catalogue = [{"cve_geo": m["cve_completa"], "state_name": m["nom_entidad"],
                  "municipality_name": m["nom_municipio"]} for m in json.loads(cat_path.read_text(encoding="utf-8"))]
    g = MunicipalityGeocoder(catalogue)
    located = {i: g.locate(t).cve_geo for i, t in news.items()}
    assert located["imumi-008"] == "28027" and located["imumi-021"] == "07089" and located["imumi-024"] == "27004"
    assert located["imumi-068"] is None and located["imumi-093"] is None  # López Obrador, El Salvador
