"""The transformer fine-tuning backend on a tiny randomly initialised BERT built here (no download)."""

import numpy as np
import polars as pl
import pytest

from assets.coding.catalog import load_catalog
from assets.coding.config import parse_config
from assets.coding.engine import CodingEngine, EngineError, load_engine

WORDS = {"A01": ["pan", "bolillo", "panaderia"], "B02": ["carne", "res", "carniceria"],
         "C03": ["taller", "mecanico", "motor"]}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    pytest.importorskip("torch")
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "de", "venta", "local", "y", "el"] + \
        [w for ws in WORDS.values() for w in ws]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(str(folder))
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=48, max_position_embeddings=64, num_labels=2)
    import torch

    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(str(folder))  # random weights
    return folder


def records(n, seed):
    rng = np.random.default_rng(seed)
    codes = list(WORDS)
    rows = []
    for i in range(n):
        code = codes[i % 3]
        words = list(rng.choice(WORDS[code], size=2)) + list(rng.choice(["de", "venta", "local", "y", "el"], size=2))
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "code": code, "time": float(2020 + i % 4)})
    return pl.DataFrame(rows)


def test_fine_tuning_a_local_checkpoint_codes_and_round_trips(tiny_checkpoint, tmp_path):
    cfg = parse_config({"name": "tiny", "levels": [], "catalog": {"source": "inline", "codes": [
        {"code": c, "title": ""} for c in WORDS]}, "engine": {
        "backend": "transformer", "checkpoint": str(tiny_checkpoint), "epochs": 5, "learning_rate": 0.002, "torch_threads": 1,
        "batch_size": 16, "device": "cpu", "validation_fraction": 0.25, "min_validation": 20}})
    engine = CodingEngine(cfg, load_catalog(cfg))
    report = engine.fit(records(150, seed=1))
    assert report.validation["accuracy"] > 0.8          # the randomly initialised model learned the words
    fresh = records(60, seed=2)
    pred = engine.predict(fresh.get_column("text").to_list() + [""])
    assert np.mean(np.array(pred.top1[:-1]) == np.array(fresh.get_column("code").to_list())) > 0.8
    assert pred.invalid_reason[-1] == "empty_text"
    engine.save(tmp_path / "m")
    assert (tmp_path / "m" / "transformer" / "config.json").exists()
    assert (tmp_path / "m" / "model.pkl").stat().st_size < 2_000_000  # weights are not inside the pickle
    again = load_engine(tmp_path / "m").predict(fresh.get_column("text").to_list())
    assert again.top1 == pred.top1[:-1] and np.allclose(again.confidence, pred.confidence[:-1], atol=1e-5)


def test_transformer_backend_needs_a_local_checkpoint(tmp_path):
    cfg = parse_config({"name": "tiny", "catalog": {"source": "inline", "codes": [{"code": "A01"}]},
                        "engine": {"backend": "transformer", "checkpoint": str(tmp_path / "nowhere")}})
    with pytest.raises(EngineError, match="has no config.json"):
        CodingEngine(cfg, None).fit(records(60, seed=1))
