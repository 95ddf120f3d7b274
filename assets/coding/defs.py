"""Dagster definitions of the coding domain: assets, checks, a job and the feedback sensor (no resources).

landing/coding_feedback/*.csv ─> silver.coding_feedback ─┐
silver.economic_activity_text, silver.crime_narratives ───┴─> silver.coding_training_set
silver.coding_training_set ─> gold.coding_models (versioned artifact + WARN check against the last model)
gold.coding_models + silver.coding_feedback ─> gold.coding_thresholds (threshold versions, re-estimated from decisions)
gold.coding_models ─> gold.coded_records ─> gold.coding_review_queue (+ CSV export for coders)
                                         ─> gold.coding_quality
The feedback sensor starts ``coding_feedback_job`` when coders drop a file: their codes are merged
into the training set and a new model version codes the pending records.
The work is done by plain functions in ``assets.coding.pipeline`` and ``assets.coding.engine``; whether a
new model may replace the previous one is ``assets.coding.promotion``.

Nothing here reads a YAML file at import. The assets depend on the source tables of the shipped
classifications, which their YAML names: ``coding_assets`` and ``defs`` are built (once, cached) on first
use (the composition point, a test) by ``build_coding_assets``; the configs of a run are read when it runs.
"""

import functools
import hashlib
import json
from datetime import datetime, timezone

import dagster as dg
import polars as pl

from assets.common import asset_key, markdown_preview, table_metadata, table_result, write_table
from assets.coding import pipeline as P
from assets.coding import thresholds as TH
from assets.coding.catalog import load_catalog
from assets.coding.config import load_config
from assets.coding.engine import ENGINE_VERSION, load_engine
from assets.coding.promotion import DEFAULT_TOLERANCE, compare_models
from assets.coding.registry import train_and_store
from lakehouse.tables import coding as T
from assets.coding.rerank import apply_rerank
from resources.lakehouse import LakehouseResource
from resources.llm import LLMResource

GROUP = "coding"
DEFAULT_CLASSIFICATIONS = ["scian", "crime_types"]

K_FEEDBACK = asset_key(T.coding_feedback)
K_TRAINING = asset_key(T.coding_training_set)
K_MODELS = asset_key(T.coding_models)
K_CODED = asset_key(T.coded_records)
K_QUEUE = asset_key(T.coding_review_queue)
K_QUALITY = asset_key(T.coding_quality)
K_THRESHOLDS = asset_key(T.coding_thresholds)


@functools.cache
def source_keys() -> tuple[dg.AssetKey, ...]:
    """The lakehouse tables the shipped classifications learn from and code (their YAML, read once)."""
    keys = []
    for name in DEFAULT_CLASSIFICATIONS:
        cfg = load_config(name)
        if cfg.source:
            keys.append(asset_key(cfg.source.table))
    return tuple(sorted(set(keys), key=lambda k: k.to_user_string()))


_ASSET_SPECS: list = []


def _asset(*, source_deps: bool = False, **spec):
    """``@dg.asset(**spec)``, applied by ``build_coding_assets`` (with the source tables added to ``deps``
    when ``source_deps``), so that importing this module reads no config."""
    def register(fn):
        _ASSET_SPECS.append((fn, source_deps, spec))
        return fn
    return register


class CodingConfig(dg.Config):
    """Which classifications to run (shipped config names or YAML paths), the audit share, and how much
    worse than the previous model a new one may be on validation before its quality check warns."""

    classifications: list[str] = DEFAULT_CLASSIFICATIONS
    audit_rate: float = P.AUDIT_RATE
    # decisions on a model version before gold.coding_thresholds re-estimates its threshold from them
    reestimate_min_decisions: int = TH.MIN_DECISIONS
    # the most a new model's validation accuracy or auto-coding precision may fall below the previous
    # model's before model_quality_vs_previous fails (WARN); see assets.coding.promotion
    promotion_tolerance: float = DEFAULT_TOLERANCE
    llm_rerank: bool = False   # re-rank manual records with the LLM resource (also per classification in YAML)
    llm_model: str = ""        # default: the YAML's llm_rerank.model, else the LLM resource's first model


def _configs(config: CodingConfig):
    out = []
    for name in config.classifications:
        cfg = load_config(name)
        out.append((cfg, load_catalog(cfg)))
    return out


# ---------------------------------------------------------------- feedback
@_asset(key=K_FEEDBACK, group_name=GROUP, kinds={"delta", "polars"}, source_deps=True,
          metadata=table_metadata(T.coding_feedback),
          check_specs=[dg.AssetCheckSpec("feedback_rows_valid", asset=K_FEEDBACK,
                                         description="Every feedback row names a known classification, record "
                                                     "and code; invalid rows are kept with their reason.")])
def coding_feedback(context: dg.AssetExecutionContext, config: CodingConfig,
                    lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Codes human coders returned from review: every row of ``landing/coding_feedback/*.csv``
    (``classification, record_id, code`` plus the queue export's ``suggested_code, reason,
    model_version`` and the coder's ``reviewed_at``: YYYY-MM-DD[ HH:MM[:SS]] or day-first
    DD/MM/YYYY[ HH:MM]), validated. Files that cannot be read go to ``landing/_quarantine``; bad rows
    are kept with ``status=invalid`` and their file and row (unknown_classification / unknown_record /
    unknown_code / empty_code / invalid_reviewed_at). The newest reviewed_at wins per record; undated
    rows rank before dated ones, and among equal or missing dates the later file, then row, wins.
    Decisions made in the coder's workbench (``source_file=workbench``, appended there at once) are kept.
    """
    lh = lakehouse.lakehouse
    configs = _configs(config)
    records = {cfg.name: set(P.source_records(lh, cfg).get_column("record_id").to_list()) for cfg, _ in configs}
    df, quarantined = P.read_feedback(lakehouse.landing, records, {cfg.name: cat for cfg, cat in configs})
    df = P.with_workbench_decisions(df, lh.read(T.coding_feedback))
    invalid = df.filter(pl.col("status") == "invalid")
    reasons = invalid.group_by("invalid_reason").len().sort("invalid_reason")
    check = dg.AssetCheckResult(
        asset_key=K_FEEDBACK, check_name="feedback_rows_valid", passed=invalid.height == 0 and not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"invalid_rows": invalid.height, "quarantined_files": len(quarantined),
                  "reasons": dg.MetadataValue.md(markdown_preview(reasons, rows=20)),
                  "invalid": dg.MetadataValue.md(markdown_preview(invalid.select(
                      "source_file", "source_row", "record_id", "code", "reviewed_at", "invalid_reason"), rows=20))})
    return write_table(lh, T.coding_feedback, df, check_results=[check], extra={
        "valid_rows": df.height - invalid.height, "invalid_rows": invalid.height,
        "quarantined": dg.MetadataValue.md("\n".join(f"- `{q['file']}`: {q['reason']}" for q in quarantined) or "none"),
    })


# ---------------------------------------------------------------- training set
@_asset(key=K_TRAINING, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_FEEDBACK], source_deps=True,
          metadata=table_metadata(T.coding_training_set))
def coding_training_set(config: CodingConfig, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Human-coded records every classification learns from: the source table's codes, overridden or
    completed by review feedback (``origin=review``, dated as the newest evidence). Rows that cannot
    train stay in the table with ``status=invalid`` and a reason (empty_text, unknown_code)."""
    lh = lakehouse.lakehouse
    feedback = lh.read(T.coding_feedback)
    parts = []
    for cfg, cat in _configs(config):
        parts.append(P.build_training_set(P.source_records(lh, cfg), feedback, cfg, cat))
    df = pl.concat(parts) if parts else T.coding_training_set.empty()
    summary = df.group_by("classification", "origin", "status").len().sort("classification", "origin", "status")
    return write_table(lh, T.coding_training_set, df, extra={
        "by_origin_and_status": dg.MetadataValue.md(markdown_preview(summary, rows=50)),
        "invalid_rows": int((df.get_column("status") == "invalid").sum()),
    })


# ---------------------------------------------------------------- models
def _models_location(lh) -> str:
    """``<root>/models/coding`` (a folder, or a prefix of the object store; written through lh.artifacts)."""
    return lh.path("models", "coding")


@_asset(key=K_MODELS, group_name=GROUP, kinds={"scikitlearn", "delta"}, deps=[K_TRAINING],
          metadata=table_metadata(T.coding_models), pool="coding_model",
          check_specs=[dg.AssetCheckSpec("model_quality_vs_previous", asset=K_MODELS,
                                         description="Validation accuracy and auto-coding precision of the new "
                                                     "model are not worse than the previous model's (WARN).")])
def coding_models(context: dg.AssetExecutionContext, config: CodingConfig,
                  lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """A trained model per classification: a versioned artifact under
    ``<root>/models/coding/<classification>/<version>/`` (model, fit report with validation metrics,
    config hash) and one row per version in this table. The version is a hash of engine, config and
    training data: rerunning on unchanged data reuses the model; new review codes make a new version.
    ``is_current`` marks the version that codes records."""
    lh = lakehouse.lakehouse
    training = lh.read(T.coding_training_set)
    previous = lh.read(T.coding_models)
    now = datetime.now(timezone.utc)
    new_rows, notes, comparisons = [], [], []
    passed = True
    for cfg, cat in _configs(config):
        ts = training.filter(pl.col("classification") == cfg.name)
        records = P.engine_records(ts)
        if records.height == 0:
            raise dg.Failure(f"classification {cfg.name}: no valid human-coded records in {T.coding_training_set.key} "
                             f"to train on (source {cfg.source.table if cfg.source else '-'})")
        columns = {"text_col": cfg.source.text if cfg.source else "text",
                   "context_cols": list(cfg.source.context) if cfg.source else [], "time_col": cfg.source.time if cfg.source else None}
        with lh.artifacts.directory("models", "coding", cfg.name) as cls_dir:   # local, or a mirror uploaded after
            stored = train_and_store(cls_dir.parent, cfg, cat, records, columns, log=context.log.info)
            artifact_path = lh.artifacts.location(stored.path)
        m = stored.metrics
        val = m.get("validation") or {}
        old = previous.filter(pl.col("classification") == cfg.name)
        existing = old.filter(pl.col("model_version") == stored.version)
        trained_at = existing.get_column("trained_at")[0] if existing.height else now
        row = {
            "classification": cfg.name, "model_version": stored.version, "config_hash": stored.config_hash,
            "data_hash": stored.data_hash, "engine_version": ENGINE_VERSION, "trained_at": trained_at,
            "n_train": records.height, "n_invalid": int((ts.get_column("status") == "invalid").sum()),
            "n_validation": m.get("n_validation"), "threshold": m.get("threshold"),
            "val_accuracy": val.get("accuracy"), "val_auto_share": val.get("auto_share"),
            "val_auto_precision": val.get("auto_precision"), "val_macro_f1": val.get("macro_f1"),
            "train_seconds": m.get("seconds"), "artifact_path": artifact_path,
            "metrics_json": json.dumps(m, ensure_ascii=False, default=str), "is_current": True,
        }
        new_rows.append(row)
        notes.append(f"- **{cfg.name}** `{stored.version}` ({'reused' if stored.reused else 'trained'}): "
                     f"{records.height} records, validation accuracy {val.get('accuracy')}, auto share "
                     f"{val.get('auto_share')} at precision {val.get('auto_precision')}")
        # the last model that coded records (other than this version) is the baseline
        prev = old.filter(pl.col("is_current") & (pl.col("model_version") != stored.version))
        if prev.height:
            p = prev.row(0, named=True)
            verdict = compare_models(row, p, config.promotion_tolerance)
            passed = passed and verdict.ok
            comparisons.append({"classification": cfg.name, "previous": p["model_version"], "new": stored.version,
                                "prev_accuracy": p["val_accuracy"], "new_accuracy": row["val_accuracy"],
                                "prev_auto_precision": p["val_auto_precision"],
                                "new_auto_precision": row["val_auto_precision"], **verdict.as_row()})
    new = pl.DataFrame(new_rows, schema=T.coding_models.full_schema)
    names = new.get_column("classification").to_list()
    keep = previous.filter(~(pl.col("classification").is_in(names) & pl.col("model_version").is_in(
        new.get_column("model_version").to_list()))).with_columns(
        is_current=pl.when(pl.col("classification").is_in(names)).then(False).otherwise(pl.col("is_current")))
    df = pl.concat([keep.select(list(T.coding_models.full_schema)), new]).sort("classification", "trained_at")
    written = lh.write(T.coding_models, df, mode="overwrite")
    check = dg.AssetCheckResult(
        asset_key=K_MODELS, check_name="model_quality_vs_previous", passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"comparisons": dg.MetadataValue.md(markdown_preview(pl.DataFrame(comparisons), rows=20)
                                                    if comparisons else "no previous model"),
                  "promotion_tolerance": config.promotion_tolerance})
    return table_result(T.coding_models, lh, written, new, check_results=[check], extra={
        "models": dg.MetadataValue.md("\n".join(notes)),
        "artifacts": dg.MetadataValue.path(_models_location(lh)),
        "versions_in_table": df.height,
    })


# ---------------------------------------------------------------- thresholds
@_asset(key=K_THRESHOLDS, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_MODELS, K_FEEDBACK],
        metadata=table_metadata(T.coding_thresholds))
def coding_thresholds(config: CodingConfig, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Versions of each current model's auto-coding threshold: version 1 is the one its fit chose on backtests
    of the latest human-coded periods; once coders have decided ``reestimate_min_decisions`` records this model
    coded (review queue decisions, and audits of auto-coded records weighted by 1/``audit_rate``), each later
    version is re-estimated from those decisions, without retraining, with its expected precision and 95 %
    interval (:mod:`assets.coding.thresholds`).
    ``gold.coded_records`` codes with the current version."""
    lh = lakehouse.lakehouse
    models = lh.read(T.coding_models).filter(pl.col("is_current"))
    feedback, coded, previous = lh.read(T.coding_feedback), lh.read(T.coded_records), lh.read(T.coding_thresholds)
    now = datetime.now(timezone.utc)
    rows, names = [], []
    for cfg, _ in _configs(config):
        current = models.filter(pl.col("classification") == cfg.name)
        if current.height != 1:
            raise dg.Failure(f"classification {cfg.name}: no current model; materialize {K_MODELS.to_user_string()}")
        m = current.row(0, named=True)
        decisions = TH.decisions_on(feedback, coded, cfg.name, m["model_version"])
        engine = load_engine(lh.artifacts.fetch(m["artifact_path"]))
        rows += TH.threshold_versions(cfg.name, m["model_version"], engine, previous, decisions, config.audit_rate,
                                      now, config.reestimate_min_decisions)
        names.append(cfg.name)
    new = pl.DataFrame(rows, schema=T.coding_thresholds.full_schema)
    models_now = new.select("classification", "model_version").unique()
    keep = previous.join(models_now, on=["classification", "model_version"], how="anti") \
        .with_columns(is_current=pl.when(pl.col("classification").is_in(names)).then(False)
                      .otherwise(pl.col("is_current")))
    df = pl.concat([keep.select(list(T.coding_thresholds.full_schema)), new]) \
        .sort("classification", "model_version", "threshold_version")
    return write_table(lh, T.coding_thresholds, df, preview=new.filter(pl.col("is_current")),
                       extra={"versions": df.height})


def current_threshold(thresholds: pl.DataFrame, classification: str, model_version: str):
    """(True, threshold) of the current threshold version of a model, or (False, None) when it has none."""
    cur = thresholds.filter((pl.col("classification") == classification) & (pl.col("model_version") == model_version)
                            & pl.col("is_current"))
    return (True, cur.get_column("threshold")[0]) if cur.height else (False, None)


# ---------------------------------------------------------------- coded records
@_asset(key=K_CODED, group_name=GROUP, kinds={"scikitlearn", "delta", "polars"}, deps=[K_MODELS, K_THRESHOLDS],
        source_deps=True,
          metadata=table_metadata(T.coded_records),
          check_specs=[dg.AssetCheckSpec("every_uncoded_record_coded", asset=K_CODED, blocking=True,
                                         description="One row per source record without a code: none dropped, "
                                                     "none coded twice; invalid ones carry a reason.")])
def coded_records(context: dg.AssetExecutionContext, config: CodingConfig, lakehouse: LakehouseResource,
                  llm: LLMResource) -> dg.MaterializeResult:
    """Every record without a source code, coded by the current model of its classification: code and
    title, calibrated confidence (estimated probability the code is right), top-5 candidates,
    decision ``auto`` (confidence above the threshold validated for the target precision), ``manual``
    (to a coder, with the reliable code prefix as ``backoff_code``), ``human`` (already coded in
    review) or ``invalid`` (empty text: never coded), and the model version.

    With ``llm_rerank`` (run config or the classification's YAML) and an Ollama LLM resource, an LLM
    re-ranks the top-3 of manual records (``source=llm``); they stay manual."""
    lh = lakehouse.lakehouse
    models = lh.read(T.coding_models).filter(pl.col("is_current"))
    training = lh.read(T.coding_training_set)
    thresholds = lh.read(T.coding_thresholds)
    parts, expected, rerank_notes = [], 0, []
    for cfg, cat in _configs(config):
        current = models.filter(pl.col("classification") == cfg.name)
        if current.height != 1:
            raise dg.Failure(f"classification {cfg.name}: {current.height} current models in "
                             f"{T.coding_models.key}; materialize {K_MODELS.to_user_string()} first")
        model = current.row(0, named=True)
        engine = load_engine(lh.artifacts.fetch(model["artifact_path"]))
        found, threshold = current_threshold(thresholds, cfg.name, model["model_version"])
        if found:  # the threshold version re-estimated from coders' decisions, else the fit's
            engine.threshold = threshold
        records = P.source_records(lh, cfg)
        expected += int(records.get_column("code").is_null().sum())
        rerank_fn = _reranker(context, config, cfg, cat, llm, rerank_notes)
        frame, counts = P.code_records(engine, records, training.filter(pl.col("classification") == cfg.name),
                                       cat, model["model_version"], rerank_fn=rerank_fn)
        if counts:
            rerank_notes.append(f"- {cfg.name}: {counts}")
        parts.append(frame)
    df = pl.concat(parts) if parts else T.coded_records.empty()
    dups = df.select("classification", "record_id").is_duplicated().sum()
    decisions = df.group_by("classification", "decision").len().sort("classification", "decision")
    check = dg.AssetCheckResult(asset_key=K_CODED, check_name="every_uncoded_record_coded",
                                passed=df.height == expected and dups == 0,
                                metadata={"expected": expected, "rows": df.height, "duplicates": int(dups)})
    return write_table(lh, T.coded_records, df, check_results=[check], extra={
        "decisions": dg.MetadataValue.md(markdown_preview(decisions, rows=50)),
        "auto_share": float((df.get_column("decision") == "auto").mean()) if df.height else 0.0,
        "llm_rerank": dg.MetadataValue.md("\n".join(rerank_notes) or "off"),
    })


def _reranker(context, config: CodingConfig, cfg, catalog, llm: LLMResource, notes: list[str]):
    """The LLM re-ranking function for one classification, or None when it is off."""
    wanted = config.llm_rerank or bool(cfg.llm_rerank.get("enabled"))
    if not wanted:
        return None
    if not llm.enabled:
        if config.llm_rerank:
            raise dg.Failure("llm_rerank was requested but the LLM resource has no server (backend='embedded'); "
                             "set FMLAKE_LLM_BACKEND=ollama and OLLAMA_HOST")
        notes.append(f"- {cfg.name}: re-ranking configured but skipped: the LLM backend is embedded (no server)")
        return None
    model = config.llm_model or cfg.llm_rerank.get("model") or (llm.models[0] if llm.models else "")
    if not model:
        raise dg.Failure(f"llm_rerank for {cfg.name}: no model (set llm_model, the YAML's llm_rerank.model "
                         "or FMLAKE_LLM_MODELS)")
    client = llm.get_client()
    context.log.info(f"{cfg.name}: re-ranking manual records with {model}")

    def ask(prompt: str):
        return client.chat(model, prompt, temperature=0)

    return lambda frame: apply_rerank(frame, ask, catalog, cfg.title, map_fn=client.map)


# ---------------------------------------------------------------- review queue
@_asset(key=K_QUEUE, group_name=GROUP, kinds={"delta", "csv"}, deps=[K_CODED],
          metadata=table_metadata(T.coding_review_queue))
def coding_review_queue(config: CodingConfig, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """What coders must look at: manual decisions, least confident first, with the model's top-3 and
    the reliable code prefix, plus a deterministic audit sample of auto-coded records
    (``reason=audit``, ``audit_rate``) that measures the real precision of auto-coding. Also exported
    as ``<root>/exports/coding_review/<classification>_queue.csv`` with empty ``code``, ``coder`` and
    ``reviewed_at`` columns (dates as YYYY-MM-DD[ HH:MM] or day-first DD/MM/YYYY[ HH:MM]): fill them
    and drop the file into ``landing/coding_feedback/``."""
    lh = lakehouse.lakehouse
    coded = lh.read(T.coded_records)
    df = P.review_queue(coded, config.audit_rate)
    written = lh.write(T.coding_review_queue, df, mode="overwrite")
    exports = []
    if df.height:
        with lh.artifacts.directory("exports", "coding_review") as export_dir:
            exports = [lh.artifacts.location(p) for p in P.export_review_queue(df, export_dir)]
    reasons = df.group_by("classification", "reason").len().sort("classification", "reason")
    return table_result(T.coding_review_queue, lh, written, df, extra={
        "by_reason": dg.MetadataValue.md(markdown_preview(reasons, rows=20)),
        "exports": dg.MetadataValue.md("\n".join(f"- `{p}`" for p in exports) or "none"),
    })


# ---------------------------------------------------------------- quality
@_asset(key=K_QUALITY, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_MODELS, K_FEEDBACK],
          metadata=table_metadata(T.coding_quality))
def coding_quality(config: CodingConfig, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Coding quality per classification, model version and code level: accuracy, auto share and
    auto precision on the validation split each model was calibrated on, and agreement of the
    model's suggestions with the codes coders returned (audited auto-coded records give the real
    auto precision)."""
    lh = lakehouse.lakehouse
    models = lh.read(T.coding_models).filter(pl.col("is_current"))
    feedback = lh.read(T.coding_feedback)
    parts = []
    for cfg, _ in _configs(config):
        current = models.filter(pl.col("classification") == cfg.name)
        if current.height != 1:
            raise dg.Failure(f"classification {cfg.name}: no current model; materialize {K_MODELS.to_user_string()}")
        row = current.row(0, named=True)
        parts.append(P.quality_rows(cfg.name, row["model_version"], json.loads(row["metrics_json"]), cfg.levels,
                                    feedback))
    df = pl.concat(parts) if parts else T.coding_quality.empty()
    return write_table(lh, T.coding_quality, df, preview=df.sort("classification", "split", "level"))


ASSET_KEYS = (K_FEEDBACK, K_TRAINING, K_MODELS, K_THRESHOLDS, K_CODED, K_QUEUE, K_QUALITY)


@functools.cache
def build_coding_assets() -> tuple[dg.AssetsDefinition, ...]:
    """The asset definitions of the domain (reads the shipped configs once, for the source tables)."""
    out = []
    for fn, with_sources, spec in _ASSET_SPECS:
        spec = dict(spec)
        if with_sources:
            spec["deps"] = [*source_keys(), *spec.get("deps", [])]
        out.append(dg.asset(**spec)(fn))
    return tuple(out)


coding_feedback_job = dg.define_asset_job(
    "coding_feedback_job", selection=dg.AssetSelection.assets(*ASSET_KEYS),
    description="Merge review feedback, retrain (new model version when the human codes changed) and recode.")


def feedback_fingerprint(landing) -> str | None:
    """Hash of the names, sizes and modification times of the feedback files (None: no file)."""
    files = landing.files(P.FEEDBACK_SOURCE, ("*.csv",))
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def workbench_decisions(lakehouse: LakehouseResource) -> int:
    """How many decisions the coder's workbench has appended to silver.coding_feedback (0: no table yet)."""
    lh = lakehouse.lakehouse
    if not lh.exists(T.coding_feedback):
        return 0
    fb = lh.read(T.coding_feedback, columns=["source_file"])
    return int((fb.get_column("source_file") == P.WORKBENCH_SOURCE).sum())


def feedback_sensor(retrain_after_decisions: int = 20) -> dg.SensorDefinition:
    """The feedback sensor: a run when the set of feedback files changes, or when at least
    ``retrain_after_decisions`` workbench decisions arrived since the last run (cursor: both)."""
    if retrain_after_decisions < 1:
        raise ValueError(f"retrain_after_decisions must be >= 1, got {retrain_after_decisions}")

    @dg.sensor(name="coding_feedback_sensor", job=coding_feedback_job, minimum_interval_seconds=120,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="When coders drop review files into landing/coding_feedback/, or after "
                           f"{retrain_after_decisions} new decisions in the coder's workbench, merge them, retrain "
                           "and recode (one run per distinct state: cursor + run_key).")
    def coding_feedback_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        fp = feedback_fingerprint(lakehouse.landing)
        try:
            cursor = json.loads(context.cursor) if context.cursor else {}
        except json.JSONDecodeError:  # a cursor of the files-only sensor: the fingerprint itself
            cursor = {"files": context.cursor}
        cursor = cursor if isinstance(cursor, dict) else {"files": context.cursor}
        decisions = workbench_decisions(lakehouse)
        new_files = fp is not None and fp != cursor.get("files")
        new_decisions = decisions - int(cursor.get("decisions", 0)) >= retrain_after_decisions
        if not (new_files or new_decisions):
            return dg.SensorResult(skip_reason="no new review feedback")
        state = {"files": fp, "decisions": decisions}
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"coding_feedback:{fp}:{decisions}")],
                               cursor=json.dumps(state))

    return coding_feedback_sensor


coding_feedback_sensor = feedback_sensor()


@functools.cache
def build_defs(retrain_after_decisions: int = 20) -> dg.Definitions:
    """The coding domain's assets, feedback job and sensor (``retrain_after_decisions``: workbench decisions
    that trigger retraining; FMLAKE_CODING_RETRAIN_AFTER_DECISIONS through pipelines/definitions.py)."""
    sensor = coding_feedback_sensor if retrain_after_decisions == 20 else feedback_sensor(retrain_after_decisions)
    return dg.Definitions(assets=list(build_coding_assets()), jobs=[coding_feedback_job], sensors=[sensor])


def __getattr__(name: str):
    # ``defs`` and ``coding_assets`` are built on first use, not at import (PEP 562)
    if name == "defs":
        return build_defs()
    if name == "coding_assets":
        return list(build_coding_assets())
    if name == "SOURCE_KEYS":
        return list(source_keys())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
