"""The coding engine as plain functions: normalisation, catalogues, thresholds, drift, back-off, bad input."""

import numpy as np
import polars as pl
import pytest

from assets.coding.catalog import CatalogError, load_catalog, scian_ciiu_entries
from assets.coding.config import ConfigError, load_config, parse_config
from assets.coding.engine import CodingEngine, EngineError, choose_threshold, load_engine, recency_weights
from assets.coding.evaluate import drift_summary, parse_years, prepare_training, score
from assets.coding.normalize import Normalizer, is_blank
from assets.ingestion.sample_data import CRIME_TYPES
from tests.coding.conftest import noisy_records


# ---------------------------------------------------------------- normalisation
def test_normalizer_folds_case_accents_abbreviations_and_company_forms():
    n = Normalizer()
    assert n.normalize("FAB. DE PZAS. Automotrices, S.A. de C.V.") == "fabricacion de piezas automotrices"
    assert n.normalize("Panadería   Ñandú!!") == "panaderia nandu"
    assert n.key(n.normalize("Venta de 25 kg de Pan")) == "venta 0 kg pan"
    assert is_blank("  --- ") and is_blank(None) and not is_blank("N/A")


# ---------------------------------------------------------------- configs and catalogues
def test_shipped_configs_load_with_their_catalogues():
    scian = load_config("scian")
    cat = load_catalog(scian)
    assert scian.levels == (2, 3, 4, 5, 6) and len(cat) > 1000
    assert cat.title("311812") and "211110" in cat  # SCIAN 2013 class kept through the config's extra codes
    crime = load_config("crime_types")
    assert set(load_catalog(crime).codes) == set(CRIME_TYPES)  # the demo's crime types, as configuration
    assert crime.levels == ()


def test_scian_ciiu_package_rows_collapse_into_one_entry_per_code():
    entries = scian_ciiu_entries()
    codes = [e.code for e in entries]
    assert len(codes) == len(set(codes)) > 1000
    car_dealers = next(e for e in entries if e.code == "468111")
    assert car_dealers.aliases  # CIIU descriptions kept as aliases for retrieval


def test_catalogue_with_duplicate_codes_is_refused_naming_code_and_rows(tmp_path):
    raw = {"name": "dup", "catalog": {"source": "inline", "codes": [
        {"code": "A", "title": "uno"}, {"code": "B", "title": "dos"}, {"code": "A", "title": "otra vez"}]}}
    with pytest.raises(CatalogError, match=r"duplicate codes.*A \(rows 1, 3\)"):
        load_catalog(parse_config(raw))
    csv = tmp_path / "cat.csv"
    csv.write_text("code,title\n11,Agricultura\n21,Minería\n11,Agricultura otra vez\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"11 \(rows 1, 3\)"):
        load_catalog(parse_config({"name": "dupcsv", "catalog": {"source": "csv", "path": str(csv)}}))
    clash = {"name": "clash", "catalog": {"source": "package", "package": "scian_ciiu",
                                          "extra": [{"code": "311812", "title": "Panificación"}]}}
    with pytest.raises(CatalogError, match="already in the catalogue"):
        load_catalog(parse_config(clash))


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="unknown engine setting"):
        parse_config({"name": "x", "catalog": {"source": "inline", "codes": [{"code": "A"}]}, "engine": {"Cee": 1}})
    with pytest.raises(ConfigError, match="catalog.source"):
        parse_config({"name": "x", "catalog": {"source": "web"}})
    with pytest.raises(ConfigError, match="unknown classification"):
        load_config("sinco_2099")


# ---------------------------------------------------------------- thresholds
def test_choose_threshold_reaches_target_precision_with_most_records():
    conf = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5])
    right = np.array([1, 1, 1, 1, 0, 1, 0, 0], dtype=bool)
    assert choose_threshold(conf, right, 0.95, min_count=1) == 0.85       # 4/4 right above 0.85
    assert choose_threshold(conf, right, 0.8, min_count=1) == 0.7         # 5/6 right
    assert choose_threshold(conf, right, 0.95, min_count=5) is None       # too few records reach it
    assert choose_threshold(np.array([0.9, 0.9, 0.9]), np.array([1, 1, 0], dtype=bool), 0.95, 1) is None  # ties


def test_threshold_is_chosen_on_the_latest_period_of_the_training_data(scian_like_config):
    data = noisy_records(900)
    engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
    report = engine.fit(data)
    # validation_fraction 0.2 and six equal years: the two latest years (one alone is only 1/6)
    assert report.validation_by == "time (latest periods: 2019, 2020)"
    assert report.n_validation == int((data.get_column("time") >= 2019).sum()) == 300
    assert 0 < report.threshold < 1
    val = report.validation
    assert val["auto_precision"] >= 0.95 and 0.3 < val["auto_share"] < 1  # out-of-fold, on validation only
    # on fresh records of the same kind the chosen threshold holds its precision (within noise)
    fresh = noisy_records(1500, seed=99)
    pred = engine.predict(fresh.get_column("text").to_list())
    right = np.array(pred.top1) == np.array(fresh.get_column("code").to_list())
    assert right[pred.auto].mean() >= 0.9 and 0.3 < pred.auto.mean() < 0.95
    assert right[~pred.auto].mean() < right[pred.auto].mean()  # doubtful records are the ambiguous ones
    assert engine.threshold == report.threshold  # predicting never moves the threshold


def test_backoff_offers_the_reliable_prefix_when_the_class_is_doubtful(scian_like_config):
    engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
    engine.fit(noisy_records(900))
    pred = engine.predict(["panificacion industrial y panaderia tradicional"] * 2 + ["carniceria"])
    assert not pred.auto[0] and pred.backoff_code[0] == "3118" and pred.backoff_level[0] == 4
    assert set(pred.codes[0][:2]) == {"311811", "311812"}
    assert pred.auto[2] and pred.top1[2] == "461121" and pred.backoff_code[2] is None


# ---------------------------------------------------------------- label drift
def drift_config(**engine):
    """A four-code classification for the label-drift tests (engine settings overridable)."""
    return parse_config({"name": "drift", "levels": [2, 4, 6], "engine": {"validation_fraction": 0.1, **engine},
                         "catalog": {"source": "inline", "codes": [
                             {"code": c, "title": ""} for c in ("312111", "312112", "811111", "461110")]}})


def test_recency_weighting_follows_a_code_that_changed_meaning():
    rows = [("purificadora de agua", "312112", 2008 + i % 6) for i in range(60)]     # old practice
    rows += [("purificadora de agua", "312111", 2014) for _ in range(12)]           # new edition
    rows += [(t, c, 2008 + i % 7) for i in range(40) for t, c in
             (("taller mecanico", "811111"), ("tienda de abarrotes", "461110"))]
    df = pl.DataFrame(rows, schema={"text": pl.Utf8, "code": pl.Utf8, "time": pl.Float64}, orient="row")

    recent = CodingEngine(drift_config(), None)
    recent.fit(df)
    assert recent.predict(["purificadora de agua"]).top1 == ["312111"]
    flat = CodingEngine(drift_config(recency_tau=None), None)
    flat.fit(df)
    assert flat.predict(["purificadora de agua"]).top1 == ["312112"]  # without recency the old majority wins
    assert recency_weights(np.array([2014.0, 2013.0, np.nan]), 0.5)[:2].round(4).tolist() == [1.0, 0.1353]


def test_recency_tau_and_c_are_chosen_on_the_latest_training_period():
    # the new code took over in 2012: a model fitted up to 2013 codes 2014 right only with recency
    rows = [("purificadora de agua", "312112", 2008 + i % 4) for i in range(80)]      # old practice
    rows += [("purificadora de agua", "312111", 2012 + i % 3) for i in range(18)]     # new practice
    rows += [(t, c, 2008 + i % 7) for i in range(150) for t, c in
             (("taller mecanico", "811111"), ("tienda de abarrotes", "461110"))]
    df = pl.DataFrame(rows, schema={"text": pl.Utf8, "code": pl.Utf8, "time": pl.Float64}, orient="row")

    for taus in ([None, 0.5], [0.5, None]):   # the winner, not the first candidate
        engine = CodingEngine(drift_config(recency_tau=None, recency_taus=taus, Cs=[0.5, 1.0]), None)
        report = engine.fit(df)
        grid = {(g["recency_tau"], g["C"]): g["accuracy"] for g in report.validation["hyperparameter_grid"]}
        assert grid[(0.5, 0.5)] > grid[(None, 0.5)]
        # coordinate search: both taus at the configured C, then the other C only at the winning tau
        assert set(grid) == {(None, 0.5), (0.5, 0.5), (0.5, 1.0)}
        assert engine.settings.recency_tau == 0.5 and report.validation["recency_tau"] == 0.5
        assert engine.predict(["purificadora de agua"]).top1 == ["312111"]
    assert report.validation_by == "time (latest period: 2014)"
    with pytest.raises(ConfigError, match="recency_taus"):
        drift_config(recency_taus=[0.5, -1.0])


# ---------------------------------------------------------------- bad input
def test_empty_text_is_never_coded():
    cfg = load_config("crime_types")
    engine = CodingEngine(cfg, load_catalog(cfg))
    texts = ["me robaron el celular en la calle", "mi pareja me golpea", "me amenazo de muerte mi vecino"] * 20
    codes = ["ROBO_TRANSEUNTE", "VIOLENCIA_FAMILIAR", "AMENAZAS"] * 20
    report = engine.fit(pl.DataFrame({"text": texts, "code": codes}))
    # 60 records leave a 6-record validation split: too small to trust a threshold, so nothing is auto
    assert report.threshold is None and "every record goes to review" in report.notes[0]
    pred = engine.predict(["", "   ", None, "me robaron el celular"])
    frame = pred.to_frame()
    assert frame.get_column("decision").to_list() == ["invalid", "invalid", "invalid", "manual"]
    assert frame.get_column("code").to_list() == [None, None, None, "ROBO_TRANSEUNTE"]
    assert frame.get_column("invalid_reason").to_list()[:3] == ["empty_text"] * 3
    with pytest.raises(EngineError, match="empty text at rows \\[1\\]"):
        engine.fit(pl.DataFrame({"text": ["robo", " ", "golpes"], "code": ["ROBO_CASA", "LESIONES", "LESIONES"]}))


def test_training_rows_with_unknown_or_missing_codes_are_recorded_invalid():
    cfg = load_config("crime_types")
    df = pl.DataFrame({"row": [1, 2, 3, 4], "text": ["robo de auto", "", "golpes", "fraude bancario"],
                       "code": ["ROBO_VEHICULO", "LESIONES", "SECUESTRO_EXPRESS", None]})
    prepared = prepare_training(df, cfg, load_catalog(cfg))
    assert prepared.records.get_column("row").to_list() == [1]
    assert dict(zip(prepared.invalid.get_column("row"), prepared.invalid.get_column("reason"))) == {
        2: "empty_text", 3: "unknown_code", 4: "missing_code"}
    assert prepared.invalid_counts() == {"empty_text": 1, "unknown_code": 1, "missing_code": 1}


# ---------------------------------------------------------------- retrieval, persistence, metrics
def test_catalogue_retrieval_offers_codes_without_examples(scian_like_config):
    engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
    engine.fit(noisy_records(600))
    pred = engine.predict(["restaurantes con servicio de preparacion de tacos y tortas"])
    assert "722514" in pred.codes[0]          # no training example, found by its title
    assert not pred.auto[0]                   # never auto-coded: the model has no evidence for it


def test_saved_model_predicts_the_same(tmp_path, scian_like_config):
    engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
    engine.fit(noisy_records(600))
    engine.save(tmp_path / "m")
    again = load_engine(tmp_path / "m")
    texts = ["panaderia tradicional", "miscelanea de barrio", "carniceria y abarrotes"]
    a, b = engine.predict(texts), again.predict(texts)
    assert a.codes == b.codes and np.allclose(a.confidence, b.confidence) and (a.auto == b.auto).all()


def test_score_by_level_and_year_ranges():
    m = score(["311812", "461110", "461121"], ["311811", "461110", "461110"], np.array([0, 1, 1], bool), [2, 4, 6])
    assert m["accuracy_by_level"] == {"2": 1.0, "4": 1.0, "6": 0.3333}
    assert m["auto_share"] == 0.6667 and m["auto_precision"] == 0.5
    assert parse_years("2008-2010,2012") == {2008, 2009, 2010, 2012}


def test_drift_summary_compares_test_codes_with_the_latest_training_code():
    train = pl.DataFrame({"text": ["Fabrica de tornillos", "fabrica de TORNILLOS", "Panaderia", "Panadería"],
                          "code": ["332720", "339999", "311812", "311812"], "time": [2013.0, 2014.0, 2013.0, 2013.0]})
    test = ["fábrica de tornillos", "panaderia", "Venta de autos", None]
    y = ["339999", "311811", "468111", "311812"]
    pred = ["339999", "311812", "468111", None]
    d = drift_summary(train, test, y, pred, Normalizer().normalize)
    # tornillos: latest training code (2014) is 339999 = test code; panaderia: 311812 != 311811
    assert d["n_seen"] == 2 and d["n_new"] == 2 and d["seen_share"] == 0.5
    assert d["seen_same_code_share"] == 0.5
    assert d["accuracy_seen"] == 0.5 and d["accuracy_new"] == 0.5   # the blank text counts as new and wrong


def test_fitting_twice_on_the_same_records_gives_the_same_model(scian_like_config):
    data = noisy_records(600)
    texts = noisy_records(200, seed=5).get_column("text").to_list()
    runs = []
    for _ in range(2):
        engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
        report = engine.fit(data)
        runs.append((report.threshold, engine.predict(texts)))
    (t1, a), (t2, b) = runs
    assert t1 == t2 and a.codes == b.codes and np.array_equal(a.confidence, b.confidence)


# ---------------------------------------------------------------- prediction fast paths
def test_char_ngrams_by_distinct_word_equal_sklearn_transform():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from assets.coding.features import char_wb_transform

    train = ["panaderia tradicional", "fabricacion de piezas automotrices", "a b c", "taller mecanico de autos"]
    texts = [*train, "", "   ", "x", "zz  qq\tx de", "nandu <script>alert(1)</script> ' \" ; drop", "y" * 300,
             "panaderia panaderia panaderia", "ano 2019 n", "fabricacion\npiezas"]
    for sublinear in (True, False):
        vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=sublinear, dtype=np.float32)
        vec.fit(train)
        want, got = vec.transform(texts), char_wb_transform(vec, texts)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.nnz == want.nnz and abs(got - want).max() == 0.0


def test_decision_scores_equal_the_linear_svm_and_old_saved_models_still_predict(scian_like_config):
    from scipy import sparse
    from sklearn.svm import LinearSVC

    engine = CodingEngine(scian_like_config, load_catalog(scian_like_config))
    engine.fit(noisy_records(600))
    base = engine.base
    texts = ["panaderia tradicional", "miscelanea de barrio", "carniceria y abarrotes", "zzz"]
    ctx = ["", "state=jalisco", "", ""]
    # the same scores sklearn's decision_function gives with the same weights
    svm = LinearSVC()
    svm.coef_, svm.intercept_, svm.classes_ = base.W.T.astype(np.float64), base.b.astype(np.float64), base.classes
    blocks = [sparse.hstack([base.char.transform(texts), base.word.transform(texts)])]
    if base.ctx is not None:
        blocks.append(base.ctx.transform(ctx) * base.s.context_weight)
    want = svm.decision_function(sparse.hstack(blocks).tocsr())
    assert np.allclose(base.decision(texts, ctx), want, atol=1e-5)
    before = engine.predict(texts, ctx)
    # a model saved before the weights were kept as W, b (it holds the fitted LinearSVC): still predicts the same
    base.svm = svm
    del base.W, base.b
    after = engine.predict(texts, ctx)
    assert after.codes == before.codes and np.allclose(after.confidence, before.confidence, atol=1e-6)
    assert hasattr(base, "W") and not hasattr(base, "svm")


def test_best_match_is_scipy_max_and_first_argmax_per_row():
    from scipy import sparse

    from assets.coding.memory import _best_match

    rng = np.random.default_rng(0)
    for trial in range(100):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        S = sparse.random(n, m, density=float(rng.random()), random_state=trial, format="csr")
        S.data = np.round(S.data * 3) / 3   # ties between columns
        S.eliminate_zeros()
        sim, arg = _best_match(S)
        np.testing.assert_allclose(sim, np.asarray(S.max(axis=1).todense()).ravel())
        assert (arg == np.asarray(S.argmax(axis=1)).ravel()).all(), trial
