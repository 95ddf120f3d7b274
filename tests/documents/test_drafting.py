"""Drafts: the Spanish templates are fully grounded; the LLM backend's inventions are flagged."""

import json

import polars as pl
import pytest

from assets.documents import instructions as instr
from assets.documents.drafting import (
    SYSTEM_PROMPT,
    DraftingError,
    LLMWriter,
    TemplateWriter,
    clean_llm_text,
    draft_document,
)
from assets.documents.facts import compute_facts, document_facts
from assets.documents.service import DraftRequest, draft_from_stats
from resources.llm import LLMClient
from pipelines.loopback.ollama_server import Behaviour


@pytest.mark.realdata
def test_templated_draft_from_the_real_census_is_fully_grounded(real_stats):
    d = draft_from_stats(real_stats, DraftRequest(sector="31-33"))
    assert d.geo_name == "Tamaulipas" and d.instructions_id == "conociendo_la_industria.31-33@v1"
    assert d.title == "Conociendo la Industria: la manufactura en Tamaulipas"
    g = d.grounding
    assert g.flagged == 0 and g.approvable and g.numbers_found >= 25
    body = d.body_markdown
    for expected in ("343,428 personas", "424.3 mil millones de pesos", "203.5 mil millones de pesos",
                     "el 4.8% del personal ocupado", "aumentó 62.1%", "592,594 pesos", "52.0%",
                     "bajó 0.3 puntos porcentuales", "2003, 2008, 2013, 2018 y 2023"):
        assert expected in body, expected
    # the real export has no wages nor prices: the text says so instead of inventing them
    assert "no publica las remuneraciones" in body and "precios corrientes" in body
    cited = {i.fact_id for i in g.items if i.fact_id}
    assert "31-33:28:2023:employment" in cited and "31-33:28:2003-2023:employment_growth" in cited
    assert d.style["issues"] == []


@pytest.mark.realdata
def test_every_real_sector_state_and_national_draft_is_grounded(real_stats):
    facts = compute_facts(real_stats, geo_codes=["28", "00"])
    problems = {}
    for sector in sorted(facts.get_column("sector_code").unique()):
        for geo in ("28", "00"):
            ins = instr.select("conociendo_la_industria", sector)
            d = draft_document(document_facts(facts, sector, geo), geo, ins)
            if d.grounding.flagged:
                problems[d.draft_id] = [i.text for i in d.grounding.items if i.status == "flagged"]
            assert d.grounding.numbers_found > 10, d.draft_id
    assert problems == {}


@pytest.mark.realdata
@pytest.mark.parametrize("sector,geo", [("31-33", "Reynosa"), ("11", "Gómez Farías"), ("46", "nacional"),
                                        ("31-33", "Casas")])
def test_municipal_confidential_and_national_drafts(real_stats, sector, geo):
    d = draft_from_stats(real_stats, DraftRequest(sector=sector, geo=geo))
    assert d.grounding.flagged == 0
    if geo in ("Gómez Farías", "Casas"):  # every main cell is confidential: says so, writes no invented number
        assert "confidenciales" in d.body_markdown
        assert d.grounding.numbers_found == sum(1 for i in d.grounding.items if i.kind == "year")


def test_sample_draft_writes_wages_prices_and_real_growth(sample_stats):
    d = draft_from_stats(sample_stats, DraftRequest(sector="31-33", geo="Tamaulipas"))
    body = d.body_markdown
    assert "remuneración por persona ocupada fue de" in body
    assert "índice de precios productor del sector pasó de" in body and "términos reales" in body
    assert d.grounding.flagged == 0
    cited = {i.fact_id for i in d.grounding.items}
    assert "31-33:28:2003-2023:price_index_change" in cited
    assert "31-33:28:2003-2023:value_added_real_growth" in cited


# ---------------------------------------------------------------- instructions
def test_packaged_instructions_and_sector_override():
    generic = instr.select("conociendo_la_industria", "46")
    manuf = instr.select("conociendo_la_industria", "31-33")
    assert generic.industry == "*" and manuf.industry == "31-33"
    assert [s.id for s in generic.sections][:2] == ["panorama", "empleo"]
    assert "maquila" in manuf.words_to_avoid and "maquila" not in generic.words_to_avoid


def write_yaml(path, **over):
    data = {"document_type": "conociendo_la_industria", "version": 2, "industry": "46",
            "title": "Comercio en {geo_name}", "length": {"min_words": 10, "max_words": 400},
            "words_to_avoid": ["crecimiento"],
            "sections": [{"id": "panorama", "title": "Resumen", "required_facts": ["employment"]},
                         {"id": "cifras_extra", "title": "Otras cifras",
                          "required_facts": ["investment", "fixed_assets"]}]}
    data.update(over)
    import yaml

    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_expert_edits_a_yaml_without_code(tmp_path, sample_stats):
    write_yaml(tmp_path / "comercio.v2.yaml")
    d = draft_from_stats(sample_stats, DraftRequest(sector="46", instructions_dir=str(tmp_path)))
    assert d.instructions_id == "conociendo_la_industria.46@v2" and d.title == "Comercio en Tamaulipas"
    assert "## Resumen" in d.body_markdown and "## Otras cifras" in d.body_markdown
    # a section the templates do not know lists its required facts, grounded like everything else
    assert "- Inversión total (2023):" in d.body_markdown and "Acervo total de activos fijos" in d.body_markdown
    assert d.grounding.flagged == 0
    # pinning the packaged version still works
    d1 = draft_from_stats(sample_stats, DraftRequest(sector="46", instructions_dir=str(tmp_path),
                                                     instructions_version=1))
    assert d1.instructions_id == "conociendo_la_industria.*@v1"


def test_style_check_reports_words_to_avoid_and_length(tmp_path, sample_stats):
    write_yaml(tmp_path / "x.yaml", words_to_avoid=["valor"], length={"min_words": 10, "max_words": 20})
    d = draft_from_stats(sample_stats, DraftRequest(sector="46", instructions_dir=str(tmp_path)))
    assert d.style["words_to_avoid_found"] == ["valor"]
    assert any(i.startswith("too long") for i in d.style["issues"])


@pytest.mark.parametrize("over,message", [
    ({"sections": []}, "'sections' is empty"),
    ({"sections": [{"id": "a", "title": "A", "required_facts": ["salarios"]}]}, "unknown metric"),
    ({"version": "dos"}, "field 'version' must be int"),
    ({"sections": [{"title": "A"}]}, "missing field sections\\[0\\].'id'"),
    ({"length": {"min_words": 50, "max_words": 10}}, "min_words 50 > length.max_words 10"),
])
def test_invalid_instructions_name_file_and_field(tmp_path, over, message):
    path = write_yaml(tmp_path / "bad.yaml", **over)
    with pytest.raises(instr.InstructionsError, match=message) as exc:
        instr.load_file(path)
    assert "bad.yaml" in str(exc.value)


def test_unknown_title_placeholder_is_an_instructions_error(tmp_path, sample_stats):
    write_yaml(tmp_path / "t.yaml", title="Comercio en {municipio}")
    with pytest.raises(instr.InstructionsError, match="unknown placeholder"):
        draft_from_stats(sample_stats, DraftRequest(sector="46", instructions_dir=str(tmp_path)))


# ---------------------------------------------------------------- the LLM backend
INVENTED = """```markdown
# Conociendo la Industria

## La manufactura en cifras

Según los Censos Económicos 2023, la manufactura en Tamaulipas ocupó a {emp} personas y generó el {share} del
empleo nacional del sector. En 2015 la producción creció 12.5%, un récord.

## Fuente y notas

Fuente: INEGI.
```"""


def _sample_doc(sample_stats):
    facts = compute_facts(sample_stats, sectors=["31-33"], geo_codes=["28", "00"])
    return document_facts(facts, "31-33", "28")


def test_llm_draft_with_an_invented_number_is_flagged(sample_stats, ollama_server):
    from assets.documents.formatting import fmt_number, fmt_percent

    doc = _sample_doc(sample_stats)
    by = {f.fact_id: f for f in doc}
    emp = fmt_number(by["31-33:28:2023:employment"].value)
    share = fmt_percent(by["31-33:28:2023:share_national_employment"].value)
    ollama_server.add_model("mixtral:8x7b", Behaviour.clean(lambda prompt: INVENTED.format(emp=emp, share=share)))
    writer = LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "mixtral:8x7b")
    ins = instr.select("conociendo_la_industria", "31-33")
    d = draft_document(doc, "28", ins, writer)

    assert d.backend == "llm" and d.model == "mixtral:8x7b"
    assert d.body_markdown.startswith("## La manufactura en cifras") and "```" not in d.body_markdown
    flagged = {i.text: i.reason for i in d.grounding.items if i.status == "flagged"}
    assert set(flagged) == {"2015", "12.5"}
    assert "not a census year" in flagged["2015"]
    assert d.grounding.grounded == 3  # 2023, the head count and the share
    assert not d.approvable
    assert d.style["words_to_avoid_found"] == ["récord"]

    # what the model was given: the expert instructions and the facts, formatted as they must be written
    [request] = ollama_server.requests
    system, user = request["body"]["messages"][0]["content"], request["body"]["messages"][1]["content"]
    assert system == SYSTEM_PROMPT
    assert "## Cadenas de proveeduría" in user and "maquila" in user
    assert f"31-33:28:2023:employment | Tamaulipas | 2023 | Personal ocupado total [employment] | {emp} personas" \
        in user
    assert request["body"]["options"]["temperature"] == 0.2


def test_llm_failure_is_an_error_not_a_silent_fallback(sample_stats, ollama_server):
    ollama_server.add_model("mixtral:8x7b", Behaviour.http_500())
    writer = LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "mixtral:8x7b")
    with pytest.raises(DraftingError, match="http 500"):
        draft_document(_sample_doc(sample_stats), "28", instr.select("conociendo_la_industria", "31-33"), writer)


def test_llm_empty_answer_is_refused(sample_stats, ollama_server):
    ollama_server.add_model("m", Behaviour.clean(lambda p: "<think>nada</think>"))
    writer = LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "m")
    with pytest.raises(DraftingError, match="empty text"):
        draft_document(_sample_doc(sample_stats), "28", instr.select("conociendo_la_industria", "31-33"), writer)


def test_clean_llm_text():
    assert clean_llm_text("<think>x 12</think>\n```md\n# T\n\n## A\n\nTexto.\n```") == "## A\n\nTexto.\n"
    assert clean_llm_text("## A\n\nB") == "## A\n\nB\n"


def test_content_hash_ignores_version_and_time_but_not_text(sample_stats):
    doc = _sample_doc(sample_stats)
    ins = instr.select("conociendo_la_industria", "31-33")
    a = draft_document(doc, "28", ins, TemplateWriter())
    b = draft_document(doc, "28", ins, TemplateWriter(), version=7)
    assert a.content_hash == b.content_hash
    b.body_markdown += "\nOtra frase."
    assert a.content_hash != b.content_hash
    assert json.loads(json.dumps(a.report()))["approvable"] is True


def test_unchanged_and_falling_values_are_worded_without_signs():
    rows = []
    for year, emp, va in ((2013, 1000.0, 50.0), (2018, 1000.0, 60.0), (2023, 1000.4, 45.0)):
        for geo, name, level, k in (("28", "Tamaulipas", "state", 1), ("00", "Total Nacional", "national", 10)):
            rows.append({"census_year": year, "geo_code": geo, "geo_name": name, "geo_level": level,
                         "sector_code": "23", "sector_title": "Construcción", "employment": emp * k,
                         "gross_output": 2 * va * k, "intermediate_consumption": va * k, "value_added": va * k,
                         "source_row": len(rows) + 2})
    d = draft_from_stats(pl.DataFrame(rows), DraftRequest(sector="23"))
    body = d.body_markdown
    assert "de 2018 a 2023, el empleo se mantuvo prácticamente sin cambio." in body  # 0.04% rounds to 0.0
    assert "El valor agregado disminuyó 10.0% de 2013 a 2023" in body  # magnitude + verb, no minus sign
    assert "ocupó a 1,000 personas" in body
    assert " ." not in body and "-" not in body.replace("SCIAN", "")
    assert d.grounding.flagged == 0
