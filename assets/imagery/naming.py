"""Land-cover naming of mask clusters: the imagery domain's rules, prompts and answer parsing (no Dagster).

Labels: ``vegetation | water | bare_soil | built_up | road | shadow | cloud | unknown``.

* ``rules`` (embedded default, offline): every mask of the cluster is labelled by the spectral and
  shape rules below; the cluster takes the area-weighted majority label and its share as the
  confidence. The first rule that matches wins. Two threshold sets:

  *Multispectral tiles with NIR* — top-of-atmosphere reflectance at 10 m (Sentinel-2 L1C), set by
  looking at NDVI/NDWI maps of the sample scene (brightness = mean of blue, green, red):

  ======================  =====================================================================
  cloud                   brightness >= 0.30, visible bands flat ((max-min)/brightness < 0.25),
                          NDVI < 0.20
  water                   NDWI > 0 (McFeeters: green > NIR)
  shadow                  brightness < 0.05 and NDVI < 0.35
  vegetation              NDVI >= 0.35
  road                    elongation >= 4, width sqrt(area/elongation) <= 4 px, brightness >= 0.08
  built_up                brightness std >= 0.03 (a mosaic of roofs, streets and gardens), or a
                          single roof: brightness >= 0.16, rectangularity >= 0.75, area <= 400 px
  bare_soil               brightness >= 0.06
  unknown                 anything else
  ======================  =====================================================================

  *RGB photographs without NIR* — 8-bit, uncalibrated: values are the tile's 2-98 % stretch per
  band (0-1), which removes most of the haze and exposure differences between photographs:

  ======================  =====================================================================
  cloud                   brightness >= 0.85 and flat (< 0.10): white
  vegetation              excess green (2g-r-b)/(r+g+b) >= 0.05 and green > blue
  shadow                  brightness < 0.10
  water                   blue >= red, green >= red, tinted (not grey: flat >= 0.12),
                          0.10 <= brightness < 0.60, texture < 0.012
  road                    as above (elongated and narrow)
  built_up                grey (flat < 0.12: concrete, asphalt, roofs), or the roof rule with
                          brightness >= 0.50 (at sub-metre resolution soil and canopy are as
                          heterogeneous as a town, so spread is no evidence here)
  bare_soil               red > blue (warm tones)
  unknown                 anything else
  ======================  =====================================================================

* ``ollama``: a vision model served by Ollama (``llava``, ``llama3.2-vision``, ``qwen2.5vl`` ...)
  receives a mosaic of crops of the cluster's masks (outlined in yellow) and the label list, and
  must answer the JSON object ``{"label": <one of the labels>, "confidence": <0..1>}``. The answer
  is parsed strictly: anything else is recorded as ``invalid`` (label ``unknown``, the raw answer
  kept) and a call that fails after its retries as ``failed`` — never guessed. The question goes
  through :class:`resources.namer.OllamaVision` (the project's one Ollama client: deadline, retries,
  the per-host limit shared with every other Ollama call of the process, several hosts).
* ``transformers``: a local image-text-to-text checkpoint (PaliGemma-style) given by path
  (:class:`resources.namer.TransformersVision`), asked the same question in PaliGemma's
  ``answer en`` form; its answer must be exactly one label.

The k-means bounds of the clustering (``k`` is the silhouette-best in ``[k_min, k_max]``) are checked
here too (:func:`check_k_bounds`). :func:`namer_for` turns the ``namer`` resource's configuration
into the namer the assets and the CLI use. Models load on first use, never at import.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from resources.namer import BACKENDS, DEFAULT_HOST, OllamaVision, TransformersVision

DEFAULT_K_MIN = 6
DEFAULT_K_MAX = 12

LABELS = ("vegetation", "water", "bare_soil", "built_up", "road", "shadow", "cloud", "unknown")

# ---------------------------------------------------------------- rule thresholds (see tables above)
# multispectral, top-of-atmosphere reflectance
CLOUD_BRIGHTNESS = 0.30
CLOUD_FLATNESS = 0.25
CLOUD_MAX_NDVI = 0.20
WATER_MIN_NDWI = 0.0
SHADOW_MAX_BRIGHTNESS = 0.05
VEGETATION_MIN_NDVI = 0.35
ROAD_MIN_ELONGATION = 4.0
ROAD_MAX_WIDTH_PX = 4.0
ROAD_MIN_BRIGHTNESS = 0.08
BUILT_MIN_STD = 0.03
ROOF_MIN_BRIGHTNESS = 0.16
ROOF_MIN_RECTANGULARITY = 0.75
ROOF_MAX_AREA_PX = 400
BARE_MIN_BRIGHTNESS = 0.06
# RGB photographs, 8-bit / 255
RGB_CLOUD_BRIGHTNESS = 0.85
RGB_CLOUD_FLATNESS = 0.10
RGB_SHADOW_MAX_BRIGHTNESS = 0.10
VEGETATION_MIN_EXCESS_GREEN = 0.05
RGB_WATER_MIN_BRIGHTNESS = 0.10
RGB_WATER_MAX_BRIGHTNESS = 0.60
RGB_WATER_MAX_TEXTURE = 0.012
RGB_ROOF_MIN_BRIGHTNESS = 0.50
RGB_GREY_MAX_FLATNESS = 0.12


def _num(features: Mapping[str, Any], key: str) -> float | None:
    v = features.get(key)
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def rule_label(f: Mapping[str, Any]) -> str:
    """The land-cover label the embedded rules give one mask (features as in gold.image_masks)."""
    blue, green, red = _num(f, "mean_blue"), _num(f, "mean_green"), _num(f, "mean_red")
    ndvi, ndwi = _num(f, "ndvi"), _num(f, "ndwi")
    bright = _num(f, "brightness") or 0.0
    texture = _num(f, "texture") or 0.0
    std = _num(f, "brightness_std") or 0.0
    elong = _num(f, "elongation") or 1.0
    area = _num(f, "area_px") or 0.0
    rect = _num(f, "rectangularity") or 0.0
    has_rgb = None not in (blue, green, red)
    flat = (max(blue, green, red) - min(blue, green, red)) / bright if has_rgb and bright > 0 else 1.0
    width = math.sqrt(area / elong) if elong > 0 else area
    road = elong >= ROAD_MIN_ELONGATION and width <= ROAD_MAX_WIDTH_PX
    if ndvi is not None:  # multispectral with NIR
        if bright >= CLOUD_BRIGHTNESS and flat < CLOUD_FLATNESS and ndvi < CLOUD_MAX_NDVI:
            return "cloud"
        if ndwi is not None and ndwi > WATER_MIN_NDWI:
            return "water"
        if bright < SHADOW_MAX_BRIGHTNESS and ndvi < VEGETATION_MIN_NDVI:
            return "shadow"
        if ndvi >= VEGETATION_MIN_NDVI:
            return "vegetation"
        if road and bright >= ROAD_MIN_BRIGHTNESS:
            return "road"
        if std >= BUILT_MIN_STD or (bright >= ROOF_MIN_BRIGHTNESS and rect >= ROOF_MIN_RECTANGULARITY
                                    and area <= ROOF_MAX_AREA_PX):
            return "built_up"
        return "bare_soil" if bright >= BARE_MIN_BRIGHTNESS else "unknown"
    if not has_rgb:
        return "unknown"
    # RGB photograph: display brightness, no NIR
    if bright >= RGB_CLOUD_BRIGHTNESS and flat < RGB_CLOUD_FLATNESS:
        return "cloud"
    exg = (2 * green - red - blue) / (red + green + blue) if red + green + blue > 0 else 0.0
    if exg >= VEGETATION_MIN_EXCESS_GREEN and green > blue:
        return "vegetation"  # before shadow: a dark forest is still green
    if bright < RGB_SHADOW_MAX_BRIGHTNESS:
        return "shadow"
    if (blue >= red and green >= red and flat >= RGB_GREY_MAX_FLATNESS
            and RGB_WATER_MIN_BRIGHTNESS <= bright < RGB_WATER_MAX_BRIGHTNESS and texture < RGB_WATER_MAX_TEXTURE):
        return "water"
    if road:
        return "road"
    if flat < RGB_GREY_MAX_FLATNESS or (
            bright >= RGB_ROOF_MIN_BRIGHTNESS and rect >= ROOF_MIN_RECTANGULARITY and area <= ROOF_MAX_AREA_PX):
        return "built_up"
    return "bare_soil" if red > blue else "unknown"


@dataclass
class ClusterProfile:
    """What a namer sees of one cluster."""

    cluster_id: int
    n_masks: int
    area_px: int
    rule_votes: dict[str, float]  # rule label -> pixels of the cluster's masks the rules give that label
    means: dict[str, float | None] = field(default_factory=dict)  # area-weighted mean features
    mosaic_png: bytes | None = None  # crops of some of its masks, for vision models


@dataclass
class ClusterName:
    label: str
    confidence: float | None
    namer: str
    status: str = "ok"  # ok | invalid (answer did not parse) | failed (no answer after retries)
    detail: str | None = None


def rules_vote(votes: Mapping[str, float]) -> tuple[str, float]:
    """Area-weighted majority of the members' rule labels, and its share of the cluster's area."""
    total = float(sum(votes.values()))
    if not votes or total <= 0:
        return "unknown", 0.0
    label = max(sorted(votes), key=lambda k: votes[k])
    return label, votes[label] / total


class Namer(Protocol):
    name: str
    needs_mosaic: bool

    def name_cluster(self, profile: ClusterProfile) -> ClusterName: ...


class RuleNamer:
    name = "rules"
    needs_mosaic = False

    def name_cluster(self, profile: ClusterProfile) -> ClusterName:
        label, share = rules_vote(profile.rule_votes)
        return ClusterName(label, share, self.name)


def prompt_for(labels: Sequence[str] = LABELS) -> str:
    return ("You see a mosaic of crops from one satellite or aerial image; each crop shows one segment outlined "
            "in yellow, and all segments belong to the same group. Which land-cover class is the group? "
            f"Choose exactly one of: {', '.join(labels)}. Answer only with a JSON object "
            '{"label": "<class>", "confidence": <number between 0 and 1>}.')


def answer_schema(labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """The JSON schema the vision model's answer must follow (Ollama ``format``)."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}, "confidence": {"type": "number"}},
        "required": ["label", "confidence"],
    }


ANSWER_SCHEMA = answer_schema(LABELS)


def parse_json_answer(text: str, labels: Sequence[str] = LABELS) -> tuple[str, float]:
    """Strict parse of ``{"label": ..., "confidence": ...}``; raises ValueError saying what is wrong."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    extra = set(obj) - {"label", "confidence"}
    if extra:
        raise ValueError(f"unexpected keys {sorted(extra)}")
    label = obj.get("label")
    if not isinstance(label, str) or label not in labels:
        raise ValueError(f"label {label!r} is not one of {list(labels)}")
    conf = obj.get("confidence")
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 <= float(conf) <= 1:
        raise ValueError(f"confidence {conf!r} is not a number in [0, 1]")
    return label, float(conf)


def parse_label_answer(text: str, labels: Sequence[str] = LABELS) -> str:
    """Strict parse of a one-word answer: exactly one label (case and a final period aside)."""
    answer = re.sub(r"[\s\-]+", "_", (text or "").strip().lower().rstrip(".").strip())
    if answer not in labels:
        raise ValueError(f"answer {text!r} is not one of {list(labels)}")
    return answer


def check_k_bounds(k_min: int, k_max: int, owner: str = "namer") -> None:
    """The clustering's bounds must satisfy ``2 <= k_min <= k_max`` (a clear error naming both)."""
    if not 2 <= k_min <= k_max:
        raise ValueError(f"{owner}: k_min and k_max must satisfy 2 <= k_min <= k_max, "
                         f"got k_min={k_min}, k_max={k_max}")


class OllamaNamer:
    """A vision model through Ollama (:class:`resources.namer.OllamaVision`); the crop mosaic goes as an
    image of the user message, the answer must be the JSON object of :data:`ANSWER_SCHEMA`."""

    needs_mosaic = True

    def __init__(self, model: str, host: str | Sequence[str] = DEFAULT_HOST, timeout: float = 120.0,
                 max_retries: int = 2, labels: Sequence[str] = LABELS, client: Any = None, *,
                 max_concurrency: int = 4, vision: OllamaVision | None = None):
        if not model:
            raise ValueError("the ollama namer needs a model name (IMAGERY_NAMER_MODEL, e.g. llava or qwen2.5vl)")
        self.model = model
        self.labels = tuple(labels)
        self.vision = vision or OllamaVision(model, hosts=[host] if isinstance(host, str) else list(host),
                                             timeout_s=timeout, max_retries=max_retries,
                                             max_concurrency=max_concurrency, client=client)
        self.name = self.vision.name

    def name_cluster(self, profile: ClusterProfile) -> ClusterName:
        if not profile.mosaic_png:
            raise ValueError(f"cluster {profile.cluster_id}: the ollama namer needs a crop mosaic")
        reply = self.vision.ask(prompt_for(self.labels), profile.mosaic_png, format=answer_schema(self.labels))
        if not reply.ok:
            # the call failed after its retries: recorded as such, never replaced by a guess
            return ClusterName("unknown", None, self.name, "failed", reply.error)
        try:
            label, conf = parse_json_answer(reply.text, self.labels)
        except ValueError as exc:
            return ClusterName("unknown", None, self.name, "invalid", f"{exc}; answer: {reply.text[:500]!r}")
        return ClusterName(label, conf, self.name)


class TransformersNamer:
    """A local image-text-to-text checkpoint (PaliGemma-style, :class:`resources.namer.TransformersVision`)."""

    needs_mosaic = True

    def __init__(self, checkpoint: str, device: str = "cpu", max_new_tokens: int = 8,
                 labels: Sequence[str] = LABELS, *, vision: TransformersVision | None = None):
        if not checkpoint:
            raise ValueError("the transformers namer needs a checkpoint folder (IMAGERY_NAMER_CHECKPOINT)")
        self.labels = tuple(labels)
        self.vision = vision or TransformersVision(checkpoint, device=device, max_new_tokens=max_new_tokens)
        self.name = self.vision.name

    @property
    def _model(self):  # loaded on the first cluster, not before
        return self.vision.model

    def prompt(self) -> str:
        return f"answer en which land cover is outlined: {', '.join(self.labels)}?"

    def name_cluster(self, profile: ClusterProfile) -> ClusterName:
        if not profile.mosaic_png:
            raise ValueError(f"cluster {profile.cluster_id}: the transformers namer needs a crop mosaic")
        raw, conf = self.vision.ask(self.prompt(), profile.mosaic_png)
        try:
            label = parse_label_answer(raw, self.labels)
        except ValueError as exc:
            return ClusterName("unknown", None, self.name, "invalid", f"{exc}")
        return ClusterName(label, conf, self.name)


def build_namer(backend: str = "rules", *, model: str = "", host: str | Sequence[str] = DEFAULT_HOST,
                checkpoint: str = "", device: str = "cpu", timeout: float = 120.0, max_retries: int = 2,
                max_concurrency: int = 4):
    if backend == "rules":
        return RuleNamer()
    if backend == "ollama":
        return OllamaNamer(model, host=host, timeout=timeout, max_retries=max_retries,
                           max_concurrency=max_concurrency)
    if backend == "transformers":
        return TransformersNamer(checkpoint, device=device)
    raise ValueError(f"namer backend {backend!r} unknown; one of {BACKENDS}")


def namer_for(resource) -> Namer:
    """The namer a :class:`resources.namer.NamerResource` configures (its k bounds checked first)."""
    check_k_bounds(resource.k_min, resource.k_max, "NamerResource")
    if resource.backend == "ollama":
        return OllamaNamer(resource.model, vision=resource.ollama_vision()) if resource.model else \
            build_namer("ollama")
    if resource.backend == "transformers":
        return TransformersNamer(resource.checkpoint, vision=resource.transformers_vision()) \
            if resource.checkpoint else build_namer("transformers")
    return build_namer(resource.backend)
