"""The maintenance job: compact and vacuum every Delta table (``lakehouse.maintenance``), on a schedule.

A job rather than an asset: it produces no data. Each table it touched gets an observation on its own
asset (files and bytes freed, files compacted), and the op's output carries the totals; the retention
and the compaction target come from the lakehouse resource (settings ``LAKEHOUSE_VACUUM_RETENTION_HOURS``,
``LAKEHOUSE_COMPACT_TARGET_MB``).
"""

import dagster as dg

from assets.common import asset_key
from lakehouse import all_tables
from lakehouse.maintenance import maintain
from resources.lakehouse import LakehouseResource


def _mb(n: int) -> float:
    return round(n / 1024 / 1024, 2)


@dg.op(tags={"kind": "deltalake"})
def compact_and_vacuum_tables(context: dg.OpExecutionContext, lakehouse: LakehouseResource) -> dict:
    """Compact the small files of every Delta table, then vacuum what no live version needs (partial files
    of killed writers, files of lost commit attempts, files replaced longer ago than the retention)."""
    specs = {spec.key: spec for spec in all_tables()}
    report = maintain(lakehouse.lakehouse, list(specs.values()), retention_hours=lakehouse.vacuum_retention_hours,
                      target_file_mb=lakehouse.compact_target_mb)
    rows = ["| table | files freed | MB freed | files compacted | version | note |", "|---|---|---|---|---|---|"]
    for t in report.tables:
        note = t.error or t.skipped or ""
        rows.append(f"| {t.table} | {t.vacuumed_files} | {_mb(t.vacuumed_bytes)} | "
                    f"{t.compacted_files_removed} -> {t.compacted_files_added} | {t.version_before} -> "
                    f"{t.version_after} | {note} |")
        if t.table in specs and t.version_before is not None:
            context.log_event(dg.AssetObservation(asset_key=asset_key(specs[t.table]), metadata={
                "maintenance/vacuumed_files": t.vacuumed_files,
                "maintenance/vacuumed_bytes": t.vacuumed_bytes,
                "maintenance/compacted_files_removed": t.compacted_files_removed,
                "maintenance/compacted_files_added": t.compacted_files_added,
                "maintenance/version": dg.MetadataValue.int(t.version_after or 0),
                **({"maintenance/note": note} if note else {}),
            }))
    totals = report.as_dict()
    context.add_output_metadata({
        "tables": len(report.tables),
        "vacuumed_files": report.vacuumed_files,
        "vacuumed_bytes": report.vacuumed_bytes,
        "freed_mb": _mb(report.vacuumed_bytes),
        "compacted_files_removed": report.compacted_files_removed,
        "compacted_files_added": report.compacted_files_added,
        "retention_hours": report.retention_hours,
        "errors": len(report.errors),
        "tables_preview": dg.MetadataValue.md("\n".join(rows)),
    })
    if report.errors:
        first = report.errors[0]
        raise dg.Failure(description=f"maintenance failed on {len(report.errors)} table(s), first {first.table} "
                                     f"({first.uri}): {first.error}; the other tables were maintained",
                         metadata={"failed_tables": ", ".join(t.table for t in report.errors)})
    return totals


@dg.job(description="Compact and vacuum every Delta table: frees the files no live version needs (retention "
                    "LAKEHOUSE_VACUUM_RETENTION_HOURS) and rewrites small files (LAKEHOUSE_COMPACT_TARGET_MB).",
        tags={"fmlake/maintenance": "true"})
def lakehouse_maintenance_job():
    compact_and_vacuum_tables()
