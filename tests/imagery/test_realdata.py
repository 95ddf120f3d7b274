"""Real Sentinel-2 tiles from ../shared/data (skipped when absent): water agrees with NDWI > 0."""

from __future__ import annotations

import pytest

from assets.imagery.bench import water_iou
from assets.imagery.pipeline import run_chain
from assets.imagery.naming import RuleNamer
from resources.segmenter import FelzenszwalbSegmenter

pytestmark = pytest.mark.realdata


def test_sentinel2_water_vegetation_bare(shared_data, tmp_path):
    folder = shared_data / "imagery" / "sentinel2"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    scene = tmp_path / "scene"
    scene.mkdir()
    for name in ("s2_r1_c1.tif", "s2_r2_c1.tif"):  # fields, forest, a river, marsh and the bay
        (scene / name).symlink_to(folder / name)
    out = tmp_path / "out"
    report = run_chain(scene, out, FelzenszwalbSegmenter(), RuleNamer(), keep_masks=True)
    assert report["tiles"] == 2 and not report["tiles_skipped"]
    assert {"water", "vegetation", "bare_soil"} <= set(report["labels"])
    assert max(report["seconds_per_tile"].values()) < 15  # the target is 5 s on a quiet machine
    ious = water_iou(out, report)
    assert ious["water_tiles"] == 2
    for tile in ious["per_tile"]:
        assert tile["iou"] >= 0.7, tile
