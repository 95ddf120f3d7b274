"""What a Delta table is: :class:`TableSpec`, its layer, schema, primary key and partition column.

Specs are plain data: no Dagster, no I/O, and no registry. Domain tables are declared in
``lakehouse/tables/<domain>.py``; ``lakehouse.registry`` looks them up by key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa

from lakehouse.errors import LakehouseError

LAYERS = ("bronze", "silver", "gold")

# Lineage columns every bronze table carries (see lakehouse.lineage.with_lineage).
LINEAGE_SCHEMA: dict[str, pl.DataType] = {
    "_source_file": pl.Utf8(),
    "_content_hash": pl.Utf8(),
    "_ingested_at": pl.Datetime("us", "UTC"),
    "_batch_id": pl.Utf8(),
}


@dataclass(frozen=True)
class TableSpec:
    """Declaration of one Delta table.

    ``schema`` is ordered and uses polars dtypes; ``primary_key`` columns must be non-null and
    unique; ``partition_by`` names the column whose values a partition rewrite replaces.
    """

    layer: str
    name: str
    schema: dict[str, pl.DataType]
    primary_key: tuple[str, ...] = ()
    partition_by: str | None = None
    description: str = ""
    domain: str = ""
    lineage: bool = field(default=False)

    def __post_init__(self) -> None:
        if self.layer not in LAYERS:
            raise LakehouseError(f"table {self.name}: layer must be one of {LAYERS}, got {self.layer!r}")
        if not self.name.isidentifier():
            raise LakehouseError(f"table name {self.name!r} must be a SQL-safe identifier")
        cols = self.columns
        for col in (*self.primary_key, *([self.partition_by] if self.partition_by else [])):
            if col not in cols:
                raise LakehouseError(f"table {self.key}: key/partition column {col!r} is not in the schema")

    @property
    def key(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def asset_key_path(self) -> list[str]:
        """The table's asset key as a path, ``[layer, name]``: asset keys mirror storage
        (``["silver", "news_articles"]`` is ``<root>/silver/news_articles``)."""
        return [self.layer, self.name]

    @property
    def full_schema(self) -> dict[str, pl.DataType]:
        schema = dict(self.schema)
        if self.lineage:
            schema.update(LINEAGE_SCHEMA)
        return schema

    @property
    def columns(self) -> list[str]:
        return list(self.full_schema)

    @property
    def non_nullable(self) -> tuple[str, ...]:
        cols = list(self.primary_key)
        if self.partition_by and self.partition_by not in cols:
            cols.append(self.partition_by)
        return tuple(cols)

    def arrow_schema(self) -> pa.Schema:
        empty = pl.DataFrame(schema=self.full_schema)
        return empty.to_arrow(compat_level=pl.CompatLevel.oldest()).schema

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.full_schema)
