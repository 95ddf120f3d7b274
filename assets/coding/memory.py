"""Nearest-neighbour lookups of the coding engine: the memory of human codes, catalogue titles of codes
without examples, and (optional) sentence-embedding kNN votes.

* ``NearDuplicateMemory``: one group per normalised key (stop words dropped) with the summed recency
  weight of each code its records had; a text whose key is a near copy (word TF-IDF cosine) of a group
  gets that group's code distribution, blended into the model's probabilities on validation.
* ``CatalogIndex``: titles (and aliases) of catalogue codes the model has no example of, so a record
  whose text is a title can still be offered that code.
* ``EmbeddingIndex``: the embedded training texts of a base model and their codes, for kNN votes.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import polars as pl

from assets.coding.normalize import Normalizer


def _word_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", sublinear_tf=True, dtype=np.float32)


def _best_match(S) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a sparse similarity matrix with no negative entries: the best similarity and its column (the
    first column among equal best ones; 0 for a row with nothing stored), in one pass over the stored values."""
    S = S.tocsr()
    S.sum_duplicates()   # canonical: column order within each row
    n = S.shape[0]
    lengths = np.diff(S.indptr)
    sim, arg = np.zeros(n, dtype=S.dtype), np.zeros(n, dtype=np.int64)
    stored = lengths > 0
    if not stored.any():
        return sim, arg
    best = np.maximum.reduceat(S.data, S.indptr[:-1][stored])
    sim[stored] = best
    row = np.repeat(np.arange(n), lengths)
    hit = np.flatnonzero(S.data == sim[row])
    first = np.unique(row[hit], return_index=True)[1]   # the first best entry of each row
    arg[row[hit[first]]] = S.indices[hit[first]]
    return sim, arg


class NearDuplicateMemory:
    """Code weights of the training texts, grouped by normalised key, searchable by word cosine."""

    def __init__(self, normalizer: Normalizer):
        self.norm = normalizer
        self.keys: list[str] = []
        self.codes: list[list[str]] = []
        self.weights: list[np.ndarray] = []
        self.vectorizer = None
        self.index = None

    def fit(self, texts: list[str], codes: list[str], weights: np.ndarray) -> "NearDuplicateMemory":
        keys = [self.norm.key(x) for x in texts]
        mem = pl.DataFrame({"k": keys, "code": codes, "w": weights},
                           schema={"k": pl.Utf8, "code": pl.Utf8, "w": pl.Float64}) \
            .group_by("k", "code").agg(pl.col("w").sum()).sort(["k", "w", "code"], descending=[False, True, False])
        groups = mem.group_by("k", maintain_order=True).agg(pl.col("code"), pl.col("w"))
        self.keys = groups.get_column("k").to_list()
        self.codes = [list(c) for c in groups.get_column("code").to_list()]
        self.weights = [np.asarray(w, dtype=float) for w in groups.get_column("w").to_list()]
        self.vectorizer = _word_vectorizer()
        try:
            self.index = self.vectorizer.fit_transform(self.keys).T.tocsr()
        except ValueError:  # every key empty (texts of stop words only)
            self.vectorizer, self.index = None, None
        return self

    def neighbours(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarity to the nearest memory group, and that group's index (-1: none)."""
        n = len(texts)
        if self.index is None or n == 0:
            return np.zeros(n), np.full(n, -1)
        Q = self.vectorizer.transform([self.norm.key(t) for t in texts])
        sim, arg = _best_match(Q @ self.index)
        arg = np.where(sim > 0, arg, -1)
        return sim.astype(float), arg

    def distribution(self, group: int) -> tuple[list[str], np.ndarray]:
        """The codes of a group (heaviest first) and their share of its weight."""
        w = self.weights[group]
        return self.codes[group], w / w.sum()

    def top_code(self, group: int) -> str:
        return self.codes[group][0]


class CatalogIndex:
    """Titles of catalogue codes the model has no example of, for retrieval."""

    def __init__(self, normalizer: Normalizer):
        self.norm = normalizer
        self.codes: list[str] = []
        self.vectorizer = None
        self.matrix = None

    def fit(self, docs: list[tuple[str, str]]) -> "CatalogIndex":
        """``docs``: (code, title or alias) pairs of the codes to index."""
        if not docs:
            return self
        self.vectorizer = _word_vectorizer()
        keys = [self.norm.key(self.norm.normalize(t)) for _, t in docs]
        self.matrix = self.vectorizer.fit_transform(keys).T.tocsr()
        self.codes = [c for c, _ in docs]
        return self

    def matches(self, texts: list[str]) -> tuple[np.ndarray, list[str | None]]:
        """Best title similarity of each (normalised) text and its code (None: no word in common)."""
        if self.vectorizer is None or not texts:
            return np.zeros(len(texts)), [None] * len(texts)
        sim, arg = _best_match(self.vectorizer.transform([self.norm.key(t) for t in texts]) @ self.matrix)
        return sim, [self.codes[a] if s > 0 else None for a, s in zip(arg, sim)]


class EmbeddingIndex:
    """Sentence embeddings of the (unique) training texts of a base model, for kNN votes."""

    def __init__(self, matrix: np.ndarray, labels: np.ndarray, weights: np.ndarray):
        self.matrix, self.labels, self.weights = matrix, labels, weights

    @classmethod
    def fit(cls, texts: list[str], codes: list[str], weights: np.ndarray, class_index: dict[str, int],
            embed: Callable[[list[str]], np.ndarray]) -> "EmbeddingIndex":
        df = pl.DataFrame({"t": texts, "code": codes, "w": weights},
                          schema={"t": pl.Utf8, "code": pl.Utf8, "w": pl.Float64}) \
            .group_by("t", "code", maintain_order=True).agg(pl.col("w").sum())
        return cls(embed(df.get_column("t").to_list()),
                   np.array([class_index[c] for c in df.get_column("code").to_list()]),
                   df.get_column("w").to_numpy())

    def votes(self, texts: list[str], n_classes: int, embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Similarity-weighted votes of the 10 nearest training texts, normalised per record."""
        Q = embed(texts)
        S = Q @ self.matrix.T
        k = min(10, S.shape[1])
        top = np.argpartition(-S, k - 1, axis=1)[:, :k]
        V = np.zeros((len(texts), n_classes))
        for r in range(len(texts)):
            for j in top[r]:
                V[r, self.labels[j]] += max(S[r, j], 0) ** 4 * self.weights[j]
        V /= np.clip(V.sum(axis=1, keepdims=True), 1e-12, None)
        return V
