"""The documents search runs over, as a polars frame with one row per document (no Dagster).

Columns (``DOC_COLUMNS``): ``doc_id`` (unique), ``doc_type`` (scian_class | table | mart | document | section |
fact | place | synthetic), ``ref`` (SCIAN code, table key, draft id, fact id, CVE_GEO), ``title``, ``body``, ``url``,
``source``, ``examples`` (list of example descriptions of that document, e.g. labelled register answers of a SCIAN
class), and the structured attributes the query understanding matches on (``geo_code``, ``sector_code``, ``year``,
``metric``, ``value``, ``unit``; null where they do not apply) plus ``cited_in`` (the page of the published
document that cites a fact).

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

from assets.search.everyday import everyday_names
from lakehouse.lineage import text_hash

DOC_TYPES = ("scian_class", "table", "mart", "document", "section", "fact", "place", "synthetic")
DOC_SCHEMA: dict[str, pl.DataType] = {
    "doc_id": pl.Utf8(), "doc_type": pl.Utf8(), "ref": pl.Utf8(), "title": pl.Utf8(), "body": pl.Utf8(),
    "url": pl.Utf8(), "source": pl.Utf8(), "examples": pl.List(pl.Utf8()),
    "geo_code": pl.Utf8(), "sector_code": pl.Utf8(), "year": pl.Int64(), "metric": pl.Utf8(),
    "value": pl.Float64(), "unit": pl.Utf8(), "cited_in": pl.Utf8(),
}
ATTR_COLUMNS = ("geo_code", "sector_code", "year", "metric", "value", "unit", "cited_in")
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
        for col in ATTR_COLUMNS:
            r.setdefault(col, None)
    return pl.DataFrame(rows, schema=DOC_SCHEMA)


def with_attr_columns(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with every corpus column (attributes a stored corpus of an older schema lacks are null)."""
    missing = [pl.lit(None, dtype=DOC_SCHEMA[c]).alias(c) for c in DOC_COLUMNS if c not in df.columns]
    return df.with_columns(missing).select(DOC_COLUMNS) if missing else df.select(DOC_COLUMNS)


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
        if everyday_names(code):
            body_parts.append(_names_sentence(everyday_names(code)))
        rows.append({"doc_id": f"scian:{code}", "doc_type": "scian_class", "ref": code, "title": titles[code],
                     "body": " ".join(body_parts), "url": None, "source": source,
                     "examples": list(dict.fromkeys(examples.get(code, [])))})
    if not rows:
        raise CorpusError("the SCIAN catalogue has no 6-digit classes")
    return _frame(rows)


def _names_sentence(names: tuple[str, ...]) -> str:
    return "Nombres comunes: " + ", ".join(names) + "." if names else ""


_NAMES_RE = re.compile(r" ?Nombres comunes: [^.]*\.")


def names_sentence_of(body: str | None) -> str:
    """The ``Nombres comunes: ...`` sentence of a class document's body ('' when it has none)."""
    m = _NAMES_RE.search(body or "")
    return m.group(0).strip() if m else ""


def names_of(body: str | None) -> list[str]:
    """The everyday names of a class document's body, as its ``Nombres comunes`` sentence lists them."""
    sentence = names_sentence_of(body)
    return [n for n in sentence.removeprefix("Nombres comunes: ").removesuffix(".").split(", ") if n]


def with_everyday_names(corpus: pl.DataFrame, leave_out: set[str] = frozenset()) -> pl.DataFrame:
    """``corpus`` with each SCIAN class's ``Nombres comunes`` sentence written again from
    :func:`assets.search.everyday.everyday_names` without the names sharing a word with ``leave_out`` (folded
    words): the leave-out check of the site dev set."""
    def rewrite(ref: str, body: str) -> str:
        body = _NAMES_RE.sub("", body or "").strip()
        sentence = _names_sentence(everyday_names(ref, leave_out))
        return f"{body} {sentence}".strip() if sentence else body

    is_class = corpus["doc_type"] == "scian_class"
    bodies = [rewrite(r, b) if c else b for r, b, c in zip(corpus["ref"], corpus["body"], is_class)]
    return corpus.with_columns(pl.Series("body", bodies, dtype=pl.Utf8()))


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
# The table and mart descriptions are written in English; a site visitor searches in Spanish. Each English word of
# the domain found in a description adds its Spanish terms to the document ("Términos: ..."), so BM25 meets
# "albergues" in a table about shelters (the multilingual encoder meets them anyway).
GLOSSARY: dict[str, str] = {
    "shelter": "albergue albergues refugio", "shelters": "albergues refugios", "migrant": "migrante migrantes",
    "migration": "migración migratoria", "women": "mujeres", "girls": "niñas", "news": "noticias",
    "article": "artículo noticia", "articles": "artículos noticias", "municipality": "municipio",
    "municipalities": "municipios", "state": "estado entidad", "population": "población habitantes",
    "dwellings": "viviendas", "census": "censo censos", "industry": "industria industrias",
    "economic": "económica económico", "sector": "sector sectores", "employment": "empleo personal ocupado",
    "output": "producción", "value added": "valor agregado", "investment": "inversión",
    "productivity": "productividad", "wage": "salarios remuneraciones", "remuneration": "remuneraciones salarios",
    "facts": "datos cifras", "fact": "dato cifra", "indicator": "indicador", "intensity": "intensidad",
    "coding": "codificación", "coded": "codificado codificados", "classification": "clasificación",
    "review": "revisión", "queue": "cola", "reviewer": "revisor", "training": "entrenamiento",
    "model": "modelo", "models": "modelos", "quality": "calidad", "feedback": "retroalimentación",
    "activity": "actividad", "narratives": "narrativas relatos", "crime": "delito delitos",
    "tiles": "teselas imágenes satelitales", "tile": "tesela imagen satelital", "satellite": "satelital satélite",
    "imagery": "imágenes", "masks": "máscaras", "objects": "objetos", "land cover": "cobertura del suelo",
    "clusters": "grupos conglomerados", "draft": "borrador", "drafts": "borradores", "document": "documento",
    "documents": "documentos", "published": "publicado publicados", "expert": "experto expertos",
    "search": "búsqueda buscador", "embeddings": "vectores incrustaciones", "vectors": "vectores",
    "rejected": "rechazados", "records": "registros", "catalogue": "catálogo", "agreement": "acuerdo concordancia",
    "answers": "respuestas", "majority": "mayoría", "vote": "voto", "language": "lenguaje",
    "location": "ubicación", "locations": "ubicaciones", "profile": "perfil", "workload": "carga de trabajo",
    # the other words that recur in the descriptions (by frequency), so a visitor's Spanish word meets them too
    "code": "código", "codes": "códigos", "version": "versión", "versions": "versiones", "status": "estado estatus",
    "area": "área superficie", "coder": "codificador", "coders": "codificadores", "human": "humano humanos",
    "source": "fuente origen", "label": "etiqueta", "labelled": "etiquetado", "reason": "motivo razón",
    "answer": "respuesta", "answered": "respondió", "rules": "reglas", "file": "archivo", "record": "registro",
    "register": "registro padrón", "decision": "decisión", "decisions": "decisiones", "statistics": "estadísticas",
    "geography": "geografía", "beds": "camas capacidad", "prompt": "instrucción", "confidence": "confianza",
    "validation": "validación", "audit": "auditoría", "mask": "máscara", "batch": "lote", "text": "texto",
    "example": "ejemplo", "approved": "aprobado aprobados", "failed": "fallido fallidos",
    "workbench": "mesa de trabajo",
    "reviewed": "revisado revisados", "threshold": "umbral", "precision": "precisión", "sample": "muestra",
    "image": "imagen", "polygon": "polígono", "pixels": "píxeles", "hierarchy": "jerarquía clasificación",
    "clustering": "agrupación agrupamiento", "clustered": "agrupado agrupados", "names": "nombres",
    "named": "nombrado", "descriptions": "descripciones", "year": "año", "rows": "filas registros",
}


def spanish_terms(text: str) -> str:
    """The Spanish terms of the glossary words found in an English description (empty when none)."""
    low = " " + re.sub(r"[^a-z ]+", " ", (text or "").lower()) + " "
    found = [es for en, es in GLOSSARY.items() if f" {en} " in low]
    return ("Términos: " + "; ".join(dict.fromkeys(found)) + ".") if found else ""


def _spanish(key: str) -> str:
    """A table's or mart's Spanish sentence (:mod:`assets.search.spanish`) and a space, or ''."""
    from assets.search.spanish import description

    text = description(key)
    return f"{text} " if text else ""


def registry_documents() -> pl.DataFrame:
    """One document per registered lakehouse table: its key, description and every column with its description."""
    from lakehouse import all_tables

    rows = []
    for spec in all_tables():
        docs = spec.column_docs
        cols = "; ".join(f"{c}: {docs[c]}" if docs.get(c) else c for c in spec.columns)
        rows.append({"doc_id": f"table:{spec.key}", "doc_type": "table", "ref": spec.key,
                     "title": f"Tabla {spec.key}", "source": "lakehouse_registry",
                     "body": f"{_spanish(spec.key)}{spec.description} Dominio: {spec.domain or '-'}. "
                             f"{spanish_terms(spec.description + ' ' + spec.name.replace('_', ' '))} "
                             f"Columnas: {cols}."})
    return _frame(rows)


def mart_documents(models_dir: str | Path | None) -> pl.DataFrame:
    """One document per dbt mart (``models:`` of the ``_*__models.yml`` files under ``models_dir``): its name,
    description and columns with their descriptions. No folder (or none given): no documents."""
    import yaml

    if models_dir is None or not Path(models_dir).is_dir():
        return empty_corpus()
    rows = []
    for path in sorted(Path(models_dir).rglob("*.yml")):
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CorpusError(f"dbt models file {path} is not YAML: {exc}") from None
        for model in spec.get("models") or []:
            name = str(model.get("name") or "").strip()
            if not name:
                raise CorpusError(f"{path}: a model has no name")
            desc = re.sub(r"\s+", " ", str(model.get("description") or "")).strip()
            cols = "; ".join(
                f"{c.get('name')}: {_one_line(c.get('description'))}" if c.get("description")
                else str(c.get("name")) for c in model.get("columns") or [])
            rows.append({"doc_id": f"mart:marts.{name}", "doc_type": "mart", "ref": f"marts.{name}",
                         "title": f"Mart marts.{name}", "source": "dbt_project",
                         "body": f"{_spanish(f'marts.{name}')}{desc} Modelo dbt ({path.parent.name}). "
                                 f"{spanish_terms(desc + ' ' + name.replace('_', ' '))}"
                                 + (f" Columnas: {cols}." if cols else "")})
    return _frame(rows)


def _one_line(text) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip()


def _strip_markdown(md: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", md or "")          # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)             # links -> their text
    text = re.sub(r"[#*_`>|]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def markdown_sections(md: str) -> list[tuple[str, str]]:
    """``(heading, text)`` of each ``## `` section of a Markdown body (text before the first heading is skipped)."""
    out: list[tuple[str, str]] = []
    heading, buf = None, []
    for line in (md or "").splitlines():
        m = re.match(r"^#{2,3}\s+(.*\S)\s*$", line)
        if m:
            if heading is not None:
                out.append((heading, _strip_markdown("\n".join(buf))))
            heading, buf = _strip_markdown(m.group(1)), []
        elif heading is not None:
            buf.append(line)
    if heading is not None:
        out.append((heading, _strip_markdown("\n".join(buf))))
    return [(h, t) for h, t in out if h]


def published_documents(published: pl.DataFrame, drafts: pl.DataFrame) -> pl.DataFrame:
    """Published documents (latest approved version) with the text of that draft version, and one document per
    ``## `` section of it (title ``<document> — <section>``, same page)."""
    if published.is_empty():
        return empty_corpus()
    body = {} if drafts.is_empty() else {
        (r["draft_id"], r["version"]): r["body_markdown"]
        for r in drafts.select("draft_id", "version", "body_markdown").iter_rows(named=True)}
    rows = []
    for r in published.iter_rows(named=True):
        md = body.get((r["draft_id"], r["version"]), "")
        title = r["title"] or r["draft_id"]
        attrs = {"geo_code": r.get("geo_code"), "sector_code": r.get("sector_code")}
        rows.append({"doc_id": f"document:{r['draft_id']}", "doc_type": "document", "ref": r["draft_id"],
                     "title": title, "url": r.get("page_path"), "source": "published_documents",
                     "body": _strip_markdown(md)[:20_000], **attrs})
        for n, (heading, text) in enumerate(markdown_sections(md), start=1):
            rows.append({"doc_id": f"section:{r['draft_id']}#{n}", "doc_type": "section",
                         "ref": f"{r['draft_id']}#{n}", "title": f"{title} — {heading}", "url": r.get("page_path"),
                         "source": "published_documents", "body": text[:5_000], **attrs})
    return _frame(rows)


def citing_pages(published: pl.DataFrame, drafts: pl.DataFrame) -> dict[str, str]:
    """fact_id -> page of the published document whose published version was given that fact."""
    import json

    if published.is_empty() or drafts.is_empty() or "facts_json" not in drafts.columns:
        return {}
    pages = {(r["draft_id"], r["version"]): r.get("page_path") for r in published.iter_rows(named=True)}
    out: dict[str, str] = {}
    for r in drafts.select("draft_id", "version", "facts_json").iter_rows(named=True):
        page = pages.get((r["draft_id"], r["version"]))
        if not page or not r["facts_json"]:
            continue
        try:
            facts = json.loads(r["facts_json"])
        except ValueError:
            raise CorpusError(f"gold.document_drafts {r['draft_id']} v{r['version']}: facts_json is not JSON") from None
        for f in facts if isinstance(facts, list) else []:
            if isinstance(f, dict) and f.get("fact_id"):
                out.setdefault(str(f["fact_id"]), page)
    return out


def fact_documents(facts: pl.DataFrame, max_facts: int = 200_000, cited_in: dict[str, str] | None = None,
                   state_names: dict[str, str] | None = None) -> pl.DataFrame:
    """Every fact of gold.industry_facts as a readable Spanish sentence (see :func:`assets.search.wording.fact_sentence`):
    title = label, sector, place and period; body = the sentence and its source table."""
    from assets.search.wording import fact_sentence, fact_title

    if facts.is_empty():
        return empty_corpus()
    cited_in = cited_in or {}
    rows = []
    for r in facts.head(max_facts).iter_rows(named=True):
        source = r.get("source_table") or "silver.industry_stats"
        rows.append({"doc_id": f"fact:{r['fact_id']}", "doc_type": "fact", "ref": r["fact_id"],
                     "title": fact_title(r, state_names), "source": "gold.industry_facts",
                     "body": f"{fact_sentence(r, state_names)} Fuente: gold.industry_facts, calculado de {source}.",
                     "url": cited_in.get(r["fact_id"]), "cited_in": cited_in.get(r["fact_id"]),
                     "geo_code": r.get("geo_code"), "sector_code": r.get("sector_code"), "year": r.get("census_year"),
                     "metric": r.get("metric"), "value": r.get("value"), "unit": r.get("unit")})
    return _frame(rows)


def place_documents(municipalities: pl.DataFrame, facts: pl.DataFrame | None = None,
                    indicator: pl.DataFrame | None = None, shelters: pl.DataFrame | None = None,
                    max_facts_listed: int = 12) -> pl.DataFrame:
    """A profile per municipality and per state (see :func:`assets.search.wording.place_profile`): 2020 population
    by sex, inhabited dwellings, the facts of gold.industry_facts about it (latest census, whole economy first), its
    migration intensity indicator and its migrant shelters when those tables have rows for it."""
    from assets.search.wording import place_profile

    if municipalities is None or municipalities.is_empty():
        return empty_corpus()
    facts = facts if facts is not None else pl.DataFrame()
    facts_by_geo: dict[str, list[dict]] = defaultdict(list)
    if facts.height:
        for r in facts.filter(pl.col("base_year").is_null() & pl.col("value").is_not_null()).iter_rows(named=True):
            facts_by_geo[r["geo_code"]].append(r)
    ind = {} if indicator is None or indicator.is_empty() else {
        r["cve_geo"]: r for r in indicator.iter_rows(named=True)}
    shel: dict[str, list[dict]] = defaultdict(list)
    if shelters is not None and shelters.height:
        for r in shelters.filter(pl.col("cve_geo").is_not_null()).iter_rows(named=True):
            shel[r["cve_geo"]].append(r)
    rows = []
    states: dict[str, dict] = {}
    for m in municipalities.sort("cve_geo").iter_rows(named=True):
        st = states.setdefault(m["cve_entidad"], {"cve_geo": m["cve_entidad"], "name": m["state_name"],
                                                  "level": "state", "population_total": 0, "population_female": 0,
                                                  "population_male": 0, "inhabited_dwellings": 0,
                                                  "municipalities": 0})
        st["municipalities"] += 1
        for k in ("population_total", "population_female", "population_male", "inhabited_dwellings"):
            st[k] += m[k] or 0
        place = {"cve_geo": m["cve_geo"], "name": m["municipality_name"], "state_name": m["state_name"],
                 "level": "municipality", "seat_name": m.get("seat_name"),
                 **{k: m[k] for k in ("population_total", "population_female", "population_male",
                                      "inhabited_dwellings")}}
        rows.append(place_profile(place, facts_by_geo.get(m["cve_geo"], []), ind.get(m["cve_geo"]),
                                  shel.get(m["cve_geo"], []), max_facts_listed))
    for code, st in sorted(states.items()):
        mun_shelters = [s for geo, ss in shel.items() if geo[:2] == code for s in ss]
        rows.append(place_profile(st, facts_by_geo.get(code, []), None, mun_shelters, max_facts_listed))
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
