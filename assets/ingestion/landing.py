"""Landing -> bronze, shared by every source (no Dagster): parse files, quarantine bad ones, add lineage.

A file that fails to parse, or whose rows do not fit the bronze table (``conform``: e.g. a number
column holding "n.d."), is quarantined with its reason and the other files go on. The rows a
quarantined file delivered before stay in bronze: a rewrite of a partition (a day, a batch) keeps
them (:func:`with_rows_of_quarantined_files`) until the file is delivered again and parses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import polars as pl

from lakehouse import Lakehouse, TableSpec
from lakehouse.errors import LakehouseError, LandingFileError
from lakehouse.landing import Landing, QuarantinedFile
from lakehouse.lineage import file_hash, with_lineage


@dataclass
class LandedBatch:
    """What one landing read produced: rows with lineage, the files read and the files quarantined."""

    frame: pl.DataFrame
    files: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)


def land_files(
    landing: Landing,
    source: str,
    files: list[Path],
    parse: Callable[[Path], pl.DataFrame],
    batch_id: Callable[[Path], str],
    conform: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> LandedBatch:
    """Parse each file; a file that fails is moved to quarantine with its reason, the rest go on.

    ``conform`` (e.g. ``lambda df: lakehouse.conform(spec, df)``) types each file's rows on their own,
    so a value that does not fit the table quarantines that file, named with its row, instead of
    failing the write of every file."""
    frames, read, quarantined = [], [], []
    for path in files:
        try:
            df = with_lineage(parse(path), str(path), file_hash(path), batch_id(path))
            if conform is not None:
                df = conform(df)
        except LandingFileError as exc:
            quarantined.append(landing.quarantine(source, path, exc.reason))
            continue
        except (LakehouseError, ValueError, pl.exceptions.PolarsError) as exc:  # parser bug, odd file, bad value
            quarantined.append(landing.quarantine(source, path, f"{type(exc).__name__}: {exc}"))
            continue
        frames.append(df)
        read.append(str(path))
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return LandedBatch(frame, read, quarantined)


def quarantine_times(landing: Landing, source: str, landed: LandedBatch) -> dict[str, datetime]:
    """Files of ``source`` that are quarantined (in this run or before) and were not read in this run,
    each with the time it was last quarantined."""
    times: dict[str, datetime] = {}
    now = datetime.now(timezone.utc)
    for q in landed.quarantined:
        times[q.original] = now
    for record in landing.quarantined(source):
        path, at = record.get("original_path"), record.get("quarantined_at")
        if path and at:
            stamp = datetime.fromisoformat(at)
            times[path] = max(times.get(path, stamp), stamp)
    for path in landed.files:
        times.pop(path, None)
    return times


def with_rows_of_quarantined_files(lakehouse: Lakehouse, spec: TableSpec, landing: Landing, source: str,
                                   landed: LandedBatch, frame: pl.DataFrame,
                                   partitions: list[str]) -> tuple[pl.DataFrame, int]:
    """``frame`` (what this run read for ``partitions``) plus the rows stored in those partitions that
    a now-quarantined file of ``source`` delivered before it was quarantined, and how many those are.

    A partition rewrite thus keeps a bad file's earlier rows; the same rows are kept on every rerun
    (the quarantine record stays), and they are replaced once the file is delivered again and parses.
    Deleting the file from ``landing/_quarantine`` discards them at the next rewrite."""
    times = quarantine_times(landing, source, landed)
    if not times or not partitions or not lakehouse.exists(spec):
        return frame, 0
    stamps = pl.DataFrame({"_source_file": list(times), "_quarantined_at": list(times.values())},
                          schema={"_source_file": pl.Utf8, "_quarantined_at": pl.Datetime("us", "UTC")})
    stored = (
        lakehouse.read(spec)
        .filter(pl.col(spec.partition_by).cast(pl.Utf8).is_in(partitions))
        .join(stamps, on="_source_file", how="inner")
        .filter(pl.col("_ingested_at") <= pl.col("_quarantined_at"))
    )
    if stored.height == 0:
        return frame, 0
    return pl.concat([frame, stored.select(frame.columns)], how="vertical"), stored.height
