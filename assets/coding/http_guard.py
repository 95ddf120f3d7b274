"""Request guards for the project's loopback web apps: Host allow-list (DNS rebinding), same-origin POSTs and
CSRF token comparison, in the form ``assets/documents/review_app.py`` applies them inline.

Written domain-free so it can move down to a shared module (the documents review page does the same checks
in its ``handle``); until then the coder's workbench uses it from here.
"""

from __future__ import annotations

import hmac
from typing import Mapping
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ALL_INTERFACES = {"", "0.0.0.0", "::"}


def default_allowed_hosts(host: str, port: int) -> set[str] | None:
    """The ``Host`` values a server bound to ``host:port`` is reached by: the loopback names for a loopback
    address, the address itself otherwise; None (no check) when bound to all interfaces."""
    if host in ALL_INTERFACES:
        return None
    names = LOOPBACK if host in LOOPBACK else {host}
    return {(f"[{n}]:{port}" if ":" in n else f"{n}:{port}").lower() for n in names}


def host_allowed(headers: Mapping[str, str], allowed: set[str] | None) -> bool:
    """Whether the request's ``Host`` is one the server is reached by (``headers`` with lower-case names)."""
    return allowed is None or headers.get("host", "").lower() in allowed


def same_origin(headers: Mapping[str, str]) -> bool:
    """A POST without ``Origin`` (same-origin forms of older browsers, scripts) passes; ``null`` or another
    host than the one addressed is refused."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def not_cross_site(headers: Mapping[str, str]) -> bool:
    """False for a request a browser marks as made by another site (``Sec-Fetch-Site: cross-site`` or
    ``same-site``): a GET with side effects (claiming records) must not be triggerable by an image tag
    elsewhere. Clients that send no such header (scripts, older browsers) pass."""
    return headers.get("sec-fetch-site", "same-origin").lower() in ("same-origin", "none")


def token_matches(given: str | None, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())
