"""Retrieval metrics with one relevant document per query (no Dagster).

``ranks`` holds the 1-based rank of the relevant document in a query's result list, or 0 when it is not in the
list (not retrieved within the cut-off, or not in the corpus at all).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def recall_at(ranks: Sequence[int], k: int) -> float:
    r = np.asarray(ranks)
    return float(np.mean((r >= 1) & (r <= k))) if len(r) else float("nan")


def mrr_at(ranks: Sequence[int], k: int) -> float:
    r = np.asarray(ranks, dtype=float)
    if not len(r):
        return float("nan")
    ok = (r >= 1) & (r <= k)
    return float(np.mean(np.where(ok, 1.0 / np.where(ok, r, 1.0), 0.0)))


def ndcg_at(ranks: Sequence[int], k: int) -> float:
    """nDCG@k with one relevant document (ideal DCG = 1)."""
    r = np.asarray(ranks, dtype=float)
    if not len(r):
        return float("nan")
    ok = (r >= 1) & (r <= k)
    return float(np.mean(np.where(ok, 1.0 / np.log2(np.where(ok, r, 1.0) + 1.0), 0.0)))


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    if not len(seconds):
        return float("nan")
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def summarise(ranks: Sequence[int], latencies_s: Sequence[float] = ()) -> dict[str, float]:
    """recall@1, recall@10, mrr@10, ndcg@10 (and p50/p95 latency in ms when timings are given), rounded."""
    out = {"n": len(ranks), "recall@1": recall_at(ranks, 1), "recall@10": recall_at(ranks, 10),
           "mrr@10": mrr_at(ranks, 10), "ndcg@10": ndcg_at(ranks, 10)}
    if len(latencies_s):
        out["p50_ms"] = percentile_ms(latencies_s, 50)
        out["p95_ms"] = percentile_ms(latencies_s, 95)
        out["latency_queries"] = len(latencies_s)
    return {k: (round(v, 4) if isinstance(v, float) and not math.isnan(v) else v) for k, v in out.items()}
