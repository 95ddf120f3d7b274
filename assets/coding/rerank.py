"""Optional LLM re-ranking of the top-k candidates for doubtful records (an Ollama model through
``resources.llm``).

Only records left to coders (``decision=manual``) are asked. The model sees the text and the
candidate codes with their catalogue titles and must answer one of those codes; anything else
(prose naming two codes, a code outside the list, a failed call) leaves the model's order as it
was and is counted. A re-ranked record stays ``manual``: the LLM's choice is not calibrated, so it
changes the suggestion the coder sees first (``source=llm``), never the auto-coding decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import polars as pl

from assets.coding.catalog import Catalog

PROMPT = (
    "Eres codificador experto de {classification}. Elige el código que corresponde a la descripción.\n"
    "Descripción: '{text}'\n"
    "Opciones:\n{options}\n"
    "Responde únicamente con el código elegido (uno de la lista), sin explicación."
)


@dataclass(frozen=True)
class RerankOutcome:
    code: str | None            # the chosen candidate, None when the answer was not usable
    status: str                 # chosen | invalid | failed
    raw: str | None = None


def build_prompt(text: str, candidates: Sequence[str], catalog: Catalog | None, classification: str) -> str:
    options = "\n".join(f"- {c}: {(catalog.title(c) if catalog else None) or ''}".rstrip(": ") for c in candidates)
    return PROMPT.format(classification=classification, text=text.replace("'", "’"), options=options)


def parse_choice(answer: str | None, candidates: Sequence[str]) -> str | None:
    """The one candidate code the answer names (whole token), else None (zero or several named)."""
    if not answer:
        return None
    from resources.llm import strip_thinking

    text = strip_thinking(answer)
    found = {c for c in candidates if re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", text)}
    return found.pop() if len(found) == 1 else None


def rerank(rows: Sequence[dict[str, Any]], ask: Callable[[str], Any], catalog: Catalog | None,
           classification: str, map_fn: Callable | None = None) -> list[RerankOutcome]:
    """Ask ``ask(prompt) -> LLMReply`` for each row (``text`` and ``candidates``)."""

    def one(row: dict[str, Any]) -> RerankOutcome:
        cands = [c for c in row["candidates"] if c]
        reply = ask(build_prompt(row["text"], cands, catalog, classification))
        if not reply.ok:
            return RerankOutcome(None, "failed", reply.error)
        code = parse_choice(reply.text, cands)
        return RerankOutcome(code, "chosen" if code else "invalid", reply.text)

    return list((map_fn or map)(one, rows))


def apply_rerank(coded: pl.DataFrame, ask: Callable[[str], Any], catalog: Catalog | None, classification: str,
                 map_fn: Callable | None = None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Reorder the candidates of manual records by the LLM's choice; returns the frame and counts."""
    manual = coded.filter(pl.col("decision") == "manual")
    if manual.height == 0:
        return coded, {"asked": 0, "chosen": 0, "changed": 0, "invalid": 0, "failed": 0}
    rows = [{"record_id": r["record_id"], "text": r["text"],
             "candidates": [r["code"], r["candidate_2"], r["candidate_3"]]} for r in manual.iter_rows(named=True)]
    outcomes = rerank(rows, ask, catalog, classification, map_fn)
    updates = []
    counts = {"asked": len(rows), "chosen": 0, "changed": 0, "invalid": 0, "failed": 0}
    for row, out in zip(rows, outcomes):
        counts[out.status] += 1
        if out.code is None or out.code == row["candidates"][0]:
            continue
        counts["changed"] += 1
        others = [c for c in row["candidates"] if c != out.code]
        updates.append({"record_id": row["record_id"], "new_1": out.code, "new_2": others[0] if others else None,
                        "new_3": others[1] if len(others) > 1 else None})
    if not updates:
        return coded, counts
    up = pl.DataFrame(updates, schema={"record_id": pl.Utf8, "new_1": pl.Utf8, "new_2": pl.Utf8, "new_3": pl.Utf8})
    probs = coded.select("record_id", pl.struct(pl.col("code").alias("c"), pl.col("probability").alias("p")).alias("a"),
                         pl.struct(pl.col("candidate_2").alias("c"), pl.col("probability_2").alias("p")).alias("b"),
                         pl.struct(pl.col("candidate_3").alias("c"), pl.col("probability_3").alias("p")).alias("d"))
    lookup = {r["record_id"]: {x["c"]: x["p"] for x in (r["a"], r["b"], r["d"]) if x["c"]}
              for r in probs.join(up.select("record_id"), on="record_id").iter_rows(named=True)}
    out = coded.join(up, on="record_id", how="left")
    changed = pl.col("new_1").is_not_null()
    prob_of = {col: pl.Series([lookup.get(r, {}).get(c) for r, c in zip(out.get_column("record_id"), out.get_column(col))],
                              dtype=pl.Float64) for col in ("new_1", "new_2", "new_3")}
    out = out.with_columns(
        code=pl.when(changed).then(pl.col("new_1")).otherwise(pl.col("code")),
        candidate_2=pl.when(changed).then(pl.col("new_2")).otherwise(pl.col("candidate_2")),
        candidate_3=pl.when(changed).then(pl.col("new_3")).otherwise(pl.col("candidate_3")),
        probability=pl.when(changed).then(prob_of["new_1"]).otherwise(pl.col("probability")),
        probability_2=pl.when(changed).then(prob_of["new_2"]).otherwise(pl.col("probability_2")),
        probability_3=pl.when(changed).then(prob_of["new_3"]).otherwise(pl.col("probability_3")),
        source=pl.when(changed).then(pl.lit("llm")).otherwise(pl.col("source")),
    ).drop("new_1", "new_2", "new_3")
    return out, counts
