"""Oversized and hostile requests to every service, and a tiny raster declaring an enormous size.

Each service runs on 127.0.0.1 (port 0) in this process. A body past the limit is refused unread (413),
a Content-Length that is not a number is a 400, a client that sends its request a byte at a time is cut
off after the handler timeout while other clients are still served, an over-long URL is a 414. Never a
hang, never unbounded memory.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.faults


def _serve(server):
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server.server_address[1]


def _raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send ``data`` as is and return what the server answers before closing (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


def _slow_client_is_cut(port: int, path: bytes, limit_s: float) -> None:
    """A client that sends headers and then one body byte every while: the server closes it within
    ``limit_s`` and meanwhile answers another client."""
    s = socket.create_connection(("127.0.0.1", port), timeout=limit_s + 5)
    s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 1000\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n\r\nx" % port)
    t0 = time.time()
    other = _raw(port, b"GET / HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
    assert _status(other) in (200, 404, 403), other[:200]
    closed = False
    while time.time() - t0 < limit_s + 4:
        try:
            s.sendall(b"x")
        except OSError:
            closed = True
            break
        s.settimeout(0.5)
        try:
            if s.recv(1024) == b"":
                closed = True
                break
        except TimeoutError:
            pass
        except OSError:
            closed = True
            break
    s.close()
    assert closed, f"a byte-at-a-time client was still connected after {limit_s + 4:.0f}s"


# ------------------------------------------------------------------ review page
@pytest.fixture
def review_port(tmp_path):
    from assets.documents.review_app import make_server
    from lakehouse import Lakehouse

    server = make_server(Lakehouse(tmp_path / "lh"), "127.0.0.1", 0, quiet=True, max_body_bytes=4096, timeout_s=1.0)
    port = _serve(server)
    yield port
    server.shutdown()
    server.server_close()


def test_review_page_refuses_a_huge_body_unread(review_port):
    t0 = time.time()
    answer = _raw(review_port, b"POST /drafts/x/review HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                               b"Content-Length: 1000000000000\r\n\r\n" % review_port)
    assert _status(answer) == 413 and b"FMLAKE_MAX_REQUEST_KB" in answer
    assert time.time() - t0 < 5


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e9", b" 12x"])
def test_review_page_refuses_a_content_length_that_is_not_a_number(review_port, length):
    answer = _raw(review_port, b"POST /drafts/x/review HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %s\r\n\r\n"
                  % (review_port, length), timeout=5)
    assert _status(answer) == 400, answer[:200]


def test_review_page_cuts_off_a_byte_at_a_time_client(review_port):
    _slow_client_is_cut(review_port, b"/drafts/x/review", limit_s=1.0)


def test_review_page_over_long_url_and_headers(review_port):
    assert _status(_raw(review_port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")) == 414
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    assert _status(_raw(review_port, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")) == 431


# ------------------------------------------------------------------ published site
@pytest.fixture
def site_port(tmp_path):
    from assets.documents.webserve import site_server

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<p>ok</p>")
    server = site_server(tmp_path / "site", "127.0.0.1", 0, quiet=True, timeout_s=1.0)
    port = _serve(server)
    yield port
    server.shutdown()
    server.server_close()


def test_site_refuses_posts_and_huge_urls_and_slow_clients(site_port):
    answer = _raw(site_port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n", timeout=5)
    assert _status(answer) == 405
    assert _status(_raw(site_port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n")) == 414
    _slow_client_is_cut(site_port, b"/", limit_s=1.0)


# ------------------------------------------------------------------ search API (the search engineer's service)
@pytest.fixture
def search_port():
    from assets.search.corpus import scian_documents
    from assets.search.engine import IndexConfig, SearchIndex
    from assets.search.service import make_server
    from tests.search.conftest import SMALL_SCIAN, HashEmbedder
    import polars as pl

    catalog = pl.DataFrame({"code": [c for c, _ in SMALL_SCIAN], "title": [t for _, t in SMALL_SCIAN]})
    server = make_server(SearchIndex.build(scian_documents(catalog), HashEmbedder(), IndexConfig()), port=0,
                         quiet=True, origin="test", timeout_s=1.0)
    port = _serve(server)
    yield port
    server.shutdown()
    server.server_close()


def test_search_api_refuses_huge_bodies_queries_and_urls(search_port):
    p = search_port
    big = _raw(p, b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000000000000\r\n\r\n", timeout=5)
    assert _status(big) == 413
    assert _status(_raw(p, b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", timeout=5)) == 400
    assert _status(_raw(p, b"GET /search?q=" + b"a" * 20_000 + b" HTTP/1.0\r\n\r\n")) == 414
    assert _status(_raw(p, b"GET /search?q=" + b"a" * 10_000 + b" HTTP/1.0\r\n\r\n")) == 400


def test_search_api_cuts_off_a_byte_at_a_time_client(search_port):
    _slow_client_is_cut(search_port, b"/search", limit_s=3.0)


# ------------------------------------------------------------------ rasters
def _sparse_tiff(path: Path, width: int, height: int) -> None:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8",
                       crs="EPSG:32614", transform=from_origin(500000, 2000000, 10, 10), tiled=True,
                       blockxsize=2048, blockysize=2048, compress="deflate", sparse_ok=True) as dst:
        dst.write(np.ones((1, 16, 16), dtype="uint8"), window=((0, 16), (0, 16)))


@pytest.mark.timeout(60)
def test_a_tiny_file_declaring_an_enormous_raster_is_skipped_unread(tmp_path):
    from assets.imagery.raster import TileError, inspect_or_skip, inspect_tile

    path = tmp_path / "huge.tif"
    _sparse_tiff(path, 200_000, 200_000)       # 40 gigapixels declared
    assert path.stat().st_size < 1_000_000
    t0 = time.time()
    with pytest.raises(TileError, match="FMLAKE_MAX_RASTER_MEGAPIXELS"):
        inspect_tile(path, "b1")
    assert time.time() - t0 < 10
    skipped = inspect_or_skip(path, "b1")
    assert skipped.status == "skipped" and skipped.skip_reason.startswith("too_large")
    small = tmp_path / "small.tif"
    _sparse_tiff(small, 64, 64)
    with pytest.raises(TileError, match="too_large|more than the limit of 1,000"):
        inspect_tile(small, "b1", max_pixels=1000)
