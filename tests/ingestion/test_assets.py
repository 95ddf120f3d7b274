"""Ingestion assets on small hand-made landing files: quarantine keeps earlier rows, one bad file never
fails a source, refused fields land in bronze.rejected_records."""

import json

import dagster as dg
import polars as pl
import pytest

from assets.ingestion import defs as D
from assets.ingestion.sample_data import SAIC_COLUMNS
from lakehouse import get_table


@pytest.fixture
def res(resources):
    return resources["lakehouse"]


@pytest.fixture
def landing(res):
    return res.landing.root


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


def run(res, instance, assets, partition=None):
    result = dg.materialize(assets, resources={"lakehouse": res}, partition_key=partition, instance=instance)
    return {str(m.asset_key.path): m.metadata for m in result.get_asset_materialization_events()
            for m in [m.event_specific_data.materialization]}


def ids(res, table, column):
    return sorted(res.lakehouse.read(get_table(table)).get_column(column).to_list())


def test_quarantined_news_file_keeps_the_articles_it_delivered(res, landing, instance):
    news = landing / "news"
    news.mkdir(parents=True)
    (news / "a.json").write_text(json.dumps([{"id": "a1", "date": "2020-03-01", "text": "uno"}]))
    (news / "b.json").write_text(json.dumps([{"id": "b1", "date": "2020-03-01", "text": "dos"},
                                             {"id": "b2", "date": "2020-03-02", "text": "tres"}]))
    run(res, instance, [D.bronze_news_articles], "2020-03-01")
    assert ids(res, "bronze.news_articles", "id") == ["a1", "b1"]
    (news / "b.json").write_text('[{"id": "b1", "date": "2020-03-01", "text": "dos"')  # truncated re-delivery
    meta = run(res, instance, [D.bronze_news_articles], "2020-03-01")
    (reason,) = res.landing.quarantined("news")
    assert reason["original_path"].endswith("b.json") and "invalid JSON" in reason["reason"]
    assert ids(res, "bronze.news_articles", "id") == ["a1", "b1"]
    assert meta["['bronze', 'news_articles']"]["rows_kept_from_quarantined_files"].value == 1
    run(res, instance, [D.bronze_news_articles], "2020-03-01")  # rerun: still kept, nothing doubled
    assert ids(res, "bronze.news_articles", "id") == ["a1", "b1"]
    (news / "b.json").write_text(json.dumps([{"id": "b3", "date": "2020-03-01", "text": "cuatro"}]))
    run(res, instance, [D.bronze_news_articles], "2020-03-01")  # delivered again and good: it replaces them
    assert ids(res, "bronze.news_articles", "id") == ["a1", "b3"]


def test_quarantined_batch_file_keeps_the_rows_it_delivered(res, landing, instance):
    batch = landing / "crime_narratives" / "b1"
    batch.mkdir(parents=True)
    (batch / "x.csv").write_text("record_id,narrative\nx1,robo\n")
    (batch / "y.csv").write_text("record_id,narrative\ny1,lesiones\n")
    instance.add_dynamic_partitions("crime_narrative_batches", ["b1"])
    run(res, instance, [D.bronze_crime], "b1")
    (batch / "y.csv").write_bytes("record_id,narrative\ny1,lesiones en la vía\n".encode("latin-1"))
    run(res, instance, [D.bronze_crime], "b1")
    assert "not UTF-8" in res.landing.quarantined("crime_narratives")[0]["reason"]
    assert ids(res, "bronze.crime_narratives", "record_id") == ["x1", "y1"]
    (batch / "x.csv").write_text("record_id,narrative\nx2,fraude\n")
    run(res, instance, [D.bronze_crime], "b1")
    assert ids(res, "bronze.crime_narratives", "record_id") == ["x2", "y1"]


def test_municipality_file_with_a_bad_value_is_quarantined_alone(res, landing, instance):
    folder = landing / "municipalities"
    folder.mkdir(parents=True)
    good = {"cve_completa": "01001", "cve_entidad": "01", "nom_entidad": "Ags", "cve_municipio": "001",
            "nom_municipio": "Aguascalientes", "poblacion_total": 948990, "poblacion_femenina": 1,
            "poblacion_masculina": 1, "viviendas_habitadas": 1, "nom_cabecera": "A"}
    (folder / "a.json").write_text(json.dumps([good]))
    (folder / "b.json").write_text(json.dumps([dict(good, cve_completa="01002", viviendas_habitadas="")]))
    (folder / "c.json").write_text(json.dumps([dict(good, cve_completa="01003"),
                                               dict(good, cve_completa="01004", poblacion_total="n.d.")]))
    run(res, instance, [D.bronze_municipalities, D.silver_municipalities])
    silver = res.lakehouse.read(get_table("silver.municipalities")).sort("cve_geo")
    assert silver.select("cve_geo", "inhabited_dwellings").rows() == [("01001", 1), ("01002", None)]
    (reason,) = res.landing.quarantined("municipalities")
    assert reason["original_path"].endswith("c.json")
    assert "'poblacion_total'" in reason["reason"] and "row 1 has value 'n.d.'" in reason["reason"]


def test_unreadable_saic_file_is_quarantined_and_a_source_without_sectors_writes_an_empty_table(
        res, landing, instance):
    folder = landing / "industry_stats"
    folder.mkdir(parents=True)
    header = ",".join(SAIC_COLUMNS[:5]) + "\n"
    (folder / "bom.csv").write_bytes("\ufeff".encode("utf-8"))
    (folder / "totals.csv").write_text(header + "2023,00 Total Nacional,,Total nacional,5\n")
    run(res, instance, [D.bronze_industry, D.silver_industry])
    assert [r["original_path"].rsplit("/", 1)[1] for r in res.landing.quarantined("industry_stats")] == ["bom.csv"]
    assert res.lakehouse.exists(get_table("silver.industry_stats"))
    assert res.lakehouse.row_count(get_table("silver.industry_stats")) == 0
    (folder / "sector.csv").write_text(header + "2023,00 Total Nacional,,Sector 21 Minería,166978\n")
    run(res, instance, [D.bronze_industry, D.silver_industry])
    stats = res.lakehouse.read(get_table("silver.industry_stats"))
    assert stats.select("sector_code", "employment").rows() == [("21", 166978.0)]


def test_a_record_rejected_twice_in_one_file_does_not_block_the_day(res, landing, instance):
    news = landing / "news"
    news.mkdir(parents=True)
    (news / "a.json").write_text(json.dumps([{"id": "n1", "date": "2020-03-01", "text": "uno"},
                                             {"id": "n7", "date": "2020-02-30", "text": "dos"},
                                             {"id": "n7", "date": "30/02/2020", "text": "dos (actualizado)"}]))
    run(res, instance, [D.bronze_news_articles], "2020-03-01")
    assert ids(res, "bronze.news_articles", "id") == ["n1"]
    rejected = res.lakehouse.read(get_table("bronze.rejected_records"))
    assert rejected.select("record", "field", "value").rows() == [("n7", "date", "30/02/2020")]


def test_batch_silver_records_the_fields_it_refused(res, landing, instance):
    batch = landing / "crime_narratives" / "b1"
    batch.mkdir(parents=True)
    (batch / "x.csv").write_text("record_id,narrative,reported_date,cve_geo\n"
                                 "x1,robo,2021-03-05,9015\nx2,lesiones,05/03/2021,\nx3,fraude,2021-02-30,abc\n")
    instance.add_dynamic_partitions("crime_narrative_batches", ["b1"])
    for _ in range(2):  # a rerun upserts the same rejects
        meta = run(res, instance, [D.bronze_crime, D.silver_crime], "b1")
    silver = res.lakehouse.read(get_table("silver.crime_narratives")).sort("record_id")
    assert silver.select("record_id", pl.col("reported_date").cast(pl.Utf8), "cve_geo").rows() == [
        ("x1", "2021-03-05", "09015"), ("x2", None, None), ("x3", None, None)]
    rejected = res.lakehouse.read(get_table("bronze.rejected_records")).sort("record", "field")
    assert rejected.select("source", "record", "field", "value").rows() == [
        ("crime_narratives", "x2", "reported_date", "05/03/2021"), ("crime_narratives", "x3", "cve_geo", "abc"),
        ("crime_narratives", "x3", "reported_date", "2021-02-30")]
    assert set(rejected.get_column("source_file")) == {str(batch / "x.csv")}
    assert meta["['silver', 'crime_narratives']"]["rejected_fields"].value == 3
