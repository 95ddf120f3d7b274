"""Tables of the imagery domain: satellite/aerial tiles -> masks -> clusters -> named objects.

Every table is partitioned by ``batch_id`` (the landing batch = the ``tile_batches`` dynamic
partition), so rerunning a batch replaces exactly that batch. Geometries are stored in the tile's
own CRS (``crs`` column, ``EPSG:xxxx`` or WKT); tiles without a CRS (JPEG/PNG, plain TIFF) are kept
in pixel coordinates (x = column, y = row) and flagged ``georeferenced = false``.
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import Col, TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
B = pl.Boolean()

BATCH = "Landing batch of the tile (folder under landing/tiles/, the tile_batches partition)."
TILE = "Tile id: <batch>/<path of the file inside the batch folder> (silver.tiles.tile_id)."
CRS = "CRS of the tile the geometry is in: EPSG:xxxx or WKT; null without CRS (pixel coordinates)."
GEOREF = "False when the tile has no CRS: geometry and centroid are in pixel coordinates (x = column, y = row)."
LABEL = "Land-cover label: vegetation | water | bare_soil | built_up | road | shadow | cloud | unknown."
NAMER = ("Namer that gave the label: rules (the embedded rules), ollama:<model> or transformers:<checkpoint> "
         "(a vision-language model).")
AREA_PX = "Area in pixels."
AREA_M2 = "Area in square metres (from the CRS; for a geographic CRS at the object's latitude); null without CRS."

# ---------------------------------------------------------------- silver: one row per landed tile
silver_tiles = TableSpec(
    "silver", "tiles", {
        "tile_id": Col(U, "Tile id: <batch>/<path of the file inside the batch folder>."),
        "batch_id": Col(U, BATCH),
        "path": Col(U, "Path of the image file as read under the landing zone."),
        "file_name": Col(U, "File name of the image."),
        "file_hash": Col(U, "SHA-256 of the file's bytes."),
        "size_bytes": Col(I, "File size in bytes."),
        "status": Col(U, "ok (segmented downstream) | skipped (see skip_reason)."),
        "skip_reason": Col(U, "Why the tile is skipped: corrupt, zero_bands, unknown_crs, all_nodata, "
                              "bad_band_roles, too_large (more pixels than FMLAKE_MAX_RASTER_MEGAPIXELS, not "
                              "read); null when ok."),
        "driver": Col(U, "GDAL driver that read the file (GTiff, JPEG, PNG...)."),
        "width": Col(I, "Width of the image in pixels (columns)."),
        "height": Col(I, "Height of the image in pixels (rows)."),
        "band_count": Col(I, "Number of bands of the image (3 for RGB, 4+ with NIR)."),
        "dtype": Col(U, "Pixel data type of the bands (uint8, uint16, float32...)."),
        "band_names": Col(pl.List(U), "Band descriptions from the file (band_<n> where it has none)."),
        "band_roles": Col(U, "JSON object role -> 1-based band index (blue, green, red, nir), from the band "
                             "names or the segmenter's band_roles setting."),
        "crs": Col(U, "CRS as EPSG:xxxx (or WKT when it has no EPSG code); null when the tile has none."),
        "georeferenced": Col(B, "True when the tile has a CRS; false: kept in pixel coordinates (x = column, "
                                "y = row)."),
        "res_x": Col(F, "Pixel width in CRS units (metres, degrees; 1 in pixel coordinates)."),
        "res_y": Col(F, "Pixel height in CRS units."),
        "min_x": Col(F, "West bound (CRS units)."),
        "min_y": Col(F, "South bound (CRS units)."),
        "max_x": Col(F, "East bound (CRS units)."),
        "max_y": Col(F, "North bound (CRS units)."),
        "transform": Col(pl.List(F), "Affine geotransform [a, b, c, d, e, f] (rasterio order: x = a·col + b·row "
                                     "+ c, y = d·col + e·row + f)."),
        "nodata": Col(F, "The file's nodata value; null when it declares none."),
        "valid_fraction": Col(F, "Share of pixels that are not nodata (0-1)."),
        "band_low": Col(pl.List(F), "2nd percentile of each band's reflectance over valid pixels (normalisation "
                                    "floor)."),
        "band_high": Col(pl.List(F), "98th percentile of each band's reflectance (normalisation ceiling)."),
    }, primary_key=("tile_id",), partition_by="batch_id", domain="imagery",
    description="One row per landed image tile: file hash, size, bands and their roles (blue/green/red/nir), "
                "CRS, bounds, resolution, valid (non-nodata) fraction and the 2nd/98th band percentiles used "
                "to normalise it. status = ok | skipped; skip_reason says why (corrupt, zero_bands, "
                "unknown_crs, all_nodata).")
TILE_SCHEMA: dict[str, pl.DataType] = silver_tiles.schema

# ---------------------------------------------------------------- gold: one row per segment (mask)
MEAN = "Mean top-of-atmosphere reflectance (0-1) of the {} band over the mask; null when the tile has none."
image_masks = TableSpec(
    "gold", "image_masks", {
        "mask_id": Col(U, "Mask id: <tile_id>#<6-digit sequence number within the tile>."),
        "batch_id": Col(U, BATCH),
        "tile_id": Col(U, TILE),
        "segmenter": Col(U, "Segmenter that produced the mask with its settings: felzenszwalb(scale=..., sigma=..., "
                             "min_size=...) (the embedded default) or sam(<model type>)."),
        "crs": Col(U, CRS),
        "georeferenced": Col(B, GEOREF),
        "geometry_wkb": Col(pl.Binary(), "Polygon of the mask as WKB, in the tile's CRS."),
        "geometry_wkt": Col(U, "The same polygon as WKT (3 decimals)."),
        "area_px": Col(I, AREA_PX),
        "area_m2": Col(F, AREA_M2),
        "perimeter": Col(F, "Perimeter in CRS units (pixels without CRS)."),
        "compactness": Col(F, "4πA/P² of the pixel polygon: 1 for a disc, near 0 for a thin line."),
        "elongation": Col(F, "Long side / short side of the minimum rotated rectangle (≥ 1)."),
        "rectangularity": Col(F, "Area / area of the minimum rotated rectangle (1 for a rectangle)."),
        "centroid_x": Col(F, "Centroid x in the tile's CRS (column without CRS)."),
        "centroid_y": Col(F, "Centroid y in the tile's CRS (row without CRS)."),
        "row_min": Col(I, "First pixel row of the mask's bounding box in the tile."),
        "col_min": Col(I, "First pixel column of the bounding box."),
        "row_max": Col(I, "Last pixel row of the bounding box (inclusive)."),
        "col_max": Col(I, "Last pixel column of the bounding box (inclusive)."),
        "mean_blue": Col(F, MEAN.format("blue")),
        "mean_green": Col(F, MEAN.format("green")),
        "mean_red": Col(F, MEAN.format("red")),
        "mean_nir": Col(F, MEAN.format("near-infrared") + " Null for RGB photographs."),
        "band_means": Col(pl.List(F), "Mean reflectance of every band, in band order (for 8-bit RGB photographs "
                                      "the tile's 2-98 % stretched values)."),
        "ndvi": Col(F, "NDVI (nir - red) / (nir + red); null without NIR."),
        "ndwi": Col(F, "NDWI after McFeeters (green - nir) / (green + nir); null without NIR."),
        "brightness": Col(F, "Mean visible reflectance over the mask."),
        "brightness_std": Col(F, "Standard deviation of brightness over the mask's pixels."),
        "texture": Col(F, "Mean Sobel gradient magnitude of brightness over the mask."),
        "score": Col(F, "The segmenter's quality score of the mask (SAM's predicted IoU); null when it gives none."),
    }, primary_key=("mask_id",), partition_by="batch_id", domain="imagery",
    description="Segments (masks) of every tile: polygon (WKB and WKT, tile CRS; pixel coordinates when the "
                "tile has no CRS), area in pixels and m² (null without CRS), perimeter (CRS units), "
                "compactness 4πA/P², elongation (long/short side of the minimum rotated rectangle), "
                "rectangularity (A / rectangle area), mean top-of-atmosphere reflectance per band role (for 8-bit "
                "RGB photographs without NIR: the tile's 2-98 % stretched values), NDVI, "
                "NDWI (McFeeters, green vs NIR), brightness (mean visible reflectance), its std, texture (mean "
                "Sobel gradient of brightness) and the segmenter's score. Masks crossing window borders are "
                "merged into one row.")
MASK_SCHEMA: dict[str, pl.DataType] = image_masks.schema

# ---------------------------------------------------------------- gold: clusters of masks and their names
CLUSTER_KEY = "Cluster key: <batch>#<3-digit cluster_id>."
CLUSTER_ID = "Cluster number within the batch, 0 = largest total area."
mask_clusters = TableSpec(
    "gold", "mask_clusters", {
        "cluster_key": Col(U, CLUSTER_KEY),
        "batch_id": Col(U, BATCH),
        "cluster_id": Col(I, CLUSTER_ID),
        "family": Col(U, "multispectral (masks with NIR) | rgb (photographs without NIR): families are "
                         "clustered apart."),
        "label": Col(U, LABEL),
        "namer": Col(U, NAMER),
        "namer_status": Col(U, "ok | invalid (the model's answer did not parse) | failed (no answer after "
                               "retries); label is unknown unless ok."),
        "namer_detail": Col(U, "The model's answer or error when namer_status is not ok."),
        "confidence": Col(F, "Confidence of the label (the model's, or for rules the area share that agrees); "
                             "null when the namer gives none."),
        "rule_label": Col(U, "Area-weighted majority of the embedded rules' labels of the member masks (for "
                             "comparison)."),
        "rule_confidence": Col(F, "Share of the cluster's area whose masks the rules give rule_label."),
        "n_masks": Col(I, "Masks in the cluster."),
        "area_px": Col(I, "Total area of the masks in pixels."),
        "area_m2": Col(F, "Total area in m² of the members that have it; null when none has a CRS."),
        "mean_ndvi": Col(F, "Area-weighted mean NDVI of the masks."),
        "mean_ndwi": Col(F, "Area-weighted mean NDWI of the masks."),
        "mean_brightness": Col(F, "Area-weighted mean brightness of the masks."),
        "mean_texture": Col(F, "Area-weighted mean texture of the masks."),
        "k": Col(I, "Number of clusters k-means settled on for the cluster's family (chosen by silhouette)."),
        "silhouette": Col(F, "Silhouette score of the family's clustering (-1 to 1); null when undefined."),
    }, primary_key=("cluster_key",), partition_by="batch_id",
    domain="imagery",
    description="Clusters of the masks of a batch (k-means on standardised spectral/texture/shape features, "
                "k chosen by silhouette, per family: multispectral tiles with NIR and RGB photographs are "
                "clustered apart; k and silhouette are the family's) and the name a namer gave each: label in vegetation | water | "
                "bare_soil | built_up | road | shadow | cloud | unknown, namer (rules or the model), "
                "namer_status ok | invalid (the model's answer did not parse) | failed (no answer after retries); "
                "namer_detail keeps the answer or error; "
                "the embedded rules' label next to it for comparison. Means are area-weighted.")
CLUSTER_SCHEMA: dict[str, pl.DataType] = mask_clusters.schema

image_objects = TableSpec(
    "gold", "image_objects", {
        "object_id": Col(U, "Object id (the mask_id of its mask)."),
        "batch_id": Col(U, BATCH),
        "tile_id": Col(U, TILE),
        "mask_id": Col(U, "The mask (gold.image_masks.mask_id; its polygon is there)."),
        "cluster_key": Col(U, CLUSTER_KEY + " (gold.mask_clusters)."),
        "cluster_id": Col(I, CLUSTER_ID),
        "label": Col(U, LABEL + " The label of its cluster."),
        "namer": Col(U, NAMER),
        "confidence": Col(F, "Confidence of the cluster's label."),
        "mask_rule_label": Col(U, "Label the embedded rules give this one mask (for comparison)."),
        "crs": Col(U, CRS),
        "georeferenced": Col(B, GEOREF),
        "area_px": Col(I, AREA_PX),
        "area_m2": Col(F, AREA_M2),
        "centroid_x": Col(F, "Centroid x in the tile's CRS (column without CRS)."),
        "centroid_y": Col(F, "Centroid y in the tile's CRS (row without CRS)."),
    }, primary_key=("object_id",), partition_by="batch_id",
    domain="imagery",
    description="Georeferenced objects: each mask with the label its cluster was given (and, for comparison, "
                "the label the embedded rules give that one mask: mask_rule_label); join image_masks on "
                "mask_id for the polygon. Exported per batch as GeoParquet and GeoJSON with the CRS kept.")
OBJECT_SCHEMA: dict[str, pl.DataType] = image_objects.schema

image_object_summary = TableSpec(
    "gold", "image_object_summary", {
        "summary_key": Col(U, "Key: <batch>|<tile_id>|<label>."),
        "batch_id": Col(U, BATCH),
        "tile_id": Col(U, TILE),
        "label": Col(U, LABEL),
        "n_objects": Col(I, "Objects of the tile with this label."),
        "area_px": Col(I, "Their total area in pixels."),
        "area_m2": Col(F, "Their total area in m²; null without CRS."),
        "area_share": Col(F, "area_px / the tile's total labelled area in pixels (0-1)."),
    }, primary_key=("summary_key",), partition_by="batch_id",
    domain="imagery",
    description="Per tile and label: number of objects, area (pixels and m²) and share of the tile's "
                "labelled area.")
SUMMARY_SCHEMA: dict[str, pl.DataType] = image_object_summary.schema

TABLES: tuple[TableSpec, ...] = (
    silver_tiles,
    image_masks,
    mask_clusters,
    image_objects,
    image_object_summary,
)
