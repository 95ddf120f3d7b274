"""The engine: BM25, dense, fusion, validation, the HNSW index, multi-vector documents."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from assets.search.benchmark import run_benchmark
from assets.search.corpus import scian_documents, synthetic_corpus
from assets.search.engine import (MAX_QUERY_CHARS, IndexConfig, SearchError, SearchIndex, _HNSW, _top_values, _z,
                                  _z_top, validate_query, vector_texts)
from assets.search.text import surface_terms


def test_bm25_finds_the_class_by_stemmed_words(small_index):
    hits = small_index.search("PANIFICACIÓN TRADICIONAL", "bm25", 3)
    assert hits[0].ref == "311812" and hits[0].rank == 1
    assert hits[0].bm25 > hits[1].bm25 > 0
    # only documents sharing a word come back in bm25 mode
    assert all(h.bm25 > 0 for h in hits)
    assert small_index.search("zzzz qqqq", "bm25", 5) == []


def test_dense_and_hybrid_return_k_ranked_hits(small_index):
    roles = small_index.embedder.roles
    assert set(roles) == {"passage"}          # the documents were embedded as passages...
    for mode in ("dense", "hybrid"):
        hits = small_index.search("minería de carbón", mode, 4)
        assert roles[-1] == "query"           # ...and the query as a query (e5 prefixes the two differently)
        assert [h.rank for h in hits] == [1, 2, 3, 4]
        assert hits[0].ref == "212110"
        assert hits == sorted(hits, key=lambda h: -h.score)


def test_weighted_fusion_is_the_z_score_mix(small_index):
    for norm in ("top", "corpus"):
        idx = small_index.with_config(fusion="weighted", alpha=0.25, norm=norm, z_top=5)
        final, bm25, dense = idx.scores("panificación industrial", "hybrid")
        z = (lambda x: _z_top(x, 5)) if norm == "top" else _z
        np.testing.assert_allclose(final, 0.25 * z(bm25) + 0.75 * z(dense), rtol=1e-5, atol=1e-6)
        only_dense = small_index.with_config(alpha=0.0, norm=norm, z_top=5).scores("panificación industrial",
                                                                                   "hybrid")[0]
        np.testing.assert_allclose(only_dense, z(dense), rtol=1e-5, atol=1e-6)
    x = np.array([9.0, 3.0, 1.0, 0.0, -4.0, 0.0])
    top = x[:3]
    np.testing.assert_allclose(_z_top(x, 3), (np.maximum(x, 1.0) - top.mean()) / top.std())   # floored at the 3rd
    assert not _z_top(np.zeros(6), 3).any() and not _z_top(x, 1).any()
    rng = np.random.default_rng(0)
    sparse = np.zeros(2000, dtype=np.float32)
    sparse[:40] = rng.random(40)
    for arr in (sparse, rng.normal(size=2000).astype(np.float32), np.zeros(2000, np.float32),
                np.r_[np.zeros(10), -rng.random(50)].astype(np.float32),
                np.r_[rng.random(30), np.full(500, 0.3)].astype(np.float32)):   # an approximate index's fill
        for n in (2, 30, 100, 60):
            n = min(n, len(arr))
            assert np.array_equal(np.sort(_top_values(arr, n)), np.sort(np.partition(arr, -n)[-n:]))


def test_top_n_z_scores_let_dense_lift_a_document_over_a_one_word_keyword_match(small_index):
    # most documents share no word with a query: over the corpus their BM25 zeros make any match a huge z
    # (here about 11) that dense's best (z about 14 over a tight spread) cannot pass at alpha 0.6; against each
    # retriever's own top 100 the dense document stands out more than the weak keyword match
    n = 1500
    rng = np.random.default_rng(0)
    bm25 = np.zeros(n, dtype=np.float32)
    bm25[0], bm25[1] = 3.0, 10.0                  # 0: one common word; 1: a strong keyword match
    dense = rng.normal(0.2, 0.05, n).astype(np.float32)
    dense[0], dense[2] = 0.2, 0.9                 # 2: far the nearest, no word shared
    top = small_index.with_config(alpha=0.6, norm="top").fuse(bm25, dense)
    corpus = small_index.with_config(alpha=0.6, norm="corpus").fuse(bm25, dense)
    assert corpus[0] > corpus[2]                  # the earlier rule: the one-word match above the nearest
    assert top[1] > top[2] > top[0]               # now: strong keyword, then the nearest, then the weak match
    assert top[2] > np.delete(top, [1, 2]).max()


def test_rrf_fusion(small_index):
    idx = small_index.with_config(fusion="rrf", rrf_k=60)
    final, bm25, dense = idx.scores("panificación industrial", "hybrid")
    rb = {int(i): r + 1 for r, i in enumerate(np.argsort(-bm25, kind="stable"))}
    rd = {int(i): r + 1 for r, i in enumerate(np.argsort(-dense, kind="stable"))}
    assert (bm25 == 0).any() and (bm25 > 0).any()
    for i in range(len(final)):
        # a document sharing no word with the query gets no keyword credit, only its dense rank's
        keyword = 1 / (60 + rb[i]) if bm25[i] > 0 else 0.0
        assert final[i] == pytest.approx(keyword + 1 / (60 + rd[i]), rel=1e-5)


@pytest.mark.parametrize("query, mode, k, message", [
    ("", "hybrid", 10, "empty"),
    ("   ", "hybrid", 10, "empty"),
    ("x" * 10_000, "hybrid", 10, "10000 characters"),
    ("pan", "fuzzy", 10, "mode must be"),
    ("pan", "hybrid", 0, "k must be"),
    ("pan", "hybrid", "abc", "k must be"),
    ("pan", "hybrid", "1e3", "k must be"),
    ("pan", "hybrid", 101, "k must be"),
    ("pan\x00", "hybrid", 10, "NUL"),
])
def test_bad_input_is_a_clear_error(query, mode, k, message, small_index):
    with pytest.raises(SearchError, match=message):
        small_index.search(query, mode, k)


def test_validate_query_accepts_limits():
    assert validate_query(" pan ", "bm25", "5") == ("pan", "bm25", 5)
    assert validate_query("p" * MAX_QUERY_CHARS, "dense", 100)[2] == 100


@pytest.mark.parametrize("query", ["'; DROP TABLE vectors; --", "<script>alert(1)</script>", "%_*?\\\"'",
                                   "ñandú ÁÉÍÓÚ 🙂", "SELECT * FROM x WHERE 1=1"])
def test_metacharacters_are_just_text(query, small_index):
    for mode in ("bm25", "dense", "hybrid"):
        hits = small_index.search(query, mode, 5)
        assert len(hits) <= 5


def test_examples_make_a_class_findable(small_catalog, hash_embedder):
    query = "horno de tortas y bolillos"
    plain = SearchIndex.build(scian_documents(small_catalog), hash_embedder)
    # exact words only: "bolillos" meets the catalogue's "pan" through an everyday equivalence (an expansion)
    assert plain.with_config(expand_weight=0.0).search(query, "bm25", 5) == []
    docs = scian_documents(small_catalog, examples={"311812": ["HORNO DE BOLILLOS Y TORTAS"]})
    idx = SearchIndex.build(docs, hash_embedder)
    owner = docs["ref"].to_list().index("311812")
    assert len(idx.vectors) == docs.height + 1 and int((idx.owners == owner).sum()) == 2
    for mode in ("bm25", "dense", "hybrid"):
        assert idx.search(query, mode, 1)[0].ref == "311812"


def test_stored_vectors_are_reused(small_catalog, hash_embedder):
    docs = scian_documents(small_catalog)
    first = SearchIndex.build(docs, hash_embedder)
    stored = pl.DataFrame({"doc_id": docs["doc_id"], "kind": ["document"] * docs.height,
                           "text": vector_texts(docs)[0],
                           "embedding": [v.tolist() for v in first.vectors]})
    before = hash_embedder.texts_embedded
    again = SearchIndex.build(docs, hash_embedder, stored=stored)
    assert hash_embedder.texts_embedded == before and again.stats.reused_vectors == docs.height
    np.testing.assert_allclose(again.vectors, first.vectors)


def test_hnsw_index_is_used_and_agrees_with_exact(hash_embedder):
    corpus = synthetic_corpus(600, seed=1)
    exact = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="exact"))
    hnsw = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="hnsw"), stored=None)
    assert hnsw.stats.vector_index == "hnsw" and exact.stats.vector_index == "exact"
    assert "HNSW_INDEX_SCAN" in hnsw._hnsw.plan()
    overlap = []
    for q in corpus["title"].to_list()[:20]:
        a = {h.doc_id for h in exact.search(q, "dense", 10)}
        b = {h.doc_id for h in hnsw.search(q, "dense", 10)}
        overlap.append(len(a & b) / 10)
    assert np.mean(overlap) >= 0.9


def test_hnsw_hybrid_ranks_as_the_exact_index(hash_embedder):
    # hybrid takes the dense z-scores from corpus-wide statistics, not from the partly filled HNSW scores
    corpus = synthetic_corpus(600, seed=2)
    exact = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="exact"))
    hnsw = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="hnsw"))
    same_top, overlap = 0, []
    for q in corpus["body"].to_list()[:30]:
        q = " ".join(q.split()[:6])
        a = [h.doc_id for h in exact.search(q, "hybrid", 10)]
        b = [h.doc_id for h in hnsw.search(q, "hybrid", 10)]
        same_top += a[0] == b[0]
        overlap.append(len(set(a) & set(b)) / 10)
    assert same_top >= 28 and np.mean(overlap) >= 0.95


def test_hnsw_with_example_vectors_still_finds_documents_crowded_out_by_big_classes(hash_embedder):
    # three classes with 200 near-identical example vectors each fill the first HNSW candidates; the
    # document that matches next must still be found and scored exactly
    rows = [{"doc_id": f"hot{i}", "doc_type": "scian_class", "ref": f"hot{i}", "source": "t",
             "title": "fabricación de tortillas", "body": "", "examples": ["fabricación de tortillas"] * 1
             + [f"fabricación de tortillas {j}" for j in range(200)]} for i in range(3)]
    rows.append({"doc_id": "target", "doc_type": "scian_class", "ref": "target", "source": "t",
                 "title": "tortillas de harina", "body": "", "examples": []})
    rows += [{"doc_id": f"other{i}", "doc_type": "scian_class", "ref": f"o{i}", "source": "t",
              "title": f"minería de mármol {i}", "body": "", "examples": [f"cantera {i}"]} for i in range(40)]
    from assets.search.corpus import _frame

    corpus = _frame(rows)
    cfg = dict(depth=10)
    exact = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="exact", **cfg))
    hnsw = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="hnsw", **cfg))
    a = [h.doc_id for h in exact.search("tortillas", "dense", 5)]
    b = [h.doc_id for h in hnsw.search("tortillas", "dense", 5)]
    assert "target" in a and a == b


def test_auto_vector_index_switches_by_size(small_catalog, hash_embedder):
    docs = scian_documents(small_catalog)
    assert SearchIndex.build(docs, hash_embedder, IndexConfig(exact_max_vectors=100)).stats.vector_index == "exact"
    assert SearchIndex.build(docs, hash_embedder, IndexConfig(exact_max_vectors=3)).stats.vector_index == "binary"
    assert SearchIndex.build(docs, hash_embedder, IndexConfig(exact_max_vectors=3, binary_max_vectors=3)
                             ).stats.vector_index == "hnsw"


def test_binary_codes_rescore_exactly_and_rank_as_the_exact_index(hash_embedder):
    # the test embedder's hashed vectors are sparse (their sign bits say little): the Hamming pre-selection is
    # checked for exact rescoring here and for recall on real USE vectors by the benchmark (overlap@10 vs exact)
    corpus = synthetic_corpus(1500, seed=3)
    exact = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="exact"))

    def binary(rescore):
        return SearchIndex(corpus, exact.vectors, exact.owners, hash_embedder,
                           IndexConfig(vector_index="binary", depth=20, rescore=rescore), exact.stats, exact._bm25,
                           exact._vocab)

    part, whole = binary(300), binary(1500)
    assert part.stats.vector_index == "binary" and part.uses_hnsw
    overlap, by_sample = [], []
    for q in corpus["body"].to_list()[:40]:
        q = " ".join(q.split()[:6])
        qvec = exact.embed_queries([q])[0]
        e, b = exact.dense_scores(qvec), part.dense_scores(qvec)
        cand = np.flatnonzero(b > b.min())
        assert len(cand) >= 20
        np.testing.assert_allclose(b[cand], e[cand], atol=1e-5)    # candidates are scored exactly
        np.testing.assert_allclose(whole.dense_scores(qvec), e, atol=1e-5)   # every vector: the exact scores
        x = [h.doc_id for h in exact.search(q, "hybrid", 10)]
        overlap.append(len(set(x) & {h.doc_id for h in whole.search(q, "hybrid", 10)}) / 10)
        x = [h.doc_id for h in exact.with_config(norm="corpus").search(q, "hybrid", 10)]
        by_sample.append(len(set(x) & {h.doc_id for h in whole.with_config(norm="corpus").search(q, "hybrid", 10)})
                         / 10)
    assert np.mean(overlap) >= 0.95   # the fusion's scale: each retriever's exact top z_top
    assert np.mean(by_sample) >= 0.95   # norm="corpus": only the z-score statistics come from a sample
    assert whole._sample and not part._sample   # built at its first use only, shared with with_config copies


def test_approximate_hybrid_scores_the_keyword_matches_exactly(hash_embedder):
    # a strong BM25 match outside the few dense candidates must be fused with its own dense score, not with the
    # lowest candidate score (which is far above it and lifted such documents over the exact index's top 10)
    corpus = synthetic_corpus(1500, seed=4)
    exact = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index="exact"))
    part = SearchIndex(corpus, exact.vectors, exact.owners, hash_embedder,
                       IndexConfig(vector_index="binary", depth=10, rescore=40), exact.stats, exact._bm25, exact._vocab)
    outside = 0
    for q in corpus["body"].to_list()[:30]:
        q = " ".join(q.split()[:5])
        qvec = exact.embed_queries([q])[0]
        _, bm25, dense = part.scores(q, "hybrid", qvec)
        top = np.argsort(-bm25, kind="stable")[:10]
        top = top[bm25[top] > 0]
        cand_only = part.dense_scores(qvec)   # dense mode: the nearest documents only
        outside += int((cand_only[top] != exact.dense_scores(qvec)[top]).sum())
        np.testing.assert_allclose(dense[top], exact.dense_scores(qvec)[top], atol=1e-5)
    assert outside > 0   # the case arises: some keyword matches are not among the dense candidates


def test_bm25_scores_are_those_of_bm25s(hash_embedder):
    corpus = synthetic_corpus(400, seed=4)
    index = SearchIndex.build(corpus, hash_embedder, IndexConfig())
    for q in corpus["title"].to_list()[:15]:
        exact, extra = index.query_terms(q)
        want = np.asarray(index._bm25.get_scores(exact), dtype=np.float32) if exact else np.zeros(corpus.height)
        if extra:
            want = want + index.config.expand_weight * np.asarray(index._bm25.get_scores(extra), dtype=np.float32)
        written = [t for t in surface_terms(q) if t in index._vocab]      # the words as written, beside the stems
        assert written
        want = want + index.config.surface_weight * np.asarray(index._bm25.get_scores(written), dtype=np.float32)
        np.testing.assert_allclose(index.bm25_scores(q), want, rtol=1e-5, atol=1e-6)


def test_hnsw_raw_search_matches_numpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 32)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    vids, sims = _HNSW(v).search(v[7], 5)
    assert vids[0] == 7 and sims[0] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(sims, v[vids] @ v[7], atol=1e-5)


def test_bad_config_is_refused():
    with pytest.raises(SearchError):
        IndexConfig(fusion="max")
    with pytest.raises(SearchError):
        IndexConfig(alpha=1.5)
    with pytest.raises(SearchError, match="norm"):
        IndexConfig(norm="minmax")
    with pytest.raises(SearchError, match="z_top"):
        IndexConfig(z_top=1)
    with pytest.raises(SearchError, match="example_top"):
        IndexConfig(example_top=0)
    with pytest.raises(SearchError, match="example_prior"):
        IndexConfig(example_prior=-0.1)


def test_example_prior_adds_the_z_scored_example_count_to_hybrid_only(hash_embedder):
    from assets.search.corpus import _frame

    counts = [0, 1, 3, 7]
    corpus = _frame([{"doc_id": f"d{i}", "doc_type": "scian_class", "ref": f"r{i}", "source": "t",
                      "title": "clase", "body": "", "examples": [f"ejemplo {i} {j}" for j in range(n)]}
                     for i, n in enumerate(counts)])
    plain = SearchIndex.build(corpus, hash_embedder, IndexConfig())
    prior = plain.with_config(example_prior=0.5)
    bm25, dense = plain.bm25_scores("clase"), plain.dense_scores(plain.embed_queries(["clase"])[0])
    v = np.log1p(np.array(counts, dtype=np.float64))
    np.testing.assert_allclose(prior.fuse(bm25, dense) - plain.fuse(bm25, dense), 0.5 * (v - v.mean()) / v.std(),
                               atol=1e-5)
    dense_only = [h.doc_id for h in prior.search("clase", "dense", 4)]
    assert dense_only == [h.doc_id for h in plain.search("clase", "dense", 4)]
    # no document with examples: no prior at all
    single = SearchIndex.build(corpus.with_columns(pl.Series("examples", [[]] * 4, dtype=pl.List(pl.Utf8))),
                               hash_embedder, IndexConfig(example_prior=0.5))
    np.testing.assert_array_equal(single.fuse(bm25[:4], dense[:4]), single.with_config(example_prior=0.0).fuse(
        bm25[:4], dense[:4]))


@pytest.mark.parametrize("top", [1, 2, 3, 5])
def test_example_top_averages_the_best_example_cosines(hash_embedder, top):
    # documents with 0, 1, 2 and 6 examples (two identical: a tie counts twice); the dense score is the own
    # text's cosine or the mean of the `top` best example cosines less the discount, whichever is higher
    from assets.search.corpus import _frame

    examples = [[], ["tortillas de maíz"], ["tortillería", "molino de nixtamal"],
                ["tortillas", "tortillas", "masa", "tortillas de harina", "pan", "comal"]]
    corpus = _frame([{"doc_id": f"d{i}", "doc_type": "scian_class", "ref": f"r{i}", "source": "t",
                      "title": f"clase {i}", "body": "", "examples": ex} for i, ex in enumerate(examples)])
    for kind in ("exact", "hnsw"):
        idx = SearchIndex.build(corpus, hash_embedder, IndexConfig(vector_index=kind, example_top=top,
                                                                   example_discount=0.1, depth=4))
        qvec = idx.embed_queries(["tortillas"])[0]
        got = idx.dense_scores(qvec)
        for i in range(len(examples)):
            sims = idx.vectors[idx.owners == i] @ qvec
            want = float(sims[0])
            if len(sims) > 1:
                want = max(want, float(np.sort(sims[1:])[::-1][:top].mean()) - 0.1)
            assert got[i] == pytest.approx(want, abs=1e-5), (kind, i)
        assert np.all(got <= 1.0 + 1e-6)


def test_benchmark_reports_build_and_latency(hash_embedder):
    report = run_benchmark(400, 20, hash_embedder, hnsw=True)
    assert report["build"]["documents"] == 400 and report["build"]["docs_per_s"] > 0
    assert set(report["latency"]) == {"exact", "binary", "hnsw"} and report["auto"]["vector_index"] == "exact"
    for kind in ("binary", "hnsw"):
        assert 0.5 <= report[f"{kind}_dense_overlap@10_vs_exact"] <= 1.0
        assert 0.5 <= report[f"{kind}_hybrid_overlap@10_vs_exact"] <= 1.0
    assert all(m["queries"] == 20 for m in report["latency"]["exact"].values())
