"""What a Delta table is: :class:`TableSpec`, its layer, schema, primary key and partition column.

Specs are plain data: no Dagster, no I/O, and no registry. Domain tables are declared in
``lakehouse/tables/<domain>.py``; ``lakehouse.registry`` looks them up by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

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
LINEAGE_DOCS: dict[str, str] = {
    "_source_file": "Path of the landing file the row was read from (as found under landing/<source>/, or the "
                    "FMLAKE_SOURCE_<SOURCE> file); a whole-source table is partitioned by it.",
    "_content_hash": "SHA-256 of the landing file's bytes when it was read: a file delivered again with other "
                     "content has another hash.",
    "_ingested_at": "When the ingestion run read the file (UTC); the latest ingestion wins when a record is "
                    "delivered twice.",
    "_batch_id": "Landing batch the file belongs to: the batch folder (crime narratives, economic activity text), "
                 "the news file's name without extension, or the source name for sources delivered whole.",
}


class Col(NamedTuple):
    """A column declaration: its polars dtype and what it means (shown in the Dagster UI and the dbt docs)."""

    dtype: pl.DataType
    doc: str


@dataclass(frozen=True)
class TableSpec:
    """Declaration of one Delta table.

    ``schema`` is ordered and maps each column to a :class:`Col` (dtype and description) or a bare
    polars dtype; after construction it holds the dtypes and ``column_docs`` the descriptions (those
    given as ``Col`` plus any passed in ``column_docs``). ``primary_key`` columns must be non-null and
    unique; ``partition_by`` names the column whose values a partition rewrite replaces. Lineage
    columns (``lineage=True``) are described once, in ``LINEAGE_DOCS``.
    """

    layer: str
    name: str
    schema: dict[str, pl.DataType]
    primary_key: tuple[str, ...] = ()
    partition_by: str | None = None
    description: str = ""
    domain: str = ""
    lineage: bool = field(default=False)
    column_docs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        declared: Mapping[str, pl.DataType | Col] = self.schema
        docs = {name: c.doc for name, c in declared.items() if isinstance(c, Col)}
        for name, doc in self.column_docs.items():
            if name not in declared:
                raise LakehouseError(f"table {self.layer}.{self.name}: description of unknown column {name!r}")
            if name in docs and docs[name] != doc:
                raise LakehouseError(f"table {self.layer}.{self.name}: column {name!r} is described twice")
            docs[name] = doc
        object.__setattr__(self, "schema",
                           {name: c.dtype if isinstance(c, Col) else c for name, c in declared.items()})
        object.__setattr__(self, "column_docs", {name: docs[name] for name in declared if name in docs})
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
    def column_descriptions(self) -> dict[str, str]:
        """What every column (lineage included) means, in schema order; ``""`` where none is declared."""
        docs = {**self.column_docs, **(LINEAGE_DOCS if self.lineage else {})}
        return {name: docs.get(name, "") for name in self.full_schema}

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
