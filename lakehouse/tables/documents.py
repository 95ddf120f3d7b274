"""Tables of the documents domain (declared by its issue)."""

from __future__ import annotations
