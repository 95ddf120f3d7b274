"""The coder's workbench over the coded sample lakehouse: claims, decisions appended to silver.coding_feedback,
bad input as 4xx, catalogue search, stats, retraining after N decisions, and the page in headless Chromium
with hostile record text."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.coding import defs as coding
from assets.coding.workbench import Workbench, make_server
from lakehouse import get_table
from lakehouse.tables import coding as T
from pipelines.cli.coding import catalogue_search, load_classifications
from tests.coding.conftest import run_coding
from tests.search.conftest import HashEmbedder

HOST = "127.0.0.1:8040"
HOSTILE = '<img src=x onerror="window.__pwned=1"></script><script>window.__pwned=2</script> & "quotes"'


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def lake(sample_lake):
    resources, instance, _ = sample_lake
    classifications = load_classifications(["scian", "crime_types"])
    return resources, instance, classifications


def workbench(lake, clock=None, search=True) -> Workbench:
    resources, _, classifications = lake
    fn = catalogue_search(classifications, HashEmbedder()) if search else None
    return Workbench(resources["lakehouse"].lakehouse, classifications, fn, claim_seconds=60,
                     clock=clock or Clock(), allowed_hosts={HOST})


def get(wb: Workbench, target: str, **headers):
    resp = wb.handle("GET", target, b"", {"Host": HOST, **headers})
    return resp.status, json.loads(resp.body) if resp.content_type.startswith("application/json") else resp.body


def post(wb: Workbench, payload, token: str | None, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    hdrs = {"Host": HOST, "Content-Type": "application/json", **headers}
    if token is not None:
        hdrs["X-CSRF-Token"] = token
    resp = wb.handle("POST", "/api/decisions", body, hdrs)
    return resp.status, json.loads(resp.body)


def feedback(lake) -> pl.DataFrame:
    return lake[0]["lakehouse"].lakehouse.read(T.coding_feedback)


def decision(rec: dict, code: str | None = None, **extra) -> dict:
    out = {"record_id": rec["record_id"], "classification": rec["classification"], "claim_id": rec["claim_id"],
           "coder": "ana"}
    if code is not None:
        out["code"] = code
    return {**out, **extra}


def test_claims_hand_each_record_to_one_coder_until_they_expire(lake):
    clock = Clock()
    wb = workbench(lake, clock, search=False)
    status, first = get(wb, "/api/queue?limit=3&classification=scian")
    assert status == 200 and len(first["records"]) == 3 and first["csrf_token"]
    rec = first["records"][0]
    assert set(rec) >= {"record_id", "classification", "text", "context", "candidates", "reason", "claim_id",
                        "claim_expires_at"}
    assert rec["classification"] == "scian" and set(rec["context"]) == {"state", "municipality"}
    assert len(rec["candidates"]) == 5 and {"code", "title", "confidence"} <= set(rec["candidates"][0])  # top 5
    assert len({c["code"] for c in rec["candidates"]}) == 5
    _, second = get(wb, "/api/queue?limit=3&classification=scian")
    ids1 = {r["record_id"] for r in first["records"]}
    assert ids1.isdisjoint({r["record_id"] for r in second["records"]})   # never the same record twice
    clock.t += 61
    _, third = get(wb, "/api/queue?limit=6&classification=scian")
    assert ids1 <= {r["record_id"] for r in third["records"]}             # expired claims are handed out again
    # a decision with the expired first claim is refused: the record now belongs to the third claim
    status, body = post(wb, decision(first["records"][0], first["records"][0]["candidates"][0]["code"]),
                        first["csrf_token"])
    assert status == 409 and body["error"] == "stale_claim"


def test_a_decision_is_appended_at_once_and_bad_input_is_a_4xx_naming_the_problem(lake):
    wb = workbench(lake)
    _, q = get(wb, "/api/queue?limit=4&classification=scian")
    token, (a, b, c, d) = q["csrf_token"], q["records"]
    before = feedback(lake).height
    code = a["candidates"][-1]["code"]
    status, body = post(wb, decision(a, code), token)
    assert status == 200 and body["status"] == "recorded" and body["code"] == code
    fb = feedback(lake)
    assert fb.height == before + 1
    row = fb.filter(pl.col("source_file") == "workbench").row(0, named=True)
    assert (row["record_id"], row["code"], row["coder"], row["status"]) == (a["record_id"], code, "ana", "valid")
    assert row["suggested_code"] == a["candidates"][0]["code"] and row["queue_reason"] == a["reason"]

    bad = [
        (post(wb, decision(a, code), token), 409, "already_decided"),
        (post(wb, decision(b, code), "forged"), 403, "bad_csrf_token"),
        (post(wb, decision(b, code), None), 403, "bad_csrf_token"),
        (post(wb, decision(b, code), token, Origin="http://evil.example"), 403, "origin_not_allowed"),
        (post(wb, decision(b, code), token, Origin="null"), 403, "origin_not_allowed"),
        (post(wb, decision(b, "999999"), token), 422, "unknown_code"),
        (post(wb, decision(b, "not a code at all"), token), 422, "unknown_code"),
        (post(wb, {**decision(b, code), "claim_id": "x" * 32}, token), 409, "stale_claim"),
        (post(wb, {**decision(b, code), "classification": "sinco"}, token), 404, "unknown_classification"),
        (post(wb, {**decision(b, code), "coder": ""}, token), 400, "missing_coder"),
        (post(wb, {**decision(b, code), "cannot_code": "ilegible"}, token), 400, "code_or_cannot_code"),
        (post(wb, decision(b), token), 400, "code_or_cannot_code"),
        (post(wb, {**decision(b), "code": 311812}, token), 400, "bad_code"),
        (post(wb, b"{not json", token), 400, "bad_json"),
        (post(wb, b"[1, 2]", token), 400, "bad_json"),
        (post(wb, b"\xff\xfe", token), 400, "bad_json"),
        (post(wb, b"{" + b" " * 20000 + b"}", token), 413, "too_large"),
        (get(wb, "/api/queue?limit=abc"), 400, "bad_limit"),
        (get(wb, "/api/queue?limit=100000"), 400, "bad_limit"),
        (get(wb, "/api/queue?classification=sinco"), 404, "unknown_classification"),
        (get(wb, "/api/search?classification=scian&q="), 400, "empty_query"),
        (get(wb, "/api/search?classification=scian&q=" + "a" * 10000), 400, "query_too_long"),
        (get(wb, "/api/search?classification=nope&q=pan"), 404, "unknown_classification"),
        (get(wb, "/api/nothing"), 404, "not_found"),
        (get(wb, "/api/queue", Host="evil.example:8040"), 403, "host_not_allowed"),
        (get(wb, "/api/queue?limit=50", **{"Sec-Fetch-Site": "cross-site"}), 403, "cross_site"),   # an <img> elsewhere
        (post(wb, decision(b, code), token, **{"Sec-Fetch-Site": "same-site"}), 403, "cross_site"),
    ]
    for (status, body), want_status, want_error in bad:
        assert (status, body["error"]) == (want_status, want_error), body
        assert body["message"]
    resp = wb.handle("DELETE", "/api/decisions", b"", {"Host": HOST})
    assert resp.status == 405
    assert feedback(lake).height == before + 1          # nothing else was written
    # cannot_code: recorded without a code, with the coder's reason; the record leaves the queue
    status, body = post(wb, decision(c, cannot_code="texto ilegible"), token)
    assert status == 200 and body["cannot_code"] == "texto ilegible"
    row = feedback(lake).filter(pl.col("record_id") == c["record_id"]).row(0, named=True)
    assert row["status"] == "cannot_code" and row["code"] is None and row["invalid_reason"] == "texto ilegible"
    _, later = get(wb, "/api/queue?limit=100&classification=scian")
    assert not {a["record_id"], c["record_id"]} & {r["record_id"] for r in later["records"]}


def test_catalogue_search_is_restricted_to_the_classification_and_stats_count_decisions(lake):
    wb = workbench(lake)
    status, found = get(wb, "/api/search?classification=scian&q=panaderia%20tradicional&k=5")
    assert status == 200 and 1 <= len(found["results"]) <= 5
    scian_codes = set(lake[2]["scian"][1].assignable())
    assert all(h["code"] in scian_codes for h in found["results"])
    assert any(h["code"].startswith("3118") for h in found["results"])
    _, crimes = get(wb, "/api/search?classification=crime_types&q=robo%20de%20celular&k=5")
    crime_codes = set(lake[2]["crime_types"][1].assignable())
    assert crimes["results"] and all(h["code"] in crime_codes for h in crimes["results"])
    _, q = get(wb, "/api/queue?limit=2&classification=scian")
    for rec, coder in zip(q["records"], ["ana", "luis"]):
        assert post(wb, {**decision(rec, rec["candidates"][0]["code"]), "coder": coder}, q["csrf_token"])[0] == 200
    _, stats = get(wb, "/api/stats")
    scian = next(s for s in stats["by_classification"] if s["classification"] == "scian")
    assert scian["decided"] == 2 and scian["model_first_code_agreement"] == 1.0
    assert {d["coder"] for d in stats["decisions"]} == {"ana", "luis"}
    assert all(d["decisions"] == 1 and len(d["day"]) == 10 for d in stats["decisions"])


def test_decisions_survive_the_feedback_asset_and_retrain_after_n_of_them(lake):
    resources, instance, _ = lake
    lh = resources["lakehouse"].lakehouse
    sensor = coding.feedback_sensor(retrain_after_decisions=2)
    with dg.build_sensor_context(instance=instance, resources={"lakehouse": resources["lakehouse"]}) as ctx:
        assert not sensor(ctx).run_requests
    models_before = lh.read(T.coding_models).filter(pl.col("is_current") & (pl.col("classification") == "scian"))
    wb = workbench(lake, search=False)
    _, q = get(wb, "/api/queue?limit=2&classification=scian")
    chosen = {}
    for rec in q["records"]:
        code = rec["candidates"][-1]["code"]
        chosen[rec["record_id"]] = code
        assert post(wb, decision(rec, code), q["csrf_token"])[0] == 200
        with dg.build_sensor_context(instance=instance, resources={"lakehouse": resources["lakehouse"]}) as ctx:
            result = sensor(ctx)
        if len(chosen) < 2:
            assert not result.run_requests           # one decision is not enough
    assert len(result.run_requests) == 1
    run_coding(resources, instance, ingest=False)    # what the sensor's job runs
    fb = lh.read(T.coding_feedback)
    assert fb.filter(pl.col("source_file") == "workbench").height == 2   # the file rewrite kept them
    ts = lh.read(T.coding_training_set).filter(pl.col("record_id").is_in(list(chosen)))
    assert dict(zip(ts["record_id"], ts["code"])) == chosen and set(ts["origin"]) == {"review"}
    models = lh.read(T.coding_models).filter(pl.col("is_current") & (pl.col("classification") == "scian"))
    assert models["model_version"][0] != models_before["model_version"][0]   # a new model version
    coded = lh.read(T.coded_records).filter(pl.col("record_id").is_in(list(chosen)))
    assert set(coded["decision"]) == {"human"} and set(coded["model_version"]) == {models["model_version"][0]}
    queue = lh.read(T.coding_review_queue).filter(pl.col("classification") == "scian")
    assert set(queue["model_version"]) == {models["model_version"][0]}    # the new version coded the queue
    with dg.build_sensor_context(instance=instance, cursor=result.cursor,
                                 resources={"lakehouse": resources["lakehouse"]}) as ctx:
        assert not sensor(ctx).run_requests


def _hostile_queue(lh) -> str:
    """Put hostile text into the first scian record of the queue (as a record could carry it); its id."""
    queue = lh.read(T.coding_review_queue).sort("classification", "priority")
    first = queue.filter(pl.col("classification") == "scian").row(0, named=True)["record_id"]
    queue = queue.with_columns(text=pl.when(pl.col("record_id") == first).then(pl.lit(HOSTILE))
                               .otherwise(pl.col("text")))
    lh.write(T.coding_review_queue, queue, mode="overwrite")
    return first


def test_hostile_text_comes_back_verbatim_in_json(lake):
    lh = lake[0]["lakehouse"].lakehouse
    rid = _hostile_queue(lh)
    _, q = get(workbench(lake, search=False), "/api/queue?limit=1&classification=scian")
    assert q["records"][0]["record_id"] == rid and q["records"][0]["text"] == HOSTILE


@pytest.mark.browser
@pytest.mark.slow
def test_claim_search_pick_save_in_chromium_then_retrain(lake, tmp_path):
    from tests.support.browser import headless_chromium

    with headless_chromium(tmp_path / "chromium-profile") as driver:
        rid, picked = _claim_search_pick_save(lake, driver)
    resources, instance, _ = lake                                                # the browser is closed now
    lh = resources["lakehouse"].lakehouse
    before = lh.read(T.coding_models).filter(pl.col("is_current") & (pl.col("classification") == "scian"))
    run_coding(resources, instance, ingest=False)                                # the sensor's job: retrain
    after = lh.read(T.coding_models).filter(pl.col("is_current") & (pl.col("classification") == "scian"))
    assert after["model_version"][0] != before["model_version"][0]
    coded = lh.read(T.coded_records).filter(pl.col("record_id") == rid).row(0, named=True)
    assert (coded["decision"], coded["code"], coded["model_version"]) == ("human", picked, after["model_version"][0])


def _claim_search_pick_save(lake, driver) -> tuple[str, str]:
    """Claim the hostile record in the page, search, pick, save, skip, read the stats: (record_id, code saved)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    resources, instance, classifications = lake
    lh = resources["lakehouse"].lakehouse
    rid = _hostile_queue(lh)
    wb = Workbench(lh, classifications, catalogue_search(classifications, HashEmbedder()), claim_seconds=600)
    server = make_server(wb, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(url + "/?classification=scian")
        wait.until(lambda d: d.find_element(By.ID, "record-meta").text.startswith("scian · " + rid))
        assert driver.find_element(By.ID, "record-text").text == HOSTILE         # shown as text, not markup
        assert driver.execute_script("return window.__pwned === undefined")
        assert not driver.find_elements(By.CSS_SELECTOR, "#record-text img, #record-text script")
        driver.find_element(By.ID, "coder").send_keys("ana")
        driver.execute_script("document.activeElement.blur()")

        def keys(*k):  # to the focused element (the page), as a coder types
            ActionChains(driver).send_keys(*k).perform()

        keys("2")                                                                # pick candidate 2 ...
        second = driver.find_elements(By.CSS_SELECTOR, "#candidates li")[1].get_attribute("data-code")
        assert driver.find_element(By.ID, "chosen").text == second
        keys("/")                                                                # ... then search instead
        assert driver.switch_to.active_element.get_attribute("id") == "search"
        driver.switch_to.active_element.send_keys("panaderia tradicional", Keys.ENTER)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results li"))
        results = driver.find_elements(By.CSS_SELECTOR, "#results li")
        results[0].click()
        picked = results[0].get_attribute("data-code")
        assert driver.find_element(By.ID, "chosen").text == picked
        keys(Keys.ENTER)                                                         # save
        wait.until(lambda d: "Guardado" in d.find_element(By.ID, "status").text)
        row = lh.read(T.coding_feedback).filter(pl.col("source_file") == "workbench").row(0, named=True)
        assert (row["record_id"], row["code"], row["coder"]) == (rid, picked, "ana")
        assert driver.find_element(By.ID, "record-meta").text.split(" · ")[1] != rid   # next record shown
        shown = driver.find_element(By.ID, "record-meta").text
        keys("s")                                                                # skip
        assert driver.find_element(By.ID, "record-meta").text != shown
        driver.find_element(By.ID, "refresh-stats").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#stats-days tbody tr"))
        assert "ana" in driver.find_element(By.ID, "stats-days").text
        assert driver.execute_script("return window.__pwned === undefined")
    finally:
        server.shutdown()
        server.server_close()
    return rid, picked


def test_decisions_reestimate_the_threshold_as_a_new_version_without_retraining(lake):
    resources, instance, _ = lake
    lh = resources["lakehouse"].lakehouse
    models = lh.read(T.coding_models).filter(pl.col("is_current") & (pl.col("classification") == "scian"))
    version = models["model_version"][0]
    th = lh.read(T.coding_thresholds).filter(pl.col("model_version") == version)
    assert th.height == 1 and th.row(0, named=True)["source"] == "fit" and th["is_current"][0]
    wb = workbench(lake, search=False)
    _, q = get(wb, "/api/queue?limit=12&classification=scian")
    for i, rec in enumerate(q["records"]):   # coders disagree with the model on half of them
        code = rec["candidates"][0]["code"] if i % 2 else rec["candidates"][-1]["code"]
        assert post(wb, decision(rec, code), q["csrf_token"])[0] == 200
    from tests.coding.conftest import coding_defs

    defs = coding_defs(resources)
    keys = [coding.K_FEEDBACK, coding.K_THRESHOLDS, coding.K_CODED, coding.K_QUEUE]
    # a site re-estimates after CodingConfig.reestimate_min_decisions (200) decisions; this queue has 12
    few = {"ops": {"gold__coding_thresholds": {"config": {"reestimate_min_decisions": 6}}}}
    result = dg.materialize([a for a in defs.assets if set(a.keys) & set(keys)], resources=resources,
                            instance=instance, selection=keys, run_config=few)
    assert result.success
    th = lh.read(T.coding_thresholds).filter(pl.col("model_version") == version).sort("threshold_version")
    assert th["threshold_version"].to_list() == [1, 2] and th["is_current"].to_list() == [False, True]
    new = th.row(1, named=True)
    decided = len(q["records"])
    assert decided >= 6 and new["source"] == "review" and new["n_validation"] == 0   # the decisions alone
    assert new["n_reviews"] + new["n_audits"] == decided
    assert new["n_audits"] == sum(r["reason"] == "audit" for r in q["records"])
    assert lh.read(T.coding_models).filter(pl.col("classification") == "scian").height == models.height  # no retrain
    coded = lh.read(T.coded_records).filter(pl.col("classification") == "scian")
    auto = coded.filter(pl.col("decision") == "auto")
    manual = coded.filter(pl.col("decision") == "manual")
    if new["threshold"] is None:
        assert auto.height == 0
    else:   # the recoded records follow the new threshold version
        assert auto.get_column("confidence").min() is None or auto.get_column("confidence").min() >= new["threshold"]
        assert manual.filter(pl.col("source") != "catalog").get_column("confidence").max() < new["threshold"]
