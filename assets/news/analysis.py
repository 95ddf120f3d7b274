"""From answers to statistics (no Dagster): agreement between models, majority vote, counts per
municipality and model, the migration intensity indicator and its chart.

Conventions: answer 1 = migrant women/girls present, 2 = absent, null = no valid answer.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Sequence

import polars as pl

from lakehouse.tables import news as T

MAJORITY_MODEL = "majority_vote"


# ---------------------------------------------------------------- agreement
def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> tuple[float, float | None]:
    """(observed agreement, Cohen's kappa) of two raters over the same items; kappa None when undefined
    (chance agreement is 1: both raters gave one and the same label to everything)."""
    if len(a) != len(b):
        raise ValueError("raters must rate the same items")
    n = len(a)
    if n == 0:
        return math.nan, None
    po = sum(x == y for x, y in zip(a, b)) / n
    labels = set(a) | set(b)
    pe = sum((sum(x == k for x in a) / n) * (sum(y == k for y in b) / n) for k in labels)
    if math.isclose(pe, 1.0):
        return po, None
    return po, (po - pe) / (1 - pe)


def fleiss_kappa(table: Sequence[Sequence[int]]) -> tuple[float, float | None]:
    """(mean observed agreement, Fleiss' kappa) from an items × categories count table (same raters per item)."""
    if not table:
        return math.nan, None
    n = sum(table[0])
    if n < 2 or any(sum(row) != n for row in table):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    N = len(table)
    p_bar = sum((sum(c * c for c in row) - n) / (n * (n - 1)) for row in table) / N
    k = len(table[0])
    pj = [sum(row[j] for row in table) / (N * n) for j in range(k)]
    pe = sum(p * p for p in pj)
    if math.isclose(pe, 1.0):
        return p_bar, None
    return p_bar, (p_bar - pe) / (1 - pe)


def model_agreement(answers: pl.DataFrame) -> pl.DataFrame:
    """Pairwise Cohen's kappa over the articles both models answered validly, and Fleiss' kappa
    over the articles every model answered validly (schema of ``gold.news_model_agreement``)."""
    valid = answers.filter(pl.col("answer").is_not_null()).select("article_id", "model", "answer")
    models = sorted(answers.get_column("model").unique().to_list())
    wide = valid.pivot(on="model", index="article_id", values="answer") if valid.height else pl.DataFrame()
    rows = []
    for ma, mb in combinations(models, 2):
        if wide.height and ma in wide.columns and mb in wide.columns:
            both = wide.select(ma, mb).drop_nulls()
            a, b = both.get_column(ma).to_list(), both.get_column(mb).to_list()
        else:
            a, b = [], []
        po, kappa = cohen_kappa(a, b)
        rows.append({"metric": "cohen_kappa", "model_a": ma, "model_b": mb, "n_items": len(a),
                     "observed_agreement": None if math.isnan(po) else po, "kappa": kappa,
                     "models": f"{ma},{mb}"})
    if len(models) >= 2:
        if wide.height and all(m in wide.columns for m in models):
            complete = wide.select(models).drop_nulls()
            table = [[sum(v == 1 for v in r), sum(v == 2 for v in r)] for r in complete.iter_rows()]
        else:
            table = []
        po, kappa = fleiss_kappa(table)
        rows.append({"metric": "fleiss_kappa", "model_a": "*", "model_b": "*", "n_items": len(table),
                     "observed_agreement": None if math.isnan(po) else po, "kappa": kappa,
                     "models": ",".join(models)})
    return pl.DataFrame(rows, schema=T.model_agreement.full_schema) if rows else T.model_agreement.empty()


def majority_vote(answers: pl.DataFrame, articles: pl.DataFrame, models: Sequence[str] | None = None
                  ) -> pl.DataFrame:
    """Per article: votes of the (chosen) models over valid answers, and the majority (null on a tie).

    ``articles`` holds article_id, published_date, cve_geo for every article (none is dropped:
    an article no model answered validly gets n_valid = 0 and a null majority).
    """
    df = answers if models is None else answers.filter(pl.col("model").is_in(list(models)))
    votes = df.group_by("article_id").agg(
        pl.len().alias("n_models"),
        pl.col("answer").is_not_null().sum().alias("n_valid"),
        (pl.col("answer") == 1).sum().alias("votes_present"),
        (pl.col("answer") == 2).sum().alias("votes_absent"),
    )
    out = articles.select("article_id", "published_date", "cve_geo").join(votes, on="article_id", how="left")
    out = out.with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in
                           ("n_models", "n_valid", "votes_present", "votes_absent"))
    return out.with_columns(
        pl.when(pl.col("votes_present") > pl.col("votes_absent")).then(pl.lit(1, pl.Int64))
        .when(pl.col("votes_absent") > pl.col("votes_present")).then(pl.lit(2, pl.Int64))
        .otherwise(None).alias("majority_answer"),
        ((pl.col("n_valid") == pl.col("n_models")) & (pl.col("n_valid") > 0)
         & ((pl.col("votes_present") == 0) | (pl.col("votes_absent") == 0))).alias("unanimous"),
    ).select(list(T.majority_vote.full_schema)).sort("article_id")


# ---------------------------------------------------------------- per municipality
def mentions_by_municipality(answers: pl.DataFrame, majority: pl.DataFrame, locations: pl.DataFrame,
                             municipalities: pl.DataFrame) -> pl.DataFrame:
    """Per municipality (CVE_GEO) and model — majority vote as model 'majority_vote' — the articles
    located there and how many each model said present / absent / invalid (failed included)."""
    located = locations.filter(pl.col("cve_geo").is_not_null()).select("article_id", "cve_geo")
    per_model = answers.select("article_id", "model", "answer", "status")
    maj = majority.select("article_id", pl.lit(MAJORITY_MODEL).alias("model"),
                          pl.col("majority_answer").alias("answer"),
                          pl.when(pl.col("n_valid") == 0).then(pl.lit("failed")).otherwise(pl.lit("valid"))
                          .alias("status"))
    allrows = pl.concat([per_model, maj], how="vertical_relaxed").join(located, on="article_id", how="inner")
    counts = allrows.group_by("cve_geo", "model").agg(
        pl.len().alias("n_articles"),
        (pl.col("answer") == 1).sum().alias("n_present"),
        (pl.col("answer") == 2).sum().alias("n_absent"),
        pl.col("answer").is_null().sum().alias("n_invalid"),
        ((pl.col("status") == "failed") & (pl.col("model") != MAJORITY_MODEL)).sum().alias("n_failed"),
    )
    names = municipalities.select("cve_geo", "state_name", "municipality_name")
    out = counts.join(names, on="cve_geo", how="left").with_columns(
        pl.col(c).cast(pl.Int64) for c in ("n_articles", "n_present", "n_absent", "n_invalid", "n_failed")
    ).with_columns(
        # no valid answer: no share (null), never NaN, which DuckDB and dbt would average into NaN
        pl.when(pl.col("n_present") + pl.col("n_absent") > 0)
        .then(pl.col("n_present") / (pl.col("n_present") + pl.col("n_absent"))).otherwise(None)
        .alias("share_present"),
    )
    return out.select(list(T.mentions_by_municipality.full_schema)).sort("cve_geo", "model")


def mentions_wide(mentions: pl.DataFrame) -> pl.DataFrame:
    """The seed's comparison view: one row per municipality, n_present per model side by side."""
    if not mentions.height:
        return pl.DataFrame({"cve_geo": [], "municipality_name": []}, schema={"cve_geo": pl.Utf8,
                                                                              "municipality_name": pl.Utf8})
    base = mentions.group_by("cve_geo").agg(pl.col("municipality_name").first(), pl.col("state_name").first(),
                                            pl.col("n_articles").max())
    wide = mentions.pivot(on="model", index="cve_geo", values="n_present")
    wide = wide.rename({c: f"present__{c}" for c in wide.columns if c != "cve_geo"})
    return base.join(wide, on="cve_geo", how="left").sort("n_articles", "cve_geo", descending=[True, False])


# ---------------------------------------------------------------- indicator
@dataclass(frozen=True)
class IndicatorWeights:
    """Weights of the standardised components (need not sum to 1: the index divides by their sum)."""

    share_women_news: float = 0.4
    news_per_100k: float = 0.3
    shelters: float = 0.15
    shelter_capacity: float = 0.15

    def as_dict(self) -> dict[str, float]:
        return {"share_women_news": self.share_women_news, "news_per_100k": self.news_per_100k,
                "shelters": self.shelters, "shelter_capacity": self.shelter_capacity}

    def validate(self) -> None:
        w = self.as_dict()
        bad = {k: v for k, v in w.items() if v < 0 or not math.isfinite(v)}
        if bad:
            raise ValueError(f"indicator weights must be finite and >= 0, got {bad}")
        if sum(w.values()) <= 0:
            raise ValueError("indicator weights must not all be zero")


def _z(col: str) -> pl.Expr:
    std = pl.col(col).std(ddof=0)
    # float noise gives a constant column a spread of ~1e-17: that is no spread
    return pl.when(std > 1e-12 * (pl.col(col).abs().max() + 1.0)).then((pl.col(col) - pl.col(col).mean()) / std).otherwise(0.0).alias(f"z_{col}")


def migration_intensity(majority: pl.DataFrame, locations: pl.DataFrame, municipalities: pl.DataFrame,
                        shelters: pl.DataFrame, weights: IndicatorWeights, prompt_version: str) -> pl.DataFrame:
    """The indicator per municipality with news or shelters.

    Components (raw, then z-scored across those municipalities; a component with no spread scores 0):
    * ``share_women_news``: majority-vote share of the municipality's validly answered news that
      mention migrant women or girls (0 when there is no such news);
    * ``news_per_100k``: located news articles per 100,000 inhabitants (2020 census population);
    * ``shelters`` and ``shelter_capacity``: migrant shelters and their beds.
    ``intensity_index`` = Σ wᵢ·zᵢ / Σ wᵢ; ``intensity_0_100`` rescales it min–max over the
    municipalities (0 for all when they are all equal); ``rank`` 1 = most intense.
    """
    weights.validate()
    news = majority.select("article_id", "majority_answer").join(
        locations.filter(pl.col("cve_geo").is_not_null()).select("article_id", "cve_geo"), on="article_id")
    news_counts = news.group_by("cve_geo").agg(
        pl.len().alias("n_articles"),
        pl.col("majority_answer").is_not_null().sum().alias("n_valid_majority"),
        (pl.col("majority_answer") == 1).sum().alias("n_present_majority"),
    )
    shelter_counts = shelters.filter(pl.col("cve_geo").is_not_null()).group_by("cve_geo").agg(
        pl.len().alias("shelters"), pl.col("capacity").fill_null(0).sum().alias("shelter_capacity"))
    universe = news_counts.join(shelter_counts, on="cve_geo", how="full", coalesce=True)
    pop = municipalities.select("cve_geo", "state_name", "municipality_name", "population_total")
    df = universe.join(pop, on="cve_geo", how="left").with_columns(
        pl.col(c).fill_null(0).cast(pl.Int64) for c in
        ("n_articles", "n_valid_majority", "n_present_majority", "shelters", "shelter_capacity"))
    missing_pop = df.filter(pl.col("population_total").is_null() | (pl.col("population_total") <= 0))
    if missing_pop.height:
        raise ValueError(f"municipality {missing_pop.get_column('cve_geo')[0]!r} has news or shelters but no "
                         "population in silver.municipalities: cannot compute news per 100k")
    df = df.with_columns(
        pl.when(pl.col("n_valid_majority") > 0)
        .then(pl.col("n_present_majority") / pl.col("n_valid_majority")).otherwise(0.0).alias("share_women_news"),
        (pl.col("n_articles") * 100_000.0 / pl.col("population_total")).alias("news_per_100k"),
        pl.col("shelters").cast(pl.Float64).alias("_shelters_f"),
        pl.col("shelter_capacity").cast(pl.Float64).alias("_capacity_f"),
    )
    if df.height == 0:
        return T.migration_intensity.empty()
    df = df.with_columns(_z("share_women_news"), _z("news_per_100k"),
                         _z("_shelters_f").alias("z_shelters"), _z("_capacity_f").alias("z_shelter_capacity"))
    w = weights.as_dict()
    total = sum(w.values())
    df = df.with_columns(
        ((w["share_women_news"] * pl.col("z_share_women_news") + w["news_per_100k"] * pl.col("z_news_per_100k")
          + w["shelters"] * pl.col("z_shelters") + w["shelter_capacity"] * pl.col("z_shelter_capacity"))
         / total).alias("intensity_index"))
    lo, hi = df.get_column("intensity_index").min(), df.get_column("intensity_index").max()
    span = (hi - lo) if hi is not None and lo is not None else 0.0
    df = df.with_columns(
        (pl.when(pl.lit(span) > 1e-12).then((pl.col("intensity_index") - lo) / span * 100).otherwise(0.0))
        .alias("intensity_0_100"),
        pl.lit(json.dumps(w, sort_keys=True)).alias("weights"),
        pl.lit(prompt_version).alias("prompt_version"),
    ).sort(["intensity_index", "cve_geo"], descending=[True, False]).with_row_index("rank", offset=1)
    return df.with_columns(pl.col("rank").cast(pl.Int64)).select(list(T.migration_intensity.full_schema))


# ---------------------------------------------------------------- chart
def intensity_chart(indicator: pl.DataFrame, mentions: pl.DataFrame, path: Path, top_n: int = 15) -> Path:
    """PNG: top municipalities by the indicator (left) and, for them, articles each model flags (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = indicator.sort("rank").head(top_n)
    labels = [f"{r['municipality_name'] or r['cve_geo']} ({r['cve_geo']})" for r in top.iter_rows(named=True)][::-1]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, max(3.0, 0.42 * max(len(labels), 1) + 1.5)),
                                   gridspec_kw={"width_ratios": [1, 1.3]})
    ax1.barh(labels, top.get_column("intensity_0_100").to_list()[::-1], color="#8c2d04")
    ax1.set_xlabel("migration intensity (0-100)")
    ax1.set_title(f"Top {len(labels)} municipalities")
    models = sorted(mentions.get_column("model").unique().to_list()) if mentions.height else []
    cves = top.get_column("cve_geo").to_list()[::-1]
    if models and cves:
        sub = mentions.filter(pl.col("cve_geo").is_in(cves))
        height = 0.8 / len(models)
        cmap = plt.get_cmap("tab10")
        for j, model in enumerate(models):
            vals = dict(sub.filter(pl.col("model") == model).select("cve_geo", "n_present").iter_rows())
            ys = [i - 0.4 + height * (j + 0.5) for i in range(len(cves))]
            ax2.barh(ys, [vals.get(c, 0) for c in cves], height=height, label=model, color=cmap(j % 10))
        ax2.set_yticks(range(len(cves)))
        ax2.set_yticklabels([])
        ax2.legend(fontsize=7, loc="lower right")
    ax2.set_xlabel("articles mentioning migrant women/girls")
    ax2.set_title("Per model")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def png_markdown(path: Path, alt: str) -> str:
    """Markdown embedding a PNG inline (base64), plus where the file is."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"![{alt}](data:image/png;base64,{data})\n\n`{path}`"
