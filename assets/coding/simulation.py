"""The production threshold loop replayed on a test set (``fmlake coding evaluate --reestimate-batches N``).

In production a model codes records as they arrive with its current threshold version; coders decide the
review queue (every manual record, and an audit sample of auto-coded ones at the pipeline's audit rate);
``gold.coding_thresholds`` then re-estimates the threshold from those decisions once there are
``min_decisions`` of them (``thresholds.reestimate``), and the next records are coded with the new version.
Here the test rows, in a fixed random order (seeded), are cut into N batches as if they arrived over time:
batch 1 is coded with the fit's threshold, and after each batch its queue is decided (the coders' codes are
the test labels) and ``reestimate`` gives the threshold of the next batch. A record's label is used only once the batch it
arrived in has been decided, so nothing is chosen on rows not yet "decided"; the audit draw of a record does
not depend on any label. Batches 2..N together are scored like the main figures (auto share and precision,
the oracle diagnostic, calibration efficiency), beside what the fit's threshold does on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import polars as pl

from assets.coding.engine import Predictions
from assets.coding.evaluate import Fitted, InputError, oracle_diagnostics
from assets.coding.pipeline import AUDIT_RATE
from assets.coding.thresholds import MIN_DECISIONS, reestimate



def check_batch_count(batches: int) -> None:
    """InputError unless there is a batch after the first (the first is always coded with the fit's threshold)."""
    if batches < 2:
        raise InputError(f"--reestimate-batches must be at least 2 (batch 1 is coded with the fit's threshold, "
                         f"the later ones with re-estimated thresholds), got {batches}")


def check_batches(n_rows: int, batches: int) -> None:
    """``check_batch_count``, and InputError unless ``batches`` can cut ``n_rows`` test rows into batches of at
    least one row."""
    check_batch_count(batches)
    if batches > n_rows:
        raise InputError(f"--reestimate-batches {batches} is more than the {n_rows} test rows")


def check_audit_rate(audit_rate: float) -> None:
    if not 0 < audit_rate <= 1:
        raise InputError(f"--audit-rate must be in (0, 1], got {audit_rate}")


def batch_rows(n_rows: int, batches: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """The test rows of each batch (a seeded random order cut into ``batches`` near-equal parts) and one
    uniform draw per row for the audit sample (a row is audited when auto-coded and its draw < audit rate)."""
    check_batches(n_rows, batches)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_rows)
    return np.array_split(order, batches), rng.random(n_rows)


def _subset(pred: Predictions, idx: np.ndarray, auto: np.ndarray) -> Predictions:
    return Predictions(codes=[pred.codes[i] for i in idx], probabilities=pred.probabilities[idx],
                       confidence=np.asarray(pred.confidence)[idx], auto=auto[idx],
                       backoff_code=[pred.backoff_code[i] for i in idx],
                       backoff_level=[pred.backoff_level[i] for i in idx], source=[pred.source[i] for i in idx],
                       invalid_reason=[pred.invalid_reason[i] for i in idx])


def _figures(y: list, pred: Predictions, idx: np.ndarray, auto: np.ndarray, correct: np.ndarray, target: float,
             min_count: int) -> dict[str, Any]:
    sel = auto[idx]
    out = {"n": int(len(idx)), "auto_share": round(float(sel.mean()), 4) if len(idx) else None,
           "auto_precision": round(float(correct[idx][sel].mean()), 4) if sel.any() else None}
    sub = _subset(pred, idx, auto)
    out.update(oracle_diagnostics([y[i] for i in idx], sub, target, min_count))
    return out


def simulate_reestimation(y: Sequence[str | None], pred: Predictions, fit_threshold: float | None,
                          target: float, min_count: int, batches: int, audit_rate: float = AUDIT_RATE,
                          seed: int = 0, min_decisions: int = MIN_DECISIONS) -> dict[str, Any]:
    """Replay the review loop on the test rows (``y``: coders' codes, ``pred``: the model's predictions).

    Auto-coding follows the engine's rule with the batch's threshold (a model suggestion, not a catalogue
    one, of a non-empty text, whose confidence clears it). Decisions are what the pipeline re-estimates
    from: records with a suggested code that were left to coders (``low_confidence``) or audited
    (``audit``, weight 1/``audit_rate`` inside ``reestimate``)."""
    check_audit_rate(audit_rate)
    n = len(pred)
    if len(y) != n:
        raise ValueError(f"{len(y)} codes but {n} predictions")
    parts, draw = batch_rows(n, batches, seed)
    y = list(y)
    top1 = pred.top1
    conf = np.asarray(pred.confidence, dtype=float)
    eligible = np.array([s not in ("catalog", "none") and r is None for s, r in zip(pred.source, pred.invalid_reason)],
                        dtype=bool)
    suggested = np.array([c is not None and r is None for c, r in zip(top1, pred.invalid_reason)], dtype=bool)
    correct = np.array([a is not None and a == b for a, b in zip(y, top1)], dtype=bool)
    fit_auto = np.asarray(pred.auto, dtype=bool)
    rule = eligible & (conf >= fit_threshold) if fit_threshold is not None else np.zeros(n, dtype=bool)
    if not np.array_equal(fit_auto, rule):
        # the rule of the batches below must be the engine's, or the re-estimated figures are not comparable
        raise ValueError("the predictions' auto decisions are not the engine's rule at the fit's threshold")
    auto = np.zeros(n, dtype=bool)
    decisions: list[dict[str, Any]] = []
    threshold, source, expected = fit_threshold, "fit", None
    rows = []
    for k, idx in enumerate(parts, start=1):
        auto[idx] = eligible[idx] & (conf[idx] >= threshold) if threshold is not None else False
        sel = auto[idx]
        audited = sel & (draw[idx] < audit_rate)
        reviewed = ~sel & suggested[idx]
        rows.append({"batch": k, "n": int(len(idx)), "threshold": threshold, "threshold_source": source,
                     "expected_precision": expected, "auto_share": round(float(sel.mean()), 4),
                     "auto_precision": round(float(correct[idx][sel].mean()), 4) if sel.any() else None,
                     "n_reviews": int(reviewed.sum()), "n_audits": int(audited.sum())})
        if k == len(parts):
            break
        # coders decide this batch's queue: only now are its labels known
        decisions += [{"confidence": float(conf[i]), "correct": bool(correct[i]),
                       "reason": "audit" if a else "low_confidence"}
                      for i, a, r in zip(idx, audited, reviewed) if a or r]
        if len(decisions) >= max(min_decisions, 1):   # the pipeline's rule: until then the fit's threshold holds
            est = reestimate(decisions, target, audit_rate, min_count, current=threshold)
            if not est["kept"]:
                threshold, source, expected = est["threshold"], "review", est["expected"]
    later = np.concatenate(parts[1:])
    return {"batches": batches, "seed": seed, "audit_rate": audit_rate, "min_decisions": min_decisions,
            "target_precision": target, "fit_threshold": fit_threshold, "per_batch": rows,
            "later_batches": _figures(y, pred, later, auto, correct, target, min_count),
            "later_batches_fit_threshold": _figures(y, pred, later, fit_auto, correct, target, min_count)}


@dataclass(frozen=True)
class ReestimationSimulation:
    """``evaluate``'s Extra: ``simulate_reestimation`` on its test rows, from the fitted engine's threshold."""

    batches: int
    audit_rate: float = AUDIT_RATE
    seed: int = 0
    repeats: int = 1     # also replay seeds seed+1 .. seed+repeats-1 and give the spread of batches 2..N
    min_decisions: int = MIN_DECISIONS
    name: str = "reestimation"

    def __post_init__(self) -> None:
        check_batch_count(self.batches)
        check_audit_rate(self.audit_rate)
        if self.repeats < 1:
            raise InputError(f"--reestimate-repeats must be at least 1, got {self.repeats}")
        if self.min_decisions < 1:
            raise InputError(f"--reestimate-min-decisions must be at least 1, got {self.min_decisions}")

    def check(self, test: pl.DataFrame) -> None:
        check_batches(test.height, self.batches)

    def __call__(self, fitted: Fitted) -> dict[str, Any]:
        engine = fitted.engine

        def replay(seed: int) -> dict[str, Any]:
            return simulate_reestimation(fitted.y, fitted.pred, engine.threshold, engine.settings.target_precision,
                                         engine.settings.min_auto, self.batches, self.audit_rate, seed,
                                         self.min_decisions)

        out = replay(self.seed)
        if self.repeats > 1:
            runs = [out["later_batches"]] + [replay(self.seed + r)["later_batches"] for r in range(1, self.repeats)]
            out["repeats"] = spread(runs, list(range(self.seed, self.seed + self.repeats)))
        return out


SPREAD_KEYS = ("auto_share", "auto_precision", "calibration_efficiency")


def spread(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Min, mean and max over replays of ``SPREAD_KEYS`` of batches 2..N (a replay with no auto-coded record
    has no precision: it is counted in ``n_without_auto``)."""
    out: dict[str, Any] = {"seeds": seeds, "n_without_auto": sum(r["auto_precision"] is None for r in runs)}
    for key in SPREAD_KEYS:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = {"min": round(min(values), 4), "mean": round(float(np.mean(values)), 4),
                    "max": round(max(values), 4)} if values else None
    return out
