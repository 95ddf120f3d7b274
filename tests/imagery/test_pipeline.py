"""The whole chain without Dagster (``run_chain`` and ``fmlake imagery run``) on a batch with bad files."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import shapely
from click.testing import CliRunner

from assets.imagery.pipeline import quicklook_names, run_chain
from assets.imagery.segmentation import SegmentOptions
from assets.imagery.naming import RuleNamer
from resources.segmenter import FelzenszwalbSegmenter
from tests.imagery.conftest import scene_array, scene_rgb_png, write_tif


@pytest.fixture
def chain_report(bad_batch, tmp_path):
    out = tmp_path / "out"
    report = run_chain(bad_batch, out, FelzenszwalbSegmenter(sigma=0), RuleNamer(),
                       options=SegmentOptions(window_size=48, window_overlap=8))
    return report, out


def test_bad_files_are_recorded_and_the_rest_goes_on(chain_report):
    report, out = chain_report
    assert report["batch_id"] == "batch-7"
    assert report["tiles"] == 3  # two GeoTIFFs and the PNG
    reasons = {s["tile_id"]: s["reason"].split(":")[0] for s in report["tiles_skipped"]}
    assert reasons == {"batch-7/corrupt.tif": "corrupt", "batch-7/zero_bands.tif": "zero_bands",
                       "batch-7/no_crs.tif": "unknown_crs", "batch-7/all_nodata.tif": "all_nodata"}
    tiles = pl.read_parquet(out / "tiles.parquet")
    assert tiles.height == 7 and tiles.filter(pl.col("status") == "skipped").height == 4
    assert tiles.filter(pl.col("file_name") == "photo.png").get_column("georeferenced").to_list() == [False]


def test_objects_exported_with_their_crs(chain_report):
    report, out = chain_report
    files = sorted(p.split("/")[-1] for p in report["outputs"]["objects"])
    assert files == ["objects_EPSG-32614.geojson", "objects_EPSG-32614.parquet", "objects_pixel.geojson",
                     "objects_pixel.parquet"]
    table = pq.read_table(out / "objects_EPSG-32614.parquet")
    geo = json.loads(table.schema.metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert geo["columns"]["geometry"]["crs"]["id"] == {"authority": "EPSG", "code": 32614}
    df = pl.from_arrow(table)
    assert set(df.get_column("tile_id")) == {"batch-7/good_a.tif", "batch-7/good_b.tif"}
    # polygons are in the tile CRS (UTM metres around the tile's origin), and cover both tiles exactly
    geoms = shapely.from_wkb(df.get_column("geometry").to_numpy())
    assert shapely.total_bounds(geoms).tolist() == [500000, 1999040, 500960, 2000000]
    assert sum(g.area for g in geoms) == pytest.approx(2 * 960 * 960)
    # the water rectangle of the scene is labelled water, in both tiles
    water = df.filter(pl.col("label") == "water")
    assert water.height >= 2 and water.get_column("area_px").max() == 40 * 30
    gj = json.loads((out / "objects_EPSG-32614.geojson").read_text())
    assert gj["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32614"
    assert len(gj["features"]) == df.height
    assert {f["properties"]["label"] for f in gj["features"]} == set(df.get_column("label"))
    pixel = pl.read_parquet(out / "objects_pixel.parquet")
    assert json.loads(pq.read_schema(out / "objects_pixel.parquet").metadata[b"geo"])["columns"]["geometry"]["crs"] is None
    assert shapely.total_bounds(shapely.from_wkb(pixel.get_column("geometry").to_numpy())).tolist() == [0, 0, 64, 64]


def test_run_report_and_pictures(chain_report):
    report, out = chain_report
    assert report["masks"] > 0 and report["windows"] == 2 * 4 + 4
    assert report["masks_merged_across_windows"] > 0
    assert set(report["labels"]) >= {"water", "vegetation", "bare_soil"}
    assert sum(v["share"] for v in report["labels"].values()) == pytest.approx(1, abs=1e-3)
    assert sum(c["n_masks"] for c in report["clusters"]) == report["masks"]
    assert report["peak_rss_mb"] > 0 and report["seconds"] > 0
    from PIL import Image

    pictures = sorted(p.split("/")[-1] for p in report["outputs"]["quicklooks"])
    assert pictures == ["good_a.tif.png", "good_b.tif.png", "photo.png.png"]
    img = Image.open(out / "quicklooks" / "good_a.tif.png")
    assert img.width == 2 * 96 + 6  # true colour | labelled masks
    assert not (out / "_masks").exists()  # the per-tile work files are removed
    summary = pl.read_csv(out / "summary.csv")
    assert summary.get_column("n_objects").sum() == report["masks"]


def test_cli_run_prints_one_json_object(bad_batch, tmp_path):
    from pipelines.cli import main

    out = tmp_path / "cli-out"
    res = CliRunner().invoke(main, ["imagery", "run", "--input", str(bad_batch / "good_a.tif"), "--out", str(out),
                                    "--window", "64", "--overlap", "8", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.output.strip().splitlines()[-1])
    assert report["tiles"] == 1 and report["masks"] > 0 and report["segmenter"].startswith("felzenszwalb")
    assert {"tiles", "masks", "clusters", "labels", "seconds", "peak_rss_mb"} <= set(report)
    assert (out / "objects_EPSG-32614.parquet").exists() and (out / "quicklooks" / "good_a.tif.png").exists()

    res = CliRunner().invoke(main, ["imagery", "run", "--input", str(bad_batch), "--out", str(out),
                                    "--segmenter", "sam", "--checkpoint", str(tmp_path / "nope.pth"), "--json"])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = CliRunner().invoke(main, ["imagery", "run", "--input", str(bad_batch), "--out", str(out),
                                    "--overlap", "0"])
    assert res.exit_code != 0 and "overlap" in res.output


def test_quicklook_names_follow_the_tile_path():
    names = quicklook_names(["b/a/t.tif", "b/c/t.tif", "b/t.tif", "b/t.jpg", "b/x y/año 2020.tif", "b/.h/t.tif"], "b")
    assert names == {"b/a/t.tif": "a__t.tif.png", "b/c/t.tif": "c__t.tif.png", "b/t.tif": "t.tif.png",
                     "b/t.jpg": "t.jpg.png", "b/x y/año 2020.tif": "x_y__año_2020.tif.png", "b/.h/t.tif": "h__t.tif.png"}
    # paths that clean up to the same name get a short hash each, never the same file
    clash = quicklook_names(["b/a/t.tif", "b/a__t.tif", "b/a:t.tif", "b/a?t.tif"], "b")
    assert len(set(clash.values())) == 4 and clash["b/a/t.tif"].startswith("a__t.tif-")
    assert clash["b/a:t.tif"].startswith("a_t.tif-") and clash["b/a:t.tif"].endswith(".png")
    assert len(quicklook_names(["b/" + "d" * 150 + "/" + "t" * 150 + ".tif"], "b")["b/" + "d" * 150 + "/" + "t" * 150
                                                                                   + ".tif"]) < 255


def test_tiles_with_the_same_file_name_get_their_own_quicklook(tmp_path):
    batch = tmp_path / "dups"
    write_tif(batch / "a" / "t.tif", scene_array(seed=1))
    write_tif(batch / "b" / "t.tif", scene_array(seed=2)[:, ::-1, :].copy())
    scene_rgb_png(batch / "t.png")
    write_tif(batch / "t.tif", scene_array(seed=3))
    report = run_chain(batch, tmp_path / "out", FelzenszwalbSegmenter(sigma=0), RuleNamer(),
                       options=SegmentOptions(window_size=48, window_overlap=8))
    assert report["tiles"] == 4
    pictures = sorted(report["outputs"]["quicklooks"])
    assert [p.split("/")[-1] for p in pictures] == ["a__t.tif.png", "b__t.tif.png", "t.png.png", "t.tif.png"]
    files = sorted((tmp_path / "out" / "quicklooks").iterdir())
    assert [f.name for f in files] == [p.split("/")[-1] for p in pictures]
    assert len({f.read_bytes() for f in files}) == 4  # four different pictures, none overwritten


def test_a_rerun_into_the_same_folder_replaces_the_earlier_outputs(tmp_path):
    batch, out = tmp_path / "scene", tmp_path / "out"
    write_tif(batch / "good.tif", scene_array(seed=1))
    scene_rgb_png(batch / "photo.png")
    seg, opts = FelzenszwalbSegmenter(sigma=0), SegmentOptions(window_size=48, window_overlap=8)
    first = run_chain(batch, out, seg, RuleNamer(), options=opts)
    assert (out / "objects_pixel.parquet").exists() and len(first["outputs"]["quicklooks"]) == 2
    # files of the user's own in the same folder
    (out / "notes.txt").write_text("mine")
    (out / "objects_final.parquet").write_bytes(b"mine")
    (out / "quicklooks" / "legend.txt").write_text("mine")

    (batch / "photo.png").unlink()  # the second run has no pixel-coordinate tile
    report = run_chain(batch, out, seg, RuleNamer(), options=opts)
    exports = sorted(p.name for p in out.glob("objects_*"))
    assert exports == ["objects_EPSG-32614.geojson", "objects_EPSG-32614.parquet", "objects_final.parquet"]
    [picture] = [p.split("/")[-1] for p in report["outputs"]["quicklooks"]]
    assert sorted(p.name for p in (out / "quicklooks").iterdir()) == sorted([picture, "legend.txt"])
    assert (out / "notes.txt").read_text() == "mine" and (out / "objects_final.parquet").read_bytes() == b"mine"
    assert report["tiles"] == 1

    # a run that finds no masks at all leaves no exports, quicklooks or tables of the earlier run
    (batch / "good.tif").unlink()
    write_tif(batch / "empty.tif", np.zeros((4, 16, 16), dtype=np.uint16), nodata=0)
    report = run_chain(batch, out, seg, RuleNamer(), options=opts)
    assert report["masks"] == 0
    left = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert left == ["notes.txt", "objects_final.parquet", "quicklooks", "quicklooks/legend.txt", "run.json",
                    "tiles.parquet"]
