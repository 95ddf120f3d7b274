"""DuckDB connections with the offline extensions (delta, fts, vss) available.

The extensions ship as PyPI packages (``duckdb-extension-delta`` ...); ``duckdb_extensions``
installs them into DuckDB's extension folder without any network access.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb


@cache
def install_extension(name: str) -> None:
    """Install a packaged DuckDB extension into the local extension directory (once per process)."""
    from duckdb_extensions import import_extension

    con = duckdb.connect()
    try:
        import_extension(name, con=con)
    finally:
        con.close()


def connect(database: str | Path = ":memory:", read_only: bool = False,
            extensions: tuple[str, ...] = ("delta",), config: dict | None = None) -> duckdb.DuckDBPyConnection:
    for ext in extensions:
        install_extension(ext)
    con = duckdb.connect(str(database), read_only=read_only, config=config or {})
    for ext in extensions:
        con.load_extension(ext)
    return con
