"""The search page in headless Chromium: type, submit, read the results; hostile input stays text."""

from __future__ import annotations

import threading

import pytest

from assets.search.service import make_server
from tests.support.browser import headless_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

@pytest.fixture
def driver(tmp_path):
    with headless_chromium(tmp_path / "chromium-profile") as drv:
        yield drv


@pytest.fixture
def base_url(small_index):
    server = make_server(small_index, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_search_page_in_chromium(driver, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + "/")
    box = driver.find_element(By.ID, "q")
    box.send_keys("panificación tradicional")
    Select(driver.find_element(By.ID, "mode")).select_by_value("bm25")
    driver.find_element(By.ID, "go").click()
    WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "results")))
    hits = driver.find_elements(By.CSS_SELECTOR, "#results li.hit")
    assert hits and hits[0].get_attribute("data-doc-id") == "scian:311812"
    assert "Panificación tradicional" in hits[0].text
    assert driver.find_element(By.ID, "q").get_attribute("value") == "panificación tradicional"
    assert "bm25" in driver.find_element(By.ID, "summary").text

    # hostile input is shown as text, never run
    driver.get(base_url + "/?q=%3Cimg%20src%3Dx%20onerror%3D%22document.title%3D%27pwned%27%22%3E&mode=hybrid")
    WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "summary")))
    assert driver.title != "pwned" and not driver.find_elements(By.CSS_SELECTOR, "#summary img")
    assert "<img src=x" in driver.find_element(By.ID, "summary").text

    # an empty query is a visible error, not a crash
    driver.get(base_url + "/?q=")
    assert "empty" in driver.find_element(By.ID, "error").text


@pytest.fixture
def site_url(site):
    server = make_server(site, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_answer_card_in_chromium(driver, site_url):
    """A question about a figure: the answer card (value, unit, place, year, source, citing document) comes first,
    the other results follow grouped by type, and the card links to the fact's own page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(site_url + "/")
    driver.find_element(By.ID, "q").send_keys("cuántas personas trabajan en la manufactura de Tamaulipas en 2018")
    driver.find_element(By.ID, "go").click()
    card = WebDriverWait(driver, 30).until(EC.visibility_of_element_located((By.ID, "answer")))
    assert card.is_displayed() and card.get_attribute("data-doc-id") == "fact:31-33:28:2018:employment"
    assert driver.find_element(By.ID, "answer-value").text == "323,720 personas"
    assert driver.find_element(By.ID, "answer-unit").text == "personas"
    assert driver.find_element(By.ID, "answer-place").text == "Tamaulipas"
    assert driver.find_element(By.ID, "answer-year").text == "2018"
    assert "gold.industry_facts" in driver.find_element(By.ID, "answer-source").text
    assert driver.find_element(By.ID, "answer-cited").get_attribute("href").endswith("/site/d1/index.html")
    # the card is above the grouped results, and the answered fact is not listed again
    results = driver.find_element(By.ID, "results")
    assert card.location["y"] < results.location["y"]
    groups = [g.get_attribute("data-type") for g in driver.find_elements(By.CSS_SELECTOR, "#results section.group")]
    assert groups and len(groups) == len(set(groups))
    assert "fact:31-33:28:2018:employment" not in [
        h.get_attribute("data-doc-id") for h in driver.find_elements(By.CSS_SELECTOR, "#results li.hit")]
    driver.find_element(By.ID, "answer-fact").click()
    doc = WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "document")))
    assert "ocupaban 323,720 personas" in doc.text

    # free text has no card
    driver.get(site_url + "/?q=panificaci%C3%B3n+tradicional")
    WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "results")))
    assert not driver.find_elements(By.ID, "answer") and not driver.find_elements(By.ID, "notice")

    # a measure the lakehouse has no fact of: a notice above the results, no card, the figures that exist first
    driver.get(site_url + "/?q=cu%C3%A1nto+ganan+los+trabajadores+de+la+manufactura+en+Tamaulipas")
    notice = WebDriverWait(driver, 30).until(EC.visibility_of_element_located((By.ID, "notice")))
    assert "remuneraciones" in notice.text and not driver.find_elements(By.ID, "answer")
    first = driver.find_elements(By.CSS_SELECTOR, "#results li.hit")[0]
    assert first.get_attribute("data-doc-id") == "fact:31-33:28:2023:employment"
    assert notice.location["y"] < driver.find_element(By.ID, "results").location["y"]
