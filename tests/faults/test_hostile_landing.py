"""Hostile landing files, for every landing source: a name that is not text, a symbolic link out of the root,
a broken reason file left by an interrupted quarantine, content that is not what it claims (nested 100k deep,
binary garbage, a field or a file past its limit) and a deleted file. Each must fail that file (quarantined
with a reason) and never the run; the good file next to it is ingested; nothing outside the root is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from assets.ingestion import defs as D
from assets.ingestion.sample_data import SAIC_COLUMNS
from lakehouse import get_table

pytestmark = pytest.mark.faults

SECRET = "TOP-SECRET-LINE-never-shown"

# source -> (asset, bronze table, sub-folder (batch) or "", extension, good file content, partition)
SAIC_HEADER = ",".join(SAIC_COLUMNS[:5])
SOURCES = {
    "municipalities": (D.bronze_municipalities, "bronze.municipalities", "", "json",
                       json.dumps([{"cve_completa": "01001", "nom_municipio": "Aguascalientes"}]), None),
    "migrant_shelters": (D.bronze_shelters, "bronze.migrant_shelters", "", "csv",
                         "shelter_id,name,cve_geo,capacity\ns1,Casa,01001,10\n", None),
    "industry_stats": (D.bronze_industry, "bronze.industry_stats", "", "csv",
                       SAIC_HEADER + "\n2023,00 Total Nacional,,Sector 21 Minería,5\n", None),
    "scian_catalog": (D.bronze_scian, "bronze.scian_catalog", "", "csv", "codigo,titulo,nivel\n11,Agricultura,sector\n",
                      None),
    "news": (D.bronze_news_articles, "bronze.news_articles", "", "json",
             json.dumps([{"id": "n1", "date": "2020-03-01", "text": "uno"}]), "2020-03-01"),
    "crime_narratives": (D.bronze_crime, "bronze.crime_narratives", "b1", "csv", "record_id,narrative\nr1,texto\n",
                         "b1"),
    "economic_activity_text": (D.bronze_activity, "bronze.economic_activity_text", "b1", "csv",
                               "text\nfabrica de tortillas\n", "b1"),
}


def _table_name(spec_name: str) -> str:
    return get_table(spec_name).name


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        inst.add_dynamic_partitions("crime_narrative_batches", ["b1"])
        inst.add_dynamic_partitions("economic_activity_batches", ["b1"])
        yield inst


def _run(res, instance, source):
    asset, *_, partition = SOURCES[source]
    result = dg.materialize([asset], resources={"lakehouse": res}, partition_key=partition, instance=instance,
                            raise_on_error=False)
    assert result.success, f"{source}: the run failed on a hostile file"
    (mat,) = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    return mat.metadata


def _folder(res, source) -> Path:
    sub = SOURCES[source][2]
    folder = Path(res.landing.root) / source / sub
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _good(res, source) -> None:
    _, _, _, ext, content, _ = SOURCES[source]
    (_folder(res, source) / f"good.{ext}").write_text(content, encoding="utf-8")


def _rows(res, source) -> int:
    return res.lakehouse.read(get_table(SOURCES[source][1])).height


def _md(meta) -> str:
    return "\n".join(str(getattr(v, "value", v)) for v in meta.values())


@pytest.fixture
def res(resources):
    return resources["lakehouse"]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_file_name_that_is_not_utf8_is_quarantined_under_a_safe_name(res, instance, source):
    _good(res, source)
    ext = SOURCES[source][3]
    bad = os.path.join(os.fsencode(_folder(res, source)), b"caf\xe9\xff-bad." + ext.encode())
    with open(bad, "wb") as f:
        f.write(SOURCES[source][4].encode())
    meta = _run(res, instance, source)
    assert _rows(res, source) >= 1
    (record,) = res.landing.quarantined(source)
    assert "not valid UTF-8" in record["reason"] and "\\xe9\\xff" in record["original_name_escaped"]
    assert res.landing.broken_reason_files(source) == []
    assert "\\xe9\\xff" in meta["quarantined_files"].value
    _run(res, instance, source)   # the next run goes on (the file is out of the way)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_broken_reason_file_is_reported_and_skipped(res, instance, source):
    _good(res, source)
    qdir = Path(res.landing.root) / "_quarantine" / source
    qdir.mkdir(parents=True)
    (qdir / "20200101T000000000000__x.csv.reason.json").write_bytes(b"")       # interrupted quarantine
    (qdir / "20200101T000000000001__y.csv.reason.json").write_bytes(b"{not json")
    meta = _run(res, instance, source)
    assert _rows(res, source) == 1
    assert meta["broken_reason_files"].value.count("reason.json") == 2
    assert "0 bytes" in meta["broken_reason_files"].value


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_a_symbolic_link_out_of_the_root_is_refused_unread(res, instance, source, tmp_path):
    _good(res, source)
    ext = SOURCES[source][3]
    outside = tmp_path / f"outside.{ext}"
    outside.write_text(SOURCES[source][4].replace("uno", SECRET).replace("texto", SECRET) + SECRET + "\n")
    (_folder(res, source) / f"link.{ext}").symlink_to(outside)
    linked_dir = tmp_path / "linked_dir"
    linked_dir.mkdir()
    (linked_dir / f"inner.{ext}").write_text(SECRET)
    (_folder(res, source) / "sub").symlink_to(linked_dir, target_is_directory=True)
    meta = _run(res, instance, source)
    assert _rows(res, source) == 1
    (record,) = res.landing.quarantined(source)
    assert "symbolic link" in record["reason"]
    qdir = Path(res.landing.root) / "_quarantine" / source
    for p in qdir.iterdir():   # the link itself was moved, its target never copied
        assert p.is_symlink() or SECRET not in p.read_text(errors="replace")
    assert SECRET not in _md(meta)
    assert outside.read_text().endswith(SECRET + "\n")   # the target is untouched


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_content_that_is_not_what_it_claims_fails_the_file_not_the_run(res, instance, source):
    _good(res, source)
    ext = SOURCES[source][3]
    folder = _folder(res, source)
    (folder / f"deep.{ext}").write_text("[" * 100_000 + "]" * 100_000)
    (folder / f"garbage.{ext}").write_bytes(os.urandom(4096))
    (folder / f"empty.{ext}").write_bytes(b"")
    meta = _run(res, instance, source)
    assert _rows(res, source) == 1
    reasons = {Path(r["original_path"]).name: r["reason"] for r in res.landing.quarantined(source)}
    assert set(reasons) == {f"deep.{ext}", f"garbage.{ext}", f"empty.{ext}"}, reasons
    if ext == "json":
        assert "nested" in reasons[f"deep.{ext}"]
    assert meta["files_read"].value == 1


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_files_and_fields_past_their_limits_are_quarantined_with_the_limit_named(resources, instance, source):
    base = resources["lakehouse"]
    res = type(base)(root=base.root, landing_root=base.landing_root, max_landing_file_bytes=4096, max_field_chars=100)
    _good(res, source)
    ext = SOURCES[source][3]
    folder = _folder(res, source)
    content = SOURCES[source][4]
    (folder / f"big.{ext}").write_text(content + " " * 5000)
    if ext == "json":
        (folder / f"longfield.{ext}").write_text(content.replace('"uno"', '"' + "u" * 200 + '"')
                                                 .replace('"Aguascalientes"', '"' + "a" * 200 + '"'))
    else:
        header, row = content.strip().split("\n")
        cells = row.split(",")
        cells[-1] = "x" * 200
        (folder / f"longfield.{ext}").write_text(header + "\n" + ",".join(cells) + "\n")
    _run(res, instance, source)
    reasons = {Path(r["original_path"]).name: r["reason"] for r in res.landing.quarantined(source)}
    assert "FMLAKE_MAX_LANDING_FILE_MB" in reasons[f"big.{ext}"]
    assert "FMLAKE_MAX_FIELD_CHARS" in reasons[f"longfield.{ext}"]
    assert _rows(res, source) == 1


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_deleting_a_landing_file_keeps_its_rows_and_says_so(res, instance, source):
    _good(res, source)
    ext, content = SOURCES[source][3], SOURCES[source][4]
    second = _folder(res, source) / f"second.{ext}"
    second.write_text(content.replace("n1", "n2").replace("01001", "01002").replace("s1,", "s2,")
                      .replace("\n11,", "\n12,").replace("r1,", "r2,").replace("tortillas", "pan")
                      .replace("Sector 21", "Sector 22"))
    _run(res, instance, source)
    before = _rows(res, source)
    second.unlink()
    meta = _run(res, instance, source)
    assert _rows(res, source) == before, "deleting a landing file must not delete its rows (README rule)"
    assert meta["files_removed_from_landing"].value == 1
    assert meta["rows_of_removed_files"].value >= 1
    assert "second." in meta["removed_files"].value


# ------------------------------------------------------------------ the other landing readers (feedback, tiles)
def _hostile_folder(folder: Path, outside: Path, ext: str, content: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9." + ext.encode()), "wb") as f:
        f.write(content)
    outside.write_bytes(content.replace(b"r1", SECRET.encode()))
    (folder / f"link.{ext}").symlink_to(outside)


def test_coding_feedback_never_reads_a_hostile_name_or_a_link(tmp_path):
    from assets.coding.pipeline import read_feedback
    from lakehouse.landing import Landing

    landing = Landing(tmp_path / "landing")
    folder = landing.root / "coding_feedback"
    good = b"classification,record_id,code\nscian,r1,111110\n"
    _hostile_folder(folder, tmp_path / "outside.csv", "csv", good)
    (folder / "ok.csv").write_bytes(good)
    rows, _ = read_feedback(landing, {}, {})           # no crash on the name, the link is not followed
    assert rows.height == 1 and SECRET not in str(rows.to_dicts())
    refused = {p.name: why for p, why in landing.refused_files("coding_feedback", ("*.csv",))}
    assert any("not valid UTF-8" in why for why in refused.values()) and "symbolic link" in refused["link.csv"]


def test_tiles_never_read_a_hostile_name_or_a_link(tmp_path):
    from assets.imagery.pipeline import inspect_paths, tiles_frame
    from lakehouse.landing import Landing

    landing = Landing(tmp_path / "landing")
    batch = landing.root / "tiles" / "b1"
    _hostile_folder(batch, tmp_path / "outside.tif", "tif", b"II*\x00garbage")
    (batch / "ok.tif").write_bytes(b"II*\x00not really a tiff")
    files = landing.files("tiles", ("*.tif",), batch="b1")
    assert [p.name for p in files] == ["ok.tif"]
    frame = tiles_frame(inspect_paths(files, "b1", batch, band_roles=None, zero_is_nodata=True))
    assert frame.height == 1 and frame.get_column("status").to_list() == ["skipped"]
    assert len(landing.refused_files("tiles", ("*.tif",), batch="b1")) == 2


def test_deleting_a_whole_batch_folder_keeps_its_rows_and_the_next_batch_run_says_so(res, instance):
    import shutil

    instance.add_dynamic_partitions("crime_narrative_batches", ["b2"])
    root = Path(res.landing.root) / "crime_narratives"
    for batch, rid in (("b1", "r1"), ("b2", "r2")):
        (root / batch).mkdir(parents=True, exist_ok=True)
        (root / batch / "n.csv").write_text(f"record_id,narrative\n{rid},texto {rid}\n")
    for batch in ("b1", "b2"):
        dg.materialize([D.bronze_crime], resources={"lakehouse": res}, partition_key=batch, instance=instance)
    shutil.rmtree(root / "b2")
    result = dg.materialize([D.bronze_crime], resources={"lakehouse": res}, partition_key="b1", instance=instance)
    (mat,) = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()]
    assert sorted(res.lakehouse.read(get_table("bronze.crime_narratives")).get_column("record_id")) == ["r1", "r2"]
    assert mat.metadata["files_removed_from_landing"].value == 1
    assert "b2/n.csv" in mat.metadata["removed_files"].value
