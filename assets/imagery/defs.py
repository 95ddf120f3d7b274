"""Dagster definitions of the imagery domain (assets and checks; no resources).

landing/tiles/<batch>/ ─> silver.tiles ─> gold.image_masks ─┬─> gold.mask_clusters
                                                           └─> gold.image_objects ─> gold.image_object_summary
Every asset is partitioned by ``tile_batches`` (one landing batch = one scene), and every write
replaces exactly that batch's partition. The work is done by plain functions in this package.
"""


import dagster as dg
import polars as pl

from assets.common import asset_key, markdown_preview, table_metadata, table_result, write_table
from assets.imagery.objects import FEATURE_COLUMNS, FrameSource, ObjectExporter, name_clusters, remove_exports
from assets.imagery.pipeline import (inspect_paths, objects_and_summary, quicklook_names, remove_quicklooks,
                                     segment_into, tiles_frame)
from assets.imagery.quicklook import render_quicklook, thumbnail_md
from assets.imagery.raster import TILE_PATTERNS, TileInfo
from assets.imagery.segmentation import SegmentOptions
from lakehouse.tables import imagery as T
from assets.partitions import tile_batches
from lakehouse.batches import FINGERPRINT_KEY, batch_snapshot, ingested_fingerprint
from resources.lakehouse import LakehouseResource
from assets.imagery.naming import namer_for
from resources.namer import NamerResource
from resources.segmenter import SegmenterResource

GROUP = "imagery"
K_TILES = asset_key(T.silver_tiles)
K_MASKS = asset_key(T.image_masks)
K_CLUSTERS = asset_key(T.mask_clusters)
K_OBJECTS = asset_key(T.image_objects)
K_SUMMARY = asset_key(T.image_object_summary)
MAX_EMBEDDED_QUICKLOOKS = 12


def _batch_rows(lh, spec, batch: str, columns: list[str] | None = None) -> pl.DataFrame:
    return lh.read(spec, columns=columns).filter(pl.col("batch_id") == batch)


# ---------------------------------------------------------------- silver.tiles
@dg.asset(key=K_TILES, group_name=GROUP, kinds={"delta", "rasterio"}, partitions_def=tile_batches,
          metadata=table_metadata(T.silver_tiles),
          check_specs=[dg.AssetCheckSpec("every_tile_readable", asset=K_TILES,
                                         description="Every file of the batch opened as a usable raster; the "
                                                     "others are recorded with status=skipped and a reason.")])
def silver_tiles(context: dg.AssetExecutionContext, lakehouse: LakehouseResource,
                 segmenter: SegmenterResource) -> dg.MaterializeResult:
    """One row per image file of a landing batch: hash, size, bands and their roles, CRS, bounds,
    resolution, valid-pixel share and the percentiles that normalise it.

    Files that cannot be used (corrupt, no bands, a geotransform without CRS, every pixel nodata) are
    recorded with ``status = skipped`` and the reason, never dropped silently, and do not stop the
    rest of the batch. JPEG/PNG without CRS are kept in pixel coordinates (``georeferenced = false``).
    """
    batch = context.partition_key
    landing = lakehouse.landing
    before = batch_snapshot(landing, "tiles", batch)   # taken before reading: see ingested_fingerprint
    files = landing.files("tiles", TILE_PATTERNS, batch=batch)
    base = landing.source_dir("tiles")
    root = base / batch if (base / batch).is_dir() else base
    infos = inspect_paths(files, batch, root, band_roles=segmenter.band_roles or None,
                          zero_is_nodata=segmenter.zero_is_nodata, max_pixels=landing.limits.max_raster_pixels)
    df = tiles_frame(infos)
    lh = lakehouse.lakehouse
    skipped = df.filter(pl.col("status") != "ok")
    skipped_md = markdown_preview(skipped.select("tile_id", "skip_reason"), rows=50) if skipped.height else "none"
    check = dg.AssetCheckResult(
        check_name="every_tile_readable", passed=skipped.height == 0, severity=dg.AssetCheckSeverity.WARN,
        metadata={"files": df.height, "skipped": skipped.height, "details": dg.MetadataValue.md(skipped_md)})
    # the landing sensor adopts a batch whose current files this materialization read (no second run)
    fingerprint = ingested_fingerprint(landing, "tiles", batch, before)
    return write_table(lh, T.silver_tiles, df, mode="partitions", partitions=[batch], check_results=[check],
        extra={"tiles_ok": df.height - skipped.height, "tiles_skipped": dg.MetadataValue.md(skipped_md),
               **({FINGERPRINT_KEY: fingerprint} if fingerprint else {})},
        preview=df.select("tile_id", "status", "crs", "width", "height", "band_count", "valid_fraction"))


# ---------------------------------------------------------------- gold.image_masks
@dg.asset(key=K_MASKS, group_name=GROUP, kinds={"delta", "rasterio", "pytorch"}, partitions_def=tile_batches,
          deps=[K_TILES], metadata=table_metadata(T.image_masks),
          pool="imagery_segmenter",
          check_specs=[dg.AssetCheckSpec("valid_polygons", asset=K_MASKS, blocking=True,
                                         description="Every mask is a valid, non-empty polygon with a positive "
                                                     "pixel area and unique id.")])
def image_masks(context: dg.AssetExecutionContext, lakehouse: LakehouseResource,
                segmenter: SegmenterResource) -> dg.MaterializeResult:
    """Segments of every usable tile of the batch, with their polygon in the tile's CRS and features.

    Tiles are read window by window with an overlap (memory does not grow with the raster) and masks
    crossing window borders are merged. Features: area (pixels, m²), perimeter, compactness,
    elongation, rectangularity, mean reflectance per band role, NDVI, NDWI, brightness, its spread
    and Sobel texture. The segmenter is the embedded Felzenszwalb default or SAM (resource config).
    """
    import shapely

    batch = context.partition_key
    lh = lakehouse.lakehouse
    tiles = _batch_rows(lh, T.silver_tiles, batch).filter(pl.col("status") == "ok")
    seg = segmenter.get()
    options = SegmentOptions.of(segmenter)
    records: list[dict] = []
    per_tile, failed = [], []
    for row in tiles.iter_rows(named=True):
        info = TileInfo.from_row(row)
        result = segment_into(info, seg, options, records.append)
        if result is None:
            failed.append({"tile_id": info.tile_id, "reason": info.skip_reason})
            context.log.warning(f"{info.tile_id} could not be segmented: {info.skip_reason}")
            continue
        per_tile.append({"tile_id": info.tile_id, "masks": result.n_masks, "windows": result.n_windows,
                         "merged_across_windows": result.merged_parts, "seconds": round(result.seconds, 2)})
    df = pl.DataFrame(records, schema=T.MASK_SCHEMA) if records else T.image_masks.empty()
    geoms = shapely.from_wkb(df.get_column("geometry_wkb").to_numpy()) if df.height else []
    invalid = int((~shapely.is_valid(geoms)).sum() + shapely.is_empty(geoms).sum()) if df.height else 0
    bad_area = int((df.get_column("area_px") <= 0).sum()) if df.height else 0
    check = dg.AssetCheckResult(check_name="valid_polygons", passed=invalid == 0 and bad_area == 0,
                                metadata={"invalid_or_empty": invalid, "non_positive_area": bad_area,
                                          "masks": df.height})
    return write_table(lh, T.image_masks, df, mode="partitions", partitions=[batch], check_results=[check], extra={
        "segmenter": seg.name,
        "per_tile": dg.MetadataValue.md(markdown_preview(pl.DataFrame(per_tile), rows=50) if per_tile else "none"),
        "tiles_failed": dg.MetadataValue.md(markdown_preview(pl.DataFrame(failed)) if failed else "none"),
    }, preview=df.drop("geometry_wkb", "geometry_wkt", "band_means") if df.height else None)


# ---------------------------------------------------------------- gold.mask_clusters + gold.image_objects
def _result(key: dg.AssetKey, r: dg.MaterializeResult) -> dg.MaterializeResult:
    return dg.MaterializeResult(asset_key=key, metadata=r.metadata, check_results=r.check_results)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(K_CLUSTERS, group_name=GROUP, kinds={"delta", "scikitlearn"}, deps=[K_MASKS],
                     metadata=table_metadata(T.mask_clusters),
                     description="Clusters of the batch's masks (k-means on spectral/texture/shape features, k by "
                                 "silhouette) and the label the namer gave each, with the embedded rules' label "
                                 "beside it."),
        dg.AssetSpec(K_OBJECTS, group_name=GROUP, kinds={"delta", "geoparquet"}, deps=[K_MASKS],
                     metadata=table_metadata(T.image_objects),
                     description="Every mask as an object with its cluster's label; exported per batch as "
                                 "GeoParquet and GeoJSON (tile CRS kept) with a quicklook PNG per tile."),
    ],
    partitions_def=tile_batches,
    pool="imagery_namer",
    check_specs=[
        dg.AssetCheckSpec("namer_answers_valid", asset=K_CLUSTERS,
                          description="Every cluster got a valid answer from the namer (WARN: invalid/failed "
                                      "answers are recorded as such, labelled unknown)."),
        dg.AssetCheckSpec("every_mask_labelled", asset=K_OBJECTS, blocking=True,
                          description="Exactly one object per mask of the batch, each with a label."),
    ],
)
def mask_clusters_and_objects(context: dg.AssetExecutionContext, lakehouse: LakehouseResource,
                              namer: NamerResource):
    """Cluster the masks of a batch, name every cluster and label every mask with its cluster's name."""
    batch = context.partition_key
    lh = lakehouse.lakehouse
    masks = _batch_rows(lh, T.image_masks, batch)
    infos = {r["tile_id"]: TileInfo.from_row(r) for r in _batch_rows(lh, T.silver_tiles, batch).iter_rows(named=True)}
    nm = namer_for(namer)
    if masks.height:
        naming = name_clusters(FrameSource(masks), nm, batch, infos, k_min=namer.k_min, k_max=namer.k_max)
        clusters = naming.clusters
        objects, _ = objects_and_summary(FrameSource(masks.select(FEATURE_COLUMNS)), naming)
    else:
        naming, clusters, objects = None, T.mask_clusters.empty(), T.image_objects.empty()
    w_clusters = lh.write(T.mask_clusters, clusters, mode="partitions", partitions=[batch])
    w_objects = lh.write(T.image_objects, objects, mode="partitions", partitions=[batch])

    bad = clusters.filter(pl.col("namer_status") != "ok")
    namer_check = dg.AssetCheckResult(
        asset_key=K_CLUSTERS, check_name="namer_answers_valid", passed=bad.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"clusters": clusters.height, "invalid_or_failed": bad.height,
                  "details": dg.MetadataValue.md(markdown_preview(bad.select("cluster_id", "namer_status",
                                                                             "namer_detail")) if bad.height else "none")})
    missing = masks.height - objects.height
    unlabelled = int(objects.get_column("label").is_null().sum()) if objects.height else 0
    objects_check = dg.AssetCheckResult(
        asset_key=K_OBJECTS, check_name="every_mask_labelled", passed=missing == 0 and unlabelled == 0,
        metadata={"masks": masks.height, "objects": objects.height, "unlabelled": unlabelled})

    # exports and quicklooks (next to the tables, under the data root); what an earlier run of the
    # batch wrote there goes first, so a tile or CRS no longer in the batch leaves no stale file
    extra: dict = {}
    # (through lh.artifacts: local folders, or mirrors of <root>/... uploaded when the block succeeds)
    with lh.artifacts.directory("exports", "imagery", batch) as export_dir, \
            lh.artifacts.directory("pictures", "imagery", batch) as picture_dir:
        remove_exports(export_dir)
        remove_quicklooks(picture_dir)
        if naming is not None:
            exporter = ObjectExporter(export_dir)
            labels = dict(zip(objects.get_column("mask_id").to_list(), objects.get_column("label").to_list()))
            quicklooks_md, paths = [], []
            qnames = quicklook_names(list(infos), batch)
            for tile_id, tile_masks in sorted(masks.group_by("tile_id"), key=lambda kv: kv[0][0]):
                tile_id = tile_id[0]
                tile_objects = objects.filter(pl.col("tile_id") == tile_id).join(
                    tile_masks.select("mask_id", "geometry_wkb"), on="mask_id", how="left", maintain_order="left")
                exporter.add(tile_objects.drop("geometry_wkb"), tile_objects.get_column("geometry_wkb"))
                info = infos[tile_id]
                png, shares = render_quicklook(info, ((w, labels[m]) for m, w in tile_masks.select("mask_id", "geometry_wkb")
                                                      .iter_rows()))
                path = picture_dir / qnames[tile_id]
                path.write_bytes(png)
                paths.append(lh.artifacts.location(path))
                if len(quicklooks_md) < MAX_EMBEDDED_QUICKLOOKS:
                    quicklooks_md.append(f"**{tile_id}** — " + ", ".join(f"{k} {v:.0%}" for k, v in
                                                                       sorted(shares.items(), key=lambda kv: -kv[1]))
                                         + "\n\n" + thumbnail_md(png, alt=tile_id))
            exported = exporter.close()
            extra = {"quicklooks": dg.MetadataValue.md("\n\n".join(quicklooks_md)),
                     "quicklook_dir": dg.MetadataValue.path(lh.artifacts.location(picture_dir)),
                     "exports": dg.MetadataValue.md("\n".join(f"- `{lh.artifacts.location(p)}`" for p in exported)),
                     "k": naming.model.k,
                     "silhouette": dg.MetadataValue.md(", ".join(
                         f"{name}: k={m.k}, silhouette={m.silhouette if m.silhouette is None else round(m.silhouette, 3)}"
                         for name, m in naming.model.families.items()))}
    label_counts = objects.group_by("label").agg(pl.len().alias("objects"), pl.col("area_px").sum()) \
        .sort("area_px", descending=True) if objects.height else pl.DataFrame()
    yield _result(K_CLUSTERS, table_result(T.mask_clusters, lh, w_clusters, clusters, check_results=[namer_check],
                                           extra={"namer": nm.name}))
    yield _result(K_OBJECTS, table_result(T.image_objects, lh, w_objects, objects, check_results=[objects_check],
                                          extra={**extra, "labels": dg.MetadataValue.md(markdown_preview(label_counts))}))


# ---------------------------------------------------------------- gold.image_object_summary
@dg.asset(key=K_SUMMARY, group_name=GROUP, kinds={"delta", "polars"}, partitions_def=tile_batches, deps=[K_OBJECTS],
          metadata=table_metadata(T.image_object_summary))
def image_object_summary(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Per tile and label: number of objects, area in pixels and m², and share of the tile's labelled area."""
    from assets.imagery.objects import Summary

    batch = context.partition_key
    lh = lakehouse.lakehouse
    objects = _batch_rows(lh, T.image_objects, batch)
    summary = Summary()
    if objects.height:
        summary.add(objects)
    df = summary.frame()
    return write_table(lh, T.image_object_summary, df, mode="partitions", partitions=[batch])


defs = dg.Definitions(assets=[silver_tiles, image_masks, mask_clusters_and_objects, image_object_summary])
