"""Optional backend: fine-tune a local transformer checkpoint as the classifier (the paper's BETO path).

``engine.backend: transformer`` with ``engine.checkpoint: /path/to/checkpoint`` (a folder with a
config, tokenizer and weights, e.g. a BETO or multilingual BERT download; never fetched at run
time). Everything around the classifier stays the same: recency-weighted loss, the near-duplicate
memory, the validation split, temperature, calibrated confidence, threshold and back-off. torch and
transformers load only when a model of this backend is fitted or loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from assets.coding.config import EngineSettings
from assets.coding.errors import EngineError
from assets.coding.features import BaseModel
from assets.coding.normalize import Normalizer


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class TransformerBase(BaseModel):
    """A sequence-classification head fine-tuned on the (deduplicated, recency-weighted) training texts."""

    def __init__(self, settings: EngineSettings, normalizer: Normalizer, log: Callable[[str], None] | None = None):
        super().__init__(settings, normalizer)
        self.log = log or (lambda m: None)
        self.model = None
        self.tokenizer = None

    def fit(self, texts, contexts, codes, weights, title_docs) -> "TransformerBase":
        import polars as pl
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        s = self.s
        ckpt = Path(s.checkpoint or "")
        if not (ckpt / "config.json").exists():
            raise EngineError(f"transformer backend: checkpoint {ckpt} has no config.json (a local folder is needed)")
        docs = pl.DataFrame({"t": texts, "code": codes, "w": weights},
                            schema={"t": pl.Utf8, "code": pl.Utf8, "w": pl.Float64}) \
            .group_by("t", "code", maintain_order=True).agg(pl.col("w").sum())
        known = set(docs.get_column("code").to_list())
        titles = [(c, self.norm.normalize(t)) for c, t in title_docs if c in known]
        if titles and s.catalog_title_weight > 0:
            docs = pl.concat([docs, pl.DataFrame({"t": [t for _, t in titles], "code": [c for c, _ in titles],
                                                  "w": [float(s.catalog_title_weight)] * len(titles)},
                                                 schema=docs.schema)])
        classes = np.array(sorted(known), dtype=object)
        if len(classes) < 2:
            raise EngineError(f"need at least two different codes to learn from, got {list(classes)}")
        self._set_classes(classes, codes, weights)
        self.ctx = None

        torch.manual_seed(s.seed)
        if s.torch_threads:
            torch.set_num_threads(s.torch_threads)
        device = _device(s.device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(ckpt), local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(ckpt), num_labels=len(self.classes), local_files_only=True, ignore_mismatched_sizes=True).to(device)
        x = docs.get_column("t").to_list()
        y = torch.tensor([self.class_index[c] for c in docs.get_column("code").to_list()], dtype=torch.long)
        w = torch.tensor(docs.get_column("w").to_numpy(), dtype=torch.float32)
        w = w / w.mean()
        opt = torch.optim.AdamW(self.model.parameters(), lr=s.learning_rate)
        gen = torch.Generator().manual_seed(s.seed)
        self.model.train()
        for epoch in range(s.epochs):
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for start in range(0, len(x), s.batch_size):
                idx = order[start:start + s.batch_size]
                batch = self.tokenizer([x[i] for i in idx], padding=True, truncation=True, max_length=s.max_length,
                                       return_tensors="pt").to(device)
                logits = self.model(**batch).logits
                loss = (torch.nn.functional.cross_entropy(logits, y[idx].to(device), reduction="none")
                        * w[idx].to(device)).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            self.log(f"transformer epoch {epoch + 1}/{s.epochs}: loss {total / len(x):.4f}")
        self.model.eval()
        self.memory.fit(texts, codes, weights)
        return self

    def decision(self, texts, contexts) -> np.ndarray:
        import torch

        if self.model is None:
            raise EngineError("transformer weights are not loaded")
        device = next(self.model.parameters()).device
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 256):
                batch = self.tokenizer(texts[start:start + 256], padding=True, truncation=True,
                                       max_length=self.s.max_length, return_tensors="pt").to(device)
                out.append(self.model(**batch).logits.float().cpu().numpy())
        if not out:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        # logits are on another scale than SVM margins: the temperature fitted on validation absorbs it
        return np.concatenate(out).astype(np.float32) / 8.0

    # weights live next to model.pkl (save_pretrained), never inside the pickle
    def __getstate__(self):
        state = dict(self.__dict__)
        state["model"] = None
        state["tokenizer"] = None
        state["log"] = None
        return state

    def save_weights(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder))
        self.tokenizer.save_pretrained(str(folder))

    def load_weights(self, folder: Path) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        if not (folder / "config.json").exists():
            raise EngineError(f"transformer weights missing under {folder}")
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
        self.model.to(_device(self.s.device)).eval()
        self.log = lambda m: None
