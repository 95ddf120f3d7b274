"""``fmlake cluster``: the loopback cluster (README "Deployment beyond one machine").

    fmlake cluster demo                      (what `make cluster-demo` runs, with its settings exported)
    fmlake cluster bench [--articles N] [--latency-ms MS] [--json]
"""

from __future__ import annotations

import sys

import click


@click.group()
def cli() -> None:
    """Beyond one machine: the loopback cluster demo and the worker-scaling bench."""


@cli.command()
def demo() -> None:
    """Postgres + Redis + S3 server + 2 Celery workers on 127.0.0.1, every asset through them; one JSON line."""
    from pipelines.cluster_demo import main

    sys.exit(main())


@cli.command()
@click.option("--articles", type=int, default=80, show_default=True)
@click.option("--latency-ms", type=float, default=200.0, show_default=True)
@click.option("--concurrency", type=int, default=2, show_default=True, help="Requests in flight per step.")
@click.option("--tile-size", type=int, default=768, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench(articles: int, latency_ms: float, concurrency: int, tile_size: int, as_json: bool) -> None:
    """1 vs 2 Celery workers: news extraction against a loopback Ollama server, tile segmentation."""
    from pipelines.benches.cluster import main

    args = ["--articles", str(articles), "--latency-ms", str(latency_ms), "--concurrency", str(concurrency),
            "--tile-size", str(tile_size)] + (["--json"] if as_json else [])
    sys.exit(main(args))
