"""Evaluate the site search on judged natural queries (``fmlake search evaluate --site-queries FILE``; no Dagster).

The file is JSON: ``{"queries": [{"id": "a01", "kind": "activity", "query": "tortillería",
"relevant": ["scian:311830", ...]}, ...]}`` (kinds: activity | figure | topic, or any others the file names). A query
succeeds at 3 when one of its relevant documents is among the first 3 results; MRR@10 uses the first relevant one.

Every mode (bm25, dense, hybrid) is reported twice: ``<mode>`` is the plain ranking, ``<mode>+qu`` the site search
with query understanding (structured lookup of facts and places first, as the page and the API answer).

``comparison`` sets the issue's target (hybrid MRR@10 at least ``TARGET_MRR_GAIN`` above keyword search) against
two baselines, both reported: the institute's keyword search (plain BM25, no query understanding: what the site
has today) against the site search we ship (hybrid+qu), and the same pipeline with only the ranking changed
(hybrid+qu vs bm25+qu, hybrid vs bm25), which says how much of the gain the hybrid ranking itself brings.
``tune_site`` chooses the hybrid fusion weight and the word-family expansion weight on such a file: only ever on the
development set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assets.search.metrics import mrr_at, recall_at
from assets.search.site import SiteSearch

MODES = ("bm25", "dense", "hybrid")
TARGET_MRR_GAIN = 0.15    # issue 14: hybrid MRR@10 at least this much above BM25 on the same corpus
COMPARISONS = (  # (name, ours, baseline, what it compares)
    ("site_vs_keyword_search", "hybrid+qu", "bm25",
     "our site search (hybrid + query understanding) vs the institute's keyword search (plain BM25)"),
    ("same_pipeline_with_qu", "hybrid+qu", "bm25+qu", "hybrid vs BM25, both with query understanding"),
    ("same_pipeline_plain", "hybrid", "bm25", "hybrid vs BM25, both without query understanding"),
)


class SiteQueriesError(ValueError):
    """The judged queries file is unusable (names the file, the entry and the field)."""


@dataclass(frozen=True)
class SiteQuery:
    id: str
    kind: str
    query: str
    relevant: tuple[str, ...]


def read_site_queries(path: str | Path) -> list[SiteQuery]:
    path = Path(path)
    if not path.is_file():
        raise SiteQueriesError(f"site queries file {path} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SiteQueriesError(f"{path}: not JSON ({exc})") from None
    entries = doc.get("queries") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SiteQueriesError(f"{path}: expected an object with a non-empty 'queries' list")
    out, seen = [], set()
    for n, e in enumerate(entries):
        where = f"{path}: queries[{n}]"
        if not isinstance(e, dict):
            raise SiteQueriesError(f"{where} is not an object")
        qid = e.get("id") or f"#{n}"
        for key in ("kind", "query"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise SiteQueriesError(f"{where} (id {qid}): field {key!r} must be a non-empty string")
        rel = e.get("relevant")
        if not isinstance(rel, list) or not rel or not all(isinstance(r, str) and r for r in rel):
            raise SiteQueriesError(f"{where} (id {qid}): field 'relevant' must be a non-empty list of doc_ids")
        if qid in seen:
            raise SiteQueriesError(f"{where}: id {qid!r} is used twice")
        seen.add(qid)
        out.append(SiteQuery(str(qid), e["kind"].strip(), e["query"].strip(), tuple(rel)))
    return out


def first_relevant_rank(doc_ids: list[str], relevant: tuple[str, ...]) -> int:
    rel = set(relevant)
    for rank, d in enumerate(doc_ids, start=1):
        if d in rel:
            return rank
    return 0


def _summary(ranks: list[int]) -> dict[str, Any]:
    return {"n": len(ranks), "success@3": round(recall_at(ranks, 3), 4), "mrr@10": round(mrr_at(ranks, 10), 4)}


def evaluate_site(site: SiteSearch, queries: list[SiteQuery], modes: tuple[str, ...] = MODES,
                  with_plain: bool = True, k: int = 10) -> dict[str, Any]:
    """success@3 and MRR@10 per kind (and over all) for every mode, with and without query understanding."""
    ids = set(site.index.corpus["doc_id"].to_list())
    missing = {q.id: [r for r in q.relevant if r not in ids] for q in queries}
    missing = {k_: v for k_, v in missing.items() if v}
    kinds = list(dict.fromkeys(q.kind for q in queries))
    variants = [(f"{m}+qu", m, True) for m in modes] + ([(m, m, False) for m in modes] if with_plain else [])
    report: dict[str, Any] = {"queries": len(queries), "by_kind": {k_: sum(q.kind == k_ for q in queries)
                                                                    for k_ in kinds},
                              "relevant_not_in_corpus": missing, "modes": {}, "per_query": {}}
    for name, mode, understand in variants:
        ranks: dict[str, list[int]] = {k_: [] for k_ in kinds}
        for q in queries:
            res = site.search(q.query, mode, k, understand=understand)
            r = first_relevant_rank([h.doc_id for h in res.hits], q.relevant)
            ranks[q.kind].append(r)
            report["per_query"].setdefault(q.id, {"query": q.query, "kind": q.kind})[name] = r
        everything = [r for k_ in kinds for r in ranks[k_]]
        report["modes"][name] = {**{k_: _summary(ranks[k_]) for k_ in kinds}, "all": _summary(everything)}
    report["comparison"] = compare(report["modes"])
    return report


def compare(modes: dict[str, Any], target: float = TARGET_MRR_GAIN) -> list[dict[str, Any]]:
    """MRR@10 (all queries) of ours against each baseline of ``COMPARISONS`` present in ``modes``."""
    out = []
    for name, ours, base, what in COMPARISONS:
        if ours not in modes or base not in modes:
            continue
        a, b = modes[ours]["all"]["mrr@10"], modes[base]["all"]["mrr@10"]
        out.append({"name": name, "what": what, "ours": ours, "baseline": base, "ours_mrr@10": a,
                    "baseline_mrr@10": b, "gain": round(a - b, 4), "target_gain": target,
                    "met": bool(a - b >= target - 1e-9)})
    return out


def tune_site(site: SiteSearch, queries: list[SiteQuery], alphas: tuple[float, ...] = (
        0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7), expand_weights: tuple[float, ...] = (0.0, 0.3, 0.6, 1.0),
              surface_weights: tuple[float, ...] = (0.0, 0.5, 1.0)) -> dict[str, Any]:
    """The (alpha, expand_weight, surface_weight) that maximise hybrid+qu MRR@10 over all queries (then
    success@3; among equals, the first in grid order: the smaller weights)."""
    grid = []
    base = site.index
    for a in alphas:
        for w in expand_weights:
            for sw in surface_weights:
                variant = SiteSearch.__new__(SiteSearch)
                variant.__dict__.update(site.__dict__)
                variant.index = base.with_config(alpha=a, expand_weight=w, surface_weight=sw)
                m = evaluate_site(variant, queries, modes=("hybrid",), with_plain=False)["modes"]["hybrid+qu"]["all"]
                grid.append({"alpha": a, "expand_weight": w, "surface_weight": sw, "mrr@10": m["mrr@10"],
                             "success@3": m["success@3"]})
    best = max(grid, key=lambda g: (g["mrr@10"], g["success@3"]))
    return {k: best[k] for k in ("alpha", "expand_weight", "surface_weight")} | {"grid": grid}


def format_site_report(report: dict[str, Any]) -> str:
    kinds = list(report["by_kind"])
    lines = [f"{report['queries']} judged queries ({', '.join(f'{k} {n}' for k, n in report['by_kind'].items())})"]
    if report["relevant_not_in_corpus"]:
        lines.append(f"relevant documents missing from the corpus: {report['relevant_not_in_corpus']}")
    head = f"{'mode':<11}" + "".join(f"{k + ' s@3':>15}{'MRR@10':>8}" for k in [*kinds, "all"])
    lines.append(head)
    for name, m in report["modes"].items():
        lines.append(f"{name:<11}" + "".join(f"{m[k]['success@3']:>15.3f}{m[k]['mrr@10']:>8.3f}"
                                             for k in [*kinds, "all"]))
    for c in report.get("comparison", []):
        lines.append(f"MRR@10 {c['ours']} {c['ours_mrr@10']:.3f} vs {c['baseline']} {c['baseline_mrr@10']:.3f}: "
                     f"{c['gain']:+.3f} (target {c['target_gain']:+.2f}: {'met' if c['met'] else 'NOT met'}) "
                     f"- {c['what']}")
    return "\n".join(lines)
