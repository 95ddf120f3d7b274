"""Windowed segmentation: masks crossing window borders merge into one; features are right."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from assets.imagery.raster import inspect_tile
from assets.imagery.segmentation import SegmentOptions, segment_tile, shape_features
from resources.segmenter import FelzenszwalbSegmenter, Segmentation
from tests.imagery.conftest import SCENE, scene_array, write_tif


def _rect(r, c, h, w, x0=500000, y0=2000000, px=10):
    return shapely.box(x0 + c * px, y0 - (r + h) * px, x0 + (c + w) * px, y0 - r * px)


def _segment(info, window=1024, overlap=32, segmenter=None, min_area=16):
    # sigma=0 (no pre-smoothing): the synthetic edges are sharp, so every rectangle is one segment and
    # the geometry can be checked exactly; the default sigma blurs a one-pixel ring around each
    out: list[dict] = []
    result = segment_tile(info, segmenter or FelzenszwalbSegmenter(sigma=0), out.append,
                          SegmentOptions(window_size=window, window_overlap=overlap, min_area_px=min_area))
    return result, out


def test_objects_crossing_windows_are_merged_exactly(scene_tif):
    info = inspect_tile(scene_tif, "b")
    whole, masks_whole = _segment(info)
    tiled, masks_tiled = _segment(info, window=32, overlap=8)
    assert whole.n_windows == 1 and tiled.n_windows == 9
    assert tiled.merged_parts > 0
    for r, c, h, w, _ in SCENE:
        rect = _rect(r, c, h, w)
        for masks in (masks_whole, masks_tiled):
            hits = [m for m in masks if shapely.from_wkb(m["geometry_wkb"]).intersection(rect).area > 0.5 * rect.area]
            assert len(hits) == 1, f"rectangle {r, c, h, w} split into {len(hits)} masks"
            geom = shapely.from_wkb(hits[0]["geometry_wkb"])
            assert geom.geom_type == "Polygon" and geom.is_valid
            assert geom.symmetric_difference(rect).area == pytest.approx(0, abs=1e-6)
            assert hits[0]["area_px"] == h * w and hits[0]["area_m2"] == pytest.approx(h * w * 100)
    # same objects either way: every pixel covered once, no mask lost at a seam
    for masks in (masks_whole, masks_tiled):
        assert sum(m["area_px"] for m in masks) == 96 * 96
        union = shapely.union_all([shapely.from_wkb(m["geometry_wkb"]) for m in masks])
        assert union.area == pytest.approx(960 * 960)
    assert len(masks_tiled) == len(masks_whole) == 4


def test_default_segmenter_covers_every_pixel_once_across_windows(scene_tif):
    info = inspect_tile(scene_tif, "b")
    for window in (1024, 32):
        _, masks = _segment(info, window=window, overlap=8, segmenter=FelzenszwalbSegmenter(), min_area=1)
        geoms = [shapely.from_wkb(m["geometry_wkb"]) for m in masks]
        assert sum(m["area_px"] for m in masks) == 96 * 96
        assert sum(g.area for g in geoms) == pytest.approx(960 * 960)  # no overlaps, no gaps
        assert shapely.union_all(geoms).area == pytest.approx(960 * 960)
        assert all(g.is_valid for g in geoms)


class _Stripes:
    """A fake segmenter: label = column // 8 + 1 within each window (so windows disagree at seams
    unless a stripe boundary falls on the seam)."""

    name = "stripes"

    def segment(self, window):
        rows, cols = window.valid.shape
        col0 = window.spec.read_col0
        labels = np.broadcast_to(((np.arange(cols) + col0) // 8 + 1).astype(np.int32), (rows, cols)).copy()
        return Segmentation(labels, np.full(labels.max() + 1, 0.5))


def test_seam_merge_follows_both_windows_agreement(scene_tif):
    info = inspect_tile(scene_tif, "b")
    _, masks = _segment(info, window=32, overlap=4, segmenter=_Stripes(), min_area=1)
    # stripes are 8 columns wide and aligned on the 32-pixel seams: across a vertical seam the windows
    # agree the pixels belong to *different* segments, across a horizontal seam to the same one
    assert len(masks) == 96 // 8
    for m in masks:
        g = shapely.from_wkb(m["geometry_wkb"])
        minx, miny, maxx, maxy = g.bounds
        assert (maxx - minx, maxy - miny) == (80, 960)
        assert m["score"] == pytest.approx(0.5)


def test_spectral_features(scene_tif):
    info = inspect_tile(scene_tif, "b")
    _, masks = _segment(info)
    by_rect = {}
    for r, c, h, w, spec in SCENE:
        rect = _rect(r, c, h, w)
        by_rect[spec] = next(m for m in masks if shapely.from_wkb(m["geometry_wkb"]).equals(rect))
    water, veg, roof = by_rect[SCENE[0][4]], by_rect[SCENE[1][4]], by_rect[SCENE[2][4]]
    assert water["ndwi"] == pytest.approx((650 - 200) / (650 + 200), abs=0.01)
    assert veg["ndvi"] == pytest.approx((3200 - 600) / (3200 + 600), abs=0.01)
    assert water["mean_nir"] == pytest.approx(0.02, abs=0.001)
    assert roof["brightness"] == pytest.approx((0.24 + 0.23 + 0.25) / 3, abs=0.002)
    assert roof["band_means"] == pytest.approx([0.24, 0.23, 0.25, 0.26], abs=0.002)
    assert water["brightness_std"] < 0.01
    assert roof["rectangularity"] == pytest.approx(1.0) and roof["elongation"] == pytest.approx(1.0)
    assert roof["compactness"] == pytest.approx(np.pi / 4)
    assert roof["perimeter"] == pytest.approx(4 * 14 * 10)
    assert (roof["row_min"], roof["col_min"], roof["row_max"], roof["col_max"]) == (60, 75, 73, 88)
    assert roof["mask_id"].startswith("b/scene.tif#") and roof["crs"] == "EPSG:32614"
    assert roof["score"] is None  # the graph segmenter has no confidence: none is invented


def test_nodata_pixels_belong_to_no_mask(tmp_path):
    data = scene_array()
    data[:, :, 80:] = 0
    info = inspect_tile(write_tif(tmp_path / "t.tif", data, nodata=0), "b")
    _, masks = _segment(info, window=32, overlap=8)
    assert sum(m["area_px"] for m in masks) == 96 * 80
    assert all(shapely.from_wkb(m["geometry_wkb"]).bounds[2] <= 500000 + 800 for m in masks)


def test_shape_features_of_a_thin_strip():
    f = shape_features(shapely.box(0, 0, 40, 2))
    assert f["elongation"] == pytest.approx(20)
    assert f["rectangularity"] == pytest.approx(1)
    assert f["compactness"] == pytest.approx(4 * np.pi * 80 / 84 ** 2)


def test_options_refuse_windows_without_overlap():
    with pytest.raises(ValueError, match="overlap"):
        SegmentOptions(window_overlap=0)
    with pytest.raises(ValueError, match="twice"):
        SegmentOptions(window_size=16, window_overlap=10)
