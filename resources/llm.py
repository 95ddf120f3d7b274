"""LLMs served by Ollama: the ONE client of the project (CLI, apps, the namer, the embedder) and the Dagster resource.

``LLMClient`` is the one place that talks to Ollama servers, through the official ``ollama`` package.
The LLM resource, the namer's vision backend and the embedder's Ollama backend all build one; what they
share in a process is kept per server, here:

* **One concurrency limit per server.** Every request to a host takes a slot of that host's limiter,
  a process-wide registry keyed by the host URL (:func:`host_limiter`): LLM calls, namer calls and
  embed calls to the same server share ``FMLAKE_LLM_MAX_CONCURRENCY``, whichever client sends them.
  A client waits while the host has ``max_concurrency`` (its own limit) requests in flight.
* **Several hosts** (``OLLAMA_HOSTS``): each request goes to the least-busy healthy host that has the
  model. A host that stops answering (a refused connection at once; ``host_failures`` timeouts,
  drops or 5xx in a row) is dropped for ``host_cooldown_s`` and its request is retried at once on
  another host (a failover does not use up a retry); after the cool-down the host gets requests
  again, and one success clears its record. With every host down the least recently failed one is
  still tried: a call is never refused without asking a server.
* **A total deadline per request**: ``timeout_s`` bounds one request from connecting to its last byte
  (not only each read: a server that sends its answer a byte at a time is cut at ``timeout_s``). A
  request cut after the server had started answering is not retried on the same host (it would
  stall again); one that got no byte at all is an ordinary timeout and is retried.
* **Bounded, checked answers**: a response larger than ``max_answer_bytes`` is cut there (never read
  whole into memory), and an answer that is not valid UTF-8 (bytes, or lone surrogates in the JSON)
  is a failed call naming the reason — never an exception that stops a batch.
* Retries with exponential backoff for what is worth retrying (timeouts, dropped connections, HTTP
  408/429/5xx; not a refused connection: nothing listens at the host, and waiting through the
  backoff will not change that within a run).

Failures that remain after the retries come back as an ``LLMReply`` with ``error`` set (never an
exception, never a made-up answer), so a batch of thousands of calls finishes and records what
failed. Programming errors (bad arguments) still raise.

Before a batch, :meth:`LLMClient.preflight` asks every host once for its models (``/api/tags``): a
host that does not answer, or lacks a model, is reported (:attr:`LLMClient.host_problems`) and the
run proceeds on the hosts that have each model; when no host answers it raises
:class:`LLMUnavailable` naming the hosts and the causes, and when no host has a model
:class:`ModelNotFound` naming it and what the hosts have — instead of a batch of failed calls.

``LLMResource`` is the typed Dagster resource: immutable config (backend, hosts, models, timeout,
retries, concurrency, answer bound, default options) and a lazily built ``LLMClient`` in a private
attribute. ``backend="embedded"`` means no server: applications then use their own embedded default
(e.g. the news rules extractor) and ``chat``/``generate`` raise :class:`LLMUnavailable`.

Usage::

    client = LLMClient(hosts=["http://gpu1:11434", "http://gpu2:11434"], timeout_s=60, max_concurrency=4)
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

from resources.ollama_hosts import DEFAULT_HOST, HOSTS_COND, HostState, host_limiter, next_pick, normalise_hosts
from resources.ollama_transport import (AnswerTooLarge, BadAnswerText, RequestGuard, check_text, guarded,
                                        guarded_transport, strict_text)


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
    ``thinking`` holds the reasoning a thinking model returned in its separate field, if any;
    ``host`` is the server that gave the answer (or the last one tried).
    """

    text: str | None
    latency_s: float
    error: str | None = None
    model: str = ""
    attempts: int = 1
    thinking: str | None = None
    host: str = ""
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


DEFAULT_MAX_ANSWER_BYTES = 16 * 1024 * 1024
# the status codes that say the server (not the request) is in trouble: they count against the host
HOST_FAULT_STATUS = frozenset({500, 502, 503, 504})


@dataclass
class _Outcome:
    """How a failed request is handled."""

    description: str
    retryable: bool
    host_fault: bool
    refused: bool = False


class LLMClient:
    """Thread-safe Ollama client over one or more hosts (see the module docstring).

    ``max_concurrency`` bounds the requests in flight per host, shared in the process with every
    other client of that host; ``capacity`` (that times the hosts) is how many threads ``map`` uses.
    ``timeout_s`` is the total deadline of one request; ``max_answer_bytes`` bounds a response.
    ``default_options`` (e.g. ``{"temperature": 0}``) are merged under the per-call options.
    """

    def __init__(
        self,
        host: str | Sequence[str] | None = DEFAULT_HOST,
        *,
        hosts: Sequence[str] | None = None,
        timeout_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_concurrency: int = 4,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        host_failures: int = 3,
        host_cooldown_s: float = 30.0,
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
        if max_answer_bytes < 1:
            raise ValueError(f"max_answer_bytes must be >= 1, got {max_answer_bytes}")
        if host_failures < 1:
            raise ValueError(f"host_failures must be >= 1, got {host_failures}")
        if host_cooldown_s < 0:
            raise ValueError(f"host_cooldown_s must be >= 0, got {host_cooldown_s}")
        self.hosts = normalise_hosts(host, hosts)
        self.host = self.hosts[0]
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(min(connect_timeout_s, timeout_s))
        self.max_retries = int(max_retries)
        self.backoff_s = float(backoff_s)
        self.max_backoff_s = float(max_backoff_s)
        self.max_concurrency = int(max_concurrency)
        self.max_answer_bytes = int(max_answer_bytes)
        self.host_failures = int(host_failures)
        self.host_cooldown_s = float(host_cooldown_s)
        self.keep_alive = keep_alive
        self.default_options = dict(default_options or {})
        self._sleep = sleep
        self._states = [host_limiter(h) for h in self.hosts]
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._model_hosts: dict[str, list[HostState]] = {}  # model key -> hosts that have it (preflight)
        self.host_problems: list[str] = []  # what the last preflight found wrong with some hosts
        self.stats: dict[str, Any] = {"calls": 0, "attempts": 0, "retries": 0, "failovers": 0, "failures": 0,
                                      "by_host": {h: 0 for h in self.hosts}}

    @property
    def capacity(self) -> int:
        """Requests this client may have in flight at once over all its hosts."""
        return self.max_concurrency * len(self.hosts)

    # ------------------------------------------------------------------ plumbing
    def _ollama(self, url: str):
        with self._lock:
            client = self._clients.get(url)
            if client is None:
                import httpx
                import ollama

                timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)
                # the pool holds at least as many connections as requests may be in flight
                limits = httpx.Limits(max_connections=max(self.max_concurrency * 2, 10),
                                      max_keepalive_connections=max(self.max_concurrency, 5))
                client = self._clients[url] = ollama.Client(
                    host=url, timeout=timeout, transport=guarded_transport(limits),
                    event_hooks={"response": [strict_text]})
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

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

    # ------------------------------------------------------------------ hosts
    def _candidates(self, model: str | None) -> list[HostState]:
        if model is not None:
            have = self._model_hosts.get(model_key(model))
            if have:
                return have
        return self._states

    def _acquire(self, model: str | None, tried: set[str]) -> HostState:
        """A slot on the best host for ``model``: healthy and untried first, least busy; waits for a slot."""
        candidates = self._candidates(model)
        with HOSTS_COND:
            while True:
                now = time.monotonic()
                up = [h for h in candidates if h.up(now)]
                # healthy hosts not tried yet by this call, else healthy ones, else (all down) any
                tier = [h for h in up if h.url not in tried] or up or candidates
                free = [h for h in tier if h.in_flight < self.max_concurrency]
                if free:
                    best = min(free, key=lambda h: (h.in_flight, h.last_pick))
                    best.last_pick = next_pick()
                    best.in_flight += 1
                    best.requests += 1
                    best.max_in_flight = max(best.max_in_flight, best.in_flight)
                    return best
                downs = [h.down_until - now for h in candidates if not h.up(now)]
                HOSTS_COND.wait(timeout=min([0.5, *[d for d in downs if d > 0]]))

    @staticmethod
    def _release(state: HostState) -> None:
        with HOSTS_COND:
            state.in_flight -= 1
            HOSTS_COND.notify_all()

    def _host_failed(self, state: HostState, outcome: _Outcome, *, force: bool = False) -> None:
        with HOSTS_COND:
            state.streak += 1
            state.last_error = outcome.description
            if force or outcome.refused or state.streak >= self.host_failures:
                if state.up(time.monotonic()):
                    state.drops += 1
                state.down_until = time.monotonic() + self.host_cooldown_s
            HOSTS_COND.notify_all()

    @staticmethod
    def _host_ok(state: HostState) -> None:
        if state.streak or state.down_until:
            with HOSTS_COND:
                state.streak, state.down_until = 0, 0.0

    def host_status(self) -> list[dict[str, Any]]:
        """Each host of this client: up or down, requests in flight and sent, the last failure."""
        now = time.monotonic()
        with HOSTS_COND:
            return [{"host": s.url, "up": s.up(now), "in_flight": s.in_flight, "requests": s.requests,
                     "max_in_flight": s.max_in_flight, "drops": s.drops, "last_error": s.last_error}
                    for s in self._states]

    def _classify(self, exc: BaseException, guard: RequestGuard) -> _Outcome:
        import ollama

        description = _describe(exc)
        if isinstance(exc, AnswerTooLarge):
            return _Outcome(description, retryable=False, host_fault=False)
        if isinstance(exc, (UnicodeDecodeError, BadAnswerText)):
            return _Outcome(f"answer is not valid UTF-8: {description}", retryable=False, host_fault=False)
        if guard.expired:
            if guard.received:
                # it was answering, too slowly: the same host would stall again, another may not
                return _Outcome(f"no complete answer within the {self.timeout_s:g} s deadline "
                                f"({guard.received} bytes received; {description})", retryable=False,
                                host_fault=True)
            return _Outcome(f"no answer within the {self.timeout_s:g} s deadline ({description})",
                            retryable=True, host_fault=True)
        if is_connection_refused(exc):
            return _Outcome(description, retryable=False, host_fault=True, refused=True)
        if isinstance(exc, ollama.ResponseError):
            return _Outcome(description, retryable=is_retryable(exc),
                            host_fault=exc.status_code in HOST_FAULT_STATUS)
        retryable = is_retryable(exc)
        return _Outcome(description, retryable=retryable, host_fault=retryable)

    def _call(self, model: str, fn: Callable[[Any], Any], extract: Callable[[Any], tuple[str | None, str | None]]
              ) -> LLMReply:
        """Run ``fn(ollama_client)`` on a host slot with failover and retries; never raises for
        transport/server failures."""
        start = time.perf_counter()
        attempt = retries = 0
        tried: set[str] = set()
        with self._lock:
            self.stats["calls"] += 1
        while True:
            state = self._acquire(model, tried)
            attempt += 1
            with self._lock:
                self.stats["attempts"] += 1
                self.stats["by_host"][state.url] = self.stats["by_host"].get(state.url, 0) + 1
            guard = RequestGuard(time.monotonic() + self.timeout_s, self.max_answer_bytes)
            try:
                try:
                    with guarded(guard):
                        response = fn(self._ollama(state.url))
                finally:
                    self._release(state)
                text, thinking = extract(response)
                check_text(text)
                check_text(thinking, "thinking")
                raw = response.model_dump(exclude_none=True) if hasattr(response, "model_dump") else {}
                raw.pop("context", None)
                raw.pop("embeddings", None)  # the caller has them; the reply keeps only metadata
                self._host_ok(state)
                return LLMReply(text=text, latency_s=time.perf_counter() - start, model=model, attempts=attempt,
                                thinking=thinking, raw=raw, host=state.url)
            except Exception as exc:
                if not _is_call_failure(exc):
                    raise  # a bug in the caller or the client, not a failed call: let it surface
                outcome = self._classify(exc, guard)
                if outcome.host_fault:
                    self._host_failed(state, outcome)
                tried.add(state.url)
                now = time.monotonic()
                if outcome.host_fault and any(h.url not in tried and h.up(now) for h in self._candidates(model)):
                    with self._lock:
                        self.stats["failovers"] += 1
                    continue  # the request goes to another host at once
                if outcome.retryable and retries < self.max_retries:
                    retries += 1
                    with self._lock:
                        self.stats["retries"] += 1
                    self._sleep(self.backoff(retries))
                    continue
                with self._lock:
                    self.stats["failures"] += 1
                tried_text = f" after {attempt} attempts" if attempt > 1 else ""
                where = f" (last at {state.url})" if len(self.hosts) > 1 else ""
                return LLMReply(text=None, latency_s=time.perf_counter() - start, model=model, attempts=attempt,
                                error=f"{outcome.description}{tried_text}{where}", host=state.url)

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

        def run(client):
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

        def run(client):
            out = client.generate(model=model, prompt=prompt, system=system, format=format, options=opts,
                                  think=think, keep_alive=self.keep_alive, stream=stream)
            return _gather_generate(out) if stream else out

        return self._call(model, run, lambda r: (r.response or "", r.thinking))

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings of ``texts`` (``/api/embed``). Raises after the retries (there is no partial answer)."""
        box: dict[str, Any] = {}

        def run(client):
            box["r"] = client.embed(model=model, input=list(texts), keep_alive=self.keep_alive)
            return box["r"]

        reply = self._call(model, run, lambda r: ("", None))
        if reply.error:
            raise RuntimeError(f"embedding with {model} at {reply.host or self.host} failed: {reply.error}")
        return [list(map(float, v)) for v in box["r"].embeddings]

    def _list(self, url: str) -> list[str]:
        with guarded(RequestGuard(time.monotonic() + self.timeout_s, self.max_answer_bytes)):
            listing = self._ollama(url).list()
        return [m.model for m in listing.models if m.model]

    def list_models(self) -> list[str]:
        """Names of the models the hosts have (``/api/tags``, all hosts); raises if a host cannot be reached."""
        out: list[str] = []
        for url in self.hosts:
            out.extend(m for m in self._list(url) if m not in out)
        return out

    def preflight(self, models: Sequence[str], *, alternative: str | None = None) -> list[str]:
        """Check once, before a batch, that the hosts answer and have every model of ``models``.

        One ``/api/tags`` request per host (in parallel) with the client's deadline, no retries. A
        host that does not answer is dropped (cool-down) and, like a host that lacks a model,
        reported in :attr:`host_problems`; each model is then asked only of the hosts that have it.
        Returns the models the hosts have. Raises :class:`LLMUnavailable` when no host answers (the
        message names the hosts and the causes), :class:`ModelNotFound` when a model is on no host
        that answers (Ollama's names: ``llama3`` is ``llama3:latest``). ``alternative`` (e.g. "ask
        only the rules model") is added to the hint of both errors.
        """
        results: dict[str, tuple[list[str] | None, BaseException | None]] = {}

        def probe(url: str) -> None:
            try:
                results[url] = (self._list(url), None)
            except Exception as exc:
                if not _is_call_failure(exc):
                    raise
                results[url] = (None, exc)

        if len(self.hosts) == 1:
            probe(self.hosts[0])
        else:
            with ThreadPoolExecutor(max_workers=min(len(self.hosts), 16), thread_name_prefix="preflight") as pool:
                for f in [pool.submit(probe, u) for u in self.hosts]:
                    f.result()  # re-raises a bug of ours
        tail = f"; or {alternative}" if alternative else ""
        problems: list[str] = []
        down: dict[str, str] = {}
        for url in self.hosts:
            available, exc = results[url]
            if exc is not None:
                root = _root_cause(exc)
                cause = _describe(exc) if root is exc else _one_line(f"{type(root).__name__}: {root}")
                down[url] = cause
                problems.append(f"{url} does not answer ({cause})")
                self._host_failed(host_limiter(url), _Outcome(cause, False, True), force=True)
        reachable = {u: results[u][0] for u in self.hosts if results[u][1] is None}
        hint = "start it with `ollama serve` or point OLLAMA_HOST at a running server"
        if not reachable:
            if len(self.hosts) == 1:
                url = self.hosts[0]
                raise LLMUnavailable(f"no Ollama server answers at {url} ({down[url]}): {hint}{tail}") \
                    from results[url][1]
            causes = "; ".join(f"{u}: {c}" for u, c in down.items())
            raise LLMUnavailable(f"no Ollama server answers at any of {', '.join(self.hosts)} ({causes}): "
                                 f"start them with `ollama serve` or fix OLLAMA_HOSTS{tail}")
        keys = {u: {model_key(m) for m in av} for u, av in reachable.items()}
        union = list(dict.fromkeys(m for av in reachable.values() for m in av))
        wanted = list(dict.fromkeys(models))
        missing = [m for m in wanted if not any(model_key(m) in k for k in keys.values())]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            one = len(missing) == 1
            pulls = " and ".join(f"`ollama pull {m}`" for m in missing)
            if len(self.hosts) == 1:
                url, available = next(iter(reachable.items()))
                listed = ", ".join(sorted(available)) if available else "none"
                where = f"the Ollama server at {url} (it has: {listed})"
            else:
                has = "; ".join(f"{u} has: {', '.join(sorted(av)) or 'none'}" for u, av in reachable.items())
                gone = f"; {', '.join(down)} did not answer" if down else ""
                where = f"any of the Ollama servers that answer ({has}{gone})"
            raise ModelNotFound(
                f"{'model' if one else 'models'} {names} {'is' if one else 'are'} not on {where}: "
                f"pull {'it' if one else 'them'} with {pulls}{tail}",
                host=next(iter(reachable)), missing=missing, available=union)
        for m in wanted:
            on = [u for u in self.hosts if u in keys and model_key(m) in keys[u]]
            lacking = [u for u in keys if u not in on]
            if lacking:
                problems.append(f"{', '.join(lacking)} {'does' if len(lacking) == 1 else 'do'} not have {m!r}: "
                                f"it is asked only of {', '.join(on)}")
            self._model_hosts[model_key(m)] = [host_limiter(u) for u in on]
        self.host_problems = problems
        return union

    def map(self, fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
        """``[fn(x) for x in items]`` on ``workers`` threads (default: the client's capacity), order kept."""
        items = list(items)
        workers = max(1, min(workers or self.capacity, len(items) or 1))
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
                        json.JSONDecodeError, pydantic.ValidationError, AnswerTooLarge, BadAnswerText,
                        UnicodeDecodeError)):
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

    ``hosts`` lists the servers (``OLLAMA_HOSTS``; ``host`` is the one-server form, used when
    ``hosts`` is empty); ``models`` the models a run fans out to (e.g. the news comparison);
    ``options_json`` default generation options (e.g. ``{"temperature": 0}``) merged under per-call options.
    """

    backend: str = Field(default="embedded", description="'ollama' (servers at hosts) or 'embedded' (no server).")
    hosts: list[str] = Field(default_factory=list, description="Ollama base URLs; requests spread over the healthy ones.")
    host: str = Field(default=DEFAULT_HOST, description="One Ollama base URL (used when hosts is empty).")
    models: list[str] = Field(default_factory=list, description="Models a run asks (fan-out).")
    timeout_s: float = Field(default=120.0, description="Total deadline of one request in seconds (connect to last byte).")
    max_retries: int = Field(default=3, description="Retries of retryable failures (timeouts, 5xx, 429, drops).")
    backoff_s: float = Field(default=1.0, description="First retry wait; doubles each retry (with jitter).")
    max_backoff_s: float = Field(default=30.0, description="Cap on one retry wait.")
    max_concurrency: int = Field(default=4, description="Requests in flight at most per host, shared by the process.")
    max_answer_bytes: int = Field(default=DEFAULT_MAX_ANSWER_BYTES, description="Largest response accepted, in bytes.")
    host_failures: int = Field(default=3, description="Failures in a row that drop a host (a refused connection: 1).")
    host_cooldown_s: float = Field(default=30.0, description="Seconds a dropped host gets no requests.")
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

    @property
    def host_list(self) -> list[str]:
        """The servers of this resource (``hosts``, else ``host``)."""
        return normalise_hosts(self.host, self.hosts)

    def get_client(self) -> LLMClient:
        """The shared client of this resource instance (the per-host limits are shared by the whole process)."""
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
                    hosts=self.host_list, timeout_s=self.timeout_s, max_retries=self.max_retries,
                    backoff_s=self.backoff_s, max_backoff_s=self.max_backoff_s, max_concurrency=self.max_concurrency,
                    max_answer_bytes=self.max_answer_bytes, host_failures=self.host_failures,
                    host_cooldown_s=self.host_cooldown_s, keep_alive=self.keep_alive, default_options=options)
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
