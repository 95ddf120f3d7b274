"""``fmlake review``: the experts' review web page, and the review history on the command line."""

from __future__ import annotations

import json

import click


def _lakehouse():
    from pipelines.cli import current_settings

    return current_settings().lakehouse()


@click.group()
def cli() -> None:
    """Expert review of drafts (web page)."""


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8020, show_default=True, type=int)
@click.option("--allowed-host", "allowed_hosts", multiple=True,
              help="A name:port the page is reached by (repeatable); default: the bound address (and localhost).")
def serve(host: str, port: int, allowed_hosts: tuple[str, ...]) -> None:
    """Serve the review page: list drafts, read one beside its facts and grounding, approve or reject."""
    from assets.documents.review_app import make_server
    from pipelines.cli import current_settings

    lh = _lakehouse()
    server = make_server(lh, host, port, allowed_hosts=set(allowed_hosts) or None,
                         max_body_bytes=current_settings().limits.max_request_bytes)
    click.echo(f"review page for {lh.root} at http://{host}:{server.server_address[1]}/ (Ctrl-C to stop)")
    from pipelines.serving import serve_until_interrupted

    serve_until_interrupted(server)


@cli.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_drafts(as_json: bool) -> None:
    """Drafts with their latest version, state and grounding counts."""
    from assets.documents.review import overview

    rows = overview(_lakehouse())
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        pub = f"published v{r['published_version']}" if r["published_version"] else "not published"
        click.echo(f"{r['draft_id']:<45} v{r['version']}  {r['status']:<18} flagged {r['numbers_flagged']:>2}  {pub}")
