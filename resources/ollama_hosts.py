"""Ollama servers as the process sees them: one record per host URL (requests in flight, health), shared by every
client of the process, so LLM, namer and embedder calls to one server share its limit (resources/llm.py)."""

from __future__ import annotations

import itertools
import threading
from typing import Sequence

DEFAULT_HOST = "http://127.0.0.1:11434"


def host_key(url: str) -> str:
    """The registry key of a host URL: scheme and host lower-cased, no trailing slash."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


class HostState:
    """What the process knows of one server: requests in flight (the shared limit) and its health."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.last_pick = 0  # sequence number of the last request given to the host (round robin on ties)
        self.streak = 0  # host failures in a row
        self.down_until = 0.0  # monotonic time until which the host gets no requests (if another can)
        self.last_error: str | None = None
        self.drops = 0  # times the host was dropped

    def up(self, now: float) -> bool:
        return self.down_until <= now


_HOSTS: dict[str, HostState] = {}
# one condition for every host: a released slot or a re-admitted host wakes the waiting requests
HOSTS_COND = threading.Condition()
_PICKS = itertools.count(1)


def next_pick() -> int:
    """A sequence number for round robin between equally busy hosts."""
    return next(_PICKS)


def host_limiter(url: str) -> HostState:
    """The process-wide record of the server at ``url`` (created on first use)."""
    key = host_key(url)
    with HOSTS_COND:
        state = _HOSTS.get(key)
        if state is None:
            state = _HOSTS[key] = HostState(url.rstrip("/"))
        return state


def reset_host_states() -> None:
    """Forget every host's health and counters (tests; requests in flight keep their slots)."""
    with HOSTS_COND:
        for state in _HOSTS.values():
            state.streak, state.down_until, state.last_error, state.drops = 0, 0.0, None, 0
            state.max_in_flight, state.requests = state.in_flight, 0


def normalise_hosts(host: str | Sequence[str] | None, hosts: Sequence[str] | None = None) -> list[str]:
    """The host list of a client or resource: ``hosts`` if given, else ``host`` (a URL or a list)."""
    raw: Sequence[str]
    if hosts:
        raw = list(hosts)
    elif isinstance(host, str):
        raw = [h for h in host.split(",")] if "," in host else [host]
    elif host:
        raw = list(host)
    else:
        raw = [DEFAULT_HOST]
    out = list(dict.fromkeys(h.strip().rstrip("/") for h in raw if h and h.strip()))
    if not out:
        raise ValueError("no Ollama host given")
    for h in out:
        if not h.startswith(("http://", "https://")):
            raise ValueError(f"Ollama host {h!r} must start with http:// or https://")
    return out
