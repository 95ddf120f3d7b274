"""The one Ollama client against hostile and several loopback servers: a total deadline per request, bounded
and checked answers, one concurrency limit per server shared by the LLM, namer and embedder clients of a
process, requests spread over several hosts, a dying host dropped and re-admitted, preflight of every host."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.loopback.ollama_server import Behaviour, RawBody
from resources.llm import LLMClient, LLMUnavailable, ModelNotFound


def client(hosts, **kw) -> LLMClient:
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("max_retries", 1)
    kw.setdefault("backoff_s", 0.01)
    return LLMClient(hosts=hosts if isinstance(hosts, list) else [hosts], **kw)


# ------------------------------------------------------------------ a server that stalls or answers garbage
@pytest.mark.parametrize("stream", [False, True])
def test_a_server_sending_a_byte_at_a_time_is_cut_at_the_total_deadline(ollama_server, stream):
    # ~250 bytes at 50 ms each: before, every read arrived within the per-read timeout and the call took ~12 s
    ollama_server.add_model("trickle", Behaviour.trickle(interval_s=0.05))
    c = client(ollama_server.url, timeout_s=1.0, max_retries=3)
    t0 = time.perf_counter()
    reply = c.chat("trickle", "texto", stream=stream)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"the call took {elapsed:.1f} s with a 1 s deadline"
    assert reply.text is None and "deadline" in reply.error and "bytes received" in reply.error
    # it was answering, too slowly: the same host is not asked again
    assert reply.attempts == 1 and ollama_server.calls["trickle"] == 1


def test_a_server_that_says_nothing_is_still_retried(ollama_server):
    ollama_server.add_model("late", Behaviour.slow(delay_s=1.0, times=1))
    reply = client(ollama_server.url, timeout_s=0.3, max_retries=1).chat("late", "x")
    assert reply.ok and reply.attempts == 2  # no byte at all: an ordinary timeout, retried


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_that_is_not_utf8_is_a_failed_call_not_a_crash(ollama_server, stream):
    ollama_server.add_model("garbage", Behaviour.invalid_utf8())
    reply = client(ollama_server.url).chat("garbage", "x", stream=stream)
    assert reply.text is None and "not valid UTF-8" in reply.error and reply.attempts == 1
    reply = client(ollama_server.url).generate("garbage", "x", stream=stream)
    assert reply.text is None and "not valid UTF-8" in reply.error


def test_lone_surrogates_escaped_in_the_json_are_not_utf8_either(ollama_server):
    body = (b'{"model": "m", "created_at": "2026-01-01T00:00:00Z", "done": true, '
            b'"message": {"role": "assistant", "content": "1 \\ud800"}}')
    ollama_server.add_model("surrogate", Behaviour.custom(lambda p, n: RawBody(200, body)))
    reply = client(ollama_server.url).chat("surrogate", "x")
    assert reply.text is None and "not valid UTF-8" in reply.error and "surrogate" in reply.error


@pytest.mark.parametrize("stream", [False, True])
def test_a_huge_answer_is_cut_at_the_bound(ollama_server, stream):
    ollama_server.add_model("huge", Behaviour.huge(200_000_000))
    t0 = time.perf_counter()
    reply = client(ollama_server.url, max_answer_bytes=1_000_000).chat("huge", "x", stream=stream)
    assert time.perf_counter() - t0 < 1.5  # 200 MB were not read
    assert reply.text is None and "larger than 1000000 bytes" in reply.error and reply.attempts == 1
    ok = client(ollama_server.url, max_answer_bytes=1_000_000)
    ollama_server.add_model("fine", Behaviour.huge(100_000))
    assert len(ok.chat("fine", "x", stream=stream).text) == 100_000


def test_the_answer_bound_and_the_host_rules_come_from_the_settings():
    from pipelines.resources import llm_resource
    from pipelines.settings import SettingsError, load_settings

    res = llm_resource(load_settings({"FMLAKE_LLM_BACKEND": "ollama", "FMLAKE_LLM_MAX_ANSWER_BYTES": "2048",
                                      "OLLAMA_HOSTS": "http://a:1, http://b:2/", "FMLAKE_LLM_HOST_FAILURES": "5",
                                      "FMLAKE_LLM_HOST_COOLDOWN_S": "7.5"}))
    c = res.get_client()
    assert (c.max_answer_bytes, c.hosts, c.host_failures, c.host_cooldown_s) == \
        (2048, ["http://a:1", "http://b:2"], 5, 7.5)
    assert llm_resource(load_settings({}), host="http://c:3,http://d:4").host_list == ["http://c:3", "http://d:4"]
    with pytest.raises(SettingsError, match="FMLAKE_LLM_MAX_ANSWER_BYTES"):
        load_settings({"FMLAKE_LLM_MAX_ANSWER_BYTES": "lots"})


# ------------------------------------------------------------------ one limit per server, whoever asks
def test_llm_namer_and_embedder_share_one_limit_per_server(ollama_server):
    from assets.imagery.naming import ClusterProfile, namer_for
    from pipelines.resources import embedder_resource, llm_resource, namer_resource
    from pipelines.settings import load_settings

    ollama_server.add_model("m", Behaviour.clean(delay_s=0.05))
    ollama_server.add_model("v", Behaviour.clean(lambda p: '{"label": "water", "confidence": 0.9}', delay_s=0.05))
    ollama_server.add_model("e", Behaviour.clean(delay_s=0.05))
    settings = load_settings({"FMLAKE_LLM_BACKEND": "ollama", "OLLAMA_HOST": ollama_server.url,
                              "FMLAKE_LLM_MAX_CONCURRENCY": "2", "IMAGERY_NAMER": "ollama",
                              "IMAGERY_NAMER_MODEL": "v", "SEARCH_EMBEDDER": "ollama", "SEARCH_OLLAMA_MODEL": "e"})
    llm = llm_resource(settings)
    namer = namer_for(namer_resource(settings))
    embedders = [embedder_resource(settings).get_embedder() for _ in range(4)]  # four embedders, four clients
    profile = ClusterProfile(1, 3, 100, {"water": 100.0}, mosaic_png=b"\x89PNG fake")

    jobs = [lambda: llm.chat("m", "x").ok for _ in range(8)]
    jobs += [lambda: namer.name_cluster(profile).status == "ok" for _ in range(8)]
    jobs += [lambda i=i: embedders[i % 4].embed([f"texto {i}"]).shape == (1, 16) for i in range(8)]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        results = [f.result() for f in futures]  # a failed thread re-raises here
    assert all(results)
    assert ollama_server.calls == {"m": 8, "v": 8, "e": 8}
    # before: each client had its own semaphore (the namer 1, the embedder none): up to 2 + 1 + 8 at once
    assert ollama_server.max_concurrent == 2


# ------------------------------------------------------------------ several hosts
def test_requests_spread_over_two_hosts_within_the_per_host_limit(ollama_server_factory):
    a = ollama_server_factory({"m": Behaviour.clean(delay_s=0.05)})
    b = ollama_server_factory({"m": Behaviour.clean(delay_s=0.05)})
    c = client([a.url, b.url], max_concurrency=2)
    assert c.capacity == 4
    replies = c.map(lambda i: c.chat("m", f"t{i}"), range(40))
    assert all(r.ok for r in replies)
    assert a.max_concurrent == 2 and b.max_concurrent == 2
    assert a.total_calls + b.total_calls == 40 and min(a.total_calls, b.total_calls) >= 15
    assert {r.host for r in replies} == {a.url, b.url}


def test_a_dying_host_is_dropped_and_its_requests_go_to_the_other(ollama_server_factory):
    a = ollama_server_factory({"m": Behaviour.die(after=5, then=Behaviour.clean(delay_s=0.02))})
    b = ollama_server_factory({"m": Behaviour.clean(delay_s=0.02)})
    c = client([a.url, b.url], max_concurrency=2, max_retries=0, host_cooldown_s=60)
    replies = c.map(lambda i: c.chat("m", f"t{i}"), range(60))
    # every request answered: the ones in flight on the dying host and those after went to the other
    assert all(r.ok for r in replies), [r.error for r in replies if not r.ok][:3]
    assert a.calls["m"] <= 5 + 2 and b.calls["m"] >= 60 - 5
    assert c.stats["failovers"] >= 1
    status = {s["host"]: s for s in c.host_status()}
    assert status[a.url]["up"] is False and status[b.url]["up"] is True


def test_a_failing_host_is_dropped_after_a_streak_and_readmitted_after_the_cooldown(ollama_server_factory):
    a = ollama_server_factory({"m": Behaviour.http_500()})
    b = ollama_server_factory({"m": Behaviour.clean()})
    c = client([a.url, b.url], max_retries=0, host_failures=2, host_cooldown_s=0.5)
    for i in range(10):
        reply = c.chat("m", f"t{i}")
        assert reply.ok and reply.host == b.url
    assert a.calls["m"] == 2  # two 500s in a row: dropped, no more requests
    a.add_model("m", Behaviour.clean())  # the host recovers
    time.sleep(0.6)
    hosts = {c.chat("m", f"u{i}").host for i in range(6)}
    assert a.url in hosts and a.calls["m"] > 2
    assert all(s["up"] for s in c.host_status())


def test_a_killed_host_restarted_on_its_port_comes_back(ollama_server_factory):
    a = ollama_server_factory({"m": Behaviour.clean()})
    b = ollama_server_factory({"m": Behaviour.clean()})
    c = client([a.url, b.url], max_retries=0, host_cooldown_s=0.3)
    a.kill()
    time.sleep(0.1)
    assert all(c.chat("m", f"t{i}").ok for i in range(6))  # refused once: dropped, the rest to b
    again = ollama_server_factory({"m": Behaviour.clean()}, port=a.port)
    time.sleep(0.4)
    assert {c.chat("m", f"u{i}").host for i in range(6)} == {a.url, b.url}
    assert again.calls["m"] >= 1


def test_preflight_checks_every_host(ollama_server_factory, closed_port_url):
    a = ollama_server_factory({"m1": Behaviour.clean(), "m2": Behaviour.clean()})
    b = ollama_server_factory({"m1": Behaviour.clean()})
    c = client([a.url, b.url, closed_port_url])
    available = c.preflight(["m1", "m2"])
    assert sorted(available) == ["m1", "m2"]
    problems = " | ".join(c.host_problems)
    assert f"{closed_port_url} does not answer" in problems and "Connection refused" in problems
    assert f"{b.url} does not have 'm2'" in problems
    replies = c.map(lambda i: c.chat("m2" if i % 2 else "m1", f"t{i}"), range(20), workers=4)
    assert all(r.ok for r in replies)
    assert b.calls["m2"] == 0 and a.calls["m2"] == 10  # m2 only where it is
    assert b.calls["m1"] > 0  # m1 on both
    with pytest.raises(ModelNotFound) as info:
        c.preflight(["m3"])
    msg = str(info.value)
    assert "model 'm3' is not on any of the Ollama servers that answer" in msg
    assert f"{a.url} has: m1, m2" in msg and f"{b.url} has: m1" in msg and "ollama pull m3" in msg


def test_preflight_with_no_host_answering_names_them_all(closed_port_url, ollama_server):
    url = ollama_server.url
    ollama_server.kill()
    time.sleep(0.1)
    c = client([closed_port_url, url])
    with pytest.raises(LLMUnavailable) as info:
        c.preflight(["m"])
    msg = str(info.value)
    assert "no Ollama server answers at any of" in msg and closed_port_url in msg and url in msg
    assert "OLLAMA_HOSTS" in msg


def test_a_stalling_host_fails_over_to_the_other(ollama_server_factory):
    a = ollama_server_factory({"m": Behaviour.trickle(interval_s=0.05)})
    b = ollama_server_factory({"m": Behaviour.clean()})
    c = client([a.url, b.url], timeout_s=0.5, max_retries=0)
    t0 = time.perf_counter()
    reply = c.chat("m", "x")
    assert reply.ok and reply.host == b.url and reply.attempts == 2
    assert time.perf_counter() - t0 < 1.5
