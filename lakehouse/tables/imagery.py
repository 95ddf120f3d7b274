"""Tables of the imagery domain: satellite/aerial tiles -> masks -> clusters -> named objects.

Every table is partitioned by ``batch_id`` (the landing batch = the ``tile_batches`` dynamic
partition), so rerunning a batch replaces exactly that batch. Geometries are stored in the tile's
own CRS (``crs`` column, ``EPSG:xxxx`` or WKT); tiles without a CRS (JPEG/PNG, plain TIFF) are kept
in pixel coordinates (x = column, y = row) and flagged ``georeferenced = false``.
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
B = pl.Boolean()

# ---------------------------------------------------------------- silver: one row per landed tile
TILE_SCHEMA: dict[str, pl.DataType] = {
    "tile_id": U, "batch_id": U, "path": U, "file_name": U, "file_hash": U, "size_bytes": I,
    "status": U, "skip_reason": U, "driver": U, "width": I, "height": I, "band_count": I, "dtype": U,
    "band_names": pl.List(U), "band_roles": U, "crs": U, "georeferenced": B,
    "res_x": F, "res_y": F, "min_x": F, "min_y": F, "max_x": F, "max_y": F, "transform": pl.List(F),
    "nodata": F, "valid_fraction": F, "band_low": pl.List(F), "band_high": pl.List(F),
}
silver_tiles = TableSpec(
    "silver", "tiles", TILE_SCHEMA, primary_key=("tile_id",), partition_by="batch_id", domain="imagery",
    description="One row per landed image tile: file hash, size, bands and their roles (blue/green/red/nir), "
                "CRS, bounds, resolution, valid (non-nodata) fraction and the 2nd/98th band percentiles used "
                "to normalise it. status = ok | skipped; skip_reason says why (corrupt, zero_bands, "
                "unknown_crs, all_nodata).")

# ---------------------------------------------------------------- gold: one row per segment (mask)
MASK_SCHEMA: dict[str, pl.DataType] = {
    "mask_id": U, "batch_id": U, "tile_id": U, "segmenter": U, "crs": U, "georeferenced": B,
    "geometry_wkb": pl.Binary(), "geometry_wkt": U,
    "area_px": I, "area_m2": F, "perimeter": F, "compactness": F, "elongation": F, "rectangularity": F,
    "centroid_x": F, "centroid_y": F, "row_min": I, "col_min": I, "row_max": I, "col_max": I,
    "mean_blue": F, "mean_green": F, "mean_red": F, "mean_nir": F, "band_means": pl.List(F),
    "ndvi": F, "ndwi": F, "brightness": F, "brightness_std": F, "texture": F, "score": F,
}
image_masks = TableSpec(
    "gold", "image_masks", MASK_SCHEMA, primary_key=("mask_id",), partition_by="batch_id", domain="imagery",
    description="Segments (masks) of every tile: polygon (WKB and WKT, tile CRS; pixel coordinates when the "
                "tile has no CRS), area in pixels and m² (null without CRS), perimeter (CRS units), "
                "compactness 4πA/P², elongation (long/short side of the minimum rotated rectangle), "
                "rectangularity (A / rectangle area), mean top-of-atmosphere reflectance per band role (for 8-bit "
                "RGB photographs without NIR: the tile's 2-98 % stretched values), NDVI, "
                "NDWI (McFeeters, green vs NIR), brightness (mean visible reflectance), its std, texture (mean "
                "Sobel gradient of brightness) and the segmenter's score. Masks crossing window borders are "
                "merged into one row.")

# ---------------------------------------------------------------- gold: clusters of masks and their names
CLUSTER_SCHEMA: dict[str, pl.DataType] = {
    "cluster_key": U, "batch_id": U, "cluster_id": I, "family": U, "label": U, "namer": U, "namer_status": U,
    "namer_detail": U, "confidence": F, "rule_label": U, "rule_confidence": F, "n_masks": I,
    "area_px": I, "area_m2": F, "mean_ndvi": F, "mean_ndwi": F, "mean_brightness": F, "mean_texture": F,
    "k": I, "silhouette": F,
}
mask_clusters = TableSpec(
    "gold", "mask_clusters", CLUSTER_SCHEMA, primary_key=("cluster_key",), partition_by="batch_id",
    domain="imagery",
    description="Clusters of the masks of a batch (k-means on standardised spectral/texture/shape features, "
                "k chosen by silhouette, per family: multispectral tiles with NIR and RGB photographs are "
                "clustered apart; k and silhouette are the family's) and the name a namer gave each: label in vegetation | water | "
                "bare_soil | built_up | road | shadow | cloud | unknown, namer (rules or the model), "
                "namer_status ok | invalid (the model's answer did not parse) | failed (no answer after retries); "
                "namer_detail keeps the answer or error; "
                "the embedded rules' label next to it for comparison. Means are area-weighted.")

OBJECT_SCHEMA: dict[str, pl.DataType] = {
    "object_id": U, "batch_id": U, "tile_id": U, "mask_id": U, "cluster_key": U, "cluster_id": I,
    "label": U, "namer": U, "confidence": F, "mask_rule_label": U, "crs": U, "georeferenced": B, "area_px": I,
    "area_m2": F, "centroid_x": F, "centroid_y": F,
}
image_objects = TableSpec(
    "gold", "image_objects", OBJECT_SCHEMA, primary_key=("object_id",), partition_by="batch_id",
    domain="imagery",
    description="Georeferenced objects: each mask with the label its cluster was given (and, for comparison, "
                "the label the embedded rules give that one mask: mask_rule_label); join image_masks on "
                "mask_id for the polygon. Exported per batch as GeoParquet and GeoJSON with the CRS kept.")

SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "summary_key": U, "batch_id": U, "tile_id": U, "label": U, "n_objects": I, "area_px": I, "area_m2": F,
    "area_share": F,
}
image_object_summary = TableSpec(
    "gold", "image_object_summary", SUMMARY_SCHEMA, primary_key=("summary_key",), partition_by="batch_id",
    domain="imagery",
    description="Per tile and label: number of objects, area (pixels and m²) and share of the tile's "
                "labelled area.")

TABLES: tuple[TableSpec, ...] = (
    silver_tiles,
    image_masks,
    mask_clusters,
    image_objects,
    image_object_summary,
)
