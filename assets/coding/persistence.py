"""Saving and loading a fitted coding engine: ``<folder>/model.pkl`` (pickle of the engine, written to a
temporary file and renamed) plus, for the transformer backend, its weights in ``<folder>/transformer/``
(``save_pretrained``; never inside the pickle). Embedders and loggers are rebuilt on load, never pickled.
Only open artifacts this project wrote: a pickle runs code when it is loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from assets.coding.errors import EngineError

MODEL_FILE = "model.pkl"


def save(engine: Any, folder: str | Path) -> Path:
    """Write ``engine`` under ``folder``; returns the path of the pickle."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    embedder, engine.embedder = engine.embedder, None  # models are rebuilt on load, never pickled
    cache, engine._emb_cache = engine._emb_cache, {}
    log, engine._log = engine._log, None
    if hasattr(engine.base, "save_weights"):
        engine.base.save_weights(folder / "transformer")
    try:
        tmp = folder / (MODEL_FILE + ".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(engine, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(folder / MODEL_FILE)
    finally:
        engine.embedder, engine._emb_cache, engine._log = embedder, cache, log
    return folder / MODEL_FILE


def load(folder: str | Path, expected: type) -> Any:
    """The engine saved under ``folder`` (an instance of ``expected``), with its weights reattached."""
    path = Path(folder) / MODEL_FILE
    if not path.exists():
        raise EngineError(f"no model at {path}")
    try:
        with open(path, "rb") as fh:
            engine = pickle.load(fh)
    except (AttributeError, ModuleNotFoundError, ImportError) as exc:
        # a model pickled by an older engine layout: its classes no longer exist under those names
        raise EngineError(f"{path} was saved by an older engine version ({exc}); train it again") from None
    if not isinstance(engine, expected):
        raise EngineError(f"{path} does not hold a {expected.__name__}")
    engine._log = lambda m: None
    if hasattr(engine.base, "load_weights"):
        engine.base.load_weights(Path(folder) / "transformer")
    return engine
