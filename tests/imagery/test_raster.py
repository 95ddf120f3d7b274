"""Tile inspection, band roles, windows: pure functions on tiny files."""

from __future__ import annotations

import numpy as np
import pytest

from assets.imagery.raster import (TileError, inspect_or_skip, inspect_tile, iter_windows, list_tiles,
                                   resolve_band_roles)
from tests.imagery.conftest import scene_array, scene_rgb_png, write_tif, write_zero_band_tif


def test_band_roles_precedence():
    assert resolve_band_roles(("blue", "green", "red", "nir"), 4) == {"blue": 1, "green": 2, "red": 3, "nir": 4}
    assert resolve_band_roles(("B04", "B03", "B02", "B08"), 4) == {"red": 1, "green": 2, "blue": 3, "nir": 4}
    # configured roles win over descriptions; '-' skips a band
    assert resolve_band_roles(("blue", "green", "red", "nir"), 5, "nir,-,red,green,blue") == \
        {"nir": 1, "red": 3, "green": 4, "blue": 5}
    assert resolve_band_roles((None, None, None), 3) == {"red": 1, "green": 2, "blue": 3}
    assert resolve_band_roles((None,), 1) == {}
    with pytest.raises(ValueError, match="not one of"):
        resolve_band_roles((), 4, "blue,green,red,swir")
    with pytest.raises(ValueError, match="given twice"):
        resolve_band_roles((), 4, "red,red")
    with pytest.raises(ValueError, match="3 bands"):
        resolve_band_roles((), 3, "blue,green,red,nir")


@pytest.mark.parametrize("width,height,size,halo", [(100, 70, 32, 8), (32, 32, 32, 4), (5, 300, 64, 16)])
def test_windows_cover_the_raster_once(width, height, size, halo):
    seen = np.zeros((height, width), dtype=int)
    for w in iter_windows(width, height, size, halo):
        seen[w.core_row0:w.core_row0 + w.core_rows, w.core_col0:w.core_col0 + w.core_cols] += 1
        # the read window holds the core plus at most `halo` pixels on each side, inside the raster
        assert 0 <= w.read_row0 <= w.core_row0 and w.read_col0 <= w.core_col0
        assert w.read_row0 + w.read_rows <= height and w.read_col0 + w.read_cols <= width
        assert w.core_row0 - w.read_row0 == min(halo, w.core_row0)
        assert w.read_rows <= size + 2 * halo
    assert (seen == 1).all()


def test_inspect_good_tile(scene_tif):
    info = inspect_tile(scene_tif, "b1")
    assert info.ok and info.tile_id == "b1/scene.tif"
    assert (info.width, info.height, info.band_count, info.dtype) == (96, 96, 4, "uint16")
    assert info.crs == "EPSG:32614" and info.georeferenced
    assert (info.min_x, info.max_y, info.max_x, info.min_y) == (500000, 2000000, 500960, 1999040)
    assert info.res_x == info.res_y == 10
    assert info.band_roles == {"blue": 1, "green": 2, "red": 3, "nir": 4}
    assert info.valid_fraction == 1.0
    # percentiles in reflectance: NIR spans water (0.02) .. vegetation (0.32)
    assert info.band_low[3] == pytest.approx(0.02, abs=0.01) and info.band_high[3] == pytest.approx(0.32, abs=0.01)
    assert len(info.file_hash) == 64


def test_nodata_fraction(tmp_path):
    data = scene_array()
    data[:, :48, :] = 0  # the top half is fill
    info = inspect_tile(write_tif(tmp_path / "half.tif", data, nodata=0), "b")
    assert info.valid_fraction == pytest.approx(0.5)
    # without a declared nodata value, zero in every band counts as fill (Sentinel-2 convention) ...
    info = inspect_tile(write_tif(tmp_path / "half_undeclared.tif", data), "b")
    assert info.valid_fraction == pytest.approx(0.5)
    # ... unless told otherwise
    assert inspect_tile(tmp_path / "half_undeclared.tif", "b", zero_is_nodata=False).valid_fraction == 1.0


def test_png_without_crs_is_kept_in_pixel_coordinates(tmp_path):
    info = inspect_tile(scene_rgb_png(tmp_path / "photo.png"), "b")
    assert info.ok and not info.georeferenced and info.crs is None
    assert info.band_roles == {"red": 1, "green": 2, "blue": 3}
    assert (info.min_x, info.min_y, info.max_x, info.max_y) == (0, 0, 64, 64)


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "zero_bands", "unknown_crs", "all_nodata"])
def test_bad_tiles_raise_a_clear_reason(tmp_path, kind):
    from rasterio.transform import from_origin

    path = tmp_path / f"{kind}.tif"
    if kind == "corrupt":
        path.write_bytes(b"this is not a raster at all")
    elif kind == "truncated":
        full = write_tif(tmp_path / "full.tif", scene_array())
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    elif kind == "zero_bands":
        write_zero_band_tif(path)
    elif kind == "unknown_crs":
        write_tif(path, scene_array(), crs=None, transform=from_origin(500000, 2000000, 10, 10))
    else:
        write_tif(path, np.zeros((4, 16, 16), dtype=np.uint16), nodata=0)
    expected = "corrupt" if kind == "truncated" else kind
    with pytest.raises(TileError) as err:
        inspect_tile(path, "b")
    assert err.value.reason == expected
    assert str(path) in str(err.value)
    skipped = inspect_or_skip(path, "b")
    assert skipped.status == "skipped" and skipped.skip_reason.startswith(expected)


def test_list_tiles(tmp_path):
    write_tif(tmp_path / "a" / "x.tif", scene_array(8, 8))
    scene_rgb_png(tmp_path / "a" / "sub" / "y.png")
    (tmp_path / "a" / "notes.txt").write_text("not a tile")
    # sorted by path: a/sub/y.png before a/x.tif; the text file is not a tile
    assert [p.name for p in list_tiles(tmp_path / "a")] == ["y.png", "x.tif"]
    assert list_tiles(tmp_path / "a" / "x.tif") == [tmp_path / "a" / "x.tif"]
    with pytest.raises(FileNotFoundError):
        list_tiles(tmp_path / "missing")


def test_nan_pixels_of_a_float_raster_are_nodata(tmp_path):
    """A float reflectance raster with NaN holes and no declared nodata: the holes are not data, the
    percentiles stay finite and the rest of the tile is segmented as usual."""
    from assets.imagery.raster import iter_window_data
    from assets.imagery.segmentation import SegmentOptions, segment_tile
    from resources.segmenter import FelzenszwalbSegmenter

    data = scene_array().astype(np.float32) / 10000
    data[:, 0, 0] = np.nan  # one pixel
    data[2, 90:, :] = np.nan  # six rows, one band only
    info = inspect_tile(write_tif(tmp_path / "float_nan.tif", data), "b")
    assert info.valid_fraction == pytest.approx(1 - (1 + 6 * 96) / 96 ** 2)
    assert np.isfinite(info.band_low).all() and np.isfinite(info.band_high).all()
    assert info.band_low[3] == pytest.approx(0.02, abs=0.01) and info.band_high[3] == pytest.approx(0.32, abs=0.01)
    windows = list(iter_window_data(info, 48, 8))
    first = windows[0]
    assert not first.valid[0, 0] and first.valid[1:, :].all()
    for wd in windows:
        assert np.isfinite(wd.normalised).all() and np.isfinite(wd.reflectance).all()
    records: list[dict] = []
    segment_tile(info, FelzenszwalbSegmenter(sigma=0), records.append, SegmentOptions(window_size=48, window_overlap=8))
    assert sum(r["area_px"] for r in records) == round(info.valid_fraction * 96 * 96)
    for key in ("ndvi", "ndwi", "brightness", "texture", "mean_nir"):
        assert all(r[key] is not None and np.isfinite(r[key]) for r in records), key
    water = [r for r in records if r["area_px"] == 40 * 30]
    assert len(water) == 1 and water[0]["ndwi"] > 0.3
