"""Benchmarks of the news extraction (``fmlake news bench``).

1. The embedded rules extractor on synthetic Spanish articles (target ≥ 2,000 articles/s), and on
   the real 2020 file when ``../shared/data`` is there.
2. Five scripted models × N articles on the loopback Ollama-compatible server of
   ``pipelines/loopback`` (clean, prose, ``<think>``, flaky 500/dropped connection, slow), through the
   real client and extraction code: wall time, answers per status, the most requests in flight the
   server saw (must not exceed the client's limit) and the calls a rerun makes (must be 0).
3. The same through the six Dagster assets (``dg.materialize`` on a scratch lakehouse): wall time,
   checks, max concurrency at the server, and a rerun of the answers asset (must make 0 calls).
4. Several hosts: N articles against 2 loopback servers that answer after a fixed latency, on 1 host
   and then on 2 hosts at the same per-host limit (target: 2 hosts >= 1.8x one host); each server's
   most requests in flight must stay within the per-host limit, and a rerun through the other host
   order must make 0 calls (the answer cache is not keyed by host).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _shared_news() -> Path | None:
    from pipelines.settings import load_settings

    path = load_settings().core.shared_data / "news" / "migration_news_2020.json"
    return path if path.exists() else None


def bench_rules(n: int) -> dict:
    from assets.news.rules import RulesExtractor
    from assets.news.synthetic import synthetic_articles

    texts = [a["text"] for a in synthetic_articles(n)]
    rules = RulesExtractor()
    t0 = time.perf_counter()
    answers = [rules.answer(t) for t in texts]
    dt = time.perf_counter() - t0
    out = {"articles": n, "seconds": round(dt, 4), "articles_per_s": round(n / dt, 1),
           "present": sum(a == 1 for a in answers)}
    real = _shared_news()
    if real is not None:
        records = json.loads(real.read_text(encoding="utf-8"))
        reps = max(1, n // max(len(records), 1))
        real_texts = [r["text"] for r in records] * reps
        t0 = time.perf_counter()
        real_answers = [rules.answer(t) for t in real_texts]
        dt = time.perf_counter() - t0
        out["real_file"] = {"articles": len(real_texts), "distinct": len(records), "seconds": round(dt, 4),
                            "articles_per_s": round(len(real_texts) / dt, 1),
                            "present_per_copy": sum(a == 1 for a in real_answers[:len(records)])}
    return out


def scripted_models(latency_s: float, n_models: int = 5):
    """Name -> Behaviour for the loopback server: the seed's five models with different manners."""
    from pipelines.loopback.ollama_server import Behaviour, DropConnection, HttpError, default_answer

    attempts: dict[str, int] = {}
    lock = threading.Lock()

    def flaky(prompt: str, n: int):
        # a quarter of the texts fail once (HTTP 500 or a dropped connection), then answer
        h = int(hashlib.md5(prompt.encode()).hexdigest(), 16)
        with lock:
            attempts[prompt] = attempts.get(prompt, 0) + 1
            first = attempts[prompt] == 1
        time.sleep(latency_s)
        if first and h % 4 == 0:
            if h % 8 == 0:
                raise DropConnection()
            return HttpError(500, "scripted failure")
        return default_answer(prompt)

    models = {
        "llama3.3:70b": Behaviour.clean(delay_s=latency_s),
        "mixtral:8x7b": Behaviour.prose(delay_s=latency_s),
        "deepseek-r1:32b": Behaviour.think(delay_s=latency_s),
        "gemma3:27b": Behaviour.custom(flaky),
        "mistral-small:24b": Behaviour.clean(delay_s=latency_s * 2),
    }
    return dict(list(models.items())[:n_models])


def bench_loopback(n_articles: int, n_models: int, concurrency: int, latency_ms: float) -> dict:
    from pipelines.loopback.ollama_server import OllamaServer

    from assets.news.extraction import AnswerCache, ArticleText, extract_answers
    from assets.news.prompts import get_prompt
    from assets.news.synthetic import synthetic_articles
    from resources.llm import LLMClient

    models = scripted_models(latency_ms / 1000.0, n_models)
    articles = [ArticleText.of(a["id"], a["text"]) for a in synthetic_articles(n_articles)]
    prompt = get_prompt()
    with OllamaServer(models) as server, LLMClient(server.url, timeout_s=10, max_retries=2, backoff_s=0.01,
                                                   max_concurrency=concurrency) as client:
        cache = AnswerCache()
        t0 = time.perf_counter()
        result = extract_answers(articles, list(models), prompt=prompt, client=client, cache=cache)
        seconds = time.perf_counter() - t0
        first_calls = server.total_calls
        max_conc = server.max_concurrent
        server.reset_counts()
        t1 = time.perf_counter()
        extract_answers(articles, list(models), prompt=prompt, client=client, cache=cache)
        rerun_seconds = time.perf_counter() - t1
        rerun_calls = server.total_calls
    status = result.answers.group_by("model", "status").len().sort("model", "status")
    by_model: dict[str, dict[str, int]] = {}
    for model, st, n in status.iter_rows():
        by_model.setdefault(model, {})[st] = n
    questions = n_articles * len(models)
    return {"models": len(models), "articles": n_articles, "questions": questions, "seconds": round(seconds, 3),
            "answers_per_s": round(questions / seconds, 1), "server_calls": first_calls,
            "retries": client.stats["retries"], "concurrency_limit": concurrency,
            "server_max_concurrent": max_conc, "scripted_latency_ms": latency_ms,
            "status_by_model": by_model, "rerun_calls": rerun_calls, "rerun_seconds": round(rerun_seconds, 3)}


def bench_pipeline(n_articles: int, n_models: int, concurrency: int, latency_ms: float) -> dict:
    """The six news assets materialised in process on a scratch lakehouse, LLMs on the loopback server."""
    import tempfile

    import dagster as dg

    from pipelines.loopback.ollama_server import OllamaServer

    from assets.news import defs as news
    from assets.news.synthetic import seed_silver_tables, synthetic_articles
    from lakehouse.tables import news as T
    from resources.lakehouse import LakehouseResource
    from resources.llm import LLMResource

    models = scripted_models(latency_ms / 1000.0, n_models)
    with tempfile.TemporaryDirectory(prefix="fmlake-news-bench-") as tmp, OllamaServer(models) as server:
        lake = LakehouseResource(root=f"{tmp}/lake", landing_root=f"{tmp}/landing")
        seed_silver_tables(lake.lakehouse, synthetic_articles(n_articles))
        resources = {"lakehouse": lake, "llm": LLMResource(
            backend="ollama", host=server.url, models=list(models), timeout_s=10, max_retries=2, backoff_s=0.01,
            max_concurrency=concurrency)}
        t0 = time.perf_counter()
        result = dg.materialize(news.defs.assets, resources=resources, raise_on_error=True)
        seconds = time.perf_counter() - t0
        calls, max_conc = server.total_calls, server.max_concurrent
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        answers = lake.lakehouse.read(T.llm_answers)
        server.reset_counts()
        t1 = time.perf_counter()
        dg.materialize([news.news_llm_answers], resources=resources, raise_on_error=True)
        rerun_seconds = time.perf_counter() - t1
        rerun_calls = server.total_calls
        mentions = lake.lakehouse.read(T.mentions_by_municipality).height
    return {"assets": len(news.defs.assets), "articles": n_articles, "models": len(models) + 1,
            "answer_rows": answers.height,
            "valid_share": round(float((answers.get_column("status") == "valid").mean()), 4),
            "mention_rows": mentions, "seconds": round(seconds, 3), "server_calls": calls,
            "concurrency_limit": concurrency, "server_max_concurrent": max_conc, "checks": checks,
            "rerun_calls": rerun_calls, "rerun_seconds": round(rerun_seconds, 3),
            "status_counts": dict(answers.group_by("status").len().sort("status").iter_rows()),
            "rows_per_model": answers.group_by("model").len().sort("model").get_column("len").unique().to_list()
            if answers.height else []}


def bench_hosts(n_articles: int = 400, concurrency: int = 4, latency_ms: float = 50.0) -> dict:
    """News extraction of ``n_articles`` on 1 host, then on 2 hosts, each server answering after ``latency_ms``."""
    from assets.news.extraction import AnswerCache, ArticleText, extract_answers
    from assets.news.prompts import get_prompt
    from assets.news.synthetic import synthetic_articles
    from pipelines.loopback.ollama_server import Behaviour, OllamaServer
    from resources.llm import LLMClient

    model = "llama3.3:70b"
    articles = [ArticleText.of(a["id"], a["text"]) for a in synthetic_articles(n_articles)]
    prompt = get_prompt()
    runs: dict[str, dict] = {}
    with OllamaServer({model: Behaviour.clean(delay_s=latency_ms / 1000.0)}) as a, \
            OllamaServer({model: Behaviour.clean(delay_s=latency_ms / 1000.0)}) as b:
        cache = None
        for name, hosts in (("1_host", [a.url]), ("2_hosts", [a.url, b.url])):
            a.reset_counts()
            b.reset_counts()
            cache = AnswerCache()
            with LLMClient(hosts=hosts, timeout_s=10, max_retries=1, backoff_s=0.01,
                           max_concurrency=concurrency) as client:
                t0 = time.perf_counter()
                result = extract_answers(articles, [model], prompt=prompt, client=client, cache=cache)
                seconds = time.perf_counter() - t0
            valid = int((result.answers.get_column("status") == "valid").sum())
            runs[name] = {"hosts": len(hosts), "seconds": round(seconds, 3),
                          "answers_per_s": round(n_articles / seconds, 1), "valid": valid,
                          "calls_by_host": [a.total_calls, b.total_calls][:len(hosts)],
                          "max_in_flight_by_host": [a.max_concurrent, b.max_concurrent][:len(hosts)]}
        # the cache of the 2-host run answers everything, whichever hosts a rerun has
        a.reset_counts()
        b.reset_counts()
        with LLMClient(hosts=[b.url, a.url], timeout_s=10, max_concurrency=concurrency) as client:
            extract_answers(articles, [model], prompt=prompt, client=client, cache=cache)
        rerun_calls = a.total_calls + b.total_calls
    speedup = runs["1_host"]["seconds"] / runs["2_hosts"]["seconds"]
    return {"articles": n_articles, "latency_ms": latency_ms, "per_host_limit": concurrency, **runs,
            "speedup": round(speedup, 2), "rerun_calls_other_host_order": rerun_calls}


def run_bench(n_rules: int = 20000, n_llm: int = 1000, n_models: int = 5, concurrency: int = 4,
              latency_ms: float = 5.0, pipeline: bool = True, hosts_articles: int = 400,
              hosts_latency_ms: float = 50.0) -> dict:
    rules = bench_rules(n_rules)
    hosts = bench_hosts(hosts_articles, concurrency, hosts_latency_ms) if hosts_articles else None
    loop = bench_loopback(n_llm, n_models, concurrency, latency_ms)
    pipe = bench_pipeline(n_llm, n_models, concurrency, latency_ms) if pipeline else None
    targets = {
        "rules_at_least_2000_per_s": rules["articles_per_s"] >= 2000,
        "loopback_all_answered": sum(sum(v.values()) for v in loop["status_by_model"].values()) == loop["questions"],
        "concurrency_limit_respected": loop["server_max_concurrent"] <= loop["concurrency_limit"],
        "rerun_zero_calls": loop["rerun_calls"] == 0,
    }
    if hosts is not None:
        targets["hosts_2_at_least_1_8x_one"] = hosts["speedup"] >= 1.8
        targets["hosts_per_host_limit_respected"] = all(
            m <= concurrency for r in ("1_host", "2_hosts") for m in hosts[r]["max_in_flight_by_host"])
        targets["hosts_all_answered"] = all(hosts[r]["valid"] == hosts_articles for r in ("1_host", "2_hosts"))
        targets["hosts_cache_shared_rerun_zero_calls"] = hosts["rerun_calls_other_host_order"] == 0
    if pipe is not None:
        targets["pipeline_concurrency_limit_respected"] = pipe["server_max_concurrent"] <= concurrency
        targets["pipeline_checks_pass_except_warn"] = all(
            v for k, v in pipe["checks"].items() if k != "invalid_answer_rate")
        targets["pipeline_rerun_zero_calls"] = pipe["rerun_calls"] == 0
    return {"rules": rules, "hosts": hosts, "loopback": loop, "pipeline": pipe, "targets": targets,
            "targets_met": all(targets.values()), "cpu_count": os.cpu_count()}
