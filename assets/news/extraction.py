"""Asking several models the same question about every article, with a cache (no Dagster).

``extract_answers`` fans out over models × articles. The embedded rules extractor answers in
process; LLMs are asked through ``resources.llm.LLMClient`` (timeout, retries with backoff, one
concurrency limit for the whole fan-out). Every (article, model) pair gets exactly one row:

* ``valid``: the answer parsed to 1 or 2;
* ``invalid``: the model answered something else (raw kept, ``invalid_reason`` says why);
* ``failed``: the call failed after the retries (``error`` says why).

Answers are cached by (model, prompt version, text hash), failures included, so re-running on
unchanged articles makes no model call; ``retry_failed=True`` re-asks only the failed ones. A new
prompt version (or a new model) is a cache miss, so exactly what changed is asked. The cache is
not keyed by host: with several Ollama hosts (``OLLAMA_HOSTS``) an answer is paid for once,
whichever host gave it. Requests go model by model (all articles for one model, then the next): a
real Ollama server then keeps one model loaded instead of swapping large models in and out.

Answers are handed to ``on_answers`` as they arrive, in chunks (``flush_every`` answers or
``flush_seconds``, whichever comes first; the pipeline writes them to ``silver.news_answer_cache``),
and what is left when the batch stops — finished, or by an exception — is handed over before it
returns or raises: a crash or a kill mid-batch loses at most the answers of the last chunk and
those in flight, and a rerun asks only what was not answered. A bad answer (not UTF-8, too large,
a stalled stream) is that article's ``failed`` row with the reason, never a crash of the batch.

Before the first question the servers are checked once (``LLMClient.preflight``): when none
answers it raises ``LLMUnavailable`` and a model that no host has raises ``ModelNotFound`` (both
naming the hosts and what to do), so nothing is asked, computed or cached; a host that does not
answer or lacks a model is logged and the batch runs on the others. When the cache answers
everything, no server is needed at all.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

import polars as pl

from assets.news.parsing import parse_answer
from assets.news.prompts import Prompt
from assets.news.rules import RULES_MODEL, RULES_VERSION, RulesExtractor
from lakehouse.lineage import text_hash as _text_hash
from lakehouse.tables import news as T

CacheKey = tuple[str, str, str]  # (model, prompt_version, text_hash)

ANSWER_SCHEMA = {c: T.llm_answers.full_schema[c] for c in (
    "article_id", "model", "prompt_version", "text_hash", "answer", "status", "raw", "invalid_reason", "error",
    "latency_s", "attempts", "from_cache", "evidence")}


@dataclass(frozen=True)
class ArticleText:
    article_id: str
    text: str
    text_hash: str

    @classmethod
    def of(cls, article_id: str, text: str, text_hash: str | None = None) -> "ArticleText":
        if not article_id:
            raise ValueError("an article needs an id")
        if text is None or not str(text).strip():
            raise ValueError(f"article {article_id!r} has no text")
        return cls(str(article_id), str(text), text_hash or _text_hash(str(text)))


class PromptChangedError(ValueError):
    """The cache holds answers for this prompt version asked with other words."""


class AnswerCache:
    """Answers already given, keyed by (model, prompt version, text hash); collects new ones to write back."""

    def __init__(self, frame: pl.DataFrame | None = None) -> None:
        self._entries: dict[CacheKey, dict[str, Any]] = {}
        self._new: dict[CacheKey, dict[str, Any]] = {}
        self._unflushed: dict[CacheKey, dict[str, Any]] = {}
        if frame is not None and frame.height:
            for row in frame.iter_rows(named=True):
                self._entries[(row["model"], row["prompt_version"], row["text_hash"])] = row

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: str, prompt_version: str, text_hash: str) -> dict[str, Any] | None:
        return self._entries.get((model, prompt_version, text_hash))

    def put(self, row: Mapping[str, Any]) -> None:
        key = (row["model"], row["prompt_version"], row["text_hash"])
        self._entries[key] = dict(row)
        self._new[key] = dict(row)
        self._unflushed[key] = dict(row)

    @property
    def pending(self) -> int:
        """New entries not yet taken by :meth:`take_unflushed`."""
        return len(self._unflushed)

    def check_prompt(self, prompt: Prompt) -> None:
        """Refuse to mix answers to different words under one prompt version."""
        hashes = {e["prompt_hash"] for (_, v, _), e in self._entries.items() if v == prompt.version}
        hashes.discard(None)
        if hashes and hashes != {prompt.hash}:
            raise PromptChangedError(
                f"prompt version {prompt.version!r} was asked with other words before (hash {sorted(hashes)} vs "
                f"{prompt.hash}); give the new wording a new prompt version")

    def new_rows(self) -> pl.DataFrame:
        """The entries added since loading, in the cache table's schema."""
        return self._frame(self._new)

    def take_unflushed(self) -> pl.DataFrame:
        """The entries added since the last call (or loading), in the cache table's schema; marks them taken."""
        rows, self._unflushed = self._unflushed, {}
        return self._frame(rows)

    @staticmethod
    def _frame(rows: Mapping[CacheKey, dict[str, Any]]) -> pl.DataFrame:
        return pl.DataFrame(list(rows.values()), schema=T.answer_cache.full_schema) \
            if rows else T.answer_cache.empty()


@dataclass
class ExtractionResult:
    answers: pl.DataFrame  # ANSWER_SCHEMA, one row per (article, model)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # per model: asked, cached, valid, ...
    seconds: float = 0.0

    def summary(self) -> pl.DataFrame:
        rows = [{"model": m, **s} for m, s in self.stats.items()]
        return pl.DataFrame(rows) if rows else pl.DataFrame()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def extract_answers(
    articles: Sequence[ArticleText],
    models: Sequence[str],
    *,
    prompt: Prompt,
    client=None,
    cache: AnswerCache | None = None,
    rules: RulesExtractor | None = None,
    retry_failed: bool = False,
    options: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    on_answers: Callable[[pl.DataFrame], None] | None = None,
    flush_every: int = 50,
    flush_seconds: float = 5.0,
) -> ExtractionResult:
    """Answers of every model in ``models`` for every article (see the module docstring).

    ``RULES_MODEL`` in ``models`` is answered by the embedded extractor; any other name is an LLM
    asked through ``client`` (an ``LLMClient``), which must then be given. Raises ``LLMUnavailable``
    (``ModelNotFound``) before asking anything when there are questions and no server answers
    (none has a model). ``on_answers(frame)`` receives the new cache rows in chunks as they arrive
    (``flush_every`` rows or ``flush_seconds``), and the rest when the batch ends or fails.
    """
    if flush_every < 1:
        raise ValueError(f"flush_every must be >= 1, got {flush_every}")
    start = time.perf_counter()
    models = list(dict.fromkeys(models))
    if not models:
        raise ValueError("no models to ask: configure LLM models or keep the rules model")
    ids = [a.article_id for a in articles]
    if len(set(ids)) != len(ids):
        dup = next(i for i, c in Counter(ids).items() if c > 1)
        raise ValueError(f"article id {dup!r} appears more than once in the input")
    llm_models = [m for m in models if m != RULES_MODEL]
    if llm_models and client is None:
        from resources.llm import LLMUnavailable

        raise LLMUnavailable(f"models {llm_models} need an Ollama server: configure the LLM resource "
                             "(FMLAKE_LLM_BACKEND=ollama) or ask only the rules model")
    cache = cache if cache is not None else AnswerCache()
    cache.check_prompt(prompt)
    rules = rules or RulesExtractor()
    options = dict(options or {})
    stats: dict[str, Counter] = {m: Counter() for m in models}
    rows: list[dict[str, Any]] = []

    # one question per (model, distinct text) that the cache cannot answer
    by_hash: dict[str, ArticleText] = {}
    for a in articles:
        by_hash.setdefault(a.text_hash, a)
    todo: list[tuple[str, ArticleText]] = []
    for model in llm_models:
        for h, a in by_hash.items():
            hit = cache.get(model, prompt.version, h)
            if hit is None or (retry_failed and hit["status"] == "failed"):
                todo.append((model, a))
    if todo:
        # once, before any question: a server that is down or lacks a model fails here, in seconds
        client.preflight(list(dict.fromkeys(m for m, _ in todo)),
                         alternative=f"ask only the embedded rules model ({RULES_MODEL})")
        for problem in getattr(client, "host_problems", None) or []:
            if log:
                log(f"warning: {problem}")

    if RULES_MODEL in models:
        for a in articles:
            t0 = time.perf_counter()
            res = rules.analyse(a.text)
            rows.append({"article_id": a.article_id, "model": RULES_MODEL, "prompt_version": RULES_VERSION,
                         "text_hash": a.text_hash, "answer": res.answer, "status": "valid", "raw": res.raw,
                         "invalid_reason": None, "error": None, "latency_s": time.perf_counter() - t0,
                         "attempts": 1, "from_cache": False, "evidence": res.explain()})
            stats[RULES_MODEL]["computed"] += 1

    workers = max(1, int(getattr(client, "capacity", None) or getattr(client, "max_concurrency", 1))) if todo else 1
    if todo and log:
        hosts = getattr(client, "hosts", None) or [getattr(client, "host", "?")]
        log(f"asking {len(todo)} questions ({', '.join(f'{m}: {n}' for m, n in Counter(m for m, _ in todo).items())}) "
            f"on {len(hosts)} host{'s' if len(hosts) != 1 else ''} with at most {client.max_concurrency} in flight "
            f"per host")

    done = Counter()
    lock = threading.Lock()

    def ask(task: tuple[str, ArticleText]) -> dict[str, Any]:
        model, a = task
        reply = client.chat(model, prompt.render(a.text), **options)
        if reply.error is not None:
            status, answer, reason = "failed", None, None
        else:
            parsed = parse_answer(reply.text)
            status = "valid" if parsed.valid else "invalid"
            answer, reason = parsed.answer, parsed.invalid_reason
        with lock:
            done[model] += 1
            n_done = sum(done.values())
        if log and n_done % 500 == 0:
            log(f"{n_done}/{len(todo)} answered")
        return {"model": model, "prompt_version": prompt.version, "text_hash": a.text_hash,
                "prompt_hash": prompt.hash, "answer": answer, "status": status, "raw": reply.text,
                "invalid_reason": reason, "error": reply.error, "latency_s": reply.latency_s,
                "attempts": reply.attempts, "answered_at": _now()}

    fresh: set[CacheKey] = set()

    def flush() -> None:
        if on_answers is not None and cache.pending:
            on_answers(cache.take_unflushed())

    if todo:
        last_flush = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="news-llm")
        finished: queue.Queue = queue.Queue()  # futures as they complete (no O(n) scan of the pending ones)
        try:
            for task in todo:
                pool.submit(ask, task).add_done_callback(finished.put)
            for _ in range(len(todo)):
                while True:
                    try:
                        future = finished.get(timeout=max(flush_seconds, 0.01))
                        break
                    except queue.Empty:  # nothing new for a while: what is pending goes out now
                        flush()
                        last_flush = time.monotonic()
                entry = future.result()  # a bug in ask() surfaces here (after the flush below)
                cache.put(entry)
                fresh.add((entry["model"], entry["prompt_version"], entry["text_hash"]))
                if cache.pending >= flush_every or (cache.pending and time.monotonic() - last_flush >= flush_seconds):
                    flush()
                    last_flush = time.monotonic()
        finally:
            # finished or failing: what was answered is handed over before anything else happens
            pool.shutdown(wait=False, cancel_futures=True)
            flush()

    for model in llm_models:
        for a in articles:
            hit = cache.get(model, prompt.version, a.text_hash)
            key = (model, prompt.version, a.text_hash)
            from_cache = key not in fresh
            stats[model]["cached" if from_cache else "asked"] += 1
            stats[model][hit["status"]] += 1
            rows.append({"article_id": a.article_id, "model": model, "prompt_version": prompt.version,
                         "text_hash": a.text_hash, "answer": hit["answer"], "status": hit["status"],
                         "raw": hit["raw"], "invalid_reason": hit["invalid_reason"], "error": hit["error"],
                         "latency_s": hit["latency_s"], "attempts": hit["attempts"], "from_cache": from_cache,
                         "evidence": None})
    if RULES_MODEL in stats:
        stats[RULES_MODEL]["valid"] = stats[RULES_MODEL]["computed"]
    answers = pl.DataFrame(rows, schema=ANSWER_SCHEMA) if rows else pl.DataFrame(schema=ANSWER_SCHEMA)
    return ExtractionResult(answers, {m: dict(c) for m, c in stats.items()}, time.perf_counter() - start)


def articles_from_records(records: Iterable[Mapping[str, Any]], source: str = "input") -> list[ArticleText]:
    """``ArticleText`` from JSON-like records ``{id, text, ...}``; a bad record is an error naming it."""
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValueError(f"{source}: item {i} is not an object")
        art_id, text = rec.get("id"), rec.get("text")
        if art_id in (None, ""):
            raise ValueError(f"{source}: item {i} has no 'id'")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{source}: item {i} (id {art_id!r}) has no 'text'")
        out.append(ArticleText.of(str(art_id), text))
    return out
