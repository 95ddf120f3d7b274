"""The whole demo: every asset materializes in-process into a temporary lakehouse, then the analysts'
catalog answers a query on every table and `fmlake tables --json` lists them, and the landing sensor,
on the demo's instance, does not ingest the demo's batches a second time."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from lakehouse.catalog import open_catalog, table_infos
from pipelines.definitions import defs
from pipelines.demo import dagster_home, materialize_everything

pytestmark = pytest.mark.slow
FMLAKE = str(Path(sys.executable).parent / "fmlake")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    """One full demo run shared by the tests of this module (it is the expensive part)."""
    root = tmp_path_factory.mktemp("demo") / "lakehouse"
    env = {"FMLAKE_ENV": "test", "LAKEHOUSE_ROOT": str(root), "LANDING_ROOT": str(root / "landing"),
           "DUCKDB_CATALOG": str(root / "catalog.duckdb")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from assets.ingestion.sample_data import generate
        from pipelines.resources import build_resources

        generate(root / "landing", seed=7)
        resources = build_resources()
        # a persistent instance (sqlite under a temporary DAGSTER_HOME), as `make demo` then `make ui` use
        with dg.instance_for_test() as instance:
            results = materialize_everything(defs, resources, instance)
            # what `make ui` does next: the landing sensor's first tick, no cursor yet
            sensor = next(s for s in defs.sensors if s.name == "landing_batches_sensor")
            context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                              resources={"lakehouse": resources["lakehouse"]})
            with dg.partition_loading_context(dynamic_partitions_store=instance):
                first_tick = sensor.evaluate_tick(context)
        yield root, results, first_tick
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_every_asset_materialized(demo_root):
    _, results, _ = demo_root
    assert all(r.success for r in results)
    done = {e.asset_key for r in results for e in r.get_asset_materialization_events()}
    graph = defs.resolve_asset_graph()
    expected = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert expected - done == set(), f"not materialized: {sorted(k.to_user_string() for k in expected - done)}"


def test_every_table_materialization_reports_rows_preview_and_path(demo_root):
    _, results, _ = demo_root
    graph = defs.resolve_asset_graph()
    for result in results:
        for event in result.get_asset_materialization_events():
            key = event.asset_key
            if key.path[0] not in {"bronze", "silver", "gold"}:
                continue
            if not graph.get(key).metadata.get("fmlake/table"):
                continue
            metadata = event.materialization.metadata
            assert "dagster/row_count" in metadata, key
            assert "dagster/uri" in metadata or "path" in metadata, key
            assert any("preview" in name for name in metadata), key


def test_catalog_answers_a_query_on_every_table(demo_root):
    from lakehouse import Lakehouse

    root, _, _ = demo_root
    infos = table_infos(Lakehouse(root))
    con = open_catalog(root / "catalog.duckdb")
    try:
        views = {(s, n) for s, n in con.sql("SELECT table_schema, table_name FROM information_schema.tables").fetchall()}
        for info in infos:
            assert (info.layer, info.name) in views
            rows = con.sql(f"SELECT count(*) FROM {info.layer}.{info.name}").fetchone()[0]
            assert rows == info.rows, info
    finally:
        con.close()
    assert {"bronze", "silver", "marts"} <= {i.layer for i in infos}


def test_fmlake_tables_and_sql_cli(demo_root):
    root, _, _ = demo_root
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root), "DUCKDB_CATALOG": str(root / "catalog.duckdb")}
    out = subprocess.run([FMLAKE, "tables", "--json"], env=env, capture_output=True, text=True, check=True).stdout
    tables = json.loads(out)
    by_name = {f"{t['layer']}.{t['name']}": t for t in tables}
    assert by_name["silver.municipalities"]["rows"] == 30
    assert by_name["silver.municipalities"]["version"] >= 0
    assert by_name["silver.municipalities"]["path"].endswith("silver/municipalities")
    assert all({"layer", "name", "rows", "version", "path"} <= set(t) for t in tables)
    res = subprocess.run([FMLAKE, "sql", "--json", "SELECT count(*) AS n FROM silver.municipalities"], env=env,
                         capture_output=True, text=True, check=True)
    assert json.loads(res.stdout) == [{"n": 30}]
    bad = subprocess.run([FMLAKE, "sql", "SELECT * FROM silver.no_such_table"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode != 0 and "no_such_table" in bad.stderr


def test_landing_sensor_does_not_ingest_the_demos_batches_again(demo_root):
    """After `make demo`, `make ui` starts the sensor: every batch the demo ingested is adopted, none requested."""
    from assets.partitions import BATCH_SOURCES

    root, _, tick = demo_root
    assert tick.run_requests == [], [r.run_key for r in tick.run_requests]
    cursor = json.loads(tick.cursor)
    landing = root / "landing"
    for source in BATCH_SOURCES:
        batches = sorted(p.name for p in (landing / source).iterdir() if p.is_dir() and not p.name.startswith("_"))
        assert batches and sorted(cursor[source]) == batches, source


def test_demo_uses_the_instance_make_ui_opens(tmp_path, monkeypatch):
    """`fmlake demo` without DAGSTER_HOME records its runs where `make ui` looks (the Makefile's default,
    created with the project's dagster.yaml), not in a throwaway instance; DAGSTER_HOME, when set, wins."""
    from pipelines.settings import PROJECT_ROOT, load_settings

    assert load_settings({}).core.dagster_home == (PROJECT_ROOT / ".dagster_home").resolve()
    home = dagster_home(load_settings({"DAGSTER_HOME": str(tmp_path / "home")}).core.dagster_home)
    assert home == (tmp_path / "home").resolve()
    assert (home / "dagster.yaml").read_text() == (PROJECT_ROOT / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not instance.is_ephemeral and instance.root_directory == str(home)
