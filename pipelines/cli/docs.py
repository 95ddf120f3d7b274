"""``fmlake docs``: draft a document from a census file, publish, and look at the published site."""

from __future__ import annotations

import json
import os
import sys

import click


def _lakehouse():
    from pipelines.cli import current_settings

    settings = current_settings()
    return settings, settings.lakehouse()


@click.group()
def cli() -> None:
    """Draft documents (Conociendo la Industria) and the published site."""


@cli.command()
@click.option("--census", "census", type=click.Path(exists=True, dir_okay=False), default=None,
              help="SAIC export (CSV). Without it, facts come from silver.industry_stats in the lakehouse.")
@click.option("--sector", required=True, help="SCIAN sector code, e.g. 31-33 (or 31), 46, 48-49.")
@click.option("--geo", default=None, help="Geography name or code (Tamaulipas, Reynosa, 28032, nacional). "
                                          "Default: the only state in the data, else the national total.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for draft.md, draft.html, facts.json, grounding.json and charts/.")
@click.option("--backend", type=click.Choice(["template", "llm"]), default="template", show_default=True,
              help="template: embedded Spanish templates (offline); llm: Ollama at OLLAMA_HOST.")
@click.option("--model", default=None, help="LLM model (default FMLAKE_DOCS_MODEL or mixtral:8x7b).")
@click.option("--instructions", "instructions_dir", default=None, type=click.Path(file_okay=False),
              help="Extra folder of instruction YAML files (default FMLAKE_DOC_INSTRUCTIONS_DIR).")
@click.option("--instructions-version", type=int, default=None, help="Pin an instructions version.")
@click.option("--json", "as_json", is_flag=True, help="Print the grounding report as JSON.")
def draft(census, sector, geo, out_dir, backend, model, instructions_dir, instructions_version, as_json):
    """Write one draft from the facts and print its grounding report.

    Exit status 0 when every number is grounded, 3 when some number is flagged (not approvable).
    """
    from assets.documents.drafting import DraftingError, LLMWriter, TemplateWriter
    from assets.documents.facts import FactsError
    from assets.documents.instructions import InstructionsError
    from assets.documents.service import DraftRequest, draft_from_stats, load_census_csv
    from assets.documents.store import write_artifacts
    from lakehouse.errors import LakehouseError
    from lakehouse.tables import ingestion as ING

    env, lh = _lakehouse()
    try:
        if census:
            stats = load_census_csv(census)
        else:
            stats = lh.read(ING.silver_industry)
            if stats.height == 0:
                raise click.ClickException(f"silver.industry_stats is empty under {lh.root}: pass --census CSV "
                                           "or materialize the ingestion assets (make demo)")
        if backend == "llm":
            from pipelines.resources import llm_resource

            writer = LLMWriter(llm_resource(env, backend="ollama").get_client(), model or env.documents.model)
        else:
            writer = TemplateWriter()
        req = DraftRequest(sector=sector, geo=geo, instructions_version=instructions_version,
                           instructions_dir=instructions_dir or env.documents.instructions_dir or None)
        d = draft_from_stats(stats, req, writer)
        files = write_artifacts(d, out_dir)
    except (FactsError, InstructionsError, DraftingError, LakehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    report = d.report() | {"out": os.path.abspath(out_dir), "files": sorted(files)}
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{d.title}\n  {d.grounding.numbers_found} numbers, {d.grounding.grounded} grounded, "
                   f"{d.grounding.flagged} flagged -> {'approvable' if d.approvable else 'NOT approvable'}\n"
                   f"  written to {os.path.abspath(out_dir)}")
        for item in report["flagged_numbers"]:
            click.echo(f"  FLAGGED {item['text']}: {item['reason']} ({item['context'].strip()})")
    sys.exit(0 if d.approvable else 3)


@cli.command()
def publish() -> None:
    """Rebuild the static site from the approved drafts now (what the publishing sensor triggers)."""
    from assets.documents.service import publish as do_publish
    from assets.documents.site import site_dir

    _, lh = _lakehouse()
    rows, written = do_publish(lh)
    click.echo(json.dumps({"published": rows.height, "site": str(site_dir(lh)), "delta_version": written.version,
                           "documents": rows.get_column("draft_id").to_list()}, ensure_ascii=False, indent=2))


@cli.command()
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False),
              help="Site folder (default <LAKEHOUSE_ROOT>/site).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8010, show_default=True, type=int)
def serve(directory, host, port) -> None:
    """Serve the published static site (read-only) until interrupted."""
    from assets.documents.webserve import site_server
    from assets.documents.site import site_dir

    if directory is None:
        _, lh = _lakehouse()
        directory = str(site_dir(lh))
    server = site_server(directory, host, port)
    click.echo(f"serving {directory} at http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    from pipelines.serving import serve_until_interrupted

    serve_until_interrupted(server)
