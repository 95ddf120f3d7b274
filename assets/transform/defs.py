"""dbt marts over the Delta tables, and the analysts' DuckDB catalog.

dbt sources are the silver/gold Delta tables (asset keys ``[layer, table]``), so lineage runs from
landing to marts in one graph; dbt tests surface as asset checks.
"""


import logging
import re
from pathlib import Path
from typing import Any, Mapping

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from assets.common import TABLE_METADATA_KEY, asset_key, markdown_preview
from lakehouse.catalog import MARTS_DIR
from lakehouse.duck import install_dbt_extensions
from resources.dbt import dbt_project, dbt_vars, manifest_path
from resources.duckdb import DuckDBCatalogResource
from resources.lakehouse import LakehouseResource

GROUP = "transform"


_LAYER_IN_LOCATION = re.compile(r"/(bronze|silver|gold)/(?:\{name\}|[A-Za-z_][A-Za-z0-9_]*)'")


def source_layer(dbt_resource_props: Mapping[str, Any]) -> str:
    """The lakehouse layer a dbt source reads: from its delta_scan location, else the source name."""
    location = (dbt_resource_props.get("meta") or {}).get("external_location") or ""
    found = _LAYER_IN_LOCATION.search(location)
    return found.group(1) if found else dbt_resource_props["source_name"]


class LakehouseDbtTranslator(DagsterDbtTranslator):
    """Sources keep the lakehouse keys ([layer, table]); models are keyed [marts|staging, name]."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            # a source is a registered lakehouse table (an unknown one fails here, naming it)
            return asset_key(f"{source_layer(dbt_resource_props)}.{dbt_resource_props['name']}")
        layer = "marts" if dbt_resource_props["name"].startswith("mart_") else "staging"
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


class _SourceTestWarnings(logging.Filter):
    """dbt's tests on the sources (``source_*``: the lakehouse tables) run inside ``dbt build`` and stop the
    marts when they fail; dagster-dbt records their results as observations of those tables (whose own
    blocking checks are their Dagster checks) and warns once per test that it did so. Those expected
    warnings are dropped so a run's log shows what matters; every other warning stays."""

    PREFIX = "Logging an `AssetObservation` instead of an `AssetCheckResult` for dbt test `source_"

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.PREFIX)


def _quiet_source_test_warnings() -> None:
    logger = dg.get_dagster_logger()
    if not any(isinstance(f, _SourceTestWarnings) for f in logger.filters):
        logger.addFilter(_SourceTestWarnings())


def _dbt_assets():
    # Under `dagster dev` (make ui) re-parse so edited dbt models show up on reload, as
    # DbtProject.prepare_if_dev does, but with the dbt installed beside the pipeline (prepare_if_dev
    # looks for `dbt` on PATH). Everywhere else the manifest comes from `make dbt-parse` and loading
    # the definitions never runs dbt.
    if dbt_project.preparer.using_dagster_dev():
        from resources.dbt import build_dbt_resource

        build_dbt_resource().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    path = manifest_path()
    if not path.exists():
        raise FileNotFoundError(
            f"dbt manifest {path} is missing: run `make dbt-parse` (make demo/test/ui do it for you)")

    @dbt_assets(manifest=path, project=dbt_project,
                dagster_dbt_translator=LakehouseDbtTranslator(
                    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)))
    def dbt_marts(context: dg.AssetExecutionContext, dbt: DbtCliResource, lakehouse: LakehouseResource):
        """dbt staging views and marts (exported as Parquet under <root>/marts) with their dbt tests."""
        install_dbt_extensions()  # offline: dbt's `INSTALL delta` / `INSTALL httpfs` then find them in place
        _quiet_source_test_warnings()
        if not lakehouse.lakehouse.remote:
            Path(lakehouse.lakehouse.path(MARTS_DIR)).mkdir(parents=True, exist_ok=True)
        # The dbt profile and sources read the root from --vars (the process environment is left alone).
        yield from dbt.cli(["build", *dbt_vars(lakehouse.root)], context=context).stream()

    return dbt_marts


def _catalog_asset(deps: list[dg.AssetKey]):
    @dg.asset(key=["catalog", "analytics_duckdb"], group_name=GROUP, kinds={"duckdb"}, deps=deps)
    def analytics_catalog(lakehouse: LakehouseResource, catalog: DuckDBCatalogResource) -> dg.MaterializeResult:
        """The analysts' DuckDB file: a schema per layer (bronze, silver, gold, marts) and a view per table.

        Views read Delta tables through ``delta_scan`` and marts through their Parquet export, so the
        file stays small and always shows the latest committed data. Rebuilt by atomic swap: analysts
        can keep it open read-only while the pipeline runs.
        """
        import polars as pl

        infos = catalog.rebuild(lakehouse.lakehouse)
        listing = pl.DataFrame([i.as_dict() for i in infos]).drop("description") if infos else pl.DataFrame()
        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(infos),
            "dagster/uri": dg.MetadataValue.path(catalog.path),
            "views": dg.MetadataValue.md(markdown_preview(listing, rows=200)),
            "open_with": dg.MetadataValue.md(f"`duckdb -readonly {catalog.path}` or `fmlake sql \"SELECT ...\"`"),
        })

    return analytics_catalog


def build_transform_defs(apps: dg.Definitions) -> dg.Definitions:
    """dbt assets plus the catalog asset, which depends on every table asset and every mart."""
    dbt_marts = _dbt_assets()
    deps: list[dg.AssetKey] = []
    for assets_def in apps.assets or []:
        if isinstance(assets_def, dg.AssetsDefinition):
            for key in assets_def.keys:
                if assets_def.specs_by_key[key].metadata.get(TABLE_METADATA_KEY):
                    deps.append(key)
    deps += [k for k in dbt_marts.keys if k.path[0] == "marts"]
    return dg.Definitions(assets=[dbt_marts, _catalog_asset(sorted(set(deps), key=lambda k: k.path))])
