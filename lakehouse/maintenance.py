"""Maintenance of the Delta tables: compaction of small files, then vacuum of the files no version needs.

What piles up without it: every write adds at least one file per partition (small files make reads slow);
a partition rewrite, merge or overwrite leaves the files it replaced behind for time travel; and a writer
killed mid-write (or a write attempt that lost a commit race, see :meth:`Lakehouse.write`) leaves data files
that no commit references (15-20 MB each for a big write).

:func:`maintain_table` compacts a table (``optimize.compact``: small files of a partition rewritten into
files of about ``target_file_mb``; a commit that changes no rows) and then vacuums it in full mode: files
that no version references (partial files of killed writers, files of lost attempts) and files removed from
the table, once they are older than ``retention_hours``. What it never removes: a file the current version
or any version newer than the retention needs (time travel within the retention keeps working), and a file
younger than the retention (a write in flight has not committed its files yet). The files compaction
replaces stay until a later run, past the retention.

The space freed is what the vacuum deleted (deltalake records it in the table history: ``VACUUM START``
``sizeOfDataToDelete`` and ``VACUUM END`` ``numDeletedFiles``), plus, on a local root, the staging files of
uploads that never completed: deltalake's local store writes a big file as ``<name>.parquet#<n>`` and renames
it when done, so a writer killed mid-file leaves one behind that the vacuum does not see as a data file;
they are removed under the same retention. (On S3 an upload that never completed is no object at all: a
bucket lifecycle rule ``AbortIncompleteMultipartUpload`` frees it.)
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from lakehouse.delta import Lakehouse
from lakehouse.errors import LakehouseError
from lakehouse.spec import LAYERS, TableSpec

DEFAULT_RETENTION_HOURS = 168   # a week of time travel (deltalake's default delta.deletedFileRetentionDuration)
MIN_RETENTION_HOURS = 1           # below this a vacuum could delete the files of a write still in flight
DEFAULT_TARGET_FILE_MB = 128
# object_store's local multipart staging file: <final name>#<part>, renamed to <final name> on completion
_STAGING = re.compile(r"\.parquet#\d+$")


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table."""

    table: str
    uri: str
    version_before: int | None
    version_after: int | None
    compacted_files_removed: int = 0
    compacted_files_added: int = 0
    vacuumed_files: int = 0
    vacuumed_bytes: int = 0
    seconds: float = 0.0
    # why the table was left as it was (absent, or a concurrent writer won the compaction commit), or None
    skipped: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class MaintenanceReport:
    tables: list[TableMaintenance] = field(default_factory=list)
    retention_hours: float = DEFAULT_RETENTION_HOURS

    @property
    def vacuumed_files(self) -> int:
        return sum(t.vacuumed_files for t in self.tables)

    @property
    def vacuumed_bytes(self) -> int:
        return sum(t.vacuumed_bytes for t in self.tables)

    @property
    def compacted_files_removed(self) -> int:
        return sum(t.compacted_files_removed for t in self.tables)

    @property
    def compacted_files_added(self) -> int:
        return sum(t.compacted_files_added for t in self.tables)

    @property
    def errors(self) -> list[TableMaintenance]:
        return [t for t in self.tables if t.error]

    def as_dict(self) -> dict:
        return {"retention_hours": self.retention_hours, "tables": len(self.tables),
                "vacuumed_files": self.vacuumed_files, "vacuumed_bytes": self.vacuumed_bytes,
                "compacted_files_removed": self.compacted_files_removed,
                "compacted_files_added": self.compacted_files_added,
                "errors": len(self.errors), "per_table": [asdict(t) for t in self.tables]}


def _check_retention(retention_hours: float) -> int:
    """The retention in whole hours (what deltalake takes), or :class:`LakehouseError`."""
    if not retention_hours >= MIN_RETENTION_HOURS:
        raise LakehouseError(f"vacuum retention must be >= {MIN_RETENTION_HOURS:g} hour(s), got {retention_hours}: "
                             "a shorter one could delete the files of a write that has not committed yet")
    if retention_hours != int(retention_hours):
        raise LakehouseError(f"vacuum retention must be whole hours, got {retention_hours}")
    return int(retention_hours)


def _vacuum_metrics(table: DeltaTable, since_version: int) -> tuple[int, int]:
    """(files, bytes) the vacuum commits after ``since_version`` record."""
    files = size = 0
    for entry in table.history(max(1, table.version() - since_version)):
        if entry.get("version", since_version + 1) <= since_version:
            continue
        metrics = entry.get("operationMetrics") or {}
        if entry.get("operation") == "VACUUM START":
            size += int(metrics.get("sizeOfDataToDelete", 0) or 0)
        elif entry.get("operation") == "VACUUM END":
            files += int(metrics.get("numDeletedFiles", 0) or 0)
    return files, size


def _remove_staging_files(lake: Lakehouse, uri: str, retention_hours: float) -> tuple[int, int]:
    """Delete the staging files of uploads that never completed, older than the retention (local roots)."""
    if lake.remote:
        return 0, 0
    cutoff = time.time() - retention_hours * 3600
    files = size = 0
    for path in Path(uri).rglob("*"):
        if "_delta_log" in path.parts or not _STAGING.search(path.name) or not path.is_file():
            continue
        stat = path.stat()
        if stat.st_mtime < cutoff:
            path.unlink(missing_ok=True)
            files, size = files + 1, size + stat.st_size
    return files, size


def maintain_table(lake: Lakehouse, uri: str, name: str, *, retention_hours: float = DEFAULT_RETENTION_HOURS,
                   target_file_mb: int = DEFAULT_TARGET_FILE_MB, compact: bool = True) -> TableMaintenance:
    """Compact, then vacuum the Delta table at ``uri`` (see the module docstring for what is kept)."""
    retention_hours = _check_retention(retention_hours)
    t0 = time.perf_counter()
    opts = lake.storage_options or None
    try:
        table = DeltaTable(uri, storage_options=opts)
    except TableNotFoundError:
        return TableMaintenance(name, uri, None, None, skipped="no table")
    before = table.version()
    removed = added = 0
    skipped = None
    commit = CommitProperties(max_commit_retries=lake.commit_retries)
    if compact:
        try:
            metrics = table.optimize.compact(target_size=int(target_file_mb) * 1024 * 1024, commit_properties=commit)
            removed, added = int(metrics.get("numFilesRemoved", 0)), int(metrics.get("numFilesAdded", 0))
        except CommitFailedError as exc:
            # a writer replaced files compaction was rewriting: nothing committed; the next run compacts
            skipped = f"compaction lost to a concurrent write, left for the next run ({exc})"
        table = DeltaTable(uri, storage_options=opts)
    mark = table.version()
    try:
        table.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False, full=True,
                     commit_properties=commit)
    except (CommitFailedError, DeltaError) as exc:
        return TableMaintenance(name, uri, before, table.version(), removed, added, seconds=time.perf_counter() - t0,
                                skipped=skipped, error=f"vacuum failed: {exc}")
    table = DeltaTable(uri, storage_options=opts)
    files, size = _vacuum_metrics(table, mark)
    staged_files, staged_size = _remove_staging_files(lake, uri, retention_hours)
    files, size = files + staged_files, size + staged_size
    return TableMaintenance(name, uri, before, table.version(), removed, added, files, size,
                            round(time.perf_counter() - t0, 3), skipped)


def table_locations(lake: Lakehouse, specs: list[TableSpec]) -> dict[str, str]:
    """name -> URI of every Delta table to maintain: the registered ``specs`` and, on a local root, any other
    table found under a layer folder (a table written by a spec since renamed still takes space)."""
    found = {spec.key: lake.uri(spec) for spec in specs}
    if not lake.remote:
        for layer in LAYERS:
            folder = Path(lake.root, layer)
            if folder.is_dir():
                for log in sorted(folder.glob("*/_delta_log")):
                    found.setdefault(f"{layer}.{log.parent.name}", str(log.parent))
    return found


def maintain(lake: Lakehouse, specs: list[TableSpec], *, retention_hours: float = DEFAULT_RETENTION_HOURS,
             target_file_mb: int = DEFAULT_TARGET_FILE_MB, compact: bool = True) -> MaintenanceReport:
    """Maintain every table (:func:`table_locations`); one table's failure is reported, the others still run."""
    _check_retention(retention_hours)
    out = []
    for name, uri in table_locations(lake, specs).items():
        try:
            out.append(maintain_table(lake, uri, name, retention_hours=retention_hours,
                                      target_file_mb=target_file_mb, compact=compact))
        except (DeltaError, OSError) as exc:
            out.append(TableMaintenance(name, uri, None, None, error=f"{type(exc).__name__}: {exc}"))
    return MaintenanceReport(out, retention_hours)
