"""``dbt build`` on a test's lakehouse, the way the transform asset runs it (its extensions installed offline
first, the root through ``LAKEHOUSE_ROOT``, dbt's scratch database, target and logs under the test's tmp_path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def dbt_build(root: str | Path, tmp: Path, select: list[str]) -> subprocess.CompletedProcess:
    """``dbt build --select *select`` over the lakehouse at ``root`` (stdout/stderr captured, never raises)."""
    from lakehouse.duck import install_dbt_extensions

    install_dbt_extensions()
    env = dict(os.environ, LAKEHOUSE_ROOT=str(root), DBT_DUCKDB_PATH=str(tmp / "dbt.duckdb"))
    dbt = Path(sys.executable).parent / "dbt"
    return subprocess.run([str(dbt), "build", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
                           "--target-path", str(tmp / "dbt-target"), "--log-path", str(tmp / "dbt-logs"),
                           "--select", *select], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
