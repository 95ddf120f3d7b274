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
    # decisions alone: the manual records below the threshold all decided, audits above weigh 1/audit_rate
    reviews = [{"confidence": c, "correct": c > 0.6, "reason": "low_confidence"} for c in np.linspace(0.5, 0.9, 200)]
    good_audits = [{"confidence": c, "correct": True, "reason": "audit"} for c in np.linspace(0.9, 1.0, 10)]
    base = reestimate(reviews + good_audits, 0.95, 0.02)
    assert base["n_reviews"] == 200 and base["n_audits"] == 10 and base["threshold"] < 0.9
    # audits of auto-coded records that are often wrong raise it
    bad_audits = [{"confidence": c, "correct": i % 3 != 0, "reason": "audit"}
                  for i, c in enumerate(np.linspace(0.9, 1.0, 10))]
    after = reestimate(reviews + bad_audits, 0.95, 0.02)
    assert after["threshold"] is None or after["threshold"] > base["threshold"]
    # an audit weighs 1/audit_rate decided records: at audit_rate 1 the same bad audits matter less
    assert reestimate(reviews + bad_audits, 0.95, 1.0)["threshold"] < 0.9
    with pytest.raises(ValueError, match="audit_rate"):
        reestimate(reviews, 0.95, 0.0)


def test_the_margin_keeps_a_thin_sample_from_loosening_the_threshold():
    # 19 right, then a wrong one: exactly the target on 20 records, which the plain rule takes
    conf = np.linspace(0.99, 0.80, 20)
    ok = np.r_[np.ones(19, dtype=bool), False]
    assert choose_threshold_weighted(conf, ok, np.ones(20), 0.95, 1) == conf[-1]
    # half a standard error below 0.95 on 20 records is 0.93: only the all-right run above it stays
    assert choose_threshold_weighted(conf, ok, np.ones(20), 0.95, 1, margin_z=0.5) == conf[-2]
    # on 400 records at 0.97 the margin (0.004) changes nothing
    big = np.linspace(0.99, 0.5, 400)
    right = np.arange(400) % 100 >= 3
    assert choose_threshold_weighted(big, right, np.ones(400), 0.95, 1, margin_z=0.5) == \
        choose_threshold_weighted(big, right, np.ones(400), 0.95, 1) == big[-1]
    # heavy audit weights shrink the effective sample: the same 20 records as audits keep the margin
    assert choose_threshold_weighted(conf, ok, np.full(20, 50.0), 0.95, 1, margin_z=0.5) == conf[-2]
    # reestimate uses the margin by default; margin_z=0 is the plain rule
    decided = [{"confidence": c, "correct": o, "reason": "low_confidence"} for c, o in zip(conf, ok)]
    assert reestimate(decided, 0.95, 0.02, 1)["threshold"] == conf[-2]
    assert reestimate(decided, 0.95, 0.02, 1, margin_z=0.0)["threshold"] == conf[-1]


def test_decisions_that_say_nothing_above_the_threshold_keep_it():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from assets.coding.thresholds import threshold_versions
    from lakehouse.tables import coding as T

    # 300 reviews below 0.97, four in five right: no cut of them reaches 0.95
    poor = [{"confidence": c, "correct": i % 5 != 0, "reason": "low_confidence"}
            for i, c in enumerate(np.linspace(0.5, 0.969, 300))]
    assert reestimate(poor, 0.95, 0.02)["threshold"] is None          # no threshold in force: none is safe
    kept = reestimate(poor, 0.95, 0.02, current=0.97)
    assert kept["threshold"] == 0.97 and kept["kept"] and kept["expected"]["n"] == 0
    # one audit above it that was wrong is evidence about the auto-coded records: auto-coding stops
    wrong = poor + [{"confidence": 0.99, "correct": False, "reason": "audit"}]
    stop = reestimate(wrong, 0.95, 0.02, current=0.97)
    assert stop["threshold"] is None and not stop["kept"]
    # gold.coding_thresholds records no new version when the current one is kept
    cal = SimpleNamespace(oof_confidence=np.full(50, 0.97), oof_correct=np.ones(50, dtype=bool))
    engine = SimpleNamespace(threshold=0.97, calibration=cal, report=None,
                             settings=SimpleNamespace(target_precision=0.95, min_auto=10))
    previous = pl.DataFrame(schema=T.coding_thresholds.full_schema)
    now = datetime(2026, 12, 3, tzinfo=timezone.utc)
    rows = threshold_versions("scian", "v1", engine, previous, poor, 0.02, now, min_decisions=100)
    assert [(r["source"], r["threshold"], r["is_current"]) for r in rows] == [("fit", 0.97, True)]
    rows = threshold_versions("scian", "v1", engine, previous, wrong, 0.02, now, min_decisions=100)
    assert [(r["source"], r["threshold"]) for r in rows] == [("fit", 0.97), ("review", None)]


def test_threshold_versions_wait_for_enough_decisions_and_rest_on_them_alone():
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from assets.coding.thresholds import threshold_versions
    from lakehouse.tables import coding as T

    cal = SimpleNamespace(oof_confidence=np.full(5000, 0.95), oof_correct=np.zeros(5000, dtype=bool))
    engine = SimpleNamespace(threshold=0.99, calibration=cal, report=None,
                             settings=SimpleNamespace(target_precision=0.95, min_auto=10))
    previous = pl.DataFrame(schema=T.coding_thresholds.full_schema)
    now = datetime(2026, 12, 2, tzinfo=timezone.utc)
    decided = [{"confidence": c, "correct": c > 0.6, "reason": "low_confidence"} for c in np.linspace(0.5, 0.99, 300)]
    few = threshold_versions("scian", "v1", engine, previous, decided[:50], 0.02, now, min_decisions=100)
    assert [r["source"] for r in few] == ["fit"] and few[0]["threshold"] == 0.99 and few[0]["n_validation"] == 5000
    rows = threshold_versions("scian", "v1", engine, previous, decided, 0.02, now, min_decisions=100)
    assert [r["source"] for r in rows] == ["fit", "review"] and rows[1]["is_current"]
    # the held-out records (all wrong at 0.95) are not pooled: the decisions alone lower the threshold
    assert rows[1]["n_validation"] == 0 and rows[1]["n_reviews"] == 300 and rows[1]["threshold"] < 0.95
    assert rows[1]["threshold"] == reestimate(decided, 0.95, 0.02)["threshold"]


def test_scian_config_backtests_four_periods():
    assert load_config("scian").engine.calibration_periods == 4
