"""Pytest fixtures of the shared test support (load with ``pytest_plugins = ["tests.support.fixtures"]``).

``ollama_server``: a started loopback Ollama-compatible server with no models; script them with
``ollama_server.add_model(name, Behaviour.clean(...))``. ``ollama_server_factory``: start more
servers (``ollama_server_factory({"m": Behaviour.think()})``); all are stopped at teardown.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from pipelines.loopback.ollama_server import Behaviour, OllamaServer


@pytest.fixture
def ollama_server_factory() -> Iterator[Callable[..., OllamaServer]]:
    started: list[OllamaServer] = []

    def start(models: dict[str, Behaviour] | None = None, **kwargs) -> OllamaServer:
        server = OllamaServer(models, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def ollama_server(ollama_server_factory) -> OllamaServer:
    return ollama_server_factory()
