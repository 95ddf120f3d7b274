"""The coding assets in-process on the sample data: end to end, idempotent reruns, a classification defined by
a YAML file only, review feedback that retrains (new model version), the feedback sensor, definitions."""

import json
from pathlib import Path

import dagster as dg
import polars as pl

from assets.coding import defs as coding
from assets.ingestion.sample_data import CRIME_TYPES
from lakehouse import get_table
from tests.coding.conftest import coding_defs, run_coding

ASSETS = ["coding_feedback", "coding_training_set", "coding_models", "coding_thresholds", "coded_records",
          "coding_review_queue", "coding_quality"]


def read(resources, key):
    return resources["lakehouse"].lakehouse.read(get_table(key))


def config_for_all(**cfg) -> dict:
    return {"ops": {f"{layer}__{name}": {"config": cfg} for layer, name in [
        ("silver", "coding_feedback"), ("silver", "coding_training_set"), ("gold", "coding_models"),
        ("gold", "coding_thresholds"), ("gold", "coded_records"), ("gold", "coding_review_queue"), ("gold", "coding_quality")]}}


def checks(results, name):
    return [e.event_specific_data for r in results for e in r.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == name]


def test_sample_data_is_coded_end_to_end(sample_lake):
    resources, instance, _ = sample_lake
    lh = resources["lakehouse"].lakehouse
    coded = read(resources, "gold.coded_records")
    uncoded = {
        "crime_types": read(resources, "silver.crime_narratives").get_column("crime_code").is_null().sum(),
        "scian": read(resources, "silver.economic_activity_text").get_column("code").is_null().sum(),
    }
    got = dict(coded.group_by("classification").len().iter_rows())
    assert got == uncoded and all(n > 100 for n in got.values())  # every uncoded record, once
    assert set(coded.get_column("decision").unique()) <= {"auto", "manual", "invalid", "human"}
    auto = coded.filter(pl.col("decision") == "auto")
    assert auto.height > 0.5 * coded.height and auto.get_column("code").null_count() == 0
    crime = coded.filter(pl.col("classification") == "crime_types")
    assert set(crime.get_column("code").drop_nulls()) <= set(CRIME_TYPES)
    scian = coded.filter(pl.col("classification") == "scian")
    assert scian.get_column("code_title").null_count() == 0 and scian.get_column("candidate_2").null_count() == 0
    assert scian.get_column("candidate_5").null_count() == 0     # the top 5 the coder's workbench offers

    models = read(resources, "gold.coding_models")
    assert models.height == 2 and models.get_column("is_current").all()
    for row in models.iter_rows(named=True):
        folder = Path(row["artifact_path"])
        assert folder.is_relative_to(Path(lh.root) / "models" / "coding" / row["classification"])
        assert (folder / "model.pkl").exists()
        meta = json.loads((folder / "config.json").read_text())
        assert meta["config_hash"] == row["config_hash"] and meta["version"] == row["model_version"]
        assert json.loads((folder / "metrics.json").read_text())["validation"]["accuracy"] == row["val_accuracy"]
        assert row["val_accuracy"] > 0.9  # the sample's templates are easy; a broken model would not be

    queue = read(resources, "gold.coding_review_queue")
    manual = coded.filter(pl.col("decision") == "manual").height
    assert queue.filter(pl.col("reason") == "low_confidence").height == manual
    # the queue offers the same five candidates as gold.coded_records (the workbench and the CSV show them)
    cands = [f"candidate_{j}" for j in range(2, 6)]
    joined = queue.join(coded.select("classification", "record_id", *[pl.col(c).alias(f"coded_{c}") for c in cands]),
                        on=["classification", "record_id"], how="inner")
    assert joined.height == queue.height
    for c in cands:
        assert joined.get_column(c).equals(joined.get_column(f"coded_{c}"), check_names=False), c
    assert queue.get_column("candidate_5").null_count() < queue.height
    export = Path(lh.root) / "exports" / "coding_review" / "scian_queue.csv"
    assert export.exists() and {"code", *cands} <= set(pl.read_csv(export).columns)
    quality = read(resources, "gold.coding_quality")
    assert set(quality.filter(pl.col("classification") == "scian").get_column("level")) == {"2", "3", "4", "5", "6"}

    # idempotent: rerunning the coding group on unchanged data reuses the models and rewrites the same rows
    versions = dict(models.select("classification", "model_version").iter_rows())
    results = run_coding(resources, instance, ingest=False)
    again = read(resources, "gold.coding_models")
    assert dict(again.select("classification", "model_version").iter_rows()) == versions and again.height == 2
    assert read(resources, "gold.coded_records").drop("coded_at").sort("classification", "record_id").equals(
        coded.drop("coded_at").sort("classification", "record_id"))
    first_check = checks(results, "model_quality_vs_previous")
    assert len(first_check) == 1 and first_check[0].passed


def test_a_classification_defined_only_by_yaml_runs_end_to_end(sample_lake, tmp_path):
    resources, instance, _ = sample_lake
    yaml = tmp_path / "robos.yaml"
    # only the three robbery types: narratives coded with another type cannot train (unknown_code)
    yaml.write_text("""
name: robos
title: Robos (subset of crime types)
levels: []
catalog:
  source: inline
  codes:
    - {code: ROBO_TRANSEUNTE, title: "Robo a transeúnte"}
    - {code: ROBO_VEHICULO, title: "Robo de vehículo"}
    - {code: ROBO_CASA, title: "Robo a casa habitación"}
source: {table: silver.crime_narratives, id: record_id, text: narrative, code: crime_code, time: reported_date}
engine: {validation_fraction: 0.15}
""", encoding="utf-8")
    run_coding(resources, instance, run_config=config_for_all(classifications=[str(yaml)]), ingest=False)
    training = read(resources, "silver.coding_training_set").filter(pl.col("classification") == "robos")
    valid = training.filter(pl.col("status") == "valid")
    assert set(valid.get_column("code")) == {"ROBO_TRANSEUNTE", "ROBO_VEHICULO", "ROBO_CASA"}
    assert set(training.filter(pl.col("status") == "invalid").get_column("invalid_reason")) == {"unknown_code"}
    coded = read(resources, "gold.coded_records")
    assert set(coded.get_column("classification")) == {"robos"}
    assert set(coded.get_column("code").drop_nulls()) <= {"ROBO_TRANSEUNTE", "ROBO_VEHICULO", "ROBO_CASA"}
    models = read(resources, "gold.coding_models")
    assert models.filter(pl.col("is_current")).get_column("classification").sort().to_list() == [
        "crime_types", "robos", "scian"]


def test_review_feedback_is_merged_and_retrains_a_new_model_version(sample_lake):
    resources, instance, landing = sample_lake
    models = read(resources, "gold.coding_models")
    before = dict(models.select("classification", "model_version").iter_rows())
    queue = read(resources, "gold.coding_review_queue")
    coded = read(resources, "gold.coded_records").filter(pl.col("classification") == "crime_types")
    picked = coded.head(6)
    feedback = landing / "coding_feedback"
    feedback.mkdir()
    rows = ["classification,record_id,code,coder,reviewed_at,suggested_code,reason,model_version"]
    for r in picked.iter_rows(named=True):  # the coder disagrees with the model on every one of them
        human = "FRAUDE" if r["code"] != "FRAUDE" else "EXTORSION"
        rows.append(f"crime_types,{r['record_id']},{human},ana,2026-11-20T10:00:00,{r['code']},audit,"
                    f"{r['model_version']}")
    rows.append("crime_types,CN-99-99999,FRAUDE,ana,2026-11-20T10:00:00,,,")                # no such record
    rows.append(f"crime_types,{coded.row(10, named=True)['record_id']},ROBO_DE_BANCO,ana,2026-11-20,,,")  # unknown code
    (feedback / "revision-ana.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (feedback / "sin-columnas.csv").write_text("id,codigo\n1,FRAUDE\n", encoding="utf-8")

    results = run_coding(resources, instance, ingest=False)

    fb = read(resources, "silver.coding_feedback")
    assert fb.filter(pl.col("status") == "valid").height == 6
    assert dict(fb.filter(pl.col("status") == "invalid").select("record_id", "invalid_reason").iter_rows()) == {
        "CN-99-99999": "unknown_record", coded.row(10, named=True)["record_id"]: "unknown_code"}
    assert not (feedback / "sin-columnas.csv").exists()
    assert "missing required column" in resources["lakehouse"].landing.quarantined("coding_feedback")[0]["reason"]

    models = read(resources, "gold.coding_models")
    current = dict(models.filter(pl.col("is_current")).select("classification", "model_version").iter_rows())
    assert current["crime_types"] != before["crime_types"]      # new human codes -> new version
    assert current["scian"] == before["scian"]                  # untouched classification keeps its model
    assert models.filter(pl.col("classification") == "crime_types").height == 2  # old version kept, not current
    training = read(resources, "silver.coding_training_set").filter(pl.col("origin") == "review")
    assert training.height == 6
    recoded = read(resources, "gold.coded_records").filter(pl.col("record_id").is_in(picked.get_column("record_id")))
    assert set(recoded.get_column("decision")) == {"human"} and set(recoded.get_column("coded_by")) == {"review"}
    assert set(recoded.get_column("code")) <= {"FRAUDE", "EXTORSION"}
    quality = read(resources, "gold.coding_quality").filter(
        (pl.col("classification") == "crime_types") & (pl.col("split") == "review"))
    assert quality.row(0, named=True)["auto_precision"] == 0.0  # every audited suggestion was overruled
    assert quality.row(0, named=True)["model_version"] == before["crime_types"]  # judged: the suggesting version
    comparison = checks(results, "model_quality_vs_previous")
    assert len(comparison) == 1 and comparison[0].severity == dg.AssetCheckSeverity.WARN
    assert "crime_types" in comparison[0].metadata["comparisons"].value
    assert not checks(results, "feedback_rows_valid")[0].passed


def test_feedback_sensor_requests_one_run_per_new_set_of_files(tmp_path):
    from resources.lakehouse import LakehouseResource

    lh = LakehouseResource(root=str(tmp_path / "lake"), landing_root=str(tmp_path / "landing"))
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources={"lakehouse": lh}) as ctx:
        first = coding.coding_feedback_sensor(ctx)
    assert not first.run_requests and "no new review feedback" in first.skip_reason.skip_message
    folder = tmp_path / "landing" / "coding_feedback"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("classification,record_id,code\nscian,EA-01-00001,311812\n", encoding="utf-8")
    with dg.build_sensor_context(instance=instance, resources={"lakehouse": lh}) as ctx:
        second = coding.coding_feedback_sensor(ctx)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key.startswith("coding_feedback:")
    with dg.build_sensor_context(instance=instance, cursor=second.cursor, resources={"lakehouse": lh}) as ctx:
        third = coding.coding_feedback_sensor(ctx)
    assert not third.run_requests


def test_definitions_load_and_describe_every_asset(tmp_path):
    from resources.lakehouse import LakehouseResource

    from resources.llm import LLMResource

    resources = {"lakehouse": LakehouseResource(root=str(tmp_path), landing_root=str(tmp_path / "l")),
                 "llm": LLMResource()}
    dg.Definitions.validate_loadable(coding_defs(resources))
    keys = {k.to_user_string() for a in coding.defs.assets for k in a.keys}
    assert keys == {"silver/coding_feedback", "silver/coding_training_set", "gold/coding_models",
                    "gold/coding_thresholds", "gold/coded_records", "gold/coding_review_queue", "gold/coding_quality"}
    for a in coding.defs.assets:
        for key in a.keys:
            spec = a.specs_by_key[key]
            assert spec.group_name == "coding" and spec.description and spec.kinds
            assert key.path[0] in ("silver", "gold")


def test_dbt_mart_and_source_tests_pass_on_the_coded_sample(sample_lake, tmp_path):
    import duckdb

    from tests.support.dbt import dbt_build

    resources, _, _ = sample_lake
    root = resources["lakehouse"].lakehouse.root
    resources["lakehouse"].lakehouse.local_dir("marts")
    proc = dbt_build(root, tmp_path, ["path:models/coding"])
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "ERROR=0" in proc.stdout and "PASS=" in proc.stdout
    mart = duckdb.sql(f"select * from '{root}/marts/mart_coding_workload.parquet' order by classification").pl()
    coded = read(resources, "gold.coded_records")
    assert mart.get_column("classification").to_list() == ["crime_types", "scian"]
    assert mart.get_column("records").sum() == coded.height and mart.get_column("counts_add_up").all()
