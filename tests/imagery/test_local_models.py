"""The model-backed paths, end to end with tiny randomly initialised models built here (no download):
SAM through segment-anything's registry and a checkpoint file, and a PaliGemma-style namer from a folder."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import shapely

from assets.imagery.pipeline import run_chain
from assets.imagery.raster import inspect_tile
from assets.imagery.segmentation import SegmentOptions, segment_tile
from assets.imagery.naming import LABELS, ClusterProfile, RuleNamer, TransformersNamer
from resources.segmenter import SamSegmenter, SegmenterResource, build_segmenter


def test_sam_backend_end_to_end_with_a_tiny_checkpoint(tiny_sam_type, scene_tif, tmp_path):
    model_type, checkpoint = tiny_sam_type
    resource = SegmenterResource(backend="sam", sam_model_type=model_type, sam_checkpoint=str(checkpoint),
                                 sam_points_per_side=4, sam_pred_iou_thresh=0.0, sam_stability_score_thresh=0.0,
                                 window_size=64, window_overlap=8)
    seg = resource.get()
    assert isinstance(seg, SamSegmenter) and seg.name == "sam(vit_tiny)"
    assert seg._generator is None, "the model must load lazily, on the first window"
    info = inspect_tile(scene_tif, "b")
    masks: list[dict] = []
    result = segment_tile(info, seg, masks.append, SegmentOptions.of(resource))
    assert seg._generator is not None
    assert result.n_windows == 4 and result.n_masks == len(masks) > 0
    geoms = [shapely.from_wkb(m["geometry_wkb"]) for m in masks]
    assert all(g.is_valid and not g.is_empty for g in geoms)
    assert sum(g.area for g in geoms) <= 960 * 960 + 1e-6  # painted masks never overlap
    assert all(m["segmenter"] == "sam(vit_tiny)" for m in masks)
    assert all(m["score"] is not None and np.isfinite(m["score"]) for m in masks)  # SAM's predicted IoU

    # the whole chain runs on it too (objects exported with the tile CRS)
    report = run_chain(scene_tif.parent, tmp_path / "out", seg, RuleNamer(),
                       options=SegmentOptions(window_size=64, window_overlap=8))
    assert report["segmenter"] == "sam(vit_tiny)" and report["masks"] > 0
    assert any(p.endswith("objects_EPSG-32614.parquet") for p in report["outputs"]["objects"])


def test_sam_backend_needs_a_real_checkpoint(tmp_path, scene_tif):
    from assets.imagery.raster import iter_window_data

    info = inspect_tile(scene_tif, "b")
    window = next(iter_window_data(info, 64, 8))
    with pytest.raises(ValueError, match="IMAGERY_SAM_CHECKPOINT"):
        build_segmenter("sam").segment(window)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_segmenter("sam", checkpoint=str(tmp_path / "sam_vit_b_01ec64.pth")).segment(window)
    with pytest.raises(ValueError, match="unknown"):
        build_segmenter("sam", model_type="vit_xxl", checkpoint="x").segment(window)
    with pytest.raises(ValueError, match="unknown"):
        build_segmenter("watershed")


def _tiny_paligemma(folder, forced_label: str | None = None):
    """A randomly initialised PaliGemma (SigLIP 32 px + 1-layer Gemma) with a word-level tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor,
                              PreTrainedTokenizerFast, SiglipImageProcessor, SiglipVisionConfig)

    words = ["<pad>", "<eos>", "<bos>", "<unk>", "answer", "en", "which", "land", "cover", "is", "outlined:",
             *[f"{label}," for label in LABELS], *LABELS]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(dict.fromkeys(words))}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>", unk_token="<unk>")
    images = SiglipImageProcessor(size={"height": 32, "width": 32})
    images.image_seq_length = 4  # (32 / 16)² patches
    processor = PaliGemmaProcessor(image_processor=images, tokenizer=tokenizer)
    vocab = len(processor.tokenizer)
    config = PaliGemmaConfig(
        vision_config=SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, image_size=32, patch_size=16).to_dict(),
        text_config=GemmaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                num_key_value_heads=1, head_dim=8, vocab_size=vocab).to_dict(),
        image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"), projection_dim=16)
    torch.manual_seed(0)
    model = PaliGemmaForConditionalGeneration(config)
    if forced_label is not None:
        # a checkpoint whose generation config allows only that token first and stops right after it
        forced_id = processor.tokenizer.convert_tokens_to_ids(forced_label)
        model.generation_config.begin_suppress_tokens = [i for i in range(vocab) if i != forced_id]
        model.generation_config.eos_token_id = list(range(vocab))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_transformers_namer_from_a_local_checkpoint(tmp_path):
    from assets.imagery.quicklook import crop_mosaic  # noqa: F401  (the mosaic is PNG bytes)
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (20, 90, 200)).save(buf, format="PNG")
    profile = ClusterProfile(0, 5, 100, {"water": 100.0}, {}, mosaic_png=buf.getvalue())

    random_model = TransformersNamer(str(_tiny_paligemma(tmp_path / "random")))
    assert random_model._model is None  # nothing loaded before the first cluster
    named = random_model.name_cluster(profile)
    # a random model answers gibberish: recorded as invalid, never mapped to a label
    assert (named.label, named.status) == ("unknown", "invalid") and "not one of" in named.detail

    forced = TransformersNamer(str(_tiny_paligemma(tmp_path / "forced", forced_label="water")))
    named = forced.name_cluster(profile)
    assert (named.label, named.status, named.namer) == ("water", "ok", "transformers:forced")
    assert 0 < named.confidence <= 1

    with pytest.raises(FileNotFoundError):
        TransformersNamer(str(tmp_path / "missing")).name_cluster(profile)
    shutil.rmtree(tmp_path / "random")
    assert json.loads((tmp_path / "forced" / "config.json").read_text())["model_type"] == "paligemma"
