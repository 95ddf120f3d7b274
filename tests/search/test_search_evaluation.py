"""Metrics, the queries reader, the embedding cache and the evaluation protocols (small, fake embedder)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assets.search.engine import IndexConfig
from assets.search.evaluation import (CachedEmbedder, EvaluationError, Queries, read_queries, run_evaluation)
from assets.search.metrics import mrr_at, ndcg_at, recall_at, summarise


def test_metrics_by_hand():
    ranks = [1, 3, 0, 12]
    assert recall_at(ranks, 1) == 0.25 and recall_at(ranks, 10) == 0.5
    assert mrr_at(ranks, 10) == pytest.approx((1 + 1 / 3) / 4)
    assert ndcg_at(ranks, 10) == pytest.approx((1 + 1 / math.log2(4)) / 4)
    s = summarise(ranks, [0.001, 0.002, 0.003, 0.1])
    assert s["n"] == 4 and s["p50_ms"] == pytest.approx(2.5) and s["p95_ms"] > 80


def _write(tmp_path, rows, header="year,text,code,code_title"):
    path = tmp_path / "q.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_read_queries_records_bad_rows_or_names_them(tmp_path):
    path = _write(tmp_path, ["2010,pan,311812,x", "2010,pan,31181,x", "2010,,311812,x", "20x0,pan,311812,x"])
    q = read_queries(path)
    assert q.texts == ["pan"] and q.invalid == [(3, "bad_code"), (4, "empty_text"), (5, "bad_year")]
    with pytest.raises(EvaluationError, match="row 3: column 'code' = '31181' is not a 6-digit"):
        read_queries(path, strict=True)
    with pytest.raises(EvaluationError, match=r"row 2: column 'text' is empty"):
        read_queries(_write(tmp_path, ["2010,,311812,x"]), strict=True)
    with pytest.raises(EvaluationError, match=r"no usable query rows \(1 rows left out: \{'empty_text': 1\}\)"):
        read_queries(_write(tmp_path, ["2010,,311812,x"]))
    with pytest.raises(EvaluationError, match="no column 'descr'"):
        read_queries(_write(tmp_path, ["2010,pan,311812,x"]), text_col="descr")
    q = read_queries(_write(tmp_path, ["2010,pan,311812,Panificación", "2011,carbón,212110,"]))
    assert q.years == [2010, 2011] and q.titles == ["Panificación", None]


def test_cached_embedder_persists(tmp_path, hash_embedder):
    cache = CachedEmbedder(hash_embedder, tmp_path)
    a = cache.embed(["pan dulce", "carbón", "pan dulce"])
    assert cache.misses == 2 and cache.hits == 1 and hash_embedder.texts_embedded == 2
    again = CachedEmbedder(hash_embedder, tmp_path)
    b = again.embed(["carbón", "pan dulce"])
    assert again.hits == 2 and again.misses == 0 and hash_embedder.texts_embedded == 2
    np.testing.assert_allclose(b, a[[1, 0]])
    # a query is cached apart from the same text as a passage, and reaches the model as a query
    again.embed(["carbón"], role="query")
    assert again.misses == 1 and hash_embedder.texts_embedded == 3 and hash_embedder.roles[-1] == "query"
    assert CachedEmbedder(hash_embedder, tmp_path).embed(["carbón"], role="query").shape == (1, 256)
    assert hash_embedder.texts_embedded == 3


def _queries() -> Queries:
    rows = [
        (2010, "PANADERIA DE BOLILLOS", "311812"), (2010, "EXTRACCION DE CARBON", "212110"),
        (2011, "TIENDA DE ABARROTES", "461110"), (2011, "GALVANIZADO DE PIEZAS", "332810"),
        (2011, "GENERACION DE ENERGIA ELECTRICA", "221110"),
        (2012, "PANADERIA DE BOLILLOS", "311812"), (2012, "MINA DE CARBON", "212110"),
        (2012, "GENERACION DE ENERGIA ELECTRICA", "221110"), (2012, "CROMADO DE PIEZAS METALICAS", "332810"),
    ]
    return Queries([r[1] for r in rows], [r[2] for r in rows], [r[0] for r in rows], "mem",
                   ["Generación de energía" if r[2] == "221110" else None for r in rows])


def test_run_evaluation_protocols_use_only_earlier_years(small_catalog, hash_embedder):
    report = run_evaluation(_queries(), small_catalog, hash_embedder, test_from=2012, latency_sample=3)
    cat, ex = report["catalogue_only"], report["with_examples"]
    assert cat["eval"]["modes"]["bm25"]["n"] == 4 and cat["all_rows"]["modes"]["bm25"]["n"] == 9
    assert set(cat["eval"]["modes"]) == {"bm25", "dense", "hybrid", "hybrid_rrf"}
    assert cat["eval"]["modes"]["hybrid"]["latency_queries"] == 3
    # the catalogue has no class 221110: those rows can only be found through a legacy class of the example years
    assert report["catalogue"]["queries_whose_code_is_not_a_class"] == 2
    assert ex["index"]["legacy_classes_added"] == 1 and ex["index"]["documents"] == 6
    assert ex["index"]["examples"] == 5   # the 2010-2011 rows only, never the 2012 ones
    assert ex["tuning"]["queries"] == "year 2011" and ex["tuning"]["index_examples"] == "years < 2011"
    # exact repeats of earlier descriptions are found; unseen texts are reported apart
    assert ex["eval"]["modes"]["bm25"]["recall@1"] >= 0.5
    assert ex["eval_unseen_texts"]["modes"]["bm25"]["n"] == 2
    assert set(ex["recall@10_by_year"]) == {2012}


def test_run_evaluation_without_years_is_catalogue_only(small_catalog, hash_embedder):
    q = _queries()
    q = Queries(q.texts, q.codes, [None] * len(q), "mem")
    report = run_evaluation(q, small_catalog, hash_embedder, latency_sample=0)
    assert "with_examples" not in report and report["catalogue_only"]["eval"]["queries"] == "all rows"
    with pytest.raises(EvaluationError, match="leaves no rows"):
        run_evaluation(_queries(), small_catalog, hash_embedder, test_from=2030)


def test_run_evaluation_of_later_years_takes_examples_from_another_file(small_catalog, hash_embedder):
    q = _queries()
    later = Queries(q.texts[5:], q.codes[5:], [2021] * 4, "later.csv", q.titles[5:])
    earlier = q.subset(np.array([y < 2012 for y in q.years]))
    # no row before test_from and no examples: catalogue-only on every row, and the report says why
    alone = run_evaluation(later, small_catalog, hash_embedder, test_from=2014, latency_sample=0)
    assert "with_examples" not in alone and "pass --examples" in alone["note"]
    assert alone["catalogue_only"]["eval"]["modes"]["bm25"]["n"] == 4
    assert alone["catalogue_only"]["tuning"]["alpha"] == IndexConfig().alpha   # the default: nothing to tune on
    report = run_evaluation(later, small_catalog, hash_embedder, test_from=2014, latency_sample=0, examples=earlier)
    ex = report["with_examples"]
    assert report["examples_file"] == {"path": "mem", "rows": 5, "years": [2010, 2011]}
    assert ex["eval"]["queries"] == "all rows" and ex["eval"]["modes"]["bm25"]["n"] == 4
    assert ex["index"]["examples"] == 5 and ex["index"]["legacy_classes_added"] == 1
    assert ex["tuning"]["queries"] == "year 2011" and report["catalogue_only"]["tuning"]["n"] == 5
    assert set(ex["recall@10_by_year"]) == {2021}
    # the repeated descriptions of the earlier file are found through its examples
    assert ex["eval"]["modes"]["bm25"]["recall@10"] > report["catalogue_only"]["eval"]["modes"]["bm25"]["recall@10"]


def test_cli_evaluate_json_and_text(tmp_path, small_catalog_csv):
    import json

    from click.testing import CliRunner

    from pipelines.cli.search import cli

    q = _queries()
    path = _write(tmp_path, [f"{y},{t},{c},{ti or ''}" for t, c, y, ti in zip(q.texts, q.codes, q.years, q.titles)])
    args = ["evaluate", "--queries", str(path), "--catalog", str(small_catalog_csv), "--test-from", "2012",
            "--latency-sample", "2", "--cache-dir", str(tmp_path / "cache")]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["with_examples"]["index"]["legacy_classes_added"] == 1
    assert report["embedding_cache"]["misses"] > 0 and (tmp_path / "cache").is_dir()
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0 and "catalogue_only: alpha=" in text.stdout and "hybrid_rrf" in text.stdout
    # a bad row is left out, counted and named by its line; the rest is evaluated
    messy = tmp_path / "messy"
    messy.mkdir()
    messy_path = _write(messy, [f"{y},{t},{c},{ti or ''}" for t, c, y, ti in zip(q.texts, q.codes, q.years, q.titles)]
                        + ["2012,sin codigo,,", "2012,,311812,"])
    out = CliRunner().invoke(cli, [*args, "--queries", str(messy_path), "--json"])
    assert out.exit_code == 0, out.output
    inv = json.loads(out.stdout)["invalid_rows"]
    assert inv["by_reason"] == {"bad_code": 1, "empty_text": 1} and [r["line"] for r in inv["first"]] == [11, 12]
    assert json.loads(out.stdout)["rows"] == 9
    bad = CliRunner().invoke(cli, ["evaluate", "--queries", str(path), "--code-col", "nope"])
    assert bad.exit_code == 1 and "no column 'nope'" in bad.output
    same = CliRunner().invoke(cli, [*args, "--examples", str(path)])
    assert same.exit_code == 1 and "use --test-from" in same.output
    # a file of later years evaluated against an examples file of earlier years
    later = tmp_path / "later"
    later.mkdir()
    later_path = _write(later, [f"2021,{t},{c}," for t, c in zip(q.texts[5:], q.codes[5:])])
    out = CliRunner().invoke(cli, [*args, "--queries", str(later_path), "--examples", str(path), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["examples_file"]["rows"] == 9 and report["with_examples"]["eval"]["modes"]["hybrid"]["n"] == 4
    none = CliRunner().invoke(cli, [*args, "--queries", str(later_path), "--examples", "none", "--json"])
    assert none.exit_code == 0 and "with_examples" not in json.loads(none.stdout)


# ---------------------------------------------------------------- choosing the query-time scoring parameters
def _rebuilt_ranks(corpus, embedder, queries, **config):
    """Hybrid ranks from an index built from scratch with ``config`` (what the cached grid must reproduce)."""
    from assets.search.engine import SearchIndex
    from assets.search.evaluation import _unique_positions, gold_ranks

    index = SearchIndex.build(corpus, embedder, IndexConfig(**config))
    uniq, pos = _unique_positions(queries)
    return summarise(gold_ranks(index, queries, "hybrid", index.embed_queries(uniq), pos))


def test_tune_scoring_grid_equals_rebuilt_indexes_and_picks_its_best(small_catalog, hash_embedder):
    from assets.search.corpus import scian_documents
    from assets.search.engine import SearchIndex
    from assets.search.evaluation import tune_scoring

    # examples that share words with other classes' queries: the discount and the expansion change the ranking
    corpus = scian_documents(small_catalog, examples={
        "332810": ["PIEZAS DE PAN METALICAS", "CROMADO DE TORTILLAS"], "461110": ["PANADERIA Y ABARROTES"]})
    q = Queries(["panaderia de piezas", "tortilleria", "cromado de piezas", "abarroteria", "carbon"],
                ["311812", "311812", "332810", "461110", "212110"], [2013] * 5, "mem")
    index = SearchIndex.build(corpus, hash_embedder, IndexConfig())
    alphas, weights, discounts, tops, priors = (0.0, 0.5, 1.0), (0.0, 0.6), (0.0, 0.3), (1, 2), (0.0, 0.5)
    t = tune_scoring(index, q, alphas, weights, discounts, tops, priors)
    assert len(t["grid"]) == 48 and t["n"] == 5
    keys = ("alpha", "expand_weight", "example_discount", "example_top", "example_prior")
    for row in t["grid"]:   # every grid point scored as an index built with those values would score it
        m = _rebuilt_ranks(corpus, hash_embedder, q, **{k: row[k] for k in keys})
        assert (row["recall@10"], row["mrr@10"]) == (m["recall@10"], m["mrr@10"]), row
    best = max(t["grid"], key=lambda r: (r["recall@10"], r["mrr@10"]))
    assert tuple(t[k] for k in keys) == tuple(best[k] for k in keys)
    assert len({(r["recall@10"], r["mrr@10"]) for r in t["grid"]}) > 1   # the grid is not flat: a real choice


def test_tune_scoring_prefers_the_discount_the_dev_queries_ask_for(small_catalog, hash_embedder):
    from assets.search.corpus import scian_documents
    from assets.search.engine import SearchIndex
    from assets.search.evaluation import tune_scoring

    # the query is word for word an example of the wrong class and close to the right class's own title: only a
    # discount on example vectors lets the class's own text win (dense only: alpha 0)
    corpus = scian_documents(small_catalog, with_ciiu=False, examples={"332810": ["mineria de carbon"]})
    index = SearchIndex.build(corpus, hash_embedder, IndexConfig())
    right = Queries(["mineria de carbon"], ["212110"], [2013], "mem")
    wrong = Queries(["mineria de carbon"], ["332810"], [2013], "mem")
    assert tune_scoring(index, right, (0.0,), (0.0,), (0.0, 0.5), (1,), (0.0,))["example_discount"] == 0.5
    assert tune_scoring(index, wrong, (0.0,), (0.0,), (0.0, 0.5), (1,), (0.0,))["example_discount"] == 0.0
    # "abarroteria" meets "abarrotes" only through its word family: the expansion is chosen (BM25 only: alpha 1)
    family = Queries(["abarroteria"], ["461110"], [2013], "mem")
    assert tune_scoring(index, family, (1.0,), (0.0, 0.6), (0.0,), (1,), (0.0,))["expand_weight"] == 0.6
    with pytest.raises(EvaluationError, match="at least one value"):
        tune_scoring(index, right, (0.0,), (), (0.0,))


def test_with_examples_chooses_on_the_dev_year_only(small_catalog, hash_embedder):
    q = _queries()
    grids = {"expand_weights": (0.0, 0.6), "example_discounts": (0.0, 0.2), "example_tops": (1, 3),
             "example_priors": (0.0, 0.2)}
    report = run_evaluation(q, small_catalog, hash_embedder, test_from=2012, latency_sample=0,
                            protocols=("with_examples",), **grids)
    ex = report["with_examples"]
    assert ex["tuning"]["queries"] == "year 2011" and ex["tuning"]["n"] == 3   # the 2011 rows only
    assert len(ex["tuning"]["grid"]) == 2 * 2 * 2 * 2 * 10
    assert ex["index"]["scoring"] == {k: ex["tuning"][k] for k in (
        "alpha", "expand_weight", "example_discount", "example_top", "example_prior")}
    # rewriting every evaluated row (years >= 2012) changes the evaluation, never the choice
    test = np.array([y >= 2012 for y in q.years])
    other = Queries([t if not m else "PANADERIA" for t, m in zip(q.texts, test)],
                    [c if not m else "212110" for c, m in zip(q.codes, test)], q.years, "mem", q.titles)
    again = run_evaluation(other, small_catalog, hash_embedder, test_from=2012, latency_sample=0,
                           protocols=("with_examples",), **grids)["with_examples"]
    assert again["tuning"] == ex["tuning"]
    assert again["eval"]["modes"]["hybrid"] != ex["eval"]["modes"]["hybrid"]
    # one value per grid fixes the parameter
    fixed = run_evaluation(q, small_catalog, hash_embedder, test_from=2012, latency_sample=0,
                           protocols=("with_examples",), expand_weights=(0.3,), example_discounts=(0.1,),
                           example_tops=(3,), example_priors=(0.2,))
    assert {(r["expand_weight"], r["example_discount"], r["example_top"], r["example_prior"])
            for r in fixed["with_examples"]["tuning"]["grid"]} == {(0.3, 0.1, 3, 0.2)}


def test_cli_evaluate_prints_the_dev_year_choice_and_takes_fixed_grids(tmp_path, small_catalog_csv):
    import json

    from click.testing import CliRunner

    from pipelines.cli.search import cli

    q = _queries()
    path = _write(tmp_path, [f"{y},{t},{c},{ti or ''}" for t, c, y, ti in zip(q.texts, q.codes, q.years, q.titles)])
    args = ["evaluate", "--queries", str(path), "--catalog", str(small_catalog_csv), "--test-from", "2012",
            "--protocol", "with_examples", "--latency-sample", "0", "--cache-dir", str(tmp_path / "cache")]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "dev-year grid (year 2011, 3 queries" in text.stdout and "<- chosen" in text.stdout
    # the best 12 of the 3 x 3 x 3 x 4 cells, best first (the chosen one among them)
    assert "12 of 108 cells" in text.stdout
    assert len([line for line in text.stdout.splitlines() if line.strip().startswith(("0.00", "0.30", "0.60"))]) == 12
    rows = [line.split() for line in text.stdout.splitlines() if line.strip().startswith(("0.00", "0.30", "0.60"))]
    assert [(float(r[5]), float(r[6])) for r in rows] == sorted(((float(r[5]), float(r[6])) for r in rows),
                                                               reverse=True)
    out = CliRunner().invoke(cli, [*args, "--expand-weights", "0.6", "--example-discounts", "0,0.2",
                                   "--example-tops", "3", "--json"])
    assert out.exit_code == 0, out.output
    tuning = json.loads(out.stdout)["with_examples"]["tuning"]
    assert {(r["expand_weight"], r["example_discount"], r["example_top"]) for r in tuning["grid"]} == {
        (0.6, 0.0, 3), (0.6, 0.2, 3)}
    bad = CliRunner().invoke(cli, [*args, "--example-discounts", "0,1.5"])
    assert bad.exit_code == 2 and "must be in [0, 1]" in bad.output
    bad = CliRunner().invoke(cli, [*args, "--example-tops", "0,3"])
    assert bad.exit_code == 2 and "must be in 1..50" in bad.output
    bad = CliRunner().invoke(cli, [*args, "--example-priors", "0,2.5"])
    assert bad.exit_code == 2 and "must be in [0, 2]" in bad.output
