"""Tables of the imagery domain (declared by its issue)."""

from __future__ import annotations
