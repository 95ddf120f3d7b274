"""Storage conventions of the fm-lakehouse, with no Dagster imports.

Layers: ``landing/`` (raw files as delivered) -> ``bronze`` (Delta, as ingested, plus lineage
columns) -> ``silver`` (typed, cleaned, deduplicated) -> ``gold`` (model outputs, indicators).
Every Delta write goes through :class:`lakehouse.delta.Lakehouse`.
"""

from lakehouse.delta import Lakehouse, WriteResult
from lakehouse.errors import LakehouseError, SchemaError
from lakehouse.registry import all_tables, get_table
from lakehouse.spec import LAYERS, Col, TableSpec

__all__ = [
    "LAYERS",
    "Col",
    "Lakehouse",
    "LakehouseError",
    "SchemaError",
    "TableSpec",
    "WriteResult",
    "all_tables",
    "get_table",
]
