"""The imagery assets materialised in-process on a tmp lakehouse (sample tiles + a corrupt file), and the dbt mart."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets.imagery import defs as imagery
from lakehouse.tables import imagery as T
from resources.lakehouse import LakehouseResource
from resources.namer import NamerResource
from resources.segmenter import SegmenterResource

BATCH = "escena-001"
ASSETS = [imagery.silver_tiles, imagery.image_masks, imagery.mask_clusters_and_objects, imagery.image_object_summary]


@pytest.fixture
def tile_lake(tmp_path):
    from assets.ingestion.sample_data import write_tiles

    landing = tmp_path / "landing"
    write_tiles(landing, seed=13)
    (landing / "tiles" / BATCH / "broken.tif").write_bytes(b"II*\x00 truncated")
    resources = {
        "lakehouse": LakehouseResource(root=str(tmp_path / "lake"), landing_root=str(landing)),
        "segmenter": SegmenterResource(window_size=128, window_overlap=16),
        "namer": NamerResource(),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tile_batches", [BATCH])
    return resources, instance


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_definitions_load_with_domain_resources(tmp_path, monkeypatch):
    from assets.imagery.defs import defs
    from pipelines.resources import build_resources
    from pipelines.settings import SettingsError, load_settings

    env = {"IMAGERY_SEGMENTER": "sam", "IMAGERY_SAM_MODEL_TYPE": "vit_l",
           "IMAGERY_SAM_CHECKPOINT": "/models/sam_vit_l_0b3195.pth", "IMAGERY_BAND_ROLES": "blue,green,red,nir",
           "IMAGERY_NAMER": "ollama", "IMAGERY_NAMER_MODEL": "qwen2.5vl:7b",
           "LAKEHOUSE_ROOT": str(tmp_path), "OLLAMA_HOST": "http://10.0.0.5:11434"}
    resources = build_resources(load_settings(env))
    seg, namer = resources["segmenter"], resources["namer"]
    assert (seg.backend, seg.sam_model_type, seg.sam_checkpoint, seg.band_roles) == \
        ("sam", "vit_l", "/models/sam_vit_l_0b3195.pth", "blue,green,red,nir")
    assert (namer.backend, namer.model, namer.host) == ("ollama", "qwen2.5vl:7b", "http://10.0.0.5:11434")
    full = dg.Definitions.merge(defs, dg.Definitions(resources={
        **resources, "lakehouse": LakehouseResource(root=str(tmp_path), landing_root=str(tmp_path / "l"))}))
    dg.Definitions.validate_loadable(full)  # nothing heavy loads: the SAM checkpoint is not even opened
    keys = {k.to_user_string() for a in defs.assets for k in a.keys}
    assert keys == {"silver/tiles", "gold/image_masks", "gold/mask_clusters", "gold/image_objects",
                    "gold/image_object_summary"}
    for a in defs.assets:
        for key in a.keys:
            spec = a.specs_by_key[key]
            assert spec.group_name == "imagery" and spec.description and spec.kinds
            assert a.partitions_def.name == "tile_batches"
    masks = next(a for a in defs.assets if dg.AssetKey(["gold", "image_masks"]) in a.keys)
    assert masks.op.pool == "imagery_segmenter"
    with pytest.raises(SettingsError, match="IMAGERY_SEGMENTER"):
        load_settings({**env, "IMAGERY_SEGMENTER": "watershed"})


@pytest.mark.slow
def test_materialize_a_batch_then_rerun(tile_lake, tmp_path):
    resources, instance = tile_lake
    result = dg.materialize(ASSETS, partition_key=BATCH, instance=instance, resources=resources)
    assert result.success
    lh = resources["lakehouse"].lakehouse

    tiles = lh.read(T.silver_tiles)
    assert tiles.height == 4
    broken = tiles.filter(pl.col("file_name") == "broken.tif").row(0, named=True)
    assert broken["status"] == "skipped" and broken["skip_reason"].startswith("corrupt")
    ok = tiles.filter(pl.col("status") == "ok")
    assert ok.get_column("crs").to_list() == ["EPSG:32614"] * 3

    masks, clusters = lh.read(T.image_masks), lh.read(T.mask_clusters)
    objects, summary = lh.read(T.image_objects), lh.read(T.image_object_summary)
    assert masks.height > 20 and objects.height == masks.height
    assert set(objects.get_column("mask_id")) == set(masks.get_column("mask_id"))
    assert clusters.get_column("n_masks").sum() == masks.height
    assert {"water", "vegetation"} <= set(clusters.get_column("label"))
    # the sample lakes (ellipses of water) come out as water objects of several hectares
    water = objects.filter(pl.col("label") == "water")
    assert water.get_column("area_m2").max() > 10_000
    assert summary.get_column("n_objects").sum() == objects.height
    per_tile = summary.group_by("tile_id").agg(pl.col("area_share").sum())
    assert per_tile.get_column("area_share").to_list() == pytest.approx([1.0] * 3)

    checks = _checks(result)
    assert not checks["every_tile_readable"].passed  # the broken file is reported (WARN) ...
    assert checks["valid_polygons"].passed and checks["every_mask_labelled"].passed  # ... the rest goes on
    assert checks["namer_answers_valid"].passed

    mats = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    meta = mats["gold/image_objects"].materialization.metadata
    assert "data:image/png;base64," in meta["quicklooks"].value
    pictures = sorted(p.name for p in Path(lh.root, "pictures", "imagery", BATCH).iterdir())
    assert pictures == ["tile_00.tif.png", "tile_01.tif.png", "tile_02.tif.png"]
    export_dir, picture_dir = Path(lh.root, "exports", "imagery", BATCH), Path(lh.root, "pictures", "imagery", BATCH)
    exports = sorted(p.name for p in export_dir.iterdir())
    assert exports == ["objects_EPSG-32614.geojson", "objects_EPSG-32614.parquet"]
    assert meta["dagster/row_count"].value == objects.height

    # a rerun of the partition replaces it: same rows, a new Delta version; exports and quicklooks
    # of an earlier run (a CRS, a tile no longer there) are removed, files of someone else's stay
    (export_dir / "objects_EPSG-4326.geojson").write_text("{}")
    (export_dir / "objects_pixel.parquet").write_bytes(b"old")
    (export_dir / "README.txt").write_text("mine")
    (picture_dir / "tile_09.tif.png").write_bytes(b"old")
    version = lh.version(T.image_objects)
    again = dg.materialize(ASSETS, partition_key=BATCH, instance=instance, resources=resources)
    assert again.success
    assert sorted(p.name for p in export_dir.iterdir()) == ["README.txt", *exports]
    assert sorted(p.name for p in picture_dir.iterdir()) == pictures
    assert lh.read(T.image_objects).height == objects.height and lh.read(T.silver_tiles).height == 4
    assert lh.version(T.image_objects) > version
    assert sorted(lh.read(T.image_masks).get_column("mask_id")) == sorted(masks.get_column("mask_id"))

    # dbt: sources over these tables, the mart and its tests
    from lakehouse.catalog import MARTS_DIR
    from tests.support.dbt import dbt_build

    lh.local_dir(MARTS_DIR)  # what the transform asset does before `dbt build`
    proc = dbt_build(lh.root, tmp_path, ["path:models/imagery", "path:tests/imagery"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "PASS=" in proc.stdout and "ERROR=0" in proc.stdout
    mart = pl.read_parquet(Path(lh.root, MARTS_DIR, "mart_land_cover_by_tile.parquet"))
    assert mart.height == summary.height
    assert set(mart.get_column("label")) == set(summary.get_column("label"))
    assert mart.get_column("crs").unique().to_list() == ["EPSG:32614"]
