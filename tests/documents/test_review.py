"""Drafts in the lakehouse: versions, the append-only review history, what gets published."""

from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from assets.documents import review, service
from assets.documents.drafting import LLMWriter
from assets.documents.store import get_draft, latest_versions
from lakehouse.tables import documents as T
from resources.llm import LLMClient
from tests.documents.conftest import populate
from pipelines.loopback.ollama_server import Behaviour


def none_or(version):
    return "none" if version is None else version


PAIRS = [("31-33", "28"), ("46", "28")]
MANUF = "conociendo_la_industria-31-33-28"
RETAIL = "conociendo_la_industria-46-28"


@pytest.fixture
def drafted(tmp_lh, sample_stats):
    saved = populate(tmp_lh, sample_stats, PAIRS)
    return tmp_lh, saved


def test_drafts_are_versioned_only_when_content_changes(drafted, sample_stats):
    lh, saved = drafted
    assert [d.version for d in saved.new_versions] == [1, 1] and saved.review_rows == 2
    d = get_draft(lh, MANUF)
    charts = sorted(p.name for p in (Path(d.artifacts_dir) / "charts").iterdir())
    assert charts == ["empleo.png", "participacion.png", "produccion.png"]
    assert (Path(d.artifacts_dir) / "draft.html").is_file()
    # rerun on the same facts: nothing new, nothing appended
    again = populate(lh, sample_stats, PAIRS)
    assert again.new_versions == [] and again.review_rows == 0
    assert lh.row_count(T.document_drafts) == 2 and lh.row_count(T.document_reviews) == 2
    # changed facts -> version 2 of that draft only; version 1 stays readable
    changed = sample_stats.with_columns(
        pl.when((pl.col("sector_code") == "46") & (pl.col("geo_code") == "28") & (pl.col("census_year") == 2023))
        .then(pl.col("employment") + 1000).otherwise(pl.col("employment")).alias("employment"))
    third = populate(lh, changed, PAIRS)
    assert [(d.draft_id, d.version) for d in third.new_versions] == [(RETAIL, 2)]
    assert get_draft(lh, RETAIL, 1).body_markdown != get_draft(lh, RETAIL).body_markdown
    assert latest_versions(lh).sort("draft_id").get_column("version").to_list() == [1, 2]


def test_an_llm_is_not_asked_again_for_an_unchanged_request(tmp_lh, sample_stats, ollama_server):
    # the model words the same facts differently on every call (temperature > 0)
    ollama_server.add_model("m", Behaviour.custom(
        lambda p, n: "## Panorama general\n\nEl sector es " + ("importante", "relevante", "clave")[n % 3]
        + " en el estado."))
    ollama_server.add_model("m2", Behaviour.custom(
        lambda p, n: "## Panorama general\n\nOtro modelo, " + ("primera", "segunda", "tercera")[n % 3] + " vez."))
    client = LLMClient(ollama_server.url, max_retries=0, timeout_s=10)
    writer = LLMWriter(client, "m")
    first = populate(tmp_lh, sample_stats, [("31-33", "28")], writer=writer)
    review.record_review(tmp_lh, MANUF, 1, "approved", "Ana")
    again = populate(tmp_lh, sample_stats, [("31-33", "28")], writer=writer)
    assert ollama_server.calls["m"] == 1 and again.new_versions == []      # same request: no call, no version
    assert [(p.draft_id, p.version) for p in review.publishable(tmp_lh)] == [(MANUF, 1)]   # approval stands
    assert get_draft(tmp_lh, MANUF).input_hash == first.drafts[0].input_hash != ""
    # another model (or changed facts, instructions, options) is another request: asked, new version
    populate(tmp_lh, sample_stats, [("31-33", "28")], writer=LLMWriter(client, "m2"))
    assert ollama_server.calls["m2"] == 1 and get_draft(tmp_lh, MANUF).version == 2
    # redraft asks again even for the same request
    forced = populate(tmp_lh, sample_stats, [("31-33", "28")], writer=LLMWriter(client, "m2"), redraft=True)
    assert ollama_server.calls["m2"] == 2 and [d.version for d in forced.new_versions] == [3]
    # the templates are cheap and deterministic: always rerun, nothing stored to match
    assert get_draft(tmp_lh, MANUF, 1).backend == "llm" and populate(tmp_lh, sample_stats, [("31-33", "28")]) \
        .drafts[0].input_hash == ""


def test_review_rules(drafted):
    lh, _ = drafted
    with pytest.raises(review.ReviewError, match="reviewer name is required"):
        review.record_review(lh, MANUF, 1, "approved", "  ")
    with pytest.raises(review.ReviewError, match="comment is required"):
        review.record_review(lh, MANUF, 1, "rejected", "Ana")
    with pytest.raises(review.ReviewError, match="unknown decision"):
        review.record_review(lh, MANUF, 1, "published", "Ana")
    with pytest.raises(review.ReviewError, match="version 9 does not exist"):
        review.record_review(lh, MANUF, 9, "approved", "Ana")
    assert lh.row_count(T.document_reviews) == 2  # refused decisions leave no trace
    row = review.record_review(lh, MANUF, 1, "changes_requested", "Ana", "Explicar el consumo intermedio.")
    row2 = review.record_review(lh, MANUF, 1, "approved", "Luis", "Listo.")
    assert row2["created_at"] > row["created_at"]
    hist = review.history(lh, MANUF)
    assert hist.get_column("status").to_list() == ["draft", "changes_requested", "approved"]
    assert hist.get_column("reviewer").to_list() == ["sistema", "Ana", "Luis"]
    state = review.states(lh).filter(pl.col("draft_id") == MANUF).row(0, named=True)
    assert state["status"] == "approved"


def test_outdated_versions_are_not_reviewed(drafted, sample_stats):
    lh, _ = drafted
    changed = sample_stats.with_columns((pl.col("employment") * 1.01).alias("employment"))
    populate(lh, changed, PAIRS)
    with pytest.raises(review.ReviewError, match="version 1 is outdated: review version 2"):
        review.record_review(lh, MANUF, 1, "approved", "Ana")


def test_a_draft_with_an_invented_number_cannot_be_approved(tmp_lh, sample_stats, ollama_server):
    ollama_server.add_model("mixtral:8x7b", Behaviour.clean(
        lambda p: "## Panorama general\n\nEn 2023 el comercio creció 37.9% y empleó a 1,234,567 personas."))
    writer = LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "mixtral:8x7b")
    saved = populate(tmp_lh, sample_stats, [("46", "28")], writer=writer)
    d = saved.new_versions[0]
    assert d.grounding.flagged >= 1 and "1,234,567" in [i.text for i in d.grounding.items if i.status == "flagged"]
    with pytest.raises(review.ReviewError, match="cannot be approved") as exc:
        review.record_review(tmp_lh, d.draft_id, d.version, "approved", "Ana", "ok")
    assert "1,234,567" in str(exc.value)
    # rejecting it is fine, and nothing becomes publishable
    review.record_review(tmp_lh, d.draft_id, d.version, "rejected", "Ana", "Cifras inventadas.")
    assert review.publishable(tmp_lh) == []


def test_publishable_is_the_highest_approved_version(drafted, sample_stats):
    lh, _ = drafted
    review.record_review(lh, RETAIL, 1, "approved", "Ana")
    assert [(p.draft_id, p.version, p.approved_by) for p in review.publishable(lh)] == [(RETAIL, 1, "Ana")]
    changed = sample_stats.with_columns((pl.col("employment") + 3).alias("employment"))
    populate(lh, changed, PAIRS)  # version 2 pending: version 1 stays published
    assert [(p.draft_id, p.version) for p in review.publishable(lh)] == [(RETAIL, 1)]
    review.record_review(lh, RETAIL, 2, "approved", "Luis")
    assert [(p.draft_id, p.version) for p in review.publishable(lh)] == [(RETAIL, 2)]
    over = {r["draft_id"]: r for r in review.overview(lh)}
    assert over[RETAIL]["status"] == "approved" and over[RETAIL]["published_version"] == 2
    assert over[MANUF]["status"] == "draft" and over[MANUF]["published_version"] is None


def test_publication_decision_and_site(drafted):
    lh, _ = drafted
    first = service.publication_due(lh)
    assert first.run_key is None and "already match" in first.reason  # nothing approved, nothing published
    review.record_review(lh, MANUF, 1, "approved", "Ana")
    due = service.publication_due(lh)
    state = f"reviews-v{lh.version(T.document_reviews)}-published-v{none_or(lh.version(T.published_documents))}"
    assert due.state == state and due.run_key == f"documents-publish-{state}" and MANUF in due.summary
    # until something is published the same state stays due under the same key (a failed run does not hide it)
    assert service.publication_due(lh).run_key == due.run_key
    rows, _ = service.publish(lh)
    assert rows.get_column("draft_id").to_list() == [MANUF]
    site = lh.local_dir("site")
    page = (site / MANUF / "index.html").read_text(encoding="utf-8")
    assert "Documento aprobado por Ana" in page and 'src="charts/empleo.png"' in page
    assert (site / MANUF / "charts" / "empleo.png").stat().st_size > 1000
    assert MANUF in (site / "index.html").read_text(encoding="utf-8")
    assert "Verificación de cifras" not in page  # reviewers' material stays out of the public page
    assert service.publication_due(lh).run_key is None  # published set matches approvals
    # withdrawing the approval unpublishes it on the next run
    review.record_review(lh, MANUF, 1, "rejected", "Luis", "Retirar: revisar fuentes.")
    assert service.publication_due(lh).run_key not in (None, due.run_key)
    rows, _ = service.publish(lh)
    assert rows.height == 0 and not (site / MANUF).exists()
    assert "Todavía no hay documentos aprobados" in (site / "index.html").read_text(encoding="utf-8")
