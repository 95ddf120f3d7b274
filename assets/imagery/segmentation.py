"""Segment a tile window by window and stitch the masks that cross window borders.

How the stitching works (constant memory whatever the raster size):

* The raster is cut into disjoint *cores* (``window_size`` pixels square); each core is read and
  segmented together with a *halo* of ``window_overlap`` pixels around it, so the segmenter sees
  the context on both sides of every border.
* A segment restricted to its core is a *part*. Two parts on either side of a border are the same
  object when **both** windows agree that the pixel pairs straddling the border belong to one
  segment (window A's label is the same on both sides of the seam, and so is window B's), for at
  least ``merge_agreement`` of the pixel pairs where the two parts touch. Agreeing parts are joined
  with a union-find.
* A part touching the right or bottom border stays *open* until the neighbouring window has been
  processed; an object none of whose parts is open is finished: its polygons are unioned, its
  shape features computed and the record handed to the sink (a streaming Parquet writer in the
  CLI). Windows run row-major, so only the objects along one row of windows are open at a time.

Spectral features are top-of-atmosphere reflectance for calibrated rasters; for 8-bit photographs
without NIR (no radiometry: haze, exposure) they are the tile's 2-98 % per-band stretch instead.
Spectral statistics are kept as sums (pixel count, per-band sums, brightness and brightness², Sobel
texture) so merging parts is exact. Polygons are built in pixel space (integer vertices, exact
unions across windows) and moved to the tile CRS only when the object is finished.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from assets.imagery.raster import TileInfo, iter_window_data, window_grid


class Segmenter(Protocol):
    """What the segmentation driver needs from a backend (see resources/segmenter.py)."""

    name: str

    def segment(self, window: Any) -> Any:  # -> Segmentation(labels: int32 HxW, scores: float array)
        ...


@dataclass(frozen=True)
class SegmentOptions:
    """Windowing and filtering of the segmentation pass."""

    window_size: int = 512
    window_overlap: int = 32
    min_area_px: int = 16
    zero_is_nodata: bool = True
    reflectance_scale: float | None = None
    merge_agreement: float = 0.5

    @classmethod
    def of(cls, segmenter) -> "SegmentOptions":
        """The options a segmenter resource configures (window, overlap, smallest mask, nodata)."""
        return cls(window_size=segmenter.window_size, window_overlap=segmenter.window_overlap,
                   min_area_px=segmenter.min_mask_area_px, zero_is_nodata=segmenter.zero_is_nodata)

    def __post_init__(self) -> None:
        if self.window_overlap < 1:
            raise ValueError("window_overlap must be >= 1: masks are merged across windows by looking into "
                             "the overlap")
        if self.window_size < 2 * self.window_overlap:
            raise ValueError(f"window_size {self.window_size} must be at least twice the overlap "
                             f"{self.window_overlap}")


@dataclass
class _Acc:
    """Running statistics of one (possibly multi-window) object."""

    parts: list[int]
    pending: int
    count: int
    sums: np.ndarray
    sum_b: float
    sum_b2: float
    sum_tex: float
    sum_score: float
    n_score: int
    polys: list
    row_min: int
    col_min: int
    row_max: int
    col_max: int

    def absorb(self, other: "_Acc") -> None:
        self.parts.extend(other.parts)
        self.pending += other.pending
        self.count += other.count
        self.sums += other.sums
        self.sum_b += other.sum_b
        self.sum_b2 += other.sum_b2
        self.sum_tex += other.sum_tex
        self.sum_score += other.sum_score
        self.n_score += other.n_score
        self.polys.extend(other.polys)
        self.row_min = min(self.row_min, other.row_min)
        self.col_min = min(self.col_min, other.col_min)
        self.row_max = max(self.row_max, other.row_max)
        self.col_max = max(self.col_max, other.col_max)


@dataclass
class _Seam:
    """One side of a border: the part id and 'same segment across the border' flag along it."""

    parts: np.ndarray  # global part id of each pixel on this side (0 = none)
    agree: np.ndarray  # this window's label is the same on both sides of the border
    touching: np.ndarray  # unique part ids along the border (their pending count includes this seam)


@dataclass
class TileSegmentation:
    tile_id: str
    n_masks: int = 0
    n_windows: int = 0
    dropped_small: int = 0
    merged_parts: int = 0
    seconds: float = 0.0
    seconds_segmenter: float = 0.0
    extra: dict = field(default_factory=dict)


def _linear_factor(info: TileInfo) -> tuple[str, float | None]:
    """('projected', metres per CRS unit) | ('geographic', None) | ('pixel', None)."""
    if not info.georeferenced or not info.crs:
        return "pixel", None
    from rasterio.crs import CRS

    crs = CRS.from_user_input(info.crs)
    if crs.is_geographic:
        return "geographic", None
    name, factor = crs.linear_units_factor
    return "projected", float(factor)


def _area_m2(geom, info: TileInfo, kind: str, factor: float | None) -> float | None:
    if kind == "projected":
        return float(geom.area) * factor * factor
    if kind == "geographic":
        # degrees² -> m² with the local scale at the object's latitude (good to <0.5% for tile-sized objects)
        lat = math.radians(geom.centroid.y)
        return float(geom.area) * (111_320.0 ** 2) * math.cos(lat)
    return None


def shape_features(geom_px) -> dict[str, float]:
    """Scale-free shape features of a pixel-space polygon (square pixels)."""
    area = float(geom_px.area)
    perim = float(geom_px.length)
    compactness = 4 * math.pi * area / (perim * perim) if perim > 0 else 0.0
    rect = geom_px.minimum_rotated_rectangle
    xs, ys = rect.exterior.coords.xy if rect.geom_type == "Polygon" else ([0, 0], [0, 0])
    if len(xs) >= 4:
        s1 = math.hypot(xs[1] - xs[0], ys[1] - ys[0])
        s2 = math.hypot(xs[2] - xs[1], ys[2] - ys[1])
    else:
        s1 = s2 = 0.0
    long_side, short_side = max(s1, s2), min(s1, s2)
    elongation = long_side / short_side if short_side > 0 else float(max(long_side, 1.0))
    rectangularity = area / rect.area if rect.area > 0 else 1.0
    return {"compactness": min(compactness, 1.0), "elongation": elongation, "rectangularity": min(rectangularity, 1.0)}


class _Stitcher:
    def __init__(self, info: TileInfo, options: SegmentOptions, segmenter_name: str,
                 emit: Callable[[dict], None]):
        import shapely

        self.shapely = shapely
        self.info = info
        self.opt = options
        self.segmenter_name = segmenter_name
        self.emit = emit
        self.parent: dict[int, int] = {}
        self.acc: dict[int, _Acc] = {}
        self.next_part = 1
        self.seq = 0
        self.right: dict[tuple[int, int], _Seam] = {}
        self.bottom: dict[tuple[int, int], _Seam] = {}
        self.result = TileSegmentation(info.tile_id)
        roles = info.band_roles
        self.role_pos = {r: roles[r] - 1 for r in ("blue", "green", "red", "nir") if r in roles}
        visible = [self.role_pos[r] for r in ("blue", "green", "red") if r in self.role_pos]
        self.bright_pos = visible or list(range(info.band_count or 1))
        self.kind, self.factor = _linear_factor(info)
        # 8-bit photographs without NIR carry no radiometry (haze, exposure): their features use the
        # tile's 2-98 % stretch per band instead of DN / 255
        self.calibrated = "nir" in roles or (info.dtype or "") != "uint8"
        a = info.affine()
        self.affine_params = [a.a, a.b, a.d, a.e, a.c, a.f]
        self.n_rows, self.n_cols = window_grid(info.width, info.height, options.window_size)

    # ---------------------------------------------------------------- union-find
    def find(self, p: int) -> int:
        root = p
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[p] != root:
            self.parent[p], p = root, self.parent[p]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.acc[ra].parts) < len(self.acc[rb].parts):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.acc[ra].absorb(self.acc.pop(rb))
        self.result.merged_parts += 1

    # ---------------------------------------------------------------- one window
    def add_window(self, wd, seg) -> None:
        from affine import Affine
        from rasterio.features import shapes
        from scipy import ndimage

        w = wd.spec
        labels = np.asarray(seg.labels)
        if labels.shape != wd.valid.shape:
            raise ValueError(f"segmenter returned labels of shape {labels.shape} for a window of {wd.valid.shape}")
        labels = np.where(wd.valid, labels, 0).astype(np.int64, copy=False)
        rs, cs = w.core_in_read
        core = labels[rs, cs]
        uniq, inv = np.unique(core, return_inverse=True)
        inv = inv.reshape(core.shape)
        has_bg = uniq[0] == 0
        compact = inv if has_bg else inv + 1  # 0 = no segment, 1..n = segments of this core
        n = len(uniq) - (1 if has_bg else 0)
        seg_labels = uniq[1:] if has_bg else uniq
        ids = np.zeros(n + 1, dtype=np.int64)
        ids[1:] = np.arange(self.next_part, self.next_part + n)
        self.next_part += n
        core_parts = ids[compact]

        # statistics per part (sums, so merging is exact)
        flat = compact.ravel()
        size = n + 1
        count = np.bincount(flat, minlength=size)
        values = wd.reflectance if self.calibrated else np.moveaxis(wd.normalised, -1, 0)
        refl = values[:, rs, cs]
        sums = np.stack([np.bincount(flat, weights=refl[b].ravel(), minlength=size) for b in range(refl.shape[0])],
                        axis=1)
        bright_full = values[self.bright_pos].mean(axis=0)
        tex_full = np.hypot(ndimage.sobel(bright_full, axis=0), ndimage.sobel(bright_full, axis=1)) / 8.0
        bright = bright_full[rs, cs].ravel()
        sum_b = np.bincount(flat, weights=bright, minlength=size)
        sum_b2 = np.bincount(flat, weights=bright * bright, minlength=size)
        sum_tex = np.bincount(flat, weights=tex_full[rs, cs].ravel(), minlength=size)
        scores = getattr(seg, "scores", None)
        if scores is not None and len(seg_labels):
            scores = np.asarray(scores, dtype=np.float64)
            part_score = np.full(size, np.nan)
            part_score[1:] = scores[seg_labels] if scores.shape[0] > int(seg_labels.max()) else np.nan
        else:
            part_score = np.full(size, np.nan)
        boxes = ndimage.find_objects(compact.astype(np.int32), max_label=n)

        polys: dict[int, list] = {}
        transform = Affine.translation(w.core_col0, w.core_row0)
        for geom, value in shapes(compact.astype(np.int32), mask=compact > 0, connectivity=4, transform=transform):
            polys.setdefault(int(value), []).append(self.shapely.geometry.shape(geom))

        touches_right = set(np.unique(core_parts[:, -1]).tolist()) if w.col < self.n_cols - 1 else set()
        touches_bottom = set(np.unique(core_parts[-1, :]).tolist()) if w.row < self.n_rows - 1 else set()
        for k in range(1, n + 1):
            pid = int(ids[k])
            box = boxes[k - 1]
            has_score = not np.isnan(part_score[k])
            self.parent[pid] = pid
            self.acc[pid] = _Acc(
                parts=[pid], pending=int(pid in touches_right) + int(pid in touches_bottom), count=int(count[k]),
                sums=sums[k].copy(), sum_b=float(sum_b[k]), sum_b2=float(sum_b2[k]), sum_tex=float(sum_tex[k]),
                sum_score=float(part_score[k] * count[k]) if has_score else 0.0,
                n_score=int(count[k]) if has_score else 0, polys=polys.get(k, []),
                row_min=w.core_row0 + box[0].start, col_min=w.core_col0 + box[1].start,
                row_max=w.core_row0 + box[0].stop - 1, col_max=w.core_col0 + box[1].stop - 1)

        # seams with the already processed neighbours (left, top): merge, then release their parts
        released: list[int] = []
        if w.col > 0:
            a = self.right.pop((w.row, w.col - 1))
            b_q, b_p = labels[rs, cs.start], labels[rs, cs.start - 1]
            self._merge(a, core_parts[:, 0], (b_p == b_q) & (b_q != 0))
            released.extend(a.touching.tolist())
        if w.row > 0:
            a = self.bottom.pop((w.row - 1, w.col))
            b_q, b_p = labels[rs.start, cs], labels[rs.start - 1, cs]
            self._merge(a, core_parts[0, :], (b_p == b_q) & (b_q != 0))
            released.extend(a.touching.tolist())
        for pid in released:
            self.acc[self.find(pid)].pending -= 1

        # this window's own right / bottom seams, judged later by the neighbours
        if w.col < self.n_cols - 1:
            a_p, a_q = labels[rs, cs.stop - 1], labels[rs, cs.stop]
            self.right[(w.row, w.col)] = _Seam(core_parts[:, -1].copy(), (a_p == a_q) & (a_p != 0),
                                               np.array(sorted(touches_right - {0}), dtype=np.int64))
        if w.row < self.n_rows - 1:
            a_p, a_q = labels[rs.stop - 1, cs], labels[rs.stop, cs]
            self.bottom[(w.row, w.col)] = _Seam(core_parts[-1, :].copy(), (a_p == a_q) & (a_p != 0),
                                                np.array(sorted(touches_bottom - {0}), dtype=np.int64))

        candidates = {self.find(int(p)) for p in ids[1:]} | {self.find(p) for p in released}
        for root in sorted(candidates):
            if root in self.acc and self.acc[root].pending == 0:
                self._finish(root)

    def _merge(self, a: _Seam, b_parts: np.ndarray, b_agree: np.ndarray) -> None:
        both = (a.parts != 0) & (b_parts != 0)
        if not both.any():
            return
        pairs = np.stack([a.parts[both], b_parts[both]], axis=1)
        agree = (a.agree & b_agree)[both]
        uniq, inv, contact = np.unique(pairs, axis=0, return_inverse=True, return_counts=True)
        agreeing = np.bincount(inv.ravel(), weights=agree.astype(np.float64), minlength=len(uniq))
        for (pa, pb), n_contact, n_agree in zip(uniq.tolist(), contact.tolist(), agreeing.tolist()):
            if n_agree >= 1 and n_agree >= self.opt.merge_agreement * n_contact:
                self.union(pa, pb)

    # ---------------------------------------------------------------- finished object -> record
    def _finish(self, root: int) -> None:
        acc = self.acc.pop(root)
        for p in acc.parts:
            del self.parent[p]
        if acc.count < self.opt.min_area_px or not acc.polys:
            self.result.dropped_small += 1
            return
        shapely = self.shapely
        geom_px = acc.polys[0] if len(acc.polys) == 1 else shapely.union_all(acc.polys)
        shape = shape_features(geom_px)
        geom = shapely.affinity.affine_transform(geom_px, self.affine_params)
        centroid = geom.centroid
        means = acc.sums / acc.count
        mean = {r: float(means[i]) for r, i in self.role_pos.items()}
        g, r, nir = mean.get("green"), mean.get("red"), mean.get("nir")
        brightness = acc.sum_b / acc.count
        var = max(acc.sum_b2 / acc.count - brightness * brightness, 0.0)
        self.seq += 1
        self.result.n_masks += 1
        self.emit({
            "mask_id": f"{self.info.tile_id}#{self.seq:06d}",
            "batch_id": self.info.batch_id,
            "tile_id": self.info.tile_id,
            "segmenter": self.segmenter_name,
            "crs": self.info.crs,
            "georeferenced": self.info.georeferenced,
            "geometry_wkb": shapely.to_wkb(geom),
            "geometry_wkt": shapely.to_wkt(geom, rounding_precision=3),
            "area_px": int(acc.count),
            "area_m2": _area_m2(geom, self.info, self.kind, self.factor),
            "perimeter": float(geom.length) if self.kind != "pixel" else float(geom_px.length),
            **shape,
            "centroid_x": float(centroid.x), "centroid_y": float(centroid.y),
            "row_min": acc.row_min, "col_min": acc.col_min, "row_max": acc.row_max, "col_max": acc.col_max,
            "mean_blue": mean.get("blue"), "mean_green": g, "mean_red": r, "mean_nir": nir,
            "band_means": [float(v) for v in means],
            "ndvi": (nir - r) / (nir + r) if nir is not None and r is not None and nir + r > 0 else None,
            "ndwi": (g - nir) / (g + nir) if nir is not None and g is not None and g + nir > 0 else None,
            "brightness": float(brightness),
            "brightness_std": float(math.sqrt(var)),
            "texture": acc.sum_tex / acc.count,
            "score": acc.sum_score / acc.n_score if acc.n_score else None,
        })

    def close(self) -> None:
        if self.right or self.bottom:
            raise RuntimeError(f"{self.info.tile_id}: seams left unresolved: {list(self.right)} {list(self.bottom)}")
        for root in sorted(self.acc):
            if self.acc[root].pending:
                raise RuntimeError(f"{self.info.tile_id}: object {root} still waits for {self.acc[root].pending} seams")
            self._finish(root)


def segment_tile(info: TileInfo, segmenter: Segmenter, emit: Callable[[dict], None],
                 options: SegmentOptions | None = None) -> TileSegmentation:
    """Segment ``info``'s raster window by window, emitting one record (gold.image_masks row) per object."""
    if not info.ok:
        raise ValueError(f"{info.tile_id} was skipped at inspection ({info.skip_reason}); it cannot be segmented")
    opt = options or SegmentOptions()
    started = time.perf_counter()
    stitcher = _Stitcher(info, opt, segmenter.name, emit)
    seg_seconds = 0.0
    for wd in iter_window_data(info, opt.window_size, opt.window_overlap, zero_is_nodata=opt.zero_is_nodata,
                               scale=opt.reflectance_scale):
        t0 = time.perf_counter()
        seg = segmenter.segment(wd)
        seg_seconds += time.perf_counter() - t0
        stitcher.add_window(wd, seg)
        stitcher.result.n_windows += 1
    stitcher.close()
    result = stitcher.result
    result.seconds = time.perf_counter() - started
    result.seconds_segmenter = seg_seconds
    return result


class ParquetMaskSink:
    """Streams mask records to a Parquet file in row groups (memory bounded by ``batch`` records)."""

    def __init__(self, path: str | Path, batch: int = 2000):
        import pyarrow.parquet as pq

        from lakehouse.tables.imagery import image_masks

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = image_masks.arrow_schema()
        self.batch = batch
        self.rows: list[dict] = []
        self.count = 0
        self._writer = pq.ParquetWriter(self.path, self.schema)

    def __call__(self, record: dict) -> None:
        self.rows.append(record)
        if len(self.rows) >= self.batch:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.count += len(self.rows)
            self.rows = []

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def __enter__(self) -> "ParquetMaskSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
