"""The search service over real HTTP on 127.0.0.1: JSON API, HTML page, bad input never a 500."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

import pytest

from assets.search.service import make_server, render_page


@pytest.fixture
def base_url(small_index):
    server = make_server(small_index, port=0, quiet=True, origin="test")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode("utf-8")


def test_json_api(base_url):
    status, ctype, body = get(f"{base_url}/search?" + urlencode({"q": "panificación tradicional", "mode": "bm25",
                                                                  "k": 3}))
    assert status == 200 and ctype.startswith("application/json")
    data = json.loads(body)
    assert data["mode"] == "bm25" and data["k"] == 3 and data["hits"][0]["ref"] == "311812"
    assert {"rank", "doc_id", "title", "score", "snippet"} <= set(data["hits"][0])
    status, _, body = get(f"{base_url}/search?q=carbon")   # defaults: hybrid, k=10
    assert status == 200 and json.loads(body)["mode"] == "hybrid" and len(json.loads(body)["hits"]) == 5


@pytest.mark.parametrize("query, fragment", [
    ("", "empty"),
    ("q=", "empty"),
    ("q=" + "x" * 10_000, "characters"),
    ("q=pan&mode=sql", "mode must be"),
    ("q=pan&k=-1", "k must be"),
    ("q=pan&k=999999999999999999999", "k must be"),
    ("q=pan&k=%00", "k must be"),
    ("q=%00", "NUL"),
])
def test_api_bad_input_is_400(base_url, query, fragment):
    status, ctype, body = get(f"{base_url}/search?{query}")
    assert status == 400 and ctype.startswith("application/json")
    assert fragment in json.loads(body)["error"]


@pytest.mark.parametrize("q", ["'; DROP TABLE vectors; --", "<script>alert(1)</script>", "\" onmouseover=\"x",
                               "%25%5F", "a" * 2000, "ñ 🙂 \u202e"])
def test_metacharacters_never_500(base_url, q):
    for path in ("/search", "/"):
        for mode in ("bm25", "dense", "hybrid"):
            status, _, _ = get(f"{base_url}{path}?" + urlencode({"q": q, "mode": mode}))
            assert status == 200


def test_html_page_escapes_and_renders(base_url):
    status, ctype, page = get(f"{base_url}/?" + urlencode({"q": "<script>alert('x')</script> panificación"}))
    assert status == 200 and ctype.startswith("text/html")
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'id="results"' in page and "Panificación" in page
    status, _, page = get(f"{base_url}/?q=")
    assert status == 400 and 'id="error"' in page
    status, _, page = get(f"{base_url}/")
    assert status == 200 and 'id="q"' in page and 'id="results"' not in page


def test_other_routes(base_url):
    assert get(f"{base_url}/nope")[0] == 404
    status, _, body = get(f"{base_url}/healthz")
    assert status == 200 and json.loads(body)["index"]["documents"] == 5
    req = urllib.request.Request(f"{base_url}/other", method="POST", data=b"{}")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 405
    assert get(f"{base_url}/search?q=" + quote("x") + "&" + "a=1&" * 9000)[0] == 414
    # many fields (tracking parameters, empty && runs) under the URL cap: the search still answers
    many = "&".join(f"utm{i}=x" for i in range(40)) + "&" * 50
    for path in ("/search", "/"):
        assert get(f"{base_url}{path}?q=pan&{many}")[0] == 200


def test_render_page_only_links_safe_urls():
    hits = [{"doc_id": "d1", "doc_type": "document", "ref": "r", "title": "T", "url": "javascript:alert(1)",
             "snippet": "", "score": 1.0},
            {"doc_id": "d2", "doc_type": "document", "ref": "r", "title": "U", "url": "/site/d2.html",
             "snippet": "<b>x</b>", "score": 0.5}]
    page = render_page("q", "hybrid", 10, hits=hits, took_ms=1.0)
    assert "javascript:" not in page and 'href="/site/d2.html"' in page and "&lt;b&gt;x&lt;/b&gt;" in page


def post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, method="POST", data=body,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode("utf-8"))


def test_post_search_and_request_bounds(base_url):
    status, data = post(f"{base_url}/search", json.dumps({"q": "panificación tradicional", "mode": "bm25",
                                                          "k": 2}).encode())
    assert status == 200 and data["k"] == 2 and data["hits"][0]["ref"] == "311812"
    assert {"answer", "groups", "understood"} <= set(data)
    status, data = post(f"{base_url}/search", b"x" * 9000)
    assert status == 413 and "8192" in data["error"]
    for body, fragment in ((b"not json", "JSON"), (b"[1]", "object"), (b'{"q": "pan", "k": 1000}', "k must be"),
                           (b'{"q": "' + b"a" * 3000 + b'"}', "characters"), (b'{"q": 5}', "empty"),
                           (b'{"q": "pan", "mode": "sql"}', "mode must be")):
        status, data = post(f"{base_url}/search", body)
        assert status == 400 and fragment in data["error"], (body[:30], data)


def test_document_page(base_url):
    status, ctype, page = get(f"{base_url}/doc?id=" + quote("scian:311812"))
    assert status == 200 and ctype.startswith("text/html") and "Panificación tradicional" in page
    assert get(f"{base_url}/doc?id=nope")[0] == 404
