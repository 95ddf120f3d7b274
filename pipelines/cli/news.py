"""``fmlake news``: extract migrant women/girls mentions from a JSON file of articles, and benchmark it.

    fmlake news extract --input ../shared/data/news/migration_news_2020.json --json
    fmlake news extract --input news.json --backend ollama --model gemma3:27b --model mistral-small:24b --json
    fmlake news bench --json

With ``--backend ollama`` the server is checked before any question: a server that does not answer,
or a model it does not have, exits 1 with a one-line error saying what to do. The command also
exits 1 (after printing every row) when all answers of a model failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group()
def cli() -> None:
    """News extraction with LLMs (and the embedded rules model) and the migration indicator."""


def _load_records(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise click.ClickException(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise click.ClickException(f"{path}: expected a JSON list of {{id, text, ...}} objects")
    return data


@cli.command()
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path),
              help="JSON list of {id, text, ...} articles.")
@click.option("--backend", type=click.Choice(["rules", "ollama"]), default="rules", show_default=True,
              help="rules: the embedded extractor, no server. ollama: the --model LLMs.")
@click.option("--model", "models", multiple=True,
              help="Ollama model (repeatable); default FMLAKE_LLM_MODELS. Only with --backend ollama.")
@click.option("--with-rules", is_flag=True, help="With --backend ollama, add the rules model to the comparison.")
@click.option("--host", default=None,
              help="Ollama URL, or a comma list of URLs (default OLLAMA_HOSTS, else OLLAMA_HOST).")
@click.option("--prompt-version", default=None, help="Registered prompt version (default: the seed prompt).")
@click.option("--timeout", "timeout_s", default=None, type=float,
              help="Total deadline of one request in seconds (default FMLAKE_LLM_TIMEOUT_S).")
@click.option("--retries", default=None, type=int, help="Retries of timeouts, drops and 5xx (default FMLAKE_LLM_MAX_RETRIES).")
@click.option("--concurrency", default=None, type=int,
              help="Requests in flight at most per host (default FMLAKE_LLM_MAX_CONCURRENCY).")
@click.option("--limit", default=None, type=int, help="Only the first N articles.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: {id, model, answer, raw, ...}.")
def extract(input_path: Path, backend: str, models: tuple[str, ...], with_rules: bool, host: str | None,
            prompt_version: str | None, timeout_s: float | None, retries: int | None, concurrency: int | None,
            limit: int | None,
            as_json: bool) -> None:
    """Ask whether each article mentions migrant women or girls (1 present, 2 absent, null invalid)."""
    from assets.news.extraction import articles_from_records, extract_answers
    from assets.news.prompts import DEFAULT_PROMPT_VERSION, get_prompt
    from assets.news.rules import RULES_MODEL

    records = _load_records(input_path)
    if limit is not None:
        records = records[:limit]
    try:
        articles = articles_from_records(records, source=str(input_path))
        prompt = get_prompt(prompt_version or DEFAULT_PROMPT_VERSION)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    client = None
    unavailable: tuple[type[Exception], ...] = ()  # nothing to catch for the rules model
    if backend == "rules":
        if models:
            raise click.ClickException("--model needs --backend ollama")
        run_models = [RULES_MODEL]
    else:
        from pipelines.cli import current_settings
        from pipelines.resources import llm_resource
        from resources.llm import LLMUnavailable

        settings = current_settings()
        unavailable = (LLMUnavailable,)
        run_models = list(models) or list(settings.llm.models)
        if not run_models:
            raise click.ClickException("--backend ollama needs --model NAME (or FMLAKE_LLM_MODELS)")
        if with_rules:
            run_models.append(RULES_MODEL)
        client = llm_resource(settings, backend="ollama", host=host, timeout_s=timeout_s, max_retries=retries,
                              max_concurrency=concurrency).get_client()
    log = (lambda msg: click.echo(msg, err=True)) if backend == "ollama" else None
    try:
        result = extract_answers(articles, run_models, prompt=prompt, client=client,
                                 options={"temperature": 0}, log=log)
    except unavailable as exc:
        # the server is down or lacks a model: nothing was asked; the message says what to do
        raise click.ClickException(str(exc)) from None
    finally:
        if client is not None:
            client.close()
    by_key = {(r["article_id"], r["model"]): r for r in result.answers.iter_rows(named=True)}
    if as_json:
        for a in articles:
            for model in run_models:
                r = by_key[(a.article_id, model)]
                out = {"id": a.article_id, "model": model, "answer": r["answer"], "raw": r["raw"],
                       "status": r["status"]}
                if r["error"]:
                    out["error"] = r["error"]
                if r["invalid_reason"]:
                    out["invalid_reason"] = r["invalid_reason"]
                if r["evidence"]:
                    out["evidence"] = r["evidence"]
                click.echo(json.dumps(out, ensure_ascii=False))
    else:
        click.echo(f"{len(articles)} articles, prompt {prompt.version}, {result.seconds:.2f}s")
        for model in run_models:
            rows = [by_key[(a.article_id, model)] for a in articles]
            present = sum(r["answer"] == 1 for r in rows)
            absent = sum(r["answer"] == 2 for r in rows)
            click.echo(f"  {model:<24} present {present:>5}  absent {absent:>5}  "
                       f"invalid {len(rows) - present - absent:>5}")
        for a in articles:
            flagged = [m for m in run_models if by_key[(a.article_id, m)]["answer"] == 1]
            if flagged:
                click.echo(f"  {a.article_id}: present for {', '.join(flagged)}: {a.text[:100]}")
    _report_failures([[by_key[(a.article_id, m)] for a in articles] for m in run_models if m != RULES_MODEL])


def _report_failures(rows_by_model: list[list[dict]]) -> None:
    """A note on stderr for a model with some failed calls; exit 1 when every answer of a model failed."""
    fatal = []
    for rows in rows_by_model:
        failed = [r for r in rows if r["status"] == "failed"]
        if not failed:
            continue
        model, first = failed[0]["model"], " ".join(str(failed[0]["error"]).split())
        if len(failed) == len(rows):
            fatal.append(f"all {len(rows)} answers of {model} failed (first error: {first})")
        else:
            click.echo(f"note: {len(failed)} of {len(rows)} answers of {model} failed (first error: {first})",
                       err=True)
    if fatal:
        raise click.ClickException("; ".join(fatal))


@cli.command()
@click.option("--articles", "n_rules", default=20000, show_default=True, help="Articles for the rules benchmark.")
@click.option("--llm-articles", "n_llm", default=1000, show_default=True, help="Articles for the loopback benchmark.")
@click.option("--models", "n_models", default=5, show_default=True, help="Scripted models on the loopback server.")
@click.option("--concurrency", default=4, show_default=True, help="Client concurrency limit.")
@click.option("--latency-ms", default=5.0, show_default=True, help="Scripted model latency per answer.")
@click.option("--pipeline/--no-pipeline", default=True, show_default=True,
              help="Also materialise the six news assets on a scratch lakehouse against the loopback server.")
@click.option("--hosts-articles", default=400, show_default=True,
              help="Articles for the 1-host vs 2-hosts benchmark (0 skips it).")
@click.option("--hosts-latency-ms", default=50.0, show_default=True,
              help="Fixed latency of the two loopback servers of the hosts benchmark.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
def bench(n_rules: int, n_llm: int, n_models: int, concurrency: int, latency_ms: float, pipeline: bool,
          hosts_articles: int, hosts_latency_ms: float, as_json: bool) -> None:
    """Rules extractor throughput, 1 vs 2 Ollama hosts, and 5 scripted models × N articles on a loopback server."""
    from pipelines.benches.news import run_bench

    result = run_bench(n_rules=n_rules, n_llm=n_llm, n_models=n_models, concurrency=concurrency,
                       latency_ms=latency_ms, pipeline=pipeline, hosts_articles=hosts_articles,
                       hosts_latency_ms=hosts_latency_ms)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    r, l = result["rules"], result["loopback"]
    click.echo(f"rules: {r['articles']} articles in {r['seconds']:.3f}s = {r['articles_per_s']:.0f} articles/s")
    if result["hosts"]:
        hb = result["hosts"]
        click.echo(f"hosts: {hb['articles']} articles at {hb['latency_ms']:g} ms, limit {hb['per_host_limit']} per host: "
                   f"1 host {hb['1_host']['seconds']:.2f}s, 2 hosts {hb['2_hosts']['seconds']:.2f}s "
                   f"= {hb['speedup']:.2f}x (calls by host {hb['2_hosts']['calls_by_host']})")
    click.echo(f"loopback: {l['models']} models x {l['articles']} articles in {l['seconds']:.2f}s, "
               f"max concurrent {l['server_max_concurrent']} (limit {l['concurrency_limit']}), "
               f"rerun calls {l['rerun_calls']}")
    if result["pipeline"]:
        p = result["pipeline"]
        click.echo(f"pipeline: {p['assets']} assets, {p['answer_rows']} answer rows in {p['seconds']:.2f}s, "
                   f"max concurrent {p['server_max_concurrent']}, rerun calls {p['rerun_calls']}")
    sys.exit(0 if result["targets_met"] else 1)
