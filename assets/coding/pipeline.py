"""The coding pipeline as plain functions over polars frames (the Dagster assets in ``defs.py`` wire them).

Review round trip: ``export_review_queue`` writes ``<root>/exports/coding_review/<classification>_queue.csv``
with an empty ``code`` column; coders fill it and drop the file (or any CSV with ``classification,
record_id, code``) into ``landing/coding_feedback/``. ``read_feedback`` validates every row,
``build_training_set`` merges the valid codes into the training data (the newest review wins over the
source code), and the next model version learns from them.

``reviewed_at`` (optional) says when a coder decided; see ``REVIEWED_AT_FORMATS`` for what is accepted.
When one record is reviewed more than once, the row with the newest date wins; rows without a date rank
before every dated row; among equal or missing dates the later file (file names in sorted order, the
order the landing reads them) and then the later row wins.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import polars as pl

from assets.coding.catalog import Catalog
from assets.coding.config import ClassificationConfig
from assets.coding.engine import CodingEngine
from assets.coding.features import context_string, to_years
from assets.coding.evaluate import row_reasons
from lakehouse import Lakehouse, get_table
from lakehouse.landing import Landing
from lakehouse.tables import coding as T

FEEDBACK_SOURCE = "coding_feedback"
WORKBENCH_SOURCE = "workbench"   # silver.coding_feedback.source_file of decisions made in the coder's workbench
CANNOT_CODE = "cannot_code"      # status of a workbench decision without a code (invalid_reason: the coder's why)
FEEDBACK_REQUIRED = ("classification", "record_id", "code")
FEEDBACK_OPTIONAL = ("coder", "reviewed_at", "suggested_code", "reason", "model_version")
REVIEWED_AT_FORMATS = ("YYYY-MM-DD[ HH:MM[:SS]] (ISO; 'T' also separates; month/day may be unpadded, "
                       "2024-9-30; a time may end in Z or an offset like -06:00, converted to UTC)",
                       "DD/MM/YYYY[ HH:MM[:SS]] (day first, as coders in Mexico write it; 5/3/2024 is 5 March)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"
                       r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:?\d{2})?)?")
_DAY_FIRST_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


# ---------------------------------------------------------------- source records
def source_records(lh: Lakehouse, config: ClassificationConfig) -> pl.DataFrame:
    """The classification's records from its lakehouse table as record_id, text, code, time, context."""
    if config.source is None:
        raise ValueError(f"classification {config.name} has no 'source' table in its config")
    src = config.source
    spec = get_table(src.table)
    cols = [src.id, src.text, src.code, *([src.time] if src.time else []), *src.context]
    missing = [c for c in cols if c not in spec.columns]
    if missing:
        raise ValueError(f"{config.path}: source columns {missing} are not in {src.table} ({spec.columns})")
    df = lh.read(spec, columns=list(dict.fromkeys(cols)))
    times = to_years(df.get_column(src.time)) if src.time and df.height else np.full(df.height, np.nan)
    contexts = [context_string({c: r[c] for c in src.context}) for r in df.select(list(src.context)).iter_rows(named=True)] \
        if src.context else [""] * df.height
    code = df.get_column(src.code).cast(pl.Utf8).str.strip_chars()
    return pl.DataFrame({
        "record_id": df.get_column(src.id).cast(pl.Utf8),
        "text": df.get_column(src.text).cast(pl.Utf8),
        "code": pl.Series(code).replace("", None),
        "time": pl.Series(times, dtype=pl.Float64),
        "context": pl.Series(contexts, dtype=pl.Utf8),
    })


# ---------------------------------------------------------------- feedback
def parse_reviewed_at(value: str | None) -> datetime | None:
    """A coder's ``reviewed_at`` as a naive datetime (UTC when it carried an offset); None when empty.

    Accepts the ``REVIEWED_AT_FORMATS``; anything else (or an impossible date such as 31/02/2024)
    raises ValueError, so a typo never silently changes which review wins.
    """
    text = (value or "").strip()
    if not text:
        return None
    if m := _ISO_DATE.fullmatch(text):
        year, month, day, hour, minute, second, fraction, offset = m.groups()
    elif m := _DAY_FIRST_DATE.fullmatch(text):
        (day, month, year, hour, minute, second), fraction, offset = m.groups(), None, None
    else:
        raise ValueError(f"reviewed_at {text!r} is not a date; accepted: {'; '.join(REVIEWED_AT_FORMATS)}")
    try:
        when = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        int((fraction or "0").ljust(6, "0")))
    except ValueError as exc:
        raise ValueError(f"reviewed_at {text!r} is not a valid date: {exc}") from None
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        when -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return when


def read_feedback(landing: Landing, records_by_class: Mapping[str, set[str]], catalogs: Mapping[str, Catalog],
                  now: datetime | None = None) -> tuple[pl.DataFrame, list[dict[str, str]]]:
    """Every row of every feedback CSV, validated (``coding_feedback`` schema), and the quarantined files.

    A file without the required columns is moved to ``landing/_quarantine/coding_feedback/`` with
    its reason; a bad row is kept with ``status=invalid`` and ``invalid_reason`` (unknown_classification,
    unknown_record, empty_code, unknown_code, or invalid_reviewed_at: a date ``parse_reviewed_at``
    refuses); ``source_file`` and ``source_row`` say where it came from.
    """
    now = now or datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    quarantined: list[dict[str, str]] = []
    for path in landing.files(FEEDBACK_SOURCE, ("*.csv",)):
        try:
            df = pl.read_csv(path, infer_schema_length=0)
        except Exception as exc:  # any parse failure quarantines the file, with the parser's message
            q = landing.quarantine(FEEDBACK_SOURCE, path, f"not a readable CSV: {exc}")
            quarantined.append({"file": str(path), "reason": q.reason})
            continue
        missing = [c for c in FEEDBACK_REQUIRED if c not in df.columns]
        if missing:
            q = landing.quarantine(FEEDBACK_SOURCE, path, f"missing required column(s) {missing}; has {df.columns}")
            quarantined.append({"file": str(path), "reason": q.reason})
            continue
        for i, r in enumerate(df.iter_rows(named=True), start=1):
            cls = (r.get("classification") or "").strip()
            rid = (r.get("record_id") or "").strip()
            code = (r.get("code") or "").strip()
            reason = None
            if cls not in catalogs:
                reason = "unknown_classification"
            elif rid not in records_by_class.get(cls, set()):
                reason = "unknown_record"
            elif not code:
                reason = "empty_code"
            elif code not in catalogs[cls] or not catalogs[cls].config.matches_pattern(code):
                reason = "unknown_code"
            elif not _valid_reviewed_at(r.get("reviewed_at")):
                reason = "invalid_reviewed_at"
            rows.append({
                "classification": cls, "record_id": rid, "code": code or None,
                "coder": r.get("coder"), "reviewed_at": r.get("reviewed_at"),
                "suggested_code": r.get("suggested_code"), "queue_reason": r.get("reason"),
                "model_version": r.get("model_version"),
                "source_file": path.name, "source_row": i, "status": "invalid" if reason else "valid",
                "invalid_reason": reason, "ingested_at": now,
            })
    df = pl.DataFrame(rows, schema=T.coding_feedback.full_schema) if rows else T.coding_feedback.empty()
    return df, quarantined


def with_workbench_decisions(csv_rows: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The feedback read from the CSV files plus the decisions the workbench appended to the stored table
    (``source_file=workbench``): rewriting the table from the files must never drop them."""
    kept = stored.filter(pl.col("source_file") == WORKBENCH_SOURCE).select(list(T.coding_feedback.full_schema))
    return pl.concat([csv_rows.select(list(T.coding_feedback.full_schema)), kept]) if kept.height else csv_rows


def _valid_reviewed_at(value: str | None) -> bool:
    """Whether ``parse_reviewed_at`` accepts the value (its ValueError becomes the row's invalid_reason)."""
    try:
        parse_reviewed_at(value)
    except ValueError:
        return False
    return True


def latest_feedback(feedback: pl.DataFrame, classification: str) -> pl.DataFrame:
    """The newest valid code per record: by the parsed reviewed_at (undated rows rank before dated
    ones), then file name, then row; see the module docstring."""
    valid = feedback.filter((pl.col("classification") == classification) & (pl.col("status") == "valid"))
    when = []
    for value, file, row in valid.select("reviewed_at", "source_file", "source_row").iter_rows():
        try:
            when.append(parse_reviewed_at(value))
        except ValueError as exc:  # read_feedback marks these invalid: a valid one means the table is stale
            raise ValueError(f"coding feedback {file} row {row}: {exc} "
                             "(materialize silver/coding_feedback again)") from None
    return (valid.with_columns(pl.Series("_reviewed", when, dtype=pl.Datetime("us")))
            .sort(["_reviewed", "source_file", "source_row"], nulls_last=False)
            .group_by("record_id", maintain_order=True).agg(pl.all().last())
            .drop("_reviewed"))


# ---------------------------------------------------------------- training set
def build_training_set(records: pl.DataFrame, feedback: pl.DataFrame, config: ClassificationConfig,
                       catalog: Catalog | None, review_time: float | None = None) -> pl.DataFrame:
    """Human-coded records: source codes, overridden or completed by review feedback.

    Reviewed records get ``review_time`` (default: the newest time in the data) so the recency
    weighting treats a coder's code from today as the newest evidence.
    """
    fb = latest_feedback(feedback, config.name).select("record_id", pl.col("code").alias("fb_code"))
    df = records.join(fb, on="record_id", how="left")
    newest = review_time
    if newest is None:
        times = df.get_column("time").drop_nulls().drop_nans()
        newest = float(times.max()) if times.len() else None
    df = df.with_columns(
        origin=pl.when(pl.col("fb_code").is_not_null()).then(pl.lit("review")).otherwise(pl.lit("source")),
        code=pl.coalesce("fb_code", "code"),
        time=pl.when(pl.col("fb_code").is_not_null() & pl.lit(newest is not None))
        .then(pl.lit(newest, dtype=pl.Float64)).otherwise(pl.col("time")),
    ).filter(pl.col("code").is_not_null())
    allowed = set(catalog.assignable()) if catalog is not None else None
    df = df.with_columns(pl.Series("invalid_reason", row_reasons(df, config, allowed), dtype=pl.Utf8))
    return df.select(
        pl.lit(config.name).alias("classification"), "record_id", "text", "code", "time", "context", "origin",
        pl.when(pl.col("invalid_reason").is_null()).then(pl.lit("valid")).otherwise(pl.lit("invalid")).alias("status"),
        "invalid_reason",
    )


def engine_records(training_set: pl.DataFrame) -> pl.DataFrame:
    """The valid rows of a training set, in the shape ``CodingEngine.fit`` takes."""
    return training_set.filter(pl.col("status") == "valid").select("record_id", "text", "code", "time", "context") \
        .sort("record_id")


# ---------------------------------------------------------------- coding
def code_records(engine: CodingEngine, records: pl.DataFrame, training_set: pl.DataFrame,
                 catalog: Catalog | None, model_version: str, now: datetime | None = None,
                 rerank_fn: Callable[[pl.DataFrame], tuple[pl.DataFrame, dict]] | None = None
                 ) -> tuple[pl.DataFrame, dict[str, int]]:
    """Code every record without a source code (``coded_records`` schema) and count the LLM re-ranking.

    Records a coder has already coded in review are ``decision=human`` with the coder's code; the
    others get the model's code, confidence, top-5 and decision (auto / manual / invalid).
    ``rerank_fn`` (optional) reorders the candidates of manual records (``rerank.apply_rerank``).
    """
    now = now or datetime.now(timezone.utc)
    name = engine.config.name
    reviewed = training_set.filter((pl.col("origin") == "review") & (pl.col("status") == "valid")) \
        .select("record_id", pl.col("code").alias("human_code"))
    todo = records.filter(pl.col("code").is_null()).join(reviewed, on="record_id", how="left").sort("record_id")
    pred = engine.predict(todo.get_column("text").to_list(), todo.get_column("context").to_list()).to_frame()
    out = pl.concat([todo.select("record_id", "text", "human_code"), pred], how="horizontal")
    human = pl.col("human_code").is_not_null()
    out = out.with_columns(
        code=pl.when(human).then(pl.col("human_code")).otherwise(pl.col("code")),
        decision=pl.when(human).then(pl.lit("human")).otherwise(pl.col("decision")),
        coded_by=pl.when(human).then(pl.lit("review")).otherwise(pl.lit("model")),
        confidence=pl.when(human).then(None).otherwise(pl.col("confidence")),
    )
    counts: dict[str, int] = {}
    if rerank_fn is not None:
        out, counts = rerank_fn(out)
    titles = catalog.to_frame().rename({"title": "code_title"}) if catalog is not None else \
        pl.DataFrame(schema={"code": pl.Utf8, "code_title": pl.Utf8})
    out = out.join(titles, on="code", how="left")
    out = out.select(
        pl.lit(name).alias("classification"), "record_id", "text", "code", "code_title", "confidence",
        "probability", "candidate_2", "probability_2", "candidate_3", "probability_3", "candidate_4", "probability_4",
        "candidate_5", "probability_5", "decision", "coded_by",
        "backoff_code", "backoff_level", "source", "invalid_reason",
        pl.lit(model_version).alias("model_version"), pl.lit(now, dtype=pl.Datetime("us", "UTC")).alias("coded_at"))
    # typed even when nothing is left to code (every record already has a source code): an empty frame of
    # Null columns would not stack with another classification's rows
    schema = T.coded_records.full_schema
    return out.cast({c: schema[c] for c in out.columns if c in schema}), counts


def _audit_pick(record_id: str, rate: float, salt: str) -> bool:
    """Deterministic sample: the same records are audited on every rerun of a model version."""
    h = int(hashlib.sha256(f"{salt}:{record_id}".encode()).hexdigest()[:8], 16)
    return h < rate * 0xFFFFFFFF


AUDIT_RATE = 0.02   # share of auto-coded records sampled into the review queue to measure real precision


def review_queue(coded: pl.DataFrame, audit_rate: float = AUDIT_RATE) -> pl.DataFrame:
    """Manual records (least confident first) plus an audit sample of auto-coded ones."""
    if coded.height == 0:
        return T.coding_review_queue.empty()
    audit = [d == "auto" and _audit_pick(r, audit_rate, str(v))
             for r, d, v in zip(coded.get_column("record_id"), coded.get_column("decision"),
                                coded.get_column("model_version"))]
    q = coded.with_columns(pl.Series("audit", audit, dtype=pl.Boolean)) \
        .filter((pl.col("decision") == "manual") | pl.col("audit"))
    q = q.with_columns(reason=pl.when(pl.col("audit")).then(pl.lit("audit")).otherwise(pl.lit("low_confidence")))
    q = q.sort(["classification", "reason", "confidence", "record_id"], descending=[False, True, False, False])
    q = q.with_columns(priority=pl.int_range(1, pl.len() + 1).over("classification").cast(pl.Int64))
    return q.select("classification", "record_id", "text", pl.col("code").alias("suggested_code"),
                    pl.col("code_title").alias("suggested_title"), "confidence", "candidate_2", "candidate_3",
                    "candidate_4", "candidate_5", "backoff_code", "reason", "priority", "model_version")


def export_review_queue(queue: pl.DataFrame, folder: Path) -> list[Path]:
    """One CSV per classification for coders: fill ``code`` (and ``coder``, ``reviewed_at`` in one of the
    ``REVIEWED_AT_FORMATS``), drop it in landing/coding_feedback/."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for (name,), part in queue.partition_by("classification", as_dict=True).items():
        path = folder / f"{name}_queue.csv"
        part.select("classification", "record_id", "text", "suggested_code", "suggested_title", "candidate_2",
                    "candidate_3", "candidate_4", "candidate_5", "backoff_code", pl.col("reason"), "model_version", pl.col("confidence").round(4),
                    pl.lit("").alias("code"), pl.lit("").alias("coder"), pl.lit("").alias("reviewed_at")) \
            .write_csv(path)
        paths.append(path)
    return paths


# ---------------------------------------------------------------- quality
def quality_rows(classification: str, model_version: str, metrics: Mapping[str, Any], levels: Iterable[int],
                 feedback: pl.DataFrame) -> pl.DataFrame:
    """Quality per level on validation (from the fit report) and against review feedback."""
    levels = list(levels)
    rows: list[dict[str, Any]] = []
    val = metrics.get("validation") or {}
    if val:
        by = val.get("accuracy_by_level") or {}
        for level, acc in ([(str(L), by.get(str(L))) for L in levels] or [("exact", val.get("accuracy"))]):
            rows.append({"level": level, "split": "validation", "n": val.get("n"), "accuracy": acc,
                         "auto_share": val.get("auto_share"), "auto_precision": val.get("auto_precision"),
                         "macro_f1": val.get("macro_f1")})
    rows = [{**r, "model_version": model_version} for r in rows]
    # review agreement belongs to the model version that suggested the code (from the queue export)
    fb = latest_feedback(feedback, classification).filter(pl.col("suggested_code").is_not_null()) \
        .with_columns(pl.col("model_version").fill_null("unknown"))
    for (version,), part in fb.partition_by("model_version", as_dict=True).items():
        sug = part.get_column("suggested_code").to_list()
        hum = part.get_column("code").to_list()
        # rows from a coder's own CSV have no queue reason: they are not audits
        audit = part.get_column("queue_reason").eq("audit").fill_null(False).to_numpy()
        ok = np.array([a == b for a, b in zip(sug, hum)])
        for level, L in ([(str(L), L) for L in levels] or [("exact", None)]):
            acc = float(np.mean([(a[:L] == b[:L]) if L else a == b for a, b in zip(sug, hum)]))
            rows.append({"level": level, "split": "review", "n": part.height, "accuracy": acc,
                         "auto_share": float(audit.mean()),
                         "auto_precision": float(ok[audit].mean()) if audit.any() else None, "macro_f1": None,
                         "model_version": version})
    if not rows:
        return T.coding_quality.empty()
    return pl.DataFrame([{**r, "classification": classification} for r in rows],
                        schema_overrides={"n": pl.Int64, "accuracy": pl.Float64, "auto_share": pl.Float64,
                                          "auto_precision": pl.Float64, "macro_f1": pl.Float64}) \
        .select(list(T.coding_quality.full_schema))
