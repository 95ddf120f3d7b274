"""The analysts' catalog over a lakehouse on an S3-compatible store (moto on 127.0.0.1)."""

import duckdb
import polars as pl
import pytest

from lakehouse import Lakehouse
from lakehouse.catalog import build_catalog
from lakehouse.registry import get_table
from resources.duckdb import DuckDBCatalogResource

pytestmark = pytest.mark.cluster


def test_the_catalog_resource_queries_s3_tables_with_the_lakehouse_secret(s3_root, tmp_path):
    root, options = s3_root
    lake = Lakehouse(root, options)
    spec = get_table("silver.scian_catalog")
    lake.write(spec, pl.DataFrame({"code": ["31", "311", "311111"], "title": ["Manufactura", "Alimentos", "Maíz"],
                                   "level": ["sector", "subsector", "clase"], "digits": [2, 3, 6],
                                   "parent_code": [None, "31", "311"]}))
    db = tmp_path / "catalog.duckdb"
    build_catalog(lake, db)
    catalog = DuckDBCatalogResource(path=str(db))
    got = catalog.query("SELECT count(*) AS n, max(code) AS top FROM silver.scian_catalog", lake)
    assert got.to_dicts() == [{"n": 3, "top": "311111"}]
    # without the lakehouse's storage options the view cannot reach the bucket: an error, not empty rows
    with pytest.raises(duckdb.IOException, match="(?i)object store"):
        catalog.query("SELECT count(*) FROM silver.scian_catalog")
