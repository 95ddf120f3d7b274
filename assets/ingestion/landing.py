"""Landing -> bronze, shared by every source (no Dagster): parse files, quarantine bad ones, add lineage.

A file that fails to parse, or whose rows do not fit the bronze table (``conform``: e.g. a number
column holding "n.d."), is quarantined with its reason and the other files go on. The rows a
quarantined file delivered before stay in bronze: a rewrite of a partition (a day, a batch) keeps
them (:func:`with_rows_of_quarantined_files`) until the file is delivered again and parses.

Hostile files fail the file, never the source: a name that is not text, a symbolic link or a path leaving
the source folder (refused unread), a file past a size limit, any exception of a parser (a JSON file
nested 100k levels deep raises RecursionError) is quarantined with its reason and the next file goes on.

Deleting a landing file (README "Sources, partitions and automation") never deletes what it delivered: for
every source alike, the rows of a file that is no longer in landing (nor in the quarantine) stay in bronze,
a day or batch rewrite carries them over (:func:`with_rows_of_removed_files`), and each run lists those
files with their rows (:func:`removed_files`) in its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import polars as pl

from lakehouse import Lakehouse, TableSpec
from lakehouse.errors import LandingFileError
from lakehouse.landing import Landing, QuarantinedFile, is_valid_name, printable_path
from lakehouse.lineage import file_hash, with_lineage


@dataclass
class LandedBatch:
    """What one landing read produced: rows with lineage, the files read and the files quarantined."""

    frame: pl.DataFrame
    files: list[str] = field(default_factory=list)
    quarantined: list[QuarantinedFile] = field(default_factory=list)
    # reason files of the quarantine that are broken (0 bytes, not JSON): reported, skipped
    broken_reason_files: list[tuple[str, str]] = field(default_factory=list)


def land_files(
    landing: Landing,
    source: str,
    files: list[Path],
    parse: Callable[[Path], pl.DataFrame],
    batch_id: Callable[[Path], str],
    conform: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    refused: list[tuple[Path, str]] = (),
) -> LandedBatch:
    """Parse each file; a file that fails is moved to quarantine with its reason, the rest go on.

    ``conform`` (e.g. ``lambda df: lakehouse.conform(spec, df)``) types each file's rows on their own,
    so a value that does not fit the table quarantines that file, named with its row, instead of
    failing the write of every file. ``refused`` (``Landing.refused_files``: links, paths leaving the
    source) are quarantined unread. A file whose name is not valid UTF-8 text is quarantined unread
    under a safe name (its rows could not name their file)."""
    frames, read, quarantined = [], [], []

    def put_aside(path: Path, reason: str) -> None:
        try:
            quarantined.append(landing.quarantine(source, path, reason))
        except OSError as exc:   # cannot move it (permissions, vanished): reported, the source goes on
            quarantined.append(QuarantinedFile(source, str(path), "", f"{reason}; could not be quarantined: "
                                                                       f"{exc.strerror or type(exc).__name__}"))

    for path, why in refused:
        put_aside(path, why)
    for path in files:
        if not is_valid_name(path):
            put_aside(path, f"file name is not valid UTF-8 text ({printable_path(path.name)}); "
                            "rename it and deliver it again")
            continue
        try:
            df = with_lineage(parse(path), str(path), file_hash(path), batch_id(path))
            if conform is not None:
                df = conform(df)
        except LandingFileError as exc:
            put_aside(path, exc.reason)
            continue
        except (RecursionError, MemoryError) as exc:
            put_aside(path, f"{type(exc).__name__}: the file is nested or sized past what a reader can hold")
            continue
        except Exception as exc:  # any other parser failure (odd file, bad value) fails this file, not the run
            put_aside(path, f"{type(exc).__name__}: {str(exc)[:500]}")
            continue
        frames.append(df)
        read.append(str(path))
    frame = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return LandedBatch(frame, read, quarantined, landing.broken_reason_files(source))


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


def removed_files(lakehouse: Lakehouse, spec: TableSpec, landing: Landing, source: str,
                  patterns: tuple[str, ...], landed: LandedBatch) -> dict[str, int]:
    """Files whose rows are stored in ``spec`` but which are no longer in landing nor in the quarantine
    (deleted by someone), each with its stored row count."""
    if not lakehouse.exists(spec):
        return {}
    present = {str(p) for p in landing.files(source, patterns)} | set(landed.files)
    present |= {q.original for q in landed.quarantined} | {str(p) for p, _ in landing.refused_files(source, patterns)}
    present |= {r.get("original_path") for r in landing.quarantined(source)}
    counts = lakehouse.read(spec, columns=["_source_file"]).group_by("_source_file").len()
    return {f: n for f, n in counts.iter_rows() if f is not None and f not in present}


def with_rows_of_removed_files(lakehouse: Lakehouse, spec: TableSpec, frame: pl.DataFrame, partitions: list[str],
                               removed: dict[str, int]) -> tuple[pl.DataFrame, int]:
    """``frame`` plus the rows stored in ``partitions`` that files no longer in landing delivered (kept:
    deleting a landing file never deletes its rows), and how many those are."""
    if not removed or not partitions or not lakehouse.exists(spec):
        return frame, 0
    stored = lakehouse.read(spec).filter(pl.col(spec.partition_by).cast(pl.Utf8).is_in(partitions)
                                         & pl.col("_source_file").is_in(list(removed)))
    if stored.height == 0:
        return frame, 0
    if frame.width == 0:
        return stored, stored.height
    return pl.concat([frame, stored.select(frame.columns)], how="vertical"), stored.height


def removed_md(removed: dict[str, int]) -> str:
    return "\n".join(f"- `{printable_path(f)}`: {n} row(s) kept" for f, n in sorted(removed.items())) or "none"
