"""The DuckDB catalog analysts open: one ``.duckdb`` file, a schema per layer, a view per table.

Views read the Delta tables through ``delta_scan`` (so they always show the latest committed
version) and the dbt marts through their Parquet exports. The file is rebuilt into a temporary
file and swapped in with an atomic rename, so an analyst who holds the old file open read-only
is never blocked and never sees a half-built catalog.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lakehouse.delta import Lakehouse
from lakehouse.duck import connect
from lakehouse.registry import all_tables
from lakehouse.spec import LAYERS

MARTS_DIR = "marts"


@dataclass(frozen=True)
class TableInfo:
    layer: str
    name: str
    rows: int
    version: int | None
    path: str
    description: str

    def as_dict(self) -> dict:
        return asdict(self)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    """A quoted SQL identifier (a Parquet file named fct-sales.parquet still becomes a view)."""
    return '"' + name.replace('"', '""') + '"'


def mart_files(lh: Lakehouse) -> list[str]:
    """The dbt marts' Parquet exports under ``<root>/marts`` (paths, or ``s3://`` URIs on an object store)."""
    return [f"{lh.root}/{MARTS_DIR}/{name}" for name in lh.artifacts.list(MARTS_DIR)
            if name.endswith(".parquet") and "/" not in name]


def table_infos(lh: Lakehouse) -> list[TableInfo]:
    """Every Delta table that exists under the root, plus the dbt marts."""
    infos = []
    for spec in all_tables():
        version = lh.version(spec)
        if version is None:
            continue
        infos.append(TableInfo(spec.layer, spec.name, lh.row_count(spec), version, lh.uri(spec), spec.description))
    marts = mart_files(lh)
    if marts:
        con = connect(extensions=(), storage_options=lh.storage_options if lh.remote else None)
        for path in marts:
            rows = con.execute(f"SELECT count(*) FROM read_parquet({_quote(path)})").fetchone()[0]
            stem = path.rsplit("/", 1)[-1].removesuffix(".parquet")
            infos.append(TableInfo("marts", stem, int(rows), None, path, "dbt mart"))
        con.close()
    return infos


def build_catalog(lh: Lakehouse, db_path: str | Path) -> list[TableInfo]:
    """(Re)build the analysts' DuckDB file at ``db_path``; returns what it now exposes."""
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    for stale in (tmp, Path(str(tmp) + ".wal")):
        stale.unlink(missing_ok=True)
    infos = table_infos(lh)
    con = connect(tmp, extensions=("delta",), storage_options=lh.storage_options if lh.remote else None)
    try:
        for layer in (*LAYERS, MARTS_DIR):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(layer)}")
        for info in infos:
            if info.layer == MARTS_DIR:
                source = f"read_parquet({_quote(info.path)})"
            else:
                source = f"delta_scan({_quote(info.path)})"
            view = f"{_ident(info.layer)}.{_ident(info.name)}"
            con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM {source}")
            if info.description:
                con.execute(f"COMMENT ON VIEW {view} IS {_quote(info.description)}")
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        for partial in (tmp, Path(str(tmp) + ".wal")):   # the analysts' file is untouched; leave no debris
            partial.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, db_path)
    return infos


def open_catalog(db_path: str | Path, storage_options: dict[str, str] | None = None):
    """Open the catalog read-only with the delta extension loaded (what analysts and ``fmlake sql`` do); the
    views over an object-store root read through httpfs with a session secret from ``storage_options``."""
    return connect(db_path, read_only=True, extensions=("delta",), storage_options=storage_options)
