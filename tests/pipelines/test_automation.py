"""The landing sensor (cursor + run keys, batches already ingested adopted) and the schedules, evaluated
under a test instance."""

import json
from datetime import datetime, timezone

import dagster as dg

from lakehouse.landing import Landing
from pipelines.definitions import defs
from lakehouse.batches import FINGERPRINT_KEY, batch_fingerprint, batch_snapshot, ingested_fingerprint
from pipelines.sensors import new_batches, read_cursor


def sensor():
    return next(s for s in defs.sensors if s.name == "landing_batches_sensor")


def evaluate(instance, cursor=None):
    from pipelines.resources import build_resources

    # the daemon gives the sensor the definitions' resources; this test's environment (tmp lakehouse) builds them
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def(),
                                      resources={"lakehouse": build_resources()["lakehouse"]})
    # the daemon sets this loading context itself; a direct evaluation has to provide it
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return sensor().evaluate_tick(context)


def test_new_batches_is_pure_and_respects_seen(tmp_path):
    (tmp_path / "crime_narratives" / "b1").mkdir(parents=True)
    (tmp_path / "crime_narratives" / "b1" / "a.csv").write_text("x")
    (tmp_path / "crime_narratives" / "b2-copying").mkdir()   # created, files not there yet
    landing = Landing(tmp_path)
    due, adopted = new_batches(landing, {})
    fp = due["crime_narratives"]["b1"]
    assert due == {"crime_narratives": {"b1": fp}} and adopted == {}
    assert new_batches(landing, {"crime_narratives": {"b1": fp}}) == ({}, {})
    # still being written: not offered until its files have settled
    assert new_batches(landing, {}, settle_seconds=60) == ({}, {})
    # a file added to a known batch changes its fingerprint: due again
    (tmp_path / "crime_narratives" / "b1" / "b.csv").write_text("y")
    again, _ = new_batches(landing, {"crime_narratives": {"b1": fp}})
    assert set(again["crime_narratives"]) == {"b1"} and again["crime_narratives"]["b1"] != fp
    # a cursor of the older form (a list of batches) adopts what is there without a run
    assert new_batches(landing, read_cursor('{"crime_narratives": ["b1"]}')) == (
        {}, {"crime_narratives": {"b1": again["crime_narratives"]["b1"]}})


def test_ingested_fingerprint_is_the_batch_as_the_run_left_it(tmp_path):
    """What a bronze run records: the batch now, when only the files it quarantined have left it; else the
    batch as it was before reading (which no longer matches: the sensor requests the batch again)."""
    batch = tmp_path / "crime_narratives" / "b1"
    batch.mkdir(parents=True)
    for name in ("a.csv", "b.csv", "c.csv"):
        (batch / name).write_text(name)
    landing = Landing(tmp_path)
    before = batch_snapshot(landing, "crime_narratives", "b1")
    assert ingested_fingerprint(landing, "crime_narratives", "b1", before) == batch_fingerprint(
        landing, "crime_narratives", "b1")[0]
    (batch / "c.csv").unlink()   # the run quarantined it
    now = batch_fingerprint(landing, "crime_narratives", "b1")[0]
    assert ingested_fingerprint(landing, "crime_narratives", "b1", before, [batch / "c.csv"]) == now
    # deleted by someone else while the run read the batch: the rows of b.csv may be in bronze
    (batch / "b.csv").unlink()
    assert ingested_fingerprint(landing, "crime_narratives", "b1", before, [batch / "c.csv"]) != batch_fingerprint(
        landing, "crime_narratives", "b1")[0]
    # a file added while the run read the batch: not read, so not recorded as ingested
    before = batch_snapshot(landing, "crime_narratives", "b1")
    (batch / "d.csv").write_text("d")
    assert ingested_fingerprint(landing, "crime_narratives", "b1", before) != batch_fingerprint(
        landing, "crime_narratives", "b1")[0]


def test_sensor_registers_each_batch_once(sample_landing):
    with dg.instance_for_test() as instance:
        first = evaluate(instance)
        by_batch = {r.run_key.rsplit(":", 1)[0]: r for r in first.run_requests}
        assert {"crime_narratives:batch-2026-09", "crime_narratives:batch-2026-10",
                "economic_activity_text:censo-lote-01", "economic_activity_text:censo-lote-02"} <= set(by_batch)
        assert len(by_batch) == len(first.run_requests)
        assert by_batch["crime_narratives:batch-2026-09"].partition_key == "batch-2026-09"
        assert by_batch["crime_narratives:batch-2026-09"].job_name == "crime_narratives_batch_job"
        # the tick registered the new batches as dynamic partitions
        assert instance.get_dynamic_partitions("crime_narrative_batches") == ["batch-2026-09", "batch-2026-10"]
        cursor = json.loads(first.cursor)
        assert sorted(cursor["crime_narratives"]) == ["batch-2026-09", "batch-2026-10"]

        second = evaluate(instance, cursor=first.cursor)
        assert second.run_requests == [] and second.skip_message == "no new or changed landing batches"

        new = sample_landing / "crime_narratives" / "batch-2026-11"
        new.mkdir()   # an empty folder (a copy starting) is not a batch yet
        assert evaluate(instance, cursor=first.cursor).run_requests == []
        (new / "narrativas.csv").write_text("record_id,narrative\nCN-9,me robaron el celular\n", encoding="utf-8")
        third = evaluate(instance, cursor=first.cursor)
        assert [r.run_key.rsplit(":", 1)[0] for r in third.run_requests] == ["crime_narratives:batch-2026-11"]
        # a file added to that batch later: the batch is requested again under a new run key
        (new / "mas.csv").write_text("record_id,narrative\nCN-10,robo a casa\n", encoding="utf-8")
        fourth = evaluate(instance, cursor=third.cursor)
        assert [r.partition_key for r in fourth.run_requests] == ["batch-2026-11"]
        assert fourth.run_requests[0].run_key != third.run_requests[0].run_key


def test_sensor_run_keys_stop_a_second_launch_without_cursor(sample_landing):
    """Even with the cursor lost, run keys already launched are skipped by the daemon."""
    with dg.instance_for_test() as instance:
        first = evaluate(instance)
        again = evaluate(instance)  # no cursor: same requests, same run keys ...
        assert {r.run_key for r in again.run_requests} == {r.run_key for r in first.run_requests}
        # ... which the daemon de-duplicates: run keys are deterministic per (source, batch, content)
        assert all(r.run_key.count(":") == 2 for r in first.run_requests)


def _materialize_batch(instance, resources, batch, **kwargs):
    """Ingest one crime batch the way the demo, a UI launch or the CLI does: no sensor involved."""
    from assets.ingestion.defs import bronze_crime

    instance.add_dynamic_partitions("crime_narrative_batches", [batch])
    result = dg.materialize([bronze_crime], partition_key=batch, instance=instance, resources=resources, **kwargs)
    assert result.success
    return result


def _requested(result) -> list[str]:
    return sorted(r.run_key.rsplit(":", 1)[0] for r in result.run_requests)


def test_sensor_adopts_a_batch_ingested_without_it(sample_landing, resources):
    """A batch materialized outside the sensor (demo, UI, CLI) is not requested again while its files stay
    as they were read; it is adopted into the cursor. A changed file makes it due again."""
    from lakehouse.landing import Landing

    landing = Landing(sample_landing)
    with dg.instance_for_test() as instance:
        result = _materialize_batch(instance, resources, "batch-2026-09")
        fingerprint = batch_fingerprint(landing, "crime_narratives", "batch-2026-09")[0]
        [event] = result.get_asset_materialization_events()
        assert event.materialization.metadata[FINGERPRINT_KEY].value == fingerprint

        first = evaluate(instance)   # no cursor: the sensor never saw that batch
        requested = _requested(first)
        assert "crime_narratives:batch-2026-09" not in requested
        assert "crime_narratives:batch-2026-10" in requested   # never ingested: requested as before
        assert json.loads(first.cursor)["crime_narratives"]["batch-2026-09"] == fingerprint

        # nothing else to do: the tick only adopts, and says so
        rest = {s: {b: f for b, f in batches.items() if not (s == "crime_narratives" and b == "batch-2026-09")}
                for s, batches in json.loads(first.cursor).items()}
        adopt_only = evaluate(instance, cursor=json.dumps(rest))
        assert adopt_only.run_requests == [] and "crime_narratives/batch-2026-09" in adopt_only.skip_message
        assert json.loads(adopt_only.cursor) == json.loads(first.cursor)
        assert evaluate(instance, cursor=adopt_only.cursor).run_requests == []

        # a file of that batch replaced: requested again, with a cursor or without one
        changed = sample_landing / "crime_narratives" / "batch-2026-09" / "otro.csv"
        changed.write_text("record_id,narrative\nCN-77,asalto en la calle\n", encoding="utf-8")
        assert "crime_narratives:batch-2026-09" in _requested(evaluate(instance, cursor=first.cursor))
        assert "crime_narratives:batch-2026-09" in _requested(evaluate(instance))


def test_sensor_adopts_a_batch_whose_bad_file_was_quarantined(sample_landing, resources):
    """Ingesting a batch moves its unreadable file to quarantine; what is left is what the run read, so the
    sensor does not ingest the batch a second time."""
    batch = sample_landing / "crime_narratives" / "batch-2026-10"
    (batch / "roto.csv").write_text("sin,columnas\n1,2\n", encoding="utf-8")
    with dg.instance_for_test() as instance:
        _materialize_batch(instance, resources, "batch-2026-10")
        assert not (batch / "roto.csv").exists()   # moved to landing/_quarantine
        assert "crime_narratives:batch-2026-10" not in _requested(evaluate(instance))


def test_sensor_adopts_a_tiles_batch_read_by_silver_tiles(sample_landing, resources):
    """Tiles have no bronze table: silver.tiles, the first asset of their batch, records the fingerprint."""
    from assets.imagery.defs import silver_tiles
    from lakehouse.landing import Landing

    [batch] = Landing(sample_landing).batches("tiles")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("tile_batches", [batch])
        result = dg.materialize([silver_tiles], partition_key=batch, instance=instance,
                                resources={k: resources[k] for k in ("lakehouse", "segmenter")})
        [event] = result.get_asset_materialization_events()
        assert FINGERPRINT_KEY in event.materialization.metadata
        assert f"tiles:{batch}" not in _requested(evaluate(instance))


def test_sensor_trusts_the_fingerprint_tag_of_a_run(sample_landing, resources):
    """An asset that records no fingerprint: the tag of the run that materialized it counts (the demo's runs,
    the sensor's own); a run without it is no proof, the batch is requested."""
    from lakehouse.landing import Landing

    fingerprint = batch_fingerprint(Landing(sample_landing), "crime_narratives", "batch-2026-09")[0]
    with dg.instance_for_test() as instance:
        # a materialization without the metadata, tagged: adopted
        instance.add_dynamic_partitions("crime_narrative_batches", ["batch-2026-09", "batch-2026-10"])
        key = dg.AssetKey(["bronze", "crime_narratives"])

        @dg.asset(key=key, partitions_def=dg.DynamicPartitionsDefinition(name="crime_narrative_batches"))
        def bronze_without_fingerprint():
            return None

        for batch, tags in [("batch-2026-09", {FINGERPRINT_KEY: fingerprint}), ("batch-2026-10", {})]:
            assert dg.materialize([bronze_without_fingerprint], partition_key=batch, instance=instance,
                                  tags=tags).success
        requested = _requested(evaluate(instance))
        assert "crime_narratives:batch-2026-09" not in requested
        assert "crime_narratives:batch-2026-10" in requested


def test_daily_news_schedule_asks_for_yesterday():
    schedule = next(s for s in defs.schedules if s.job_name == "news_daily_job")
    # 06:00 in Mexico City (12:00 UTC), not 06:00 UTC, which is midnight there
    assert schedule.cron_schedule == "0 6 * * *" and schedule.execution_timezone == "America/Mexico_City"
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc),
            repository_def=defs.get_repository_def())
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-11-19"]


def test_monthly_recoding_schedule_runs_on_the_first():
    schedule = next(s for s in defs.schedules if s.job_name == "monthly_recoding_job")
    assert schedule.cron_schedule == "0 5 1 * *"
    assert schedule.execution_timezone == "America/Mexico_City"
