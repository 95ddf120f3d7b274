"""Clustering of mask features (scikit-learn k-means, k chosen by silhouette).

Features (one row per mask), standardised and weighted so spectral evidence dominates:

* spectral (weight 2): NDVI, NDWI, brightness, NIR mean — or, for RGB-only tiles, the red,
  green and blue means, the excess-green index and brightness;
* texture (weight 1): Sobel texture, brightness standard deviation;
* shape (weight 0.5): log area, compactness, log elongation, rectangularity.

k is the silhouette-best in ``[k_min, k_max]``. The default ``k_min`` (6) is deliberately above
the 2-3 clusters the silhouette alone prefers on land-cover data (water vs. land is by far the
strongest split, and on the Sentinel-2 sample k=3 lumps bare fields with crops): the namer may give
several clusters the same label, but it cannot split a mixed cluster, so over-clustering is the
safe side. A cluster the embedded rules disagree about is split once more (see
:func:`fit_clusters`). The model is fitted on a sample of at most ``fit_sample`` masks (standardisation
included) and then assigns every mask batch by batch, so time and memory stay bounded however many
masks a raster yields.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl

WEIGHTS = {"spectral": 2.0, "texture": 1.0, "shape": 0.5}
FEATURE_INPUTS = ("area_px", "elongation", "compactness", "rectangularity", "texture", "brightness_std",
                  "brightness", "ndvi", "ndwi", "mean_nir", "mean_red", "mean_green", "mean_blue")


def _derived(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        pl.col("area_px").cast(pl.Float64).log().alias("log_area"),
        pl.col("elongation").cast(pl.Float64).clip(lower_bound=1.0).log().alias("log_elongation"),
        (pl.col("texture").cast(pl.Float64) + 1e-4).log().alias("log_texture"),
        (pl.col("brightness_std").cast(pl.Float64) + 1e-4).log().alias("log_brightness_std"),
        ((2 * pl.col("mean_green") - pl.col("mean_red") - pl.col("mean_blue"))
         / (pl.col("mean_red") + pl.col("mean_green") + pl.col("mean_blue") + 1e-9)).alias("excess_green"),
    )


def choose_features(sample: pl.DataFrame) -> tuple[list[str], np.ndarray]:
    """Feature names and weights for a batch (NIR-based when most masks have NIR, else RGB-based)."""
    d = _derived(sample)
    usable = lambda c: d.get_column(c).null_count() < max(d.height, 1) / 2  # noqa: E731
    if usable("mean_nir") and usable("ndvi"):
        spectral = ["ndvi", "ndwi", "brightness", "mean_nir"]
    else:
        spectral = [c for c in ("mean_red", "mean_green", "mean_blue", "excess_green", "brightness") if usable(c)]
    groups = [(spectral, "spectral"), (["log_texture", "log_brightness_std"], "texture"),
              (["log_area", "compactness", "log_elongation", "rectangularity"], "shape")]
    names, weights = [], []
    for cols, group in groups:
        names.extend(cols)
        weights.extend([WEIGHTS[group]] * len(cols))
    return names, np.asarray(weights)


class _PublishedIds:
    """Cluster ids as published: raw model ids renumbered by decreasing total area (set by ``renumber``)."""

    k: int
    order: np.ndarray | None

    def predict_raw(self, df: pl.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def renumber(self, area_by_raw: np.ndarray) -> None:
        """Publish cluster ids by decreasing total area (stable, readable ids)."""
        rank = np.argsort(-area_by_raw, kind="stable")
        self.order = np.empty(self.k, dtype=np.int64)
        self.order[rank] = np.arange(self.k)

    def predict(self, df: pl.DataFrame) -> np.ndarray:
        raw = self.predict_raw(df)
        return raw if self.order is None else self.order[raw]


@dataclass
class ClusterModel(_PublishedIds):
    """Standardisation + k-means, fitted on a sample; ``predict`` assigns any batch of masks."""

    features: list[str]
    weights: np.ndarray
    fill: np.ndarray  # per-feature median used where a feature is null (mixed RGB / 4-band batches)
    mean: np.ndarray
    std: np.ndarray
    k: int
    silhouette: float | None
    tried: dict[int, float] = field(default_factory=dict)
    kmeans: object | None = None
    order: np.ndarray | None = None  # raw k-means id -> published cluster id (set by ``renumber``)
    # refinement: top-level cluster -> (k-means over its members, raw ids of its sub-clusters)
    children: dict[int, tuple[object, np.ndarray]] = field(default_factory=dict)
    top_k: int = 1

    def matrix(self, df: pl.DataFrame) -> np.ndarray:
        X = _derived(df).select([pl.col(c).cast(pl.Float64) for c in self.features]).to_numpy()
        bad = ~np.isfinite(X)
        if bad.any():
            X[bad] = np.broadcast_to(self.fill, X.shape)[bad]
        return (X - self.mean) / self.std * self.weights

    def predict_raw(self, df: pl.DataFrame) -> np.ndarray:
        if self.kmeans is None or df.height == 0:
            return np.zeros(df.height, dtype=np.int64)
        X = self.matrix(df)
        with single_threaded():
            raw = self.kmeans.predict(X).astype(np.int64)
            out = raw.copy()
            for parent, (child, ids) in self.children.items():
                inside = raw == parent
                if inside.any():
                    out[inside] = ids[child.predict(X[inside])]
        return out



def _purity(labels: np.ndarray, weights: np.ndarray) -> float:
    """Weight share of the majority label."""
    total = weights.sum()
    if total <= 0:
        return 1.0
    return max(weights[labels == lab].sum() for lab in np.unique(labels)) / total


@contextmanager
def single_threaded():
    """One OpenMP/BLAS thread for scikit-learn (on a few shared cores its spinning worker threads make
    k-means on a few thousand masks ~80x slower: 48 s instead of 0.6 s measured on 2 busy cores), and
    distance computations in 64 MB chunks (sklearn's default is 1 GB)."""
    import sklearn
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), sklearn.config_context(working_memory=64):
        yield


def fit_clusters(sample: pl.DataFrame, k_min: int = 6, k_max: int = 12, silhouette_sample: int = 3_000,
                 seed: int = 0, rule_labels: list[str] | None = None, split_below: float = 0.6,
                 min_split_size: int = 30) -> ClusterModel:
    with single_threaded():
        return _fit_clusters(sample, k_min, k_max, silhouette_sample, seed, rule_labels, split_below, min_split_size)


def _fit_clusters(sample: pl.DataFrame, k_min: int, k_max: int, silhouette_sample: int, seed: int,
                  rule_labels: list[str] | None, split_below: float, min_split_size: int) -> ClusterModel:
    """Fit on ``sample`` (gold.image_masks feature columns); deterministic for a given seed.

    With ``rule_labels`` (the embedded rules' label of each sample mask), a cluster whose masks the
    rules do not agree on (area-weighted majority share below ``split_below``) is split once more
    with k-means, k in {2, 3} by silhouette, when that makes it purer by at least 0.05: small classes
    (a town among bright fields and beaches) get their own cluster instead of vanishing in a mix.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    if sample.height == 0:
        raise ValueError("no masks to cluster")
    names, weights = choose_features(sample)
    X = _derived(sample).select([pl.col(c).cast(pl.Float64) for c in names]).to_numpy()
    finite = np.isfinite(X)
    fill = np.array([np.median(X[finite[:, j], j]) if finite[:, j].any() else 0.0 for j in range(X.shape[1])])
    X = np.where(finite, X, fill)
    mean, std = X.mean(axis=0), X.std(axis=0)
    std[std < 1e-12] = 1.0
    model = ClusterModel(names, weights, fill, mean, std, k=1, silhouette=None)
    Xs = (X - mean) / std * weights
    distinct = len(np.unique(np.round(Xs, 9), axis=0))
    hi = min(k_max, distinct - 1, len(Xs) - 1)
    if hi < 2:
        return model  # one cluster: too few (distinct) masks to split
    lo = min(max(2, k_min), hi)
    rng = np.random.default_rng(seed)
    sil_idx = np.sort(rng.choice(len(Xs), silhouette_sample, replace=False)) \
        if len(Xs) > silhouette_sample else np.arange(len(Xs))
    best = None
    for k in range(lo, hi + 1):
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(Xs)
        labels = km.labels_[sil_idx]
        if len(np.unique(labels)) < 2:
            continue
        score = float(silhouette_score(Xs[sil_idx], labels))
        model.tried[k] = score
        if best is None or score > best[0] + 1e-12:
            best = (score, k, km)
    if best is None:
        return model
    model.silhouette, model.k, model.kmeans = best
    model.top_k = model.k
    if rule_labels is None:
        return model
    labels = np.asarray(rule_labels)
    area = sample.get_column("area_px").cast(pl.Float64).to_numpy()
    top = model.kmeans.labels_
    next_id = model.k
    for c in range(model.k):
        inside = np.flatnonzero(top == c)
        before = _purity(labels[inside], area[inside])
        if before >= split_below or len(inside) < min_split_size:
            continue
        Xc = Xs[inside]
        sub_sil = np.sort(rng.choice(len(Xc), silhouette_sample, replace=False)) \
            if len(Xc) > silhouette_sample else np.arange(len(Xc))
        best_split = None
        for k in (2, 3):
            if len(np.unique(np.round(Xc, 9), axis=0)) <= k:
                break
            km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(Xc)
            if len(np.unique(km.labels_[sub_sil])) < k:
                continue
            score = float(silhouette_score(Xc[sub_sil], km.labels_[sub_sil]))
            if best_split is None or score > best_split[0]:
                best_split = (score, k, km)
        if best_split is None:
            continue
        _, k, km = best_split
        after = sum(_purity(labels[inside][km.labels_ == j], area[inside][km.labels_ == j])
                    * area[inside][km.labels_ == j].sum() for j in range(k)) / area[inside].sum()
        if after < before + 0.05:
            continue
        ids = np.array([c] + list(range(next_id, next_id + k - 1)), dtype=np.int64)  # sub-cluster 0 keeps c
        next_id += k - 1
        model.children[c] = (km, ids)
    model.k = next_id
    return model


def mask_family(df: pl.DataFrame) -> np.ndarray:
    """``multispectral`` (a NIR band: reflectance features) or ``rgb`` (photographs: stretched values).

    The two families' features are not comparable (reflectance vs. a per-tile stretch), so a batch
    mixing them is clustered family by family."""
    if "mean_nir" not in df.columns:
        return np.full(df.height, "rgb")
    return np.where(df.get_column("mean_nir").is_null().to_numpy(), "rgb", "multispectral")


@dataclass
class BatchClusterModel(_PublishedIds):
    """One :class:`ClusterModel` per family, with disjoint cluster ids."""

    families: dict[str, ClusterModel]
    offsets: dict[str, int]
    k: int
    order: np.ndarray | None = None

    def family_of(self, raw_id: int) -> str:
        for name, off in sorted(self.offsets.items(), key=lambda kv: -kv[1]):
            if raw_id >= off:
                return name
        raise ValueError(f"cluster {raw_id} belongs to no family")

    def predict_raw(self, df: pl.DataFrame) -> np.ndarray:
        fam = mask_family(df)
        out = np.zeros(df.height, dtype=np.int64)
        for name, model in self.families.items():
            inside = fam == name
            if inside.any():
                out[inside] = model.predict_raw(df.filter(pl.Series(inside))) + self.offsets[name]
        unknown = ~np.isin(fam, list(self.families))
        if unknown.any():
            raise ValueError(f"{int(unknown.sum())} masks of a family ({sorted(set(fam[unknown]))}) the model "
                             "was not fitted on")
        return out



def fit_batch_clusters(sample: pl.DataFrame, rule_labels: list[str] | None = None, **kwargs) -> BatchClusterModel:
    """:func:`fit_clusters` for each family present in ``sample``."""
    fam = mask_family(sample)
    families, offsets, k = {}, {}, 0
    for name in ("multispectral", "rgb"):
        inside = fam == name
        if not inside.any():
            continue
        part = sample.filter(pl.Series(inside))
        labels = None if rule_labels is None else [r for r, keep in zip(rule_labels, inside) if keep]
        families[name] = fit_clusters(part, rule_labels=labels, **kwargs)
        offsets[name] = k
        k += families[name].k
    if not families:
        raise ValueError("no masks to cluster")
    return BatchClusterModel(families, offsets, k)
