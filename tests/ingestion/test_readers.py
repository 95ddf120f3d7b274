"""Landing parsers and silver transforms: clear errors naming file/row/field, honest dedup."""

from datetime import datetime, timezone

import polars as pl
import pytest

from assets.ingestion import readers
from assets.ingestion.sample_data import SAIC_COLUMNS, generate
from lakehouse.errors import LandingFileError
from lakehouse.lineage import with_lineage


def test_csv_errors_name_the_file_and_row(tmp_path):
    path = tmp_path / "lote.csv"
    path.write_text("record_id,narrative\nA,uno\nB,dos,extra\n", encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"lote.csv: row 3 has 3 fields, header has 2"):
        readers.read_csv(path, ["record_id", "narrative"])
    path.write_text("id,texto\n1,x\n", encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"missing column\(s\) \['narrative'\]"):
        readers.read_csv(path, ["id", "narrative"])
    path.write_bytes(b"")
    with pytest.raises(LandingFileError, match="file is empty"):
        readers.read_csv(path, ["id"])


def test_csv_fills_missing_ids_with_folder_file_and_line(tmp_path):
    path = tmp_path / "lote-1" / "resp.csv"
    path.parent.mkdir()
    path.write_text("text,record_id\nuno,\ndos,R-2\n", encoding="utf-8")
    df = readers.read_csv(path, ["text"], fill_id="record_id")
    assert df.get_column("record_id").to_list() == ["lote-1/resp:2", "R-2"]


def test_json_errors_name_record(tmp_path):
    path = tmp_path / "n.json"
    path.write_text('[{"id": "a", "date": "2026-01-01", "text": "x"}, {"id": "b", "date": "2026-01-01"}]')
    with pytest.raises(LandingFileError, match=r"record 1 \(id='b'\) lacks field\(s\) \['text'\]"):
        readers.read_json_records(path, ["id", "date", "text"])


def _news(rows):
    df = pl.DataFrame(rows, schema={c: pl.Utf8 for c in ["id", "date", "text", "url", "title", "outlet", "cve_geo"]},
                      orient="row")
    return with_lineage(df, "n.json", "h", "b", datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_news_dedup_rules_and_dropped_list():
    bronze = _news([
        ("a", "2026-01-01", "Texto uno", "https://x.mx/nota?utm=1", None, None, "07089"),
        ("b", "2026-01-01", "TEXTO  uno", "https://otro.mx/copia", None, None, "07089"),  # same text (case/space)
        ("c", "2026-01-01", "Otro texto", "#", None, None, "99999"),                        # placeholder URL
        ("d", "2026-01-02", "Tercer texto", "#", None, None, None),
        ("e", "2026-01-01", "Actualizada", "https://x.mx/nota", None, None, "07089"),      # same URL + day
        ("f", "2026-01-03", "Cuarto texto", "https://x.mx/nota", None, None, "07089"),     # same URL, other day
    ])
    silver, dropped = readers.news_to_silver(bronze, {"07089"})
    assert silver.get_column("article_id").to_list() == ["c", "e", "d", "f"]
    assert sorted(dropped.get_column("article_id").to_list()) == ["a", "b"]
    status = dict(silver.select("article_id", "cve_geo_status").iter_rows())
    assert status == {"e": "valid", "c": "unknown", "d": "missing", "f": "valid"}
    assert silver.filter(pl.col("article_id") == "c").get_column("cve_geo").to_list() == [None]


def test_invalid_days_are_split_out():
    df = pl.DataFrame({"date": ["2020-03-21", "2020-15-22", "2020-03-2019", "2020-02-30"]})
    ok, bad = readers.split_invalid_dates(df, "date")
    assert ok.get_column("date").to_list() == ["2020-03-21"]
    assert bad.height == 3


def test_saic_sample_round_trip(tmp_path):
    generate(tmp_path, seed=7)
    path = tmp_path / "industry_stats" / "saic_muestra.csv"
    cells = readers.read_saic(path)
    assert set(cells.get_column("variable")) == {c.split(" ")[0] for c in SAIC_COLUMNS[4:]}
    silver = readers.industry_to_silver(with_lineage(cells, str(path), "h", "b"))
    national = silver.filter((pl.col("geo_code") == "00") & (pl.col("sector_code") == "31-33"))
    assert national.get_column("census_year").to_list() == [2003, 2008, 2013, 2018, 2023]
    assert national.get_column("gross_output").to_list() == pytest.approx(
        (national.get_column("value_added") + national.get_column("intermediate_consumption")).to_list(), rel=1e-6)
    reynosa = silver.filter(pl.col("geo_code") == "28032")
    assert set(reynosa.get_column("geo_level")) == {"municipality"} and set(reynosa.get_column("geo_name")) == {"Reynosa"}


def test_saic_bad_number_names_row_and_variable(tmp_path):
    path = tmp_path / "saic.csv"
    path.write_text(",".join(SAIC_COLUMNS[:5]) + "\n2023,00 Total Nacional,,Sector 21 Minería,mucho\n",
                    encoding="utf-8")
    cells = with_lineage(readers.read_saic(path), str(path), "h", "b")
    with pytest.raises(LandingFileError, match=r"saic.csv: row 2, variable H001A: 'mucho' is not a number"):
        readers.industry_to_silver(cells)


def test_real_census_export_parses(shared_data):
    path = shared_data / "census" / "saic_tamaulipas_2003_2023.csv"
    silver = readers.industry_to_silver(with_lineage(readers.read_saic(path), str(path), "h", "b"))
    assert silver.height == 2979
    assert silver.filter(pl.col("geo_level") == "national").height == 95
    assert silver.filter(pl.col("geo_level") == "national").group_by("census_year").len().get_column("len").max() == 19
    assert silver.get_column("value_added").null_count() > 0  # blank = confidential, kept null
    assert silver.get_column("value_added").min() is not None
