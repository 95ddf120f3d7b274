"""A stalling, garbage-answering, oversized or dying Ollama-compatible server (pipelines/loopback/ollama_server.py)
against the one Ollama client: every call ends within its deadline with a failed reply naming why, a bad answer
fails that call only (the rest of a batch is answered), and a dead server is an error at once, never a hang."""

from __future__ import annotations

import time

import pytest

from pipelines.loopback.ollama_server import Behaviour, OllamaServer
from resources.llm import LLMClient

pytestmark = pytest.mark.faults


@pytest.fixture
def server():
    srv = OllamaServer().start()
    yield srv
    srv.stop()


def _client(srv, **kw) -> LLMClient:
    return LLMClient(srv.url, **{"max_retries": 0, "timeout_s": 2.0, "backoff_s": 0.01, **kw})


def test_a_byte_at_a_time_server_is_cut_at_the_total_deadline(server):
    server.add_model("m", Behaviour.trickle(interval_s=0.05))
    t0 = time.time()
    reply = _client(server).chat("m", "¿hay mujeres migrantes?")
    assert not reply.ok and reply.error
    assert time.time() - t0 < 6, f"a trickling answer took {time.time() - t0:.1f}s with a 2 s deadline"


def test_an_answer_that_is_not_utf8_fails_that_call_only(server):
    server.add_model("m", Behaviour.clean())
    server.add_model("bad", Behaviour.invalid_utf8())
    client = _client(server)
    replies = client.map(lambda m: client.chat(m, "texto"), ["m", "bad", "m", "m"])
    assert [r.ok for r in replies] == [True, False, True, True]
    assert replies[1].error


def test_an_oversized_answer_is_refused_without_holding_it(server):
    server.add_model("huge", Behaviour.huge(64 * 1024 * 1024))
    t0 = time.time()
    reply = _client(server, max_answer_bytes=1024 * 1024, timeout_s=20).chat("huge", "texto")
    assert not reply.ok and reply.error
    assert time.time() - t0 < 20


def test_a_server_that_dies_mid_batch_fails_fast(server):
    server.add_model("m", Behaviour.die(after=2))
    client = _client(server, max_retries=2)
    t0 = time.time()
    replies = [client.chat("m", f"texto {i}") for i in range(5)]
    assert [r.ok for r in replies[:2]] == [True, True]
    assert not any(r.ok for r in replies[2:])
    assert time.time() - t0 < 15, "calls to a dead server must fail at once (connection refused is not retried)"
