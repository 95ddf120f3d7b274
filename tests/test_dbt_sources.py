"""The dbt sources docs: every source table lists every column of its spec, with the spec's description."""

import pytest
import yaml

from assets.transform.dbt_sources import LakehouseError, render, source_files
from lakehouse import get_table


def _source_tables():
    for path in source_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for source in doc["sources"]:
            location = source.get("meta", {}).get("external_location", "")
            layer = next(layer for layer in ("bronze", "silver", "gold") if f"/{layer}/" in location)
            for table in source["tables"]:
                yield path, get_table(f"{layer}.{table['name']}"), table


def test_every_source_column_is_the_spec_column_with_its_description():
    seen = set()
    for path, spec, table in _source_tables():
        columns = table.get("columns") or []
        assert [c["name"] for c in columns] == spec.columns, f"{path.name}: {spec.key}"
        for col in columns:
            assert col.get("description") == spec.column_descriptions[col["name"]], f"{spec.key}.{col['name']}"
        seen.add(spec.key)
    assert {"silver.municipalities", "gold.coded_records", "gold.mask_clusters", "gold.search_embeddings"} <= seen


def test_checked_in_sources_are_up_to_date():
    stale = [p.name for p in source_files() if render(p.read_text(encoding="utf-8"), str(p)) !=
             p.read_text(encoding="utf-8")]
    assert not stale, f"{stale} are out of date: run `python -m assets.transform.dbt_sources`"


SOURCES = """version: 2

sources:
  - name: silver
    meta:
      external_location: "delta_scan('{{ var('lakehouse_root') }}/silver/{name}')"
    tables:
      - name: migrant_shelters
        description: Shelters.
        columns:
          - name: cve_geo
            description: an old text
            data_tests:
              - relationships:
                  arguments:
                    to: source('silver', 'municipalities')
                    field: cve_geo
          - name: shelter_id
            data_tests: [not_null, unique]

      - name: scian_catalog
"""


def test_render_writes_columns_in_spec_order_and_keeps_their_tests():
    out = render(SOURCES)
    assert render(out) == out
    tables = {t["name"]: t for t in yaml.safe_load(out)["sources"][0]["tables"]}
    shelters, scian = get_table("silver.migrant_shelters"), get_table("silver.scian_catalog")
    assert [c["name"] for c in tables["migrant_shelters"]["columns"]] == shelters.columns
    by_name = {c["name"]: c for c in tables["migrant_shelters"]["columns"]}
    assert by_name["shelter_id"]["data_tests"] == ["not_null", "unique"]
    assert by_name["cve_geo"]["data_tests"][0]["relationships"]["arguments"]["field"] == "cve_geo"
    assert by_name["cve_geo"]["description"] == shelters.column_descriptions["cve_geo"]
    assert tables["migrant_shelters"]["description"] == "Shelters."
    assert [c["description"] for c in tables["scian_catalog"]["columns"]] == list(scian.column_descriptions.values())
    assert "\n\n      - name: scian_catalog\n" in out   # layout around the blocks is kept


def test_render_refuses_a_column_the_spec_does_not_have():
    with pytest.raises(LakehouseError, match=r"\['capacity_beds'\] of source silver.migrant_shelters"):
        render(SOURCES.replace("- name: shelter_id", "- name: capacity_beds"))
    with pytest.raises(LakehouseError, match="unknown table 'silver.nope'"):
        render(SOURCES.replace("- name: scian_catalog", "- name: nope"))


def _profile_outputs() -> dict:
    """The outputs of dbt's profile (its Jinja expressions blanked, so it parses as YAML)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml").read_text()
    return yaml.safe_load(re.sub(r"\{\{.*?\}\}", "x", text))["fm_lakehouse"]["outputs"]


def test_every_extension_the_dbt_profile_loads_is_a_core_dependency():
    # make demo installs the core dependencies only (the cluster extra comes with make test / cluster-setup): an
    # extension the profile loads but only an extra ships fails dbt_marts on a fresh machine
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    extensions = set()
    for output in _profile_outputs().values():
        extensions |= set(output.get("extensions") or [])
    core = {re.split(r"[=<>]", d)[0].strip().lower() for d in
            tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert extensions and {f"duckdb-extension-{e}" for e in extensions} <= core, (extensions, sorted(core))


def test_dbt_loads_exactly_the_extensions_installed_offline_before_it_runs():
    """dbt INSTALLs every extension its profile names when it connects; one not installed from its package
    first is fetched from extensions.duckdb.org, which an offline site cannot reach."""
    from lakehouse.duck import DBT_EXTENSIONS

    for name, output in _profile_outputs().items():
        assert tuple(output["extensions"]) == DBT_EXTENSIONS, name
        assert output["settings"]["autoinstall_known_extensions"] is False, name
