"""Hostile text (in the statistics or in an LLM answer) is shown as text everywhere, never run."""

import polars as pl
import pytest

from assets.documents import review
from assets.documents.drafting import LLMWriter
from assets.documents.render import document_markdown, markdown_blocks
from assets.documents.review_app import ReviewApp
from assets.documents.store import exhibits, get_draft
from resources.llm import LLMClient
from tests.documents.conftest import populate
from pipelines.loopback.ollama_server import Behaviour

SCRIPT = "<script>window.__pwned=true</script>"
IMG = '<img src=x onerror="window.__pwned=true">'
HOSTILE_BODY = (f"## Título {SCRIPT}\n\nTexto con {IMG} y **negrita** y [enlace](javascript:alert(document.domain)) "
                "y <b>etiqueta</b>.\n\n- punto <i>uno</i>\n")


def hostile_stats(sample_stats: pl.DataFrame) -> pl.DataFrame:
    return sample_stats.with_columns(
        pl.when(pl.col("sector_code") == "46").then(pl.lit(f"Comercio {SCRIPT} & \"cía\""))
        .otherwise(pl.col("sector_title")).alias("sector_title"),
        pl.when(pl.col("geo_code") == "28").then(pl.lit(f"Tamaulipas {IMG}"))
        .otherwise(pl.col("geo_name")).alias("geo_name"))


@pytest.fixture
def hostile(tmp_lh, sample_stats, ollama_server):
    ollama_server.add_model("m", Behaviour.clean(lambda p: HOSTILE_BODY))
    writer = LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "m")
    saved = populate(tmp_lh, hostile_stats(sample_stats), [("46", "28")], writer=writer)
    return tmp_lh, saved.new_versions[0]


def assert_inert(html: str):
    assert "<script>window" not in html and "<img src=x" not in html and "<b>etiqueta" not in html
    assert 'href="javascript' not in html and "<i>uno" not in html


def test_markdown_blocks_keep_tags_as_text():
    blocks = markdown_blocks(HOSTILE_BODY)
    assert [b.kind for b in blocks] == ["heading", "paragraph", "list"]
    assert blocks[1].spans[1] == ("negrita", True)
    assert SCRIPT in blocks[0].spans[0][0]


def test_draft_page_review_page_and_site_escape_everything(hostile):
    lh, d = hostile
    assert SCRIPT in d.title  # the hostile sector title made it into the title...
    draft_html = (lh.local_dir("documents", d.draft_id, f"v{d.version}") / "draft.html").read_text("utf-8")
    assert_inert(draft_html)
    assert "&lt;script&gt;window.__pwned=true&lt;/script&gt;" in draft_html  # ...and shows as text
    assert "<strong>negrita</strong>" in draft_html  # the one piece of markup we do render

    app = ReviewApp(lh)
    for target in ("/", f"/drafts/{d.draft_id}"):
        resp = app.handle("GET", target)
        assert resp.status == 200
        assert_inert(resp.body.decode())
        assert "&lt;script&gt;" in resp.body.decode()

    review.record_review(lh, d.draft_id, d.version, "approved", f"Ana {SCRIPT}", f"ok {IMG}")
    page = app.handle("GET", f"/drafts/{d.draft_id}").body.decode()
    assert_inert(page)
    from assets.documents.service import publish

    publish(lh)
    site = lh.local_dir("site")
    for path in (site / "index.html", site / d.draft_id / "index.html"):
        html = path.read_text("utf-8")
        assert_inert(html)
        assert "&lt;script&gt;" in html


def test_markdown_output_neutralises_tags(hostile):
    lh, d = hostile
    draft = get_draft(lh, d.draft_id)
    _, tables, charts = exhibits(draft, None)
    md = document_markdown(draft, tables, charts)
    assert "<script" not in md and "<img" not in md and "&lt;script&gt;" in md
