"""Thresholds that hold across time: backtest periods, the strictest per-period threshold, expected precision
with its interval, the oracle diagnostics of the evaluation, and re-estimation from coders' decisions."""

import numpy as np
import polars as pl
import pytest

from assets.coding.calibration import expected_precision, wilson_interval
from assets.coding.config import EngineSettings, load_config
from assets.coding.engine import CodingEngine
from assets.coding.evaluate import oracle_diagnostics
from assets.coding.selection import backtest_masks, validation_mask
from assets.coding.thresholds import choose_threshold_weighted, reestimate
from tests.coding.conftest import noisy_records


def test_backtests_are_the_whole_periods_before_the_validation_period():
    times = np.array([2015.0] * 40 + [2016.0] * 40 + [2017.0] * 40 + [2018.0] * 40 + [np.nan] * 5)
    s = EngineSettings(calibration_periods=3, validation_fraction=0.2, min_validation=30)
    val, _ = validation_mask(s, times, len(times))
    assert set(times[val]) == {2018.0}
    masks = backtest_masks(s, times, val)
    assert [p for _, _, p in masks] == [2017, 2016]            # newest first, calibration_periods - 1 of them
    before, part, _ = masks[0]
    assert set(times[part]) == {2017.0} and set(times[before]) == {2015.0, 2016.0}
    assert backtest_masks(EngineSettings(calibration_periods=1), times, val) == []
    small = EngineSettings(calibration_periods=3, validation_fraction=0.2, min_validation=41)
    assert backtest_masks(small, times, val) == []               # periods smaller than min_validation are skipped


def test_threshold_is_the_strictest_that_reaches_the_target_in_every_period(scian_like_config):
    data = noisy_records(1500)
    one = CodingEngine(scian_like_config.with_engine(validation_fraction=0.15))
    one.fit(data)
    many = CodingEngine(scian_like_config.with_engine(validation_fraction=0.15, calibration_periods=3))
    report = many.fit(data)
    periods = report.validation["periods"]
    assert [p["period"] for p in periods][1:] == ["period 2019", "period 2018"]
    reached = [p["threshold"] for p in periods if p["threshold"] is not None]
    assert reached and many.threshold == max(reached)
    for p in periods:  # at the chosen threshold every backtest period reaches the target (or automates nothing)
        at = p["at_chosen"]
        assert at["precision"] is None or at["precision"] >= 0.95
    exp = report.validation["expected_auto_precision"]
    assert exp["ci95"][0] <= exp["precision"] <= exp["ci95"][1]
    assert many.calibration.oof_period.max() == len(periods) - 1


def test_wilson_interval_and_expected_precision():
    lo, hi = wilson_interval(95, 100)
    assert 0.88 < lo < 0.95 < hi < 0.99
    assert wilson_interval(0, 0) == (None, None)
    e = expected_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 1, 0, 0], dtype=bool), 0.75)
    assert e["n"] == 2 and e["precision"] == 1.0 and e["ci95"][1] == 1.0


def test_oracle_diagnostics_never_count_catalogue_or_empty_records():
    class P:
        confidence = np.array([0.99, 0.98, 0.97, 0.5, 0.0, 0.0] * 5)
        top1 = ["a", "a", "a", "b", "c", None] * 5
        source = ["model", "model", "model", "model", "catalog", "none"] * 5
        invalid_reason = [None, None, None, None, None, "empty_text"] * 5
        auto = np.array([True, False, False, False, False, False] * 5)
    y = ["a", "a", "a", "x", "c", None] * 5
    d = oracle_diagnostics(y, P, 0.95, 10)
    assert d["oracle_threshold"] == 0.97 and d["oracle_auto_share"] == 0.5
    assert d["calibration_efficiency"] == round((1 / 6) / 0.5, 4)


def test_weighted_threshold_and_reestimation_from_audits():
    conf = np.array([0.99, 0.95, 0.9, 0.8, 0.7])
    ok = np.array([1, 1, 0, 1, 0], dtype=bool)
    assert choose_threshold_weighted(conf, ok, np.ones(5), 0.75, 1) == 0.8
    assert choose_threshold_weighted(conf, ok, np.array([1, 1, 5, 1, 1]), 0.75, 1) == 0.95  # a heavy miss at 0.9
    # audits of auto-coded records (each stands for 1/audit_rate records) that are often wrong raise the threshold
    val_c, val_ok = np.linspace(0.5, 1.0, 200), np.linspace(0.5, 1.0, 200) > 0.6
    base = reestimate(val_c, val_ok, [], 0.95, 0.02)
    bad_audits = [{"confidence": c, "correct": i % 3 != 0, "reason": "audit"}
                  for i, c in enumerate(np.linspace(base["threshold"], 1.0, 30))]
    after = reestimate(val_c, val_ok, bad_audits, 0.95, 0.02)
    assert after["n_audits"] == 30 and after["n_validation"] == 200
    assert after["threshold"] is None or after["threshold"] > base["threshold"]
    with pytest.raises(ValueError, match="audit_rate"):
        reestimate(val_c, val_ok, [], 0.95, 0.0)


def test_scian_config_backtests_four_periods():
    assert load_config("scian").engine.calibration_periods == 4
