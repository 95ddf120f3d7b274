"""Landing parsers and silver transforms: clear errors naming file/row/field, honest dedup."""

from datetime import datetime, timezone

import polars as pl
import pytest

from assets.ingestion import readers
from assets.ingestion.sample_data import SAIC_COLUMNS, generate
from lakehouse.errors import LandingFileError
from lakehouse.landing import ReadLimits
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


def _lineage(df, name="f.csv", at=datetime(2026, 1, 1, tzinfo=timezone.utc)):
    return with_lineage(df, name, "h", "b", at)


def test_repeated_header_line_refuses_the_file_naming_the_line(tmp_path):
    path = tmp_path / "retc.csv"
    path.write_text("year,text,code\n2019,fabrica de tortillas,311830\n\n\ufeffyear,text,code\n2019,pan,311812\n",
                    encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"retc.csv: line 4 repeats the header"):
        readers.read_csv(path, ["text"], ["year", "code"], fill_id="record_id")
    saic = tmp_path / "saic.csv"
    header = ",".join(SAIC_COLUMNS[:5])
    saic.write_text(f"{header}\n2023,00 Total Nacional,,Sector 21 Minería,5\n{header}\n", encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"saic.csv: line 3 repeats the header"):
        readers.read_saic(saic)


def test_blank_json_value_reads_as_null(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('[{"id": "a", "n": "", "m": "  ", "k": 0}]', encoding="utf-8")
    df = readers.read_json_records(path, ["id"], ["n", "m", "k"])
    assert df.row(0) == ("a", None, None, "0")


def test_crime_bad_date_or_code_is_rejected_not_silently_nulled(tmp_path):
    path = tmp_path / "crime.csv"
    path.write_text("record_id,narrative,crime_code,reported_date,cve_geo\n"
                    "r1,robo a transeunte, rob ,2021-03-05, 09015 \n"
                    "r2,robo de vehiculo,ROB,05/03/2021,9015\n"
                    "r3,lesiones,LES,2021-02-30,\n"
                    "r4,amenazas,,  ,9O15\n", encoding="utf-8")
    bronze = _lineage(readers.read_csv(path, ["record_id", "narrative"], ["crime_code", "reported_date", "cve_geo"]),
                      str(path))
    silver, rejects = readers.crime_narratives_to_silver(bronze)
    assert silver.select("record_id", pl.col("reported_date").cast(pl.Utf8), "cve_geo", "crime_code").rows() == [
        ("r1", "2021-03-05", "09015", "ROB"), ("r2", None, "09015", "ROB"), ("r3", None, None, "LES"),
        ("r4", None, None, None)]
    assert rejects.select("record", "field", "value").rows() == [
        ("r2", "reported_date", "05/03/2021"), ("r3", "reported_date", "2021-02-30"), ("r4", "cve_geo", "9O15")]
    assert set(rejects.get_column("source_file")) == {str(path)}


def test_activity_year_takes_spreadsheet_floats_and_rejects_the_rest():
    bronze = _lineage(pl.DataFrame({
        "record_id": ["a", "b", "c", "d", "e"], "year": ["2019", "2019.0", " 2018.00 ", "2019.5", "dos mil"],
        "text": ["uno", "dos", "tres", "cuatro", "cinco"], "code": ["311830", " ", None, "1", "2"],
        "code_title": [None] * 5, "state": [None] * 5, "municipality": [None] * 5}))
    silver, rejects = readers.economic_activity_to_silver(bronze)
    assert silver.get_column("year").to_list() == [2019, 2019, 2018, None, None]
    assert silver.get_column("code").to_list() == ["311830", None, None, "1", "2"]
    assert rejects.select("record", "field", "value").rows() == [("d", "year", "2019.5"), ("e", "year", "dos mil")]


def test_shelter_cve_geo_is_stripped_padded_and_validated():
    def bronze(codes):
        n = len(codes)
        return _lineage(pl.DataFrame({"shelter_id": [f"s{i}" for i in range(n)], "name": ["Casa"] * n,
                                      "cve_geo": codes, "capacity": ["10"] * n, "operator": [None] * n}), "sh.csv")

    silver = readers.shelters_to_silver(bronze([" 28032 ", "", "9015", None]))
    assert silver.get_column("cve_geo").to_list() == ["28032", None, "09015", None]
    with pytest.raises(LandingFileError, match=r"sh.csv: shelter s1: cve_geo '28O32' is not a 5-digit"):
        readers.shelters_to_silver(bronze(["28032", "28O32"]))


def test_saic_unreadable_files_raise_landing_errors(tmp_path):
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeff".encode("utf-8"))
    with pytest.raises(LandingFileError, match=r"bom.csv: no readable header"):
        readers.read_saic(bom)
    huge = tmp_path / "huge.csv"
    huge.write_text(",".join(SAIC_COLUMNS[:5]) + '\n2023,00 Total Nacional,,"Sector 21 ' + "x" * 200_000 + '",5\n',
                    encoding="utf-8")
    with pytest.raises(LandingFileError, match=r"huge.csv: a field near row 2 is longer than 100,000 characters "
                                               r"\(FMLAKE_MAX_FIELD_CHARS\)"):
        readers.read_saic(huge, limits=ReadLimits(max_field_chars=100_000))


def test_saic_without_sector_rows_is_an_empty_silver_table(tmp_path):
    from lakehouse.tables.ingestion import silver_industry

    path = tmp_path / "saic.csv"
    path.write_text(",".join(SAIC_COLUMNS[:5]) + "\n2023,00 Total Nacional,,Total nacional,5\n", encoding="utf-8")
    silver = readers.industry_to_silver(_lineage(readers.read_saic(path), str(path)))
    assert silver.height == 0 and silver.schema == pl.Schema(silver_industry.full_schema)


def test_industry_cell_delivered_twice_takes_the_latest_delivery_whatever_the_read_order(tmp_path):
    header = ",".join(SAIC_COLUMNS[:6]) + "\n"
    first, corrected = tmp_path / "v1.csv", tmp_path / "v2.csv"
    first.write_text(header + "2023,28 Tamaulipas,,Sector 21 Mineria,100,7\n", encoding="utf-8")
    corrected.write_text(header + "2023,28 Tamaulipas,,Sector 21 Minería,999,\n"
                                  "2023,28 Tamaulipas,,Sector 21 Minería,1000,\n", encoding="utf-8")
    a = _lineage(readers.read_saic(first), str(first), datetime(2026, 1, 1, tzinfo=timezone.utc))
    b = _lineage(readers.read_saic(corrected), str(corrected), datetime(2026, 2, 1, tzinfo=timezone.utc))
    for frames in ([a, b], [b, a], [b.reverse(), a]):
        silver = readers.industry_to_silver(pl.concat(frames))
        # the later row of the later file wins each cell it delivered; a blank cell is a delivered null
        assert silver.select("employment", "gross_output", "source_row", "sector_title").rows() == [
            (1000.0, None, 3, "Minería")]


def test_latest_delivery_wins_for_shelters_scian_and_narratives():
    early, late = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 2, 1, tzinfo=timezone.utc)

    def deliveries(**cols):   # the same key delivered by b.csv (early) and again by a.csv (late)
        return [_lineage(pl.DataFrame({k: [v[i]] for k, v in cols.items()}, schema={k: pl.Utf8 for k in cols}), f, at)
                for i, (f, at) in enumerate([("b.csv", early), ("a.csv", late)])]

    nulls = (None, None)
    shelters = deliveries(shelter_id=("s1", "s1"), name=("Vieja", "Nueva"), cve_geo=("28032", "28032"),
                          capacity=("5", "5"), operator=nulls)
    scian = deliveries(codigo=("21", "21"), titulo=("Viejo", "Nuevo"), nivel=("sector", "sector"))
    crime = deliveries(record_id=("r1", "r1"), narrative=("vieja", "nueva"), crime_code=nulls, reported_date=nulls,
                       cve_geo=nulls)
    for order in (slice(None, None, -1), slice(None)):   # latest first, then latest last
        assert readers.shelters_to_silver(pl.concat(shelters[order])).get_column("name").to_list() == ["Nueva"]
        assert readers.scian_to_silver(pl.concat(scian[order])).get_column("title").to_list() == ["Nuevo"]
        silver, _ = readers.crime_narratives_to_silver(pl.concat(crime[order]))
        assert silver.get_column("narrative").to_list() == ["nueva"]


def test_scian_subsector_parent_is_the_range_sector_of_the_catalogue():
    codes = ["31-33", "311", "3111", "48-49", "481", "43", "431", "52", "99"]
    bronze = _lineage(pl.DataFrame({"codigo": codes, "titulo": codes, "nivel": ["x"] * len(codes)}))
    parents = dict(readers.scian_to_silver(bronze).select("code", "parent_code").iter_rows())
    assert parents == {"31-33": None, "311": "31-33", "3111": "311", "48-49": None, "481": "48-49", "43": None,
                       "431": "43", "52": None, "99": None}


def test_real_scian_catalogue_has_no_orphan_parents(shared_data):
    path = shared_data / "catalogs" / "scian2018.csv"
    silver = readers.scian_to_silver(_lineage(readers.read_csv(path, ["codigo", "titulo", "nivel"]), str(path)))
    orphans = silver.filter(pl.col("parent_code").is_not_null()
                            & ~pl.col("parent_code").is_in(silver.get_column("code").implode()))
    assert orphans.height == 0
    assert silver.filter(pl.col("code") == "311").get_column("parent_code").to_list() == ["31-33"]
