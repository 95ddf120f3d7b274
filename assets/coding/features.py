"""Features and the base classifier of the coding engine.

* time and context as features: ``to_years`` (a time column as fractional years), ``recency_weights``
  (``exp(-(newest - t) / tau)``), ``context_string`` (``state=jalisco municipality=...`` tokens);
* ``BaseModel``: what every classifier backend gives the engine (classes, their recency-weighted
  support, the near-duplicate memory of its training texts, ``decision`` scores);
* ``TfidfModel``: the default backend, character n-grams (``char_ngrams``) + word 1-2-grams + context tokens with a
  LinearSVC, over the training texts deduplicated to (text, context, code) with summed weights and the
  catalogue titles of the codes that have examples as pseudo-examples.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from assets.coding.config import EngineSettings
from assets.coding.errors import EngineError
from assets.coding.memory import EmbeddingIndex, NearDuplicateMemory
from assets.coding.normalize import Normalizer

# liblinear stops at max_iter on a few hard classes; the model is still usable and the validation metrics
# measure it as it is. Filtered once here, by message: warnings.catch_warnings around each fit is not
# thread-safe and the engine fits two models at once (the warning leaked from the other thread).
warnings.filterwarnings("ignore", message="Liblinear failed to converge")


def recency_weights(times: np.ndarray | None, tau: float | None, newest: float | None = None) -> np.ndarray:
    """``exp(-(newest - t) / tau)`` per record; 1 where the time is unknown or tau is None."""
    if times is None:
        return np.ones(0)
    t = np.asarray(times, dtype=float)
    if tau is None or np.all(np.isnan(t)):
        return np.ones(len(t))
    top = np.nanmax(t) if newest is None else newest
    w = np.exp(-(top - t) / tau)
    return np.where(np.isnan(w), 1.0, w)


def to_years(values: pl.Series) -> np.ndarray:
    """A time column as fractional years: numbers (2014), dates, datetimes or ISO strings."""
    s = values
    if s.dtype == pl.Utf8:
        as_num = s.cast(pl.Float64, strict=False)
        if as_num.null_count() == s.null_count():
            s = as_num
        else:
            s = s.str.to_date(strict=False)
    if s.dtype in (pl.Date, pl.Datetime("us"), pl.Datetime("ns"), pl.Datetime("ms")) or isinstance(s.dtype, pl.Datetime):
        d = s.cast(pl.Date)
        out = d.dt.year().cast(pl.Float64) + (d.dt.ordinal_day().cast(pl.Float64) - 1) / 365.25
        return out.to_numpy().astype(float)
    return s.cast(pl.Float64, strict=False).to_numpy().astype(float)


def context_string(values: dict[str, Any]) -> str:
    """Context tokens for the linear model: ``{"state": "JALISCO"}`` -> ``state=jalisco``."""
    norm = Normalizer(abbreviations={})
    parts = []
    for key, value in values.items():
        if value is None or str(value).strip() == "":
            continue
        parts.append(f"{key}={norm.normalize(str(value)).replace(' ', '_')}")
    return " ".join(parts)


def class_support(codes: list[str], weights: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Summed (recency) weight of the training records of each class."""
    support = pl.DataFrame({"code": codes, "w": weights}).group_by("code").agg(pl.col("w").sum())
    sup = dict(zip(support.get_column("code").to_list(), support.get_column("w").to_list()))
    return np.array([sup.get(c, 0.0) for c in classes])


class BaseModel:
    """A classifier the engine calibrates: ``classes``, ``class_index``, ``support`` (weight per class),
    ``memory`` (near duplicates of its training texts), ``embeddings`` (optional kNN index) and
    ``decision(texts, contexts)`` -> scores (records x classes)."""

    classes: np.ndarray
    class_index: dict[str, int]
    support: np.ndarray

    def __init__(self, settings: EngineSettings, normalizer: Normalizer):
        self.s = settings
        self.norm = normalizer
        self.memory = NearDuplicateMemory(normalizer)
        self.embeddings: EmbeddingIndex | None = None

    def fit(self, texts: list[str], contexts: list[str], codes: list[str], weights: np.ndarray,
            title_docs: list[tuple[str, str]]) -> "BaseModel":
        raise NotImplementedError

    def decision(self, texts: list[str], contexts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _set_classes(self, classes: np.ndarray, codes: list[str], weights: np.ndarray) -> None:
        self.classes = classes
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        self.support = class_support(codes, weights, self.classes)


def distinct(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The distinct texts in first-seen order, and each text's position among them."""
    pos: dict[str, int] = {}
    inv = np.fromiter((pos.setdefault(t, len(pos)) for t in texts), dtype=np.int64, count=len(texts))
    return list(pos), inv


def char_wb_transform(vectorizer: Any, texts: list[str]) -> Any:
    """``vectorizer.transform(texts)`` of a fitted ``char_wb`` ``TfidfVectorizer``, analysing each distinct word
    once: its n-grams are those of every word padded with spaces, so a text's counts are the sum of its words'
    (registers repeat the same few thousand words). Same matrix as ``transform`` (tested)."""
    from scipy import sparse
    from sklearn.preprocessing import normalize

    if vectorizer.analyzer != "char_wb" or vectorizer.binary:
        return vectorizer.transform(texts)
    preprocess, analyse = vectorizer.build_preprocessor(), vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    position: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend(position.setdefault(w, len(position)) for w in preprocess(text).split())
        indptr.append(len(indices))
    words = sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                              shape=(len(texts), len(position)))
    g_indices: list[int] = []
    g_indptr = [0]
    for w in position:
        g_indices.extend(j for j in map(vocabulary.get, analyse(w)) if j is not None)
        g_indptr.append(len(g_indices))
    grams = sparse.csr_matrix((np.ones(len(g_indices), dtype=np.float32), g_indices, g_indptr),
                              shape=(len(position), len(vocabulary)))
    X = (words @ grams).tocsr()
    X.sum_duplicates()
    X.sort_indices()
    if vectorizer.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1
    if vectorizer.use_idf:
        X.data *= vectorizer.idf_[X.indices].astype(X.dtype)
    if vectorizer.norm:
        X = normalize(X, norm=vectorizer.norm, copy=False)
    return X.astype(vectorizer.dtype, copy=False)


@dataclass
class TfidfDesign:
    """The vectorised training documents of a TF-IDF model, shared by every (recency_tau, C) candidate fitted
    on the same records: the vocabulary and IDF depend on the texts only, the weights and C do not."""

    texts: list[str]
    contexts: list[str]
    codes: list[str]
    n_titles: int
    char: Any
    word: Any
    ctx: Any
    X: Any
    y: np.ndarray


class TfidfModel(BaseModel):
    """Vectorisers (characters, words, context) + LinearSVC. ``fits``: where its SVM is fitted (the training
    run's :class:`assets.coding.svm.SvmFits`; None: in this process, one fit at a time); never pickled."""

    def __init__(self, settings: EngineSettings, normalizer: Normalizer, fits: Any = None):
        super().__init__(settings, normalizer)
        self.fits = fits

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("fits", None)   # the training run's worker processes
        return state

    def fit(self, texts: list[str], contexts: list[str], codes: list[str], weights: np.ndarray,
            title_docs: list[tuple[str, str]]) -> "TfidfModel":
        return self.fit_design(self.design(texts, contexts, codes, title_docs), weights)

    def _docs(self, texts: list[str], contexts: list[str], codes: list[str], weights: np.ndarray) -> pl.DataFrame:
        """Records deduplicated to (text, context, code) with summed weights, in first-seen order."""
        df = pl.DataFrame({"t": texts, "c": contexts, "code": codes, "w": weights},
                          schema={"t": pl.Utf8, "c": pl.Utf8, "code": pl.Utf8, "w": pl.Float64})
        return df.group_by("t", "c", "code", maintain_order=True).agg(pl.col("w").sum())

    def design(self, texts: list[str], contexts: list[str], codes: list[str],
               title_docs: list[tuple[str, str]]) -> TfidfDesign:
        """Vectorise the deduplicated records plus the catalogue titles of the codes that have examples."""
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer

        s = self.s
        docs = self._docs(texts, contexts, codes, np.ones(len(texts)))
        known = set(docs.get_column("code").to_list())
        titles = [(c, self.norm.normalize(t)) for c, t in title_docs if c in known]
        if titles and s.catalog_title_weight > 0:
            docs = pl.concat([docs, pl.DataFrame({
                "t": [t for _, t in titles], "c": [""] * len(titles), "code": [c for c, _ in titles],
                "w": [float(s.catalog_title_weight)] * len(titles)}, schema=docs.schema)])
        else:
            titles = []
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(s.char_ngrams), sublinear_tf=True,
                               min_df=min(s.min_df, max(1, docs.height // 50)), dtype=np.float32)
        word = TfidfVectorizer(analyzer="word", ngram_range=tuple(s.word_ngrams), sublinear_tf=True,
                               token_pattern=r"(?u)\b\w+\b", stop_words=sorted(self.norm.stop_words),
                               dtype=np.float32)
        ctx = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", dtype=np.float32) \
            if s.context_weight > 0 and any(docs.get_column("c").to_list()) else None
        t = docs.get_column("t").to_list()
        blocks = [char.fit_transform(t), word.fit_transform(t)]
        if ctx is not None:
            blocks.append(ctx.fit_transform(docs.get_column("c").to_list()) * s.context_weight)
        X = sparse.hstack(blocks).tocsr()
        y = docs.get_column("code").to_numpy()
        if len(set(y)) < 2:
            raise EngineError(f"need at least two different codes to learn from, got {sorted(set(y))}")
        return TfidfDesign(texts, contexts, codes, len(titles), char, word, ctx, X, y)

    def fit_design(self, d: TfidfDesign, weights: np.ndarray) -> "TfidfModel":
        """Fit the linear model (this model's C) on a design with these record weights."""
        from assets.coding.svm import fit_inline

        s = self.s
        self.char, self.word, self.ctx = d.char, d.word, d.ctx
        w = self._docs(d.texts, d.contexts, d.codes, weights).get_column("w").to_numpy()
        if d.n_titles:
            w = np.concatenate([w, np.full(d.n_titles, float(s.catalog_title_weight))])
        fits = getattr(self, "fits", None)
        coef, intercept, classes = (fits.fit if fits is not None else fit_inline)(d.X, d.y, w, s.C, s.seed)
        self._set_linear(coef, intercept)
        self._set_classes(classes, d.codes, weights)
        self.memory.fit(d.texts, d.codes, weights)
        return self

    def _set_linear(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        """Keep the weights as features x classes float32, C order: ``X @ W`` streams half the bytes of
        sklearn's float64 ``coef_.T`` (which it also copies to C order on every call) and the saved model is
        half the size."""
        self.W = np.ascontiguousarray(np.asarray(coef, dtype=np.float32).T)
        self.b = np.asarray(intercept, dtype=np.float32)

    def decision(self, texts: list[str], contexts: list[str]) -> np.ndarray:
        from scipy import sparse

        # text features once per distinct text (the same answer often comes with several contexts)
        u, inv = distinct(texts)
        blocks = [sparse.hstack([char_wb_transform(self.char, u), self.word.transform(u)]).tocsr()[inv]]
        if self.ctx is not None:
            blocks.append(self.ctx.transform(contexts) * self.s.context_weight)
        if not hasattr(self, "W"):  # a model saved before the weights were kept as W, b
            self._set_linear(self.svm.coef_, self.svm.intercept_)
            del self.svm
        X = sparse.hstack(blocks, format="csr", dtype=np.float32)
        D = np.asarray(X @ self.W) + self.b
        if D.shape[1] == 1:  # two classes: one column of scores for the second
            D = np.column_stack([-D[:, 0], D[:, 0]])
        return np.asarray(D, dtype=np.float32)
