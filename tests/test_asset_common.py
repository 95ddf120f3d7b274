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
