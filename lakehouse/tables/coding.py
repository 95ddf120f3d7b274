"""Tables of the coding domain (automatic coding of free text into a classification).

landing/coding_feedback/*.csv ─> silver.coding_feedback (human codes back from review, validated)
silver source tables + feedback ─> silver.coding_training_set ─> model artifact + gold.coding_models
gold.coding_models + uncoded records ─> gold.coded_records ─> gold.coding_review_queue
                                                            ─> gold.coding_quality
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import Col, TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
B = pl.Boolean()
TS = pl.Datetime("us", "UTC")

CLASSIFICATION = ("Classification the record is coded in: scian (economic activity, 6-digit SCIAN 2018 codes) or "
                  "crime_types (crime-type codes); the name of its config in assets/coding/configs.")
RECORD = ("Id of the record in the classification's source table (silver.economic_activity_text or "
          "silver.crime_narratives record_id).")
MODEL_VERSION = ("Version of the coding model: hash of engine version, config, catalogue and training data "
                 "(gold.coding_models.model_version).")
TEXT = "The record's free text as the model read it (source table's text or narrative)."

coding_feedback = TableSpec(
    "silver", "coding_feedback", {
        "classification": Col(U, CLASSIFICATION + " As the coder's file gives it."),
        "record_id": Col(U, RECORD),
        "code": Col(U, "Code the coder assigned (null when the cell was empty)."),
        "coder": Col(U, "Who coded the row, as the coder's file gives it."),
        "reviewed_at": Col(U, "When the coder decided, as written: YYYY-MM-DD[ HH:MM], ISO with offset or "
                              "day-first DD/MM/YYYY[ HH:MM]; blank = undated."),
        "suggested_code": Col(U, "Code the model suggested in the review queue export (null in a coder's own "
                                 "file)."),
        "queue_reason": Col(U, "Why the record was in the queue: low_confidence or audit (the CSV's reason "
                               "column); null in a coder's own file."),
        "model_version": Col(U, "Model version that made the suggestion (from the queue export)."),
        "source_file": Col(U, "Name of the feedback CSV under landing/coding_feedback/."),
        "source_row": Col(I, "Data row of the file (1 = first row after the header)."),
        "status": Col(U, "valid | invalid (the row cannot be used; see invalid_reason) | cannot_code (a coder "
                         "decided in the workbench that the record cannot be coded; invalid_reason holds why)."),
        "invalid_reason": Col(U, "unknown_classification, unknown_record, empty_code, unknown_code (not in the "
                                 "catalogue or not its pattern) or invalid_reviewed_at; for cannot_code the "
                                 "coder's reason; null when valid."),
        "ingested_at": Col(TS, "When the asset read the file (UTC)."),
    },
    primary_key=("classification", "record_id", "source_file", "source_row"), domain="coding",
    description="Codes that human coders returned from review (landing/coding_feedback/*.csv), one row per "
                "file row, and the decisions of the coder's workbench; status valid|invalid with the reason "
                "(unknown_classification, unknown_record, unknown_code, empty_code, invalid_reviewed_at) or "
                "cannot_code (the coder's reason). The valid row with the latest reviewed_at per "
                "record wins (ISO or day-first DD/MM/YYYY dates; undated rows rank first; ties: later file, "
                "later row).")

coding_training_set = TableSpec(
    "silver", "coding_training_set", {
        "classification": Col(U, CLASSIFICATION),
        "record_id": Col(U, RECORD),
        "text": Col(U, TEXT),
        "code": Col(U, "The human code the model learns: the source table's code, or the coder's from review."),
        "time": Col(F, "Time of the record in fractional years (source year or reported date; a reviewed "
                       "record gets the newest time in the data), for recency weighting; null when unknown."),
        "context": Col(U, "Context tokens of the configured context columns, e.g. 'state=jalisco "
                          "municipality=guadalajara' (empty when the config has none)."),
        "origin": Col(U, "source (the code came with the source table) | review (a coder's code, which "
                         "overrides the source's)."),
        "status": Col(U, "valid | invalid (kept, not trained on; see invalid_reason)."),
        "invalid_reason": Col(U, "empty_text or unknown_code (not in the classification's catalogue); null when "
                                 "valid."),
    },
    primary_key=("classification", "record_id"), domain="coding",
    description="Human-coded records each classification learns from: codes from the source table "
                "(origin=source) overridden by review feedback (origin=review). Rows that cannot train "
                "are kept with status=invalid and a reason (empty_text, unknown_code).")

coding_models = TableSpec(
    "gold", "coding_models", {
        "classification": Col(U, CLASSIFICATION),
        "model_version": Col(U, MODEL_VERSION),
        "config_hash": Col(U, "Hash of the classification's config (YAML) the model was trained with."),
        "data_hash": Col(U, "Fingerprint of the training records (text, code, time, context)."),
        "engine_version": Col(U, "Version of the coding engine code (assets.coding.engine.ENGINE_VERSION)."),
        "trained_at": Col(TS, "When this version was first trained (UTC; kept when a rerun reuses it)."),
        "n_train": Col(I, "Valid training records the model learnt from (training and validation parts)."),
        "n_invalid": Col(I, "Training-set rows of the classification left out as invalid."),
        "n_validation": Col(I, "Records held out to validate and calibrate the model."),
        "threshold": Col(F, "Confidence at or above which a record is auto-coded, chosen on the validation "
                            "split for the target precision; null when no threshold reaches it."),
        "val_accuracy": Col(F, "Share of validation records whose first code is right (0-1)."),
        "val_auto_share": Col(F, "Share of validation records that would be auto-coded at the threshold."),
        "val_auto_precision": Col(F, "Share of those auto-coded validation records whose code is right."),
        "val_macro_f1": Col(F, "Macro-averaged F1 over codes on the validation split."),
        "train_seconds": Col(F, "Seconds training took."),
        "artifact_path": Col(U, "Folder of the model artifact: <root>/models/coding/<classification>/<version>/."),
        "metrics_json": Col(U, "The full fit report as JSON (validation metrics by level, calibration, settings)."),
        "is_current": Col(B, "True for the one version per classification that codes records now."),
    },
    primary_key=("classification", "model_version"), domain="coding",
    description="Every trained coding model version (content hash of config and training data) with its "
                "validation metrics and artifact folder; is_current marks the one coding records now.")

coded_records = TableSpec(
    "gold", "coded_records", {
        "classification": Col(U, CLASSIFICATION),
        "record_id": Col(U, RECORD),
        "text": Col(U, TEXT),
        "code": Col(U, "The code given: the model's first candidate, the coder's for decision=human; null for "
                       "invalid records."),
        "code_title": Col(U, "Title of code in the classification's catalogue."),
        "confidence": Col(F, "Calibrated probability that code is right (0-1); null for human and invalid, 0 for "
                             "a catalogue suggestion."),
        "probability": Col(F, "Model probability of the first candidate."),
        "candidate_2": Col(U, "Second most probable code (null when the model has no second)."),
        "probability_2": Col(F, "Model probability of candidate_2."),
        "candidate_3": Col(U, "Third most probable code (null when the model has no third)."),
        "probability_3": Col(F, "Model probability of candidate_3."),
        "candidate_4": Col(U, "Fourth most probable code (null when the model has no fourth)."),
        "probability_4": Col(F, "Model probability of candidate_4."),
        "candidate_5": Col(U, "Fifth most probable code (null when the model has no fifth)."),
        "probability_5": Col(F, "Model probability of candidate_5."),
        "decision": Col(U, "auto (confidence at or above the model's threshold) | manual (to a coder) | human (a "
                           "coder's code from review) | invalid (empty text, never coded)."),
        "coded_by": Col(U, "model | review (decision=human)."),
        "backoff_code": Col(U, "For a manual record, the longest code prefix (e.g. the 4-digit rama) the model is "
                               "sure enough of at that level; null otherwise."),
        "backoff_level": Col(I, "Digits of backoff_code (the code level); null without one."),
        "source": Col(U, "Where the first candidate came from: model, memory (an identical coded text), catalog "
                         "(a catalogue title match), llm (re-ranked by an LLM), none (invalid)."),
        "invalid_reason": Col(U, "Why the record could not be coded (e.g. empty_text); null otherwise."),
        "model_version": Col(U, MODEL_VERSION),
        "coded_at": Col(TS, "When the record was coded (UTC)."),
    },
    primary_key=("classification", "record_id"), domain="coding",
    description="Every record without a source code, coded: code with calibrated confidence and top-5 "
                "candidates (the coder's workbench offers them); decision auto (confidence above the validated threshold), manual (to review), "
                "human (a coder's code from review feedback) or invalid (empty text, never coded).")

coding_review_queue = TableSpec(
    "gold", "coding_review_queue", {
        "classification": Col(U, CLASSIFICATION),
        "record_id": Col(U, RECORD),
        "text": Col(U, TEXT),
        "suggested_code": Col(U, "The model's first candidate (gold.coded_records.code)."),
        "suggested_title": Col(U, "Catalogue title of suggested_code."),
        "confidence": Col(F, "Calibrated confidence of suggested_code (0-1)."),
        "candidate_2": Col(U, "The model's second most probable code."),
        "candidate_3": Col(U, "The model's third most probable code."),
        "candidate_4": Col(U, "The model's fourth most probable code."),
        "candidate_5": Col(U, "The model's fifth most probable code."),
        "backoff_code": Col(U, "Code prefix the model is sure of (a coder can start from it)."),
        "reason": Col(U, "low_confidence (a manual decision) | audit (an auto-coded record sampled to measure "
                         "real auto-coding precision)."),
        "priority": Col(I, "Order to review within the classification, 1 first: low-confidence records by "
                           "increasing confidence, then the audit sample."),
        "model_version": Col(U, MODEL_VERSION),
    },
    primary_key=("classification", "record_id"), domain="coding",
    description="Records waiting for a human coder: manual decisions (least confident first) and a small "
                "audit sample of auto-coded ones (reason=audit) that measures real auto-coding precision.")

coding_quality = TableSpec(
    "gold", "coding_quality", {
        "classification": Col(U, CLASSIFICATION),
        "model_version": Col(U, MODEL_VERSION + " For split=review, the version that made the suggestion "
                                               "('unknown' when the feedback file does not say)."),
        "split": Col(U, "validation (the held-out split the model was calibrated on) | review (the model's "
                        "suggestions against the codes coders returned)."),
        "level": Col(U, "Code level compared: number of leading digits (e.g. 2, 4, 6), or 'exact' for "
                        "classifications without levels."),
        "n": Col(I, "Records compared (validation records, or reviewed records of that version)."),
        "accuracy": Col(F, "Share whose first code matches at this level (0-1)."),
        "auto_share": Col(F, "validation: share auto-coded at the threshold; review: share of the reviewed "
                             "records that were audit samples."),
        "auto_precision": Col(F, "Share of auto-coded records whose code is right (review: over the audited "
                                 "ones); null when there are none."),
        "macro_f1": Col(F, "Macro-averaged F1 over codes (validation only)."),
    },
    primary_key=("classification", "model_version", "split", "level"), domain="coding",
    description="Coding quality per classification, model version and code level: on the validation split "
                "the model was calibrated on (split=validation) and against the codes coders returned "
                "(split=review: how often the model's first code matched the human one).")

coding_thresholds = TableSpec(
    "gold", "coding_thresholds", {
        "classification": Col(U, CLASSIFICATION),
        "model_version": Col(U, MODEL_VERSION),
        "threshold_version": Col(I, "1 = the threshold the model's fit chose on its backtests; each later "
                                    "version re-estimated from coders' decisions on records this model coded."),
        "threshold": Col(F, "Confidence at or above which a record is coded automatically; null = none "
                            "reaches the target precision (every record goes to review)."),
        "source": Col(U, "fit (chosen in training) | review (re-estimated from review and audit decisions)."),
        "target_precision": Col(F, "Precision the threshold must reach (the classification's config)."),
        "n_validation": Col(I, "Held-out records of the fit's backtests the estimate rests on."),
        "n_reviews": Col(I, "Coders' decisions on manual (low-confidence) records of this model used."),
        "n_audits": Col(I, "Coders' decisions on audited auto-coded records used (each weighs 1/audit_rate)."),
        "expected_precision": Col(F, "Estimated precision of automatic coding at the threshold (weighted)."),
        "ci_low": Col(F, "Lower end of its 95 % interval (Wilson, effective sample size)."),
        "ci_high": Col(F, "Upper end of its 95 % interval."),
        "estimated_at": Col(TS, "When this version was estimated (UTC)."),
        "is_current": Col(B, "The version gold.coded_records uses for this model (the latest)."),
    },
    primary_key=("classification", "model_version", "threshold_version"), domain="coding",
    description="Versions of the auto-coding threshold of each model: the one chosen in training, then "
                "re-estimated (without retraining) as coders' review and audit decisions on its records come in.")

TABLES: tuple[TableSpec, ...] = (
    coding_feedback,
    coding_training_set,
    coding_models,
    coded_records,
    coding_review_queue,
    coding_quality,
    coding_thresholds,
)
