"""Clustering of mask features and the naming pass over a mask source."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assets.imagery.clustering import fit_clusters
from assets.imagery.objects import (FrameSource, Summary, family_quotas, label_frame, name_clusters,
                                    sample_masks)
from lakehouse.tables import imagery as T
from assets.imagery.naming import RuleNamer

GROUPS = {  # (blue, green, red, nir) reflectance
    "water": (0.07, 0.065, 0.04, 0.02),
    "vegetation": (0.05, 0.08, 0.06, 0.32),
    "bare_soil": (0.09, 0.11, 0.14, 0.19),
}


def masks_frame(per_group: int = 40, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g, (b, gr, r, n) in GROUPS.items():
        for i in range(per_group):
            jit = rng.normal(0, 0.004, 4)
            bb, gg, rr, nn = b + jit[0], gr + jit[1], r + jit[2], n + jit[3]
            rows.append({"mask_id": f"t/{g}#{i:03d}", "batch_id": "b", "tile_id": "b/t.tif", "area_px": int(rng.integers(50, 500)),
                         "elongation": float(rng.uniform(1, 3)), "compactness": float(rng.uniform(0.3, 0.8)),
                         "rectangularity": float(rng.uniform(0.5, 0.9)), "texture": float(rng.uniform(0.002, 0.004)),
                         "brightness_std": float(rng.uniform(0.003, 0.006)), "brightness": (bb + gg + rr) / 3,
                         "ndvi": (nn - rr) / (nn + rr), "ndwi": (gg - nn) / (gg + nn), "mean_nir": nn, "mean_red": rr,
                         "mean_green": gg, "mean_blue": bb, "area_m2": None, "centroid_x": 0.0, "centroid_y": 0.0,
                         "crs": None, "georeferenced": False, "row_min": 0, "col_min": 0, "row_max": 1, "col_max": 1,
                         "truth": g})
    return pl.DataFrame(rows)


def test_clusters_are_pure_and_deterministic():
    df = masks_frame()
    a = fit_clusters(df, k_min=2, k_max=6)
    b = fit_clusters(df, k_min=2, k_max=6)
    assert a.k == 3, a.tried  # three well separated groups: the silhouette finds them
    la, lb = a.predict(df), b.predict(df)
    assert (la == lb).all()
    purity = df.with_columns(pl.Series("c", la)).group_by("c").agg(pl.col("truth").n_unique())
    assert (purity.get_column("truth") == 1).all()
    assert set(a.tried) == set(range(2, 7))


def test_too_few_masks_make_one_cluster():
    df = masks_frame(per_group=1).head(2)
    model = fit_clusters(df)
    assert model.k == 1 and model.kmeans is None
    assert (model.predict(df) == 0).all()
    with pytest.raises(ValueError, match="no masks"):
        fit_clusters(df.head(0))


def test_k_min_floor_over_clusters():
    model = fit_clusters(masks_frame(), k_min=5, k_max=5)
    assert model.k == 5


def test_sample_is_uniform_and_bounded():
    df = masks_frame(per_group=100).drop("truth")
    source = FrameSource(df, chunk=37)
    sample = sample_masks(source, 50, seed=1)
    assert sample.height == 50 and sample.get_column("mask_id").n_unique() == 50
    assert sample_masks(source, 10_000).height == df.height
    assert sample_masks(source, 50, seed=1).equals(sample)


def test_naming_labels_every_mask_with_its_cluster():
    df = masks_frame().drop("truth")
    source = FrameSource(df, chunk=25)
    naming = name_clusters(source, RuleNamer(), "b", {}, k_min=2, k_max=6)
    clusters = naming.clusters
    assert clusters.height == 3 and sorted(clusters.get_column("label").to_list()) == ["bare_soil", "vegetation", "water"]
    assert clusters.get_column("n_masks").sum() == df.height
    assert (clusters.get_column("confidence") == 1.0).all()
    assert clusters.get_column("cluster_key").to_list() == ["b#000", "b#001", "b#002"]
    # ids are ordered by total area
    areas = clusters.get_column("area_px").to_list()
    assert areas == sorted(areas, reverse=True)
    objects = pl.concat([label_frame(f, naming) for f in source.frames(list(df.columns))])
    assert objects.height == df.height and list(objects.columns) == list(T.OBJECT_SCHEMA)
    truth = masks_frame().select("mask_id", "truth")
    joined = objects.join(truth, on="mask_id")
    assert (joined.get_column("label") == joined.get_column("truth")).all()
    assert (joined.get_column("mask_rule_label") == joined.get_column("truth")).all()
    summary = Summary()
    summary.add(objects.head(50))
    summary.add(objects.tail(objects.height - 50))
    s = summary.frame()
    assert s.get_column("n_objects").sum() == df.height
    assert s.get_column("area_share").sum() == pytest.approx(1.0)
    assert s.get_column("area_m2").null_count() == s.height  # no CRS: no m², never made up


def test_a_cluster_the_rules_disagree_on_is_split():
    df = masks_frame()
    rules = df.get_column("truth").to_list()
    plain = fit_clusters(df, k_min=2, k_max=2)
    mixed = df.with_columns(pl.Series("c", plain.predict(df))).group_by("c").agg(pl.col("truth").n_unique())
    assert plain.k == 2 and mixed.get_column("truth").max() == 2  # two groups share a cluster
    refined = fit_clusters(df, k_min=2, k_max=2, rule_labels=rules)
    assert refined.k == 3 and refined.top_k == 2 and len(refined.children) == 1
    pure = df.with_columns(pl.Series("c", refined.predict(df))).group_by("c").agg(pl.col("truth").n_unique())
    assert pure.height == 3 and (pure.get_column("truth") == 1).all()


def test_rgb_and_multispectral_masks_are_clustered_apart():
    from assets.imagery.clustering import fit_batch_clusters, mask_family

    ms = masks_frame(per_group=20)
    rgb = masks_frame(per_group=20, seed=3).with_columns(pl.lit(None, dtype=pl.Float64).alias("mean_nir"),
                                                         pl.lit(None, dtype=pl.Float64).alias("ndvi"),
                                                         pl.lit(None, dtype=pl.Float64).alias("ndwi"))
    both = pl.concat([ms, rgb])
    assert list(np.unique(mask_family(both), return_counts=True)[1]) == [60, 60]
    model = fit_batch_clusters(both.drop("truth"), k_min=2, k_max=4)
    assert set(model.families) == {"multispectral", "rgb"} and model.families["rgb"].features[0] == "mean_red"
    ids = model.predict_raw(both)
    assert set(ids[:60]).isdisjoint(set(ids[60:]))  # no cluster mixes the two families
    assert model.family_of(int(ids[0])) == "multispectral" and model.family_of(int(ids[-1])) == "rgb"
    assert model.k == model.families["multispectral"].k + model.families["rgb"].k


def rgb_masks(per_group: int, seed: int = 3) -> pl.DataFrame:
    """Masks of a photograph: no NIR band, so no NIR mean, NDVI or NDWI."""
    return masks_frame(per_group=per_group, seed=seed).with_columns(
        pl.lit(None, dtype=pl.Float64).alias("mean_nir"), pl.lit(None, dtype=pl.Float64).alias("ndvi"),
        pl.lit(None, dtype=pl.Float64).alias("ndwi"),
        (pl.lit("p/") + pl.col("mask_id")).alias("mask_id"), pl.lit("b/photo.jpg").alias("tile_id"))


def test_family_quotas_share_the_cap():
    assert family_quotas({"multispectral": 1000, "rgb": 1000}, 20) == {"multispectral": 10, "rgb": 10}
    assert family_quotas({"multispectral": 1000, "rgb": 3}, 20) == {"multispectral": 17, "rgb": 3}
    assert family_quotas({"multispectral": 1000}, 20) == {"multispectral": 20}
    assert family_quotas({"multispectral": 5, "rgb": 0}, 20) == {"multispectral": 5}
    assert family_quotas({"multispectral": 1000, "rgb": 1000}, 1) == {"multispectral": 1, "rgb": 1}


def test_a_small_family_is_always_in_the_fit_sample():
    """Many multispectral masks and two RGB ones: a uniform sample of 20 almost surely misses the
    RGB masks, and the model fitted on it could not label them."""
    ms = masks_frame(per_group=400).drop("truth")
    rgb = rgb_masks(per_group=1).drop("truth").head(2)
    df = pl.concat([ms.head(600), rgb, ms.tail(600)])
    source = FrameSource(df, chunk=97)
    sample = sample_masks(source, 20, seed=1)  # a uniform sample with this seed has no RGB mask
    assert sample.height == 20 and sample.get_column("mask_id").n_unique() == 20
    assert sample.filter(pl.col("mean_nir").is_null()).get_column("mask_id").sort().to_list() == \
        rgb.get_column("mask_id").sort().to_list()
    assert sample_masks(source, 20, seed=1).equals(sample)
    naming = name_clusters(source, RuleNamer(), "b", {}, k_min=2, k_max=4, fit_sample=20, seed=1)
    assert set(naming.model.families) == {"multispectral", "rgb"}
    assert naming.clusters.get_column("n_masks").sum() == df.height
    objects = label_frame(df, naming)
    assert objects.filter(pl.col("tile_id") == "b/photo.jpg").height == 2
