"""The documents search runs over, as a polars frame with one row per document (no Dagster).

Columns (``DOC_COLUMNS``): ``doc_id`` (unique), ``doc_type`` (scian_class | table | document | fact | synthetic),
``ref`` (SCIAN code, table key, draft id, fact id), ``title``, ``body``, ``url``, ``source``, ``examples`` (list of
example descriptions of that document, e.g. labelled register answers of a SCIAN class).

Sources: the SCIAN catalogue (class titles enriched with the titles of their sector, subsector, rama and subrama and
the ISIC/CIIU correspondence notes of the ``scian-ciiu`` package), the lakehouse table registry, and the published
documents and facts of the documents application.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from pathlib import Path

import polars as pl

from lakehouse.lineage import text_hash

DOC_TYPES = ("scian_class", "table", "document", "fact", "synthetic")
DOC_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.Utf8(), "doc_type": pl.Utf8(), "ref": pl.Utf8(), "title": pl.Utf8(), "body": pl.Utf8(),
    "url": pl.Utf8(), "source": pl.Utf8(), "examples": pl.List(pl.Utf8()),
}
DOC_COLUMNS = list(DOC_SCHEMA)
SCIAN_LEVEL_DIGITS = {"sector": 2, "subsector": 3, "rama": 4, "subrama": 5, "clase": 6}


class CorpusError(ValueError):
    """A corpus source is unusable (names the file/table, row and field)."""


def empty_corpus() -> pl.DataFrame:
    return pl.DataFrame(schema=DOC_SCHEMA)


def _frame(rows: list[dict]) -> pl.DataFrame:
    if not rows:
        return empty_corpus()
    for r in rows:
        r.setdefault("url", None)
        r.setdefault("examples", [])
    return pl.DataFrame(rows, schema=DOC_SCHEMA)


# ---------------------------------------------------------------- SCIAN
def read_scian_csv(path: str | Path) -> pl.DataFrame:
    """``codigo,titulo,nivel`` (the INEGI export) -> ``code, title`` with 2-6 digit codes; errors name the row."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"SCIAN catalogue {path} does not exist")
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"codigo", "titulo"} - set(reader.fieldnames or [])
        if missing:
            raise CorpusError(f"{path}: missing column(s) {sorted(missing)}; found {reader.fieldnames}")
        for line, r in enumerate(reader, start=2):
            code, title = (r.get("codigo") or "").strip(), (r.get("titulo") or "").strip()
            if not re.fullmatch(r"\d{2,6}|\d{2}-\d{2}", code):
                raise CorpusError(f"{path}: row {line}: codigo {code!r} is not a SCIAN code (2-6 digits or "
                                  "a sector range like 31-33)")
            if not title:
                raise CorpusError(f"{path}: row {line}: titulo is empty for code {code}")
            rows.append({"code": code, "title": title})
    return pl.DataFrame(rows, schema={"code": pl.Utf8(), "title": pl.Utf8()})


def scian_from_package() -> pl.DataFrame:
    """The 6-digit SCIAN classes the ``scian-ciiu`` package ships (titles only, no parent levels)."""
    from scian_ciiu.src.data import data

    seen: dict[str, str] = {}
    for d in data:
        seen.setdefault(str(d["SCIAN"]).strip(), str(d["SCIAN_string"]).strip())
    return pl.DataFrame({"code": list(seen), "title": list(seen.values())})


def ciiu_notes() -> dict[str, list[str]]:
    """SCIAN class -> the ISIC/CIIU rev.4 descriptions it corresponds to (from ``scian-ciiu``): synonyms for free."""
    from scian_ciiu.src.data import data

    notes: dict[str, list[str]] = defaultdict(list)
    for d in data:
        text = re.sub(r"\s+", " ", str(d["CIIU_string"]).replace("n.c.p.*", "").replace("*", "")).strip()
        code = str(d["SCIAN"]).strip()
        if text and text not in notes[code]:
            notes[code].append(text)
    return dict(notes)


def scian_documents(catalog: pl.DataFrame, *, with_ciiu: bool = True,
                    examples: dict[str, list[str]] | None = None, source: str = "scian2018") -> pl.DataFrame:
    """One document per 6-digit SCIAN class.

    ``catalog`` has ``code`` and ``title`` (any levels; parents are looked up by code prefix). The body names the
    class's subrama, rama, subsector and sector titles and its CIIU correspondence; ``examples`` maps a class code to
    example descriptions (e.g. labelled register answers) attached to it.
    """
    for col in ("code", "title"):
        if col not in catalog.columns:
            raise CorpusError(f"SCIAN catalogue has no {col!r} column (columns: {catalog.columns})")
    titles = dict(zip(catalog["code"].cast(pl.Utf8), catalog["title"].cast(pl.Utf8)))
    for code, title in list(titles.items()):
        if re.fullmatch(r"\d{2}-\d{2}", code or ""):   # sector ranges (31-33) name sectors 31, 32 and 33
            lo, hi = (int(x) for x in code.split("-"))
            for n in range(lo, hi + 1):
                titles.setdefault(str(n), title)
    notes = ciiu_notes() if with_ciiu else {}
    examples = examples or {}
    rows = []
    for code in sorted(c for c in titles if c and len(c) == 6 and c.isdigit()):
        parents = list(dict.fromkeys(  # a rama and its only subrama often share a title: name it once
            titles[code[:n]] for n in (5, 4, 3, 2) if code[:n] in titles and titles[code[:n]] != titles[code]))
        body_parts = []
        if parents:
            body_parts.append("Parte de: " + "; ".join(parents) + ".")
        if notes.get(code):
            body_parts.append("CIIU: " + "; ".join(notes[code]) + ".")
        rows.append({"doc_id": f"scian:{code}", "doc_type": "scian_class", "ref": code, "title": titles[code],
                     "body": " ".join(body_parts), "url": None, "source": source,
                     "examples": list(dict.fromkeys(examples.get(code, [])))})
    if not rows:
        raise CorpusError("the SCIAN catalogue has no 6-digit classes")
    return _frame(rows)


def legacy_class_documents(catalog_codes: set[str], examples: dict[str, list[str]],
                           titles: dict[str, str] | None = None, source: str = "labelled_register") -> pl.DataFrame:
    """Documents for 6-digit codes that labelled descriptions use but the catalogue lacks (SCIAN 2007/2013 classes
    that SCIAN 2018 merged or split, e.g. 221110). Their title is the one delivered with the labels when known."""
    titles = titles or {}
    rows = []
    for code in sorted(c for c in examples if re.fullmatch(r"\d{6}", c) and c not in catalog_codes):
        rows.append({"doc_id": f"scian:{code}", "doc_type": "scian_class", "ref": code,
                     "title": titles.get(code) or f"Clase SCIAN {code}", "source": source,
                     "body": "Clase de una versión anterior del SCIAN (no está en SCIAN 2018), usada en registros "
                             "codificados.",
                     "examples": list(dict.fromkeys(examples[code]))})
    return _frame(rows)


def attach_examples(corpus: pl.DataFrame, examples: dict[str, list[str]], max_per_doc: int = 200) -> pl.DataFrame:
    """Set each SCIAN class document's examples (deduplicated, at most ``max_per_doc``, most frequent first)."""
    def pick(ref: str) -> list[str]:
        counts: dict[str, int] = defaultdict(int)
        for t in examples.get(ref, []):
            t = re.sub(r"\s+", " ", t).strip()
            if t:
                counts[t] += 1
        return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:max_per_doc]

    return corpus.with_columns(
        pl.struct("doc_type", "ref").map_elements(
            lambda s: pick(s["ref"]) if s["doc_type"] == "scian_class" else [],
            return_dtype=pl.List(pl.Utf8())).alias("examples"))


def examples_by_code(texts: list[str], codes: list[str | None]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for t, c in zip(texts, codes):
        if c and t and t.strip():
            out[str(c).strip()].append(t.strip())
    return dict(out)


# ---------------------------------------------------------------- lakehouse registry and documents app
def registry_documents() -> pl.DataFrame:
    """One document per registered lakehouse table: its key, description and columns."""
    from lakehouse import all_tables

    rows = []
    for spec in all_tables():
        rows.append({"doc_id": f"table:{spec.key}", "doc_type": "table", "ref": spec.key,
                     "title": f"Tabla {spec.key}", "source": "lakehouse_registry",
                     "body": f"{spec.description} Dominio: {spec.domain or '-'}. Columnas: {', '.join(spec.columns)}."})
    return _frame(rows)


def _strip_markdown(md: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", md or "")          # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)             # links -> their text
    text = re.sub(r"[#*_`>|]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def published_documents(published: pl.DataFrame, drafts: pl.DataFrame) -> pl.DataFrame:
    """Published documents (latest approved version) with the text of that draft version."""
    if published.is_empty():
        return empty_corpus()
    body = {} if drafts.is_empty() else {
        (r["draft_id"], r["version"]): r["body_markdown"]
        for r in drafts.select("draft_id", "version", "body_markdown").iter_rows(named=True)}
    rows = []
    for r in published.iter_rows(named=True):
        rows.append({"doc_id": f"document:{r['draft_id']}", "doc_type": "document", "ref": r["draft_id"],
                     "title": r["title"] or r["draft_id"], "url": r.get("page_path"), "source": "published_documents",
                     "body": _strip_markdown(body.get((r["draft_id"], r["version"]), ""))[:20_000]})
    return _frame(rows)


def fact_documents(facts: pl.DataFrame, max_facts: int = 50_000) -> pl.DataFrame:
    """Facts of the documents app with a value (confidential ones say so): label, sector, place and year."""
    if facts.is_empty():
        return empty_corpus()
    rows = []
    for r in facts.head(max_facts).iter_rows(named=True):
        value = "confidencial" if r["value"] is None else f"{r['value']:,.2f} {r['unit'] or ''}".strip()
        rows.append({"doc_id": f"fact:{r['fact_id']}", "doc_type": "fact", "ref": r["fact_id"],
                     "title": r["label"] or r["metric"], "source": "industry_facts",
                     "body": f"{r['sector_title']} ({r['sector_code']}), {r['geo_name']}, censo {r['census_year']}: "
                             f"{r['metric']} = {value}."})
    return _frame(rows)


def combine(*frames: pl.DataFrame) -> pl.DataFrame:
    """Concatenate corpus frames; a doc_id seen twice is an error naming it (never silently dropped)."""
    df = pl.concat([f.select(DOC_COLUMNS) for f in frames if f.height], how="vertical") if any(
        f.height for f in frames) else empty_corpus()
    dups = df.filter(pl.col("doc_id").is_duplicated())["doc_id"].unique().to_list()
    if dups:
        raise CorpusError(f"duplicate doc_id(s) in the search corpus: {sorted(dups)[:5]}")
    return df


def with_hashes(corpus: pl.DataFrame) -> pl.DataFrame:
    """Add ``n_examples`` and ``text_hash`` (of title, body and examples: what the indexes see)."""
    return corpus.with_columns(
        pl.col("examples").list.len().cast(pl.Int64).alias("n_examples"),
        pl.struct("title", "body", "examples").map_elements(
            lambda s: text_hash("\n".join([s["title"] or "", s["body"] or "", *(s["examples"] or [])])),
            return_dtype=pl.Utf8()).alias("text_hash"))


# ---------------------------------------------------------------- synthetic corpus (benchmarks)
def synthetic_corpus(n_docs: int, seed: int = 0, vocabulary: list[str] | None = None) -> pl.DataFrame:
    """``n_docs`` Spanish-like documents for latency/throughput benchmarks.

    Words are drawn with a Zipf-like law from ``vocabulary`` (default: the words of the SCIAN class titles the
    ``scian-ciiu`` package ships), so term frequencies look like real text rather than uniform noise.
    """
    if n_docs < 1:
        raise CorpusError(f"n_docs must be >= 1, got {n_docs}")
    if vocabulary is None:
        words: dict[str, int] = defaultdict(int)
        for t in scian_from_package()["title"]:
            for w in re.findall(r"\w+", t.lower()):
                if len(w) > 2:
                    words[w] += 1
        vocabulary = [w for w, _ in sorted(words.items(), key=lambda kv: -kv[1])]
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(vocabulary))]
    rows = []
    for i in range(n_docs):
        n_title, n_body = rng.randint(3, 8), rng.randint(15, 45)
        ws = rng.choices(vocabulary, weights=weights, k=n_title + n_body)
        rows.append({"doc_id": f"syn:{i:07d}", "doc_type": "synthetic", "ref": str(i), "source": "synthetic",
                     "title": " ".join(ws[:n_title]).capitalize(), "body": " ".join(ws[n_title:]) + "."})
    return _frame(rows)
