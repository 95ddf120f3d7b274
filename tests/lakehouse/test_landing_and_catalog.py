"""Landing layout (batches, quarantine) and the analysts' DuckDB catalog."""

import json

import duckdb
import polars as pl
import pytest

from lakehouse import Lakehouse, TableSpec
from lakehouse.catalog import build_catalog, open_catalog, table_infos
from lakehouse.landing import Landing


def test_batches_are_subfolders_plus_loose_files(tmp_path):
    src = tmp_path / "landing" / "tiles"
    (src / "b1").mkdir(parents=True)
    (src / "b1" / "x.tif").write_bytes(b"1")
    (src / "loose.tif").write_bytes(b"2")
    landing = Landing(tmp_path / "landing")
    assert landing.batches("tiles") == ["b1", "tiles"]
    assert [p.name for p in landing.files("tiles", ("*.tif",), batch="b1")] == ["x.tif"]
    assert [p.name for p in landing.files("tiles", ("*.tif",), batch="tiles")] == ["loose.tif"]


def test_source_override_points_at_a_single_real_file(tmp_path):
    real = tmp_path / "elsewhere" / "retc.csv"
    real.parent.mkdir()
    real.write_text("text\nx\n")
    landing = Landing(tmp_path / "landing", {"economic_activity_text": str(real)})
    assert landing.batches("economic_activity_text") == ["retc"]
    assert landing.files("economic_activity_text", ("*.csv",), batch="retc") == [real]


def test_quarantine_moves_file_and_writes_reason(tmp_path):
    landing = Landing(tmp_path / "landing")
    bad = tmp_path / "landing" / "news" / "bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    moved = landing.quarantine("news", bad, "invalid JSON at line 1")
    assert not bad.exists()
    assert landing.files("news", ("*.json",)) == []
    reasons = landing.quarantined("news")
    assert reasons[0]["reason"] == "invalid JSON at line 1" and reasons[0]["original_path"] == str(bad)
    assert json.loads((tmp_path / "landing" / "_quarantine" / "news" /
                       (moved.moved_to.split("/")[-1] + ".reason.json")).read_text())["source"] == "news"


def test_catalog_views_every_table_and_survives_rebuild_while_open(tmp_path, monkeypatch):
    import lakehouse.registry as registry

    spec = TableSpec("gold", "catalog_probe", {"k": pl.Utf8(), "v": pl.Int64()}, primary_key=("k",),
                     description="probe table")
    monkeypatch.setitem(registry._REGISTRY, spec.key, spec)
    lake = Lakehouse(tmp_path / "root")
    lake.write(spec, pl.DataFrame({"k": ["a", "b"], "v": [1, 2]}))
    db = tmp_path / "root" / "catalog.duckdb"
    infos = build_catalog(lake, db)
    assert [(i.layer, i.name, i.rows, i.version) for i in infos] == [("gold", "catalog_probe", 2, 0)]

    analyst = open_catalog(db)  # an analyst keeps the file open read-only ...
    assert analyst.sql("SELECT sum(v) FROM gold.catalog_probe").fetchone()[0] == 3
    lake.write(spec, pl.DataFrame({"k": ["c"], "v": [10]}), mode="merge")
    build_catalog(lake, db)  # ... while the pipeline rebuilds it
    assert analyst.sql("SELECT sum(v) FROM gold.catalog_probe").fetchone()[0] == 13  # views read Delta live
    analyst.close()
    with pytest.raises(duckdb.Error):
        open_catalog(db).execute("CREATE TABLE gold.x AS SELECT 1")  # read-only for analysts
    assert [i.rows for i in table_infos(lake)] == [3]


def test_catalog_quotes_names_and_a_failed_rebuild_leaves_the_old_file(tmp_path, monkeypatch):
    lake = Lakehouse(tmp_path / "root")
    marts = tmp_path / "root" / "marts"
    marts.mkdir(parents=True)
    pl.DataFrame({"x": [1, 2]}).write_parquet(marts / "fct-sales.parquet")   # not a bare SQL identifier
    db = tmp_path / "root" / "catalog.duckdb"
    assert [(i.layer, i.name, i.rows) for i in build_catalog(lake, db)] == [("marts", "fct-sales", 2)]
    con = open_catalog(db)
    assert con.sql('SELECT sum(x) FROM marts."fct-sales"').fetchone()[0] == 3
    con.close()
    # the next rebuild fails half-way, while creating its views ...
    import lakehouse.catalog as catalog

    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    broken = catalog.TableInfo("marts", "broken", 1, None, str(tmp_path / "broken.parquet"), "dbt mart")
    real_infos = catalog.table_infos
    monkeypatch.setattr(catalog, "table_infos", lambda lh: [*real_infos(lh), broken])
    with pytest.raises(duckdb.Error):
        build_catalog(lake, db)
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith(".catalog")) == []   # ... no debris
    con = open_catalog(db)                                                    # ... and the old file still works
    assert con.sql('SELECT count(*) FROM marts."fct-sales"').fetchone()[0] == 2
    con.close()


def test_quarantine_of_a_shared_file_copies_it_and_never_touches_the_original(tmp_path):
    shared = tmp_path / "shared" / "catalogs"
    shared.mkdir(parents=True)
    bad = shared / "scian_2018.csv"
    bad.write_text("codigo;titulo\n")
    landing = Landing(tmp_path / "landing", {"scian_catalog": str(shared)})
    moved = landing.quarantine("scian_catalog", bad, "missing column titulo")
    assert bad.read_text() == "codigo;titulo\n"                      # shared data is never moved or deleted
    assert (tmp_path / "landing" / "_quarantine" / "scian_catalog" / moved.moved_to.split("/")[-1]).is_file()
    assert landing.files("scian_catalog") == []                      # ... but not read again as it is
    assert Landing(tmp_path / "landing", {"scian_catalog": str(shared)}).files("scian_catalog") == []
    bad.write_text("codigo,titulo\n11,Agricultura\n")                 # fixed at the source: read again
    assert Landing(tmp_path / "landing", {"scian_catalog": str(shared)}).files("scian_catalog") == [bad]
