"""The loopback services' start-up checks that need no running service."""

from __future__ import annotations

import pwd
import shutil
import tempfile
from pathlib import Path

import pytest

from pipelines.cluster.services import postgres_data_dir, untraversable_for


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
        # directories not made yet (a fresh clone has no data/): the existing ones decide, no FileNotFoundError
        assert untraversable_for(base / "project" / "fresh" / "data" / "postgres", "postgres") is None
        (base / "project").chmod(0o700)
        assert untraversable_for(base / "project" / "fresh" / "data" / "postgres", "postgres") == base / "project"
    finally:
        shutil.rmtree(base)
    assert untraversable_for(Path("/tmp/x"), "no-such-user-here") is None


def test_the_demo_keeps_postgres_data_where_the_postgres_user_can_reach_it():
    import os

    base = Path(tempfile.mkdtemp(dir="/tmp"))   # 0700, like a clone under mktemp -d or /root
    try:
        wanted = base / "project" / "data" / "cluster" / "postgres"
        wanted.mkdir(parents=True)
        chosen = postgres_data_dir(wanted)
        try:
            pwd.getpwnam("postgres")
            has_pg_user = True
        except KeyError:
            has_pg_user = False
        if os.geteuid() == 0 and has_pg_user:
            # Postgres runs as the postgres user, who cannot enter base: the data go under the temp directory
            assert chosen != wanted and chosen.parent == Path(tempfile.gettempdir())
            assert untraversable_for(chosen, "postgres") is None
            assert postgres_data_dir(wanted) == chosen                     # the same place on every run
            base.chmod(0o755)
            assert postgres_data_dir(wanted) == wanted                     # reachable: the project's own
        else:
            assert chosen == wanted                                        # Postgres runs as this user
    finally:
        shutil.rmtree(base)
