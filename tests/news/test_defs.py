"""The news definitions load, with the resources the project builds from the environment."""

import dagster as dg

from assets.news.defs import defs
from pipelines.resources import build_resources
from pipelines.settings import load_settings
from resources.llm import LLMResource


def test_news_definitions_load_with_domain_resources(tmp_path, monkeypatch):
    monkeypatch.setenv("FMLAKE_LLM_BACKEND", "ollama")
    monkeypatch.setenv("FMLAKE_LLM_MODELS", "gemma3:27b,deepseek-r1:32b")
    resources = build_resources(load_settings({"LAKEHOUSE_ROOT": str(tmp_path), "FMLAKE_LLM_BACKEND": "ollama",
                                               "FMLAKE_LLM_MODELS": "gemma3:27b,deepseek-r1:32b"}))
    llm = resources["llm"]
    assert isinstance(llm, LLMResource) and llm.models == ["gemma3:27b", "deepseek-r1:32b"]
    from resources.lakehouse import LakehouseResource

    full = dg.Definitions.merge(defs, dg.Definitions(resources={
        **resources, "lakehouse": LakehouseResource(root=str(tmp_path), landing_root=str(tmp_path / "l"))}))
    dg.Definitions.validate_loadable(full)
    keys = {k.to_user_string() for a in defs.assets for k in a.keys}
    assert keys == {"silver/news_article_locations", "gold/news_llm_answers", "gold/news_majority_vote",
                    "gold/news_model_agreement", "gold/migrant_women_mentions_by_municipality",
                    "gold/migration_intensity_indicator"}
    for a in defs.assets:
        for key in a.keys:
            spec = a.specs_by_key[key]
            assert spec.group_name == "news" and spec.description and spec.kinds
    answers = next(a for a in defs.assets if dg.AssetKey(["gold", "news_llm_answers"]) in a.keys)
    assert answers.op.pool == "llm"
