"""fmlake coding bench as a function: it trains on the whole frame, predicts it, and reports against the targets."""

import numpy as np
import polars as pl

from assets.coding.bench import PREDICT_RPS_TARGET, TRAIN_SECONDS_TARGET, coding_benchmark
from assets.coding.calibration import top_k
from tests.coding.conftest import noisy_records


def test_benchmark_reports_training_and_prediction_speed(scian_like_config):
    rows = noisy_records(600).with_row_index("row", offset=1).with_columns(pl.col("row").cast(pl.Int64))
    out = coding_benchmark(rows, scian_like_config, None)
    assert out["n_records"] == 600 and 0 < out["n_distinct_records"] < 600   # the synthetic answers repeat
    assert 0 < out["train_seconds"] < TRAIN_SECONDS_TARGET and out["train_cpu_seconds"] > 0
    assert out["predict_records_per_second"] > 0 and out["predict_distinct_records_per_second"] > 0
    assert out["targets"]["train_ok"] is True and out["targets"]["predict_records_per_second"] == PREDICT_RPS_TARGET
    assert len(out["machine"]["load_average_before"]) == 3


def test_top_k_is_a_partial_sort_with_ties_to_the_lower_column():
    P = np.random.default_rng(1).random((200, 300))
    assert (top_k(P, 3) == np.argsort(-P, axis=1)[:, :3]).all()
    assert top_k(np.array([[0.1, 0.5, 0.5, 0.2]]), 2).tolist() == [[1, 2]]
    assert top_k(np.array([[0.3, 0.7]]), 5).tolist() == [[1, 0]]
