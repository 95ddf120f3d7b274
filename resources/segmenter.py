"""Segmenter resource: turns an image window into a label image, with two backends.

Output contract (both backends): ``Segmentation(labels, scores)`` where ``labels`` is an int32
array of the window's shape, 0 = no segment and 1..n = segments, and ``scores[label]`` is the
backend's confidence in that segment (NaN when it has none).

* ``default`` — embedded, weight-free: Felzenszwalb–Huttenlocher graph segmentation
  (scikit-image) on every band, each band stretched to [0, 1] between the tile's 2nd and 98th
  percentiles (so NIR separates water from dark vegetation). Deterministic, ~0.3 s per 512² tile.
* ``sam`` — Segment Anything (``segment-anything``): ``SamAutomaticMaskGenerator`` over the
  true-colour window; overlapping masks are painted largest first so smaller masks stay on top;
  ``scores`` are SAM's predicted IoU. The model is built on first use from ``sam_model_type``
  (``vit_b`` | ``vit_l`` | ``vit_h``, i.e. ``segment_anything.sam_model_registry``) and
  ``sam_checkpoint`` (the ``sam_vit_b_01ec64.pth`` / ``sam_vit_l_0b3195.pth`` /
  ``sam_vit_h_4b8939.pth`` file published by Meta), on ``sam_device``. Nothing is downloaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
from pydantic import PrivateAttr


BACKENDS = ("default", "sam")


@dataclass
class Segmentation:
    labels: np.ndarray  # int32 (rows, cols); 0 = no segment
    scores: np.ndarray  # float64 (n_labels + 1,); NaN where the backend has no score


class FelzenszwalbSegmenter:
    """Embedded default: graph-based segmentation on all bands (no weights, no network)."""

    def __init__(self, scale: float = 100.0, sigma: float = 0.5, min_size: int = 30):
        self.scale, self.sigma, self.min_size = float(scale), float(sigma), int(min_size)
        self.name = f"felzenszwalb(scale={self.scale:g},sigma={self.sigma:g},min_size={self.min_size})"

    def segment(self, window) -> Segmentation:
        from skimage.segmentation import felzenszwalb

        image = window.normalised
        with warnings.catch_warnings():
            # skimage warns that a 4-band image is treated as multichannel, which is what we want
            warnings.filterwarnings("ignore", message=".*interpreted as a multichannel.*")
            labels = felzenszwalb(image, scale=self.scale, sigma=self.sigma, min_size=self.min_size,
                                  channel_axis=-1 if image.ndim == 3 else None)
        labels = labels.astype(np.int32) + 1
        return Segmentation(labels, np.full(int(labels.max()) + 1, np.nan))


class SamSegmenter:
    """Segment Anything automatic mask generation; the model loads lazily on the first window."""

    def __init__(self, model_type: str = "vit_b", checkpoint: str | None = None, device: str = "cpu",
                 points_per_side: int = 32, points_per_batch: int = 64, pred_iou_thresh: float = 0.88,
                 stability_score_thresh: float = 0.95, box_nms_thresh: float = 0.7, crop_n_layers: int = 0,
                 model: Any = None):
        self.model_type, self.checkpoint, self.device = model_type, checkpoint, device
        self.generator_kwargs = dict(points_per_side=points_per_side, points_per_batch=points_per_batch,
                                     pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_score_thresh,
                                     box_nms_thresh=box_nms_thresh, crop_n_layers=crop_n_layers)
        self._model = model
        self._generator = None
        self.name = f"sam({model_type})"

    def validate(self) -> None:
        """Check the configuration without loading anything heavy (model type known, checkpoint present)."""
        if self._model is not None:
            return
        from segment_anything import sam_model_registry

        if self.model_type not in sam_model_registry:
            raise ValueError(f"SAM model type {self.model_type!r} unknown; one of {sorted(sam_model_registry)}")
        if not self.checkpoint:
            raise ValueError("the sam backend needs a checkpoint: set IMAGERY_SAM_CHECKPOINT (or --checkpoint) to "
                             "a sam_vit_b_01ec64.pth / sam_vit_l_0b3195.pth / sam_vit_h_4b8939.pth file")
        from pathlib import Path

        if not Path(self.checkpoint).is_file():
            raise FileNotFoundError(f"SAM checkpoint {self.checkpoint} does not exist")

    def _load(self):
        if self._generator is not None:
            return self._generator
        from segment_anything import SamAutomaticMaskGenerator, sam_model_registry

        if self._model is None:
            self.validate()
            self._model = sam_model_registry[self.model_type](checkpoint=self.checkpoint)
        self._model.to(self.device)
        self._model.eval()
        self._generator = SamAutomaticMaskGenerator(self._model, output_mode="binary_mask", **self.generator_kwargs)
        return self._generator

    def segment(self, window) -> Segmentation:
        generator = self._load()
        masks = generator.generate(window.rgb)
        labels = np.zeros(window.rgb.shape[:2], dtype=np.int32)
        scores = [np.nan]
        # paint the largest masks first so the smaller (nested) ones stay visible on top
        for i, m in enumerate(sorted(masks, key=lambda m: -int(m["area"])), start=1):
            labels[m["segmentation"]] = i
            scores.append(float(m.get("predicted_iou", np.nan)))
        # a mask fully covered by smaller ones disappears: keep label ids compact anyway
        present = np.unique(labels)
        present = present[present > 0]
        remap = np.zeros(len(scores), dtype=np.int32)
        remap[present] = np.arange(1, len(present) + 1)
        return Segmentation(remap[labels], np.concatenate([[np.nan], np.asarray(scores)[present]]))


class SegmenterResource(dg.ConfigurableResource):
    """Which segmenter runs and how tiles are read (band roles, windows, minimum mask area).

    Settings (see pipelines/settings.py and pipelines/resources.py): IMAGERY_SEGMENTER, IMAGERY_BAND_ROLES,
    IMAGERY_WINDOW_SIZE, IMAGERY_WINDOW_OVERLAP, IMAGERY_MIN_MASK_AREA_PX, IMAGERY_SAM_MODEL_TYPE,
    IMAGERY_SAM_CHECKPOINT, IMAGERY_SAM_DEVICE, IMAGERY_SAM_POINTS_PER_SIDE, IMAGERY_SAM_PRED_IOU_THRESH,
    IMAGERY_SAM_STABILITY_SCORE_THRESH.
    """

    backend: str = "default"
    band_roles: str = ""  # e.g. "blue,green,red,nir"; empty = from band descriptions / band count
    zero_is_nodata: bool = True
    window_size: int = 512
    window_overlap: int = 32
    min_mask_area_px: int = 16
    felzenszwalb_scale: float = 100.0
    felzenszwalb_sigma: float = 0.5
    felzenszwalb_min_size: int = 30
    sam_model_type: str = "vit_b"
    sam_checkpoint: str = ""
    sam_device: str = "cpu"
    sam_points_per_side: int = 32
    sam_points_per_batch: int = 64
    sam_pred_iou_thresh: float = 0.88
    sam_stability_score_thresh: float = 0.95
    sam_box_nms_thresh: float = 0.7

    _segmenter: Any = PrivateAttr(default=None)

    def get(self):
        """The backend (built once; SAM weights load on its first window, not here)."""
        if self._segmenter is None:
            self._segmenter = build_segmenter(
                self.backend, scale=self.felzenszwalb_scale, sigma=self.felzenszwalb_sigma,
                min_size=self.felzenszwalb_min_size, model_type=self.sam_model_type,
                checkpoint=self.sam_checkpoint or None, device=self.sam_device,
                points_per_side=self.sam_points_per_side, points_per_batch=self.sam_points_per_batch,
                pred_iou_thresh=self.sam_pred_iou_thresh, stability_score_thresh=self.sam_stability_score_thresh,
                box_nms_thresh=self.sam_box_nms_thresh)
        return self._segmenter


def build_segmenter(backend: str = "default", *, scale: float = 100.0, sigma: float = 0.5, min_size: int = 30,
                    model_type: str = "vit_b", checkpoint: str | None = None, device: str = "cpu",
                    points_per_side: int = 32, points_per_batch: int = 64, pred_iou_thresh: float = 0.88,
                    stability_score_thresh: float = 0.95, box_nms_thresh: float = 0.7, model: Any = None):
    if backend == "default":
        return FelzenszwalbSegmenter(scale=scale, sigma=sigma, min_size=min_size)
    if backend == "sam":
        return SamSegmenter(model_type=model_type, checkpoint=checkpoint, device=device,
                            points_per_side=points_per_side, points_per_batch=points_per_batch,
                            pred_iou_thresh=pred_iou_thresh, stability_score_thresh=stability_score_thresh,
                            box_nms_thresh=box_nms_thresh, model=model)
    raise ValueError(f"segmenter backend {backend!r} unknown; one of {BACKENDS}")

