"""Killed writers: a process SIGKILLed in the middle of a Delta write (a keyed table, overwrite and append)
leaves the table at its last committed version: readable, its keys unique, its row count one that was
committed, and the next write succeeds. (Partial Parquet files the killed write left are the maintenance job's:
issue 15 item 8.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.faults

WRITER = textwrap.dedent('''
    import sys, polars as pl
    from lakehouse import Lakehouse, get_table
    root, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lh, spec = Lakehouse(root), get_table("silver.migrant_shelters")
    for i in range(1000):
        ids = [f"w{i}-{j}" for j in range(n)] if mode == "append" else [f"s{j}" for j in range(n)]
        df = pl.DataFrame({"shelter_id": ids, "name": ["Casa " * 20] * n, "cve_geo": ["01001"] * n,
                           "capacity": list(range(n)), "operator": ["op"] * n})
        lh.write(spec, df, mode=mode)
        print("committed", i, flush=True)
''')


@pytest.mark.parametrize("mode", ["overwrite", "append"])
@pytest.mark.parametrize("delay_s", [0.3, 1.1])
def test_a_writer_killed_mid_write_leaves_the_table_at_a_committed_version(tmp_path, mode, delay_s):
    import polars as pl

    from lakehouse import Lakehouse, get_table

    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    root = tmp_path / "lake"
    proc = subprocess.Popen([sys.executable, str(script), str(root), mode, "200000"], cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().startswith("committed 0")   # one version is in
        time.sleep(delay_s)                                        # ... and the next write is under way
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    lh, spec = Lakehouse(root), get_table("silver.migrant_shelters")
    df = lh.read(spec)
    assert df.height % 200_000 == 0 and df.height > 0, df.height
    assert df.get_column("shelter_id").n_unique() == df.height
    if mode == "overwrite":
        assert df.height == 200_000
    lh.write(spec, pl.DataFrame({"shelter_id": ["after"], "name": ["x"], "cve_geo": [None], "capacity": [1],
                                 "operator": [None]}, schema_overrides={"cve_geo": pl.Utf8, "operator": pl.Utf8}),
             mode="append")
    assert lh.read(spec).height == df.height + 1
