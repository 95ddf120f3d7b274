"""The cluster tests' table and its rows (light: no Dagster, importable by spawned writer processes)."""

from __future__ import annotations

import polars as pl

from lakehouse import Lakehouse, TableSpec

PARTS = TableSpec("silver", "cluster_parts", {"part": pl.Utf8(), "row": pl.Int64(), "value": pl.Float64()},
                  primary_key=("part", "row"), partition_by="part", description="cluster test rows")
ROWS_PER_PART = 250


def rows(part: str) -> pl.DataFrame:
    return pl.DataFrame({"part": [part] * ROWS_PER_PART, "row": list(range(ROWS_PER_PART)),
                         "value": [float(i) for i in range(ROWS_PER_PART)]})


def write_partition(root: str, options: dict, part: str) -> int:
    """One writer process: rewrite partition ``part`` of PARTS; returns the version it committed."""
    return Lakehouse(root, options).write(PARTS, rows(part), mode="partitions").version
