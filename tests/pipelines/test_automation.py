"""The landing sensor (cursor + run keys) and the schedules, evaluated under a test instance."""

import json
from datetime import datetime, timezone

import dagster as dg

from lakehouse.landing import Landing
from pipelines.definitions import defs
from pipelines.sensors import new_batches


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
    landing = Landing(tmp_path)
    assert new_batches(landing, {}) == {"crime_narratives": ["b1"]}
    assert new_batches(landing, {"crime_narratives": ["b1"]}) == {}


def test_sensor_registers_each_batch_once(sample_landing):
    with dg.instance_for_test() as instance:
        first = evaluate(instance)
        keys = sorted(r.run_key for r in first.run_requests)
        assert {"crime_narratives:batch-2026-09", "crime_narratives:batch-2026-10",
                "economic_activity_text:censo-lote-01", "economic_activity_text:censo-lote-02"} <= set(keys)
        assert len(keys) == len(set(keys))
        by_key = {r.run_key: r for r in first.run_requests}
        assert by_key["crime_narratives:batch-2026-09"].partition_key == "batch-2026-09"
        assert by_key["crime_narratives:batch-2026-09"].job_name == "crime_narratives_batch_job"
        # the tick registered the new batches as dynamic partitions
        assert instance.get_dynamic_partitions("crime_narrative_batches") == ["batch-2026-09", "batch-2026-10"]
        cursor = json.loads(first.cursor)
        assert cursor["crime_narratives"] == ["batch-2026-09", "batch-2026-10"]

        second = evaluate(instance, cursor=first.cursor)
        assert second.run_requests == [] and second.skip_message == "no new landing batches"

        new = sample_landing / "crime_narratives" / "batch-2026-11"
        new.mkdir()
        (new / "narrativas.csv").write_text("record_id,narrative\nCN-9,me robaron el celular\n", encoding="utf-8")
        third = evaluate(instance, cursor=second.cursor or first.cursor)
        assert [r.run_key for r in third.run_requests] == ["crime_narratives:batch-2026-11"]


def test_sensor_run_keys_stop_a_second_launch_without_cursor(sample_landing):
    """Even with the cursor lost, run keys already launched are skipped by the daemon."""
    with dg.instance_for_test() as instance:
        first = evaluate(instance)
        again = evaluate(instance)  # no cursor: same requests, same run keys ...
        assert {r.run_key for r in again.run_requests} == {r.run_key for r in first.run_requests}
        # ... which the daemon de-duplicates: run keys are deterministic per (source, batch)
        assert all(r.run_key.count(":") == 1 for r in first.run_requests)


def test_daily_news_schedule_asks_for_yesterday():
    schedule = next(s for s in defs.schedules if s.job_name == "news_daily_job")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc),
            repository_def=defs.get_repository_def())
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2026-11-19"]


def test_monthly_recoding_schedule_runs_on_the_first():
    schedule = next(s for s in defs.schedules if s.job_name == "monthly_recoding_job")
    assert schedule.cron_schedule == "0 5 1 * *"
    assert schedule.execution_timezone == "America/Mexico_City"
