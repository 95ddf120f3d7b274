"""Reading tiles: inspection (what the file is), band roles, windows with overlap, normalisation.

Nothing here reads a whole raster into memory: every pass goes window by window and GDAL's block
cache is capped (:data:`GDAL_ENV`), so peak memory does not grow with the raster size.

Reflectance: integer rasters are scaled to reflectance (uint16 / 10000, the Sentinel-2 L1C/L2A
convention; uint8 / 255); float rasters are taken as they are. ``reflectance_scale`` overrides it.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

ROLES = ("blue", "green", "red", "nir")
# Band description aliases (plain names and Sentinel-2 band numbers) -> role.
ROLE_ALIASES = {
    "blue": "blue", "b2": "blue", "b02": "blue",
    "green": "green", "b3": "green", "b03": "green",
    "red": "red", "b4": "red", "b04": "red",
    "nir": "nir", "b8": "nir", "b08": "nir", "nir08": "nir", "near-infrared": "nir", "near_infrared": "nir",
}
TILE_PATTERNS = ("*.tif", "*.tiff", "*.jpg", "*.jpeg", "*.png")
# GDAL block cache capped at 64 MB: with the default (5% of RAM) reading a big raster window by
# window keeps every decoded block and memory grows with the raster.
GDAL_ENV = {"GDAL_CACHEMAX": 64}
MAX_STAT_SAMPLES = 1_000_000


class TileError(Exception):
    """A tile that cannot be used. ``reason`` is a short code stored in silver.tiles.skip_reason."""

    def __init__(self, reason: str, path: str | Path, message: str):
        self.reason = reason
        self.path = str(path)
        super().__init__(f"{path}: {reason}: {message}")


@dataclass(frozen=True)
class WindowSpec:
    """One processing window: ``core`` (disjoint cover of the raster) and ``read`` (core + halo)."""

    row: int
    col: int
    core_row0: int
    core_col0: int
    core_rows: int
    core_cols: int
    read_row0: int
    read_col0: int
    read_rows: int
    read_cols: int

    @property
    def core_in_read(self) -> tuple[slice, slice]:
        r = self.core_row0 - self.read_row0
        c = self.core_col0 - self.read_col0
        return slice(r, r + self.core_rows), slice(c, c + self.core_cols)


def iter_windows(width: int, height: int, size: int, halo: int) -> Iterator[WindowSpec]:
    """Row-major windows: cores of ``size`` x ``size`` covering the raster, read with ``halo`` around."""
    if size <= 0 or halo < 0:
        raise ValueError(f"window size must be > 0 and halo >= 0, got {size}, {halo}")
    n_rows, n_cols = math.ceil(height / size), math.ceil(width / size)
    for i in range(n_rows):
        r0 = i * size
        rows = min(size, height - r0)
        rr0 = max(0, r0 - halo)
        rr1 = min(height, r0 + rows + halo)
        for j in range(n_cols):
            c0 = j * size
            cols = min(size, width - c0)
            cc0 = max(0, c0 - halo)
            cc1 = min(width, c0 + cols + halo)
            yield WindowSpec(i, j, r0, c0, rows, cols, rr0, cc0, rr1 - rr0, cc1 - cc0)


def window_grid(width: int, height: int, size: int) -> tuple[int, int]:
    return math.ceil(height / size), math.ceil(width / size)


@dataclass
class TileInfo:
    """What silver.tiles records about one file (also what the segmenter needs to read it)."""

    tile_id: str
    batch_id: str
    path: str
    file_name: str
    file_hash: str
    size_bytes: int
    status: str = "ok"
    skip_reason: str | None = None
    driver: str | None = None
    width: int | None = None
    height: int | None = None
    band_count: int | None = None
    dtype: str | None = None
    band_names: list[str] = field(default_factory=list)
    band_roles: dict[str, int] = field(default_factory=dict)  # role -> 1-based band index
    crs: str | None = None
    georeferenced: bool = False
    res_x: float | None = None
    res_y: float | None = None
    min_x: float | None = None
    min_y: float | None = None
    max_x: float | None = None
    max_y: float | None = None
    transform: list[float] = field(default_factory=list)  # affine a, b, c, d, e, f
    nodata: float | None = None
    valid_fraction: float | None = None
    band_low: list[float] = field(default_factory=list)  # 2nd percentile of each band (reflectance)
    band_high: list[float] = field(default_factory=list)  # 98th percentile of each band (reflectance)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_row(self) -> dict:
        row = {k: getattr(self, k) for k in (
            "tile_id", "batch_id", "path", "file_name", "file_hash", "size_bytes", "status", "skip_reason",
            "driver", "width", "height", "band_count", "dtype", "band_names", "crs", "georeferenced", "res_x",
            "res_y", "min_x", "min_y", "max_x", "max_y", "transform", "nodata", "valid_fraction", "band_low",
            "band_high")}
        row["band_roles"] = json.dumps(self.band_roles, sort_keys=True)
        return row

    @classmethod
    def from_row(cls, row: dict) -> "TileInfo":
        data = dict(row)
        data["band_roles"] = json.loads(data.get("band_roles") or "{}")
        for key in ("band_names", "transform", "band_low", "band_high"):
            data[key] = list(data.get(key) or [])
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def affine(self):
        from affine import Affine

        return Affine(*self.transform[:6]) if self.transform else Affine.identity()


def file_sha256(path: str | Path, chunk: int = 4 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def parse_band_roles(spec: str | None) -> list[str | None] | None:
    """``"blue,green,red,nir"`` -> roles by band position (``-`` or empty skips a band); None if unset."""
    if not spec or not spec.strip():
        return None
    roles: list[str | None] = []
    for raw in spec.split(","):
        name = raw.strip().lower()
        if name in ("", "-", "none"):
            roles.append(None)
        elif name in ROLES:
            roles.append(name)
        else:
            raise ValueError(f"band role {raw!r} is not one of {ROLES} (or '-' to skip a band)")
    dup = {r for r in roles if r and roles.count(r) > 1}
    if dup:
        raise ValueError(f"band role(s) {sorted(dup)} given twice in {spec!r}")
    return roles


def resolve_band_roles(descriptions: tuple, count: int, configured: str | None = None) -> dict[str, int]:
    """Role -> 1-based band index.

    Order of precedence: the configured list (``IMAGERY_BAND_ROLES``); the file's band descriptions
    (``blue``, ``B04``, ``nir`` ...); otherwise by band count: 3 bands = red, green, blue (JPEG/PNG/RGB
    GeoTIFF), 4 or more = blue, green, red, NIR (Sentinel-2 10 m band order B2, B3, B4, B8).
    """
    roles = parse_band_roles(configured)
    if roles is not None:
        if len(roles) > count:
            raise ValueError(f"{len(roles)} band roles configured ({configured!r}) but the image has {count} bands")
        return {r: i + 1 for i, r in enumerate(roles) if r}
    found: dict[str, int] = {}
    for i, desc in enumerate(descriptions or ()):
        role = ROLE_ALIASES.get((desc or "").strip().lower())
        if role and role not in found:
            found[role] = i + 1
    if found:
        return found
    if count == 3:
        return {"red": 1, "green": 2, "blue": 3}
    if count >= 4:
        return {"blue": 1, "green": 2, "red": 3, "nir": 4}
    return {}


def reflectance_scale(dtype: str, configured: float | None = None) -> float:
    if configured:
        return float(configured)
    if dtype == "uint8":
        return 1 / 255
    if dtype in ("uint16", "int16", "uint32", "int32"):
        return 1 / 10000
    return 1.0


def _crs_string(crs) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_wkt()


def valid_mask(src, window, data: np.ndarray | None, zero_is_nodata: bool) -> np.ndarray:
    """True where the pixel holds data: GDAL's dataset mask (nodata value / alpha / internal mask),
    finite in every band (float rasters often mark holes with NaN without declaring it as nodata,
    and GDAL's mask does not see them), and, when the file declares no nodata, not zero in every
    band (the Sentinel-2 / Landsat fill)."""
    mask = src.dataset_mask(window=window) > 0
    if data is not None and np.issubdtype(data.dtype, np.floating):
        mask &= np.isfinite(data).all(axis=0)
    if zero_is_nodata and src.nodata is None and data is not None:
        mask &= np.any(data != 0, axis=0)
    return mask


# A raster may declare at most this many pixels (width x height; settings FMLAKE_MAX_RASTER_MEGAPIXELS): a tiny
# compressed file can declare an enormous raster, and reading it window by window would take unbounded time.
MAX_RASTER_PIXELS = 500_000_000


def inspect_tile(path: str | Path, batch_id: str, *, tile_id: str | None = None, band_roles: str | None = None,
                 zero_is_nodata: bool = True, scale: float | None = None, window: int = 1024,
                 max_pixels: int | None = None) -> TileInfo:
    """Open ``path`` and describe it, reading it once window by window (every block decodes, so a
    truncated file is caught here). Raises :class:`TileError` for a file that cannot be used:
    ``corrupt`` (not a raster, unreadable block), ``zero_bands``, ``unknown_crs`` (a geotransform
    without a CRS, or a CRS that is neither projected nor geographic), ``all_nodata``."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    path = Path(path)
    tile_id = tile_id or f"{batch_id}/{path.name}"
    try:
        digest, size = file_sha256(path), path.stat().st_size
    except OSError as exc:
        raise TileError("corrupt", path, f"cannot be read: {exc}") from None
    info = TileInfo(tile_id=tile_id, batch_id=batch_id, path=str(path), file_name=path.name, file_hash=digest,
                    size_bytes=size)
    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            src = rasterio.open(path)
        except RasterioError as exc:
            if "SamplesPerPixel" in str(exc):  # libtiff refuses a TIFF that declares 0 samples (bands)
                raise TileError("zero_bands", path, f"the image declares no bands: {exc}") from None
            raise TileError("corrupt", path, f"cannot be opened as a raster: {exc}") from None
        with src:
            if src.count == 0:
                raise TileError("zero_bands", path, "the image has no bands")
            if src.width == 0 or src.height == 0:
                raise TileError("zero_bands", path, "the image has no pixels")
            limit = MAX_RASTER_PIXELS if max_pixels is None else max_pixels
            if src.width * src.height > limit:
                raise TileError("too_large", path, f"the image declares {src.width:,} x {src.height:,} = "
                                                   f"{src.width * src.height:,} pixels, more than the limit of "
                                                   f"{limit:,} (FMLAKE_MAX_RASTER_MEGAPIXELS); not read")
            info.driver, info.width, info.height, info.band_count = src.driver, src.width, src.height, src.count
            info.dtype = src.dtypes[0]
            info.band_names = [d or f"band_{i + 1}" for i, d in enumerate(src.descriptions)]
            try:
                info.band_roles = resolve_band_roles(src.descriptions, src.count, band_roles)
            except ValueError as exc:
                raise TileError("bad_band_roles", path, str(exc)) from None
            info.nodata = None if src.nodata is None else float(src.nodata)
            t = src.transform
            has_transform = not t.is_identity or bool(src.gcps[0])
            if src.crs is None:
                if has_transform:
                    raise TileError("unknown_crs", path, "the file has a geotransform but no CRS: its coordinates "
                                                         "cannot be placed on the ground")
                info.georeferenced = False  # pixel coordinates: x = column, y = row
            else:
                crs = src.crs
                if not (crs.is_projected or crs.is_geographic):
                    raise TileError("unknown_crs", path, f"CRS {crs.to_string()!r} is neither projected nor "
                                                         "geographic")
                if src.gcps[0] and t.is_identity:
                    raise TileError("unknown_crs", path, "georeferenced by GCPs only; warp it to a grid first")
                info.crs, info.georeferenced = _crs_string(crs), True
            info.transform = [t.a, t.b, t.c, t.d, t.e, t.f]
            info.res_x, info.res_y = abs(t.a), abs(t.e)
            b = src.bounds
            info.min_x, info.min_y = min(b.left, b.right), min(b.bottom, b.top)
            info.max_x, info.max_y = max(b.left, b.right), max(b.bottom, b.top)
            k = reflectance_scale(info.dtype, scale)
            stride = max(1, math.ceil(math.sqrt(src.width * src.height / MAX_STAT_SAMPLES)))
            samples: list[np.ndarray] = []
            valid = 0
            for w in iter_windows(src.width, src.height, window, 0):
                win = rasterio.windows.Window(w.core_col0, w.core_row0, w.core_cols, w.core_rows)
                try:
                    data = src.read(window=win)
                    mask = valid_mask(src, win, data, zero_is_nodata)
                except RasterioError as exc:
                    raise TileError("corrupt", path, f"block at row {w.core_row0}, column {w.core_col0} "
                                                     f"cannot be decoded: {exc}") from None
                valid += int(mask.sum())
                # a regular global grid of sample pixels, whatever the window
                rs = (-w.core_row0) % stride
                cs = (-w.core_col0) % stride
                sub = data[:, rs::stride, cs::stride]
                keep = mask[rs::stride, cs::stride]
                if keep.any():
                    samples.append(sub[:, keep].astype(np.float32) * k)
            info.valid_fraction = valid / float(src.width * src.height)
            if valid == 0:
                raise TileError("all_nodata", path, "every pixel is nodata")
            sample = np.concatenate(samples, axis=1)
            # valid_mask already drops non-finite pixels; nan-aware percentiles are a second defence
            low = np.nanpercentile(sample, 2, axis=1)
            high = np.nanpercentile(sample, 98, axis=1)
            high = np.where(high - low > 1e-6, high, low + 1e-6)
            info.band_low, info.band_high = [float(v) for v in low], [float(v) for v in high]
    return info


def skipped_tile(path: str | Path, batch_id: str, error: TileError, tile_id: str | None = None) -> TileInfo:
    """The silver.tiles row recording a file that cannot be used."""
    path = Path(path)
    try:
        digest, size = file_sha256(path), path.stat().st_size
    except OSError:
        digest, size = "", 0
    return TileInfo(tile_id=tile_id or f"{batch_id}/{path.name}", batch_id=batch_id, path=str(path),
                    file_name=path.name, file_hash=digest, size_bytes=size, status="skipped",
                    skip_reason=f"{error.reason}: {str(error).split(': ', 2)[-1]}")


def inspect_or_skip(path: str | Path, batch_id: str, **kwargs) -> TileInfo:
    try:
        return inspect_tile(path, batch_id, **kwargs)
    except TileError as exc:
        return skipped_tile(path, batch_id, exc, kwargs.get("tile_id"))


def list_tiles(input_path: str | Path) -> list[Path]:
    """A file, or every tile (``*.tif``, ``*.tiff``, ``*.jpg``, ``*.jpeg``, ``*.png``) under a folder, sorted."""
    p = Path(input_path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"{p} is neither a file nor a folder")
    found: set[Path] = set()
    for pattern in TILE_PATTERNS:
        found.update(q for q in p.rglob(pattern) if q.is_file() and not q.name.startswith("."))
        found.update(q for q in p.rglob(pattern.upper()) if q.is_file() and not q.name.startswith("."))
    return sorted(found)


@dataclass
class WindowData:
    """One window read for segmentation."""

    spec: WindowSpec
    reflectance: np.ndarray  # (bands, rows, cols) float32 reflectance
    valid: np.ndarray  # (rows, cols) bool
    normalised: np.ndarray  # (rows, cols, bands) float32 in [0, 1] (tile-wide percentiles)
    rgb: np.ndarray  # (rows, cols, 3) uint8 true colour (or grey repeated)


def rgb_indices(info: TileInfo) -> list[int]:
    """0-based band positions rendering true colour: red, green, blue roles; else the first band(s)."""
    roles = info.band_roles
    if all(r in roles for r in ("red", "green", "blue")):
        return [roles["red"] - 1, roles["green"] - 1, roles["blue"] - 1]
    n = info.band_count or 1
    return [0, min(1, n - 1), min(2, n - 1)] if n >= 3 else [0, 0, 0]


def iter_window_data(info: TileInfo, size: int, halo: int, *, zero_is_nodata: bool = True,
                     scale: float | None = None) -> Iterator[WindowData]:
    """Read ``info``'s raster window by window (row-major), normalised with the tile-wide percentiles."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    k = reflectance_scale(info.dtype or "float32", scale)
    low = np.asarray(info.band_low, dtype=np.float32)[:, None, None]
    span = (np.asarray(info.band_high, dtype=np.float32) - np.asarray(info.band_low, dtype=np.float32))[:, None, None]
    rgb_idx = rgb_indices(info)
    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(info.path) as src:
            for w in iter_windows(src.width, src.height, size, halo):
                win = rasterio.windows.Window(w.read_col0, w.read_row0, w.read_cols, w.read_rows)
                try:
                    raw = src.read(window=win)
                    valid = valid_mask(src, win, raw, zero_is_nodata)
                except RasterioError as exc:
                    raise TileError("corrupt", info.path, f"window at row {w.read_row0}, column {w.read_col0} "
                                                          f"cannot be decoded: {exc}") from None
                refl = raw.astype(np.float32)
                del raw
                refl *= k
                # masked pixels still reach the segmenter and the texture filter: a NaN there would
                # spread to its valid neighbours, so holes read as zero reflectance (like the fill)
                refl[~np.isfinite(refl)] = 0.0
                norm = np.clip((refl - low) / span, 0.0, 1.0)
                rgb = (norm[rgb_idx] * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)
                yield WindowData(w, refl, valid, np.ascontiguousarray(norm.transpose(1, 2, 0)), rgb)
