"""assets.common: the key of a table's asset, the one write-and-describe helper, the column schema."""

import dagster as dg
import pytest

from assets.common import TABLE_METADATA_KEY, asset_key
from lakehouse import LakehouseError, all_tables, get_table


def test_asset_key_mirrors_storage():
    spec = get_table("silver.news_articles")
    assert spec.asset_key_path == ["silver", "news_articles"]
    assert asset_key(spec) == dg.AssetKey(["silver", "news_articles"]) == asset_key("silver.news_articles")
    assert {tuple(asset_key(s).path) for s in all_tables()} == {(s.layer, s.name) for s in all_tables()}
    with pytest.raises(LakehouseError, match="unknown table"):
        asset_key("silver.no_such_table")


def test_every_table_asset_is_keyed_by_its_spec():
    from pipelines.definitions import defs

    seen = set()
    for a in defs.assets:
        if not isinstance(a, dg.AssetsDefinition):
            continue
        for key, spec in a.specs_by_key.items():
            table = spec.metadata.get(TABLE_METADATA_KEY)
            if table and a.is_materializable:
                assert key == asset_key(table), f"{key.to_user_string()} writes {table}"
                seen.add(table)
    assert {"bronze.news_articles", "silver.news_articles", "gold.coded_records", "gold.image_masks",
            "gold.search_embeddings", "gold.document_drafts"} <= seen


def test_write_table_writes_and_describes_like_write_then_table_result(tmp_path):
    import polars as pl

    from assets.common import table_result, write_table
    from lakehouse import Lakehouse, SchemaError

    spec = get_table("silver.migrant_shelters")
    df = pl.DataFrame({"shelter_id": ["s1", "s2"], "name": ["A", "B"], "cve_geo": ["09015", "08037"],
                       "capacity": [10, 20], "operator": ["x", None]})
    check = dg.AssetCheckResult(asset_key=asset_key(spec), check_name="c", passed=True)
    one, two = Lakehouse(tmp_path / "one"), Lakehouse(tmp_path / "two")
    got = write_table(one, spec, df, extra={"note": "n"}, check_results=[check], preview=df.head(1))
    want = table_result(spec, two, two.write(spec, df), df, extra={"note": "n"}, check_results=[check],
                        preview=df.head(1))
    assert one.read(spec).equals(df) and got.check_results == want.check_results == [check]
    strip = {"dagster/uri"}
    assert {k: v for k, v in got.metadata.items() if k not in strip} == \
        {k: v for k, v in want.metadata.items() if k not in strip}
    assert got.metadata["dagster/row_count"] == dg.MetadataValue.int(2) and got.metadata["write_mode"] == "overwrite"

    merged = write_table(one, spec, df.head(1).with_columns(capacity=pl.lit(99)), mode="merge")
    assert merged.metadata["write_mode"] == "merge" and merged.metadata["delta_version"] == dg.MetadataValue.int(1)
    assert one.read(spec).sort("shelter_id").get_column("capacity").to_list() == [99, 20]
    with pytest.raises(SchemaError, match="capacity"):
        write_table(one, spec, df.with_columns(capacity=pl.lit("many")))
    assert one.version(spec) == 1   # nothing written


def test_column_schema_carries_the_descriptions(tmp_path):
    from datetime import datetime, timezone

    import polars as pl

    from assets.common import table_metadata, write_table
    from lakehouse import Lakehouse
    from pipelines.definitions import defs

    spec = get_table("bronze.migrant_shelters")
    df = pl.DataFrame({"shelter_id": ["s1"], "name": ["A"], "cve_geo": ["09015"], "capacity": ["10"],
                       "operator": [None], "_source_file": ["f.csv"], "_content_hash": ["h"],
                       "_ingested_at": [datetime(2024, 1, 1, tzinfo=timezone.utc)], "_batch_id": ["migrant_shelters"]},
                      schema_overrides={"operator": pl.Utf8})
    result = write_table(Lakehouse(tmp_path), spec, df)
    for schema in (result.metadata["dagster/column_schema"], table_metadata(spec)["dagster/column_schema"]):
        assert [(c.name, c.description) for c in schema.columns] == list(spec.column_descriptions.items())
        assert all(c.description for c in schema.columns)
    # what the UI shows before any materialization: the definitions carry every table's described columns
    graph = defs.resolve_asset_graph()
    checked = set()
    for key in graph.get_all_asset_keys():
        table = graph.get(key).metadata.get(TABLE_METADATA_KEY)
        if table and graph.get(key).is_materializable:
            columns = graph.get(key).metadata["dagster/column_schema"].columns
            assert [c.name for c in columns] == get_table(table).columns, key
            assert all(c.description for c in columns), key
            checked.add(table)
    assert len(checked) >= 30 and "gold.migration_intensity_indicator" in checked
