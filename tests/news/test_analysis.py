"""Agreement statistics, majority vote, per-municipality counts and the indicator (pure functions)."""

import math

import polars as pl
import pytest

from assets.news import analysis


def test_cohen_kappa_known_values():
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = 0.5 -> kappa 0.4
    a = [1] * 25 + [2] * 25
    b = [1] * 20 + [2] * 5 + [1] * 10 + [2] * 15
    po, k = analysis.cohen_kappa(a, b)
    assert po == pytest.approx(0.7) and k == pytest.approx(0.4)
    assert analysis.cohen_kappa([1, 2, 1], [1, 2, 1])[1] == pytest.approx(1.0)
    assert analysis.cohen_kappa([1, 1], [1, 1])[1] is None  # chance agreement 1: undefined


def test_fleiss_kappa_known_value():
    # Fleiss (1971)-style check on a small table computed by hand: 4 items, 3 raters, 2 categories
    table = [[3, 0], [0, 3], [2, 1], [1, 2]]
    p_bar = (1 + 1 + 1 / 3 + 1 / 3) / 4
    pj = [6 / 12, 6 / 12]
    expected = (p_bar - sum(p * p for p in pj)) / (1 - sum(p * p for p in pj))
    po, k = analysis.fleiss_kappa(table)
    assert po == pytest.approx(p_bar) and k == pytest.approx(expected)
    with pytest.raises(ValueError):
        analysis.fleiss_kappa([[2, 0], [1, 0]])


def answers_frame(rows):
    return pl.DataFrame(rows, schema={"article_id": pl.Utf8, "model": pl.Utf8, "answer": pl.Int64,
                                      "status": pl.Utf8}, orient="row")


ANSWERS = answers_frame([
    ("a1", "m1", 1, "valid"), ("a1", "m2", 1, "valid"), ("a1", "m3", 2, "valid"),
    ("a2", "m1", 2, "valid"), ("a2", "m2", 2, "valid"), ("a2", "m3", None, "invalid"),
    ("a3", "m1", 1, "valid"), ("a3", "m2", 2, "valid"), ("a3", "m3", None, "failed"),
    ("a4", "m1", None, "failed"), ("a4", "m2", None, "invalid"), ("a4", "m3", None, "failed"),
])
ARTICLES = pl.DataFrame({"article_id": ["a1", "a2", "a3", "a4", "a5"], "published_date": ["2020-01-01"] * 5,
                         "cve_geo": ["07089", "07089", "28027", None, "28027"]})
MUNIS = pl.DataFrame({"cve_geo": ["07089", "28027", "27004"], "state_name": ["Chiapas", "Tamaulipas", "Tabasco"],
                      "municipality_name": ["Tapachula", "Nuevo Laredo", "Centro"],
                      "population_total": [353706, 425058, 683607]})


def test_majority_vote_ties_and_missing_articles():
    maj = analysis.majority_vote(ANSWERS, ARTICLES)
    got = {r["article_id"]: r for r in maj.iter_rows(named=True)}
    assert got["a1"]["majority_answer"] == 1 and not got["a1"]["unanimous"]
    assert got["a2"]["majority_answer"] == 2 and not got["a2"]["unanimous"]  # m3 invalid: not unanimous
    assert got["a3"]["majority_answer"] is None  # 1 vs 2: tie
    assert got["a4"]["n_valid"] == 0 and got["a4"]["majority_answer"] is None
    assert got["a5"]["n_models"] == 0  # no answers at all: kept, not dropped
    assert maj.height == ARTICLES.height


def test_agreement_table():
    agr = analysis.model_agreement(ANSWERS)
    pair = agr.filter((pl.col("model_a") == "m1") & (pl.col("model_b") == "m2")).row(0, named=True)
    assert pair["n_items"] == 3 and pair["observed_agreement"] == pytest.approx(2 / 3)
    fleiss = agr.filter(pl.col("metric") == "fleiss_kappa").row(0, named=True)
    assert fleiss["n_items"] == 1 and fleiss["models"] == "m1,m2,m3"  # only a1 has three valid answers


def test_mentions_by_municipality_counts_every_located_article():
    maj = analysis.majority_vote(ANSWERS, ARTICLES)
    m = analysis.mentions_by_municipality(ANSWERS, maj, ARTICLES, MUNIS)
    row = m.filter((pl.col("cve_geo") == "07089") & (pl.col("model") == "m3")).row(0, named=True)
    assert (row["n_articles"], row["n_present"], row["n_absent"], row["n_invalid"], row["n_failed"]) == (2, 0, 1, 1, 0)
    row = m.filter((pl.col("cve_geo") == "28027") & (pl.col("model") == "m3")).row(0, named=True)
    # a3 failed; a5 was never answered by anyone (no rows): not counted for m3
    assert (row["n_articles"], row["n_invalid"], row["n_failed"]) == (1, 1, 1)
    assert row["share_present"] is None  # no valid answer: no share (NaN would poison every SQL average)
    assert m.get_column("share_present").is_nan().sum() == 0
    maj_row = m.filter((pl.col("cve_geo") == "07089") & (pl.col("model") == "majority_vote")).row(0, named=True)
    assert (maj_row["n_present"], maj_row["n_absent"]) == (1, 1)
    assert m.filter(pl.col("model") == "majority_vote").get_column("n_articles").sum() == 4  # a4 unlocated
    wide = analysis.mentions_wide(m)
    assert {"present__m1", "present__majority_vote"} <= set(wide.columns)


def test_a_component_with_no_spread_scores_zero_despite_float_noise():
    z = pl.DataFrame({"x": [1 / 3] * 10}).select(analysis._z("x")).get_column("z_x")
    assert pl.Series([1 / 3] * 10).std(ddof=0) > 0   # the noise the rule guards against
    assert z.to_list() == [0.0] * 10


def test_indicator_standardises_and_weights():
    maj = analysis.majority_vote(ANSWERS, ARTICLES)
    shelters = pl.DataFrame({"cve_geo": ["27004", "27004", "07089"], "capacity": [100, 50, 200]})
    ind = analysis.migration_intensity(maj, ARTICLES, MUNIS, shelters, analysis.IndicatorWeights(), "seed-v1")
    assert set(ind.get_column("cve_geo")) == {"07089", "28027", "27004"}
    r = {x["cve_geo"]: x for x in ind.iter_rows(named=True)}
    assert r["07089"]["share_women_news"] == pytest.approx(0.5)  # a1 present, a2 absent
    assert r["28027"]["share_women_news"] == 0.0  # a3 tie, a5 no answer: no valid majority
    assert r["27004"]["n_articles"] == 0 and r["27004"]["shelters"] == 2 and r["27004"]["shelter_capacity"] == 150
    assert r["07089"]["news_per_100k"] == pytest.approx(2 * 1e5 / 353706)
    for col in ("z_share_women_news", "z_news_per_100k", "z_shelters", "z_shelter_capacity"):
        assert ind.get_column(col).sum() == pytest.approx(0.0, abs=1e-9)
    # index = weighted mean of the z-scores
    w = analysis.IndicatorWeights().as_dict()
    x = r["07089"]
    expected = (w["share_women_news"] * x["z_share_women_news"] + w["news_per_100k"] * x["z_news_per_100k"]
                + w["shelters"] * x["z_shelters"] + w["shelter_capacity"] * x["z_shelter_capacity"]) / sum(w.values())
    assert x["intensity_index"] == pytest.approx(expected)
    assert sorted(ind.get_column("rank")) == [1, 2, 3] and ind.get_column("intensity_0_100").max() == pytest.approx(100)
    only_shelters = analysis.migration_intensity(maj, ARTICLES, MUNIS, shelters,
                                                 analysis.IndicatorWeights(0, 0, 0, 1), "v")
    assert only_shelters.sort("rank").get_column("cve_geo")[0] == "07089"  # 200 beds
    with pytest.raises(ValueError, match=">= 0"):
        analysis.IndicatorWeights(-1, 1, 1, 1).validate()
    assert all(math.isfinite(v) for v in ind.get_column("intensity_index"))
