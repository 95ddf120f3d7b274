"""Fixtures of the news tests: a tmp lakehouse with silver municipalities, shelters and news articles,
and the URL of a port where no server listens."""

from __future__ import annotations

import socket

import pytest

from assets.news.synthetic import seed_silver_tables, synthetic_articles
from resources.lakehouse import LakehouseResource


@pytest.fixture
def news_lake(tmp_path):
    """(LakehouseResource, articles): 40 synthetic articles, a few without a municipality."""
    articles = synthetic_articles(40, seed=11)
    for a in articles[:4]:
        a["cve_geo"] = None  # the text names the municipality: the geocoder may find it, or not
    resource = LakehouseResource(root=str(tmp_path / "lake"), landing_root=str(tmp_path / "landing"))
    seed_silver_tables(resource.lakehouse, articles)
    return resource, articles


@pytest.fixture
def closed_port_url():
    """``http://127.0.0.1:PORT`` where nothing listens: the port is held (bound, never listening) for
    the whole test, so a connection is refused at once and no other process can take the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(autouse=True)
def _fresh_ollama_host_states():
    """The Ollama client keeps each host's health per process: a port reused by a later test starts healthy."""
    from resources.ollama_hosts import reset_host_states

    reset_host_states()
    yield
    reset_host_states()
