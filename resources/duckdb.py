"""DuckDBCatalogResource: the analysts' DuckDB file (schemas per layer, views over Delta tables)."""

from __future__ import annotations

import dagster as dg

from lakehouse import Lakehouse
from lakehouse.catalog import TableInfo, build_catalog, open_catalog


class DuckDBCatalogResource(dg.ConfigurableResource):
    """Path of the catalog file analysts open (read-only) with DuckDB."""

    path: str

    def rebuild(self, lakehouse: Lakehouse) -> list[TableInfo]:
        return build_catalog(lakehouse, self.path)

    def query(self, sql: str, lakehouse: Lakehouse | None = None):
        """``sql`` on the catalog as a polars frame. Pass the ``lakehouse`` when its tables live on an object
        store: the catalog's views read them through httpfs with a session secret from its storage options."""
        options = lakehouse.storage_options if lakehouse is not None and lakehouse.remote else None
        con = open_catalog(self.path, options)
        try:
            return con.sql(sql).pl()
        finally:
            con.close()
