"""Tiny rasters for the imagery tests (tens of pixels: the tests must stay fast on 2 shared cores)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

# (blue, green, red, nir) digital numbers (reflectance x 10000), as in the sample tiles
WATER = (700, 650, 400, 200)
VEGETATION = (500, 800, 600, 3200)
BARE = (900, 1100, 1400, 1900)
ROOF = (2400, 2300, 2500, 2600)

# rectangles (row0, col0, rows, cols, spectrum) on a bare-soil background; they cross the borders of
# 32-pixel windows on purpose
SCENE = [
    (10, 20, 40, 30, WATER),      # rows 10-49, cols 20-49: crosses the row-32 and col-32 borders
    (55, 5, 30, 60, VEGETATION),  # crosses the col-32 and col-64 borders
    (60, 75, 14, 14, ROOF),       # crosses the row-64 border
]


def scene_array(height: int = 96, width: int = 96, noise: float = 15.0, seed: int = 0) -> np.ndarray:
    data = np.empty((4, height, width), dtype=np.float32)
    data[:] = np.asarray(BARE, dtype=np.float32)[:, None, None]
    for r, c, h, w, spec in SCENE:
        data[:, r:r + h, c:c + w] = np.asarray(spec, dtype=np.float32)[:, None, None]
    data += np.random.default_rng(seed).normal(0, noise, data.shape).astype(np.float32)
    return np.clip(data, 1, 10000).astype(np.uint16)


def write_tif(path: Path, data: np.ndarray, *, crs: str | None = "EPSG:32614", transform=None, nodata=None,
              descriptions=("blue", "green", "red", "nir")) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=data.dtype)
    if crs is not None:
        kwargs["crs"] = crs
    if transform is not None or crs is not None:
        kwargs["transform"] = transform if transform is not None else from_origin(500000, 2000000, 10, 10)
    if nodata is not None:
        kwargs["nodata"] = nodata
    with rasterio.open(path, "w", **kwargs) as dst:
        dst.write(data)
        if descriptions and len(descriptions) == data.shape[0]:
            dst.descriptions = tuple(descriptions)
    return path


def write_zero_band_tif(path: Path) -> Path:
    """A TIFF whose header declares 0 samples per pixel (no bands)."""
    import rasterio

    tmp = path.with_suffix(".one.tif")
    with rasterio.open(tmp, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8") as dst:
        dst.write(np.ones((1, 8, 8), dtype=np.uint8))
    b = bytearray(tmp.read_bytes())
    tmp.unlink()
    off = struct.unpack("<I", b[4:8])[0]
    for i in range(struct.unpack("<H", b[off:off + 2])[0]):
        e = off + 2 + 12 * i
        if struct.unpack("<H", b[e:e + 2])[0] == 277:  # SamplesPerPixel
            b[e + 8:e + 10] = struct.pack("<H", 0)
    path.write_bytes(bytes(b))
    return path


def write_png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path


def scene_rgb_png(path: Path) -> Path:
    data = scene_array(64, 64).astype(np.float32)
    rgb = np.clip(data[[2, 1, 0]] / 2600 * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    return write_png(path, rgb)


@pytest.fixture
def scene_tif(tmp_path) -> Path:
    return write_tif(tmp_path / "scene" / "scene.tif", scene_array())


@pytest.fixture
def bad_batch(tmp_path) -> Path:
    """A batch folder: two good tiles, a PNG without CRS, and one file of each bad kind."""
    folder = tmp_path / "batch-7"
    write_tif(folder / "good_a.tif", scene_array(seed=1))
    write_tif(folder / "good_b.tif", scene_array(seed=2))
    scene_rgb_png(folder / "photo.png")
    (folder / "corrupt.tif").write_bytes(b"II*\x00" + b"\x13" * 200)
    write_zero_band_tif(folder / "zero_bands.tif")
    from rasterio.transform import from_origin

    write_tif(folder / "no_crs.tif", scene_array(seed=3), crs=None, transform=from_origin(500000, 2000000, 10, 10))
    write_tif(folder / "all_nodata.tif", np.zeros((4, 32, 32), dtype=np.uint16), nodata=0)
    return folder


@pytest.fixture
def tiny_sam_type(monkeypatch, tmp_path):
    """Registers ``vit_tiny`` in segment_anything's model registry: a randomly initialised SAM with tiny
    dimensions built like the real ones (encoder ViT, prompt encoder, two-way mask decoder), whose
    checkpoint the test writes. Returns (model type, checkpoint path)."""
    from functools import partial

    import segment_anything
    import torch
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)

    def build_tiny(checkpoint=None):
        torch.manual_seed(0)
        img, patch, emb = 64, 16, 16
        encoder = ImageEncoderViT(img_size=img, patch_size=patch, in_chans=3, embed_dim=32, depth=1, num_heads=2,
                                  mlp_ratio=2.0, out_chans=emb, qkv_bias=True,
                                  norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), act_layer=torch.nn.GELU,
                                  use_rel_pos=False, window_size=0, global_attn_indexes=())
        prompt = PromptEncoder(embed_dim=emb, image_embedding_size=(img // patch, img // patch),
                               input_image_size=(img, img), mask_in_chans=4)
        decoder = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(
            depth=1, embedding_dim=emb, mlp_dim=32, num_heads=2), transformer_dim=emb, iou_head_depth=1,
            iou_head_hidden_dim=16)
        sam = Sam(encoder, prompt, decoder, pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
        if checkpoint is not None:
            with open(checkpoint, "rb") as fh:
                sam.load_state_dict(torch.load(fh))
        return sam

    checkpoint = tmp_path / "sam_vit_tiny.pth"
    torch.save(build_tiny().state_dict(), checkpoint)
    monkeypatch.setitem(segment_anything.sam_model_registry, "vit_tiny", build_tiny)
    return "vit_tiny", checkpoint
