"""LLMs served by Ollama: a plain client (CLI, apps, tests) and the Dagster resource that wraps it.

``LLMClient`` is the one place that talks to an Ollama server, through the official ``ollama``
package: a request timeout, retries with exponential backoff for what is worth retrying (timeouts,
dropped connections, HTTP 408/429/5xx; not a refused connection: nothing listens at the host, and
waiting through the backoff will not change that within a run), and a concurrency limit (one
semaphore per client, so every thread of a run shares it). Failures that remain after the retries
come back as an ``LLMReply`` with ``error`` set (never an exception, never a made-up answer), so a
batch of thousands of calls finishes and records what failed. Programming errors (bad arguments)
still raise.

Before a batch, :meth:`LLMClient.preflight` asks the server once for its models (``/api/tags``):
an unreachable server raises :class:`LLMUnavailable` naming the host and the cause, and a model the
server does not have raises :class:`ModelNotFound` naming it and the models it has — instead of a
batch of hundreds of failed calls.

``LLMResource`` is the typed Dagster resource: immutable config (backend, host, models, timeout,
retries, concurrency, default options) and a lazily built ``LLMClient`` in a private attribute.
``backend="embedded"`` means no server: applications then use their own embedded default (e.g. the
news rules extractor) and ``chat``/``generate`` raise :class:`LLMUnavailable`.

Usage::

    client = LLMClient(host="http://127.0.0.1:11434", timeout_s=60, max_concurrency=4)
    client.preflight(["gemma3:27b"])  # raises LLMUnavailable / ModelNotFound with the reason
    reply = client.chat("gemma3:27b", "¿Hay mujeres migrantes en el texto?", temperature=0)
    if reply.ok: print(reply.text, reply.latency_s)
"""

from __future__ import annotations

import errno
import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import dagster as dg
from pydantic import Field, PrivateAttr


BACKENDS = ("embedded", "ollama")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})

T = TypeVar("T")
R = TypeVar("R")

Messages = Sequence[Mapping[str, Any]]


class LLMUnavailable(RuntimeError):
    """No model can be asked: the resource has no server (backend='embedded'), or the server does not answer."""


class ModelNotFound(LLMUnavailable):
    """The server answers but does not have some of the requested models (``missing``; it has ``available``)."""

    def __init__(self, message: str, *, host: str, missing: Sequence[str], available: Sequence[str]) -> None:
        super().__init__(message)
        self.host = host
        self.missing = list(missing)
        self.available = list(available)


@dataclass(frozen=True)
class LLMReply:
    """One model answer. ``text`` is None when the call failed; ``error`` then says why.

    ``latency_s`` is the wall time of the whole call (all attempts and backoff waits);
    ``thinking`` holds the reasoning a thinking model returned in its separate field, if any.
    """

    text: str | None
    latency_s: float
    error: str | None = None
    model: str = ""
    attempts: int = 1
    thinking: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


_THINK_RE = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)


def strip_thinking(text: str) -> str:
    """Remove ``<think>…</think>`` reasoning blocks (DeepSeek-R1 style); an unclosed block is cut to the end."""
    return _THINK_RE.sub("", text).strip()


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed call may succeed if tried again (transport trouble, overload, server errors)."""
    import httpx
    import ollama

    if isinstance(exc, ollama.ResponseError):
        # status -1: an error reported inside a stream; the server was up, a retry is reasonable
        return exc.status_code in RETRYABLE_STATUS or exc.status_code == -1
    if is_connection_refused(exc):
        # nothing listens at the host: not transient within a run, the backoff would only add minutes
        return False
    # ollama raises the builtin ConnectionError when it cannot connect at all
    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during (ollama hides httpx's with ``from None``)."""
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and not any(cur is seen for seen in out):
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def is_connection_refused(exc: BaseException) -> bool:
    """Whether the server actively refused the connection (nothing listens on that host and port)."""
    return any(isinstance(e, ConnectionRefusedError)
               or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED) for e in _chain(exc))


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of the chain that has a message (e.g. ``ConnectionRefusedError``)."""
    with_text = [e for e in _chain(exc) if str(e)]
    return with_text[-1] if with_text else exc


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _describe(exc: BaseException) -> str:
    import ollama

    if isinstance(exc, ollama.ResponseError):
        return _one_line(f"http {exc.status_code}: {exc.error}")
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    root = _root_cause(exc)
    if root is not exc and str(root) not in str(exc):
        # ollama's ConnectionError says only "Failed to connect"; the cause says why (refused, DNS, ...)
        text += f" ({type(root).__name__}: {root})"
    return _one_line(text)


def model_key(name: str) -> str:
    """A model name as Ollama resolves it: ``llama3`` is ``llama3:latest``, ``library/x`` and
    ``registry.ollama.ai/library/x`` are ``x``; names compare case-insensitively."""
    name = name.strip()
    if "@" in name:  # pinned by digest: compared as given
        return name.casefold()
    path, _, last = name.rpartition("/")
    if ":" not in last:
        last += ":latest"
    parts = [p for p in path.split("/") if p] if path else []
    if len(parts) < 2:
        parts = ["registry.ollama.ai", *(parts or ["library"])]
    return "/".join([*parts, last]).casefold()


class LLMClient:
    """Thread-safe Ollama client with timeout, retries with backoff and a concurrency limit.

    ``max_concurrency`` bounds the requests in flight from this client across all threads (a
    semaphore); ``map`` runs a function over items with that many worker threads.
    ``default_options`` (e.g. ``{"temperature": 0}``) are merged under the per-call options.
    """

    def __init__(
        self,
        host: str = "http://127.0.0.1:11434",
        *,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_concurrency: int = 4,
        keep_alive: str | float | None = None,
        default_options: Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.host = host
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(min(connect_timeout_s, timeout_s))
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_concurrency = int(max_concurrency)
        self.keep_alive = keep_alive
        self.default_options = dict(default_options or {})
        self._sleep = sleep
        self._semaphore = threading.BoundedSemaphore(self.max_concurrency)
        self._lock = threading.Lock()
        self._client = None
        self.stats = {"calls": 0, "attempts": 0, "retries": 0, "failures": 0}

    # ------------------------------------------------------------------ plumbing
    def _ollama(self):
        with self._lock:
            if self._client is None:
                import httpx
                import ollama

                timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
                # the pool holds at least as many connections as requests may be in flight
                limits = httpx.Limits(max_connections=max(self.max_concurrency * 2, 10),
                                      max_keepalive_connections=max(self.max_concurrency, 5))
                self._client = ollama.Client(host=self.host, timeout=timeout, limits=limits)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential, capped, with jitter."""
        base = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        return base * (0.75 + 0.5 * random.random())

    def _options(self, options: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> dict[str, Any] | None:
        merged = {**self.default_options, **(options or {}), **extra}
        return merged or None

    def _call(self, model: str, fn: Callable[[], Any], extract: Callable[[Any], tuple[str | None, str | None]]
              ) -> LLMReply:
        """Run ``fn`` under the semaphore with retries; never raises for transport/server failures."""
        start = time.perf_counter()
        attempt = 0
        with self._lock:
            self.stats["calls"] += 1
        while True:
            attempt += 1
            with self._lock:
                self.stats["attempts"] += 1
            try:
                with self._semaphore:
                    response = fn()
                text, thinking = extract(response)
                raw = response.model_dump(exclude_none=True) if hasattr(response, "model_dump") else {}
                raw.pop("context", None)
                raw.pop("embeddings", None)  # the caller has them; the reply keeps only metadata
                return LLMReply(text=text, latency_s=time.perf_counter() - start, model=model, attempts=attempt,
                                thinking=thinking, raw=raw)
            except Exception as exc:
                if not _is_call_failure(exc):
                    raise  # a bug in the caller or the client, not a failed call: let it surface
                if is_retryable(exc) and attempt <= self.max_retries:
                    with self._lock:
                        self.stats["retries"] += 1
                    self._sleep(self.backoff(attempt))
                    continue
                with self._lock:
                    self.stats["failures"] += 1
                tried = f" after {attempt} attempts" if attempt > 1 else ""
                return LLMReply(text=None, latency_s=time.perf_counter() - start, model=model, attempts=attempt,
                                error=f"{_describe(exc)}{tried}")

    # ------------------------------------------------------------------ API
    def chat(
        self,
        model: str,
        prompt: str | Messages,
        *,
        system: str | None = None,
        format: str | dict[str, Any] | None = None,  # noqa: A002 - Ollama's name
        think: bool | str | None = None,
        options: Mapping[str, Any] | None = None,
        stream: bool = False,
        **option_kwargs: Any,
    ) -> LLMReply:
        """Ask ``model`` one question. ``prompt`` is a user message or a list of chat messages.

        ``option_kwargs`` (temperature=0, num_ctx=8192, seed=1, ...) go to Ollama ``options``;
        ``format`` ("json" or a JSON schema) and ``think`` are passed through. With ``stream=True``
        the answer is gathered from the stream (same reply; useful for long generations).
        """
        if isinstance(prompt, str):
            messages: list[Mapping[str, Any]] = [{"role": "user", "content": prompt}]
        else:
            messages = list(prompt)
        if system:
            messages = [{"role": "system", "content": system}, *messages]
        opts = self._options(options, option_kwargs)

        def run():
            client = self._ollama()
            out = client.chat(model=model, messages=messages, format=format, options=opts, think=think,
                              keep_alive=self.keep_alive, stream=stream)
            return _gather_chat(out) if stream else out

        return self._call(model, run, lambda r: (r.message.content or "", r.message.thinking))

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        format: str | dict[str, Any] | None = None,  # noqa: A002
        think: bool | str | None = None,
        options: Mapping[str, Any] | None = None,
        stream: bool = False,
        **option_kwargs: Any,
    ) -> LLMReply:
        """Completion-style call (``/api/generate``); same contract as :meth:`chat`."""
        opts = self._options(options, option_kwargs)

        def run():
            client = self._ollama()
            out = client.generate(model=model, prompt=prompt, system=system, format=format, options=opts,
                                  think=think, keep_alive=self.keep_alive, stream=stream)
            return _gather_generate(out) if stream else out

        return self._call(model, run, lambda r: (r.response or "", r.thinking))

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings of ``texts`` (``/api/embed``). Raises after the retries (there is no partial answer)."""
        box: dict[str, Any] = {}

        def run():
            box["r"] = self._ollama().embed(model=model, input=list(texts), keep_alive=self.keep_alive)
            return box["r"]

        reply = self._call(model, run, lambda r: ("", None))
        if reply.error:
            raise RuntimeError(f"embedding with {model} at {self.host} failed: {reply.error}")
        return [list(map(float, v)) for v in box["r"].embeddings]

    def list_models(self) -> list[str]:
        """Names of the models the server has (``/api/tags``); raises if the server cannot be reached."""
        with self._semaphore:
            listing = self._ollama().list()
        return [m.model for m in listing.models if m.model]

    def preflight(self, models: Sequence[str], *, alternative: str | None = None) -> list[str]:
        """Check once, before a batch, that the server answers and has every model of ``models``.

        One ``/api/tags`` request with the client's timeouts, no retries. Returns the server's
        models. Raises :class:`LLMUnavailable` when the server cannot be reached or does not answer
        as Ollama (the message names the host and the cause), :class:`ModelNotFound` when a model
        is not among those the server lists (Ollama's names: ``llama3`` is ``llama3:latest``).
        ``alternative`` (e.g. "ask only the rules model") is added to the hint of both errors.
        """
        try:
            available = self.list_models()
        except Exception as exc:
            if not _is_call_failure(exc):
                raise
            root = _root_cause(exc)
            cause = _describe(exc) if root is exc else _one_line(f"{type(root).__name__}: {root}")
            hint = "start it with `ollama serve` or point OLLAMA_HOST at a running server"
            raise LLMUnavailable(f"no Ollama server answers at {self.host} ({cause}): {hint}"
                                 f"{'; or ' + alternative if alternative else ''}") from exc
        have = {model_key(m) for m in available}
        missing = list(dict.fromkeys(m for m in models if model_key(m) not in have))
        if missing:
            names = ", ".join(repr(m) for m in missing)
            listed = ", ".join(sorted(available)) if available else "none"
            pulls = " and ".join(f"`ollama pull {m}`" for m in missing)
            raise ModelNotFound(
                f"{'model' if len(missing) == 1 else 'models'} {names} {'is' if len(missing) == 1 else 'are'} not on "
                f"the Ollama server at {self.host} "
                f"(it has: {listed}): pull {'it' if len(missing) == 1 else 'them'} with {pulls}"
                f"{'; or ' + alternative if alternative else ''}",
                host=self.host, missing=missing, available=available)
        return available

    def map(self, fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
        """``[fn(x) for x in items]`` on ``workers`` threads (default: the concurrency limit), order kept."""
        items = list(items)
        workers = max(1, min(workers or self.max_concurrency, len(items) or 1))
        if workers == 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llm") as pool:
            return list(pool.map(fn, items))


def _is_call_failure(exc: BaseException) -> bool:
    """Failures of the call itself (server/transport), as opposed to bugs in the caller."""
    import httpx
    import ollama
    import pydantic

    # a body that is not JSON, or JSON that is not an Ollama response (a proxy's page), is a failed call
    if isinstance(exc, (ollama.ResponseError, httpx.TransportError, ConnectionError, TimeoutError,
                        json.JSONDecodeError, pydantic.ValidationError)):
        return True
    # JSON of the wrong shape ([], null, "x") fails inside the client as it builds its response object
    # (``ChatResponse(**body)``): that too is the server's answer, not a bug of ours
    return isinstance(exc, (TypeError, AttributeError, KeyError)) and _raised_in(exc, Path(ollama.__file__).parent)


def _raised_in(exc: BaseException, package: Path) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is a file of ``package``."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(package.resolve())


def _gather_chat(parts):
    """Fold a chat stream into one response object (content and thinking concatenated)."""
    last, text, thinking = None, [], []
    for part in parts:
        last = part
        text.append(part.message.content or "")
        thinking.append(part.message.thinking or "")
    if last is None:
        raise ConnectionError("empty stream from the server")
    last.message.content = "".join(text)
    last.message.thinking = "".join(thinking) or None
    return last


def _gather_generate(parts):
    last, text, thinking = None, [], []
    for part in parts:
        last = part
        text.append(part.response or "")
        thinking.append(part.thinking or "")
    if last is None:
        raise ConnectionError("empty stream from the server")
    last.response = "".join(text)
    last.thinking = "".join(thinking) or None
    return last


class LLMResource(dg.ConfigurableResource):
    """Large language models served by Ollama, or none (``backend="embedded"``: apps use their embedded default).

    ``models`` lists the models a run fans out to (e.g. the news comparison); ``options_json`` holds
    default generation options (e.g. ``{"temperature": 0}``) merged under per-call options.
    """

    backend: str = Field(default="embedded", description="'ollama' (a server at host) or 'embedded' (no server).")
    host: str = Field(default="http://127.0.0.1:11434", description="Ollama base URL.")
    models: list[str] = Field(default_factory=list, description="Models a run asks (fan-out).")
    timeout_s: float = Field(default=120.0, description="Per-request read timeout in seconds.")
    max_retries: int = Field(default=3, description="Retries of retryable failures (timeouts, 5xx, 429, drops).")
    backoff_s: float = Field(default=1.0, description="First retry wait; doubles each retry (with jitter).")
    max_backoff_s: float = Field(default=30.0, description="Cap on one retry wait.")
    max_concurrency: int = Field(default=4, description="Requests in flight at most, shared by the whole run.")
    keep_alive: str | None = Field(default=None, description="Ollama keep_alive (e.g. '10m').")
    options_json: str = Field(default="{}", description="Default Ollama options as JSON, e.g. {\"temperature\": 0}.")

    _client: LLMClient | None = PrivateAttr(default=None)
    _client_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def enabled(self) -> bool:
        """True when calls go to a server; False for the embedded (offline) default."""
        if self.backend not in BACKENDS:
            raise ValueError(f"LLMResource.backend must be one of {BACKENDS}, got {self.backend!r}")
        return self.backend == "ollama"

    def get_client(self) -> LLMClient:
        """The shared client of this resource instance (one semaphore for every caller of the run)."""
        if not self.enabled:
            raise LLMUnavailable("the LLM resource is configured with backend='embedded' (no server); "
                                 "set FMLAKE_LLM_BACKEND=ollama and OLLAMA_HOST to call models")
        with self._client_lock:
            if self._client is None:
                try:
                    options = json.loads(self.options_json or "{}")
                except json.JSONDecodeError as exc:
                    raise ValueError(f"LLMResource.options_json is not valid JSON: {exc}") from None
                self._client = LLMClient(
                    self.host, timeout_s=self.timeout_s, max_retries=self.max_retries, backoff_s=self.backoff_s,
                    max_backoff_s=self.max_backoff_s, max_concurrency=self.max_concurrency,
                    keep_alive=self.keep_alive, default_options=options)
            return self._client

    def chat(self, model: str, prompt: str | Messages, **kwargs: Any) -> LLMReply:
        """See :meth:`LLMClient.chat`."""
        return self.get_client().chat(model, prompt, **kwargs)

    def generate(self, model: str, prompt: str, **kwargs: Any) -> LLMReply:
        """See :meth:`LLMClient.generate`."""
        return self.get_client().generate(model, prompt, **kwargs)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()

