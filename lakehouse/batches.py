"""Fingerprints of landing batches: which files a batch holds now, and which ones a run read.

The landing sensor (pipelines/sensors.py) requests a batch when its fingerprint is new; the assets that read a
batch record the fingerprint of what they read (``FINGERPRINT_KEY`` in their materialization metadata), so a
batch ingested outside the sensor is adopted, not ingested again. Plain functions over the landing folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

from lakehouse.landing import Landing


FINGERPRINT_KEY = "fmlake/batch_fingerprint"   # materialization metadata and run tag


def batch_snapshot(landing: Landing, source: str, batch: str) -> list[tuple[str, int, int]]:
    """(name, size, modification time in ns) of each file of a batch now, sorted by path."""
    base = landing.source_dir(source)
    stats = []
    for p in landing.files(source, batch=batch):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue   # removed since it was listed
        name = p.name if base.is_file() else str(p.relative_to(base))
        stats.append((name, st.st_size, st.st_mtime_ns))
    return stats


def _digest(stats: list[tuple[str, int, int]]) -> str:
    return hashlib.sha1(json.dumps(stats).encode()).hexdigest()[:12]


def batch_fingerprint(landing: Landing, source: str, batch: str) -> tuple[str, float] | None:
    """(fingerprint, newest modification time) of a batch's files; None when it has no file yet."""
    stats = batch_snapshot(landing, source, batch)
    if not stats:
        return None
    return _digest(stats), max(s[2] for s in stats) / 1e9


def ingested_fingerprint(landing: Landing, source: str, batch: str, before: list[tuple[str, int, int]],
                         quarantined: Iterable[str | Path] = ()) -> str | None:
    """The fingerprint a run that has just read a batch records: ``before`` is the batch's snapshot taken
    before reading, ``quarantined`` the files the run moved out of it.

    The batch's fingerprint now when its files are those of ``before`` less the quarantined ones, unchanged:
    the sensor then adopts the batch as the run left it. Otherwise (a file added, replaced or deleted
    meanwhile) the fingerprint from before, which no longer matches: the batch is due again.
    """
    base = landing.source_dir(source)

    def name(path) -> str:
        path = Path(path)
        try:
            return path.name if base.is_file() else str(path.relative_to(base))
        except ValueError:
            return str(path)

    after = batch_snapshot(landing, source, batch)
    gone = {n for n, _, _ in set(before) - set(after)}
    if after and set(after) <= set(before) and gone <= {name(p) for p in quarantined}:
        return _digest(after)
    return _digest(before) if before else None
