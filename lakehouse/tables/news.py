"""Tables of the news domain (declared by its issue)."""

from __future__ import annotations
