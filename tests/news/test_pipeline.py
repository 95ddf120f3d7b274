"""The news assets end to end on a loopback Ollama-compatible server with five scripted models."""

from __future__ import annotations

import hashlib
import threading
import time

import dagster as dg
import polars as pl
import pytest

from assets.news import defs as news
from assets.news.defs import IndicatorConfig, NewsAnswersConfig
from assets.news.rules import RULES_MODEL
from lakehouse.lineage import with_lineage
from lakehouse.tables import news as T
from resources.llm import LLMResource
from pipelines.loopback.ollama_server import Behaviour, DropConnection, HttpError, Slow, default_answer

TIMEOUT_S = 0.3
ALL_ASSETS = [news.news_article_locations, news.news_llm_answers, news.news_majority_vote,
              news.news_model_agreement, news.migrant_women_mentions_by_municipality,
              news.migration_intensity_indicator]


def h(prompt: str) -> int:
    return int(hashlib.md5(prompt.encode()).hexdigest(), 16)


class Scripts:
    """The five seed models, each with its own manners, deterministic per prompt."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def flaky(self, prompt: str, n: int):
        # a third of the texts fail on their first attempt (HTTP 500 or a dropped connection)
        with self.lock:
            self.seen[prompt] = self.seen.get(prompt, 0) + 1
            first = self.seen[prompt] == 1
        if first and h(prompt) % 3 == 0:
            if h(prompt) % 2:
                raise DropConnection()
            return HttpError(500, "llama runner process has terminated")
        return default_answer(prompt)

    @staticmethod
    def broken(prompt: str, n: int):
        # some texts are always too slow, some always get HTTP 500: recorded as failed after retries
        if h(prompt) % 8 == 0:
            return Slow(TIMEOUT_S * 3, default_answer(prompt))
        if h(prompt) % 8 == 1:
            return HttpError(500, "out of memory")
        return default_answer(prompt)

    def models(self) -> dict[str, Behaviour]:
        return {
            "llama3.3:70b": Behaviour.clean(),
            "mixtral:8x7b": Behaviour.prose(),
            "deepseek-r1:32b": Behaviour.think(),
            "gemma3:27b": Behaviour.custom(self.flaky),
            "mistral-small:24b": Behaviour.custom(self.broken),
        }


def llm_resource(server, models) -> LLMResource:
    return LLMResource(backend="ollama", host=server.url, models=list(models), timeout_s=TIMEOUT_S, max_retries=1,
                       backoff_s=0.01, max_backoff_s=0.05, max_concurrency=4)


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.mark.slow
def test_five_models_pipeline_rerun_and_prompt_change(news_lake, ollama_server):
    lake, articles = news_lake
    scripts = Scripts()
    for name, behaviour in scripts.models().items():
        ollama_server.add_model(name, behaviour)
    models = list(scripts.models())
    resources = {"lakehouse": lake, "llm": llm_resource(ollama_server, models)}
    n = len(articles)

    # ---- first run: everything, on the scripted server
    result = dg.materialize(ALL_ASSETS, resources=resources, raise_on_error=True)
    assert result.success
    lh = lake.lakehouse
    answers = lh.read(T.llm_answers)
    assert answers.height == n * (len(models) + 1)  # + the rules model
    assert sorted(answers.get_column("model").unique()) == sorted(models + [RULES_MODEL])
    by = {m: answers.filter(pl.col("model") == m) for m in models + [RULES_MODEL]}
    # clean, <think> and flaky-but-retried models all answer validly, and agree with each other
    for m in ("llama3.3:70b", "deepseek-r1:32b", "gemma3:27b"):
        assert (by[m].get_column("status") == "valid").all(), m
    assert by["deepseek-r1:32b"].sort("article_id").get_column("answer").to_list() == \
        by["llama3.3:70b"].sort("article_id").get_column("answer").to_list()
    flaky_texts = sum(1 for p in scripts.seen if h(p) % 3 == 0)
    assert flaky_texts > 0 and (by["gemma3:27b"].get_column("attempts") == 2).sum() == flaky_texts
    calls = ollama_server.calls
    assert calls["gemma3:27b"] == n + flaky_texts and calls["llama3.3:70b"] == n
    # prose: parsed where it is a bare/labelled digit, invalid (raw kept) where it is not
    mix = by["mixtral:8x7b"]
    invalid = mix.filter(pl.col("status") == "invalid")
    assert invalid.height > 0 and invalid.get_column("answer").is_null().all()
    assert invalid.get_column("raw").str.contains("no puedo determinarlo").all()
    assert mix.filter(pl.col("status") == "valid").height > 0
    # slow past the timeout and permanent 500s: retried once, then recorded as failed
    mis = by["mistral-small:24b"]
    failed = mis.filter(pl.col("status") == "failed")
    assert failed.height > 0 and (failed.get_column("attempts") == 2).all()
    assert failed.get_column("error").str.contains("Timeout|http 500").all()
    assert failed.get_column("error").str.contains("Timeout").any()
    assert failed.get_column("error").str.contains("http 500").any()
    assert 2 <= ollama_server.max_concurrent <= 4  # parallel, within the limit

    evals = checks(result)
    assert evals["every_article_answered"].passed
    assert evals["cve_geo_valid"].passed
    assert evals["located_articles_accounted"].passed
    assert not evals["invalid_answer_rate"].passed  # mixtral's prose answers are over 20 %
    assert evals["invalid_answer_rate"].severity == dg.AssetCheckSeverity.WARN

    # the seed's table: one row per municipality and model, counts adding up to the located articles
    mentions = lh.read(T.mentions_by_municipality)
    locations = lh.read(T.article_locations)
    located = locations.filter(pl.col("cve_geo").is_not_null()).height
    assert located >= n - 4
    for m in models + [RULES_MODEL, "majority_vote"]:
        rows = mentions.filter(pl.col("model") == m)
        assert rows.get_column("n_articles").sum() == located, m
        assert (rows["n_present"] + rows["n_absent"] + rows["n_invalid"] == rows["n_articles"]).all()
    failed_cells = mentions.filter(pl.col("model") == "mistral-small:24b").get_column("n_failed").sum()
    assert failed_cells == failed.join(locations.filter(pl.col("cve_geo").is_not_null()),
                                       on="article_id").height
    indicator = lh.read(T.migration_intensity)
    assert indicator.height > 0 and indicator.get_column("cve_geo").is_in(
        mentions.get_column("cve_geo").unique().to_list() + ["07089", "05025", "28027"]).all()
    agreement = lh.read(T.model_agreement)
    pair = agreement.filter((pl.col("model_a") == "deepseek-r1:32b") & (pl.col("model_b") == "llama3.3:70b"))
    assert pair.get_column("kappa")[0] == pytest.approx(1.0)
    mats = {m.asset_key: m for m in result.get_asset_materialization_events()}
    chart_md = mats[news.K_INDICATOR].materialization.metadata["chart"].value
    assert chart_md.startswith("![migration intensity](data:image/png;base64,iVBOR")

    # ---- rerun: answers come from the cache, the server sees no call at all
    ollama_server.reset_counts()
    again = dg.materialize([news.news_llm_answers], resources=resources, raise_on_error=True)
    assert again.success and ollama_server.total_calls == 0
    answers2 = lh.read(T.llm_answers)
    assert answers2.filter(pl.col("model") != RULES_MODEL).get_column("from_cache").all()
    assert answers2.sort("article_id", "model").select("answer", "status").equals(
        answers.sort("article_id", "model").select("answer", "status"))

    # ---- a new prompt version: every (model, text) asked once more, then cached again
    template = ("Texto: '<texto_noticia>' ¿Aparecen mujeres o niñas migrantes? Responde solo 1 (sí) o 2 (no).")
    cfg = dg.RunConfig(ops={"gold__news_llm_answers": NewsAnswersConfig(prompt_version="es-v2",
                                                                        prompt_template=template)})
    ollama_server.reset_counts()
    dg.materialize([news.news_llm_answers], resources=resources, run_config=cfg, raise_on_error=True)
    asked = {(r["model"], r["body"]["messages"][-1]["content"]) for r in ollama_server.requests}
    assert len(asked) == n * len(models)  # each model asked about each text exactly once (retries aside)
    assert all(c.startswith("Texto: '") for _, c in asked)
    assert ollama_server.calls["llama3.3:70b"] == n
    v2 = lh.read(T.llm_answers)
    assert set(v2.filter(pl.col("model") != RULES_MODEL).get_column("prompt_version")) == {"es-v2"}
    ollama_server.reset_counts()
    dg.materialize([news.news_llm_answers], resources=resources, run_config=cfg, raise_on_error=True)
    assert ollama_server.total_calls == 0
    cache = lh.read(T.answer_cache)
    assert cache.height == 2 * n * len(models)  # both prompt versions kept


def test_retry_failed_reasks_only_failures(news_lake, ollama_server):
    lake, articles = news_lake
    state = {"down": True}
    ollama_server.add_model("m", Behaviour.custom(
        lambda p, n: HttpError(503, "loading model") if state["down"] and h(p) % 4 == 0 else default_answer(p)))
    resources = {"lakehouse": lake, "llm": llm_resource(ollama_server, ["m"])}
    dg.materialize([news.news_article_locations, news.news_llm_answers], resources=resources)
    failed = lake.lakehouse.read(T.llm_answers).filter(pl.col("status") == "failed").height
    assert failed > 0
    state["down"] = False
    ollama_server.reset_counts()
    dg.materialize([news.news_llm_answers], resources=resources)
    assert ollama_server.total_calls == 0  # failures are cached too: no silent re-asking
    cfg = dg.RunConfig(ops={"gold__news_llm_answers": NewsAnswersConfig(retry_failed=True)})
    dg.materialize([news.news_llm_answers], resources=resources, run_config=cfg)
    assert ollama_server.total_calls == failed
    assert (lake.lakehouse.read(T.llm_answers).get_column("status") == "valid").all()


def test_rules_only_without_a_server_and_weights_from_config(news_lake):
    lake, articles = news_lake
    resources = {"lakehouse": lake, "llm": LLMResource()}  # backend embedded: no server at all
    cfg = dg.RunConfig(ops={"gold__migration_intensity_indicator": IndicatorConfig(
        w_share_women_news=0, w_news_per_100k=0, w_shelters=0, w_shelter_capacity=1)})
    result = dg.materialize(ALL_ASSETS, resources=resources, run_config=cfg)
    assert result.success
    answers = lake.lakehouse.read(T.llm_answers)
    assert set(answers.get_column("model")) == {RULES_MODEL} and answers.height == len(articles)
    assert answers.get_column("evidence").is_not_null().all()
    top = lake.lakehouse.read(T.migration_intensity).sort("rank").row(0, named=True)
    assert top["cve_geo"] == "07089" and top["weights"] == \
        '{"news_per_100k": 0.0, "share_women_news": 0.0, "shelter_capacity": 1.0, "shelters": 0.0}'
    bad = dg.RunConfig(ops={"gold__migration_intensity_indicator": IndicatorConfig(w_shelters=-1)})
    failed = dg.materialize([news.migration_intensity_indicator], resources=resources, run_config=bad,
                            raise_on_error=False)
    assert not failed.success


def test_asking_llms_without_a_server_is_a_clear_error(news_lake):
    lake, _ = news_lake
    cfg = dg.RunConfig(ops={"gold__news_llm_answers": NewsAnswersConfig(models=["gemma3:27b"])})
    with pytest.raises(Exception, match="backend='embedded'"):
        dg.materialize([news.news_article_locations, news.news_llm_answers],
                       resources={"lakehouse": lake, "llm": LLMResource()}, run_config=cfg)
    assert lake.lakehouse.read(T.llm_answers).height == 0  # nothing half-written


def failure_description(result) -> str:
    (event,) = result.get_step_failure_events()
    return event.step_failure_data.user_failure_data.description


def test_server_down_fails_the_step_fast_and_writes_nothing(news_lake, closed_port_url):
    lake, _ = news_lake
    # the resource's defaults (3 retries, 1 s doubling backoff): before, 40 articles x ~7 s, then "success"
    llm = LLMResource(backend="ollama", host=closed_port_url, models=["gemma3:27b"])
    dg.materialize([news.news_article_locations], resources={"lakehouse": lake, "llm": llm})
    t0 = time.perf_counter()
    result = dg.materialize([news.news_llm_answers], resources={"lakehouse": lake, "llm": llm},
                            raise_on_error=False)
    assert time.perf_counter() - t0 < 10.0  # Dagster's own overhead; the preflight itself is milliseconds
    assert not result.success
    msg = failure_description(result)
    assert f"no Ollama server answers at {closed_port_url}" in msg and "Connection refused" in msg
    assert "ollama serve" in msg
    lh = lake.lakehouse
    assert lh.read(T.llm_answers).height == 0 and lh.read(T.answer_cache).height == 0  # no failed rows


def test_model_missing_on_the_server_fails_the_step_naming_it(news_lake, ollama_server):
    lake, _ = news_lake
    ollama_server.add_model("llama3.3:70b", Behaviour.clean())
    resources = {"lakehouse": lake, "llm": llm_resource(ollama_server, ["llama3.3:70b", "gemma3:27b"])}
    result = dg.materialize([news.news_article_locations, news.news_llm_answers], resources=resources,
                            raise_on_error=False)
    assert not result.success
    msg = failure_description(result)
    assert "model 'gemma3:27b' is not on the Ollama server" in msg and "it has: llama3.3:70b" in msg
    assert "ollama pull gemma3:27b" in msg
    assert ollama_server.total_calls == 0 and lake.lakehouse.read(T.llm_answers).height == 0
    # answered from the cache, a model the server has lost is not needed: no preflight, no failure
    cfg = dg.RunConfig(ops={"gold__news_llm_answers": NewsAnswersConfig(models=["llama3.3:70b"])})
    assert dg.materialize([news.news_llm_answers], resources=resources, run_config=cfg).success
    ollama_server.models.clear()
    ollama_server.reset_counts()
    assert dg.materialize([news.news_llm_answers], resources=resources, run_config=cfg).success
    assert ollama_server.total_calls == 0


@pytest.mark.realdata
def test_real_2020_news_through_the_news_assets(tmp_path):
    """The real file (no municipality given) through silver (foundation reader) and the news assets."""
    import json

    from assets.ingestion import readers
    from lakehouse.tables import ingestion as I
    from resources.lakehouse import LakehouseResource
    from tests.news.test_rules_geocode import shared_data

    news_path = shared_data() / "news" / "migration_news_2020.json"
    cat_path = shared_data() / "catalogs" / "municipios_completo.json"
    if not news_path.exists() or not cat_path.exists():
        pytest.skip(f"real data not found under {shared_data()} (set FMLAKE_SHARED_DATA)")
    lake = LakehouseResource(root=str(tmp_path / "lake"), landing_root=str(tmp_path / "landing"))
    lh = lake.lakehouse
    cat = json.loads(cat_path.read_text(encoding="utf-8"))
    lh.write(I.silver_municipalities, pl.DataFrame([{
        "cve_geo": m["cve_completa"], "cve_entidad": m["cve_entidad"], "state_name": m["nom_entidad"],
        "cve_municipio": m["cve_municipio"], "municipality_name": m["nom_municipio"],
        "population_total": m["poblacion_total"], "population_female": m["poblacion_femenina"],
        "population_male": m["poblacion_masculina"], "inhabited_dwellings": m["viviendas_habitadas"],
        "seat_name": m.get("nom_cabecera") or None}
        for m in cat]), mode="overwrite")
    lh.write(I.silver_shelters, I.silver_shelters.empty(), mode="overwrite")
    raw = json.loads(news_path.read_text(encoding="utf-8"))
    bronze = pl.DataFrame([{"id": a["id"], "date": a["date"], "text": a["text"], "url": a.get("url"),
                            "title": None, "outlet": None, "cve_geo": None} for a in raw],
                          schema={c: pl.Utf8 for c in ("id", "date", "text", "url", "title", "outlet", "cve_geo")})
    bronze = with_lineage(bronze, str(news_path), "test", "news")
    silver, _ = readers.news_to_silver(bronze, {m["cve_completa"] for m in cat})
    lh.write(I.silver_news, silver, mode="overwrite")
    result = dg.materialize(ALL_ASSETS, resources={"lakehouse": lake, "llm": LLMResource()})
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    locations = lh.read(T.article_locations)
    located = dict(locations.filter(pl.col("cve_geo").is_not_null()).select("article_id", "cve_geo").iter_rows())
    assert located["imumi-008"] == "28027" and located["imumi-106"] == "28022"
    assert 8 <= len(located) <= 25  # most items are national or international: unlocated, not guessed
    answers = lh.read(T.llm_answers)
    assert answers.height == silver.height
    indicator = lh.read(T.migration_intensity)
    assert set(indicator.get_column("cve_geo")) == set(located.values())


def test_garbage_answers_are_failed_rows_and_the_batch_completes(news_lake, ollama_server):
    from pipelines.loopback.ollama_server import Huge, RawAnswer

    lake, articles = news_lake

    def garbage(prompt: str, n: int):
        if h(prompt) % 5 == 0:
            return RawAnswer(b"1 \xff\xfe")  # not UTF-8: before, it crashed the batch and lost every answer
        if h(prompt) % 5 == 1:
            return Huge(3_000_000)  # past the bound
        return default_answer(prompt)

    ollama_server.add_model("m", Behaviour.custom(garbage))
    llm = LLMResource(backend="ollama", host=ollama_server.url, models=["m"], timeout_s=5, max_retries=1,
                      backoff_s=0.01, max_answer_bytes=1_000_000)
    result = dg.materialize([news.news_article_locations, news.news_llm_answers],
                            resources={"lakehouse": lake, "llm": llm})
    assert result.success
    answers = lake.lakehouse.read(T.llm_answers).filter(pl.col("model") == "m")
    assert answers.height == len(articles)
    failed = answers.filter(pl.col("status") == "failed")
    errors = failed.get_column("error").to_list()
    assert any("not valid UTF-8" in e for e in errors) and any("larger than 1000000 bytes" in e for e in errors)
    assert failed.height == sum(1 for e in errors if "UTF-8" in e or "larger than" in e)
    assert answers.filter(pl.col("status") == "valid").height > len(articles) // 2
    assert lake.lakehouse.read(T.answer_cache).height == len(articles)  # the failures are cached too, with the reason
    ollama_server.reset_counts()
    assert dg.materialize([news.news_llm_answers], resources={"lakehouse": lake, "llm": llm}).success
    assert ollama_server.total_calls == 0


KILLED_RUN = """
import sys
import dagster as dg
from assets.news import defs as news
from assets.news.defs import NewsAnswersConfig
from resources.lakehouse import LakehouseResource
from resources.llm import LLMResource

root, landing, url = sys.argv[1:4]
lake = LakehouseResource(root=root, landing_root=landing)
llm = LLMResource(backend="ollama", host=url, models=["m"], timeout_s=10, max_retries=0, max_concurrency=2)
cfg = dg.RunConfig(ops={"gold__news_llm_answers": NewsAnswersConfig(cache_flush_every=1)})
dg.materialize([news.news_llm_answers], resources={"lakehouse": lake, "llm": llm}, run_config=cfg)
"""


@pytest.mark.slow
def test_a_run_killed_mid_batch_keeps_the_answers_it_received(news_lake, ollama_server, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    lake, articles = news_lake
    ollama_server.add_model("m", Behaviour.clean(delay_s=0.1))
    dg.materialize([news.news_article_locations], resources={"lakehouse": lake, "llm": LLMResource()})
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    proc = subprocess.Popen([sys.executable, str(script), lake.root, lake.landing_root, ollama_server.url],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while ollama_server.total_calls < 20 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert ollama_server.total_calls >= 20
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    asked_before = ollama_server.total_calls
    cached = lake.lakehouse.read(T.answer_cache).height
    # before: nothing was written until the whole batch was answered (a rerun asked all 40 again)
    # lost at most: the 2 in flight, and those answered while the last chunk was being written
    assert cached >= max(asked_before - 10, 10), (cached, asked_before)
    assert cached < len(articles)
    ollama_server.reset_counts()
    llm = LLMResource(backend="ollama", host=ollama_server.url, models=["m"], timeout_s=10, max_retries=0)
    assert dg.materialize([news.news_llm_answers], resources={"lakehouse": lake, "llm": llm}).success
    assert ollama_server.total_calls == len(articles) - cached  # only what was not answered
    assert lake.lakehouse.read(T.llm_answers).filter(pl.col("model") == "m").height == len(articles)


def test_the_answer_cache_is_shared_by_every_host(news_lake, ollama_server_factory):
    lake, articles = news_lake
    a = ollama_server_factory({"m": Behaviour.clean(delay_s=0.01)})
    b = ollama_server_factory({"m": Behaviour.clean(delay_s=0.01)})
    assert not any("host" in c for c in T.answer_cache.full_schema)  # nothing in the cache is keyed by host

    def llm(hosts):
        return LLMResource(backend="ollama", hosts=hosts, models=["m"], timeout_s=5, max_retries=0,
                           max_concurrency=2)

    assert dg.materialize([news.news_article_locations, news.news_llm_answers],
                          resources={"lakehouse": lake, "llm": llm([a.url, b.url])}).success
    assert a.total_calls > 0 and b.total_calls > 0 and a.total_calls + b.total_calls == len(articles)
    a.reset_counts()
    b.reset_counts()
    # another host list (one of them only, the other first): every answer comes from the cache
    for hosts in ([b.url], [b.url, a.url]):
        assert dg.materialize([news.news_llm_answers], resources={"lakehouse": lake, "llm": llm(hosts)}).success
    assert a.total_calls == b.total_calls == 0


def test_a_server_dying_mid_batch_leaves_failed_rows_and_a_rerun_asks_only_those(news_lake, ollama_server_factory):
    lake, articles = news_lake
    server = ollama_server_factory({"m": Behaviour.die(after=12)})
    llm = LLMResource(backend="ollama", host=server.url, models=["m"], timeout_s=5, max_retries=1, backoff_s=0.01,
                      max_concurrency=1)
    result = dg.materialize([news.news_article_locations, news.news_llm_answers],
                            resources={"lakehouse": lake, "llm": llm})
    assert result.success  # the batch finishes: what the dead server could not answer is failed, with why
    rows = lake.lakehouse.read(T.llm_answers).filter(pl.col("model") == "m")
    assert rows.height == len(articles)
    assert rows.filter(pl.col("status") == "valid").height == 12
    failed = rows.filter(pl.col("status") == "failed")
    assert failed.height == len(articles) - 12
    assert all("Connection refused" in e or "Server disconnected" in e or "reset" in e.lower()
               for e in failed.get_column("error").to_list())
    back = ollama_server_factory({"m": Behaviour.clean()}, port=server.port)  # the server comes back
    cfg = dg.RunConfig(ops={"gold__news_llm_answers": NewsAnswersConfig(retry_failed=True)})
    assert dg.materialize([news.news_llm_answers], resources={"lakehouse": lake, "llm": llm}, run_config=cfg).success
    assert back.calls["m"] == len(articles) - 12
    assert (lake.lakehouse.read(T.llm_answers).filter(pl.col("model") == "m").get_column("status") == "valid").all()
