"""The loopback services' start-up checks that need no running service."""

from __future__ import annotations

import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from pipelines.cluster.services import untraversable_for


def test_a_data_directory_the_postgres_user_cannot_reach_is_named():
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no postgres user on this machine (make cluster-setup installs Postgres)")
    base = Path(tempfile.mkdtemp(dir="/tmp"))   # 0700, owned by whoever runs the tests
    try:
        data = base / "project" / "data" / "cluster" / "postgres"
        data.mkdir(parents=True)
        if pwd.getpwuid(base.stat().st_uid).pw_name != "postgres":
            assert untraversable_for(data, "postgres") == base
        base.chmod(0o755)
        (base / "project").chmod(0o700)
        assert untraversable_for(data, "postgres") == base / "project"
        (base / "project").chmod(0o755)
        assert untraversable_for(data, "postgres") is None
    finally:
        shutil.rmtree(base)
    assert untraversable_for(Path("/tmp/x"), "no-such-user-here") is None
