"""The code location loads, and every asset follows the house conventions."""

import dagster as dg

from assets.common import TABLE_METADATA_KEY
from pipelines.definitions import defs

LAYER_PREFIXES = {"bronze", "silver", "gold", "marts", "staging", "catalog"}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_asset_has_layer_prefix_group_docstring_and_kinds():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert key.path[0] in LAYER_PREFIXES, f"{key}: key prefix must be a layer"
        assert node.group_name and node.group_name != "default", f"{key}: needs a domain group"
        assert node.description, f"{key}: needs a docstring/description"
        assert node.kinds, f"{key}: needs kinds"


def test_every_silver_table_has_a_blocking_key_check():
    graph = defs.resolve_asset_graph()
    checked = {ck.asset_key for ck in graph.asset_check_keys if ck.name == "primary_key_not_null_unique"}
    silver_tables = [k for a in defs.assets if isinstance(a, dg.AssetsDefinition)
                     for k in a.keys if k.path[0] == "silver" and a.specs_by_key[k].metadata.get(TABLE_METADATA_KEY)]
    assert silver_tables and set(silver_tables) <= checked


def test_dbt_sources_are_the_lakehouse_assets():
    graph = defs.resolve_asset_graph()
    mart = graph.get(dg.AssetKey(["marts", "mart_municipality_profile"]))
    upstream = dg.AssetSelection.assets(mart.key).upstream().resolve(graph)
    assert dg.AssetKey(["silver", "municipalities"]) in upstream
    assert dg.AssetKey(["bronze", "municipalities"]) in upstream  # lineage runs landing -> marts
    catalog_parents = graph.get(dg.AssetKey(["catalog", "analytics_duckdb"])).parent_keys
    assert mart.key in catalog_parents and dg.AssetKey(["silver", "news_articles"]) in catalog_parents


def test_schedules_and_sensor_are_registered():
    schedules = {s.job_name: s.cron_schedule for s in defs.schedules}
    assert schedules["news_daily_job"] == "0 6 * * *"
    assert schedules["monthly_recoding_job"] == "0 5 1 * *"
    assert any(s.name == "landing_batches_sensor" for s in defs.sensors)


def test_every_dbt_source_is_a_lakehouse_asset():
    """A dbt source that maps to no declared asset would let dbt run before its table exists."""
    graph = defs.resolve_asset_graph()
    declared = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
                or graph.get(k).metadata.get(TABLE_METADATA_KEY)}
    dbt_assets = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition)
                      and any(k.path[0] == "marts" for k in a.keys))
    sources = {dep for key in dbt_assets.keys for dep in graph.get(key).parent_keys
               if dep not in dbt_assets.keys}
    assert sources and sources <= declared, sorted(k.to_user_string() for k in sources - declared)
