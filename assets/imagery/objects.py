"""Masks -> clusters -> named clusters -> labelled objects, summaries and GIS exports.

Everything streams over *mask sources* (an in-memory frame for a Delta partition, or the Parquet
files the CLI writes per tile), batch by batch: the cluster model is fitted on a bounded sample,
then every batch is assigned, counted and written, so memory does not grow with the number of masks.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol

import numpy as np
import polars as pl

from assets.imagery.clustering import FEATURE_INPUTS, BatchClusterModel, fit_batch_clusters, mask_family
from assets.imagery.raster import TileInfo
from lakehouse.tables import imagery as T

ID_COLUMNS = ("mask_id", "batch_id", "tile_id")
FEATURE_COLUMNS = list(dict.fromkeys([*ID_COLUMNS, *FEATURE_INPUTS, "area_m2", "centroid_x", "centroid_y", "crs",
                                      "georeferenced", "row_min", "col_min", "row_max", "col_max"]))
MEAN_FEATURES = ("ndvi", "ndwi", "brightness", "texture")


class MaskSource(Protocol):
    n_rows: int

    def frames(self, columns: list[str]) -> Iterator[pl.DataFrame]: ...


class FrameSource:
    """Masks held in a polars frame (one Delta partition of gold.image_masks)."""

    def __init__(self, df: pl.DataFrame, chunk: int = 50_000):
        self.df, self.chunk, self.n_rows = df, chunk, df.height

    def frames(self, columns: list[str]) -> Iterator[pl.DataFrame]:
        yield from self.df.select(columns).iter_slices(self.chunk)


class ParquetSource:
    """Masks in Parquet files (written by ParquetMaskSink), read in record batches of ``chunk`` rows
    (small: the per-batch temporaries, polygons and GeoJSON text, bound the peak memory)."""

    def __init__(self, paths: Iterable[str | Path], chunk: int = 2_000):
        import pyarrow.parquet as pq

        self.paths = [Path(p) for p in paths]
        self.chunk = chunk
        self.n_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in self.paths)

    def frames(self, columns: list[str]) -> Iterator[pl.DataFrame]:
        import pyarrow.parquet as pq

        for p in self.paths:
            pf = pq.ParquetFile(p)
            for batch in pf.iter_batches(batch_size=self.chunk, columns=columns):
                yield pl.from_arrow(batch)


def family_quotas(counts: dict[str, int], size: int) -> dict[str, int]:
    """How many masks of each family a sample of at most ``size`` takes: an equal share each, and a
    family smaller than its share leaves the rest to the others. Every family present gets at least
    one mask, even when ``size`` is smaller than the number of families."""
    present = {f: n for f, n in counts.items() if n > 0}
    quotas = {f: 0 for f in present}
    left = max(size, len(present))
    while left > 0:
        open_ = [f for f in sorted(present) if quotas[f] < present[f]]
        if not open_:
            break
        share, extra = divmod(left, len(open_))
        for i, f in enumerate(open_):
            add = min(share + (1 if i < extra else 0), present[f] - quotas[f])
            quotas[f] += add
            left -= add
    return quotas


def sample_masks(source: MaskSource, size: int, seed: int = 0) -> pl.DataFrame:
    """A sample (without replacement) of at most ``size`` masks' feature columns, stratified by
    family (:func:`~assets.imagery.clustering.mask_family`, quotas from :func:`family_quotas`) and
    uniform within each family, in source order.

    Every family of the source is in the sample: the cluster model is fitted family by family and
    cannot label masks of a family it never saw, so a few RGB photographs among many Sentinel-2
    masks must not be left out by chance. A single-family source gets the plain uniform sample.
    Two streaming passes (family counts, then the sample); memory holds the sample and one frame."""
    if source.n_rows <= size:
        parts = list(source.frames(FEATURE_COLUMNS))
    else:
        counts: dict[str, int] = {}
        for frame in source.frames(["mean_nir"]):
            for name, c in zip(*np.unique(mask_family(frame), return_counts=True)):
                counts[str(name)] = counts.get(str(name), 0) + int(c)
        quotas = family_quotas(counts, size)
        rng = np.random.default_rng(seed)
        # ordinals (position among the family's masks, in source order) of the masks to take
        chosen = {f: np.sort(rng.choice(counts[f], quotas[f], replace=False)) for f in sorted(quotas)}
        seen = dict.fromkeys(chosen, 0)
        parts = []
        for frame in source.frames(FEATURE_COLUMNS):
            fam = mask_family(frame)
            keep = np.zeros(frame.height, dtype=bool)
            for f, picks in chosen.items():
                rows = np.flatnonzero(fam == f)
                lo, hi = np.searchsorted(picks, [seen[f], seen[f] + len(rows)])
                keep[rows[picks[lo:hi] - seen[f]]] = True
                seen[f] += len(rows)
            if keep.any():
                parts.append(frame.filter(pl.Series(keep)))
    parts = [p for p in parts if p.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema={c: T.MASK_SCHEMA[c] for c in FEATURE_COLUMNS})


def rule_labels(frame: pl.DataFrame) -> list[str]:
    from assets.imagery.naming import rule_label

    return [rule_label(row) for row in frame.iter_rows(named=True)]


@dataclass
class _ClusterAcc:
    n_masks: int = 0
    area_px: int = 0
    area_m2: float = 0.0
    has_m2: bool = False
    sums: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    votes: dict = field(default_factory=dict)
    top: list = field(default_factory=list)  # min-heap of (area, mask_id, tile_id, bbox, wkb)


@dataclass
class Naming:
    model: BatchClusterModel
    clusters: pl.DataFrame  # gold.mask_clusters rows
    names: dict  # cluster id -> ClusterName
    seconds_naming: float = 0.0


def name_clusters(source: MaskSource, namer, batch_id: str, infos: dict[str, TileInfo], *, k_min: int = 6,
                  k_max: int = 12, fit_sample: int = 20_000, seed: int = 0, mosaic_size: int = 16) -> Naming:
    """Fit the cluster model, profile every cluster (rule votes, area-weighted means, crops) and name it."""
    import time

    from assets.imagery.naming import ClusterProfile, rules_vote

    sample = sample_masks(source, fit_sample, seed)
    model = fit_batch_clusters(sample, rule_labels=rule_labels(sample), k_min=k_min, k_max=k_max, seed=seed)
    accs = [_ClusterAcc() for _ in range(model.k)]
    cols = FEATURE_COLUMNS + (["geometry_wkb"] if namer.needs_mosaic else [])
    for frame in source.frames(cols):
        raw = model.predict_raw(frame)
        frame = frame.with_columns(pl.Series("_c", raw), pl.Series("_rule", rule_labels(frame), dtype=pl.Utf8))
        for (c,), part in frame.group_by(["_c"]):
            acc = accs[int(c)]
            area = part.get_column("area_px").cast(pl.Float64)
            acc.n_masks += part.height
            acc.area_px += int(area.sum())
            m2 = part.get_column("area_m2")
            if m2.null_count() < part.height:
                acc.has_m2 = True
                acc.area_m2 += float(m2.sum())
            for feat in MEAN_FEATURES:
                v = part.get_column(feat).cast(pl.Float64)
                ok = v.is_not_null() & v.is_finite()
                acc.sums[feat] = acc.sums.get(feat, 0.0) + float((v.filter(ok) * area.filter(ok)).sum())
                acc.weights[feat] = acc.weights.get(feat, 0.0) + float(area.filter(ok).sum())
            for rule, a in part.group_by("_rule").agg(pl.col("area_px").sum()).iter_rows():
                acc.votes[rule] = acc.votes.get(rule, 0.0) + float(a)
            if namer.needs_mosaic:
                for row in part.sort("area_px", descending=True).head(mosaic_size).iter_rows(named=True):
                    item = (row["area_px"], row["mask_id"], row["tile_id"],
                            (row["row_min"], row["col_min"], row["row_max"], row["col_max"]), row["geometry_wkb"])
                    if len(acc.top) < mosaic_size:
                        heapq.heappush(acc.top, item)
                    else:
                        heapq.heappushpop(acc.top, item)
    model.renumber(np.array([a.area_px for a in accs], dtype=np.float64))
    names: dict = {}
    rows = []
    started = time.perf_counter()
    for raw_id, acc in enumerate(accs):
        cid = int(model.order[raw_id])
        means = {f: (acc.sums[f] / acc.weights[f] if acc.weights.get(f) else None) for f in MEAN_FEATURES}
        mosaic = None
        if namer.needs_mosaic and acc.top:
            from assets.imagery.quicklook import crop_mosaic

            top = sorted(acc.top, reverse=True)
            mosaic = crop_mosaic([(infos[t], wkb, bbox) for _, _, t, bbox, wkb in top])
        profile = ClusterProfile(cid, acc.n_masks, acc.area_px, dict(acc.votes), means, mosaic)
        named = namer.name_cluster(profile)
        names[cid] = named
        rule, rule_share = rules_vote(acc.votes)
        family = model.family_of(raw_id)
        fam_model = model.families[family]
        rows.append({
            "cluster_key": f"{batch_id}#{cid:03d}", "batch_id": batch_id, "cluster_id": cid, "family": family,
            "label": named.label,
            "namer": named.namer, "namer_status": named.status, "namer_detail": named.detail,
            "confidence": named.confidence, "rule_label": rule, "rule_confidence": rule_share,
            "n_masks": acc.n_masks, "area_px": acc.area_px, "area_m2": acc.area_m2 if acc.has_m2 else None,
            "mean_ndvi": means["ndvi"], "mean_ndwi": means["ndwi"], "mean_brightness": means["brightness"],
            "mean_texture": means["texture"], "k": fam_model.k, "silhouette": fam_model.silhouette,
        })
    clusters = pl.DataFrame(rows, schema=T.CLUSTER_SCHEMA).sort("cluster_id") if rows else T.mask_clusters.empty()
    return Naming(model, clusters, names, time.perf_counter() - started)


def label_frame(frame: pl.DataFrame, naming: Naming, with_rules: bool = True) -> pl.DataFrame:
    """Objects (gold.image_objects rows) for a frame of masks (``mask_rule_label`` null unless ``with_rules``)."""
    cid = naming.model.predict(frame)
    label = [naming.names[int(c)].label for c in cid]
    namer = [naming.names[int(c)].namer for c in cid]
    conf = [naming.names[int(c)].confidence for c in cid]
    return frame.select(
        pl.col("mask_id").alias("object_id"), "batch_id", "tile_id", "mask_id",
        (pl.col("batch_id") + pl.lit("#") + pl.Series("c", cid).cast(pl.Utf8).str.zfill(3)).alias("cluster_key"),
        pl.Series("cluster_id", cid, dtype=pl.Int64), pl.Series("label", label, dtype=pl.Utf8),
        pl.Series("namer", namer, dtype=pl.Utf8), pl.Series("confidence", conf, dtype=pl.Float64),
        pl.Series("mask_rule_label", rule_labels(frame) if with_rules else [None] * frame.height, dtype=pl.Utf8),
        "crs", "georeferenced", "area_px", "area_m2", "centroid_x", "centroid_y",
    )


OBJECT_INPUT_COLUMNS = [*FEATURE_COLUMNS]


class Summary:
    """Per tile and label: objects, pixels, m² and share of the tile's labelled pixels."""

    def __init__(self):
        self.parts: list[pl.DataFrame] = []

    def add(self, objects: pl.DataFrame) -> None:
        self.parts.append(objects.group_by("batch_id", "tile_id", "label").agg(
            pl.len().cast(pl.Int64).alias("n_objects"), pl.col("area_px").sum().alias("area_px"),
            pl.col("area_m2").sum().alias("area_m2"), pl.col("area_m2").null_count().alias("_no_m2")))
        if len(self.parts) > 64:  # keep the running list short
            self.parts = [self._combine()]

    def _combine(self) -> pl.DataFrame:
        return pl.concat(self.parts).group_by("batch_id", "tile_id", "label").agg(
            pl.col("n_objects").sum(), pl.col("area_px").sum(), pl.col("area_m2").sum(), pl.col("_no_m2").sum())

    def frame(self) -> pl.DataFrame:
        if not self.parts:
            return T.image_object_summary.empty()
        d = self._combine()
        return d.with_columns(
            (pl.col("batch_id") + pl.lit("|") + pl.col("tile_id") + pl.lit("|") + pl.col("label")).alias("summary_key"),
            pl.when(pl.col("_no_m2") > 0).then(None).otherwise(pl.col("area_m2")).alias("area_m2"),
            (pl.col("area_px") / pl.col("area_px").sum().over("tile_id")).alias("area_share"),
        ).select(list(T.SUMMARY_SCHEMA)).sort("tile_id", "label")


def _crs_slug(crs: str | None) -> str:
    if not crs:
        return "pixel"
    if re.fullmatch(r"EPSG:\d+", crs):
        return crs.replace(":", "-")
    import hashlib

    return "crs-" + hashlib.sha1(crs.encode()).hexdigest()[:8]


def export_file_pattern(stem: str = "objects") -> re.Pattern:
    """File names :class:`ObjectExporter` writes: ``<stem>_<crs slug>.parquet|geojson``."""
    return re.compile(rf"{re.escape(stem)}_(pixel|EPSG-\d+|crs-[0-9a-f]{{8}})\.(parquet|geojson)")


def remove_exports(out_dir: str | Path, stem: str = "objects") -> list[Path]:
    """Remove the object exports an earlier run left in ``out_dir`` (only the names
    :class:`ObjectExporter` writes; other files stay). A rerun whose tiles no longer have a CRS, or
    have another one, would otherwise leave the old ``objects_EPSG-*`` files looking current."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return []
    pattern = export_file_pattern(stem)
    removed = [f for f in sorted(folder.iterdir()) if f.is_file() and pattern.fullmatch(f.name)]
    for f in removed:
        f.unlink()
    return removed


class ObjectExporter:
    """Writes objects with their polygons as GeoParquet (1.1, WKB, PROJJSON CRS) and GeoJSON, one pair
    of files per CRS in the batch (pixel-coordinate tiles go to ``*_pixel.*`` with no CRS)."""

    PROPS = ("object_id", "tile_id", "label", "cluster_id", "namer", "confidence", "area_px", "area_m2")

    def __init__(self, out_dir: str | Path, stem: str = "objects"):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.stem = stem
        self.writers: dict[str, dict] = {}

    def _open(self, crs: str | None) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        slug = _crs_slug(crs)
        if slug in self.writers:
            return self.writers[slug]
        projjson = None
        if crs:
            from rasterio.crs import CRS

            projjson = CRS.from_user_input(crs).to_dict(projjson=True)
        geo = {"version": "1.1.0", "primary_column": "geometry",
               "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Polygon", "MultiPolygon"],
                                        "crs": projjson}}}
        schema = pa.schema([
            ("object_id", pa.string()), ("tile_id", pa.string()), ("label", pa.string()), ("cluster_id", pa.int64()),
            ("namer", pa.string()), ("confidence", pa.float64()), ("area_px", pa.int64()), ("area_m2", pa.float64()),
            ("geometry", pa.binary())], metadata={"geo": json.dumps(geo)})
        pq_path = self.out_dir / f"{self.stem}_{slug}.parquet"
        gj_path = self.out_dir / f"{self.stem}_{slug}.geojson"
        gj = open(gj_path, "w", encoding="utf-8")
        header = {"type": "FeatureCollection", "name": f"{self.stem}_{slug}"}
        if crs and re.fullmatch(r"EPSG:\d+", crs):
            # RFC 7946 assumes WGS84; the legacy 'crs' member keeps the tile CRS (GDAL/QGIS honour it)
            header["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs.split(':')[1]}"}}
        gj.write(json.dumps(header)[:-1] + ', "features": [\n')
        w = {"schema": schema, "parquet": pq.ParquetWriter(pq_path, schema), "geojson": gj, "first": True,
             "paths": [str(pq_path), str(gj_path)], "rows": 0}
        self.writers[slug] = w
        return w

    def add(self, objects: pl.DataFrame, geometries: pl.Series) -> None:
        """``objects``: gold.image_objects rows; ``geometries``: their WKB polygons, same order."""
        import pyarrow as pa
        import shapely

        d = objects.with_columns(geometries.alias("geometry"))
        for (crs,), part in d.group_by(["crs"], maintain_order=True):
            w = self._open(crs)
            table = pa.Table.from_pydict({c: part.get_column(c if c != "geometry" else "geometry").to_list()
                                          for c in w["schema"].names}, schema=w["schema"])
            w["parquet"].write_table(table)
            geojson = shapely.to_geojson(shapely.from_wkb(part.get_column("geometry").to_numpy()))
            lines = []
            for props, g in zip(part.select(self.PROPS).iter_rows(named=True), geojson):
                props = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in props.items()}
                lines.append('{"type": "Feature", "properties": ' + json.dumps(props) + ', "geometry": ' + g + "}")
            if lines:
                w["geojson"].write(("" if w["first"] else ",\n") + ",\n".join(lines))
                w["first"] = False
            w["rows"] += part.height

    def close(self) -> list[str]:
        paths = []
        for w in self.writers.values():
            w["parquet"].close()
            w["geojson"].write("\n]}\n")
            w["geojson"].close()
            paths.extend(w["paths"])
        return paths
