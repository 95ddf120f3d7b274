"""The default coding engine: TF-IDF (characters + words + context) with a linear model, a memory of
recent human codes, catalogue retrieval, calibrated confidence and hierarchical back-off.

``CodingEngine`` is the facade; the work lives in one module per concern:

* ``features``: time/context features, recency weights and the base classifiers (``TfidfModel``);
* ``memory``: nearest-neighbour lookups (near-duplicate memory of human codes, catalogue titles,
  optional embedding kNN votes);
* ``selection``: the validation split (latest period) and the (recency_tau, C) search;
* ``calibration``: temperature, memory weight, confidence calibrator, threshold, back-off thresholds;
* ``persistence``: save / load.

How a model is built (``CodingEngine.fit``)
-------------------------------------------
1. Records are normalised (``normalize.Normalizer``), weighted by recency (``exp(-(newest - t)/tau)``,
   in years) and deduplicated to (text, context, code) with summed weights: a text coded the same
   way for ten years counts once with a large weight, a code that changed meaning loses to the
   newer code.
2. Catalogue titles (and aliases) of the codes that have examples are added as pseudo-examples.
3. A LinearSVC learns codes from character n-grams (2-5 by default, 3-4 for SCIAN), word 1-2-grams and
   context tokens.
4. The latest period of the training data (``validation_fraction``, by time; random when there
   is no time) is held out: a model fitted on the rest scores it, and on those scores alone we
   choose ``recency_tau`` and ``C`` (when the config lists candidates ``recency_taus`` / ``Cs``:
   a coordinate search, every tau at the configured C then every C at the best tau, keeping the
   model that codes the held-out period best), and fit
   the softmax temperature, the weight of the memory, the confidence calibrator (logistic
   regression on score, margin, near-duplicate similarity/agreement, memory purity, code support),
   the auto-coding threshold that reaches ``target_precision`` (chosen on out-of-fold confidences,
   never on the data later evaluated), and a threshold per coarser level for back-off.
5. The base model is refitted on all records; calibration carries over.

Prediction gives the top-k codes with probabilities, the calibrated confidence (estimated
probability that the first code is right), ``auto`` when the confidence clears the threshold, and
for the others the longest code prefix that is reliable (``backoff_code``) to help the coder.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl

from assets.coding import persistence
from assets.coding.calibration import (FEATURES, TEMPERATURES, Calibration, Fold, calibrate, choose_threshold, confidence,
                                       confidence_features, level_probs, macro_f1, probabilities, softmax,
                                       top_k)
from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig, EngineSettings
from assets.coding.errors import EngineError
from assets.coding.features import BaseModel, TfidfModel, context_string, distinct, recency_weights, to_years
from assets.coding.memory import CatalogIndex, EmbeddingIndex
from assets.coding.normalize import Normalizer, is_blank
from assets.coding.selection import backtest_masks, hyper_candidates, select_hyperparameters, validation_mask
from assets.coding.svm import SvmFits

ENGINE_VERSION = "tfidf-svm-4"

__all__ = ["ENGINE_VERSION", "FEATURES", "TEMPERATURES", "CodingEngine", "EngineError", "FitReport", "Predictions",
           "choose_threshold", "context_string", "load_engine", "macro_f1", "recency_weights", "softmax", "to_years"]


# ---------------------------------------------------------------- results
@dataclass
class Predictions:
    """Per record: top-k codes and probabilities, calibrated confidence, decision, back-off, source."""

    codes: list[list[str]]
    probabilities: np.ndarray
    confidence: np.ndarray
    auto: np.ndarray
    backoff_code: list[str | None]
    backoff_level: list[int | None]
    source: list[str]
    invalid_reason: list[str | None]

    @property
    def top1(self) -> list[str | None]:
        return [c[0] if c else None for c in self.codes]

    def __len__(self) -> int:
        return len(self.codes)

    def to_frame(self, k: int = 5) -> pl.DataFrame:
        cols: dict[str, Any] = {"code": self.top1,
                                "confidence": [None if r else float(c) for c, r in zip(self.confidence, self.invalid_reason)],
                                "probability": [None if not c else float(p[0]) for c, p in zip(self.codes, self.probabilities)]}
        for j in range(1, k):
            cols[f"candidate_{j + 1}"] = [c[j] if len(c) > j else None for c in self.codes]
            cols[f"probability_{j + 1}"] = [float(p[j]) if len(c) > j else None
                                            for c, p in zip(self.codes, self.probabilities)]
        decision = ["invalid" if r else ("auto" if a else "manual") for a, r in zip(self.auto, self.invalid_reason)]
        cols.update({"decision": decision, "backoff_code": self.backoff_code,
                     "backoff_level": self.backoff_level, "source": self.source,
                     "invalid_reason": self.invalid_reason})
        return pl.DataFrame(cols, schema_overrides={"backoff_level": pl.Int64, "confidence": pl.Float64,
                                                    "probability": pl.Float64, "invalid_reason": pl.Utf8,
                                                    "backoff_code": pl.Utf8, "code": pl.Utf8})


@dataclass
class FitReport:
    n_records: int
    n_train_part: int
    n_validation: int
    validation_by: str
    seconds: float
    temperature: float
    memory_weight: float
    threshold: float | None
    level_thresholds: dict[str, float | None]
    validation: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _concat(parts: list[Predictions]) -> Predictions:
    return Predictions(
        codes=[c for p in parts for c in p.codes],
        probabilities=np.concatenate([p.probabilities for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
        auto=np.concatenate([p.auto for p in parts]),
        backoff_code=[c for p in parts for c in p.backoff_code],
        backoff_level=[c for p in parts for c in p.backoff_level],
        source=[c for p in parts for c in p.source],
        invalid_reason=[c for p in parts for c in p.invalid_reason])


# ---------------------------------------------------------------- the engine
class CodingEngine:
    """Train with :meth:`fit`, code with :meth:`predict`, persist with :meth:`save` / :func:`load_engine`."""

    def __init__(self, config: ClassificationConfig, catalog: Catalog | None = None,
                 embedder: Any | None = None):
        self.config = config
        self.settings = config.engine
        self.catalog = catalog
        self.normalizer = Normalizer()
        self.embedder = embedder
        self.base: BaseModel | None = None
        self.report: FitReport | None = None
        self.temperature = 8.0
        self.memory_weight = 0.0
        self.threshold: float | None = None
        self.level_thresholds: dict[int, float | None] = {}
        self.calibrator = None
        self.calibration: Calibration | None = None  # held-out confidences the threshold was chosen on
        self._fits: SvmFits | None = None             # where a running fit() trains its SVMs
        self.catalog_index = CatalogIndex(self.normalizer)
        self._emb_cache: dict[str, np.ndarray] = {}
        self._log: Callable[[str], None] = lambda m: None

    # ---------------------------------------------------------- fitting
    def fit(self, records: pl.DataFrame, log: Callable[[str], None] | None = None) -> FitReport:
        """Learn from ``records`` (columns ``text``, ``code``; optional ``time`` in years, ``context``).

        The validation, backtest and final models train two at a time; their SVM fits run in two worker
        processes (``assets.coding.svm``), so the same records always give the same model."""
        with SvmFits(workers=2) as fits:
            self._fits = fits
            try:
                return self._fit(records, log)
            finally:
                self._fits = None

    def _fit(self, records: pl.DataFrame, log: Callable[[str], None] | None) -> FitReport:
        t0 = time.perf_counter()
        log = log or (lambda m: None)
        self._log = log
        s = self.settings
        recs = _check_records(records)
        texts = self.normalizer.normalize_many(recs.get_column("text").to_list())
        contexts = recs.get_column("context").fill_null("").to_list()
        codes = recs.get_column("code").to_list()
        times = recs.get_column("time").to_numpy().astype(float)
        has_time = not np.all(np.isnan(times))
        newest = float(np.nanmax(times)) if has_time else None
        weights = recency_weights(times, s.recency_tau, newest) if has_time else np.ones(len(codes))
        title_docs = self.catalog.documents() if self.catalog is not None else []

        val_mask, by = validation_mask(s, times, len(codes))
        notes: list[str] = []
        n_val = int(val_mask.sum())
        validation: dict[str, Any] = {}
        final = None
        if n_val >= s.min_validation and (~val_mask).sum() >= 2 and len(set(np.asarray(codes)[~val_mask])) >= 2:
            tr = ~val_mask
            part_newest = float(np.nanmax(times[tr])) if has_time else None
            ti, vi = np.flatnonzero(tr), np.flatnonzero(val_mask)
            tr_args = ([texts[i] for i in ti], [contexts[i] for i in ti], [codes[i] for i in ti])
            val_args = ([texts[i] for i in vi], [contexts[i] for i in vi], [codes[i] for i in vi])
            base_v = None
            taus, cs = hyper_candidates(s, has_time)
            searched = len(taus) * len(cs) > 1
            if searched:
                self.settings, base_v, validation_grid = select_hyperparameters(
                    s, self._new_base, taus, cs, tr_args, times[tr], part_newest, title_docs, val_args)
                s = self.settings
                weights = recency_weights(times, s.recency_tau, newest) if has_time else np.ones(len(codes))
                log(f"chose recency_tau={s.recency_tau}, C={s.C} on validation ({time.perf_counter() - t0:.1f}s)")
            w_tr = recency_weights(times[tr], s.recency_tau, part_newest) if has_time else np.ones(int(tr.sum()))
            if base_v is None:
                base_v = self._new_base().fit(*tr_args, w_tr, title_docs)
            self._attach_embeddings(base_v, tr_args[0], tr_args[2], w_tr)
            log(f"validation model fitted on {int(tr.sum())} records ({time.perf_counter() - t0:.1f}s)")
            folds = [Fold(base_v, self._raw(base_v, val_args[0], val_args[1]), val_args[2], by)]
            # the final model does not depend on calibration: it trains beside the backtests (two cores)
            pool = ThreadPoolExecutor(max_workers=2)
            final = pool.submit(self._new_base().fit, texts, contexts, codes, weights, title_docs)
            folds += self._backtests(backtest_masks(s, times, val_mask), texts, contexts, codes, times, title_docs,
                                     pool)
            if len(folds) > 1:
                log(f"{len(folds) - 1} earlier period(s) backtested ({time.perf_counter() - t0:.1f}s)")
            cal, validation = calibrate(folds, s, self.config.levels)
            self.calibration = cal
            self.temperature, self.memory_weight = cal.temperature, cal.memory_weight
            self.calibrator, self.threshold, self.level_thresholds = cal.calibrator, cal.threshold, cal.level_thresholds
            validation["recency_tau"], validation["C"] = s.recency_tau, s.C
            if searched:
                validation["hyperparameter_grid"] = validation_grid
        else:
            notes.append(f"validation split too small ({n_val} records, need {s.min_validation}): "
                         "no threshold, every record goes to review")
            self.threshold = None
        if final is not None:
            self.base = final.result()
            pool.shutdown()
        else:
            self.base = self._new_base().fit(texts, contexts, codes, weights, title_docs)
        self._attach_embeddings(self.base, texts, codes, weights)
        self._fit_catalog_index()
        seconds = time.perf_counter() - t0
        log(f"final model fitted on {len(codes)} records ({seconds:.1f}s)")
        self.report = FitReport(
            n_records=len(codes), n_train_part=len(codes) - n_val if validation else len(codes),
            n_validation=n_val if validation else 0, validation_by=by, seconds=round(seconds, 3),
            temperature=self.temperature, memory_weight=self.memory_weight, threshold=self.threshold,
            level_thresholds={str(k): v for k, v in self.level_thresholds.items()},
            validation=validation, notes=notes)
        return self.report

    def _backtests(self, masks, texts, contexts, codes, times, title_docs, pool) -> list[Fold]:
        """One fold per earlier period: a model fitted (the chosen settings) on the records before it codes it."""
        s = self.settings

        def run(item):
            before, part, period = item
            bi, pi = np.flatnonzero(before), np.flatnonzero(part)
            if len({codes[i] for i in bi}) < 2:
                return None
            w = recency_weights(times[before], s.recency_tau, float(np.nanmax(times[before])))
            b = self._new_base().fit([texts[i] for i in bi], [contexts[i] for i in bi], [codes[i] for i in bi],
                                     w, title_docs)
            self._attach_embeddings(b, [texts[i] for i in bi], [codes[i] for i in bi], w)
            p_texts, p_ctx = [texts[i] for i in pi], [contexts[i] for i in pi]
            return Fold(b, self._raw(b, p_texts, p_ctx), [codes[i] for i in pi], f"period {period}")

        return [f for f in pool.map(run, masks) if f is not None]

    def _new_base(self, settings: EngineSettings | None = None) -> BaseModel:
        settings = settings or self.settings
        if settings.backend == "transformer":
            from assets.coding.transformer import TransformerBase

            return TransformerBase(settings, self.normalizer, log=self._log)
        return TfidfModel(settings, self.normalizer, fits=getattr(self, "_fits", None))

    def _fit_catalog_index(self) -> None:
        """Titles of catalogue codes the model has no example of, for retrieval."""
        self.catalog_index = CatalogIndex(self.normalizer)
        if self.catalog is None or self.base is None:
            return
        unseen = [c for c in self.catalog.assignable() if c not in self.base.class_index]
        self.catalog_index.fit(self.catalog.documents(unseen))

    # ---------------------------------------------------------- embeddings (optional)
    def _attach_embeddings(self, base: BaseModel, texts: list[str], codes: list[str], weights: np.ndarray) -> None:
        """Embed the (unique) training texts of ``base`` for kNN votes, when embeddings are enabled."""
        if self.settings.embeddings_backend:
            base.embeddings = EmbeddingIndex.fit(texts, codes, weights, base.class_index, self._embed)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is None:
            from resources.embedder import Embedder

            self.embedder = Embedder(self.settings.embeddings_backend)
        missing = sorted({t for t in texts if t not in self._emb_cache})
        if missing:
            vecs = self.embedder.embed(missing)
            self._emb_cache.update(zip(missing, vecs))
        return np.stack([self._emb_cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)

    def _raw(self, base: BaseModel, texts: list[str], contexts: list[str]) -> dict[str, Any]:
        """What calibration and prediction start from: model scores, nearest memory group, embedding votes."""
        D = base.decision(texts, contexts)
        # the memory (and, in prediction, the catalogue) match on the text alone: once per distinct text (one
        # answer comes with many contexts)
        uniq, inv = distinct(texts)
        sim, grp = base.memory.neighbours(uniq)
        sim, grp = sim[inv], grp[inv]
        emb = None
        if self.settings.embeddings_backend:
            if base.embeddings is None:
                raise EngineError("embeddings enabled but the base model has no embedded training texts")
            emb = base.embeddings.votes(texts, len(base.classes), self._embed)
        return {"D": D, "sim": sim, "grp": grp, "emb": emb, "distinct": (uniq, inv)}

    # ---------------------------------------------------------- prediction
    def predict(self, texts: Sequence[str | None], contexts: Sequence[str | None] | None = None,
                batch_size: int = 20000) -> Predictions:
        """Code ``texts``; empty ones come back ``invalid`` (reason ``empty_text``), never coded."""
        if self.base is None:
            raise EngineError("the engine is not fitted: call fit() or load a saved model")
        texts = list(texts)
        contexts = list(contexts) if contexts is not None else [None] * len(texts)
        if len(contexts) != len(texts):
            raise EngineError(f"{len(texts)} texts but {len(contexts)} contexts")
        # census and register answers repeat a lot: each distinct raw text is normalised once and each
        # distinct (normalised text, context) is coded once
        normalized: dict[str, str] = {}

        def norm(t: str | None) -> str | None:
            if is_blank(t):
                return None
            v = normalized.get(t)
            if v is None:
                v = normalized[t] = self.normalizer.normalize(t)
            return v

        keys = [(norm(t), c or "") for t, c in zip(texts, contexts)]
        first: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k[0] is not None:
                first.setdefault(k, i)
        unique_idx = sorted(first.values())
        slot = {keys[i]: j for j, i in enumerate(unique_idx)}
        u_texts = [keys[i][0] for i in unique_idx]
        u_ctx = [keys[i][1] for i in unique_idx]
        u = _concat([self._predict_batch(u_texts[i:i + batch_size], u_ctx[i:i + batch_size])
                     for i in range(0, len(u_texts), batch_size)] or [self._predict_batch([], [])])
        k = u.probabilities.shape[1]
        rows = [slot.get(key, -1) for key in keys]  # -1: empty text, never coded

        def pick(values, j, empty):
            return values[j] if j >= 0 else empty

        return Predictions(
            codes=[pick(u.codes, j, []) for j in rows],
            probabilities=np.array([u.probabilities[j] if j >= 0 else np.zeros(k) for j in rows]).reshape(len(rows), k),
            confidence=np.array([u.confidence[j] if j >= 0 else 0.0 for j in rows]),
            auto=np.array([bool(u.auto[j]) if j >= 0 else False for j in rows], dtype=bool),
            backoff_code=[pick(u.backoff_code, j, None) for j in rows],
            backoff_level=[pick(u.backoff_level, j, None) for j in rows],
            source=[pick(u.source, j, "none") for j in rows],
            invalid_reason=[None if j >= 0 else "empty_text" for j in rows])

    def _predict_batch(self, texts: list[str], contexts: list[str]) -> Predictions:
        """Code already normalised, non-blank ``texts`` (``predict`` filters and normalises them)."""
        base = self.base
        k = max(1, min(self.settings.top_k, len(base.classes)))
        n = len(texts)
        codes: list[list[str]] = [[] for _ in range(n)]
        probs = np.zeros((n, k))
        conf = np.zeros(n)
        auto = np.zeros(n, dtype=bool)
        backoff: list[str | None] = [None] * n
        backoff_level: list[int | None] = [None] * n
        source = ["model"] * n
        if n:
            raw = self._raw(base, texts, contexts)
            P, purity, hit = probabilities(base, raw, self.temperature, self.memory_weight, self.settings)
            cf = confidence(self.calibrator, confidence_features(base, raw, P, purity))
            top = top_k(P, k)
            uniq, inv = raw["distinct"]
            u_sim, u_code = self.catalog_index.matches(uniq)
            cat_sim, cat_code = u_sim[inv], [u_code[i] for i in inv]
            levels = [L for L in sorted(self.config.levels, reverse=True)[1:]]
            level_best = {L: level_probs(base.classes, P, L) for L in levels
                          if self.level_thresholds.get(L) is not None}
            for i in range(n):
                cs = [str(base.classes[c]) for c in top[i]]
                ps = [float(P[i, c]) for c in top[i]]
                src = "memory" if hit[i] and self.memory_weight > 0 and purity[i] > 0 else "model"
                cc = cat_code[i]
                if cc is not None and cat_sim[i] >= self.settings.catalog_min_sim and cc not in cs:
                    # a code with no training example whose title matches: offered to the coder,
                    # first only when the title is a near copy and the model is unsure
                    if cat_sim[i] >= self.settings.catalog_override_sim and ps[0] < 0.5:
                        cs, ps, src = [cc, *cs[:k - 1]], [0.0, *ps[:k - 1]], "catalog"
                    else:
                        cs, ps = [*cs[:k - 1], cc], [*ps[:k - 1], 0.0]
                codes[i] = cs
                probs[i, :len(ps)] = ps
                conf[i] = 0.0 if src == "catalog" else cf[i]
                auto[i] = self.threshold is not None and src != "catalog" and conf[i] >= self.threshold
                source[i] = src
                if not auto[i]:
                    for L in levels:
                        if L in level_best and level_best[L][1][i] >= self.level_thresholds[L]:
                            backoff[i], backoff_level[i] = level_best[L][0][i], L
                            break
        return Predictions(codes, probs, conf, auto, backoff, backoff_level, source, [None] * n)

    # ---------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        return persistence.save(self, folder)


def load_engine(folder: str | Path) -> CodingEngine:
    """Load a model saved by :meth:`CodingEngine.save` (only open artifacts this project wrote)."""
    return persistence.load(folder, CodingEngine)


def _check_records(records: pl.DataFrame) -> pl.DataFrame:
    """The training records with ``time`` and ``context`` columns, or an EngineError naming the bad rows."""
    for col in ("text", "code"):
        if col not in records.columns:
            raise EngineError(f"training records need a {col!r} column (have {records.columns})")
    recs = records
    if "time" not in recs.columns:
        recs = recs.with_columns(pl.lit(None, dtype=pl.Float64).alias("time"))
    if "context" not in recs.columns:
        recs = recs.with_columns(pl.lit(None, dtype=pl.Utf8).alias("context"))
    recs = recs.with_columns(pl.col("time").cast(pl.Float64), pl.col("code").cast(pl.Utf8))
    blank = [i for i, t in enumerate(recs.get_column("text").to_list()) if is_blank(t)]
    if blank:
        raise EngineError(f"training record(s) with empty text at rows {blank[:10]}: remove or fix them "
                          "(prepare_training records them as invalid)")
    missing = recs.get_column("code").is_null() | (recs.get_column("code").str.strip_chars() == "")
    if missing.any():
        rows = np.flatnonzero(missing.to_numpy())[:10].tolist()
        raise EngineError(f"training record(s) without a code at rows {rows}")
    if recs.height < 2:
        raise EngineError(f"need at least 2 training records, got {recs.height}")
    return recs
