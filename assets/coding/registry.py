"""Versioned model artifacts: ``<data root>/models/coding/<classification>/<version>/``.

A version is content-addressed: a hash of the engine version, the config hash and the training
data. Rematerialising with the same data reuses the stored model (idempotent); new human codes
(review feedback) change the data hash and so the version. Each folder holds ``model.pkl``,
``metrics.json`` (fit report with validation metrics) and ``config.json`` (classification, config
hash, columns).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import polars as pl

from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig
from assets.coding.engine import ENGINE_VERSION, CodingEngine, FitReport, load_engine


@dataclass(frozen=True)
class StoredModel:
    classification: str
    version: str
    path: Path
    config_hash: str
    data_hash: str
    reused: bool
    metrics: dict[str, Any]


def data_fingerprint(records: pl.DataFrame) -> str:
    """Order-independent hash of the training records (text, code, time, context)."""
    cols = [c for c in ("text", "code", "time", "context") if c in records.columns]
    if records.height == 0:
        return hashlib.sha256(b"empty").hexdigest()[:16]
    rows = records.select(cols).with_columns([pl.col(c).cast(pl.Utf8).fill_null("") for c in cols]) \
        .select(pl.concat_str(cols, separator="\x1f").alias("r")).sort("r").get_column("r").to_list()
    h = hashlib.sha256()
    for r in rows:
        h.update(r.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()[:16]


def model_version(config: ClassificationConfig, catalog: Catalog | None, data_hash: str) -> str:
    blob = "|".join((ENGINE_VERSION, config.config_hash(), catalog.content_hash() if catalog else "-", data_hash))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def write_artifact_files(folder: Path, engine: CodingEngine, report: FitReport, columns: dict[str, Any],
                         extra: dict[str, Any] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str))
    (folder / "config.json").write_text(json.dumps({
        "classification": engine.config.name, "config_hash": engine.config.config_hash(),
        "engine_version": ENGINE_VERSION, "config": engine.config.as_dict(), "columns": columns, **(extra or {}),
    }, ensure_ascii=False, indent=2, default=list))


def train_and_store(models_root: Path, config: ClassificationConfig, catalog: Catalog | None,
                    records: pl.DataFrame, columns: dict[str, Any],
                    log: Callable[[str], None] | None = None) -> StoredModel:
    """Train (or reuse, when this exact version exists) and store a model under ``models_root``."""
    data_hash = data_fingerprint(records)
    version = model_version(config, catalog, data_hash)
    folder = Path(models_root) / config.name / version
    if (folder / "model.pkl").exists() and (folder / "metrics.json").exists():
        metrics = json.loads((folder / "metrics.json").read_text())
        return StoredModel(config.name, version, folder, config.config_hash(), data_hash, True, metrics)
    engine = CodingEngine(config, catalog)
    report = engine.fit(records, log=log)
    # written to a temporary folder and renamed: a crash never leaves a half-written version
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    engine.save(tmp)
    write_artifact_files(tmp, engine, report, columns, {"data_hash": data_hash, "version": version})
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    tmp.rename(folder)
    return StoredModel(config.name, version, folder, config.config_hash(), data_hash, False, report.as_dict())


def load_stored(path: str | Path) -> CodingEngine:
    return load_engine(path)
