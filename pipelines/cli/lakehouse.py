"""``fmlake lakehouse``: maintenance of the Delta tables and the write-path benchmark.

    fmlake lakehouse maintain [--retention-hours H] [--no-compact] [--json]
    fmlake lakehouse bench [--rows 1000000,10000000] [--repeat 3] [--json]
"""

from __future__ import annotations

import json

import click


@click.group()
def cli() -> None:
    """Delta tables: maintenance (compact, vacuum) and the write-path benchmark."""


@cli.command()
@click.option("--retention-hours", type=float, default=None,
              help="Keep every file a version of the last N hours needs (default: LAKEHOUSE_VACUUM_RETENTION_HOURS).")
@click.option("--target-mb", type=int, default=None, help="Compaction target (default: LAKEHOUSE_COMPACT_TARGET_MB).")
@click.option("--no-compact", is_flag=True, help="Only vacuum.")
@click.option("--json", "as_json", is_flag=True)
def maintain(retention_hours: float | None, target_mb: int | None, no_compact: bool, as_json: bool) -> None:
    """Compact and vacuum every Delta table (what the nightly lakehouse_maintenance_job does)."""
    from lakehouse import LakehouseError, all_tables
    from lakehouse.maintenance import maintain as run
    from pipelines.cli import current_settings

    settings = current_settings()
    try:
        report = run(settings.lakehouse(), list(all_tables()),
                     retention_hours=settings.delta.vacuum_retention_hours if retention_hours is None
                     else retention_hours,
                     target_file_mb=target_mb or settings.delta.compact_target_mb, compact=not no_compact)
    except LakehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        for t in report.tables:
            if t.version_before is None and not t.error:
                continue
            click.echo(f"{t.table:45} freed {t.vacuumed_files:4d} files {t.vacuumed_bytes / 2**20:9.2f} MB  "
                       f"compacted {t.compacted_files_removed}->{t.compacted_files_added}  {t.error or t.skipped or ''}")
        click.echo(f"total: {report.vacuumed_files} files, {report.vacuumed_bytes / 2**20:.2f} MB freed; "
                   f"{len(report.errors)} error(s)")
    if report.errors:
        raise SystemExit(1)


@cli.command()
@click.option("--rows", default="1000000,10000000", show_default=True, help="Table sizes (comma list).")
@click.option("--repeat", default=3, show_default=True, help="Runs of each case (the median is reported).")
@click.option("--cases", default=None, help="Comma list of cases (default: all).")
@click.option("--workdir", default=None, help="Where the scratch tables go (default: the system temp folder).")
@click.option("--json", "as_json", is_flag=True)
def bench(rows: str, repeat: int, cases: str | None, workdir: str | None, as_json: bool) -> None:
    """Ours (Lakehouse.write) vs raw deltalake: partition rewrite of 5 %, append, merge, overwrite."""
    from pipelines.benches.lakehouse import CASES, run_bench

    sizes = [int(float(r)) for r in rows.split(",") if r.strip()]
    chosen = tuple(c.strip() for c in cases.split(",")) if cases else CASES
    unknown = set(chosen) - set(CASES)
    if unknown:
        raise click.BadParameter(f"unknown case(s) {sorted(unknown)}; known: {', '.join(CASES)}", param_hint="--cases")
    result = run_bench(sizes, repeat=repeat, workdir=workdir, cases=chosen)
    click.echo(json.dumps(result, indent=None if as_json else 2))
