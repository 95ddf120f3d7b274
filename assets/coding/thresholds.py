"""Threshold versions: the auto-coding threshold re-estimated from coders' decisions, without retraining.

A model comes with the threshold its fit chose on backtests of the latest human-coded periods (version 1,
``source=fit``). Once coders decide records of the review queue, their decisions are newer evidence about
the same model on the records it codes now: each decided record has the confidence the model gave it and
whether its first code was the coder's. Manual records (below the threshold) are all in the queue, auto-coded
ones only through the audit sample (``audit_rate`` of them), so each audited record stands for
``1 / audit_rate`` auto-coded records. Once there are ``min_decisions`` of them, ``reestimate`` chooses the
lowest threshold whose (weighted) precision over the decisions, less ``MARGIN_Z`` standard errors, reaches the
target, with a 95 % interval, and a new version is recorded when they change; until then the fit's threshold
holds. The margin is against the winner's curse: of the cuts of a few hundred decisions, the lowest that reaches
0.95 is often one that got lucky. Replayed on the RETC time splits over 20 orders, the plain rule automated at
mean precisions 0.922 / 0.920 / 0.942 (2014 / 2017 / 2019), half a standard error at 0.946 / 0.945 / 0.952 with
mean calibration efficiencies 0.86 / 0.85 / 0.92 (chosen on those replays: 0.25 gave 0.939 / 0.935 / 0.945);
keeping the threshold in force when nothing decided lies above it (``reestimate(current=...)``) made them
0.946 / 0.943 / 0.952 and 0.89 / 1.01 / 0.92 (SCIAN's character 2-5-grams; with the 3-4-grams it uses now,
0.952 / 0.940 / 0.952 and 0.84 / 1.11 / 0.91). A recalibration of the decisions' confidences instead of the cut
(expected precision above a threshold from a model of P(correct | confidence) fitted on the weighted decisions)
did not do better over the same 20 orders: Platt scaling on the logit stopped auto-coding 2014 and 2017 (mean
efficiencies 0.08 / 0.19 / 0.85); isotonic regression automated too much at 2017 (precision 0.905 / 0.912 / 0.919
with no margin, 0.01, 0.02 on the target) or too little at 2019 (efficiency 0.66 with 0.03).

The decisions are not pooled with the fit's held-out records: those come from the backtest periods (four
years for SCIAN, about 10.7k records of the RETC register) and would outweigh a few hundred decisions, so the
threshold would follow the history instead of the period being coded. Replayed on the RETC time splits
(``fmlake coding evaluate --time-splits ... --reestimate-batches 5``), pooling kept 2019's threshold at 0.97
(calibration efficiency 0.09) and loosened 2014's and 2017's to precisions of 0.86 and 0.82 (means of 10
replays).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from assets.coding.calibration import wilson_interval

if TYPE_CHECKING:
    import polars as pl


def choose_threshold_weighted(confidence: np.ndarray, correct: np.ndarray, weight: np.ndarray, target: float,
                              min_count: int = 10, margin_z: float = 0.0) -> float | None:
    """``choose_threshold`` with a weight per record (ties kept together; ``min_count`` counts records): the
    lowest threshold whose weighted precision, less ``margin_z`` standard errors (on the Kish effective sample
    size; the binomial variance floored at 1e-4, so an all-correct run keeps a small margin), reaches ``target``."""
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    w = np.asarray(weight, dtype=float)
    if len(conf) == 0:
        return None
    order = np.argsort(-conf, kind="stable")
    c_sorted, ok_sorted, w_sorted = conf[order], ok[order], w[order]
    hits = np.cumsum(w_sorted * ok_sorted)
    total = np.cumsum(w_sorted)
    n = np.arange(1, len(conf) + 1)
    reach = hits >= target * total - 1e-12
    if margin_z > 0:
        p = hits / total
        n_eff = total ** 2 / np.cumsum(w_sorted ** 2)
        reach = p - margin_z * np.sqrt(np.maximum(p * (1 - p), 1e-4) / n_eff) >= target - 1e-12
    last_of_run = np.r_[c_sorted[1:] != c_sorted[:-1], True]
    good = last_of_run & reach & (n >= min_count)
    if not good.any():
        return None
    return float(c_sorted[int(np.flatnonzero(good).max())])


def weighted_precision(confidence: np.ndarray, correct: np.ndarray, weight: np.ndarray,
                       threshold: float | None) -> dict[str, Any]:
    """Weighted precision at or above ``threshold``, with a 95 % Wilson interval on the effective sample size."""
    conf, ok, w = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool), np.asarray(weight, dtype=float)
    if threshold is None or not len(conf):
        return {"n": 0, "precision": None, "ci95": [None, None]}
    sel = conf >= threshold
    if not sel.any():
        return {"n": 0, "precision": None, "ci95": [None, None]}
    ws = w[sel]
    p = float((ws * ok[sel]).sum() / ws.sum())
    n_eff = float(ws.sum() ** 2 / (ws ** 2).sum())   # Kish effective sample size
    lo, hi = wilson_interval(p * n_eff, n_eff) if n_eff >= 1 else (None, None)
    return {"n": int(sel.sum()), "precision": round(p, 4),
            "ci95": [round(lo, 4) if lo is not None else None, round(hi, 4) if hi is not None else None]}


MIN_DECISIONS = 200   # decisions on a model version before its threshold is re-estimated from them
MARGIN_Z = 0.5        # standard errors the re-estimated precision keeps above the target (see the module notes)


def reestimate(decisions: list[dict[str, Any]], target: float, audit_rate: float, min_count: int = 10,
               margin_z: float = MARGIN_Z, current: float | None = None) -> dict[str, Any]:
    """A threshold from coders' decisions on one model version's records.

    ``decisions``: one mapping per decided record with ``confidence`` (the model's), ``correct`` (its first
    code was the coder's) and ``reason`` (``audit``: weight ``1 / audit_rate``, or ``low_confidence``). Returns
    the threshold (the lowest whose precision less ``margin_z`` standard errors reaches the target), its
    expected precision with the 95 % interval, and how many records of each kind it rests on.

    When no threshold reaches the target and no decision lies at or above ``current`` (the threshold in force:
    no audit yet, nor a review from a stricter version), the decisions only say that no lower threshold is safe;
    they say nothing about the records auto-coded above it, so ``current`` is kept (``kept``) rather than
    auto-coding stopped. (Replayed on the RETC splits, 2017 stopped after its first batch in 15 of 20 orders.)"""
    if not 0 < audit_rate <= 1:
        raise ValueError(f"audit_rate must be in (0, 1], got {audit_rate}")
    conf = np.array([float(d["confidence"]) for d in decisions], dtype=float)
    ok = np.array([bool(d["correct"]) for d in decisions], dtype=bool)
    w = np.array([1.0 / audit_rate if d.get("reason") == "audit" else 1.0 for d in decisions], dtype=float)
    t = choose_threshold_weighted(conf, ok, w, target, min_count, margin_z)
    kept = t is None and current is not None and not (conf >= current).any()
    if kept:
        t = current
    return {"threshold": t, "kept": kept, "expected": weighted_precision(conf, ok, w, t),
            "n_reviews": int(sum(d.get("reason") != "audit" for d in decisions)),
            "n_audits": int(sum(d.get("reason") == "audit" for d in decisions))}


def decisions_on(feedback: "pl.DataFrame", coded: "pl.DataFrame", classification: str, model_version: str
                 ) -> list[dict[str, Any]]:
    """Coders' latest valid decisions on records ``model_version`` suggested a code for, with the confidence
    that version gave them (from ``gold.coded_records``) and whether its first code was the coder's."""
    import polars as pl

    from assets.coding.pipeline import latest_feedback

    fb = latest_feedback(feedback, classification).filter(
        (pl.col("model_version") == model_version) & pl.col("suggested_code").is_not_null())
    if fb.height == 0:
        return []
    conf = coded.filter((pl.col("classification") == classification) & (pl.col("model_version") == model_version)
                        & pl.col("confidence").is_not_null()).select("record_id", "confidence")
    rows = fb.join(conf, on="record_id", how="inner")
    return [{"confidence": c, "correct": s == h, "reason": r}
            for c, s, h, r in rows.select("confidence", "suggested_code", "code", "queue_reason").iter_rows()]


def threshold_versions(classification: str, model_version: str, engine: Any, previous: "pl.DataFrame",
                       decisions: list[dict[str, Any]], audit_rate: float, now: Any,
                       min_decisions: int = MIN_DECISIONS) -> list[dict[str, Any]]:
    """The threshold versions of one model (``gold.coding_thresholds`` rows): version 1 from its fit, and, once
    there are ``min_decisions`` decisions, a new version whenever they changed since the latest one. The last
    is current."""
    mine = previous.filter((previous["classification"] == classification)
                           & (previous["model_version"] == model_version)).sort("threshold_version")
    rows = [dict(r, is_current=False) for r in mine.iter_rows(named=True)]
    target = engine.settings.target_precision
    cal = getattr(engine, "calibration", None)
    val_c = cal.oof_confidence if cal is not None else None
    if not rows:
        exp = ((engine.report.validation or {}).get("expected_auto_precision") if engine.report else None) or {}
        ci = exp.get("ci95") or [None, None]
        rows.append({"classification": classification, "model_version": model_version, "threshold_version": 1,
                     "threshold": engine.threshold, "source": "fit", "target_precision": target,
                     "n_validation": int(len(val_c)) if val_c is not None else 0, "n_reviews": 0, "n_audits": 0,
                     "expected_precision": exp.get("precision"), "ci_low": ci[0], "ci_high": ci[1],
                     "estimated_at": now, "is_current": False})
    latest = rows[-1]
    n_rev = sum(d.get("reason") != "audit" for d in decisions)
    n_aud = sum(d.get("reason") == "audit" for d in decisions)
    if len(decisions) >= max(min_decisions, 1) and (n_rev, n_aud) != (latest["n_reviews"], latest["n_audits"]):
        est = reestimate(decisions, target, audit_rate, engine.settings.min_auto, current=latest["threshold"])
        e = est["expected"]
        if not est["kept"]:   # kept: nothing decided above the current threshold says it should change
            rows.append({"classification": classification, "model_version": model_version,
                         "threshold_version": latest["threshold_version"] + 1, "threshold": est["threshold"],
                         "source": "review", "target_precision": target, "n_validation": 0,
                         "n_reviews": est["n_reviews"], "n_audits": est["n_audits"],
                         "expected_precision": e["precision"], "ci_low": e["ci95"][0], "ci_high": e["ci95"][1],
                         "estimated_at": now, "is_current": False})
    rows[-1]["is_current"] = True
    return rows
