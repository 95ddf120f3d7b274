"""Tables of the coding domain (automatic coding of free text into a classification).

landing/coding_feedback/*.csv ─> silver.coding_feedback (human codes back from review, validated)
silver source tables + feedback ─> silver.coding_training_set ─> model artifact + gold.coding_models
gold.coding_models + uncoded records ─> gold.coded_records ─> gold.coding_review_queue
                                                            ─> gold.coding_quality
"""

from __future__ import annotations

import polars as pl

from lakehouse.spec import TableSpec

U = pl.Utf8()
I = pl.Int64()
F = pl.Float64()
B = pl.Boolean()
TS = pl.Datetime("us", "UTC")

coding_feedback = TableSpec(
    "silver", "coding_feedback",
    {"classification": U, "record_id": U, "code": U, "coder": U, "reviewed_at": U, "suggested_code": U,
     "queue_reason": U, "model_version": U, "source_file": U, "source_row": I, "status": U,
     "invalid_reason": U, "ingested_at": TS},
    primary_key=("classification", "record_id", "source_file", "source_row"), domain="coding",
    description="Codes that human coders returned from review (landing/coding_feedback/*.csv), one row per "
                "file row; status valid|invalid with the reason (unknown_classification, unknown_record, "
                "unknown_code, empty_code, invalid_reviewed_at). The valid row with the latest reviewed_at per "
                "record wins (ISO or day-first DD/MM/YYYY dates; undated rows rank first; ties: later file, "
                "later row).")

coding_training_set = TableSpec(
    "silver", "coding_training_set",
    {"classification": U, "record_id": U, "text": U, "code": U, "time": F, "context": U, "origin": U,
     "status": U, "invalid_reason": U},
    primary_key=("classification", "record_id"), domain="coding",
    description="Human-coded records each classification learns from: codes from the source table "
                "(origin=source) overridden by review feedback (origin=review). Rows that cannot train "
                "are kept with status=invalid and a reason (empty_text, unknown_code).")

coding_models = TableSpec(
    "gold", "coding_models",
    {"classification": U, "model_version": U, "config_hash": U, "data_hash": U, "engine_version": U,
     "trained_at": TS, "n_train": I, "n_invalid": I, "n_validation": I, "threshold": F,
     "val_accuracy": F, "val_auto_share": F, "val_auto_precision": F, "val_macro_f1": F,
     "train_seconds": F, "artifact_path": U, "metrics_json": U, "is_current": B},
    primary_key=("classification", "model_version"), domain="coding",
    description="Every trained coding model version (content hash of config and training data) with its "
                "validation metrics and artifact folder; is_current marks the one coding records now.")

coded_records = TableSpec(
    "gold", "coded_records",
    {"classification": U, "record_id": U, "text": U, "code": U, "code_title": U, "confidence": F,
     "probability": F, "candidate_2": U, "probability_2": F, "candidate_3": U, "probability_3": F,
     "decision": U, "coded_by": U, "backoff_code": U, "backoff_level": I, "source": U,
     "invalid_reason": U, "model_version": U, "coded_at": TS},
    primary_key=("classification", "record_id"), domain="coding",
    description="Every record without a source code, coded: code with calibrated confidence and top-3 "
                "candidates; decision auto (confidence above the validated threshold), manual (to review), "
                "human (a coder's code from review feedback) or invalid (empty text, never coded).")

coding_review_queue = TableSpec(
    "gold", "coding_review_queue",
    {"classification": U, "record_id": U, "text": U, "suggested_code": U, "suggested_title": U,
     "confidence": F, "candidate_2": U, "candidate_3": U, "backoff_code": U, "reason": U, "priority": I,
     "model_version": U},
    primary_key=("classification", "record_id"), domain="coding",
    description="Records waiting for a human coder: manual decisions (least confident first) and a small "
                "audit sample of auto-coded ones (reason=audit) that measures real auto-coding precision.")

coding_quality = TableSpec(
    "gold", "coding_quality",
    {"classification": U, "model_version": U, "split": U, "level": U, "n": I, "accuracy": F,
     "auto_share": F, "auto_precision": F, "macro_f1": F},
    primary_key=("classification", "model_version", "split", "level"), domain="coding",
    description="Coding quality per classification, model version and code level: on the validation split "
                "the model was calibrated on (split=validation) and against the codes coders returned "
                "(split=review: how often the model's first code matched the human one).")

TABLES: tuple[TableSpec, ...] = (
    coding_feedback,
    coding_training_set,
    coding_models,
    coded_records,
    coding_review_queue,
    coding_quality,
)
