"""The landing sensor (cursor + run keys) and the schedules, evaluated under a test instance."""

import json
from datetime import datetime, timezone

import dagster as dg

from lakehouse.landing import Landing
from pipelines.definitions import defs
from pipelines.sensors import new_batches, read_cursor


def sensor():
    return next(s for s in defs.sensors if s.name == "landing_batches_sensor")


def evaluate(instance, cursor=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      repository_def=defs.get_repository_def())
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
