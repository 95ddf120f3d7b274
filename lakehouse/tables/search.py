"""Tables of the search domain (declared by its issue)."""

from __future__ import annotations
