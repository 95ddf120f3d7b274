"""The whole chain without Dagster (``run_chain`` and ``fmlake imagery run``) on a batch with bad files."""

from __future__ import annotations

import json

import polars as pl
import pyarrow.parquet as pq
import pytest
import shapely
from click.testing import CliRunner

from assets.imagery.pipeline import run_chain
from assets.imagery.segmentation import SegmentOptions
from resources.namer import RuleNamer
from resources.segmenter import FelzenszwalbSegmenter


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
    assert pictures == ["good_a.png", "good_b.png", "photo.png"]
    img = Image.open(out / "quicklooks" / "good_a.png")
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
    assert (out / "objects_EPSG-32614.parquet").exists() and (out / "quicklooks" / "good_a.png").exists()

    res = CliRunner().invoke(main, ["imagery", "run", "--input", str(bad_batch), "--out", str(out),
                                    "--segmenter", "sam", "--checkpoint", str(tmp_path / "nope.pth"), "--json"])
    assert res.exit_code == 1 and "does not exist" in res.output
    res = CliRunner().invoke(main, ["imagery", "run", "--input", str(bad_batch), "--out", str(out),
                                    "--overlap", "0"])
    assert res.exit_code != 0 and "overlap" in res.output
