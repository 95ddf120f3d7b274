"""Namer backends: embedded rules, strict answer parsing, a vision model through a loopback Ollama."""

from __future__ import annotations

import json

import pytest

from assets.imagery.naming import (LABELS, ClusterProfile, OllamaNamer, RuleNamer, build_namer, namer_for,
                                   parse_json_answer, parse_label_answer, rule_label, rules_vote)
from resources.namer import NamerResource
from pipelines.loopback.ollama_server import Behaviour


def mask(blue, green, red, nir=None, *, area=400, elongation=1.5, rect=0.8, std=0.005, texture=0.004):
    f = {"mean_blue": blue, "mean_green": green, "mean_red": red, "mean_nir": nir, "area_px": area,
         "elongation": elongation, "rectangularity": rect, "brightness_std": std, "texture": texture,
         "brightness": (blue + green + red) / 3}
    f["ndvi"] = (nir - red) / (nir + red) if nir is not None else None
    f["ndwi"] = (green - nir) / (green + nir) if nir is not None else None
    return f


@pytest.mark.parametrize("features,label", [
    (mask(0.07, 0.065, 0.04, 0.02), "water"),
    (mask(0.05, 0.08, 0.06, 0.32), "vegetation"),
    (mask(0.09, 0.11, 0.14, 0.19), "bare_soil"),               # NDVI 0.15, bright enough
    (mask(0.16, 0.16, 0.17, 0.22, std=0.045), "built_up"),     # heterogeneous: roofs, streets, gardens
    (mask(0.24, 0.23, 0.25, 0.26, area=60, rect=0.9), "built_up"),  # one bright rectangular roof
    (mask(0.20, 0.21, 0.23, 0.26, area=4000, rect=0.5, elongation=8), "bare_soil"),  # a wide beach
    (mask(0.12, 0.12, 0.13, 0.17, area=60, elongation=15), "road"),  # 2 px wide, 30 long
    (mask(0.45, 0.44, 0.46, 0.48), "cloud"),
    (mask(0.03, 0.03, 0.035, 0.03), "shadow"),
    # RGB photographs (8-bit / 255, no NIR)
    (mask(0.18, 0.30, 0.15), "vegetation"),                     # excess green, green > blue
    (mask(0.35, 0.33, 0.25), "water"),                          # bluish, smooth, mid-dark
    (mask(0.52, 0.50, 0.50, area=4000), "built_up"),            # grey concrete
    (mask(0.40, 0.50, 0.60, area=4000), "bare_soil"),           # warm tones
    (mask(0.90, 0.91, 0.92), "cloud"),
    (mask(0.05, 0.05, 0.06), "shadow"),
    (mask(0.35, 0.33, 0.25, texture=0.03), "unknown"),          # bluish but rough: not water, not soil
])
def test_rule_labels(features, label):
    assert rule_label(features) == label


def test_rules_without_any_band_role_say_unknown():
    assert rule_label({"brightness": 0.2, "area_px": 100}) == "unknown"


def test_rules_vote_is_area_weighted():
    assert rules_vote({"water": 300.0, "vegetation": 100.0}) == ("water", 0.75)
    assert rules_vote({}) == ("unknown", 0.0)
    named = RuleNamer().name_cluster(ClusterProfile(0, 3, 400, {"water": 100.0, "bare_soil": 300.0}))
    assert (named.label, named.confidence, named.namer, named.status) == ("bare_soil", 0.75, "rules", "ok")


def test_json_answers_are_parsed_strictly():
    assert parse_json_answer('{"label": "water", "confidence": 0.9}') == ("water", 0.9)
    assert parse_json_answer('{"label": "road", "confidence": 1}') == ("road", 1.0)
    for bad, why in [("water", "not JSON"), ('["water"]', "not a JSON object"),
                     ('{"label": "lake", "confidence": 0.5}', "not one of"),
                     ('{"label": "Water", "confidence": 0.5}', "not one of"),
                     ('{"label": "water", "confidence": 1.5}', "confidence"),
                     ('{"label": "water", "confidence": true}', "confidence"),
                     ('{"label": "water"}', "confidence"),
                     ('{"label": "water", "confidence": 0.5, "why": "blue"}', "unexpected keys")]:
        with pytest.raises(ValueError, match=why):
            parse_json_answer(bad)


def test_label_answers_are_parsed_strictly():
    assert parse_label_answer(" Water.") == "water"
    assert parse_label_answer("bare soil") == "bare_soil"
    assert parse_label_answer("built-up") == "built_up"
    for bad in ("water and vegetation", "it is water", "", "lake"):
        with pytest.raises(ValueError):
            parse_label_answer(bad)


PNG = b"\x89PNG\r\n\x1a\nfake-mosaic"


def _profile():
    return ClusterProfile(3, 10, 500, {"water": 500.0}, {"ndwi": 0.4}, mosaic_png=PNG)


def test_ollama_namer_sends_the_mosaic_and_parses_the_answer(ollama_server):
    ollama_server.add_model("llava:7b", Behaviour.clean(lambda prompt: '{"label": "water", "confidence": 0.8}'))
    namer = OllamaNamer("llava:7b", host=ollama_server.url, max_retries=0)
    named = namer.name_cluster(_profile())
    assert (named.label, named.confidence, named.status, named.namer) == ("water", 0.8, "ok", "ollama:llava:7b")
    body = ollama_server.requests[-1]["body"]
    message = body["messages"][-1]
    assert message["images"], "the crop mosaic must travel with the question"
    import base64

    assert base64.b64decode(message["images"][0]) == PNG
    assert all(label in message["content"] for label in LABELS)
    assert body["format"]["properties"]["label"]["enum"] == list(LABELS)
    assert body["options"]["temperature"] == 0


def test_ollama_namer_records_invalid_and_failed_answers(ollama_server):
    ollama_server.add_model("chatty", Behaviour.clean(lambda prompt: "It looks like a lake to me."))
    ollama_server.add_model("down", Behaviour.http_500())
    invalid = OllamaNamer("chatty", host=ollama_server.url, max_retries=0).name_cluster(_profile())
    assert (invalid.label, invalid.status, invalid.confidence) == ("unknown", "invalid", None)
    assert "lake to me" in invalid.detail
    failed = OllamaNamer("down", host=ollama_server.url, max_retries=0).name_cluster(_profile())
    assert (failed.label, failed.status) == ("unknown", "failed") and "500" in failed.detail
    missing = OllamaNamer("not-pulled", host=ollama_server.url, max_retries=0).name_cluster(_profile())
    assert missing.status == "failed" and "not found" in missing.detail


def test_namer_configuration():
    assert isinstance(build_namer("rules"), RuleNamer)
    with pytest.raises(ValueError, match="model name"):
        build_namer("ollama")
    with pytest.raises(ValueError, match="checkpoint"):
        build_namer("transformers")
    with pytest.raises(ValueError, match="unknown"):
        build_namer("paligemma-cloud")
    from pipelines.resources import namer_resource
    from pipelines.settings import SettingsError, load_settings

    resource = namer_resource(load_settings({"IMAGERY_NAMER": "ollama", "IMAGERY_NAMER_MODEL": "llava",
                                             "IMAGERY_K_MIN": "3", "OLLAMA_HOST": "http://h:1"}))
    assert (resource.backend, resource.model, resource.hosts, resource.k_min) == ("ollama", "llava", ["http://h:1"], 3)
    assert isinstance(namer_for(resource), OllamaNamer) and namer_for(resource).vision.hosts == ["http://h:1"]
    two = namer_resource(load_settings({"IMAGERY_NAMER": "ollama", "IMAGERY_NAMER_MODEL": "llava",
                                        "OLLAMA_HOSTS": "http://a:1,http://b:2", "FMLAKE_LLM_MAX_CONCURRENCY": "3",
                                        "FMLAKE_LLM_TIMEOUT_S": "7"}))
    vision = namer_for(two).vision
    assert vision.hosts == ["http://a:1", "http://b:2"]
    assert (vision.client().max_concurrency, vision.client().timeout_s) == (3, 7.0)
    with pytest.raises(SettingsError, match="IMAGERY_NAMER"):
        load_settings({"IMAGERY_NAMER": "gpt"})
    with pytest.raises(SettingsError, match="IMAGERY_K_MAX"):
        load_settings({"IMAGERY_K_MAX": "many"})
    with pytest.raises(SettingsError, match="2 <= k_min <= k_max, got 10 and 3"):
        load_settings({"IMAGERY_K_MIN": "10", "IMAGERY_K_MAX": "3"})
    with pytest.raises(ValueError, match="k_min=10, k_max=3"):
        namer_for(NamerResource(k_min=10, k_max=3))
    assert json.loads(resource.model_dump_json())  # plain config, nothing loaded
