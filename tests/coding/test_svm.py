"""The engine's SVM fits: in worker processes or inline, two at once or alone, the same model."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import sparse

from assets.coding.features import TfidfModel
from assets.coding.svm import SvmFits, fit_inline


@pytest.fixture(scope="module")
def problem():
    # labels unrelated to the features and weights over five orders of magnitude (as summed duplicates with
    # recency weights are): a problem where the order liblinear visits the documents in changes the model
    rng = np.random.default_rng(3)
    X = sparse.random(2000, 3000, density=0.01, format="csr", random_state=4, dtype=np.float32)
    X.data[:] = 1.0
    y = np.array([f"c{i}" for i in rng.integers(0, 12, 2000)], dtype=object)
    w = np.exp(rng.uniform(np.log(1e-3), np.log(100), 2000))
    return X, y, w


def test_fits_in_processes_and_at_once_equal_the_fit_alone(problem):
    X, y, w = problem
    alone = fit_inline(X, y, w, 0.5, 0)
    with SvmFits(workers=2, process_min_nnz=0) as fits, ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda seed: fits.fit(X, y, w, 0.5, seed), [0, 0, 1, 0]))
        assert fits._pool is not None                      # they did go to the worker processes
    assert fits._pool is None                              # stopped on exit
    for coef, intercept, classes in (runs[0], runs[1], runs[3]):
        np.testing.assert_array_equal(coef, alone[0])
        np.testing.assert_array_equal(intercept, alone[1])
        assert list(classes) == list(alone[2])
    assert coef.dtype == np.float32 and coef.shape == (12, 3000)
    assert not np.array_equal(runs[2][0], alone[0])        # the visiting order (the seed) matters here


def test_small_fits_stay_in_the_process(problem):
    X, y, w = problem
    with SvmFits(workers=2) as fits:                       # 60k non-zeros: below the process threshold
        coef = fits.fit(X, y, w, 0.5, 0)[0]
        assert fits._pool is None
    np.testing.assert_array_equal(coef, fit_inline(X, y, w, 0.5, 0)[0])


def test_a_model_pickles_without_its_training_run_fits():
    import pickle

    from assets.coding.config import EngineSettings
    from assets.coding.normalize import Normalizer

    with SvmFits() as fits:
        model = TfidfModel(EngineSettings(), Normalizer(), fits=fits)
        assert "fits" not in pickle.loads(pickle.dumps(model)).__dict__
