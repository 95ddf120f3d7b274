"""Training-data checks and the train-on-one-file, evaluate-on-another benchmark.

``prepare_training`` turns raw rows into what the engine learns from and records every row it
refuses with a reason (``empty_text``, ``missing_code``, ``unknown_code``); ``evaluate`` trains on
one frame and scores another, returning the metrics the ``fmlake coding evaluate`` command prints;
``evaluate_time_splits`` does it once per time split of one register (train on the years up to a year, test
on later ones). The auto-coding threshold is chosen inside ``fit`` on a validation split of the training data;
the test frame is only ever predicted. An ``Extra`` (e.g. ``assets.coding.simulation.ReestimationSimulation``)
adds its own block to the metrics from the fitted engine and its predictions.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import polars as pl

from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig
from assets.coding.calibration import choose_threshold, macro_f1
from assets.coding.engine import CodingEngine, Predictions
from assets.coding.features import context_string, to_years
from assets.coding.normalize import is_blank

INVALID_REASONS = ("empty_text", "missing_code", "unknown_code")


class InputError(ValueError):
    """An input file cannot be used as asked (missing column, bad filter); names the file and field."""


def read_csv(path: str | Path, **kwargs: Any) -> pl.DataFrame:
    """A CSV as polars reads it (every column text unless ``kwargs`` say otherwise), or an InputError
    that names the file and says in plain words what is wrong with it (and on which line, when it can)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    try:
        return pl.read_csv(path, **{"infer_schema_length": 0, **kwargs})
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: not a readable CSV: {csv_problem(path, exc)}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def csv_problem(path: Path, exc: Exception) -> str:
    """Why polars could not read ``path``, for a person: empty file, not UTF-8 (with the line), a quote
    never closed or a row with more fields than the header (with the line); else polars' own reason."""
    data = path.read_bytes()
    if not data.strip():
        return "the file is empty (not even a header row)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        return (f"not UTF-8 text (byte {data[err.start]:#x} on line {line}; Latin-1 / Windows-1252?): "
                "re-save it as UTF-8 (Excel: 'CSV UTF-8')")
    reader = csv.reader(text.splitlines(keepends=True), strict=True)
    start = 1
    try:
        header = next(reader)
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if len(row) > len(header):
                return (f"line {reader.line_num} has {len(row)} fields, the header has {len(header)} "
                        "(a comma inside a text that is not between quotes?)")
    except csv.Error as err:
        return f"line {start}: a quoted field is never closed or has text after its closing quote ({err})"
    message = str(exc)
    if "Original error: ```" in message:  # polars wraps the parser's reason in advice about its own options
        message = message.split("Original error: ```", 1)[1].rstrip("`")
    return " ".join(message.split("\n\n", 1)[0].split())


@dataclass
class PreparedTraining:
    records: pl.DataFrame       # text, code, time, context, row
    invalid: pl.DataFrame       # row, reason, text, code

    def invalid_counts(self) -> dict[str, int]:
        counts = self.invalid.group_by("reason").len()
        return {r: int(n) for r, n in counts.iter_rows()} if counts.height else {}


def parse_years(spec: str | None) -> set[int] | None:
    """'2008-2014' / '2017,2019' / '2008-2010,2012' -> set of years; None -> None."""
    if spec is None or str(spec).strip() == "":
        return None
    out: set[int] = set()
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                if b < a:
                    raise ValueError
                out.update(range(a, b + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise InputError(f"cannot read years {spec!r}: use e.g. 2008-2014 or 2017,2019") from None
    return out


def parse_time_splits(spec: str) -> list[tuple[int, set[int]]]:
    """'2013:2014,2014:2017,2017:2019-2020' -> [(2013, {2014}), ...]: train on the years up to the first
    number, test on the year (or range) after the colon."""
    out: list[tuple[int, set[int]]] = []
    for part in str(spec).split(","):
        part = part.strip()
        if not part:
            continue
        last, sep, test = part.partition(":")
        try:
            if not sep:
                raise ValueError
            train_last, test_years = int(last), parse_years(test)
        except (ValueError, InputError):
            raise InputError(f"cannot read time split {part!r}: use LAST_TRAIN_YEAR:TEST_YEARS, "
                             "e.g. 2013:2014,2014:2017,2017:2019") from None
        if not test_years or min(test_years) <= train_last:
            raise InputError(f"time split {part!r}: the test years must come after {train_last}")
        out.append((train_last, test_years))
    if not out:
        raise InputError(f"no time split in {spec!r}")
    return out


def read_records(path: str | Path, text_col: str, code_col: str | None, time_col: str | None = None,
                 context_cols: Sequence[str] = (), years: set[int] | None = None) -> pl.DataFrame:
    """A CSV as ``text``, ``code``, ``time`` (years), ``context`` columns plus ``row`` (1-based data row)."""
    df = read_csv(path)
    wanted = [text_col, *([code_col] if code_col else []), *([time_col] if time_col else []), *context_cols]
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing} (has {df.columns})")
    df = df.with_row_index("row", offset=1)
    times = to_years(df.get_column(time_col)) if time_col else np.full(df.height, np.nan)
    df = df.with_columns(pl.Series("time", times, dtype=pl.Float64))
    if years is not None:
        if not time_col:
            raise InputError("--train-years/--test-years need a time column (--time-col)")
        df = df.filter(pl.col("time").floor().is_in([float(y) for y in sorted(years)]))
    contexts = [context_string({c: r[c] for c in context_cols}) for r in df.select(context_cols).iter_rows(named=True)] \
        if context_cols else [None] * df.height
    return pl.DataFrame({
        "row": df.get_column("row").cast(pl.Int64),
        "text": df.get_column(text_col),
        "code": df.get_column(code_col).str.strip_chars() if code_col else pl.Series([None] * df.height, dtype=pl.Utf8),
        "time": df.get_column("time"),
        "context": pl.Series(contexts, dtype=pl.Utf8),
    })


def row_reasons(df: pl.DataFrame, config: ClassificationConfig, allowed: set[str] | None) -> list[str | None]:
    """Why each coded row (``text``, ``code``) cannot train a model, or None when it can.

    ``empty_text``: no letter or digit; ``missing_code``: no code; ``unknown_code``: a code
    ``allowed`` (the catalogue's assignable codes) does not list, or not matching ``code_pattern``.
    """
    reasons: list[str | None] = []
    for text, code in zip(df.get_column("text").to_list(), df.get_column("code").to_list()):
        if is_blank(text):
            reasons.append("empty_text")
        elif code is None or str(code).strip() == "":
            reasons.append("missing_code")
        elif (allowed is not None and code not in allowed) or not config.matches_pattern(code):
            reasons.append("unknown_code")
        else:
            reasons.append(None)
    return reasons


def prepare_training(df: pl.DataFrame, config: ClassificationConfig, catalog: Catalog | None) -> PreparedTraining:
    """Split raw training rows into usable records and refused rows (with a reason each).

    ``empty_text``: no letter or digit; ``missing_code``: no code; ``unknown_code``: a code the
    catalogue does not list, or not matching ``code_pattern``.
    """
    allowed = set(catalog.assignable()) if catalog is not None and len(catalog) else None
    reasons = row_reasons(df, config, allowed)
    tagged = df.with_columns(pl.Series("reason", reasons, dtype=pl.Utf8))
    invalid = tagged.filter(pl.col("reason").is_not_null())
    keep = [c for c in ("row", "text", "code", "time", "context") if c in tagged.columns]
    return PreparedTraining(
        records=tagged.filter(pl.col("reason").is_null()).select(keep),
        invalid=invalid.select([c for c in ("row", "reason", "text", "code") if c in invalid.columns]))


def score(y_true: Sequence[str | None], y_pred: Sequence[str | None], auto: np.ndarray,
          levels: Sequence[int]) -> dict[str, Any]:
    """Accuracy (exact), by level (code prefixes), auto share/precision, macro F1."""
    y = ["" if c is None else str(c) for c in y_true]
    p = ["" if c is None else str(c) for c in y_pred]
    correct = np.array([a == b for a, b in zip(y, p)], dtype=bool)
    by_level = {}
    for L in levels:
        by_level[str(L)] = round(float(np.mean([a[:L] == b[:L] and len(b) >= L for a, b in zip(y, p)])), 4) if y else None
    auto = np.asarray(auto, dtype=bool)
    return {
        "accuracy": round(float(correct.mean()), 4) if len(y) else None,
        "accuracy_by_level": by_level or {"exact": round(float(correct.mean()), 4) if len(y) else None},
        "auto_share": round(float(auto.mean()), 4) if len(y) else None,
        "auto_precision": round(float(correct[auto].mean()), 4) if auto.any() else None,
        "macro_f1": round(macro_f1(y, p), 4) if len(y) else None,
    }


@dataclass
class Fitted:
    """What ``evaluate`` trained and predicted: the engine, the test rows' codes and its predictions of them."""

    engine: CodingEngine
    y: list[str | None]
    pred: Predictions


class Extra(Protocol):
    """An analysis ``evaluate`` adds to its metrics: ``check`` the test rows before any training (raise
    ``InputError`` when it cannot run on them), then compute its block from the fitted engine."""

    name: str

    def check(self, test: pl.DataFrame) -> None: ...

    def __call__(self, fitted: Fitted) -> dict[str, Any]: ...


def evaluate(train: pl.DataFrame, test: pl.DataFrame, config: ClassificationConfig, catalog: Catalog | None,
             log: Callable[[str], None] | None = None, embedder: Any | None = None,
             extra: Extra | None = None) -> dict[str, Any]:
    """Train on ``train`` (raw rows), predict ``test``, return the metrics dictionary (with ``extra``'s block
    under ``extra.name``; the other figures do not depend on it)."""
    log = log or (lambda m: None)
    if extra is not None:
        extra.check(test)
    prepared = prepare_training(train, config, catalog)
    if prepared.records.height == 0:
        raise InputError(f"no usable training rows: {prepared.invalid_counts()}")
    engine = CodingEngine(config, catalog, embedder=embedder)
    t0 = time.perf_counter()
    report = engine.fit(prepared.records, log=log)
    train_seconds = time.perf_counter() - t0
    texts = test.get_column("text").to_list()
    contexts = test.get_column("context").to_list()
    t1 = time.perf_counter()
    pred = engine.predict(texts, contexts)
    predict_seconds = time.perf_counter() - t1
    y = test.get_column("code").to_list()
    metrics = score(y, pred.top1, pred.auto, config.levels)
    metrics.update(oracle_diagnostics(y, pred, config.engine.target_precision, config.engine.min_auto))
    train_codes = set(prepared.records.get_column("code").to_list())
    out: dict[str, Any] = {
        "classification": config.name,
        **metrics,
        "train_seconds": round(train_seconds, 2),
        "predict_rows_per_second": round(len(texts) / predict_seconds, 1) if predict_seconds > 0 else None,
        "n_train": prepared.records.height,
        "n_test": len(texts),
        "n_train_invalid": prepared.invalid_counts(),
        "n_test_invalid": int(sum(r is not None for r in pred.invalid_reason)),
        "n_test_codes_unseen_in_training": int(sum(c not in train_codes for c in y if c is not None)),
        "threshold": report.threshold,
        "target_precision": config.engine.target_precision,
        "expected_auto_precision": report.validation.get("expected_auto_precision"),
        "validation": {"by": report.validation_by, **report.validation},
        "backoff": _backoff_summary(y, pred, config.levels),
        "drift": drift_summary(prepared.records, texts, y, pred.top1, engine.normalizer.normalize),
        "sources": {s: int(n) for s, n in zip(*np.unique(pred.source, return_counts=True))},
        "engine": {"backend": engine.settings.backend, "recency_tau": engine.settings.recency_tau,
                   "C": engine.settings.C, "context_weight": engine.settings.context_weight,
                   "embeddings": config.engine.embeddings_backend, "temperature": report.temperature,
                   "memory_weight": report.memory_weight},
        "notes": report.notes,
    }
    if extra is not None:
        out[extra.name] = extra(Fitted(engine, y, pred))
    return out


def evaluate_time_splits(rows: pl.DataFrame, splits: Sequence[tuple[int, set[int]]], config: ClassificationConfig,
                         catalog: Catalog | None, log: Callable[[str], None] | None = None,
                         embedder: Any | None = None, extra: Extra | None = None) -> list[dict[str, Any]]:
    """One model per time split of ``rows`` (``read_records`` frames with years in ``time``): trained on the
    years up to ``last``, evaluated on ``test_years`` (``parse_time_splits``). Every split is checked (rows on
    both sides, ``extra.check``) before the first model trains. Each result has ``split`` (its years, a label)."""
    log = log or (lambda m: None)
    year = pl.col("time").floor()
    parts = []
    for last, test_years in splits:
        train = rows.filter(year <= last)
        test = rows.filter(year.is_in([float(y) for y in sorted(test_years)]))
        label = f"<={last} -> {','.join(map(str, sorted(test_years)))}"
        if train.height == 0 or test.height == 0:
            raise InputError(f"time split {label}: {train.height} training rows, {test.height} test rows")
        if extra is not None:
            try:
                extra.check(test)
            except InputError as exc:
                raise InputError(f"time split {label}: {exc}") from None
        parts.append((last, sorted(test_years), label, train, test))
    results = []
    for last, test_years, label, train, test in parts:
        log(f"split {label}: training on {train.height} rows ...")
        m = evaluate(train, test, config, catalog, embedder=embedder, extra=extra)
        m["split"] = {"train_last_year": last, "test_years": test_years, "label": label}
        results.append(m)
    return results


def oracle_diagnostics(y: Sequence[str | None], pred, target: float, min_count: int) -> dict[str, Any]:
    """Diagnostics only, never used to choose anything: the share of test records a threshold chosen on the
    test set itself would automate at ``target`` precision (``oracle_auto_share``; records the model cannot
    auto-code, catalogue suggestions and empty texts, are never counted), and ``calibration_efficiency`` =
    ``auto_share / oracle_auto_share`` (how much of what could safely be automated the real threshold got)."""
    eligible = np.array([s not in ("catalog", "none") and r is None for s, r in zip(pred.source, pred.invalid_reason)],
                        dtype=bool)
    correct = np.array([a is not None and a == b for a, b in zip(y, pred.top1)], dtype=bool)
    conf = np.asarray(pred.confidence, dtype=float)
    t = choose_threshold(conf[eligible], correct[eligible], target, min_count) if eligible.any() else None
    oracle = (conf >= t) & eligible if t is not None else np.zeros(len(conf), dtype=bool)
    share = float(oracle.mean()) if len(conf) else 0.0
    auto_share = float(np.asarray(pred.auto, dtype=bool).mean()) if len(conf) else 0.0
    return {"oracle_threshold": t, "oracle_auto_share": round(share, 4),
            "calibration_efficiency": round(auto_share / share, 4) if share > 0 else None}


def drift_summary(train: pl.DataFrame, test_texts: Sequence[str | None], y: Sequence[str | None],
                  y_pred: Sequence[str | None], normalize: Callable[[str | None], str]) -> dict[str, Any]:
    """How much of the test set repeats a training text, and how often its code is still the one coders gave last.

    A test record is *seen* when its normalised text is a training text. For a seen text, ``seen_same_code_share``
    is the share whose test code equals the code of that text's latest training record (ties in time: its most
    frequent code there): an upper bound of any coder that repeats past decisions, and a direct measure of label
    drift between the training and the test period. Accuracy is split into seen and new texts.
    """
    norm = [normalize(t) for t in train.get_column("text").to_list()]
    test_norm = [normalize(t) if not is_blank(t) else None for t in test_texts]
    times = train.get_column("time").fill_nan(None).fill_null(-np.inf).to_list() if "time" in train.columns \
        else [-np.inf] * train.height
    votes: dict[str, dict[str, tuple[float, int]]] = {}
    for t, c, when in zip(norm, train.get_column("code").to_list(), times):
        latest, count = votes.setdefault(t, {}).get(c, (-np.inf, 0))
        votes[t][c] = (max(latest, when), count + 1)
    last = {t: max(codes.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[0]))[0] for t, codes in votes.items()}
    seen = np.array([t is not None and t in last for t in test_norm], dtype=bool)
    ok = np.array([a is not None and a == b for a, b in zip(y, y_pred)], dtype=bool)
    same = np.array([s and last[t] == c for s, t, c in zip(seen, test_norm, y)], dtype=bool)

    def share(mask: np.ndarray, of: np.ndarray) -> float | None:
        return round(float(mask[of].mean()), 4) if of.any() else None

    return {"n_seen": int(seen.sum()), "n_new": int((~seen).sum()),
            "seen_share": round(float(seen.mean()), 4) if len(seen) else None,
            "seen_same_code_share": share(same, seen),
            "accuracy_seen": share(ok, seen), "accuracy_new": share(ok, ~seen)}


def _backoff_summary(y: Sequence[str | None], pred, levels: Sequence[int]) -> dict[str, Any]:
    """Among records left to coders, how many got a reliable code prefix and how often it was right."""
    manual = [i for i in range(len(pred)) if not pred.auto[i] and pred.invalid_reason[i] is None]
    with_prefix = [i for i in manual if pred.backoff_code[i] is not None]
    right = [i for i in with_prefix if y[i] is not None and str(y[i]).startswith(pred.backoff_code[i])]
    return {"manual": len(manual), "with_prefix": len(with_prefix),
            "prefix_precision": round(len(right) / len(with_prefix), 4) if with_prefix else None,
            "by_level": {str(L): sum(1 for i in with_prefix if pred.backoff_level[i] == L) for L in levels}}
