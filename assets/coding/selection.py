"""Validation split and hyperparameter selection of the coding engine.

``validation_mask`` holds out the latest period(s) of the training data (by time; random when there is
no time): the model is judged on what came after the data it learned from, as it will be used.
``select_hyperparameters`` fits validation models over the (recency_tau, C) candidates the config lists
and keeps the one that codes the held-out period best. Nothing here sees evaluation data.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from assets.coding.config import EngineSettings
from assets.coding.features import BaseModel, recency_weights


def validation_mask(settings: EngineSettings, times: np.ndarray, n: int) -> tuple[np.ndarray, str]:
    """Which records form the validation split, and how it was chosen (a label for the fit report)."""
    s = settings
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


def backtest_masks(settings: EngineSettings, times: np.ndarray, val_mask: np.ndarray
                   ) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Earlier backtests beside the validation split: for each of up to ``calibration_periods - 1`` whole
    periods before the validation period(s), newest first, (records before it, records of it, the period).
    Periods with fewer than ``min_validation`` records, or with fewer than two codes' worth of history
    before them, are skipped (the caller checks the codes)."""
    s = settings
    if s.calibration_periods <= 1 or s.validation_strategy != "time" or np.all(np.isnan(times)):
        return []
    t = np.where(np.isnan(times), -np.inf, times)
    known = t[np.isfinite(t)]
    if not np.all(known == np.floor(known)) or not val_mask.any():
        return []
    start = t[val_mask].min()
    out = []
    for p in np.unique(known[known < start])[::-1]:
        if len(out) >= s.calibration_periods - 1:
            break
        part, before = t == p, np.isfinite(t) & (t < p)   # records of unknown time could be later: left out
        if part.sum() >= s.min_validation and before.sum() >= 2:
            out.append((before, part, int(p)))
    return out


def hyper_candidates(settings: EngineSettings, has_time: bool) -> tuple[list[float | None], list[float]]:
    """recency_tau and C candidates to try on validation (the TF-IDF backend only)."""
    s = settings
    if s.backend != "tfidf":
        return [s.recency_tau], [s.C]
    taus = list(dict.fromkeys(s.recency_taus)) if s.recency_taus and has_time else [s.recency_tau]
    cs = list(dict.fromkeys(s.Cs)) if s.Cs else [s.C]
    return taus, cs


def select_hyperparameters(settings: EngineSettings, new_base: Callable[[EngineSettings], BaseModel],
                           taus, cs, tr_args, tr_times, part_newest, title_docs, val_args
                           ) -> tuple[EngineSettings, BaseModel, list[dict[str, Any]]]:
    """Fit validation models over the (recency_tau, C) candidates and keep the one that codes the validation
    period best (exact accuracy of the linear model's first code; ties -> the configured C and recency_tau,
    then the earlier candidate).

    Coordinate search, not the full grid: every recency_tau at the configured C first, then every other C at
    the best recency_tau (3 + 2 fits instead of 9 for a 3 x 3 grid; training time is a target).
    Returns the winning settings, its validation model and the scores."""
    from concurrent.futures import ThreadPoolExecutor

    v_texts, v_ctx, v_codes = val_args
    y = np.asarray(v_codes, dtype=object)
    fixed = (settings.recency_tau, settings.C if settings.C in cs else cs[0])
    # the vectorised documents do not depend on recency_tau or C: built once, shared by every candidate
    proto = new_base(settings)
    design = proto.design(*tr_args, title_docs) if hasattr(proto, "design") else None

    def run(pair):
        tau, c = pair
        st = dataclasses.replace(settings, recency_tau=tau, C=c)
        w = recency_weights(tr_times, tau, part_newest) if part_newest is not None else np.ones(len(tr_times))
        b = new_base(st)
        b = b.fit_design(design, w) if design is not None else b.fit(*tr_args, w, title_docs)
        acc = float(np.mean(b.classes[b.decision(v_texts, v_ctx).argmax(axis=1)] == y))
        return b, acc

    # two candidates train at once on two cores (their SVMs in the run's worker processes); only the best
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
    return dataclasses.replace(settings, recency_tau=tau, C=c), best["base"], scores
