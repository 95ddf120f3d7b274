"""The default coding engine: TF-IDF (characters + words + context) with a linear model, a memory of
recent human codes, catalogue retrieval, calibrated confidence and hierarchical back-off.

How a model is built (``CodingEngine.fit``)
-------------------------------------------
1. Records are normalised (``normalize.Normalizer``), weighted by recency (``exp(-(newest - t)/tau)``,
   in years) and deduplicated to (text, context, code) with summed weights: a text coded the same
   way for ten years counts once with a large weight, a code that changed meaning loses to the
   newer code.
2. Catalogue titles (and aliases) of the codes that have examples are added as pseudo-examples.
3. A LinearSVC learns codes from character 2-5-grams, word 1-2-grams and context tokens.
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

import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl

from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig, EngineSettings
from assets.coding.normalize import Normalizer, is_blank

ENGINE_VERSION = "tfidf-svm-3"
TEMPERATURES = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0)
FEATURES = ("p1", "margin", "raw_top", "raw_margin", "nn_sim", "nn_agree", "mem_purity", "seen", "log_support")


class EngineError(ValueError):
    """The engine was given data it cannot learn from or code (names what and where)."""


# ---------------------------------------------------------------- small pure helpers
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


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores * temperature
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def choose_threshold(confidence: np.ndarray, correct: np.ndarray, target: float, min_count: int = 10) -> float | None:
    """The lowest confidence threshold at which the records at or above it are right with precision >=
    ``target`` (and there are at least ``min_count`` of them); None when no threshold reaches it.

    Ties are kept together: a threshold selects every record with confidence >= it.
    """
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    if len(conf) == 0:
        return None
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted = conf[order], ok[order]
    hits = np.cumsum(ok_sorted)
    n = np.arange(1, len(conf) + 1)
    # last index of each run of equal confidence: only there may a threshold cut
    last_of_run = np.r_[c_sorted[1:] != c_sorted[:-1], True]
    good = last_of_run & (hits / n >= target) & (n >= min_count)
    if not good.any():
        return None
    i = int(np.flatnonzero(good).max())
    return float(c_sorted[i])


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Macro-averaged F1 over the codes present in ``y_true`` (codes only predicted count as FP)."""
    from sklearn.metrics import f1_score

    labels = sorted(set(y_true))
    return float(f1_score(list(y_true), list(y_pred), labels=labels, average="macro", zero_division=0))


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


# ---------------------------------------------------------------- the base (refittable) model
class _Base:
    """Vectorisers + linear model + near-duplicate index over the training texts."""

    def __init__(self, settings: EngineSettings, normalizer: Normalizer):
        self.s = settings
        self.norm = normalizer

    def fit(self, texts: list[str], contexts: list[str], codes: list[str], weights: np.ndarray,
            title_docs: list[tuple[str, str]]) -> "_Base":
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        s = self.s
        df = pl.DataFrame({"t": texts, "c": contexts, "code": codes, "w": weights},
                          schema={"t": pl.Utf8, "c": pl.Utf8, "code": pl.Utf8, "w": pl.Float64})
        docs = df.group_by("t", "c", "code", maintain_order=True).agg(pl.col("w").sum())
        known = set(docs.get_column("code").to_list())
        titles = [(c, self.norm.normalize(t)) for c, t in title_docs if c in known]
        if titles and s.catalog_title_weight > 0:
            docs = pl.concat([docs, pl.DataFrame({
                "t": [t for _, t in titles], "c": [""] * len(titles), "code": [c for c, _ in titles],
                "w": [float(s.catalog_title_weight)] * len(titles)}, schema=docs.schema)])
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(s.char_ngrams), sublinear_tf=True,
                                    min_df=min(s.min_df, max(1, docs.height // 50)), dtype=np.float32)
        self.word = TfidfVectorizer(analyzer="word", ngram_range=tuple(s.word_ngrams), sublinear_tf=True,
                                    token_pattern=r"(?u)\b\w+\b", stop_words=sorted(self.norm.stop_words),
                                    dtype=np.float32)
        self.ctx = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", dtype=np.float32) \
            if s.context_weight > 0 and any(docs.get_column("c").to_list()) else None
        t = docs.get_column("t").to_list()
        blocks = [self.char.fit_transform(t), self.word.fit_transform(t)]
        if self.ctx is not None:
            blocks.append(self.ctx.fit_transform(docs.get_column("c").to_list()) * s.context_weight)
        X = sparse.hstack(blocks).tocsr()
        y = docs.get_column("code").to_numpy()
        if len(set(y)) < 2:
            raise EngineError(f"need at least two different codes to learn from, got {sorted(set(y))}")
        self.svm = LinearSVC(C=s.C, tol=1e-3, random_state=s.seed, max_iter=2000)
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        with warnings.catch_warnings():
            # liblinear stops at max_iter on a few hard classes; the model is still usable and the
            # validation metrics measure it as it is.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.svm.fit(X, y, sample_weight=docs.get_column("w").to_numpy())
        self.classes = self.svm.classes_
        self.class_index = {c: i for i, c in enumerate(self.classes)}
        support = df.group_by("code").agg(pl.col("w").sum())
        sup = dict(zip(support.get_column("code").to_list(), support.get_column("w").to_list()))
        self.support = np.array([sup.get(c, 0.0) for c in self.classes])

        self._fit_memory(texts, codes, weights)
        return self

    def _fit_memory(self, texts: list[str], codes: list[str], weights: np.ndarray) -> None:
        """Near-duplicate memory: one group per key (stop words dropped), code weights of its records."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        keys = [self.norm.key(x) for x in texts]
        mem = pl.DataFrame({"k": keys, "code": codes, "w": weights},
                           schema={"k": pl.Utf8, "code": pl.Utf8, "w": pl.Float64}) \
            .group_by("k", "code").agg(pl.col("w").sum()).sort(["k", "w", "code"], descending=[False, True, False])
        groups = mem.group_by("k", maintain_order=True).agg(pl.col("code"), pl.col("w"))
        self.mem_keys = groups.get_column("k").to_list()
        self.mem_codes = [list(c) for c in groups.get_column("code").to_list()]
        self.mem_weights = [np.asarray(w, dtype=float) for w in groups.get_column("w").to_list()]
        self.nn_vec = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", sublinear_tf=True,
                                      dtype=np.float32)
        try:
            self.nn_index = self.nn_vec.fit_transform(self.mem_keys).T.tocsr()
        except ValueError:  # every key empty (texts of stop words only)
            self.nn_vec, self.nn_index = None, None

    def decision(self, texts: list[str], contexts: list[str]) -> np.ndarray:
        from scipy import sparse

        # text features once per distinct text (the same answer often comes with several contexts)
        uniq, inv = np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
        u = list(uniq)
        blocks = [sparse.hstack([self.char.transform(u), self.word.transform(u)]).tocsr()[inv]]
        if self.ctx is not None:
            blocks.append(self.ctx.transform(contexts) * self.s.context_weight)
        D = self.svm.decision_function(sparse.hstack(blocks).tocsr())
        if D.ndim == 1:  # two classes: sklearn returns one column
            D = np.column_stack([-D, D])
        return np.asarray(D, dtype=np.float32)

    def neighbours(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarity to the nearest memory group, and that group's index (-1: none)."""
        n = len(texts)
        if self.nn_index is None or n == 0:
            return np.zeros(n), np.full(n, -1)
        Q = self.nn_vec.transform([self.norm.key(t) for t in texts])
        S = (Q @ self.nn_index).tocsr()
        sim = np.asarray(S.max(axis=1).todense()).ravel()
        arg = np.asarray(S.argmax(axis=1)).ravel()
        arg = np.where(sim > 0, arg, -1)
        return sim.astype(float), arg

    def memory_distribution(self, group: int) -> tuple[list[str], np.ndarray]:
        w = self.mem_weights[group]
        return self.mem_codes[group], w / w.sum()


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

    def to_frame(self, k: int = 3) -> pl.DataFrame:
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
        self.base: _Base | None = None
        self.report: FitReport | None = None
        self.temperature = 8.0
        self.memory_weight = 0.0
        self.threshold: float | None = None
        self.level_thresholds: dict[int, float | None] = {}
        self.calibrator = None
        self._emb_cache: dict[str, np.ndarray] = {}
        self._log: Callable[[str], None] = lambda m: None

    # ---------------------------------------------------------- fitting
    def fit(self, records: pl.DataFrame, log: Callable[[str], None] | None = None) -> FitReport:
        """Learn from ``records`` (columns ``text``, ``code``; optional ``time`` in years, ``context``)."""
        t0 = time.perf_counter()
        log = log or (lambda m: None)
        self._log = log
        s = self.settings
        recs = self._check_records(records)
        texts = self.normalizer.normalize_many(recs.get_column("text").to_list())
        contexts = recs.get_column("context").fill_null("").to_list()
        codes = recs.get_column("code").to_list()
        times = recs.get_column("time").to_numpy().astype(float)
        has_time = not np.all(np.isnan(times))
        newest = float(np.nanmax(times)) if has_time else None
        weights = recency_weights(times, s.recency_tau, newest) if has_time else np.ones(len(codes))
        title_docs = self.catalog.documents() if self.catalog is not None else []

        val_mask, by = self._validation_mask(times, len(codes))
        notes: list[str] = []
        n_val = int(val_mask.sum())
        validation: dict[str, Any] = {}
        if n_val >= s.min_validation and (~val_mask).sum() >= 2 and len(set(np.asarray(codes)[~val_mask])) >= 2:
            tr = ~val_mask
            part_newest = float(np.nanmax(times[tr])) if has_time else None
            ti, vi = np.flatnonzero(tr), np.flatnonzero(val_mask)
            tr_args = ([texts[i] for i in ti], [contexts[i] for i in ti], [codes[i] for i in ti])
            base_v = None
            taus, cs = self._hyper_candidates(has_time)
            searched = len(taus) * len(cs) > 1
            if searched:
                base_v, validation_grid = self._select_hyperparameters(
                    taus, cs, tr_args, times[tr], part_newest, title_docs,
                    ([texts[i] for i in vi], [contexts[i] for i in vi], [codes[i] for i in vi]))
                s = self.settings
                weights = recency_weights(times, s.recency_tau, newest) if has_time else np.ones(len(codes))
                log(f"chose recency_tau={s.recency_tau}, C={s.C} on validation ({time.perf_counter() - t0:.1f}s)")
            w_tr = recency_weights(times[tr], s.recency_tau, part_newest) if has_time else np.ones(int(tr.sum()))
            if base_v is None:
                base_v = self._new_base().fit(*tr_args, w_tr, title_docs)
            self._attach_embeddings(base_v, [texts[i] for i in np.flatnonzero(tr)],
                                    [codes[i] for i in np.flatnonzero(tr)], w_tr)
            log(f"validation model fitted on {int(tr.sum())} records ({time.perf_counter() - t0:.1f}s)")
            vi = np.flatnonzero(val_mask)
            validation = self._calibrate(base_v, [texts[i] for i in vi], [contexts[i] for i in vi],
                                         [codes[i] for i in vi], [recs.get_column("text")[int(i)] for i in vi])
            validation["recency_tau"], validation["C"] = s.recency_tau, s.C
            if searched:
                validation["hyperparameter_grid"] = validation_grid
        else:
            notes.append(f"validation split too small ({n_val} records, need {s.min_validation}): "
                         "no threshold, every record goes to review")
            self.threshold = None
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

    def _new_base(self, settings: EngineSettings | None = None) -> _Base:
        settings = settings or self.settings
        if settings.backend == "transformer":
            from assets.coding.transformer import TransformerBase

            return TransformerBase(settings, self.normalizer, log=self._log)
        return _Base(settings, self.normalizer)

    def _hyper_candidates(self, has_time: bool) -> tuple[list[float | None], list[float]]:
        """recency_tau and C candidates to try on validation (the TF-IDF backend only)."""
        s = self.settings
        if s.backend != "tfidf":
            return [s.recency_tau], [s.C]
        taus = list(dict.fromkeys(s.recency_taus)) if s.recency_taus and has_time else [s.recency_tau]
        cs = list(dict.fromkeys(s.Cs)) if s.Cs else [s.C]
        return taus, cs

    def _select_hyperparameters(self, taus, cs, tr_args, tr_times, part_newest, title_docs, val_args):
        """Fit validation models over the (recency_tau, C) candidates and keep the one that codes the validation
        period best (exact accuracy of the linear model's first code; ties -> the configured C and recency_tau,
        then the earlier candidate).

        Coordinate search, not the full grid: every recency_tau at the configured C first, then every other C at
        the best recency_tau (3 + 2 fits instead of 9 for a 3 x 3 grid; training time is a target).
        Sets ``self.settings`` to the winner and returns its validation model and the scores."""
        import dataclasses
        from concurrent.futures import ThreadPoolExecutor

        v_texts, v_ctx, v_codes = val_args
        y = np.asarray(v_codes, dtype=object)
        fixed = (self.settings.recency_tau, self.settings.C if self.settings.C in cs else cs[0])

        def run(pair):
            tau, c = pair
            st = dataclasses.replace(self.settings, recency_tau=tau, C=c)
            w = recency_weights(tr_times, tau, part_newest) if part_newest is not None else np.ones(len(tr_times))
            b = self._new_base(st).fit(*tr_args, w, title_docs)
            acc = float(np.mean(b.classes[b.decision(v_texts, v_ctx).argmax(axis=1)] == y))
            return b, acc

        # liblinear releases the GIL: two candidates train at once on two cores; only the best
        # model so far is kept (each holds a classes x features weight matrix)
        scores: list[dict[str, Any]] = []
        best: dict[str, Any] = {"key": None, "pair": None, "base": None}

        def stage(pairs):
            with ThreadPoolExecutor(max_workers=2) as pool:
                for pair, (b, acc) in zip(pairs, pool.map(run, pairs)):
                    scores.append({"recency_tau": pair[0], "C": pair[1], "accuracy": round(acc, 4)})
                    # ties: the configured C, then the configured tau, then the earlier candidate
                    key = (round(acc, 9), pair[1] == fixed[1], pair[0] == fixed[0])
                    if best["key"] is None or key > best["key"]:
                        best.update(key=key, pair=pair, base=b)
                    del b

        stage([(t, fixed[1]) for t in taus])
        best_tau = best["pair"][0]
        stage([(best_tau, c) for c in cs if c != fixed[1]])
        tau, c = best["pair"]
        self.settings = dataclasses.replace(self.settings, recency_tau=tau, C=c)
        return best["base"], scores

    def _check_records(self, records: pl.DataFrame) -> pl.DataFrame:
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

    def _validation_mask(self, times: np.ndarray, n: int) -> tuple[np.ndarray, str]:
        s = self.settings
        want = max(int(math.ceil(s.validation_fraction * n)), 1)
        if s.validation_strategy == "time" and not np.all(np.isnan(times)):
            # the latest period(s) until at least `want` records: the model is judged on what came
            # after the data it learned from, as it will be used
            t = np.where(np.isnan(times), -np.inf, times)
            known = t[np.isfinite(t)]
            whole_periods = np.all(known == np.floor(known))  # years (2014), not dates (2026.67)
            periods = np.unique(known)[::-1] if whole_periods else np.array([])
            if len(periods) > 1:
                mask = np.zeros(n, dtype=bool)
                for p in periods:
                    mask |= t == p
                    if mask.sum() >= want:
                        break
                if mask.sum() < n * 0.5:
                    chosen = sorted(int(x) for x in set(t[mask]))
                    label = "period" if len(chosen) == 1 else "periods"
                    return mask, f"time (latest {label}: {', '.join(map(str, chosen))})"
            order = np.argsort(-t, kind="stable")
            mask = np.zeros(n, dtype=bool)
            mask[order[:want]] = True
            return mask, f"time (latest {want} records)"
        rng = np.random.default_rng(s.seed)
        mask = np.zeros(n, dtype=bool)
        mask[rng.choice(n, size=want, replace=False)] = True
        return mask, f"random ({want} records, seed {s.seed})"

    # ---------------------------------------------------------- calibration on the validation split
    def _raw(self, base: _Base, texts: list[str], contexts: list[str], raw_texts: list[str]) -> dict[str, Any]:
        D = base.decision(texts, contexts)
        sim, grp = base.neighbours(texts)
        emb = self._embedding_votes(base, texts) if self.settings.embeddings_backend else None
        return {"D": D, "sim": sim, "grp": grp, "emb": emb}

    def _probabilities(self, base: _Base, raw: dict[str, Any], temperature: float, memory_weight: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Blended probabilities, memory purity of each record's best code, memory hit flags."""
        P = softmax(raw["D"].astype(np.float64), temperature)
        if raw["emb"] is not None:
            w = self.settings.embeddings_weight
            P = (1 - w) * P + w * raw["emb"]
        hit = raw["sim"] >= self.settings.memory_min_sim
        M = np.zeros_like(P)
        for r in np.flatnonzero(hit):
            codes, dist = base.memory_distribution(int(raw["grp"][r]))
            for c, p in zip(codes, dist):
                j = base.class_index.get(c)
                if j is not None:
                    M[r, j] = p
        if memory_weight > 0:
            P = np.where(hit[:, None], (1 - memory_weight) * P + memory_weight * M, P)
        purity = M[np.arange(len(P)), P.argmax(axis=1)] if len(P) else np.zeros(0)
        return P, purity, hit

    def _features(self, base: _Base, raw: dict[str, Any], P: np.ndarray, purity: np.ndarray) -> np.ndarray:
        n = len(P)
        if n == 0:
            return np.zeros((0, len(FEATURES)))
        top2 = np.argsort(-P, axis=1)[:, :2] if P.shape[1] > 1 else np.zeros((n, 2), dtype=int)
        rows = np.arange(n)
        p1 = P[rows, top2[:, 0]]
        p2 = P[rows, top2[:, 1]] if P.shape[1] > 1 else np.zeros(n)
        D = raw["D"]
        Ds = np.sort(D, axis=1)
        raw_top = Ds[:, -1]
        raw_margin = Ds[:, -1] - Ds[:, -2] if D.shape[1] > 1 else Ds[:, -1]
        best = base.classes[top2[:, 0]]
        nn_agree = np.array([1.0 if g >= 0 and base.mem_codes[g][0] == b else 0.0
                             for g, b in zip(raw["grp"], best)])
        seen = (raw["sim"] >= 0.999).astype(float)
        log_support = np.log1p(base.support[top2[:, 0]])
        return np.column_stack([p1, p1 - p2, raw_top, raw_margin, raw["sim"], nn_agree, purity, seen, log_support])

    def _calibrate(self, base: _Base, texts: list[str], contexts: list[str], codes: list[str],
                   raw_texts: list[str]) -> dict[str, Any]:
        s = self.settings
        raw = self._raw(base, texts, contexts, raw_texts)
        y = np.asarray(codes, dtype=object)
        # temperature: the one that makes the softmax probabilities most likely on validation
        idx = np.array([base.class_index.get(c, -1) for c in codes])
        known = idx >= 0
        best_t, best_nll = TEMPERATURES[0], math.inf
        for t in TEMPERATURES:
            P = softmax(raw["D"][known].astype(np.float64), t)
            nll = -np.mean(np.log(np.clip(P[np.arange(len(P)), idx[known]], 1e-12, None))) if known.any() else 0.0
            if nll < best_nll:
                best_t, best_nll = t, nll
        self.temperature = best_t
        # memory weight: the blend that codes validation best (ties -> less memory)
        best_w, best_acc = 0.0, -1.0
        for w in s.memory_weights:
            P, _, _ = self._probabilities(base, raw, best_t, w)
            acc = float(np.mean(base.classes[P.argmax(axis=1)] == y))
            if acc > best_acc + 1e-9:
                best_w, best_acc = w, acc
        self.memory_weight = best_w
        P, purity, hit = self._probabilities(base, raw, best_t, best_w)
        pred = base.classes[P.argmax(axis=1)]
        correct = pred == y
        F = self._features(base, raw, P, purity)
        oof = self._fit_calibrator(F, correct)
        self.threshold = choose_threshold(oof, correct, s.target_precision, s.min_auto)
        auto = oof >= self.threshold if self.threshold is not None else np.zeros(len(oof), dtype=bool)
        # back-off: per coarser level, a threshold on the summed probability of the best prefix
        self.level_thresholds = {}
        by_level: dict[str, float] = {}
        for L in self.config.levels:
            pref_pred, pref_p = self._level_probs(base, P, L)
            ok_L = np.array([str(c)[:L] == p for c, p in zip(y, pref_pred)])
            by_level[str(L)] = round(float(ok_L.mean()), 4)
            if L != max(self.config.levels):
                self.level_thresholds[L] = choose_threshold(pref_p, ok_L, s.target_precision, s.min_auto)
        return {
            "n": int(len(y)), "accuracy": round(float(correct.mean()), 4), "accuracy_by_level": by_level,
            "auto_share": round(float(auto.mean()), 4),
            "auto_precision": round(float(correct[auto].mean()), 4) if auto.any() else None,
            "macro_f1": round(macro_f1(list(y), list(pred)), 4),
            "codes_unseen_in_training_part": int((~known).sum()),
            "memory_hits": int(hit.sum()), "temperature": best_t, "memory_weight": best_w,
        }

    def _fit_calibrator(self, F: np.ndarray, correct: np.ndarray) -> np.ndarray:
        """Fit the confidence model on validation; return its out-of-fold confidences (2-fold cross-fit)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        def make():
            return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))

        if correct.all() or not correct.any() or len(correct) < 8:
            # nothing to discriminate: the top probability itself is the confidence
            self.calibrator = None
            return F[:, 0]
        rng = np.random.default_rng(self.settings.seed)
        fold = rng.integers(0, 2, len(correct))
        oof = np.zeros(len(correct))
        for f in (0, 1):
            tr, te = fold != f, fold == f
            if te.any() and tr.any() and 0 < correct[tr].sum() < tr.sum():
                oof[te] = make().fit(F[tr], correct[tr]).predict_proba(F[te])[:, 1]
            elif te.any():
                oof[te] = F[te, 0]
        self.calibrator = make().fit(F, correct)
        return oof

    def _confidence(self, F: np.ndarray) -> np.ndarray:
        if len(F) == 0:
            return np.zeros(0)
        if self.calibrator is None:
            return F[:, 0]
        return self.calibrator.predict_proba(F)[:, 1]

    def _level_probs(self, base: _Base, P: np.ndarray, L: int) -> tuple[list[str], np.ndarray]:
        prefixes = np.array([c[:L] for c in base.classes])
        uniq, inv = np.unique(prefixes, return_inverse=True)
        agg = np.zeros((len(P), len(uniq)))
        for j in range(len(uniq)):
            agg[:, j] = P[:, inv == j].sum(axis=1)
        best = agg.argmax(axis=1) if len(P) else np.zeros(0, dtype=int)
        return [str(uniq[b]) for b in best], agg[np.arange(len(P)), best] if len(P) else np.zeros(0)

    # ---------------------------------------------------------- catalogue retrieval
    def _fit_catalog_index(self) -> None:
        """Titles of catalogue codes the model has no example of, for retrieval."""
        self.cat_codes: list[str] = []
        self.cat_vec = None
        if self.catalog is None or self.base is None:
            return
        unseen = [c for c in self.catalog.assignable() if c not in self.base.class_index]
        docs = self.catalog.documents(unseen)
        if not docs:
            return
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.cat_vec = TfidfVectorizer(analyzer="word", token_pattern=r"(?u)\b\w+\b", sublinear_tf=True,
                                       dtype=np.float32)
        keys = [self.normalizer.key(self.normalizer.normalize(t)) for _, t in docs]
        self.cat_matrix = self.cat_vec.fit_transform(keys).T.tocsr()
        self.cat_codes = [c for c, _ in docs]

    def _catalog_matches(self, texts: list[str]) -> tuple[np.ndarray, list[str | None]]:
        if self.cat_vec is None or not texts:
            return np.zeros(len(texts)), [None] * len(texts)
        S = (self.cat_vec.transform([self.normalizer.key(t) for t in texts]) @ self.cat_matrix).tocsr()
        sim = np.asarray(S.max(axis=1).todense()).ravel()
        arg = np.asarray(S.argmax(axis=1)).ravel()
        return sim, [self.cat_codes[a] if s > 0 else None for a, s in zip(arg, sim)]

    # ---------------------------------------------------------- embeddings (optional)
    def _attach_embeddings(self, base: _Base, texts: list[str], codes: list[str], weights: np.ndarray) -> None:
        """Embed the (unique) training texts of ``base`` for kNN votes, when embeddings are enabled."""
        if not self.settings.embeddings_backend:
            return
        df = pl.DataFrame({"t": texts, "code": codes, "w": weights},
                          schema={"t": pl.Utf8, "code": pl.Utf8, "w": pl.Float64}) \
            .group_by("t", "code", maintain_order=True).agg(pl.col("w").sum())
        base._emb_matrix = self._embed(df.get_column("t").to_list())
        base._emb_labels = np.array([base.class_index[c] for c in df.get_column("code").to_list()])
        base._emb_w = df.get_column("w").to_numpy()

    def _embedding_votes(self, base: _Base, texts: list[str]) -> np.ndarray:
        """kNN votes over sentence embeddings of the training texts (optional language-model component)."""
        if getattr(base, "_emb_matrix", None) is None:
            raise EngineError("embeddings enabled but the base model has no embedded training texts")
        raw_texts = texts
        Q = self._embed(raw_texts)
        S = Q @ base._emb_matrix.T
        k = min(10, S.shape[1])
        top = np.argpartition(-S, k - 1, axis=1)[:, :k]
        V = np.zeros((len(raw_texts), len(base.classes)))
        for r in range(len(raw_texts)):
            for j in top[r]:
                V[r, base._emb_labels[j]] += max(S[r, j], 0) ** 4 * base._emb_w[j]
        V /= np.clip(V.sum(axis=1, keepdims=True), 1e-12, None)
        return V

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.embedder is None:
            from resources.embedder import Embedder

            self.embedder = Embedder(self.settings.embeddings_backend)
        missing = sorted({t for t in texts if t not in self._emb_cache})
        if missing:
            vecs = self.embedder.embed(missing)
            self._emb_cache.update(zip(missing, vecs))
        return np.stack([self._emb_cache[t] for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)

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
        # census and register answers repeat a lot: each distinct (normalised text, context) is coded once
        keys = [(self.normalizer.normalize(t) if not is_blank(t) else None, c or "") for t, c in zip(texts, contexts)]
        first: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k[0] is not None:
                first.setdefault(k, i)
        unique_idx = sorted(first.values())
        slot = {keys[i]: j for j, i in enumerate(unique_idx)}
        u_texts = [texts[i] for i in unique_idx]
        u_ctx = [contexts[i] for i in unique_idx]
        parts = [self._predict_batch(u_texts[i:i + batch_size], u_ctx[i:i + batch_size])
                 for i in range(0, len(u_texts), batch_size)] or [self._predict_batch([], [])]
        u = Predictions(
            codes=[c for p in parts for c in p.codes],
            probabilities=np.concatenate([p.probabilities for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            auto=np.concatenate([p.auto for p in parts]),
            backoff_code=[c for p in parts for c in p.backoff_code],
            backoff_level=[c for p in parts for c in p.backoff_level],
            source=[c for p in parts for c in p.source],
            invalid_reason=[c for p in parts for c in p.invalid_reason])
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

    def _predict_batch(self, texts: list[str | None], contexts: list[str | None]) -> Predictions:
        base = self.base
        k = max(1, min(self.settings.top_k, len(base.classes)))
        n = len(texts)
        invalid = [("empty_text" if is_blank(t) else None) for t in texts]
        ok = np.array([r is None for r in invalid], dtype=bool)
        norm = [self.normalizer.normalize(t) if r is None else "" for t, r in zip(texts, invalid)]
        idx = np.flatnonzero(ok)
        codes: list[list[str]] = [[] for _ in range(n)]
        probs = np.zeros((n, k))
        conf = np.zeros(n)
        auto = np.zeros(n, dtype=bool)
        backoff: list[str | None] = [None] * n
        backoff_level: list[int | None] = [None] * n
        source = ["none" if r else "model" for r in invalid]
        if len(idx):
            t_ok = [norm[i] for i in idx]
            c_ok = [contexts[i] or "" for i in idx]
            raw = self._raw(base, t_ok, c_ok, [str(texts[i]) for i in idx])
            P, purity, hit = self._probabilities(base, raw, self.temperature, self.memory_weight)
            F = self._features(base, raw, P, purity)
            cf = self._confidence(F)
            top = np.argsort(-P, axis=1)[:, :k]
            cat_sim, cat_code = self._catalog_matches(t_ok)
            levels = [L for L in sorted(self.config.levels, reverse=True)[1:]]
            level_best = {L: self._level_probs(base, P, L) for L in levels if self.level_thresholds.get(L) is not None}
            for j, i in enumerate(idx):
                cs = [str(base.classes[c]) for c in top[j]]
                ps = [float(P[j, c]) for c in top[j]]
                src = "memory" if hit[j] and self.memory_weight > 0 and purity[j] > 0 else "model"
                cc = cat_code[j]
                if cc is not None and cat_sim[j] >= self.settings.catalog_min_sim and cc not in cs:
                    # a code with no training example whose title matches: offered to the coder,
                    # first only when the title is a near copy and the model is unsure
                    if cat_sim[j] >= self.settings.catalog_override_sim and ps[0] < 0.5:
                        cs, ps, src = [cc, *cs[:k - 1]], [0.0, *ps[:k - 1]], "catalog"
                    else:
                        cs, ps = [*cs[:k - 1], cc], [*ps[:k - 1], 0.0]
                codes[i] = cs
                probs[i, :len(ps)] = ps
                conf[i] = 0.0 if src == "catalog" else cf[j]
                auto[i] = self.threshold is not None and src != "catalog" and conf[i] >= self.threshold
                source[i] = src
                if not auto[i]:
                    for L in levels:
                        if L in level_best and level_best[L][1][j] >= self.level_thresholds[L]:
                            backoff[i], backoff_level[i] = level_best[L][0][j], L
                            break
        return Predictions(codes, probs, conf, auto, backoff, backoff_level, source, invalid)

    # ---------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        embedder, self.embedder = self.embedder, None  # models are rebuilt on load, never pickled
        cache, self._emb_cache = self._emb_cache, {}
        log, self._log = self._log, None
        if hasattr(self.base, "save_weights"):
            self.base.save_weights(folder / "transformer")
        try:
            tmp = folder / "model.pkl.tmp"
            with open(tmp, "wb") as fh:
                pickle.dump(self, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(folder / "model.pkl")
        finally:
            self.embedder, self._emb_cache, self._log = embedder, cache, log
        return folder / "model.pkl"


def load_engine(folder: str | Path) -> CodingEngine:
    """Load a model saved by :meth:`CodingEngine.save` (only open artifacts this project wrote)."""
    path = Path(folder) / "model.pkl"
    if not path.exists():
        raise EngineError(f"no model at {path}")
    with open(path, "rb") as fh:
        engine = pickle.load(fh)
    if not isinstance(engine, CodingEngine):
        raise EngineError(f"{path} does not hold a CodingEngine")
    engine._log = lambda m: None
    if hasattr(engine.base, "load_weights"):
        engine.base.load_weights(Path(folder) / "transformer")
    return engine
