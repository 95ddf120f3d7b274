"""Maintenance: a writer killed mid-write leaves files nothing references; the maintenance removes them (and
says how much it freed), compacts small files, and never removes a file a live version needs."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path

import polars as pl
import pytest

from lakehouse import Lakehouse, LakehouseError
from lakehouse.maintenance import maintain, maintain_table
from tests.lakehouse.racers import frame, spec


def _big_writer(root: str, ready) -> None:
    """Append ~3M rows (tens of MB of parquet) after saying it is ready: the test kills it mid-write."""
    import numpy as np

    from lakehouse import Lakehouse

    n = 3_000_000
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"id": pl.Series(np.arange(n)).cast(pl.Utf8).str.zfill(12),
                       "day": ["big"] * n,
                       "value": rng.random(n)})
    df = df.with_columns(pl.col("id") + pl.lit("-") + pl.Series(rng.integers(0, 2**62, n)).cast(pl.Utf8))
    ready.set()
    Lakehouse(root).write(spec(), df, mode="append")


def _data_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")
            if p.is_file() and "_delta_log" not in p.parts}


def _age(folder: Path, hours: float) -> None:
    """Make every data file look ``hours`` old (the retention is counted from a file's modification time)."""
    then = time.time() - hours * 3600
    for name in _data_files(folder):
        os.utime(folder / name, (then, then))


def _kill_mid_write(root: str, table_dir: Path) -> dict[str, int]:
    """Start a writer, SIGKILL it as soon as its first data file appears; return the files it left."""
    ctx = mp.get_context("spawn")   # deltalake panics in a forked child once the parent used it
    ready = ctx.Event()
    before = set(_data_files(table_dir))
    proc = ctx.Process(target=_big_writer, args=(root, ready))
    proc.start()
    try:
        assert ready.wait(120), "the writer never got ready"
        deadline = time.time() + 120
        while time.time() < deadline and not (set(_data_files(table_dir)) - before):
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.join(30)
    assert proc.exitcode == -signal.SIGKILL, f"the writer was not killed mid-write (exit {proc.exitcode})"
    left = {k: v for k, v in _data_files(table_dir).items() if k not in before}
    return left


def test_a_writer_killed_mid_write_leaves_files_the_maintenance_removes(tmp_path):
    root = str(tmp_path / "root")
    lake = Lakehouse(root)
    s = spec()
    for day in ("d1", "d2", "d3"):      # three small files, one per write
        lake.write(s, frame([(f"{day}-{i}", day, float(i)) for i in range(50)]), mode="partitions")
    lake.write(s, frame([("d1-0", "d1", 99.0)]), mode="partitions")   # replaces d1's file (time travel keeps it)
    table_dir = Path(lake.uri(s))
    version = lake.version(s)
    left = _kill_mid_write(root, table_dir)
    assert left, "the killed writer left no file behind: nothing to test"
    assert lake.version(s) == version        # the killed write committed nothing
    # and a complete data file no commit references (what a write attempt that lost a commit race leaves)
    any_file = next(n for n in _data_files(table_dir) if n.endswith(".parquet") and n not in left)
    (table_dir / "part-00000-lost-attempt.parquet").write_bytes((table_dir / any_file).read_bytes())
    left["part-00000-lost-attempt.parquet"] = (table_dir / any_file).stat().st_size
    before = lake.read(s).sort("id")
    old = {v: lake.read(s, version=v).sort("id") for v in range(version + 1)}

    # a week later (every file older than the retention): removed are exactly the files no version references
    _age(table_dir, 24)
    referenced = set(_data_files(table_dir)) - set(left)
    report = maintain(lake, [s], retention_hours=12, target_file_mb=64)
    [done] = [t for t in report.tables if t.table == s.key]
    assert done.error is None and done.vacuumed_files == len(left), done
    assert done.vacuumed_bytes == sum(left.values()) and report.vacuumed_bytes == sum(left.values())
    after_files = _data_files(table_dir)
    assert not set(left) & set(after_files), "the killed writer's files are still there"
    assert referenced <= set(after_files), "a file a version needs was removed"
    # compaction: the 3 live small files became 1 (a commit that changes no rows)
    assert done.compacted_files_removed == 3 and done.compacted_files_added == 1
    assert lake.read(s).sort("id").equals(before)
    for v, df in old.items():          # every version is still readable: the retention covers them
        assert lake.read(s, version=v).sort("id").equals(df)

    # run again: nothing left to remove (the files compaction replaced are younger than the retention)
    again = maintain_table(lake, str(table_dir), s.key, retention_hours=12)
    assert again.vacuumed_files == 0 and again.compacted_files_removed == 0
    assert lake.read(s).sort("id").equals(before)


def test_files_younger_than_the_retention_are_kept(tmp_path):
    """A write in flight has written files it has not committed yet: a vacuum must leave them."""
    lake = Lakehouse(tmp_path / "root")
    s = spec()
    lake.write(s, frame([("a", "d1", 1.0)]))
    table_dir = Path(lake.uri(s))
    (table_dir / "part-00000-inflight.parquet").write_bytes(b"x" * 1000)
    report = maintain(lake, [s], retention_hours=1)
    assert report.vacuumed_files == 0 and (table_dir / "part-00000-inflight.parquet").exists()


def test_retention_below_an_hour_is_refused_and_absent_tables_are_skipped(tmp_path):
    lake = Lakehouse(tmp_path / "root")
    with pytest.raises(LakehouseError, match="retention must be >= 1"):
        maintain(lake, [spec()], retention_hours=0)
    report = maintain(lake, [spec()], retention_hours=1)
    assert [t.skipped for t in report.tables] == ["no table"]


def test_the_maintenance_job_reports_what_it_freed_per_table_and_in_total(tmp_path, monkeypatch):
    import assets.maintenance.defs as maintenance
    from pipelines.resources import lakehouse_resource
    from pipelines.settings import load_settings

    settings = load_settings({"LAKEHOUSE_ROOT": str(tmp_path / "root"), "LAKEHOUSE_VACUUM_RETENTION_HOURS": "2",
                              "LAKEHOUSE_COMPACT_TARGET_MB": "16", "LAKEHOUSE_COMMIT_RETRIES": "7"})
    resource = lakehouse_resource(settings)
    assert (resource.vacuum_retention_hours, resource.compact_target_mb, resource.commit_retries) == (2, 16, 7)
    assert resource.lakehouse.commit_retries == 7 and settings.lakehouse().commit_retries == 7
    lake = resource.lakehouse
    s = spec()
    lake.write(s, frame([("a", "d1", 1.0)]))
    table_dir = Path(lake.uri(s))
    (table_dir / "part-00000-orphan.parquet").write_bytes(b"x" * 4096)
    _age(table_dir, 3)
    monkeypatch.setattr(maintenance, "all_tables", lambda: [s])
    result = maintenance.lakehouse_maintenance_job.execute_in_process(resources={"lakehouse": resource})
    assert result.success
    [out] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    meta = {k: v.value for k, v in out.event_specific_data.metadata.items()}
    assert meta["vacuumed_files"] == 1 and meta["vacuumed_bytes"] == 4096 and meta["retention_hours"] == 2
    [obs] = [e.asset_observation_data.asset_observation for e in result.all_events
             if e.event_type_value == "ASSET_OBSERVATION"]
    assert obs.asset_key.path == ["silver", "things"]
    assert obs.metadata["maintenance/vacuumed_bytes"].value == 4096
    assert not (table_dir / "part-00000-orphan.parquet").exists()
    assert lake.read(s).rows() == [("a", "d1", 1.0)]


def test_retention_setting_below_an_hour_is_refused():
    from pipelines.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="LAKEHOUSE_VACUUM_RETENTION_HOURS"):
        load_settings({"LAKEHOUSE_VACUUM_RETENTION_HOURS": "0.5"})
    with pytest.raises(SettingsError, match="LAKEHOUSE_COMMIT_RETRIES"):
        load_settings({"LAKEHOUSE_COMMIT_RETRIES": "-1"})


def test_the_maintenance_job_runs_every_night():
    from pipelines.definitions import defs

    schedule = next(s for s in defs.schedules if s.job_name == "lakehouse_maintenance_job")
    assert schedule.cron_schedule == "0 3 * * *"


@pytest.mark.cluster
def test_maintenance_on_s3_compacts_and_keeps_what_versions_need(s3_root):
    root, options = s3_root
    lake = Lakehouse(root, options)
    s = spec()
    for day in ("d1", "d2", "d3"):
        lake.write(s, frame([(f"{day}-{i}", day, float(i)) for i in range(20)]), mode="append")
    before = lake.read(s).sort("id")
    report = maintain(lake, [s], retention_hours=1)
    [done] = report.tables
    assert done.error is None and done.compacted_files_removed == 3 and done.compacted_files_added == 1
    assert done.vacuumed_files == 0        # everything is younger than the retention: nothing may go
    assert lake.read(s).sort("id").equals(before)
    assert lake.read(s, version=0).height == 20 and lake.read(s, version=1).height == 40
