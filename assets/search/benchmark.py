"""Throughput and latency benchmark on a synthetic corpus (``fmlake search benchmark``; no Dagster).

Builds the index over ``corpus.synthetic_corpus(n_docs)`` (embedding every document with the given embedder, BM25),
then times ``SearchIndex.search`` one query at a time per mode with the exact numpy vector index, the binary codes
(Hamming pre-selection + exact rescoring) and the DuckDB vss HNSW index built over the same vectors (their build
times are measured apart), and how much of the exact top 10 (dense and hybrid) each approximate index returns.
``auto`` picks one of them by size (``IndexConfig.exact_max_vectors`` / ``binary_max_vectors``); the report says
which and what its full build rate is. Queries
are 2-6 word phrases cut from random documents, so every query has matching documents.
"""

from __future__ import annotations

import copy
import os
import platform
import random
import time
from typing import Any

from assets.search.corpus import synthetic_corpus
from assets.search.engine import IndexConfig, SearchIndex
from assets.search.metrics import percentile_ms


def _latency(index: SearchIndex, queries: list[str]) -> dict[str, Any]:
    out = {}
    for mode in ("bm25", "dense", "hybrid"):
        index.search(queries[0], mode, 10)  # warm-up
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, mode, 10)
            times.append(time.perf_counter() - t)
        out[mode] = {"p50_ms": round(percentile_ms(times, 50), 2), "p95_ms": round(percentile_ms(times, 95), 2),
                     "queries": len(times)}
    return out


def run_benchmark(n_docs: int, n_queries: int, embedder: Any, *, hnsw: bool = True, seed: int = 0,
                  progress=lambda msg: None) -> dict[str, Any]:
    progress(f"generating {n_docs} synthetic documents")
    corpus = synthetic_corpus(n_docs, seed=seed)
    chars = int(sum(len(t) + len(b) for t, b in zip(corpus["title"], corpus["body"])))
    progress(f"building the index with {embedder.name}")
    config = IndexConfig(vector_index="exact")
    index = SearchIndex.build(corpus, embedder, config)
    close = getattr(embedder, "close", None)
    if close:
        close()  # stop embedding worker processes: queries run in this process only
    build = index.stats.as_dict()
    build["chars_per_s"] = round(chars / index.stats.total_s, 1)
    progress(f"build: {build}")
    rng = random.Random(seed + 1)
    bodies = corpus["body"].to_list()
    queries = []
    for _ in range(n_queries):
        words = bodies[rng.randrange(len(bodies))].rstrip(".").split()
        n = rng.randint(2, 6)
        start = rng.randrange(max(1, len(words) - n))
        queries.append(" ".join(words[start:start + n]))
    report: dict[str, Any] = {"docs": n_docs, "avg_doc_chars": round(chars / n_docs, 1), "build": build,
                              "latency": {"exact": _latency(index, queries)}}
    progress(f"exact: {report['latency']['exact']}")
    approx = ["binary"] + (["hnsw"] if hnsw else [])
    for kind in approx:
        t = time.perf_counter()
        other = SearchIndex(corpus, index.vectors, index.owners, index.embedder, IndexConfig(vector_index=kind),
                            copy.deepcopy(index.stats), index._bm25, index._vocab)
        report[f"{kind}_build_s"] = round(time.perf_counter() - t, 2)
        report["latency"][kind] = _latency(other, queries)
        # how much of the exact top 10 the approximate index returns (dense alone, and the hybrid ranking)
        for mode in ("dense", "hybrid"):
            overlap = [len({x.doc_id for x in index.search(q, mode, 10)} & {x.doc_id for x in other.search(q, mode, 10)})
                       / 10 for q in queries[:100]]
            report[f"{kind}_{mode}_overlap@10_vs_exact"] = round(sum(overlap) / len(overlap), 3)
        progress(f"{kind} ({report[f'{kind}_build_s']} s): {report['latency'][kind]}")
    cfg = IndexConfig()
    auto = ("exact" if len(index.vectors) <= cfg.exact_max_vectors else
            "binary" if len(index.vectors) <= cfg.binary_max_vectors else "hnsw")
    total = index.stats.total_s + report.get(f"{auto}_build_s", 0.0)
    report["auto"] = {"vector_index": auto, "build_s": round(total, 2), "docs_per_s": round(n_docs / total, 1),
                      "latency": report["latency"].get(auto)}
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    report["machine"] = {"cpus": os.cpu_count(), "load_avg_1_5_15": load, "python": platform.python_version(),
                         "embedder_threads": getattr(embedder, "threads", None),
                         "embedder_workers": getattr(embedder, "workers", None)}
    return report
