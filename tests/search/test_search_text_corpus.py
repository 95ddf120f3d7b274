"""Spanish normalisation and the corpus builders."""

from __future__ import annotations

import polars as pl
import pytest

from assets.search import corpus as C
from assets.search.text import analyse, fold


def test_analyse_folds_case_accents_and_stems():
    assert fold("PANADERÍA Ñandú") == "panaderia nandu"
    # the same words meet whatever the case, accents and number
    assert analyse("FABRICACIÓN de Panaderías") == analyse("fabricacion de panaderias")
    assert analyse("productos metálicos") == analyse("PRODUCTO METALICO")
    # stop words and catalogue boilerplate go, content stays
    assert analyse("de la y otros excepto n.c.p.") == []
    assert "carbon" in " ".join(analyse("minería de carbón"))


def test_analyse_caps_tokens():
    assert len(analyse("palabra " * 5000)) == 512


def test_scian_documents_have_parents_and_ciiu(small_catalog):
    docs = C.scian_documents(small_catalog)
    assert docs.height == 5  # only the 6-digit classes
    bread = docs.filter(pl.col("ref") == "311812").row(0, named=True)
    assert bread["doc_id"] == "scian:311812" and bread["title"] == "Panificación tradicional"
    # parents by code prefix, including the 31-33 sector range
    assert "Elaboración de pan y otros productos de panadería" in bread["body"]
    assert "Industrias manufactureras" in bread["body"]
    # ISIC/CIIU correspondence from the scian-ciiu package
    assert "CIIU:" in bread["body"] and "panader" in bread["body"].lower()


def test_read_scian_csv_names_bad_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("codigo,titulo,nivel\n311811,Panificación industrial,clase\n31A,Mal,clase\n", encoding="utf-8")
    with pytest.raises(C.CorpusError, match=r"row 3: codigo '31A'"):
        C.read_scian_csv(path)
    path.write_text("code,title\n311811,x\n", encoding="utf-8")
    with pytest.raises(C.CorpusError, match="missing column"):
        C.read_scian_csv(path)


def test_examples_legacy_classes_and_duplicates(small_catalog):
    examples = {"311812": ["PANADERIA", "panaderia de barrio", "PANADERIA"], "221110": ["GENERACION DE ENERGIA"]}
    docs = C.scian_documents(small_catalog, examples=examples)
    assert docs.filter(pl.col("ref") == "311812")["examples"].to_list()[0] == ["PANADERIA", "panaderia de barrio"]
    legacy = C.legacy_class_documents(set(docs["ref"]), examples, {"221110": "Generación de energía eléctrica"})
    assert legacy["ref"].to_list() == ["221110"] and legacy["title"][0] == "Generación de energía eléctrica"
    with pytest.raises(C.CorpusError, match="duplicate doc_id"):
        C.combine(docs, docs.head(1))
    capped = C.attach_examples(docs, {"311812": ["b", "a", "b", "c"]}, max_per_doc=2)
    assert capped.filter(pl.col("ref") == "311812")["examples"].to_list()[0] == ["b", "a"]  # most frequent first


def test_registry_documents_describe_tables():
    docs = C.registry_documents()
    row = docs.filter(pl.col("ref") == "gold.search_documents").row(0, named=True)
    assert row["doc_type"] == "table" and "doc_id" in row["body"] and "SCIAN" in row["body"]


def test_published_documents_and_facts():
    published = pl.DataFrame({"draft_id": ["d1"], "version": [2], "title": ["Conociendo la industria del pan"],
                              "page_path": ["/docs/d1.html"]})
    drafts = pl.DataFrame({"draft_id": ["d1", "d1"], "version": [1, 2],
                           "body_markdown": ["viejo", "## Empleo\n**Panaderías** [ver](x.html) ![g](g.png)"]})
    docs = C.published_documents(published, drafts)
    assert docs["body"][0] == "Empleo Panaderías ver" and docs["url"][0] == "/docs/d1.html"
    facts = pl.DataFrame({"fact_id": ["f1", "f2"], "label": ["Empleo", "Producción"], "metric": ["employment", "x"],
                          "value": [1234.5, None], "unit": ["personas", "mdp"], "sector_title": ["Pan"] * 2,
                          "sector_code": ["311"] * 2, "geo_name": ["Tamaulipas"] * 2, "census_year": [2019, 2019]})
    fd = C.fact_documents(facts)
    assert "ocupaba 1,235 personas" in fd["body"][0] and "confidencial" in fd["body"][1]
    assert "employment" not in fd["body"][0] and "gold.industry_facts" in fd["body"][0]
    assert fd["metric"].to_list() == ["employment", "x"] and fd["year"].to_list() == [2019, 2019]


def test_synthetic_corpus_is_deterministic():
    a, b = C.synthetic_corpus(50, seed=3), C.synthetic_corpus(50, seed=3)
    assert a.equals(b) and a["doc_id"].n_unique() == 50
    assert not a.equals(C.synthetic_corpus(50, seed=4))
