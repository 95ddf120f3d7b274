"""LLM re-ranking of doubtful records: strict parsing, reordering, and the asset against a loopback Ollama."""

import re

import polars as pl
import pytest

from assets.coding.catalog import load_catalog
from assets.coding.config import load_config
from assets.coding.rerank import apply_rerank, build_prompt, parse_choice
from lakehouse import get_table
from resources.llm import LLMReply, LLMResource
from tests.coding.conftest import run_coding
from pipelines.loopback.ollama_server import Behaviour


def test_parse_choice_accepts_exactly_one_listed_code():
    cands = ["311811", "311812", "461110"]
    assert parse_choice("311812", cands) == "311812"
    assert parse_choice("<think>dudo entre 311811 y 311812</think>\nCódigo: 311812.", cands) == "311812"
    assert parse_choice("311811 o 311812", cands) is None         # two codes: not a choice
    assert parse_choice("9311812", cands) is None                 # not a whole token
    assert parse_choice("722514", cands) is None and parse_choice("", cands) is None


def test_prompt_lists_candidates_with_titles():
    cfg = load_config("scian")
    prompt = build_prompt("pan dulce y bolillo", ["311812", "461110"], load_catalog(cfg), cfg.title)
    assert "- 311812: Panificación tradicional" in prompt and "'pan dulce y bolillo'" in prompt


def _frame():
    return pl.DataFrame({
        "record_id": ["a", "b", "c", "d"], "text": ["x", "y", "z", "w"],
        "code": ["311811", "461110", "311812", "461121"], "probability": [0.5, 0.4, 0.99, 0.45],
        "candidate_2": ["311812", "461121", "311811", "461110"], "probability_2": [0.3, 0.35, 0.01, 0.3],
        "candidate_3": ["461110", "311812", None, None], "probability_3": [0.1, 0.1, None, None],
        "decision": ["manual", "manual", "auto", "manual"], "source": ["model"] * 4})


def test_apply_rerank_reorders_manual_records_only_and_counts_outcomes():
    answers = {"x": LLMReply("311812", 0.1), "y": LLMReply("no sé", 0.1), "w": LLMReply(None, 0.1, error="timeout")}
    asked = []

    def ask(prompt):
        text = re.search(r"Descripción: '(.*)'", prompt).group(1)
        asked.append(text)
        return answers[text]

    out, counts = apply_rerank(_frame(), ask, None, "SCIAN")
    assert sorted(asked) == ["w", "x", "y"]                        # the auto record is never asked
    assert counts == {"asked": 3, "chosen": 1, "changed": 1, "invalid": 1, "failed": 1}
    a = out.filter(pl.col("record_id") == "a").row(0, named=True)
    assert (a["code"], a["candidate_2"], a["candidate_3"]) == ("311812", "311811", "461110")
    assert (a["probability"], a["probability_2"]) == (0.3, 0.5) and a["source"] == "llm"
    assert a["decision"] == "manual"                              # an LLM choice is never auto-coded
    assert out.filter(pl.col("record_id") != "a").equals(_frame().filter(pl.col("record_id") != "a"))


@pytest.mark.slow
def test_coded_records_asset_reranks_with_an_ollama_model(sample_lake, ollama_server):
    resources, instance, _ = sample_lake

    def second_option(prompt):  # a model that always prefers the second listed candidate
        codes = re.findall(r"^- (\S+?):", prompt, flags=re.M)
        return codes[1] if len(codes) > 1 else codes[0]

    ollama_server.add_model("qwen3:8b", Behaviour.clean(second_option))
    before = resources["lakehouse"].lakehouse.read(get_table("gold.coded_records"))
    manual = before.filter(pl.col("decision") == "manual")
    assert manual.height > 0
    resources = {**resources, "llm": LLMResource(backend="ollama", host=ollama_server.url, models=["qwen3:8b"])}
    run_coding(resources, instance, ingest=False, run_config={"ops": {"gold__coded_records": {"config": {
        "llm_rerank": True}}}})
    after = resources["lakehouse"].lakehouse.read(get_table("gold.coded_records"))
    changed = after.join(manual.select("record_id", "classification", pl.col("candidate_2").alias("was_2")),
                         on=["classification", "record_id"])
    assert (changed.get_column("code") == changed.get_column("was_2")).all()
    assert set(changed.get_column("source")) == {"llm"} and set(changed.get_column("decision")) == {"manual"}
    assert ollama_server.calls["qwen3:8b"] == manual.height
    untouched = after.filter(pl.col("decision") == "auto").get_column("source").unique().to_list()
    assert "llm" not in untouched
