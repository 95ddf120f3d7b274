"""What every asset of the house shares: writing a registered table and describing the result.

``asset_key`` is a table's asset key (``[layer, name]``); ``write_table`` writes a table and returns
its ``MaterializeResult``; ``table_result`` builds that result (row count, a markdown preview, the
table URI, the column schema, the Delta version) for an asset that writes in steps of its own;
``build_key_check`` builds the not-null / unique check on a silver table's primary key (applied to
every silver asset in ``pipelines.definitions``).
"""

from typing import Any, Sequence

import dagster as dg
import polars as pl

from lakehouse import Lakehouse, TableSpec, WriteResult, get_table
from lakehouse.delta import WriteMode
from resources.lakehouse import LakehouseResource

TABLE_METADATA_KEY = "fmlake/table"


def markdown_preview(df: pl.DataFrame, rows: int = 8, max_chars: int = 60) -> str:
    """A small markdown table of the first rows (long cells cut), for the Dagster UI."""
    if df.width == 0:
        return "_(no columns)_"
    head = df.head(rows)

    def cell(v: Any) -> str:
        s = "" if v is None else str(v)
        s = s.replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_chars else s[: max_chars - 1] + "…"

    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * head.width]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    if df.height > rows:
        lines.append(f"\n_{df.height - rows} more rows_")
    return "\n".join(lines)


def asset_key(table: "TableSpec | str") -> dg.AssetKey:
    """The asset key of a registered table (a spec, or its ``layer.name`` key): ``[layer, name]``."""
    spec = get_table(table) if isinstance(table, str) else table
    return dg.AssetKey(spec.asset_key_path)


def column_schema(spec: TableSpec) -> dg.TableSchema:
    """The table's columns for the Dagster UI: name, polars type and what the column means."""
    return dg.TableSchema(columns=[
        dg.TableColumn(name, str(dtype), description=spec.column_descriptions[name] or None)
        for name, dtype in spec.full_schema.items()
    ])


def table_metadata(spec: TableSpec) -> dict[str, Any]:
    """Static asset metadata: which registered table the asset writes (used for key checks, docs) and its
    column schema with descriptions (shown before the first materialization)."""
    return {TABLE_METADATA_KEY: spec.key, "dagster/column_schema": column_schema(spec)}


def table_result(
    spec: TableSpec,
    lh: Lakehouse,
    written: "WriteResult | None",
    df: pl.DataFrame,
    extra: "dict[str, Any] | None" = None,
    check_results: Sequence[dg.AssetCheckResult] = (),
    preview: "pl.DataFrame | None" = None,
) -> dg.MaterializeResult:
    """The ``MaterializeResult`` every table asset returns.

    ``df`` is what this run wrote (its row count is ``dagster/row_count`` unless ``extra``
    overrides it with the table's total).
    """
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(df.height),
        "dagster/uri": dg.MetadataValue.path(lh.uri(spec)),
        "table": spec.key,
        "preview": dg.MetadataValue.md(markdown_preview(preview if preview is not None else df)),
        "dagster/column_schema": column_schema(spec),
    }
    if written is not None:
        metadata["delta_version"] = dg.MetadataValue.int(written.version)
        metadata["write_mode"] = written.mode
        if written.partitions:
            metadata["partitions_rewritten"] = ", ".join(written.partitions)
    metadata.update(extra or {})
    return dg.MaterializeResult(metadata=metadata, check_results=list(check_results))


def write_table(
    lh: Lakehouse,
    spec: TableSpec,
    df: pl.DataFrame,
    mode: WriteMode = "overwrite",
    partitions: "list[str] | None" = None,
    *,
    extra: "dict[str, Any] | None" = None,
    check_results: Sequence[dg.AssetCheckResult] = (),
    preview: "pl.DataFrame | None" = None,
) -> dg.MaterializeResult:
    """Write ``df`` to ``spec``'s table (``Lakehouse.write``: schema enforced, one Delta transaction) and
    return the asset's ``MaterializeResult`` for it (``table_result``: row count, URI, preview, column
    schema, Delta version, plus ``extra`` and ``check_results``)."""
    written = lh.write(spec, df, mode=mode, partitions=partitions)
    return table_result(spec, lh, written, df, extra=extra, check_results=check_results, preview=preview)


def key_violations(spec: TableSpec, df: pl.DataFrame) -> dict[str, int]:
    """Rows whose primary key is null, and rows whose key appears more than once."""
    keys = list(spec.primary_key)
    if not df.height or not keys:
        return {"null_keys": 0, "duplicated_rows": 0}
    nulls = int(df.select(pl.any_horizontal([pl.col(k).is_null() for k in keys]).sum()).item())
    dups = int(df.select(keys).is_duplicated().sum())
    return {"null_keys": nulls, "duplicated_rows": dups}


def build_key_check(asset_key: dg.AssetKey, spec: TableSpec) -> dg.AssetChecksDefinition:
    """A blocking check: the table's primary key is never null and unique (reads the whole table)."""
    @dg.asset_check(asset=asset_key, name="primary_key_not_null_unique", blocking=True,
                    description=f"{spec.key}: primary key {list(spec.primary_key)} is never null and unique.")
    def _check(lakehouse: LakehouseResource) -> dg.AssetCheckResult:
        df = lakehouse.lakehouse.read(spec, columns=list(spec.primary_key))
        found = key_violations(spec, df)
        return dg.AssetCheckResult(
            passed=found["null_keys"] == 0 and found["duplicated_rows"] == 0,
            metadata={**found, "rows": df.height},
        )

    return _check
