"""Tables of the coding domain (declared by its issue)."""

from __future__ import annotations
