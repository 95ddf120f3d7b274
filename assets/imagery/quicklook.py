"""Pictures: the quicklook of a tile (true colour | coloured labelled masks) and crop mosaics.

Both are built with bounded memory: the quicklook reads the raster decimated to at most
``max_side`` pixels and paints masks onto that small canvas batch by batch.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from typing import Iterable

import numpy as np

from assets.imagery.raster import GDAL_ENV, TileInfo, rgb_indices, reflectance_scale

LABEL_COLORS: dict[str, tuple[int, int, int]] = {
    "vegetation": (46, 160, 67),
    "water": (31, 119, 230),
    "bare_soil": (196, 140, 70),
    "built_up": (220, 40, 40),
    "road": (250, 250, 250),
    "shadow": (60, 30, 90),
    "cloud": (235, 200, 255),
    "unknown": (140, 140, 140),
}


def _stretch(info: TileInfo, data: np.ndarray) -> np.ndarray:
    """Raw DN bands (3, h, w) in RGB order -> uint8 with the tile's 2-98 % stretch."""
    idx = rgb_indices(info)
    k = reflectance_scale(info.dtype or "float32")
    low = np.asarray(info.band_low, dtype=np.float32)[idx][:, None, None]
    high = np.asarray(info.band_high, dtype=np.float32)[idx][:, None, None]
    norm = np.clip((data.astype(np.float32) * k - low) / (high - low), 0, 1)
    norm[np.isnan(norm)] = 0.0  # NaN holes of a float raster draw black, like the fill
    return (norm * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def read_rgb(info: TileInfo, max_side: int = 1024) -> tuple[np.ndarray, float]:
    """True-colour image decimated so its longer side is at most ``max_side``; and the factor."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.errors import NotGeoreferencedWarning

    factor = max(1.0, max(info.width, info.height) / max_side)
    h, w = max(1, round(info.height / factor)), max(1, round(info.width / factor))
    idx = [i + 1 for i in rgb_indices(info)]
    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(info.path) as src:
            data = src.read(idx, out_shape=(3, h, w), resampling=Resampling.average if factor > 1 else Resampling.nearest)
    return _stretch(info, data), factor


def render_quicklook(info: TileInfo, masks: Iterable[tuple[bytes, str]], max_side: int = 1024,
                     title: str | None = None) -> tuple[bytes, dict[str, float]]:
    """PNG of the tile: true colour on the left, masks coloured by label (outlined) on the right,
    with a legend of label shares. ``masks`` yields (geometry WKB in the tile's coordinates, label),
    possibly streamed. Returns the PNG bytes and the share of painted pixels per label."""
    import shapely
    from affine import Affine
    from PIL import Image, ImageDraw
    from rasterio.features import rasterize
    from skimage.segmentation import find_boundaries

    rgb, factor = read_rgb(info, max_side)
    h, w = rgb.shape[:2]
    transform = info.affine() @ Affine.scale(info.width / w, info.height / h)
    codes = {label: i + 1 for i, label in enumerate(LABEL_COLORS)}
    mask_img = np.zeros((h, w), dtype=np.int32)  # 1-based index of the mask painted on each pixel
    code_of = [0]  # mask index -> label code
    # vertices finer than half a quicklook pixel cannot show: simplify first (big rasters have
    # stair-step polygons with millions of vertices), then rasterize once
    tolerance = 0.5 * max(abs(transform.a), abs(transform.e)) if factor > 1 else 0.0
    batch_wkb: list[bytes] = []

    def paint():
        if not batch_wkb:
            return
        geoms = shapely.from_wkb(batch_wkb)
        if tolerance:
            geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
        first = len(code_of) - len(batch_wkb)
        shapes = [(g, first + i) for i, g in enumerate(geoms) if not g.is_empty]
        if shapes:
            rasterize(shapes, out=mask_img, transform=transform)
        batch_wkb.clear()

    for wkb, label in masks:
        batch_wkb.append(wkb)
        code_of.append(codes.get(label, codes["unknown"]))
        if len(batch_wkb) >= 500:  # rasterio converts each polygon to Python coordinate tuples: keep batches small
            paint()
    paint()
    label_img = np.asarray(code_of, dtype=np.uint8)[mask_img]
    palette = np.zeros((len(codes) + 1, 3), dtype=np.float32)
    for label, code in codes.items():
        palette[code] = LABEL_COLORS[label]
    over = rgb.astype(np.float32)
    painted = label_img > 0
    over[painted] = 0.35 * over[painted] + 0.65 * palette[label_img[painted]]
    edges = find_boundaries(mask_img, mode="inner") & painted
    over[edges] = 0.5 * palette[label_img[edges]]
    right = over.astype(np.uint8)
    shares = {label: float((label_img == code).sum()) / (h * w) for label, code in codes.items()
              if (label_img == code).any()}

    legend_h = 22 * max(1, math.ceil(len(shares) / 4)) + 26
    canvas = Image.new("RGB", (2 * w + 6, h + legend_h), (255, 255, 255))
    canvas.paste(Image.fromarray(rgb), (0, 0))
    canvas.paste(Image.fromarray(right), (w + 6, 0))
    draw = ImageDraw.Draw(canvas)
    draw.text((4, h + 4), title or info.tile_id, fill=(0, 0, 0))
    for i, (label, share) in enumerate(sorted(shares.items(), key=lambda kv: -kv[1])):
        x, y = 4 + (i % 4) * 190, h + 24 + (i // 4) * 22
        draw.rectangle([x, y, x + 14, y + 14], fill=LABEL_COLORS[label], outline=(0, 0, 0))
        draw.text((x + 20, y + 1), f"{label} {share:.0%}", fill=(0, 0, 0))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue(), shares


def thumbnail_md(png: bytes, width: int = 480, alt: str = "quicklook") -> str:
    """Markdown with an embedded (downscaled) PNG, for Dagster metadata."""
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    if img.width > width:
        img = img.resize((width, max(1, round(img.height * width / img.width))))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"


def crop_mosaic(crops: list[tuple[TileInfo, bytes, tuple[int, int, int, int]]], cell: int = 112,
                columns: int = 4) -> bytes:
    """Mosaic of crops: each (tile, mask WKB in tile coordinates, pixel bbox row0, col0, row1, col1),
    read with some context around the mask and outlined in yellow."""
    import rasterio
    import shapely
    from PIL import Image
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.features import rasterize
    from rasterio.windows import Window
    from skimage.segmentation import find_boundaries

    rows = max(1, math.ceil(len(crops) / columns))
    canvas = Image.new("RGB", (columns * cell, rows * cell), (0, 0, 0))
    with rasterio.Env(**GDAL_ENV), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for i, (info, wkb, (r0, c0, r1, c1)) in enumerate(crops):
            side = max(r1 - r0 + 1, c1 - c0 + 1, 24)
            side = int(side * 1.5)
            rc, cc = (r0 + r1) // 2, (c0 + c1) // 2
            win = Window(cc - side // 2, rc - side // 2, side, side)
            with rasterio.open(info.path) as src:
                data = src.read([j + 1 for j in rgb_indices(info)], window=win, boundless=True, fill_value=0)
                tr = src.window_transform(win)
            img = _stretch(info, data)
            inside = rasterize([(shapely.from_wkb(wkb), 1)], out_shape=img.shape[:2], transform=tr)
            img[find_boundaries(inside, mode="inner")] = (255, 230, 0)
            tile = Image.fromarray(img).resize((cell - 4, cell - 4), Image.NEAREST)
            canvas.paste(tile, ((i % columns) * cell + 2, (i // columns) * cell + 2))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()
