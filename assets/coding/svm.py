"""Linear SVM fits of the coding engine, deterministic when several run at once (no Dagster, light imports).

liblinear draws the order in which it visits the training documents from one random generator per process
(scikit-learn's ``newrand``, seeded at the start of each fit). Two fits at once in threads of one process
interleave their draws, so each model depends on the timing of the other: the same records gave models whose
auto-coded share differed in the third decimal from run to run. ``SvmFits`` keeps every fit deterministic: a
large fit runs in one of ``workers`` spawned processes (one fit at a time each, its own generator; spawned, not
forked: deltalake panics in a forked child), a small one in the calling process under a lock (starting a
process costs more than such a fit). Either way a fit gives the model it gives alone.

Only this module is imported by the worker processes: numpy and scikit-learn, not the engine.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

TOL = 1e-3
MAX_ITER = 2000
PROCESS_MIN_NNZ = 200_000   # non-zero features from which a fit goes to a worker process (about 2 s of liblinear)

_inline = threading.Lock()


def fit_linear_svm(X: Any, y: np.ndarray, sample_weight: np.ndarray, C: float, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LinearSVC fit (one-vs-rest, squared hinge, to convergence): ``(coef, intercept, classes)``, the
    weights as float32. Capping liblinear's passes (10-20) saves a fifth to a quarter of a fit but leaves heavily
    weighted duplicate documents (a text coded the same way for years) unsettled, and a code that changed
    meaning can then lose to its old majority."""
    from sklearn.svm import LinearSVC

    svm = LinearSVC(C=C, tol=TOL, random_state=seed, max_iter=MAX_ITER)
    svm.fit(X, y, sample_weight=sample_weight)
    return np.asarray(svm.coef_, dtype=np.float32), np.asarray(svm.intercept_, dtype=np.float32), svm.classes_


class SvmFits:
    """Where the fits of one training run go (a context manager: the worker processes, started at the first
    large fit, stop on exit). ``workers=0``: every fit in the calling process, one at a time."""

    def __init__(self, workers: int = 2, process_min_nnz: int = PROCESS_MIN_NNZ):
        self.workers = workers
        self.process_min_nnz = process_min_nnz
        self._pool = None
        self._lock = threading.Lock()

    def fit(self, X: Any, y: np.ndarray, sample_weight: np.ndarray, C: float, seed: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.workers > 0 and X.nnz >= self.process_min_nnz:
            return self._processes().submit(fit_linear_svm, X, y, sample_weight, C, seed).result()
        return fit_inline(X, y, sample_weight, C, seed)

    def _processes(self):
        with self._lock:
            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "SvmFits":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def fit_inline(X: Any, y: np.ndarray, sample_weight: np.ndarray, C: float, seed: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``fit_linear_svm`` in this process, one at a time (the process's generator is shared by its threads)."""
    with _inline:
        return fit_linear_svm(X, y, sample_weight, C, seed)
