"""``fmlake search``: query, serve, evaluate and benchmark keyword / semantic / hybrid search.

Heavy modules (numpy models, bm25s, DuckDB) are imported inside the commands.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from pipelines.settings import EMBEDDER_BACKENDS

MODES = ("bm25", "dense", "hybrid")


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _progress(quiet: bool):
    return (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))


def _embedder(backend: str | None, **overrides):
    """The embedder the settings configure (SEARCH_EMBEDDER_* variables), optionally another backend."""
    from pipelines.cli import current_settings
    from pipelines.resources import embedder_resource

    return embedder_resource(current_settings(), backend=backend, **overrides).get_embedder()


def _index_options(f):
    f = click.option("--source", type=click.Choice(["auto", "lakehouse", "catalog"]), default="auto",
                     show_default=True,
                     help="lakehouse: gold.search_documents + gold.search_embeddings; catalog: build in memory "
                          "from the SCIAN catalogue; auto: the lakehouse when its tables exist.")(f)
    f = click.option("--catalog", "catalog_path", default=None,
                     help="SCIAN CSV (codigo,titulo,nivel) for --source catalog (default: silver.scian_catalog, "
                          "else the shared scian2018.csv, else the scian-ciiu package).")(f)
    f = click.option("--embedder", "backend", type=click.Choice(list(EMBEDDER_BACKENDS)), default=None,
                     help="Embedder backend (default: SEARCH_EMBEDDER or 'use').")(f)
    f = click.option("--fusion", type=click.Choice(["weighted", "rrf"]), default=None,
                     help="Hybrid fusion (default: SEARCH_FUSION or weighted).")(f)
    return f


def _load_site(source: str, catalog_path: str | None, backend: str | None, fusion: str | None, quiet: bool,
               embedder=None, transform=None):
    """(SiteSearch, origin): the index of the settings' lakehouse (or the catalogue) with query understanding."""
    from assets.search.store import load_site
    from pipelines.cli import current_settings
    from pipelines.resources import search_index_resource

    settings = current_settings()
    try:
        site, origin = load_site(settings.lakehouse(), embedder or _embedder(backend),
                                 search_index_resource(settings).index_config(fusion=fusion), source=source,
                                 catalog_path=catalog_path, transform=transform)
    except Exception as exc:  # noqa: BLE001 - shown to the user as a clean CLI error, with its type
        raise click.ClickException(f"could not load the search index: {type(exc).__name__}: {exc}") from exc
    index = site.index
    _progress(quiet)(f"index: {origin} ({index.corpus.height} documents, {len(index.vectors)} vectors, "
                     f"{index.stats.vector_index})")
    return site, origin


@click.group()
def cli() -> None:
    """Keyword (BM25), semantic (embeddings) and hybrid search over the SCIAN catalogue, tables and documents."""


@cli.command()
@click.argument("text")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.option("--understand/--no-understand", default=True, show_default=True,
              help="Query understanding (places, years, measures, sectors -> matching facts first).")
@_index_options
def query(text: str, mode: str, k: int, as_json: bool, understand: bool, source: str, catalog_path: str | None,
          backend: str | None, fusion: str | None) -> None:
    """Search TEXT and print the top K documents (the answer card first for a question about a figure)."""
    import time

    from assets.search.engine import SearchError

    site, origin = _load_site(source, catalog_path, backend, fusion, quiet=as_json)
    if mode != "bm25":
        site.index.embed_queries(["warm up"])  # load the model first: took_ms is the search, not the model load
    t = time.perf_counter()
    try:
        result = site.search(text, mode, k, understand=understand)
    except SearchError as exc:
        raise click.BadParameter(str(exc), param_hint="TEXT") from None
    ms = (time.perf_counter() - t) * 1000
    hits = result.hits
    if as_json:
        _echo_json({"query": text, "mode": mode, "k": k, "index": origin, "took_ms": round(ms, 2),
                    **{key: v for key, v in result.as_dict().items() if key not in ("query", "mode")}})
        return
    if result.notice:
        click.echo(f"note: {result.notice}")
    if result.answer:
        a = result.answer
        click.echo(f"answer: {a['value_text']} ({a['place']}, {a['year']}; {a['source_table']}"
                   + (f"; cited in {a['cited_in']}" if a.get("cited_in") else "") + f")\n  {a['sentence']}")
    if not hits:
        click.echo("no results")
    for h in hits:
        click.echo(f"{h.rank:>3}. [{h.doc_type}] {h.ref}  {h.title}  (score {h.score:.4f})")
    click.echo(f"({mode}, {ms:.1f} ms)", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8030, show_default=True, type=int)
@click.option("--quiet", is_flag=True, help="No request log.")
@_index_options
def serve(host: str, port: int, quiet: bool, source: str, catalog_path: str | None, backend: str | None,
          fusion: str | None) -> None:
    """Serve GET /search?q=&mode=&k= (JSON) and the HTML results page at /."""
    from assets.search.service import make_server

    site, origin = _load_site(source, catalog_path, backend, fusion, quiet=False)
    site.index.embed_queries(["warm up"])  # load the model before the first request
    server = make_server(site, host=host, port=port, quiet=quiet, origin=origin)
    click.echo(f"search service on http://{server.server_address[0]}:{server.server_address[1]}/ "
               f"(JSON: /search?q=...&mode=hybrid&k=10); Ctrl-C stops", err=True)
    from pipelines.serving import serve_until_interrupted

    serve_until_interrupted(server)


def _default_catalog() -> str | None:
    from pipelines.cli import current_settings

    path = current_settings().core.shared_data / "catalogs" / "scian2018.csv"
    return str(path) if path and path.is_file() else None


def _examples_file(option: str, queries, queries_path: str, test_from: int) -> str | None:
    """The examples file ``--examples`` names; for ``auto`` the shared RETC register when the queries have no
    year before ``test_from`` (a file of later years), else None (the queries' own earlier years)."""
    from assets.search.evaluation import EvaluationError
    from pipelines.cli import current_settings

    if option == "none":
        return None
    if option != "auto":
        if not Path(option).is_file():
            raise EvaluationError(f"--examples {option}: no such file")
        if Path(option).resolve() == Path(queries_path).resolve():
            raise EvaluationError("--examples is the queries file itself: use --test-from to split it by year")
        return option
    if any(y is not None and y < test_from for y in queries.years):
        return None
    register = current_settings().core.shared_data / "coding" / "retc_scian_2008_2019.csv"
    if not register.is_file() or register.resolve() == Path(queries_path).resolve():
        return None
    return str(register)


@cli.command()
@click.option("--queries", "queries_path", default=None, type=click.Path(dir_okay=False),
              help="CSV of labelled queries (e.g. ../shared/data/coding/retc_scian_2008_2019.csv).")
@click.option("--site-queries", "site_queries_path", default=None, type=click.Path(dir_okay=False),
              help="JSON of judged site queries (assets/search/site_queries_dev.json): success@3 and MRR@10 per "
                   "kind for bm25, dense and hybrid, with (+qu) and without query understanding, over the index "
                   "of the settings' lakehouse.")
@click.option("--tune", is_flag=True, help="With --site-queries: also grid-search the hybrid alpha, the "
              "word-family expansion weight and the weight of words as written on that file (a development set "
              "only).")
@click.option("--everyday-leave-out", is_flag=True, help="With --site-queries: also report the file with every "
              "hand-written everyday name (assets/search/everyday.py) that shares a word with one of its queries "
              "left out of the class documents, and every everyday-word equivalence a query word looks up left "
              "out of the queries (how much of the result the hand-written lists carry).")
@click.option("--text-col", default="text", show_default=True)
@click.option("--code-col", default="code", show_default=True)
@click.option("--year-col", default="year", show_default=True,
              help="Year column for the time split ('' = none: every row is evaluated, against the --examples "
                   "file when there is one, else catalogue-only with the default alpha).")
@click.option("--title-col", default="code_title", show_default=True,
              help="Optional column with the code's title (names legacy classes in with_examples).")
@click.option("--legacy-classes/--no-legacy-classes", default=True, show_default=True,
              help="with_examples: add a document for each code of the example years that SCIAN 2018 lacks.")
@click.option("--catalog", "catalog_path", default=None,
              help="SCIAN CSV (default: the shared scian2018.csv, else the scian-ciiu package).")
@click.option("--protocol", type=click.Choice(["both", "catalogue_only", "with_examples"]), default="both",
              show_default=True)
@click.option("--test-from", default=2014, show_default=True, type=int,
              help="Evaluate on the years >= this; examples and tuning use the earlier years.")
@click.option("--examples", "examples_path", default="auto", show_default=True,
              help="Labelled CSV (same columns) whose rows are the examples and tuning queries; every row of "
                   "--queries is then evaluated. auto: the queries' own years before --test-from, or, when the "
                   "queries have none (a file of later years), the shared RETC register; none: no examples.")
@click.option("--dev-year", default=None, type=int, help="Year on which with_examples chooses alpha, "
              "expand_weight, example_discount, example_top and example_prior (default: the last year before "
              "--test-from).")
@click.option("--expand-weights", default=None, metavar="W[,W...]",
              help="with_examples: word-family expansion weights tried on the dev year with alpha "
                   "(default 0,0.3,0.6; one value fixes it).")
@click.option("--example-discounts", default=None, metavar="D[,D...]",
              help="with_examples: example-vector discounts tried on the dev year with alpha "
                   "(default 0,0.1,0.2; one value fixes it).")
@click.option("--example-priors", default=None, metavar="P[,P...]",
              help="with_examples: weights of the class-frequency prior (z-scored log(1 + examples)) added to the "
                   "hybrid score, tried on the dev year with alpha (default 0,0.1,0.2,0.4; one value fixes it).")
@click.option("--example-tops", default=None, metavar="T[,T...]",
              help="with_examples: how many of a class's best example cosines its dense score averages, tried on "
                   "the dev year with alpha (default 1,3,5; one value fixes it).")
@click.option("--latency-sample", default=300, show_default=True, type=int,
              help="Queries timed one by one per mode (single-query path, query embedding included).")
@click.option("--limit", default=None, type=int, help="Evaluate on a random subset of N rows (quick runs).")
@click.option("--embedder", "backend", type=click.Choice(list(EMBEDDER_BACKENDS)), default=None)
@click.option("--cache-dir", default=None,
              help="Query-embedding cache (default: <tmp>/fmlake-search-cache); --no-cache to disable.")
@click.option("--no-cache", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def evaluate(queries_path: str | None, site_queries_path: str | None, tune: bool, everyday_leave_out: bool,
             text_col: str, code_col: str,
             year_col: str, title_col: str, legacy_classes: bool,
             catalog_path: str | None, protocol: str, test_from: int, examples_path: str, dev_year: int | None,
             expand_weights: str | None, example_discounts: str | None, example_tops: str | None,
             example_priors: str | None, latency_sample: int, limit: int | None,
             backend: str | None, cache_dir: str | None, no_cache: bool, as_json: bool) -> None:
    """Recall@1/10, MRR@10, nDCG@10 and p50/p95 latency of bm25, dense and hybrid on labelled queries (--queries),
    or success@3 and MRR@10 per kind on judged site queries (--site-queries)."""
    import random

    import numpy as np

    from assets.search.evaluation import (EXAMPLE_DISCOUNT_GRID, EXAMPLE_PRIOR_GRID, EXAMPLE_TOP_GRID,
                                          EXPAND_WEIGHT_GRID, CachedEmbedder, EvaluationError, load_catalog,
                                          read_queries, run_evaluation)

    if bool(queries_path) == bool(site_queries_path):
        raise click.UsageError("give one of --queries (labelled CSV) or --site-queries (judged JSON)")
    if site_queries_path:
        _evaluate_site(site_queries_path, tune, backend, cache_dir, no_cache, as_json, everyday_leave_out)
        return

    grids = {"expand_weights": _grid("--expand-weights", expand_weights, EXPAND_WEIGHT_GRID, "expand_weight"),
             "example_discounts": _grid("--example-discounts", example_discounts, EXAMPLE_DISCOUNT_GRID,
                                        "example_discount"),
             "example_tops": _grid("--example-tops", example_tops, EXAMPLE_TOP_GRID, "example_top", int),
             "example_priors": _grid("--example-priors", example_priors, EXAMPLE_PRIOR_GRID, "example_prior")}
    progress = _progress(False)
    try:
        queries = read_queries(queries_path, text_col, code_col, year_col or None, title_col or None)
        catalog, catalog_origin = load_catalog(catalog_path or _default_catalog())
        examples_file = _examples_file(examples_path, queries, queries_path, test_from)
        examples = read_queries(examples_file, text_col, code_col, year_col or None, title_col or None) \
            if examples_file else None
    except (EvaluationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if limit:
        keep = np.zeros(len(queries), dtype=bool)
        keep[random.Random(0).sample(range(len(queries)), min(limit, len(queries)))] = True
        queries = queries.subset(keep)
    embedder = _embedder(backend)
    query_embedder = embedder if no_cache else CachedEmbedder(
        embedder, cache_dir or Path(tempfile.gettempdir()) / "fmlake-search-cache")
    protocols = ("catalogue_only", "with_examples") if protocol == "both" else (protocol,)
    try:
        report = run_evaluation(queries, catalog, embedder, query_embedder=query_embedder, test_from=test_from,
                                dev_year=dev_year, protocols=protocols, latency_sample=latency_sample,
                                legacy=legacy_classes, examples=examples, progress=progress, **grids)
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    report["catalogue"]["source"] = catalog_origin
    if isinstance(query_embedder, CachedEmbedder):
        report["embedding_cache"] = {"path": str(query_embedder.path), "hits": query_embedder.hits,
                                     "misses": query_embedder.misses}
    if as_json:
        _echo_json(report)
        return
    from assets.search.evaluation import format_report

    click.echo(format_report(report))


def _grid(option: str, value: str | None, default: tuple, field: str, kind: type = float) -> tuple:
    """A comma-separated list of values of the ``IndexConfig`` field ``field`` (``default`` when not given); each
    value is checked by ``IndexConfig`` itself, so the bounds live in one place."""
    from assets.search.engine import IndexConfig, SearchError

    if value is None:
        return default
    try:
        grid = tuple(kind(v) for v in value.split(","))
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise click.BadParameter(f"{value!r} is not a comma-separated list of {what}", param_hint=option) from None
    for v in grid:
        try:
            IndexConfig(**{field: v})
        except SearchError as exc:
            raise click.BadParameter(str(exc), param_hint=option) from None
    return grid


def _evaluate_site(path: str, tune: bool, backend: str | None, cache_dir: str | None, no_cache: bool,
                   as_json: bool, everyday_leave_out: bool = False) -> None:
    from assets.search.evaluation import CachedEmbedder
    from assets.search.site_eval import (SiteQueriesError, evaluate_site, format_site_report, read_site_queries,
                                         tune_site)

    try:
        queries = read_site_queries(path)
    except SiteQueriesError as exc:
        raise click.ClickException(str(exc)) from None
    embedder = _embedder(backend)
    if not no_cache:
        embedder = CachedEmbedder(embedder, cache_dir or Path(tempfile.gettempdir()) / "fmlake-search-cache")
    site, origin = _load_site("lakehouse", None, backend, None, quiet=as_json, embedder=embedder)
    report = {"site_queries_file": path, "index": origin, **evaluate_site(site, queries)}
    report["config"] = {"alpha": site.index.config.alpha, "expand_weight": site.index.config.expand_weight,
                        "surface_weight": site.index.config.surface_weight, "fusion": site.index.config.fusion,
                        "norm": site.index.config.norm, "z_top": site.index.config.z_top}
    if tune:
        report["tuning"] = tune_site(site, queries)
    if everyday_leave_out:
        from functools import partial

        from assets.search.corpus import with_everyday_names
        from assets.search.everyday import content_words, equivalence_keys

        words = set().union(*(content_words(q.query) for q in queries))
        left, _ = _load_site("lakehouse", None, backend, None, quiet=as_json, embedder=embedder,
                             transform=partial(with_everyday_names, leave_out=words))
        # the word equivalences are applied to queries, not stored: those looked up by a query word go too
        equivalences = equivalence_keys(words)
        left.index = left.index.with_config(equivalents_left_out=equivalences)
        out = evaluate_site(left, queries)
        report["everyday_leave_out"] = {"words": sorted(words), "equivalences": sorted(equivalences),
                                        "modes": out["modes"],
                                        "comparison": out["comparison"], "per_query": out["per_query"]}
    if as_json:
        _echo_json(report)
        return
    click.echo(f"index: {origin}\nconfig: {report['config']}")
    click.echo(format_site_report(report))
    if everyday_leave_out:
        lo = report["everyday_leave_out"]
        click.echo(f"\nleave-out check: the hand-written everyday names sharing a word with a query of {path} "
                   f"({len(lo['words'])} words) left out of the class documents, and the "
                   f"{len(lo['equivalences'])} word equivalences those words look up left out of the queries")
        click.echo(format_site_report({**report, "modes": lo["modes"], "comparison": lo["comparison"],
                                       "relevant_not_in_corpus": {}}))
    if tune:
        t = report["tuning"]
        click.echo(f"tuning on {path} (hybrid+qu MRR@10): best alpha={t['alpha']} expand_weight={t['expand_weight']} "
                   f"surface_weight={t['surface_weight']}")
        for g in t["grid"]:
            click.echo(f"  alpha {g['alpha']:.1f} expand {g['expand_weight']:.1f} surface {g['surface_weight']:.1f}: "
                       f"MRR@10 {g['mrr@10']:.3f} s@3 {g['success@3']:.3f}")


@cli.command()
@click.option("--docs", "n_docs", default=100_000, show_default=True, type=int)
@click.option("--queries", "n_queries", default=300, show_default=True, type=int)
@click.option("--hnsw/--no-hnsw", default=True, show_default=True,
              help="Also time the HNSW vector index (exact and binary codes are always timed).")
@click.option("--embedder", "backend", type=click.Choice(list(EMBEDDER_BACKENDS)), default=None)
@click.option("--threads", default=None, type=int, help="Embedder threads per process (SEARCH_EMBEDDER_THREADS).")
@click.option("--workers", default=None, type=int, help="USE worker processes (SEARCH_EMBEDDER_WORKERS).")
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def benchmark(n_docs: int, n_queries: int, hnsw: bool, backend: str | None, threads: int | None,
              workers: int | None, seed: int, as_json: bool) -> None:
    """Index build throughput and p50/p95 query latency per mode on a synthetic corpus."""
    from assets.search.benchmark import run_benchmark

    report = run_benchmark(n_docs, n_queries, _embedder(backend, threads=threads, workers=workers), hnsw=hnsw, seed=seed, progress=_progress(False))
    if as_json:
        _echo_json(report)
        return
    b = report["build"]
    click.echo(f"{n_docs} docs ({report['avg_doc_chars']} chars avg): embed+bm25 {b['total_s']} s = "
               f"{b['docs_per_s']} docs/s (embed {b['embed_s']} s, bm25 {b['bm25_s']} s)"
               + (f"; binary codes {report['binary_build_s']} s" if "binary_build_s" in report else "")
               + (f"; HNSW build {report['hnsw_build_s']} s" if "hnsw_build_s" in report else ""))
    for index_name, modes in report["latency"].items():
        for mode, m in modes.items():
            click.echo(f"{index_name:<6}{mode:<8} p50 {m['p50_ms']:.2f} ms  p95 {m['p95_ms']:.2f} ms  "
                       f"({m['queries']} queries)")
    for kind in ("binary", "hnsw"):
        if f"{kind}_dense_overlap@10_vs_exact" in report:
            click.echo(f"{kind} top-10 overlap with exact: dense {report[f'{kind}_dense_overlap@10_vs_exact']}, "
                       f"hybrid {report[f'{kind}_hybrid_overlap@10_vs_exact']}")
    a = report["auto"]
    click.echo(f"auto -> {a['vector_index']}: build {a['build_s']} s = {a['docs_per_s']} docs/s")
    m = report["machine"]
    click.echo(f"{m['cpus']} CPUs, load average {', '.join(f'{x:.2f}' for x in m['load_avg_1_5_15'] or [])}; "
               f"embedder threads {m['embedder_threads']}, workers {m['embedder_workers']}")
    sys.stdout.flush()
