"""The review page driven in headless Chromium: approve a draft, see it published; hostile text stays inert."""

import threading

import dagster as dg
import polars as pl
import pytest

from assets.documents import defs as D
from assets.documents import review
from assets.documents.drafting import LLMWriter
from assets.documents.review_app import make_server
from assets.documents.webserve import site_server
from resources.lakehouse import LakehouseResource
from resources.llm import LLMClient
from tests.documents.conftest import populate
from tests.documents.test_escaping import hostile_stats
from tests.support.browser import headless_chromium
from pipelines.loopback.ollama_server import Behaviour

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GOOD = "conociendo_la_industria-31-33-28"
BAD = "conociendo_la_industria-46-28"
HOSTILE = "conociendo_la_industria-23-28"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile"), page_load_timeout=30) as driver:
        yield driver


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def lakehouse_with_drafts(tmp_path, sample_stats, ollama_server):
    lh_res = LakehouseResource(root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))
    lh = lh_res.lakehouse
    populate(lh, sample_stats, [("31-33", "28")])
    ollama_server.add_model("m", Behaviour.clean(lambda p: "## Panorama general\n\nEl comercio creció 88.8%."))
    populate(lh, sample_stats, [("46", "28")],
             writer=LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "m"))
    hostile = hostile_stats(sample_stats).with_columns(
        pl.when(pl.col("sector_code") == "23").then(pl.lit("Construcción <script>window.__pwned=true</script>"))
        .otherwise(pl.col("sector_title")).alias("sector_title"))
    populate(lh, hostile, [("23", "28")])
    servers = [make_server(lh, "127.0.0.1", 0, quiet=True)]
    yield lh_res, serve(servers[0]), servers
    for s in servers:
        s.shutdown()
        s.server_close()


def wait_for(driver, css, timeout=15):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def test_approve_in_the_browser_then_the_sensor_publishes(browser, lakehouse_with_drafts):
    from selenium.webdriver.common.by import By

    lh_res, url, servers = lakehouse_with_drafts
    lh = lh_res.lakehouse
    browser.get(url + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#drafts tbody tr")
    assert len(rows) == 3
    browser.find_element(By.PARTIAL_LINK_TEXT, "la manufactura en Tamaulipas").click()
    wait_for(browser, "#grounding-summary")
    assert browser.find_element(By.ID, "numbers-flagged").text == "0"
    assert int(browser.find_element(By.ID, "numbers-found").text) > 20
    assert browser.find_elements(By.CSS_SELECTOR, "table.facts tbody tr")  # facts beside the text
    browser.find_element(By.ID, "reviewer").send_keys("Dra. Pérez")
    browser.find_element(By.ID, "comment").send_keys("Claro y completo.")
    browser.find_element(By.ID, "approve").click()
    notice = wait_for(browser, "#notice")
    assert "Borrador aprobado" in notice.text
    assert browser.find_element(By.ID, "status").text == "aprobado"
    last = review.history(lh, GOOD).row(-1, named=True)
    assert (last["status"], last["reviewer"], last["comment"]) == ("approved", "Dra. Pérez", "Claro y completo.")

    # the ungrounded LLM draft: the button is disabled, and forcing the form is refused by the server
    browser.get(f"{url}/drafts/{BAD}")
    approve = wait_for(browser, "#approve")
    assert not approve.is_enabled()
    assert "no puede aprobarse" in browser.find_element(By.ID, "not-approvable").text
    browser.find_element(By.ID, "reviewer").send_keys("Alguien")
    browser.execute_script("document.getElementById('approve').disabled = false;")
    browser.find_element(By.ID, "approve").click()
    error = wait_for(browser, "#error")
    assert "cannot be approved" in error.text and "88.8" in error.text
    assert review.history(lh, BAD).get_column("status").to_list() == ["draft"]

    # the hostile draft: its title is shown as text and its script never runs
    browser.get(f"{url}/drafts/{HOSTILE}")
    title = wait_for(browser, "#doc-title")
    assert "<script>window.__pwned=true</script>" in title.text
    assert browser.execute_script("return window.__pwned === undefined")

    # the sensor sees the approval and its job publishes the site
    defs = dg.Definitions(assets=[D.published_documents, D.document_reviews], jobs=[D.publish_documents_job],
                          sensors=[D.approved_documents_sensor], resources={"lakehouse": lh_res})
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"lakehouse": lh_res}, definitions=defs) as ctx:
            request = D.approved_documents_sensor(ctx)
        assert isinstance(request, dg.RunRequest)
        assert defs.resolve_job_def("publish_documents_job").execute_in_process(instance=instance).success

    site = site_server(lh.local_dir("site"), port=0, quiet=True)
    servers.append(site)
    site_url = serve(site)
    browser.get(site_url + "/")
    links = browser.find_elements(By.CSS_SELECTOR, "#documents a")
    assert [a.text for a in links] == ["Conociendo la Industria: la manufactura en Tamaulipas"]
    links[0].click()
    heading = wait_for(browser, "#doc-title")
    assert heading.text == "Conociendo la Industria: la manufactura en Tamaulipas"
    assert "Documento aprobado por Dra. Pérez" in browser.page_source
    images = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert len(images) == 3
    assert browser.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert browser.find_elements(By.CSS_SELECTOR, "table.data tbody tr")
