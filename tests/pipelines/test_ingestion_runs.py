"""Ingestion assets run in-process into a temporary lakehouse: idempotent reruns, quarantine, errors."""

import json

import dagster as dg
import polars as pl
import pytest

from lakehouse import get_table
from pipelines.definitions import defs
from pipelines.demo import materialize_everything

INGESTION = dg.AssetSelection.groups("ingestion")


def ingest(resources, instance, raise_on_error=True):
    keys = INGESTION.resolve(defs.resolve_asset_graph())
    return materialize_everything(defs, resources, instance, keys=keys, raise_on_error=raise_on_error)


def counts(lh):
    return {spec.key: lh.row_count(spec) for spec in map(get_table, [
        "bronze.crime_narratives", "silver.crime_narratives", "silver.economic_activity_text",
        "bronze.news_articles", "silver.news_articles", "silver.municipalities", "silver.migrant_shelters",
        "silver.industry_stats", "silver.scian_catalog"])}


@pytest.fixture
def ingested(sample_landing, resources, lh):
    with dg.DagsterInstance.ephemeral() as instance:
        ingest(resources, instance)
        yield instance


def test_sample_ingests_into_every_silver_table(ingested, lh):
    got = counts(lh)
    assert got["silver.crime_narratives"] == 600 and got["silver.economic_activity_text"] == 800
    assert got["silver.municipalities"] == 30 and got["silver.scian_catalog"] > 50
    assert got["silver.industry_stats"] == 5 * 10 * 5  # geographies x sectors x census years
    assert 0 < got["silver.news_articles"] < got["bronze.news_articles"]  # syndicated copies dropped
    news = lh.read(get_table("silver.news_articles"))
    assert set(news.get_column("cve_geo_status").unique()) == {"valid"}
    assert news.get_column("url").str.contains(r"\?utm").sum() == 0
    industry = lh.read(get_table("silver.industry_stats"))
    assert industry.filter(pl.col("geo_level") == "municipality").get_column("value_added").null_count() > 0
    bronze = lh.read(get_table("bronze.crime_narratives"))
    assert bronze.get_column("_content_hash").str.len_chars().unique().to_list() == [64]


def test_rerunning_everything_keeps_row_counts(ingested, resources, lh):
    before = counts(lh)
    ingest(resources, ingested)
    assert counts(lh) == before


def test_malformed_file_is_quarantined_and_previous_version_intact(ingested, resources, lh, sample_landing):
    spec = get_table("silver.news_articles")
    version, rows = lh.version(spec), lh.read(spec).sort("article_id")
    bad = sample_landing / "news" / "2026-11-03-late.json"
    bad.write_text('[{"id": "x", "date": "2026-11-03", "text": "sin cerrar"', encoding="utf-8")
    ingest(resources, ingested)
    assert not bad.exists()
    reasons = resources["lakehouse"].landing.quarantined("news")
    assert len(reasons) == 1 and "invalid JSON" in reasons[0]["reason"]
    assert lh.read(spec, version=version).sort("article_id").equals(rows)
    assert lh.read(spec).sort("article_id").equals(rows)


def test_quarantine_is_reported_as_a_failed_warn_check(sample_landing, resources):
    (sample_landing / "migrant_shelters" / "roto.csv").write_bytes(b"\xff\xfe\x00garbage")
    with dg.DagsterInstance.ephemeral() as instance:
        results = ingest(resources, instance)
    evaluations = [e.event_specific_data for r in results for e in r.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    shelters = [e for e in evaluations if e.asset_key == dg.AssetKey(["bronze", "migrant_shelters"])
                and e.check_name == "no_quarantined_files"]
    assert len(shelters) == 1 and not shelters[0].passed
    assert shelters[0].severity == dg.AssetCheckSeverity.WARN


def test_bad_value_fails_with_a_clear_error_and_writes_nothing(ingested, resources, lh, sample_landing):
    spec = get_table("silver.migrant_shelters")
    version = lh.version(spec)
    path = sample_landing / "migrant_shelters" / "albergues.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines[1].split(",")
    first[3] = "muchas"
    lines[1] = ",".join(first)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = ingest(resources, ingested, raise_on_error=False)
    failures = [e for r in results for e in r.all_events if e.event_type_value == "STEP_FAILURE"]
    messages = " ".join(e.event_specific_data.error.to_string() for e in failures)
    assert "albergues.csv" in messages and "capacity 'muchas'" in messages
    assert lh.version(spec) == version


def test_real_shared_data_ingests_through_the_same_assets(shared_data, lakehouse_env, monkeypatch):
    overrides = {
        "MUNICIPALITIES": shared_data / "catalogs" / "municipios_completo.json",
        "INDUSTRY_STATS": shared_data / "census",
        "SCIAN_CATALOG": shared_data / "catalogs" / "scian2018.csv",
        "ECONOMIC_ACTIVITY_TEXT": shared_data / "coding" / "retc_scian_2008_2019.csv",
        "NEWS": shared_data / "news" / "migration_news_2020.json",
        "TILES": shared_data / "imagery" / "sentinel2",
    }
    for name, path in overrides.items():
        monkeypatch.setenv(f"FMLAKE_SOURCE_{name}", str(path))
    from pipelines.resources import build_resources

    resources = build_resources()
    lh = resources["lakehouse"].lakehouse
    keys = {dg.AssetKey([layer, name]) for layer in ("bronze", "silver") for name in (
        "municipalities", "industry_stats", "scian_catalog", "economic_activity_text", "news_articles")}
    keys.add(dg.AssetKey(["silver", "tiles"]))
    with dg.DagsterInstance.ephemeral() as instance:
        materialize_everything(defs, resources, instance, keys=keys)
    assert lh.row_count(get_table("silver.municipalities")) == 2478
    activity = lh.read(get_table("silver.economic_activity_text"))
    assert activity.height == 22625 and activity.get_column("record_id").n_unique() == 22625
    assert activity.get_column("code").str.len_chars().unique().to_list() == [6]
    scian = lh.read(get_table("silver.scian_catalog"))
    assert scian.filter(pl.col("digits") == 6).height == 1084
    industry = lh.read(get_table("silver.industry_stats"))
    assert set(industry.get_column("geo_level").unique()) == {"national", "state", "municipality"}
    assert industry.get_column("value_added").null_count() > 0  # confidential cells stay null
    news = lh.read(get_table("silver.news_articles"))
    raw = json.loads(overrides["NEWS"].read_text(encoding="utf-8"))
    assert 0 < news.height <= len(raw)
    assert set(news.get_column("cve_geo_status").unique()) == {"missing"}
    tiles = lh.read(get_table("silver.tiles"))
    assert tiles.height == 9 and set(tiles.get_column("batch_id")) == {"sentinel2"}
    assert set(tiles.get_column("status")) == {"ok"} and set(tiles.get_column("crs")) == {"EPSG:32618"}
    rejected = lh.read(get_table("bronze.rejected_records"))
    assert sorted(rejected.get_column("value").to_list()) == ["2020-03-2019", "2020-15-22"]  # real typos, kept
    assert news.height + rejected.height <= len(raw)
