"""Throughput and latency benchmark on a synthetic corpus (``fmlake search benchmark``; no Dagster).

Builds the full index (embedding every document with the given embedder, BM25, vector index) over
``corpus.synthetic_corpus(n_docs)`` and times ``SearchIndex.search`` one query at a time per mode. Queries are 2-6
word phrases cut from random documents, so every query has matching documents.
"""

from __future__ import annotations

import os
import platform
import random
import time
from typing import Any

from assets.search.corpus import synthetic_corpus
from assets.search.engine import IndexConfig, SearchIndex
from assets.search.metrics import percentile_ms


def run_benchmark(n_docs: int, n_queries: int, embedder: Any, *, vector_index: str = "auto", seed: int = 0,
                  progress=lambda msg: None) -> dict[str, Any]:
    progress(f"generating {n_docs} synthetic documents")
    corpus = synthetic_corpus(n_docs, seed=seed)
    progress(f"building the index with {embedder.name} ({vector_index} vector index)")
    index = SearchIndex.build(corpus, embedder, IndexConfig(vector_index=vector_index, embed_batch_size=128))
    build = index.stats.as_dict()
    rng = random.Random(seed + 1)
    bodies = corpus["body"].to_list()
    queries = []
    for _ in range(n_queries):
        words = bodies[rng.randrange(len(bodies))].rstrip(".").split()
        n = rng.randint(2, 6)
        start = rng.randrange(max(1, len(words) - n))
        queries.append(" ".join(words[start:start + n]))
    latency: dict[str, Any] = {}
    for mode in ("bm25", "dense", "hybrid"):
        index.search(queries[0], mode, 10)  # warm-up
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, mode, 10)
            times.append(time.perf_counter() - t)
        latency[mode] = {"p50_ms": round(percentile_ms(times, 50), 2), "p95_ms": round(percentile_ms(times, 95), 2),
                         "queries": len(times)}
        progress(f"{mode}: {latency[mode]}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"docs": n_docs, "build": build, "latency": latency,
            "machine": {"cpus": os.cpu_count(), "load_avg_1_5_15": load, "python": platform.python_version(),
                        "embedder_threads": getattr(embedder, "threads", None)}}
