"""``simulate_reestimation``: the review loop replayed on test rows (synthetic predictions, no model)."""

import numpy as np
import pytest

from assets.coding.engine import Predictions
from assets.coding.evaluate import InputError
from assets.coding.simulation import AUDIT_RATE, batch_rows, simulate_reestimation


def calibrated(n: int, seed: int, shift: float = 0.0):
    """Confidences uniform in [0.5, 1) and whether the first code is right, with probability conf - shift:
    at shift 0, precision above t is (1 + t) / 2, so the lowest threshold reaching 0.95 is about 0.9."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 1.0, n)
    return conf, rng.random(n) < np.clip(conf - shift, 0, 1)


def predictions(conf: np.ndarray, ok: np.ndarray, threshold: float | None):
    """Predictions whose first code is 'A' (right when ``ok``) with the engine's auto rule at ``threshold``."""
    n = len(conf)
    pred = Predictions(codes=[["A", "B"]] * n, probabilities=np.tile([0.9, 0.1], (n, 1)), confidence=conf,
                       auto=conf >= threshold if threshold is not None else np.zeros(n, dtype=bool),
                       backoff_code=[None] * n, backoff_level=[None] * n, source=["model"] * n,
                       invalid_reason=[None] * n)
    return ["A" if k else "B" for k in ok], pred


def run(y, pred, fit_threshold, batches=5, **kw):
    return simulate_reestimation(y, pred, fit_threshold, target=0.95, min_count=10, batches=batches, **kw)


def test_a_too_strict_fit_threshold_is_lowered_after_batch_1_and_precision_holds():
    conf, ok = calibrated(6000, seed=1)
    y, pred = predictions(conf, ok, 0.99)
    sim = run(y, pred, 0.99)
    first, *rest = sim["per_batch"]
    assert first["threshold"] == 0.99 and first["threshold_source"] == "fit"
    assert first["auto_share"] < 0.05
    for b in rest:
        assert b["threshold_source"] == "review" and 0.86 < b["threshold"] < 0.94
    later = sim["later_batches"]
    assert later["auto_precision"] >= 0.92 and later["auto_share"] > 0.15
    assert later["calibration_efficiency"] >= 0.8
    fit = sim["later_batches_fit_threshold"]
    assert fit["n"] == later["n"] == 6000 - first["n"]
    assert fit["auto_share"] < 0.05 and fit["calibration_efficiency"] < 0.3
    # every record of batch 1 is decided: the manual ones, and an audit sample of the auto ones
    assert first["n_reviews"] == int((conf[batch_rows(6000, 5)[0][0]] < 0.99).sum())


def test_a_too_lax_fit_threshold_is_raised_by_the_audits():
    conf, ok = calibrated(6000, seed=2, shift=0.1)   # the test period is harder than the fit believed
    y, pred = predictions(conf, ok, 0.6)
    sim = run(y, pred, 0.6, audit_rate=0.1)
    first, *rest = sim["per_batch"]
    assert first["auto_precision"] < 0.85 and first["n_audits"] > 30
    assert all(b["threshold"] is None or b["threshold"] > 0.9 for b in rest)
    assert sim["later_batches"]["auto_precision"] is None or sim["later_batches"]["auto_precision"] >= 0.9


def test_a_batch_never_uses_labels_of_its_own_or_later_batches():
    conf, ok = calibrated(3000, seed=3)
    y, pred = predictions(conf, ok, 0.97)
    base = run(y, pred, 0.97)
    parts, _ = batch_rows(3000, 5)
    thresholds = [b["threshold"] for b in base["per_batch"]]
    assert thresholds[0] == 0.97 and len(set(thresholds)) > 1
    for k in (4, 2):   # flip every label of batch k+1 (0-based k): batches 1..k+1 keep their thresholds
        flipped = list(y)
        for i in parts[k]:
            flipped[i] = "B" if y[i] == "A" else "A"
        other = [b["threshold"] for b in run(flipped, pred, 0.97)["per_batch"]]
        assert other[:k + 1] == thresholds[:k + 1]
        if k < 4:
            assert other[k + 1:] != thresholds[k + 1:]   # ... and the later ones see them (the test can fail)
    # the same seed, the same order; another seed, another
    assert run(y, pred, 0.97) == base
    assert [b["n_reviews"] for b in run(y, pred, 0.97, seed=1)["per_batch"]] != \
        [b["n_reviews"] for b in base["per_batch"]]


def test_the_fit_threshold_holds_until_enough_records_are_decided():
    conf, ok = calibrated(2000, seed=5)
    y, pred = predictions(conf, ok, 0.99)
    per_batch = 2000 // 5
    # batch 1 alone leaves fewer decisions than asked: batch 2 keeps the fit's threshold, batch 3 re-estimates
    sim = run(y, pred, 0.99, min_decisions=per_batch + 50)
    sources = [b["threshold_source"] for b in sim["per_batch"]]
    assert sources == ["fit", "fit", "review", "review", "review"] and sim["min_decisions"] == per_batch + 50
    assert sim["per_batch"][1]["threshold"] == 0.99 and sim["per_batch"][2]["threshold"] < 0.95
    assert [b["threshold_source"] for b in run(y, pred, 0.99, min_decisions=10 ** 6)["per_batch"]] == ["fit"] * 5


@pytest.mark.parametrize("batches, said", [(0, "at least 2"), (1, "at least 2"), (11, "more than the 10 test rows")])
def test_bad_batch_counts_are_refused_clearly(batches, said):
    conf, ok = calibrated(10, seed=6)
    y, pred = predictions(conf, ok, 0.9)
    with pytest.raises(InputError, match=said):
        run(y, pred, 0.9, batches=batches)
    with pytest.raises(InputError, match="audit-rate"):
        run(y, pred, 0.9, batches=2, audit_rate=0.0)


def test_predictions_not_coded_by_the_engines_rule_are_refused():
    conf, ok = calibrated(100, seed=7)
    y, pred = predictions(conf, ok, 0.9)
    with pytest.raises(ValueError, match="engine's rule"):
        run(y, pred, 0.8)


def test_the_audit_rate_is_the_review_queues():
    import inspect

    from assets.coding.defs import CodingConfig
    from assets.coding.pipeline import review_queue

    assert CodingConfig().audit_rate == AUDIT_RATE
    assert inspect.signature(review_queue).parameters["audit_rate"].default == AUDIT_RATE


def test_the_extra_replays_the_fitted_engine_over_several_seeds():
    from types import SimpleNamespace

    import polars as pl

    from assets.coding.evaluate import Fitted
    from assets.coding.simulation import ReestimationSimulation

    conf, ok = calibrated(3000, seed=8)
    y, pred = predictions(conf, ok, 0.97)
    engine = SimpleNamespace(threshold=0.97, settings=SimpleNamespace(target_precision=0.95, min_auto=10))
    out = ReestimationSimulation(5, repeats=4, seed=2, min_decisions=100)(Fitted(engine, y, pred))
    assert out == {**run(y, pred, 0.97, seed=2, min_decisions=100), "repeats": out["repeats"]}
    rep = out["repeats"]
    assert rep["seeds"] == [2, 3, 4, 5] and rep["n_without_auto"] == 0
    others = [run(y, pred, 0.97, seed=s, min_decisions=100)["later_batches"]["auto_share"] for s in rep["seeds"]]
    assert rep["auto_share"] == {"min": min(others), "mean": round(float(np.mean(others)), 4), "max": max(others)}
    assert rep["auto_share"]["min"] < rep["auto_share"]["max"]
    assert "repeats" not in ReestimationSimulation(5)(Fitted(engine, y, pred))
    for bad in ({"batches": 1}, {"batches": 3, "repeats": 0}, {"batches": 3, "audit_rate": 1.5}):
        with pytest.raises(InputError):
            ReestimationSimulation(**bad)
    with pytest.raises(InputError, match="more than the 4 test rows"):
        ReestimationSimulation(5).check(pl.DataFrame({"text": ["a"] * 4}))
