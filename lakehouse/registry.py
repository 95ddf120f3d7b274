"""Table registry: every table of every domain, looked up by ``layer.name``.

The registry is built from the explicit list ``lakehouse.tables.ALL_TABLES``; table modules only
declare :class:`~lakehouse.spec.TableSpec` objects (nothing registers itself on import). A key
declared twice is an error when the registry is built.
"""

from __future__ import annotations

from collections.abc import Iterable

from lakehouse.errors import LakehouseError
from lakehouse.spec import LAYERS, LINEAGE_SCHEMA, TableSpec
from lakehouse.tables import ALL_TABLES

__all__ = ["LAYERS", "LINEAGE_SCHEMA", "TableSpec", "all_tables", "build_registry", "get_table"]


def build_registry(specs: Iterable[TableSpec]) -> dict[str, TableSpec]:
    """The specs keyed by ``layer.name``; a key that appears twice raises :class:`LakehouseError`."""
    registry: dict[str, TableSpec] = {}
    for spec in specs:
        if spec.key in registry:
            raise LakehouseError(f"table {spec.key} is declared twice (lakehouse.tables.ALL_TABLES)")
        registry[spec.key] = spec
    return registry


_REGISTRY: dict[str, TableSpec] = build_registry(ALL_TABLES)


def get_table(key: str) -> TableSpec:
    """Look up a table by ``layer.name``."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise LakehouseError(f"unknown table {key!r}; known: {sorted(_REGISTRY)}") from None


def all_tables() -> list[TableSpec]:
    """Every registered table, ordered by layer then name."""
    order = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(_REGISTRY.values(), key=lambda s: (order[s.layer], s.name))
