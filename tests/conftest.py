"""Shared fixtures: a temporary lakehouse per test, the sample landing zone, the real shared data.

Every test that touches the lakehouse gets its own data root under pytest's tmp_path, set through
the same environment variables a user sets (LAKEHOUSE_ROOT, LANDING_ROOT, DUCKDB_CATALOG).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FMLAKE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

# Offline: nothing may try a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_configure(config):
    """Definitions read the dbt manifest; produce it once if `make dbt-parse` has not."""
    manifest = REPO_ROOT / "dbt_project" / "target" / "manifest.json"
    if not manifest.exists():
        dbt = Path(sys.executable).parent / "dbt"
        subprocess.run([str(dbt), "parse", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project",
                        "--quiet"], cwd=REPO_ROOT, check=True)


@pytest.fixture(autouse=True)
def _isolated_dagster_state_storage():
    """A DagsterInstance entered in one test and never exited (or exited in another thread) leaves
    Dagster's context-local state storage pointing at a dead instance; later definition loads then
    fail. Each test starts and ends with none set."""
    from dagster._core.storage.defs_state.base import _current_storage

    token = _current_storage.set(None)
    yield
    try:
        _current_storage.reset(token)
    except ValueError:
        _current_storage.set(None)


@pytest.fixture
def shared_data() -> Path:
    """The real public data in ../shared/data; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent (see ../shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture
def lakehouse_env(tmp_path, monkeypatch):
    """A fresh, empty data root for this test, wired through the environment like a user would."""
    root = tmp_path / "lakehouse"
    monkeypatch.setenv("FMLAKE_ENV", "test")
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
    monkeypatch.setenv("LANDING_ROOT", str(root / "landing"))
    monkeypatch.setenv("DUCKDB_CATALOG", str(root / "catalog.duckdb"))
    for key in list(os.environ):
        if key.startswith("FMLAKE_SOURCE_"):
            monkeypatch.delenv(key)
    from pipelines.settings import load_settings

    return load_settings().core


@pytest.fixture
def sample_landing(lakehouse_env):
    """The deterministic sample landing zone written into the test's data root."""
    from assets.ingestion.sample_data import generate

    generate(lakehouse_env.landing_root, seed=7)
    return Path(lakehouse_env.landing_root)


@pytest.fixture
def resources(lakehouse_env):
    from pipelines.resources import build_resources

    return build_resources()   # from the environment lakehouse_env set


@pytest.fixture
def lh(resources):
    return resources["lakehouse"].lakehouse
