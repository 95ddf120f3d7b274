"""Evaluate keyword, dense and hybrid search on labelled queries (no Dagster).

Each query is a free-text activity description with its 6-digit SCIAN code; its one relevant document is the SCIAN
class with that code. Two protocols:

``catalogue_only``  the index holds only the catalogue (class titles, parent titles, CIIU notes). The weighted fusion's
                    ``alpha`` is tuned on the queries of the years before ``test_from`` and every mode is reported on
                    the years from ``test_from`` on (and, for comparison with the published baselines, on all rows).
``with_examples``   labelled descriptions of the years before ``test_from`` are attached to their class as examples
                    (BM25 text and extra vectors); evaluation is on the years from ``test_from`` on, which the index
                    never saw; codes of those years that SCIAN 2018 lacks (SCIAN 2007/2013 classes such as
                    221110) get a document named by the title delivered with the labels. ``alpha``, the
                    word-family ``expand_weight``, the ``example_discount``, ``example_top`` and the class-frequency
                    ``example_prior`` are chosen together (a small grid, :func:`tune_scoring`) with an index of the
                    years before ``dev_year`` on ``dev_year``'s queries, never on the evaluated years (the
                    IndexConfig defaults were chosen on the site dev set, another corpus). ``eval_unseen_texts``
                    repeats the evaluation on the queries whose normalised text is not one of the examples
                    (registers repeat descriptions year after year).

With a separate ``examples`` file (e.g. a held-out file of later years, evaluated against the 2008-2019 register
as examples) the examples and the tuning come from that file, split the same way by its own years, and every row
of the queries file is evaluated.

Metrics: recall@1, recall@10, mrr@10, ndcg@10 (batched scoring), and p50/p95 latency of the single-query path
(``SearchIndex.search``: embedding the query included) on a random sample of the evaluation queries.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from assets.search.corpus import CorpusError, combine, examples_by_code, legacy_class_documents, scian_documents
from assets.search.engine import IndexConfig, SearchIndex, _top
from assets.search.metrics import summarise
from assets.search.text import fold

ALPHA_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
# with_examples: the query-time scoring parameters chosen on the dev year with alpha (the IndexConfig defaults
# were chosen on the site dev set, a different corpus: the register's examples and vocabulary ask for their own)
EXPAND_WEIGHT_GRID = (0.0, 0.3, 0.6)
EXAMPLE_DISCOUNT_GRID = (0.0, 0.1, 0.2)
EXAMPLE_TOP_GRID = (1, 3, 5)
EXAMPLE_PRIOR_GRID = (0.0, 0.1, 0.2, 0.4)
SCORING_KEYS = ("alpha", "expand_weight", "example_discount", "example_top", "example_prior")


class EvaluationError(ValueError):
    """The queries file is unusable (names the file, row and column)."""


@dataclass
class Queries:
    texts: list[str]
    codes: list[str]
    years: list[int | None]
    path: str
    titles: list[str | None] | None = None   # the code's title as delivered with the label, when the file has one
    invalid: list[tuple[int, str]] = field(default_factory=list)   # (CSV line, reason) of the rows left out

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask: np.ndarray) -> "Queries":
        idx = np.flatnonzero(mask)
        titles = [self.titles[i] for i in idx] if self.titles is not None else None
        return Queries([self.texts[i] for i in idx], [self.codes[i] for i in idx], [self.years[i] for i in idx],
                       self.path, titles)


def read_queries(path: str | Path, text_col: str = "text", code_col: str = "code",
                 year_col: str | None = "year", title_col: str | None = "code_title",
                 strict: bool = False) -> Queries:
    """Read a labelled queries CSV.

    A missing column is an error. A row with an empty text (``empty_text``), a code that is not 6 digits
    (``bad_code``) or an unreadable year (``bad_year``) is left out and recorded in ``Queries.invalid`` with its
    CSV line (``strict=True``: an error naming the row instead). A file with no usable row is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise EvaluationError(f"queries file {path} does not exist")
    texts, codes, years, titles, invalid = [], [], [], [], []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for col in (text_col, code_col):
            if col not in cols:
                raise EvaluationError(f"{path}: no column {col!r} (columns: {cols})")
        use_year = bool(year_col) and year_col in cols
        use_title = bool(title_col) and title_col in cols
        for line, row in enumerate(reader, start=2):
            text, code = (row.get(text_col) or "").strip(), (row.get(code_col) or "").strip()
            raw_year = (row.get(year_col) or "").strip() if use_year else ""
            if not text:
                reason, message = "empty_text", f"column {text_col!r} is empty"
            elif not re.fullmatch(r"\d{6}", code):
                reason, message = "bad_code", f"column {code_col!r} = {code!r} is not a 6-digit SCIAN code"
            elif use_year and not re.fullmatch(r"\d{4}", raw_year):
                reason, message = "bad_year", f"column {year_col!r} = {raw_year!r} is not a year"
            else:
                reason = message = None
            if reason:
                if strict:
                    raise EvaluationError(f"{path}: row {line}: {message}")
                invalid.append((line, reason))
                continue
            texts.append(text)
            codes.append(code)
            years.append(int(raw_year) if use_year else None)
            titles.append((row.get(title_col) or "").strip() or None if use_title else None)
    if not texts:
        detail = f" ({len(invalid)} rows left out: {_reason_counts(invalid)})" if invalid else ""
        raise EvaluationError(f"{path}: no usable query rows{detail}")
    return Queries(texts, codes, years, str(path), titles if use_title else None, invalid)


def _reason_counts(invalid: list[tuple[int, str]]) -> dict[str, int]:
    return dict(Counter(reason for _, reason in invalid))


def invalid_summary(queries: Queries) -> dict[str, Any]:
    """The rows of a queries file that were left out: how many, why, and the first CSV lines."""
    return {"rows": len(queries.invalid), "by_reason": _reason_counts(queries.invalid),
            "first": [{"line": line, "reason": reason} for line, reason in queries.invalid[:20]]}


class CachedEmbedder:
    """Wraps an embedder with an on-disk text -> vector cache (one .npz per model) for repeated evaluations."""

    def __init__(self, embedder: Any, cache_dir: str | Path) -> None:
        self.inner = embedder
        self.name = embedder.name
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.name)[:80]
        self.path = Path(cache_dir) / f"{slug}.npz"
        self._lock = threading.Lock()
        self._mem: dict[str, np.ndarray] = {}
        self.hits = self.misses = 0
        if self.path.exists():
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    for key, vec in zip(z["keys"], z["vectors"]):
                        self._mem[str(key)] = vec
            except (OSError, ValueError, KeyError) as exc:
                raise EvaluationError(f"embedding cache {self.path} is unreadable ({exc}); delete it") from exc

    @staticmethod
    def _key(text: str, role: str = "passage") -> str:
        # a query is keyed apart from the same text as a passage (e5 embeds them differently)
        return hashlib.sha1((text if role == "passage" else f"{role}\x00{text}").encode("utf-8")).hexdigest()

    def embed(self, texts: list[str], batch_size: int | None = None, role: str = "passage") -> np.ndarray:
        keys = [self._key(t, role) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(k_t for k_t in zip(keys, texts) if k_t[0] not in self._mem))
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
            if missing:
                vecs = self.inner.embed([t for _, t in missing], batch_size=batch_size, role=role)
                for (k, _), v in zip(missing, vecs):
                    self._mem[k] = v
                self._save()
            if not texts:
                return self.inner.embed([], role=role)
            return np.stack([self._mem[k] for k in keys]).astype(np.float32)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        keys = np.array(list(self._mem), dtype="U40")
        np.savez(tmp, keys=keys, vectors=np.stack(list(self._mem.values())))
        tmp.replace(self.path)


def gold_ranks(index: SearchIndex, queries: Queries, mode: str, qvecs: np.ndarray | None,
               unique_pos: list[int], k: int = 10, *, bm25_rows: np.ndarray | None = None,
               dense_rows: np.ndarray | None = None) -> list[int]:
    """1-based rank of each query's class within the top ``k`` (0 = not there) for one mode (batched).

    ``bm25_rows`` / ``dense_rows`` (one row per distinct text, in order of first appearance) are the BM25 and dense
    scores already computed under ``index.config`` (a grid over query-time parameters computes each once); with an
    approximate vector index the dense rows are ignored (each query takes the single-query path).
    """
    pos = {ref: i for i, ref in enumerate(index.corpus["ref"].to_list())}
    uniq = list(dict.fromkeys(queries.texts))
    batched = mode in ("dense", "hybrid") and not index.uses_hnsw
    dense_all = (dense_rows if dense_rows is not None else index.dense_scores_batch(qvecs)) if batched else None
    tops: list[np.ndarray] = []
    for u, text in enumerate(uniq):
        if mode != "bm25" and not batched:   # HNSW: exactly the single-query path users get
            final, bm25, _ = index.scores(text, mode, qvecs[u])
            tops.append(_top(final, k))
            continue
        if mode in ("bm25", "hybrid"):
            bm25 = bm25_rows[u] if bm25_rows is not None else index.bm25_scores(text)
        else:
            bm25 = None
        dense = dense_all[u] if dense_all is not None else None
        final = bm25 if mode == "bm25" else dense if mode == "dense" else index.fuse(bm25, dense)
        top = _top(final, k)
        if mode == "bm25":
            top = top[bm25[top] > 0]
        tops.append(top)
    out = []
    for text_pos, code in zip(unique_pos, queries.codes):
        target = pos.get(code)
        hits = np.flatnonzero(tops[text_pos] == target) if target is not None else []
        out.append(int(hits[0]) + 1 if len(hits) else 0)
    return out


def _unique_positions(queries: Queries) -> tuple[list[str], list[int]]:
    order: dict[str, int] = {}
    pos = [order.setdefault(t, len(order)) for t in queries.texts]
    return list(order), pos


def evaluate_index(index: SearchIndex, queries: Queries, *, latency_index: SearchIndex | None = None,
                   latency_sample: int = 300, seed: int = 0, modes: tuple[str, ...] = ("bm25", "dense", "hybrid"),
                   rrf: bool = True) -> dict[str, Any]:
    """Metrics of every mode on ``queries`` (plus ``hybrid_rrf`` when the index fuses with weights)."""
    uniq, pos = _unique_positions(queries)
    qvecs = index.embed_queries(uniq) if any(m in ("dense", "hybrid") for m in modes) else None
    rng = random.Random(seed)
    sample = rng.sample(range(len(queries)), min(latency_sample, len(queries))) if latency_sample else []
    lat_index = latency_index or index
    results: dict[str, Any] = {}
    variants: list[tuple[str, SearchIndex, str]] = [(m, index, m) for m in modes]
    if rrf and "hybrid" in modes and index.config.fusion != "rrf":
        variants.append(("hybrid_rrf", index.with_config(fusion="rrf"), "hybrid"))
    for name, idx, mode in variants:
        ranks = gold_ranks(idx, queries, mode, qvecs, pos)
        lat = []
        if sample:
            timed = lat_index if idx is index else lat_index.with_config(fusion=idx.config.fusion)
            timed.search(queries.texts[sample[0]], mode, 10)   # warm-up, not timed
            for i in sample:
                t = time.perf_counter()
                timed.search(queries.texts[i][:2000], mode, 10)
                lat.append(time.perf_counter() - t)
        results[name] = summarise(ranks, lat)
    return results


def tune_alpha(index: SearchIndex, queries: Queries, grid: tuple[float, ...] = ALPHA_GRID) -> dict[str, Any]:
    """The BM25 weight of the weighted fusion that maximises recall@10 (then mrr@10) on ``queries`` (the index's
    expansion weight and example discount kept)."""
    c = index.config
    return tune_scoring(index, queries, grid, (c.expand_weight,), (c.example_discount,), (c.example_top,),
                        (c.example_prior,))


def tune_scoring(index: SearchIndex, queries: Queries, alphas: tuple[float, ...] = ALPHA_GRID,
                 expand_weights: tuple[float, ...] = EXPAND_WEIGHT_GRID,
                 example_discounts: tuple[float, ...] = EXAMPLE_DISCOUNT_GRID,
                 example_tops: tuple[int, ...] = EXAMPLE_TOP_GRID,
                 example_priors: tuple[float, ...] = EXAMPLE_PRIOR_GRID) -> dict[str, Any]:
    """The (alpha, expand_weight, example_discount, example_top, example_prior) of the weighted fusion that maximise
    recall@10 (then mrr@10) of hybrid on ``queries``; on a tie the earliest in grid order (expand_weight, then
    example_discount, then example_top, then example_prior, then alpha, each in the order given).

    All five are query-time parameters (:meth:`SearchIndex.with_config` of the same index: nothing is rebuilt or
    re-embedded): the queries are embedded once, BM25 is scored once per expansion weight and, with an exact vector
    index, the dense scores once per (example discount, example_top); each grid point only fuses and ranks.
    """
    if not all((alphas, expand_weights, example_discounts, example_tops, example_priors)):
        raise EvaluationError("every tuning grid needs at least one value")
    uniq, pos = _unique_positions(queries)
    qvecs = index.embed_queries(uniq)
    batched = not index.uses_hnsw   # an approximate vector index scores each query on its own path
    bm25 = {w: np.stack([index.with_config(expand_weight=w).bm25_scores(t) for t in uniq])
            for w in dict.fromkeys(expand_weights)} if batched else {}
    dense = {(d, t): index.with_config(example_discount=d, example_top=t).dense_scores_batch(qvecs)
             for d in dict.fromkeys(example_discounts) for t in dict.fromkeys(example_tops)} if batched else {}
    table = []
    for w, d, t, p, a in product(*(dict.fromkeys(g) for g in (expand_weights, example_discounts, example_tops,
                                                                example_priors, alphas))):
        variant = index.with_config(fusion="weighted", alpha=a, expand_weight=w, example_discount=d, example_top=t,
                                    example_prior=p)
        m = summarise(gold_ranks(variant, queries, "hybrid", qvecs, pos, bm25_rows=bm25.get(w),
                                 dense_rows=dense.get((d, t))))
        table.append({"alpha": a, "expand_weight": w, "example_discount": d, "example_top": t, "example_prior": p,
                      "recall@10": m["recall@10"], "mrr@10": m["mrr@10"]})
    best = max(table, key=lambda r: (r["recall@10"], r["mrr@10"]))   # max keeps the first of equal keys
    return {**{key: best[key] for key in SCORING_KEYS}, "recall@10": best["recall@10"],
            "mrr@10": best["mrr@10"], "grid": table, "n": len(queries)}


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))


def run_evaluation(queries: Queries, catalog: pl.DataFrame, embedder: Any, *, query_embedder: Any | None = None,
                   test_from: int | None = 2014, dev_year: int | None = None, protocols: tuple[str, ...] = (
                       "catalogue_only", "with_examples"), latency_sample: int = 300, max_examples: int = 200,
                   config: IndexConfig | None = None, legacy: bool = True, examples: Queries | None = None,
                   expand_weights: tuple[float, ...] = EXPAND_WEIGHT_GRID,
                   example_discounts: tuple[float, ...] = EXAMPLE_DISCOUNT_GRID,
                   example_tops: tuple[int, ...] = EXAMPLE_TOP_GRID,
                   example_priors: tuple[float, ...] = EXAMPLE_PRIOR_GRID,
                   progress=lambda msg: None) -> dict[str, Any]:
    """Run the protocols (see the module docstring) and return a JSON-able report.

    Labelled rows for examples and tuning (the *pool*) come from ``examples`` when given (e.g. earlier years in
    another file; every row of ``queries`` is then evaluated), else from the years of ``queries`` before
    ``test_from``. With no pool (no years, or no year before ``test_from``) only ``catalogue_only`` runs, on all
    rows with the default ``alpha``, and the report says why ``with_examples`` was left out.

    ``with_examples`` chooses ``alpha``, ``expand_weight`` (from ``expand_weights``), ``example_discount`` (from
    ``example_discounts``), ``example_top`` (from ``example_tops``) and ``example_prior`` (from
    ``example_priors``) together on the dev year (:func:`tune_scoring`); one value fixes a parameter.
    ``catalogue_only`` tunes ``alpha`` alone (its index has no example vectors).

    ``embedder`` embeds the catalogue documents (never cached: the build time is real); ``query_embedder`` (e.g. a
    :class:`CachedEmbedder`) embeds queries and example descriptions for the batched metrics; latency is always
    measured with ``embedder``.
    """
    config = config or IndexConfig()
    query_embedder = query_embedder or embedder
    years = _years(queries)
    has_years = bool((years >= 0).all())
    report: dict[str, Any] = {"queries_file": queries.path, "rows": len(queries),
                              "distinct_texts": len(set(queries.texts)), "embedder": embedder.name,
                              "config": {"fusion": config.fusion, "norm": config.norm, "z_top": config.z_top,
                                         "rrf_k": config.rrf_k,
                                         "expand_weight": config.expand_weight,
                                         "example_discount": config.example_discount,
                                         "example_top": config.example_top,
                                         "example_prior": config.example_prior, "k1": config.k1,
                                         "b": config.b}}
    if queries.invalid:
        report["invalid_rows"] = invalid_summary(queries)
    if has_years:
        report["rows_by_year"] = {int(y): int((years == y).sum()) for y in sorted(set(years.tolist()))}
    split_by_year = False   # the dev split: pool and test are the two sides of test_from in one file
    if examples is not None:
        pool, test, test_label = examples, queries, "all rows"
        ex_years = _years(examples)
        report["examples_file"] = {"path": examples.path, "rows": len(examples),
                                   "years": sorted({int(y) for y in ex_years if y >= 0})}
        if examples.invalid:
            report["examples_file"]["invalid_rows"] = invalid_summary(examples)
    elif has_years and test_from is not None:
        test_mask = years >= test_from
        if not test_mask.any():
            raise EvaluationError(f"test_from={test_from} leaves no rows to evaluate "
                                  f"(years {sorted(int(y) for y in set(years.tolist()))})")
        if test_mask.all():
            pool, test, test_label = None, queries, "all rows"
            report["note"] = (f"no rows before test_from={test_from} and no examples file: catalogue_only on all rows "
                              "with the default alpha; pass --examples (labelled earlier rows) for with_examples")
        else:
            pool, test, test_label = queries.subset(~test_mask), queries.subset(test_mask), f"years >= {test_from}"
            split_by_year = True
    else:
        pool, test, test_label = None, queries, "all rows"
        report["note"] = "no year column and no examples file: catalogue_only on all rows with the default alpha"
    if pool is None:
        protocols = tuple(p for p in protocols if p == "catalogue_only")
    pool_label = f"years < {test_from}" if split_by_year else ("the examples file" if pool is not None else "")
    base = scian_documents(catalog)
    known = set(base["ref"].to_list())
    report["catalogue"] = {"classes": base.height,
                           "queries_whose_code_is_not_a_class": sum(c not in known for c in queries.codes)}

    def build(corpus: pl.DataFrame, label: str, emb: Any) -> SearchIndex:
        progress(f"building index: {label}")
        idx = SearchIndex.build(corpus, emb, config)
        progress(f"  {idx.stats.as_dict()}")
        return idx

    def timed_copy(idx: SearchIndex) -> SearchIndex:
        copy = idx.with_config()
        copy.embedder = embedder
        return copy

    if "catalogue_only" in protocols:
        idx = build(base, "catalogue only", embedder)
        idx.embedder = query_embedder
        out: dict[str, Any] = {"index": idx.stats.as_dict()}
        if pool is not None:
            progress(f"tuning alpha on {pool_label}")
            tuning = tune_alpha(idx, pool)
            out["tuning"] = {"queries": pool_label, **tuning}
            idx = idx.with_config(alpha=tuning["alpha"])
        else:
            out["tuning"] = {"queries": "none (no labelled rows to tune on): default alpha", "alpha": config.alpha}
        progress("evaluating catalogue-only")
        out["eval"] = {"queries": test_label, "modes": evaluate_index(
            idx, test, latency_index=timed_copy(idx), latency_sample=latency_sample)}
        if split_by_year:
            out["all_rows"] = {"queries": "all rows (alpha was tuned on part of them)",
                               "modes": evaluate_index(idx, queries, latency_sample=0)}
        report["catalogue_only"] = out

    if "with_examples" in protocols:
        out = {}
        pool_years = _years(pool)
        dev = dev_year if dev_year is not None else (int(pool_years.max()) if (pool_years >= 0).all() else None)
        earlier = (pool_years >= 0) & (pool_years < dev) if dev is not None else np.zeros(len(pool), dtype=bool)
        if dev is not None and earlier.any() and (pool_years == dev).any():
            # tuning: index with the pool's examples before dev, the pool's queries of dev
            dev_idx = build(_corpus_with_examples(catalog, pool, earlier, max_examples, legacy)[0],
                            f"examples < {dev}", query_embedder)
            progress(f"tuning {', '.join(SCORING_KEYS)} on {dev}")
            tuning = tune_scoring(dev_idx, pool.subset(pool_years == dev), ALPHA_GRID, expand_weights,
                                  example_discounts, example_tops, example_priors)
            out["tuning"] = {"index_examples": f"years < {dev}", "queries": f"year {dev}", **tuning}
        else:
            tuning = {key: getattr(config, key) for key in SCORING_KEYS}
            out["tuning"] = {"queries": "none (the examples need two years to tune on): the defaults", **tuning}
        chosen = {key: tuning[key] for key in SCORING_KEYS}
        # final: index with every pool row as an example, queries of the test side
        corpus, ex, n_legacy = _corpus_with_examples(catalog, pool, np.ones(len(pool), dtype=bool), max_examples,
                                                     legacy)
        # built with the uncached embedder: the reported build time is real
        idx = build(corpus, f"examples of {pool_label}", embedder).with_config(**chosen)
        idx.embedder = query_embedder
        out["index"] = {**idx.stats.as_dict(), "scoring": {key: getattr(idx.config, key) for key in chosen},
                        "examples_from": pool_label,
                        "examples": int(sum(len(v) for v in ex.values())),
                        "classes_with_examples": len(ex), "legacy_classes_added": n_legacy}
        progress("evaluating with examples")
        out["eval"] = {"queries": test_label, "modes": evaluate_index(
            idx, test, latency_index=timed_copy(idx), latency_sample=latency_sample)}
        seen = {_norm(t) for v in ex.values() for t in v}
        unseen = np.array([_norm(t) not in seen for t in test.texts])
        out["eval_unseen_texts"] = {"queries": f"{test_label} whose normalised text is not an example",
                                    "modes": evaluate_index(idx, test.subset(unseen), latency_sample=0)
                                    if unseen.any() else {}}
        test_years = _years(test)
        if (test_years >= 0).all():
            out["recall@10_by_year"] = {int(y): {m: v["recall@10"] for m, v in evaluate_index(
                idx, test.subset(test_years == y), latency_sample=0).items()} for y in sorted(set(test_years.tolist()))}
        report["with_examples"] = out
    return report


def _years(queries: Queries) -> np.ndarray:
    """Each row's year, -1 where unknown."""
    return np.array([y if y is not None else -1 for y in queries.years], dtype=int)


def _corpus_with_examples(catalog: pl.DataFrame, pool: Queries, mask: np.ndarray, max_examples: int,
                          legacy: bool) -> tuple[pl.DataFrame, dict[str, list[str]], int]:
    """Catalogue + the labelled rows of ``mask`` as examples (+ documents for their codes the catalogue lacks)."""
    idx = np.flatnonzero(mask)
    ex = _cap(examples_by_code([pool.texts[i] for i in idx], [pool.codes[i] for i in idx]), max_examples)
    classes = scian_documents(catalog, examples=ex)
    if not legacy:
        return classes, ex, 0
    titles: dict[str, str] = {}
    if pool.titles is not None:
        for i in idx:
            if pool.titles[i]:
                titles.setdefault(pool.codes[i], pool.titles[i])
    extra = legacy_class_documents(set(classes["ref"].to_list()), ex, titles)
    return combine(classes, extra), ex, extra.height


def format_report(report: dict[str, Any]) -> str:
    """The evaluation report as plain-text tables (what ``fmlake search evaluate`` prints without --json)."""
    lines = [f"{report['rows']} queries ({report['distinct_texts']} distinct texts) from {report['queries_file']}; "
             f"{report['catalogue']['classes']} SCIAN classes; "
             f"{report['catalogue']['queries_whose_code_is_not_a_class']} queries have a code that is not a class; "
             f"embedder {report['embedder']}"]
    if "invalid_rows" in report:
        inv = report["invalid_rows"]
        lines.append(f"{inv['rows']} rows left out {inv['by_reason']} (first lines: "
                     f"{[r['line'] for r in inv['first'][:10]]})")
    if "examples_file" in report:
        ef = report["examples_file"]
        lines.append(f"examples and tuning from {ef['path']} ({ef['rows']} rows, years {ef['years']})")
    if "note" in report:
        lines.append(f"note: {report['note']}")
    header = f"{'mode':<12}{'n':>7}{'R@1':>8}{'R@10':>8}{'MRR@10':>8}{'nDCG@10':>9}{'p50 ms':>9}{'p95 ms':>9}"
    for name in ("catalogue_only", "with_examples"):
        if name not in report:
            continue
        part = report[name]
        idx = part["index"]
        extra = (f"; {idx['examples']} examples of {idx['classes_with_examples']} classes, "
                 f"{idx['legacy_classes_added']} legacy classes" if "examples" in idx else "")
        tuning = part["tuning"]
        chosen = "".join(f" {key}={tuning[key]}" for key in SCORING_KEYS[1:] if key in tuning)
        lines.append(f"\n{name}: alpha={tuning['alpha']}{chosen} (tuned on {tuning['queries']}); index "
                     f"{idx['documents']} docs / {idx['vectors']} vectors built in {idx['total_s']} s{extra}")
        if name == "with_examples" and "grid" in tuning:
            lines.extend("  " + line for line in format_tuning_grid(tuning))
        for section in ("eval", "eval_unseen_texts", "all_rows"):
            if section not in part:
                continue
            lines.append(f"  {section}: {part[section]['queries']}")
            lines.append("  " + header)
            for mode, m in part[section]["modes"].items():
                p50, p95 = (f"{m[k]:>9.2f}" if k in m else f"{'-':>9}" for k in ("p50_ms", "p95_ms"))
                lines.append(f"  {mode:<12}{m['n']:>7}{m['recall@1']:>8.3f}{m['recall@10']:>8.3f}{m['mrr@10']:>8.3f}"
                             f"{m['ndcg@10']:>9.3f}{p50}{p95}")
        if "recall@10_by_year" in part:
            lines.append("  recall@10 by year: " + json.dumps(part["recall@10_by_year"]))
    return "\n".join(lines)


def format_tuning_grid(tuning: dict[str, Any], best: int = 12) -> list[str]:
    """The dev-year grid of :func:`tune_scoring` as lines: the ``best`` cells (expand_weight, example_discount,
    example_top, example_prior; each with its best alpha) by hybrid recall@10 then mrr@10, and the chosen one (the
    full grid is in the JSON report)."""
    keys = SCORING_KEYS[1:]
    cells: dict[tuple, dict[str, Any]] = {}
    for row in tuning["grid"]:
        key = tuple(row[k] for k in keys)
        if key not in cells or (row["recall@10"], row["mrr@10"]) > (cells[key]["recall@10"], cells[key]["mrr@10"]):
            cells[key] = row
    picked = tuple(tuning[k] for k in keys)
    ranked = sorted(cells.items(), key=lambda kv: (-kv[1]["recall@10"], -kv[1]["mrr@10"]))
    shown = ranked[:best] + [kv for kv in ranked[best:] if kv[0] == picked]
    lines = [f"dev-year grid ({tuning['queries']}, {tuning['n']} queries; hybrid, best alpha per cell; "
             f"{len(shown)} of {len(cells)} cells, best first):",
             f"{'expand_weight':>14}{'discount':>10}{'top':>5}{'prior':>7}{'alpha':>7}{'R@10':>8}{'MRR@10':>8}"]
    for (w, d, t, p), row in shown:
        mark = "  <- chosen" if (w, d, t, p) == picked and row["alpha"] == tuning["alpha"] else ""
        lines.append(f"{w:>14.2f}{d:>10.2f}{t:>5d}{p:>7.2f}{row['alpha']:>7.1f}{row['recall@10']:>8.3f}"
                     f"{row['mrr@10']:>8.3f}{mark}")
    return lines


def _cap(examples: dict[str, list[str]], max_per_class: int) -> dict[str, list[str]]:
    """Distinct examples per class, most frequent first, at most ``max_per_class``."""
    out = {}
    for code, texts in examples.items():
        counts: dict[str, int] = {}
        for t in texts:
            counts[t] = counts.get(t, 0) + 1
        out[code] = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:max_per_class]
    return out


def load_catalog(path: str | Path | None) -> tuple[pl.DataFrame, str]:
    """The SCIAN catalogue from a CSV (codigo,titulo,...) or, with no path, the ``scian-ciiu`` package."""
    from assets.search.corpus import read_scian_csv, scian_from_package

    if path:
        return read_scian_csv(path), str(path)
    return scian_from_package(), "scian-ciiu package (6-digit titles only)"


__all__ = ["CachedEmbedder", "CorpusError", "EvaluationError", "Queries", "evaluate_index", "read_queries",
           "run_evaluation", "tune_alpha", "tune_scoring"]
