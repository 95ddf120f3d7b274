"""Real data: the SCIAN 2018 catalogue and a fixed slice of the RETC register answers (skipped without ../shared)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from assets.search.corpus import read_scian_csv, scian_documents
from assets.search.evaluation import read_queries, run_evaluation
from resources.embedder import Embedder

pytestmark = pytest.mark.realdata


def test_catalogue_has_the_1084_classes(shared_data):
    docs = scian_documents(read_scian_csv(shared_data / "catalogs" / "scian2018.csv"))
    assert docs.height == 1084 and docs["doc_id"].n_unique() == 1084
    assert docs.filter(docs["ref"] == "332810")["title"][0] == "Recubrimientos y terminados metálicos"


def test_hybrid_beats_keyword_on_a_fixed_slice(shared_data):
    queries = read_queries(shared_data / "coding" / "retc_scian_2008_2019.csv")
    keep = np.zeros(len(queries), dtype=bool)
    keep[random.Random(0).sample(range(len(queries)), 400)] = True
    report = run_evaluation(queries.subset(keep), read_scian_csv(shared_data / "catalogs" / "scian2018.csv"),
                            Embedder("use"), test_from=None, latency_sample=20)
    modes = report["catalogue_only"]["eval"]["modes"]
    assert modes["bm25"]["recall@10"] > 0.5 and modes["dense"]["recall@10"] > 0.5
    assert modes["hybrid"]["recall@10"] > modes["bm25"]["recall@10"]
    assert modes["hybrid"]["p95_ms"] < 1000


def test_everyday_names_point_to_classes_and_keep_the_policy(shared_data):
    from assets.search.corpus import names_sentence_of
    from assets.search.everyday import EVERYDAY_NAMES, redundant_names
    from assets.search.text import analyse

    docs = scian_documents(read_scian_csv(shared_data / "catalogs" / "scian2018.csv"))
    stems = {r: set(analyse(f"{t} {b.replace(names_sentence_of(b), '')}"))
             for r, t, b in docs.select("ref", "title", "body").iter_rows()}
    assert sorted(set(EVERYDAY_NAMES) - set(stems)) == []          # every code is a SCIAN 2018 class
    assert len(EVERYDAY_NAMES) >= 400
    assert redundant_names(stems) == []                            # no name the rules already find
