"""``fmlake coding`` commands: evaluate on a slice of the real RETC file, train/predict round trip, bad input."""

import json

import polars as pl
import pytest
from click.testing import CliRunner

from pipelines.cli.coding import cli

REQUIRED_KEYS = {"accuracy", "accuracy_by_level", "auto_share", "auto_precision", "macro_f1", "train_seconds",
                 "predict_rows_per_second", "n_train", "n_test"}


@pytest.fixture
def retc_slice(shared_data, tmp_path):
    """A small slice of the real RETC benchmark: 2012-2014 for training (of the 40 most frequent codes) and
    2017 for testing, as two CSV files and as one file (for the --train-years/--test-years form)."""
    path = shared_data / "coding" / "retc_scian_2008_2019.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    df = pl.read_csv(path, infer_schema_length=0)
    top = df.group_by("code").len().sort("len", descending=True).head(40).get_column("code")
    df = df.filter(pl.col("code").is_in(top.implode()))
    train = df.filter(pl.col("year").is_in(["2012", "2013", "2014"])).sample(n=2500, seed=1)
    test = df.filter(pl.col("year") == "2017").head(600)
    paths = {"train": tmp_path / "train.csv", "test": tmp_path / "test.csv", "both": tmp_path / "both.csv"}
    train.write_csv(paths["train"])
    test.write_csv(paths["test"])
    pl.concat([train, test]).write_csv(paths["both"])
    return paths, train.height, test.height


def invoke(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result


def test_evaluate_prints_the_metrics_on_a_slice_of_retc(retc_slice):
    paths, n_train, n_test = retc_slice
    result = invoke(["evaluate", "--train", str(paths["train"]), "--test", str(paths["test"]), "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.output)
    assert REQUIRED_KEYS <= set(m)
    assert m["n_train"] == n_train and m["n_test"] == n_test
    assert set(m["accuracy_by_level"]) == {"2", "3", "4", "5", "6"}
    assert m["accuracy_by_level"]["2"] >= m["accuracy_by_level"]["4"] >= m["accuracy"] > 0.4
    assert 0 <= m["auto_share"] <= 1 and m["train_seconds"] > 0 and m["predict_rows_per_second"] > 100
    assert m["validation"]["by"] == "time (latest period: 2014)"  # threshold from training years only
    d = m["drift"]
    assert d["n_seen"] + d["n_new"] == n_test and 0 < d["seen_share"] < 1
    assert 0 < d["seen_same_code_share"] < 1   # RETC: repeated texts do not always keep their code
    assert m["command"]["time_col"] == "year"
    assert m["classification"] == "scian"  # detected: the SCIAN catalogue lists every code of the file
    plain = json.loads(invoke(["evaluate", "--train", str(paths["train"]), "--test", str(paths["test"]),
                               "--classification", "none", "--json"]).output)
    assert plain["classification"] == "generic" and plain["command"]["context_cols"] == []
    assert set(plain["accuracy_by_level"]) == {"2", "3", "4", "5", "6"}  # digit codes: levels by prefix


def test_evaluate_splits_one_file_by_years(retc_slice):
    paths, n_train, n_test = retc_slice
    result = invoke(["evaluate", "--train", str(paths["both"]), "--test", str(paths["both"]),
                     "--train-years", "2012-2014", "--test-years", "2017", "--classification", "scian", "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.output)
    assert m["n_train"] + sum(m["n_train_invalid"].values()) == n_train and m["n_test"] == n_test
    assert m["classification"] == "scian" and m["command"]["context_cols"] == ["state", "municipality"]


def test_evaluate_time_splits_prints_one_row_per_split(retc_slice):
    paths, _, n_test = retc_slice
    result = invoke(["evaluate", "--train", str(paths["both"]), "--time-splits", "2013:2014,2014:2017",
                     "--classification", "scian", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["split"]["label"] for r in rows] == ["<=2013 -> 2014", "<=2014 -> 2017"]
    assert rows[1]["n_test"] == n_test and rows[0]["n_train"] < rows[1]["n_train"]
    for r in rows:
        assert {"oracle_auto_share", "calibration_efficiency", "train_seconds"} <= set(r)
        assert r["validation"]["by"].startswith("time (latest")   # the threshold from training years only
    table = invoke(["evaluate", "--train", str(paths["both"]), "--time-splits", "2014:2017", "--classification",
                    "scian"])
    assert table.exit_code == 0, table.output
    header, row = table.output.strip().splitlines()[-2:]
    assert header.split()[:4] == ["split", "n_train", "n_test", "accuracy"] and "calibration_efficiency" in header
    assert row.startswith("<=2014 -> 2017")
    for bad, said in (("2014", "LAST_TRAIN_YEAR:TEST_YEARS"), ("2017:2014", "must come after 2017")):
        out = invoke(["evaluate", "--train", str(paths["both"]), "--time-splits", bad])
        assert out.exit_code != 0 and said in out.output and "Traceback" not in out.output
    both = invoke(["evaluate", "--train", str(paths["both"]), "--test", str(paths["both"]), "--time-splits", "2014:2017"])
    assert both.exit_code == 2 and "--time-splits" in both.output
    assert invoke(["evaluate", "--train", str(paths["both"])]).exit_code == 2   # neither --test nor --time-splits


def test_evaluate_replays_the_threshold_reestimation_beside_unchanged_figures(retc_slice):
    paths, _, n_test = retc_slice
    args = ["evaluate", "--train", str(paths["train"]), "--test", str(paths["test"]), "--json"]
    plain = json.loads(invoke(args).output)
    result = invoke([*args, "--reestimate-batches", "3", "--audit-rate", "0.1", "--reestimate-repeats", "3",
                     "--reestimate-min-decisions", "5"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.output)
    sim = m.pop("reestimation")
    # the main figures are the fit's threshold's, as without the replay (two fits agree to float noise only)
    assert set(m) == set(plain)
    for key in ("accuracy", "accuracy_by_level", "auto_share", "auto_precision", "oracle_auto_share",
                "calibration_efficiency", "n_train", "n_test", "drift", "backoff"):
        assert m[key] == plain[key], key
    assert m["threshold"] == pytest.approx(plain["threshold"], abs=1e-4)
    batches = sim["per_batch"]
    assert [b["batch"] for b in batches] == [1, 2, 3] and sum(b["n"] for b in batches) == n_test
    assert batches[0]["threshold"] == m["threshold"] == sim["fit_threshold"] and sim["audit_rate"] == 0.1
    assert all(b["threshold_source"] == "review" for b in batches[1:])
    later, fit = sim["later_batches"], sim["later_batches_fit_threshold"]
    assert later["n"] == fit["n"] == n_test - batches[0]["n"]
    assert later["oracle_auto_share"] == fit["oracle_auto_share"]   # the same rows, the same oracle
    assert {"auto_share", "auto_precision", "calibration_efficiency"} <= set(later)
    assert sim["repeats"]["seeds"] == [0, 1, 2] and sim["min_decisions"] == 5
    table = invoke(["evaluate", "--train", str(paths["both"]), "--time-splits", "2014:2017", "--classification",
                    "scian", "--reestimate-batches", "4"])
    assert table.exit_code == 0, table.output
    text = table.output
    assert "split <=2014 -> 2017: threshold re-estimated from decisions: 4 batches (seed 0), audit rate 0.02" in text
    assert "re-estimated once 200 records are decided" in text
    assert "batches 2..N" in text and "re-estimated" in text and "fit's" in text


def test_evaluate_refuses_bad_replay_settings_before_training(retc_slice):
    paths, _, n_test = retc_slice
    one = ["evaluate", "--train", str(paths["train"]), "--test", str(paths["test"])]
    for bad in ("0", "1", "-3"):
        out = invoke([*one, "--reestimate-batches", bad])
        assert out.exit_code != 0 and "--reestimate-batches must be at least 2" in out.output
        assert "Traceback" not in out.output
    many = invoke([*one, "--reestimate-batches", str(n_test + 1)])
    assert many.exit_code != 0 and f"more than the {n_test} test rows" in many.output
    assert "split" not in many.output   # refused before training (nothing logged)
    splits = invoke(["evaluate", "--train", str(paths["both"]), "--time-splits", "2013:2014,2014:2017",
                     "--reestimate-batches", str(n_test + 1)])
    assert splits.exit_code != 0 and "time split <=2014 -> 2017" in splits.output
    assert "training on" not in splits.output   # no split trained before the bad one was found
    rate = invoke([*one, "--reestimate-batches", "3", "--audit-rate", "0"])
    assert rate.exit_code != 0 and "--audit-rate must be in (0, 1]" in rate.output
    for alone in (["--audit-rate", "0.1"], ["--reestimate-repeats", "3"]):
        out = invoke([*one, *alone])
        assert out.exit_code == 2 and "give --reestimate-batches" in out.output


def test_evaluate_needs_only_text_and_code_in_the_test_file(retc_slice, tmp_path):
    paths, n_train, n_test = retc_slice
    bare = tmp_path / "bare.csv"
    pl.read_csv(paths["test"], infer_schema_length=0).select("text", "code").write_csv(bare)
    result = invoke(["evaluate", "--train", str(paths["train"]), "--test", str(bare), "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.output)
    assert m["n_test"] == n_test and m["accuracy"] > 0.4
    assert m["notes"] == ["the test file has no column(s) ['state', 'municipality']: its records were coded "
                          "without that context"]
    # what the user asks for explicitly must be there
    named = invoke(["evaluate", "--train", str(paths["train"]), "--test", str(bare), "--context-cols", "state"])
    assert named.exit_code != 0 and "bare.csv: missing column(s) ['state']" in named.output
    years = invoke(["evaluate", "--train", str(paths["train"]), "--test", str(bare), "--test-years", "2017"])
    assert years.exit_code != 0 and "missing column(s) ['year']" in years.output


def test_evaluate_records_bad_training_rows_and_names_missing_columns(tmp_path):
    rows = ["text,code,year"] + [f"taller mecanico {i},811111,2020" for i in range(40)] + \
        [f"tienda de abarrotes {i},461110,2021" for i in range(40)] + [",461110,2021", "venta de tacos,99999X,2021"]
    train = tmp_path / "train.csv"
    train.write_text("\n".join(rows) + "\n", encoding="utf-8")
    test = tmp_path / "test.csv"
    test.write_text("text,code,year\ntaller mecanico,811111,2022\n,461110,2022\n", encoding="utf-8")
    result = invoke(["evaluate", "--train", str(train), "--test", str(test), "--classification", "scian", "--json"])
    assert result.exit_code == 0, result.output
    m = json.loads(result.output)
    assert m["n_train_invalid"] == {"empty_text": 1, "unknown_code": 1} and m["n_train"] == 80
    assert m["n_test_invalid"] == 1 and m["accuracy"] == 0.5  # the empty test text counts as not coded
    bad = invoke(["evaluate", "--train", str(train), "--test", str(test), "--text-col", "descripcion", "--json"])
    assert bad.exit_code != 0 and "missing column(s) ['descripcion']" in bad.output


def write_coded(path, header, n, line):
    """A coded CSV: ``n`` bakeries (311812) then ``n`` butchers (461121), each row ``line(i, text, code)``."""
    rows = [line(i, f"panaderia tradicional {i % 3}", "311812") for i in range(n)] + \
        [line(100 + i, f"carniceria {i % 3}", "461121") for i in range(n)]
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_train_then_predict_round_trip(tmp_path):
    data = write_coded(tmp_path / "coded.csv", "id,text,code,year", 60,
                       lambda i, text, code: f"{i},{text},{code},{2018 + i % 3}")
    out = tmp_path / "model"
    result = invoke(["train", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "model.pkl").exists() and (out / "metrics.json").exists()
    todo = tmp_path / "todo.csv"
    todo.write_text("id,text\n1,panaderia\n2,carniceria del mercado\n3,\n", encoding="utf-8")
    coded = tmp_path / "coded_out.csv"
    result = invoke(["predict", "--model", str(out), "--input", str(todo), "--output", str(coded), "--id-col", "id"])
    assert result.exit_code == 0, result.output
    df = pl.read_csv(coded, infer_schema_length=0)
    assert df.get_column("code").to_list() == ["311812", "461121", None]
    assert df.get_column("decision").to_list()[2] == "invalid"
    assert json.loads(result.output)["decisions"]["invalid"] == 1


def test_classifications_lists_the_shipped_configs():
    result = invoke(["classifications"])
    assert result.exit_code == 0 and "scian" in result.output and "crime_types" in result.output


BAD_CSV = {  # name -> (bytes, what the message must say besides the file name)
    "unterminated.csv": ('text,state\n"panaderia, JALISCO\nfoo,bar\n'.encode(),
                         "line 2: a quoted field is never closed"),
    "ragged.csv": (b"text,state\npan,JALISCO,Guadalajara,x\n", "line 2 has 4 fields, the header has 2"),
    "latin1.csv": ("text,state\npanader\u00eda,JALISCO\n".encode("latin-1"), "re-save it as UTF-8"),
    "empty.csv": (b"", "the file is empty"),
}


def assert_clean_error(result, *expected):
    """A non-zero exit with a one-line Click error naming what went wrong, never a Python traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and result.output.startswith("Error: "), result.output
    for text in expected:
        assert text in result.output, result.output


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small_model")
    data = write_coded(folder / "coded.csv", "text,code", 40, lambda i, text, code: f"{text},{code}")
    result = invoke(["train", "--data", str(data), "--out", str(folder / "model"), "--classification", "none"])
    assert result.exit_code == 0, result.output
    return folder / "model", data


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_bad_csv_files_give_a_clear_error_in_every_command(name, small_model, tmp_path):
    model, good = small_model
    body, said = BAD_CSV[name]
    bad = tmp_path / name
    bad.write_bytes(body)
    out = str(tmp_path / "coded.csv")
    assert_clean_error(invoke(["predict", "--model", str(model), "--input", str(bad), "--output", out]), name, said)
    assert_clean_error(invoke(["train", "--data", str(bad), "--out", str(tmp_path / "m")]), name, said)
    assert_clean_error(invoke(["train", "--data", str(bad), "--out", str(tmp_path / "m"), "--classification",
                               "none"]), name, said)
    assert_clean_error(invoke(["evaluate", "--train", str(good), "--test", str(bad), "--classification", "none"]),
                       name, said)
    assert_clean_error(invoke(["evaluate", "--train", str(bad), "--test", str(good)]), name, said)


def test_predict_refuses_an_output_folder_that_does_not_exist(small_model, tmp_path):
    model, _ = small_model
    todo = tmp_path / "todo.csv"
    todo.write_text("text\npanaderia\n", encoding="utf-8")
    target = tmp_path / "no_such_folder" / "coded.csv"
    result = invoke(["predict", "--model", str(model), "--input", str(todo), "--output", str(target)])
    assert_clean_error(result, str(target), "does not exist")


def test_predict_refuses_an_id_col_named_like_an_output_column(small_model, tmp_path):
    model, _ = small_model
    todo = tmp_path / "todo.csv"
    todo.write_text("code,text\nA1,panaderia\n", encoding="utf-8")
    out = tmp_path / "coded.csv"
    result = invoke(["predict", "--model", str(model), "--input", str(todo), "--output", str(out),
                     "--id-col", "code"])
    assert_clean_error(result, "--id-col 'code'", "todo.csv", "output column")
    assert not out.exists()


def test_predict_without_the_context_columns_codes_with_a_note(tmp_path):
    data = write_coded(tmp_path / "coded.csv", "text,code,state", 40,
                       lambda i, text, code: f"{text},{code},{'JALISCO' if code == '311812' else 'SONORA'}")
    model = tmp_path / "model"
    assert invoke(["train", "--data", str(data), "--out", str(model), "--classification", "none",
                   "--context-cols", "state"]).exit_code == 0
    todo = tmp_path / "todo.csv"
    todo.write_text("text\npanaderia\ncarniceria\n", encoding="utf-8")   # no state column
    out = tmp_path / "out.csv"
    result = invoke(["predict", "--model", str(model), "--input", str(todo), "--output", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows"] == 2 and "['state']" in summary["notes"][0]
    assert pl.read_csv(out, infer_schema_length=0).get_column("code").to_list() == ["311812", "461121"]
