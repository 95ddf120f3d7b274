"""``evaluate_time_splits``: one model per time split, every split checked before the first model trains."""

import numpy as np
import pytest

from assets.coding.catalog import load_catalog
from assets.coding.evaluate import InputError, evaluate_time_splits
from assets.coding.simulation import ReestimationSimulation
from tests.coding.conftest import noisy_records


def test_time_splits_train_on_the_years_up_to_each_split_and_add_the_extra_block(scian_like_config):
    rows = noisy_records(1500).with_columns(row=np.arange(1, 1501))   # years 2015..2020
    logged = []
    out = evaluate_time_splits(rows, [(2018, {2019}), (2019, {2020})], scian_like_config,
                               load_catalog(scian_like_config), log=logged.append,
                               extra=ReestimationSimulation(3))
    assert [m["split"]["label"] for m in out] == ["<=2018 -> 2019", "<=2019 -> 2020"]
    assert [m["n_test"] for m in out] == [250, 250] and [m["n_train"] for m in out] == [1000, 1250]
    assert logged == ["split <=2018 -> 2019: training on 1000 rows ...", "split <=2019 -> 2020: training on 1250 rows ..."]
    for m in out:
        assert m["reestimation"]["per_batch"][0]["threshold"] == m["threshold"]
        assert sum(b["n"] for b in m["reestimation"]["per_batch"]) == m["n_test"]


@pytest.mark.parametrize("splits, extra, said", [
    ([(2018, {2019}), (2020, {2021})], None, "time split <=2020 -> 2021: 1500 training rows, 0 test rows"),
    ([(2018, {2019}), (2019, {2020})], ReestimationSimulation(251), "time split <=2018 -> 2019: --reestimate-batches 251"),
])
def test_a_bad_split_is_refused_before_any_model_trains(scian_like_config, splits, extra, said):
    rows = noisy_records(1500).with_columns(row=np.arange(1, 1501))
    logged = []
    with pytest.raises(InputError, match=said):
        evaluate_time_splits(rows, splits, scian_like_config, None, log=logged.append, extra=extra)
    assert logged == []
