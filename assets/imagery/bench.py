"""Benchmark and evaluation helpers behind ``fmlake imagery bench`` / ``evaluate``.

* :func:`write_synthetic_raster` writes a big 4-band GeoTIFF block by block (a Voronoi landscape of
  water, crops, bare soil and roofs with noise), so generating 10,000² never holds it in memory.
* :func:`run_benchmark` runs ``fmlake imagery run`` on each size in a fresh process and reads that
  process's peak RSS from ``wait4`` (what the kernel accounted, not what the code claims).
* :func:`water_iou` compares the area labelled water with NDWI > 0, pixel by pixel.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# class -> (blue, green, red, nir) digital numbers (reflectance x 10000), like the sample tiles
SPECTRA = {
    "water": (700, 650, 400, 200),
    "vegetation": (500, 800, 600, 3200),
    "forest": (450, 650, 400, 2600),
    "bare_soil": (900, 1100, 1400, 1900),
    "built_up": (2000, 1950, 2050, 2300),
}
CLASS_CUM = np.cumsum([0.15, 0.35, 0.15, 0.25, 0.10])
CELL = 48


def _hash(gi: np.ndarray, gj: np.ndarray, seed: int, salt: int) -> np.ndarray:
    h = (gi.astype(np.uint64) * np.uint64(73856093)) ^ (gj.astype(np.uint64) * np.uint64(19349663)) \
        ^ np.uint64(seed * 83492791 + salt * 2654435761)
    h ^= h >> np.uint64(13)
    h *= np.uint64(0x5BD1E995)
    h ^= h >> np.uint64(15)
    return (h % np.uint64(1_000_003)).astype(np.float64) / 1_000_003.0


def synthetic_block(row0: int, col0: int, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """(4, rows, cols) uint16 of the global synthetic landscape (same pixels whatever the blocking)."""
    yy, xx = np.mgrid[row0:row0 + rows, col0:col0 + cols]
    gi0, gj0 = yy // CELL, xx // CELL
    best = np.full((rows, cols), np.inf)
    cell_i = np.zeros((rows, cols), dtype=np.int64)
    cell_j = np.zeros((rows, cols), dtype=np.int64)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            gi, gj = gi0 + di, gj0 + dj
            sy = (gi + _hash(gi, gj, seed, 1)) * CELL
            sx = (gj + _hash(gi, gj, seed, 2)) * CELL
            d = (yy - sy) ** 2 + (xx - sx) ** 2
            closer = d < best
            best[closer], cell_i[closer], cell_j[closer] = d[closer], gi[closer], gj[closer]
    cls = np.searchsorted(CLASS_CUM, _hash(cell_i, cell_j, seed, 3) * CLASS_CUM[-1], side="right")
    cls = np.minimum(cls, len(SPECTRA) - 1)
    spectra = np.asarray(list(SPECTRA.values()), dtype=np.float32)  # (classes, 4)
    tone = (0.85 + 0.3 * _hash(cell_i, cell_j, seed, 4)).astype(np.float32)
    data = spectra[cls].transpose(2, 0, 1) * tone
    rng = np.random.default_rng([seed, row0, col0])
    data += rng.normal(0, 40, data.shape).astype(np.float32)
    return np.clip(data, 1, 10000).astype(np.uint16)


def write_synthetic_raster(path: str | Path, size: int, seed: int = 0, block: int = 512) -> Path:
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    path = Path(path)
    profile = dict(driver="GTiff", height=size, width=size, count=4, dtype="uint16", crs="EPSG:32614",
                   transform=from_origin(230000, 2310000, 10, 10), tiled=True, blockxsize=512, blockysize=512)
    with rasterio.open(path, "w", **profile) as dst:
        dst.descriptions = ("blue", "green", "red", "nir")
        for r in range(0, size, block):
            for c in range(0, size, block):
                rows, cols = min(block, size - r), min(block, size - c)
                dst.write(synthetic_block(r, c, rows, cols, seed), window=Window(c, r, cols, rows))
    return path


def _run_child(args: list[str], log: Path) -> tuple[int, float, float]:
    """Run a command; return (exit code, wall seconds, peak RSS in MB from wait4)."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - t0, usage.ru_maxrss / 1024.0


def time_default_segmenter(tile_size: int = 512, repeats: int = 3, workdir: Path | None = None) -> dict:
    """Seconds for the default segmenter on one synthetic ``tile_size``² 4-band tile (median of repeats):
    the segmenter alone, and the whole per-tile pass (read, segment, polygons, features)."""
    from assets.imagery.raster import inspect_tile
    from assets.imagery.segmentation import segment_tile
    from resources.segmenter import FelzenszwalbSegmenter

    folder = Path(workdir or tempfile.mkdtemp(prefix="fmlake-imagery-tile-"))
    path = write_synthetic_raster(folder / f"tile_{tile_size}.tif", tile_size, seed=1)
    info = inspect_tile(path, "bench")
    seg = FelzenszwalbSegmenter()
    totals, segs, masks = [], [], 0
    for _ in range(repeats):
        out: list = []
        r = segment_tile(info, seg, out.append)
        totals.append(r.seconds)
        segs.append(r.seconds_segmenter)
        masks = r.n_masks
    path.unlink()
    return {"tile": f"{tile_size}x{tile_size}x4", "masks": masks, "segmenter_seconds": round(statistics.median(segs), 3),
            "tile_pass_seconds": round(statistics.median(totals), 3), "repeats": repeats}


def run_benchmark(sizes: list[int], tile_size: int = 512, workdir: str | None = None) -> dict:
    own = workdir is None
    root = Path(workdir or tempfile.mkdtemp(prefix="fmlake-imagery-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    result: dict = {"cpus": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                    "per_tile": time_default_segmenter(tile_size, workdir=root), "runs": []}
    try:
        for size in sizes:
            t0 = time.perf_counter()
            raster = write_synthetic_raster(root / f"synthetic_{size}.tif", size)
            gen_s = time.perf_counter() - t0
            out = root / f"out_{size}"
            code, wall, rss = _run_child([sys.executable, "-m", "pipelines.cli", "imagery", "run", "--input",
                                          str(raster), "--out", str(out), "--json"], root / f"run_{size}.log")
            log = (root / f"run_{size}.log").read_text()
            if code != 0:
                raise RuntimeError(f"imagery run on {size}² failed (exit {code}):\n{log[-3000:]}")
            report = json.loads(log.strip().splitlines()[-1])
            result["runs"].append({
                "size": f"{size}x{size}x4", "file_mb": round(raster.stat().st_size / 2**20, 1),
                "generate_seconds": round(gen_s, 1), "masks": report["masks"], "windows": report["windows"],
                "masks_merged_across_windows": report["masks_merged_across_windows"], "k": report["k"],
                "seconds": round(wall, 1), "peak_rss_mb": round(rss, 1),
                "labels": {k: v["share"] for k, v in report["labels"].items()}})
            raster.unlink()
            shutil.rmtree(out, ignore_errors=True)
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)
    rss = [r["peak_rss_mb"] for r in result["runs"]]
    if len(rss) >= 2:
        result["peak_rss_ratio_largest_vs_smallest"] = round(rss[-1] / rss[0], 3)
        result["memory_target_met"] = rss[-1] <= 1.5 * rss[0]
    result["per_tile_target_met"] = result["per_tile"]["tile_pass_seconds"] <= 5.0
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return result


def water_iou(out_dir: str | Path, report: dict, min_water: float = 0.05) -> dict:
    """Per tile: IoU between the pixels of objects labelled water and the pixels with NDWI > 0."""
    import polars as pl
    import pyarrow.parquet as pq
    import rasterio
    import shapely
    from rasterio.features import rasterize

    from assets.imagery.raster import TileInfo, iter_window_data

    out = Path(out_dir)
    tiles = pl.read_parquet(out / "tiles.parquet").filter(pl.col("status") == "ok")
    objects = [pq.read_table(p, columns=["tile_id", "label", "geometry"]) for p in report["outputs"].get("objects", [])
               if p.endswith(".parquet")]
    water = pl.concat([pl.from_arrow(t) for t in objects]).filter(pl.col("label") == "water") if objects else None
    per_tile = []
    for row in tiles.iter_rows(named=True):
        info = TileInfo.from_row(row)
        if not {"green", "nir"} <= set(info.band_roles) or not info.georeferenced:
            continue
        ndwi_pos = np.zeros((info.height, info.width), dtype=bool)
        valid = np.zeros_like(ndwi_pos)
        g, n = info.band_roles["green"] - 1, info.band_roles["nir"] - 1
        for wd in iter_window_data(info, 1024, 1):
            rs, cs = wd.spec.core_in_read
            w = wd.spec
            green, nir = wd.reflectance[g][rs, cs], wd.reflectance[n][rs, cs]
            sl = (slice(w.core_row0, w.core_row0 + w.core_rows), slice(w.core_col0, w.core_col0 + w.core_cols))
            ndwi_pos[sl] = (green - nir) / np.maximum(green + nir, 1e-9) > 0
            valid[sl] = wd.valid[rs, cs]
        ndwi_pos &= valid
        geoms = [] if water is None else [shapely.from_wkb(b) for b in
                                          water.filter(pl.col("tile_id") == info.tile_id).get_column("geometry")]
        with rasterio.open(info.path) as src:
            transform = src.transform
        labelled = rasterize(((g_, 1) for g_ in geoms), out_shape=ndwi_pos.shape, transform=transform,
                             fill=0).astype(bool) if geoms else np.zeros_like(ndwi_pos)
        union = int((labelled | ndwi_pos).sum())
        iou = float((labelled & ndwi_pos).sum()) / union if union else None
        share = float(ndwi_pos.mean())
        per_tile.append({"tile_id": info.tile_id, "ndwi_water_share": round(share, 4),
                         "labelled_water_share": round(float(labelled.mean()), 4),
                         "iou": None if iou is None else round(iou, 4), "contains_water": share >= min_water})
    scored = [t["iou"] for t in per_tile if t["contains_water"] and t["iou"] is not None]
    return {"per_tile": per_tile, "water_tiles": len(scored), "min_iou_water_tiles": min(scored) if scored else None,
            "mean_iou_water_tiles": round(sum(scored) / len(scored), 4) if scored else None,
            "target_iou": 0.7, "target_met": bool(scored) and min(scored) >= 0.7}
