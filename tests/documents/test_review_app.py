"""The review web app over real HTTP on 127.0.0.1 (no browser): pages, decisions, refusals."""

import http.client
import re
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from assets.documents import review
from assets.documents.drafting import LLMWriter
from assets.documents.review_app import make_server
from lakehouse.tables import documents as T
from resources.llm import LLMClient
from tests.documents.conftest import populate
from pipelines.loopback.ollama_server import Behaviour

GOOD = "conociendo_la_industria-31-33-28"
BAD = "conociendo_la_industria-46-28"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def app_url(tmp_lh, sample_stats, ollama_server):
    populate(tmp_lh, sample_stats, [("31-33", "28")])
    ollama_server.add_model("m", Behaviour.clean(lambda p: "## Panorama general\n\nEl comercio creció 77.7%."))
    populate(tmp_lh, sample_stats, [("46", "28")],
             writer=LLMWriter(LLMClient(ollama_server.url, max_retries=0, timeout_s=10), "m"))
    server = make_server(tmp_lh, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", tmp_lh
    server.shutdown()
    server.server_close()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def token(url, draft_id, version=1):
    """The CSRF token of a draft's decision form, read from its page as a browser would."""
    page = get(f"{url}/drafts/{draft_id}?version={version}")[2].decode()
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def post(url, data, origin=None, with_token=True):
    if with_token and "csrf" not in data:
        base, draft_id = url.split("/drafts/")[0], url.split("/drafts/")[1].split("/")[0]
        data = {**data, "csrf": token(base, draft_id, data.get("version", 1))}
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode(), method="POST")
    if origin:
        req.add_header("Origin", origin)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_list_and_draft_pages(app_url):
    url, _ = app_url
    status, headers, body = get(url + "/")
    html = body.decode()
    assert status == 200 and "Conociendo la Industria: la manufactura en Tamaulipas" in html
    assert f'id="row-{BAD}" class="flagged"' in html
    assert "Content-Security-Policy" in headers
    status, _, body = get(f"{url}/drafts/{GOOD}")
    html = body.decode()
    assert status == 200 and 'id="numbers-flagged">0<' in html and "31-33:28:2023:employment" in html
    assert f'src="/drafts/{GOOD}/v1/charts/empleo.png"' in html
    status, headers, body = get(f"{url}/drafts/{GOOD}/v1/charts/empleo.png")
    assert status == 200 and headers["Content-Type"] == "image/png" and body[:4] == b"\x89PNG"
    assert get(f"{url}/drafts/..%2F..%2Fetc%2Fpasswd")[0] == 404
    assert get(f"{url}/drafts/nope")[0] == 404


def test_approving_an_ungrounded_draft_is_refused(app_url):
    url, lh = app_url
    page = get(f"{url}/drafts/{BAD}")[2].decode()
    assert 'id="approve" name="decision" value="approved" disabled' in page and "77.7" in page
    before = lh.row_count(T.document_reviews)
    status, _, body = post(f"{url}/drafts/{BAD}/review", {"version": 1, "decision": "approved", "reviewer": "Ana"})
    assert status == 409 and "cannot be approved" in body.decode()
    assert lh.row_count(T.document_reviews) == before


def test_foreign_origin_is_refused(app_url):
    url, lh = app_url
    status, _, _ = post(f"{url}/drafts/{GOOD}/review", {"version": 1, "decision": "approved", "reviewer": "Ana"},
                        origin="http://evil.example")
    assert status == 403 and review.publishable(lh) == []


def test_forged_decisions_are_refused(app_url):
    url, lh = app_url
    before = lh.row_count(T.document_reviews)
    form = {"version": 1, "decision": "approved", "reviewer": "x"}
    # a sandboxed iframe elsewhere sends Origin: null; a form without the page's token is not the page's
    assert post(f"{url}/drafts/{GOOD}/review", form, origin="null")[0] == 403
    assert post(f"{url}/drafts/{GOOD}/review", form, with_token=False)[0] == 403
    assert post(f"{url}/drafts/{GOOD}/review", {**form, "csrf": "0" * 64})[0] == 403
    # the token is per draft and version: another draft's token does not decide this one
    assert post(f"{url}/drafts/{GOOD}/review", {**form, "csrf": token(url, BAD)})[0] == 403
    # a DNS-rebinding page reaches the server under its own name: refused before any page is shown
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", f"/drafts/{GOOD}", headers={"Host": f"evil.example:{port}"})
    resp = conn.getresponse()
    assert resp.status == 403 and b"csrf" not in resp.read()
    conn.close()
    assert review.publishable(lh) == [] and lh.row_count(T.document_reviews) == before


def test_approve_lands_in_the_lakehouse(app_url):
    url, lh = app_url
    status, headers, _ = post(f"{url}/drafts/{GOOD}/review",
                              {"version": 1, "decision": "approved", "reviewer": "Ana", "comment": "Claro."},
                              origin=url)
    assert status == 303 and headers["Location"] == f"/drafts/{GOOD}?version=1&done=approved"
    last = review.history(lh, GOOD).row(-1, named=True)
    assert (last["status"], last["reviewer"], last["comment"], last["version"]) == ("approved", "Ana", "Claro.", 1)
    page = get(url + headers["Location"])[2].decode()
    assert "Borrador aprobado" in page and 'id="status">aprobado<' in page
