"""Speed of the coding engine (``fmlake coding bench``, run by ``make bench``): training on a whole register,
hyperparameter selection and calibration included, and prediction throughput.

Prediction codes each distinct (text, context) once, so throughput is given twice: on the register as it
comes (answers repeat, as in censuses) and on its distinct records only (every record a new text). The load
average of the machine is reported beside the figures: on a shared machine they are only as good as it was
quiet, and the CPU seconds training took (both cores, its SVM worker processes included) say what it costs whatever
else runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

import polars as pl

from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig
from assets.coding.engine import CodingEngine
from assets.coding.evaluate import prepare_training

TRAIN_SECONDS_TARGET = 60.0
PREDICT_RPS_TARGET = 10_000.0


def coding_benchmark(rows: pl.DataFrame, config: ClassificationConfig, catalog: Catalog | None,
                     log=None) -> dict[str, Any]:
    """Train on every usable row of ``rows`` (``read_records`` shape) and predict them all; the timings."""
    prepared = prepare_training(rows, config, catalog)
    records = prepared.records
    load_before = os.getloadavg()
    engine = CodingEngine(config, catalog)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    report = engine.fit(records, log=log)
    train_s, train_cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    texts, contexts = records.get_column("text").to_list(), records.get_column("context").to_list()
    t1 = time.perf_counter()
    engine.predict(texts, contexts)
    predict_s = time.perf_counter() - t1
    distinct = records.unique(subset=["text", "context"], maintain_order=True)
    t2 = time.perf_counter()
    engine.predict(distinct.get_column("text").to_list(), distinct.get_column("context").to_list())
    distinct_s = time.perf_counter() - t2
    rps = len(texts) / predict_s if predict_s > 0 else None
    return {
        "classification": config.name, "n_records": records.height, "n_distinct_records": distinct.height,
        "train_seconds": round(train_s, 2),
        # CPU seconds of this process (all its threads) and of the SVM worker processes it started: what
        # training costs, whatever else the machine runs
        "train_cpu_seconds": round(train_cpu, 2),
        "train_breakdown": {"validation_by": report.validation_by,
                            "backtest_periods": len((report.validation or {}).get("periods") or []) or 1,
                            "hyperparameter_grid": len((report.validation or {}).get("hyperparameter_grid") or [])},
        "predict_records_per_second": round(rps, 1) if rps else None,
        "predict_distinct_records_per_second": round(distinct.height / distinct_s, 1) if distinct_s > 0 else None,
        "targets": {"train_seconds": TRAIN_SECONDS_TARGET, "predict_records_per_second": PREDICT_RPS_TARGET,
                    "train_ok": train_s <= TRAIN_SECONDS_TARGET, "predict_ok": bool(rps and rps >= PREDICT_RPS_TARGET)},
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have ended (``fit`` stops its SVM workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
