"""The whole imagery chain without Dagster (what ``fmlake imagery run`` does), plus table builders the
assets share: tiles -> masks -> clusters -> names -> objects, summaries, exports, quicklooks."""

from __future__ import annotations

import hashlib
import json
import re
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import polars as pl

from assets.imagery.objects import (FEATURE_COLUMNS, MaskSource, Naming, ObjectExporter,
                                    ParquetSource, Summary, label_frame, name_clusters, remove_exports)
from assets.imagery.raster import TileError, TileInfo, inspect_or_skip, list_tiles
from assets.imagery.segmentation import ParquetMaskSink, SegmentOptions, TileSegmentation, segment_tile
from lakehouse.tables import imagery as T


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def tiles_frame(infos: list[TileInfo]) -> pl.DataFrame:
    if not infos:
        return T.silver_tiles.empty()
    return pl.DataFrame([i.as_row() for i in infos], schema=T.TILE_SCHEMA)


@dataclass
class ClusterSettings:
    k_min: int = 6
    k_max: int = 12
    fit_sample: int = 20_000
    seed: int = 0


def inspect_paths(paths: list[Path], batch_id: str, root: Path | None, *, band_roles: str | None,
                  zero_is_nodata: bool, max_pixels: int | None = None) -> list[TileInfo]:
    """silver.tiles rows for ``paths`` (skips recorded, never raised; a raster declaring more than
    ``max_pixels`` pixels is skipped unread, ``too_large``)."""
    infos = []
    for p in paths:
        rel = p.relative_to(root).as_posix() if root and p.is_relative_to(root) else p.name
        infos.append(inspect_or_skip(p, batch_id, tile_id=f"{batch_id}/{rel}", band_roles=band_roles,
                                     zero_is_nodata=zero_is_nodata, max_pixels=max_pixels))
    return infos


def segment_into(info: TileInfo, segmenter, options: SegmentOptions, emit) -> TileSegmentation | None:
    """Segment one tile; a tile that fails to decode mid-way is marked skipped (others go on)."""
    try:
        return segment_tile(info, segmenter, emit, options)
    except TileError as exc:
        info.status, info.skip_reason = "skipped", f"{exc.reason}: {str(exc).split(': ', 2)[-1]}"
        return None


QUICKLOOK_DIR = "quicklooks"
RUN_TABLES = ("summary.csv", "clusters.csv")  # written only when the run has masks


def quicklook_names(tile_ids: Iterable[str], batch_id: str) -> dict[str, str]:
    """File name of each tile's quicklook PNG: the tile's path in the batch, filesystem-safe
    (``<batch>/a/t.tif`` -> ``a__t.tif.png``). Tiles are found recursively, so two may share a file
    name (``a/t.tif``, ``b/t.tif``) or a stem (``t.tif``, ``t.jpg``): the name keeps the folders and
    the extension. Names that still collide after the clean-up (or are too long) get a short hash of
    the tile id."""
    prefix = f"{batch_id}/"

    def digest(tile_id: str) -> str:
        return hashlib.sha1(tile_id.encode()).hexdigest()[:8]

    slugs = {}
    for tile_id in tile_ids:
        rel = tile_id[len(prefix):] if tile_id.startswith(prefix) else tile_id
        slug = "__".join(re.sub(r"[^\w.-]+", "_", part) for part in rel.split("/") if part).lstrip(".") or "tile"
        slugs[tile_id] = slug if len(slug) <= 200 else f"{slug[:190]}-{digest(tile_id)}"
    counts: dict[str, int] = {}
    for slug in slugs.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {t: (s if counts[s] == 1 else f"{s}-{digest(t)}") + ".png" for t, s in slugs.items()}


def remove_quicklooks(folder: str | Path) -> list[Path]:
    """Remove the quicklook PNGs an earlier run left in ``folder`` (other files stay)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = [f for f in sorted(folder.glob("*.png")) if f.is_file()]
    for f in removed:
        f.unlink()
    return removed


def remove_previous_outputs(out: str | Path) -> list[Path]:
    """What an earlier ``run_chain`` into ``out`` wrote and this run may not rewrite (object exports
    per CRS, quicklooks, the summary tables): removed first, so nothing stale looks current. Only
    the files this tool writes; anything else in ``out`` stays."""
    out = Path(out)
    removed = remove_exports(out) + remove_quicklooks(out / QUICKLOOK_DIR)
    qdir = out / QUICKLOOK_DIR
    if qdir.is_dir() and not any(qdir.iterdir()):
        qdir.rmdir()
    for name in RUN_TABLES:
        if (out / name).is_file():
            (out / name).unlink()
            removed.append(out / name)
    return removed


def objects_and_summary(source: MaskSource, naming: Naming) -> tuple[pl.DataFrame, pl.DataFrame]:
    """gold.image_objects and gold.image_object_summary for a (small enough) source."""
    summary = Summary()
    parts = []
    for frame in source.frames(FEATURE_COLUMNS):
        obj = label_frame(frame, naming)
        summary.add(obj)
        parts.append(obj)
    objects = pl.concat(parts).select(list(T.OBJECT_SCHEMA)) if parts else T.image_objects.empty()
    return objects, summary.frame()


def label_lookup(objects: pl.DataFrame) -> dict[str, str]:
    return dict(zip(objects.get_column("mask_id").to_list(), objects.get_column("label").to_list()))


def run_chain(input_path: str | Path, out_dir: str | Path, segmenter, namer, *,
              options: SegmentOptions | None = None, band_roles: str | None = None, batch_id: str | None = None,
              clusters: ClusterSettings | None = None, quicklook_side: int = 1024, keep_masks: bool = False) -> dict:
    """Run tiles -> objects on a file or folder; write GeoParquet/GeoJSON objects, quicklooks,
    clusters.csv and summary.csv under ``out_dir`` (replacing what an earlier run wrote there);
    return the run's JSON summary."""
    from assets.imagery.quicklook import render_quicklook

    started = time.perf_counter()
    options = options or SegmentOptions()
    clusters = clusters or ClusterSettings()
    input_path = Path(input_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = out / "_masks"
    if work.exists():
        shutil.rmtree(work)
    remove_previous_outputs(out)
    batch_id = batch_id or (input_path.name if input_path.is_dir() else input_path.stem)
    paths = list_tiles(input_path)
    infos = inspect_paths(paths, batch_id, input_path if input_path.is_dir() else None, band_roles=band_roles,
                          zero_is_nodata=options.zero_is_nodata)
    seg_results: dict[str, TileSegmentation] = {}
    mask_files: dict[str, Path] = {}
    t_seg = time.perf_counter()
    for i, info in enumerate(infos):
        if not info.ok:
            continue
        path = work / f"{i:05d}.parquet"
        with ParquetMaskSink(path) as sink:
            result = segment_into(info, segmenter, options, sink)
        if result is None:
            path.unlink(missing_ok=True)
            continue
        seg_results[info.tile_id] = result
        mask_files[info.tile_id] = path
    seconds_segmentation = time.perf_counter() - t_seg
    ok = [i for i in infos if i.ok]
    source = ParquetSource(mask_files.values())
    report: dict = {
        "input": str(input_path), "batch_id": batch_id, "segmenter": segmenter.name, "namer": namer.name,
        "tiles": len(ok), "tiles_skipped": [{"tile_id": i.tile_id, "reason": i.skip_reason} for i in infos if not i.ok],
        "masks": source.n_rows, "windows": sum(r.n_windows for r in seg_results.values()),
        "masks_merged_across_windows": sum(r.merged_parts for r in seg_results.values()),
    }
    outputs: dict = {"quicklooks": []}
    tiles_frame(infos).write_parquet(out / "tiles.parquet")
    if source.n_rows:
        naming = name_clusters(source, namer, batch_id, {i.tile_id: i for i in ok}, k_min=clusters.k_min,
                               k_max=clusters.k_max, fit_sample=clusters.fit_sample, seed=clusters.seed)
        exporter = ObjectExporter(out)
        summary = Summary()
        qdir = out / QUICKLOOK_DIR
        qdir.mkdir(exist_ok=True)
        qnames = quicklook_names([i.tile_id for i in infos], batch_id)
        for info in ok:
            tile_source = ParquetSource([mask_files[info.tile_id]])
            for frame in tile_source.frames(FEATURE_COLUMNS + ["geometry_wkb"]):
                obj = label_frame(frame, naming)
                summary.add(obj)
                exporter.add(obj, frame.get_column("geometry_wkb"))

            def labelled(src=tile_source):
                for frame in src.frames(FEATURE_COLUMNS + ["geometry_wkb"]):
                    obj = label_frame(frame, naming, with_rules=False)
                    yield from zip(frame.get_column("geometry_wkb").to_list(), obj.get_column("label").to_list())

            png, _ = render_quicklook(info, labelled(), max_side=quicklook_side)
            qpath = qdir / qnames[info.tile_id]
            qpath.write_bytes(png)
            outputs["quicklooks"].append(str(qpath))
        outputs["objects"] = exporter.close()
        summary_df = summary.frame()
        summary_df.write_csv(out / "summary.csv")
        naming.clusters.drop("namer_detail").write_csv(out / "clusters.csv")
        report["k"] = naming.model.k
        report["families"] = {name: {"k": m.k, "k_top_level": m.top_k, "silhouette": m.silhouette,
                                     "silhouette_by_k": m.tried}
                              for name, m in naming.model.families.items()}
        report["clusters"] = [
            {"cluster_id": r["cluster_id"], "family": r["family"], "label": r["label"], "confidence": r["confidence"],
             "namer_status": r["namer_status"], "rule_label": r["rule_label"], "n_masks": r["n_masks"],
             "area_m2": r["area_m2"]} for r in naming.clusters.iter_rows(named=True)]
        labels = summary_df.group_by("label").agg(pl.col("n_objects").sum(), pl.col("area_px").sum(),
                                                  pl.col("area_m2").sum()).sort("area_px", descending=True)
        total = float(labels.get_column("area_px").sum()) or 1.0
        report["labels"] = {r["label"]: {"objects": r["n_objects"], "area_px": r["area_px"],
                                         "area_m2": r["area_m2"], "share": round(r["area_px"] / total, 4)}
                            for r in labels.iter_rows(named=True)}
    else:
        report.update(k=0, families={}, clusters=[], labels={})
    if not keep_masks and work.exists():
        shutil.rmtree(work)
    report["outputs"] = {**outputs, "tiles": str(out / "tiles.parquet")}
    report["seconds"] = round(time.perf_counter() - started, 3)
    report["seconds_segmentation"] = round(seconds_segmentation, 3)
    report["seconds_per_tile"] = {t: round(r.seconds, 3) for t, r in seg_results.items()}
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    (out / "run.json").write_text(json.dumps(report, indent=2, default=str))
    return report
