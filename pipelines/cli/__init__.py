"""``fmlake``: the command line of the project.

Core commands (tables, sql, demo, catalog) live here; each application adds a sub-group from
``assets/<domain>/cli.py`` (a click group named ``cli``), imported only when that sub-command runs
so ``fmlake tables`` never loads torch or dbt.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import click

DOMAIN_GROUPS = {
    "coding": ("pipelines.cli.coding", "Automatic coding: train, evaluate, code text."),
    "news": ("pipelines.cli.news", "News extraction with LLMs and the migration indicator."),
    "imagery": ("pipelines.cli.imagery", "Satellite tiles: segmentation, features, clustering, naming."),
    "docs": ("pipelines.cli.docs", "Draft documents (Conociendo la Industria) and the published site."),
    "review": ("pipelines.cli.review", "Expert review of drafts (web page)."),
    "search": ("pipelines.cli.search", "Keyword, semantic and hybrid search."),
    "lakehouse": ("pipelines.cli.lakehouse", "Delta tables: maintenance (compact, vacuum) and the write-path benchmark."),
    "cluster": ("pipelines.cli.cluster", "Beyond one machine: the loopback cluster demo and the worker-scaling bench."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted([*super().list_commands(ctx), *DOMAIN_GROUPS])

    def get_command(self, ctx, name):
        if name in DOMAIN_GROUPS:
            module, _ = DOMAIN_GROUPS[name]
            try:
                mod = importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name == module:
                    raise click.ClickException(f"'fmlake {name}' is not available: {module} is missing") from None
                raise
            return mod.cli
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        from pipelines.settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:   # a bad FMLAKE_* / LAKEHOUSE_* value: say which, no traceback
            raise click.ClickException(f"environment: {exc}") from None

    def format_commands(self, ctx, formatter):
        rows = [(n, c.get_short_help_str()) for n, c in ((n, super(LazyGroup, self).get_command(ctx, n))
                                                          for n in super().list_commands(ctx))]
        rows += [(n, help_) for n, (_, help_) in DOMAIN_GROUPS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup)
def main() -> None:
    """fm-lakehouse: foundation models for official statistics over a Delta lakehouse."""


def current_settings():
    """The settings of this command, from the environment (cheap: read when a command needs them, so a
    process that runs several commands, like the tests' CliRunner, sees each one's environment)."""
    from pipelines.settings import load_settings

    return load_settings()


def _lakehouse():
    settings = current_settings()
    return settings.core, settings.lakehouse()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def tables(as_json: bool) -> None:
    """Every table in the lakehouse: layer, name, rows, Delta version, path."""
    from lakehouse.catalog import table_infos

    _, lh = _lakehouse()
    infos = [i.as_dict() for i in table_infos(lh)]
    if as_json:
        click.echo(json.dumps(infos, ensure_ascii=False, indent=2))
        return
    if not infos:
        click.echo(f"no tables under {lh.root} (run `make demo`)")
        return
    width = max(len(f"{i['layer']}.{i['name']}") for i in infos)
    for i in infos:
        version = "-" if i["version"] is None else i["version"]
        click.echo(f"{i['layer'] + '.' + i['name']:<{width}}  {i['rows']:>9,} rows  v{version}  {i['path']}")


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Rows as a JSON list of objects.")
@click.option("--catalog", default=None, help="Catalog file (default: DUCKDB_CATALOG or <root>/catalog.duckdb).")
def sql(query: str, as_json: bool, catalog: str | None) -> None:
    """Run a SQL query on the analysts' DuckDB catalog (read-only)."""
    from pathlib import Path

    import duckdb

    from lakehouse.catalog import open_catalog

    env, lh = _lakehouse()
    path = catalog or env.catalog_path
    if not Path(path).exists():
        raise click.ClickException(f"catalog {path} does not exist yet: run `make demo` or materialize it")
    try:
        con = open_catalog(path, lh.storage_options if lh.remote else None)   # (s3:// tables: httpfs secret)
    except duckdb.Error as exc:
        raise click.ClickException(f"catalog {path} cannot be opened: {exc}") from None
    try:
        rel = con.sql(query)
        if rel is None:
            return
        if as_json:
            cols = rel.columns
            click.echo(json.dumps([dict(zip(cols, row)) for row in rel.fetchall()], ensure_ascii=False,
                                  default=str, indent=2))
        else:
            click.echo(str(rel))
    except duckdb.Error as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        con.close()


@main.command()
@click.option("--seed", default=7, show_default=True)
def demo(seed: int) -> None:
    """Generate the sample data and materialize every asset in-process on the embedded defaults."""
    from pipelines.demo import run_demo
    from pipelines.runs import RunInterrupted

    try:
        code = run_demo(seed=seed)
    except RunInterrupted as exc:   # Ctrl-C / SIGTERM: the run is canceled and its pool slots freed
        click.echo(f"fmlake demo stopped: {exc}", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + int(exc.signum))   # the worker thread of the run is left behind, not waited for
    sys.exit(code)


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def pools(ctx, as_json: bool) -> None:
    """Pool slots (llm, embedding, ...): which run holds or waits for each, and whether it is alive."""
    if ctx.invoked_subcommand is not None:
        return
    from pipelines.runs import slot_holders

    with _instance() as instance:
        holders = slot_holders(instance)
    if as_json:
        click.echo(json.dumps([h.__dict__ for h in holders], indent=2))
    elif not holders:
        click.echo("no pool slot is claimed or waited for")
    for h in holders if not as_json else ():
        click.echo(h.describe())


@pools.command("reclaim")
@click.option("--run-id", "run_ids", multiple=True, help="Free this run's slots even if it looks alive.")
def pools_reclaim(run_ids: tuple[str, ...]) -> None:
    """Free the slots of runs that are no longer alive (dead process, ended, deleted), or of --run-id."""
    from pipelines.runs import reclaim_slots

    with _instance() as instance:
        freed = reclaim_slots(instance, list(run_ids) or None)
    for h in freed:
        click.echo(f"freed {h.describe()}")
    click.echo(f"{len(freed)} slot(s) freed")


def _instance():
    import dagster as dg

    from pipelines.demo import dagster_home

    return dg.DagsterInstance.from_config(str(dagster_home(current_settings().core.dagster_home)))


@main.command("sample-data")
@click.option("--seed", default=7, show_default=True)
@click.option("--landing", default=None, help="Landing root (default: LANDING_ROOT).")
def sample_data(seed: int, landing: str | None) -> None:
    """Write the deterministic sample landing files."""
    from assets.ingestion.sample_data import generate

    env, _ = _lakehouse()
    summary = generate(landing or env.landing_root, seed=seed)
    click.echo(json.dumps({"landing": summary.root, "files": summary.files}, indent=2))


if __name__ == "__main__":
    main()
