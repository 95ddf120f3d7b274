"""LLMClient / LLMResource against the loopback Ollama-compatible server."""

from __future__ import annotations

import errno
import threading
import time

import pytest

from resources.llm import (LLMClient, LLMResource, LLMUnavailable, ModelNotFound, is_connection_refused, is_retryable,
                           model_key, strip_thinking)
from pipelines.loopback.ollama_server import Behaviour, DropConnection, HttpError, RawBody


def fast_client(url: str, **kw) -> LLMClient:
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("max_retries", 2)
    kw.setdefault("backoff_s", 0.01)
    return LLMClient(url, **kw)


def test_chat_and_generate_clean_and_streaming(ollama_server):
    ollama_server.add_model("m", Behaviour.clean(lambda p: "1" if "niña" in p else "2"))
    with fast_client(ollama_server.url) as client:
        a = client.chat("m", "una niña migrante", temperature=0, format="json")
        b = client.generate("m", "un hombre")
        c = client.chat("m", "una niña", stream=True)
        d = client.generate("m", "una niña", stream=True, system="responde con un número")
    assert (a.text, b.text, c.text, d.text) == ("1", "2", "1", "1")
    assert all(r.ok and r.error is None and r.attempts == 1 and r.latency_s > 0 for r in (a, b, c, d))
    first = ollama_server.requests[0]["body"]
    # options and format pass through to the server unchanged
    assert first["options"] == {"temperature": 0} and first["format"] == "json"
    assert first["messages"] == [{"role": "user", "content": "una niña migrante"}]
    assert ollama_server.requests[3]["body"]["system"] == "responde con un número"
    assert ollama_server.calls["m"] == 4


def test_list_models_and_embed(ollama_server):
    ollama_server.add_model("b:1", Behaviour.clean())
    ollama_server.add_model("a:2", Behaviour.clean())
    client = fast_client(ollama_server.url)
    assert client.list_models() == ["a:2", "b:1"]
    v1, v2, v3 = client.embed("a:2", ["hola", "adiós", "hola"])
    assert v1 == v3 and v1 != v2 and abs(sum(x * x for x in v1) - 1) < 1e-9


def test_retryable_failures_are_retried_then_succeed(ollama_server):
    ollama_server.add_model("flaky500", Behaviour.http_500(times=2))
    ollama_server.add_model("dropper", Behaviour.drop(times=1))
    ollama_server.add_model("slowfirst", Behaviour.slow(delay_s=0.6, times=1))
    client = fast_client(ollama_server.url, timeout_s=0.3)
    r500 = client.chat("flaky500", "texto")
    rdrop = client.chat("dropper", "texto")
    rslow = client.chat("slowfirst", "texto")
    assert r500.ok and r500.attempts == 3 and r500.text == "2"
    assert rdrop.ok and rdrop.attempts == 2
    assert rslow.ok and rslow.attempts == 2
    assert ollama_server.calls == {"flaky500": 3, "dropper": 2, "slowfirst": 2}
    assert client.stats["retries"] == 4 and client.stats["failures"] == 0


def test_exhausted_and_non_retryable_failures_come_back_as_errors(ollama_server):
    ollama_server.add_model("always500", Behaviour.http_500())
    ollama_server.add_model("bad", Behaviour.custom(lambda p, n: HttpError(400, "bad request")))
    client = fast_client(ollama_server.url, max_retries=2)
    r = client.chat("always500", "x")
    assert r.text is None and not r.ok and "http 500" in r.error and "after 3 attempts" in r.error
    bad = client.chat("bad", "x")
    assert bad.attempts == 1 and "http 400" in bad.error  # not retryable: asked once
    missing = client.chat("nope", "x")
    assert missing.attempts == 1 and "not found" in missing.error
    assert ollama_server.calls == {"always500": 3, "bad": 1}


def test_unreachable_server_is_an_error_not_an_exception(closed_port_url):
    client = LLMClient(closed_port_url, timeout_s=0.5, max_retries=1, backoff_s=0.01)
    r = client.chat("m", "x")
    # a refused connection is not retried (nothing listens there), and the error says it was refused
    assert r.text is None and r.attempts == 1 and "ConnectionError" in r.error and "Connection refused" in r.error


def test_refused_connection_fails_without_the_backoff(closed_port_url):
    # the defaults of the CLI and the resource: 3 retries, 1 s doubling backoff (about 7 s per call before)
    client = LLMClient(closed_port_url, timeout_s=5, max_retries=3, backoff_s=1.0)
    t0 = time.perf_counter()
    replies = [client.chat("m", "x"), client.generate("m", "x"), client.chat("m", "x", stream=True)]
    assert time.perf_counter() - t0 < 2.0
    assert all(r.error and r.attempts == 1 and "Connection refused" in r.error for r in replies)
    assert client.stats["retries"] == 0 and client.stats["failures"] == 3


def test_retryable_classification():
    import httpx
    import ollama

    refused = httpx.ConnectError("[Errno 111] Connection refused")
    refused.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    wrapped = ConnectionError("Failed to connect to Ollama")
    wrapped.__context__ = refused  # how ollama raises it (``from None`` keeps the context)
    assert is_connection_refused(wrapped) and not is_retryable(wrapped) and not is_retryable(refused)
    # timeouts, drops and overload keep their retries
    for exc in (httpx.ConnectTimeout("timed out"), httpx.ReadTimeout("timed out"), TimeoutError(),
                httpx.RemoteProtocolError("Server disconnected"), ConnectionResetError(errno.ECONNRESET, "reset"),
                ollama.ResponseError("busy", 503), ollama.ResponseError("overloaded", 429)):
        assert is_retryable(exc) and not is_connection_refused(exc), exc
    assert not is_retryable(ollama.ResponseError("bad", 400))


def test_preflight_unreachable_server_is_a_fast_clear_error(closed_port_url):
    client = LLMClient(closed_port_url, timeout_s=5, max_retries=3, backoff_s=1.0)
    t0 = time.perf_counter()
    with pytest.raises(LLMUnavailable) as info:
        client.preflight(["gemma3:27b"], alternative="ask only the rules model")
    assert time.perf_counter() - t0 < 2.0
    msg = str(info.value)
    assert not isinstance(info.value, ModelNotFound)
    assert closed_port_url in msg and "Connection refused" in msg and "ollama serve" in msg
    assert "OLLAMA_HOST" in msg and msg.endswith("; or ask only the rules model") and "\n" not in msg


def test_preflight_names_a_missing_model_and_what_the_server_has(ollama_server):
    for name in ("llama3:latest", "mistral:7b", "hf.co/bartowski/Qwen:Q4_K_M"):
        ollama_server.add_model(name, Behaviour.clean())
    client = fast_client(ollama_server.url)
    # Ollama's names: no tag is ``:latest``, ``library/`` and the default registry are implied, any case
    listed = client.preflight(["llama3", "library/llama3", "registry.ollama.ai/library/llama3:latest",
                               "Mistral:7B", "hf.co/bartowski/qwen:q4_k_m"])
    assert sorted(listed) == ["hf.co/bartowski/Qwen:Q4_K_M", "llama3:latest", "mistral:7b"]
    with pytest.raises(ModelNotFound) as info:
        client.preflight(["llama3", "gemma3:27b", "mistral"])  # mistral is mistral:latest: not there
    err = info.value
    assert err.missing == ["gemma3:27b", "mistral"] and err.host == ollama_server.url
    msg = str(err)
    assert "'gemma3:27b', 'mistral' are not on the Ollama server at " + ollama_server.url in msg
    assert "it has: hf.co/bartowski/Qwen:Q4_K_M, llama3:latest, mistral:7b" in msg
    assert "`ollama pull gemma3:27b` and `ollama pull mistral`" in msg
    assert ollama_server.total_calls == 0  # only /api/tags was asked
    empty = fast_client(ollama_server.url)
    ollama_server.models.clear()
    with pytest.raises(ModelNotFound, match=r"model 'm' is not on .*\(it has: none\): pull it with `ollama pull m`"):
        empty.preflight(["m"])


def test_model_key_follows_ollama_names():
    assert model_key("llama3") == model_key("llama3:latest") == model_key("library/llama3") \
        == "registry.ollama.ai/library/llama3:latest"
    assert model_key("me/model") == "registry.ollama.ai/me/model:latest"
    assert model_key("hf.co/u/r:Q4") == "hf.co/u/r:q4"
    assert model_key("llama3:8b") != model_key("llama3")


def test_concurrency_limit_is_respected(ollama_server):
    ollama_server.add_model("m", Behaviour.clean(delay_s=0.05))
    client = fast_client(ollama_server.url, max_concurrency=3)
    # more threads than the limit: the semaphore must hold the extra ones back
    replies = client.map(lambda i: client.chat("m", f"t{i}"), range(24), workers=8)
    assert all(r.ok for r in replies)
    assert ollama_server.max_concurrent == 3


def test_caller_bugs_still_raise(ollama_server):
    def boom(prompt, n):
        raise DropConnection()

    ollama_server.add_model("m", Behaviour.custom(boom))
    client = fast_client(ollama_server.url, max_retries=0)
    assert "RemoteProtocolError" in client.chat("m", "x").error
    with pytest.raises(Exception):
        client.chat("m", 12345)  # not a prompt: a bug, surfaces


def test_strip_thinking():
    assert strip_thinking("<think>1 o 2?</think>\n\n2") == "2"
    assert strip_thinking("<THINK>largo sin cerrar 1") == ""


def test_resource_embedded_and_from_env(ollama_server):
    with pytest.raises(LLMUnavailable):
        LLMResource().chat("m", "x")
    from pipelines.resources import llm_resource
    from pipelines.settings import SettingsError, load_settings

    res = llm_resource(load_settings({"FMLAKE_LLM_BACKEND": "ollama", "FMLAKE_LLM_MODELS": "a, b",
                                      "FMLAKE_LLM_MAX_CONCURRENCY": "2", "OLLAMA_HOST": ollama_server.url}))
    assert res.enabled and res.models == ["a", "b"] and res.max_concurrency == 2
    ollama_server.add_model("a", Behaviour.think())
    reply = res.chat("a", "mujeres migrantes")
    assert reply.ok and strip_thinking(reply.text) == "1"
    assert res.get_client() is res.get_client()  # one client, one semaphore per resource instance
    with pytest.raises(SettingsError, match="FMLAKE_LLM_BACKEND"):
        load_settings({"FMLAKE_LLM_BACKEND": "gpt"})


def test_malformed_bodies_are_failed_calls_not_crashes(ollama_server):
    ollama_server.add_model("html", Behaviour.custom(lambda p, n: RawBody(200, b"<html>proxy</html>", "text/html")))
    ollama_server.add_model("shape", Behaviour.custom(lambda p, n: RawBody(200, b'{"unexpected": true}')))
    client = fast_client(ollama_server.url, max_retries=2)
    html, shape = client.chat("html", "x"), client.chat("shape", "x")
    assert html.text is None and "JSONDecodeError" in html.error and html.attempts == 1
    assert shape.text is None and "ValidationError" in shape.error
    # JSON that is not an object at all fails inside the client's response constructor: still a failed call
    for body in (b"[]", b"null", b'"x"', b"42"):
        ollama_server.add_model("odd", Behaviour.custom(lambda p, n, body=body: RawBody(200, body)))
        reply = client.chat("odd", "x")
        assert reply.text is None and reply.error and reply.attempts == 1, body
        assert client.generate("odd", "x").error, body


def test_a_bug_in_the_caller_still_surfaces(ollama_server):
    ollama_server.add_model("m", Behaviour.clean())
    client = fast_client(ollama_server.url)
    with pytest.raises(TypeError):
        client.chat("m", "x", options={"temperature": 0}, bogus_option=object())  # not JSON-serialisable
