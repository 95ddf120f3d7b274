"""Fixtures of the search tests: a fast deterministic embedder, a small SCIAN catalogue, a tiny index."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest

from assets.search.corpus import scian_documents
from assets.search.engine import IndexConfig, SearchIndex
from assets.search.text import analyse


class HashEmbedder:
    """Bag of stemmed words hashed into 256 dims, L2-normalised: cheap, deterministic, meaning-free."""

    name = "hash-bow-256"

    def __init__(self) -> None:
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts, batch_size=None):
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, t in enumerate(texts):
            for tok in analyse(t) or ["_empty_"]:
                out[i, int(hashlib.md5(tok.encode()).hexdigest()[:6], 16) % 256] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


SMALL_SCIAN = [
    ("31-33", "Industrias manufactureras"),
    ("311", "Industria alimentaria"),
    ("3118", "Elaboración de productos de panadería y tortillas"),
    ("31181", "Elaboración de pan y otros productos de panadería"),
    ("311811", "Panificación industrial"),
    ("311812", "Panificación tradicional"),
    ("332", "Fabricación de productos metálicos"),
    ("3328", "Recubrimientos y terminados metálicos"),
    ("33281", "Recubrimientos y terminados metálicos"),
    ("332810", "Recubrimientos y terminados metálicos"),
    ("46", "Comercio al por menor"),
    ("461", "Comercio al por menor de abarrotes, alimentos, bebidas, hielo y tabaco"),
    ("4611", "Comercio al por menor de abarrotes y alimentos"),
    ("46111", "Comercio al por menor en tiendas de abarrotes, ultramarinos y misceláneas"),
    ("461110", "Comercio al por menor en tiendas de abarrotes, ultramarinos y misceláneas"),
    ("21", "Minería"),
    ("212", "Minería de minerales metálicos y no metálicos, excepto petróleo y gas"),
    ("2121", "Minería de carbón mineral"),
    ("21211", "Minería de carbón mineral"),
    ("212110", "Minería de carbón mineral"),
]


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def small_catalog() -> pl.DataFrame:
    return pl.DataFrame({"code": [c for c, _ in SMALL_SCIAN], "title": [t for _, t in SMALL_SCIAN]})


@pytest.fixture
def small_catalog_csv(tmp_path):
    path = tmp_path / "scian_small.csv"
    lines = ["codigo,titulo,nivel"] + [f'{c},"{t}",x' for c, t in SMALL_SCIAN]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def small_index(small_catalog, hash_embedder) -> SearchIndex:
    return SearchIndex.build(scian_documents(small_catalog), hash_embedder, IndexConfig())
