"""Lineage columns for bronze tables: where each row came from and when."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import polars as pl


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the ``_content_hash`` lineage column)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def with_lineage(df: pl.DataFrame, source_file: str, content_hash: str, batch_id: str,
                 ingested_at: datetime | None = None) -> pl.DataFrame:
    """Add the bronze lineage columns (see ``lakehouse.spec.LINEAGE_SCHEMA``)."""
    ts = ingested_at or datetime.now(timezone.utc)
    return df.with_columns(
        pl.lit(source_file, dtype=pl.Utf8).alias("_source_file"),
        pl.lit(content_hash, dtype=pl.Utf8).alias("_content_hash"),
        pl.lit(ts, dtype=pl.Datetime("us", "UTC")).alias("_ingested_at"),
        pl.lit(batch_id, dtype=pl.Utf8).alias("_batch_id"),
    )
