"""One loopback cluster per test session: Postgres, Redis, the S3 server (moto) and 2 Celery workers.

Started once (a few seconds each, on free ports) with :class:`pipelines.cluster.services.Services` and stopped by
pid at the end. The test process and the workers share one environment, built from the settings
(:func:`pipelines.settings.settings_environment`): the test process gets it with ``MonkeyPatch.setenv`` so
the definitions it loads (``tests.cluster.cluster_defs``) see the same settings as the workers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("dagster_celery")
pytest.importorskip("dagster_postgres")
pytest.importorskip("moto")
pytest.importorskip("obstore")

from pipelines.cluster.services import Services, free_port  # noqa: E402
from pipelines.settings import PROJECT_ROOT, load_settings, settings_environment  # noqa: E402

pytestmark = pytest.mark.cluster

VISIBILITY_TIMEOUT_S = 8   # a killed worker's step goes back to the queue this fast in the tests


def _have_binaries() -> str | None:
    if not shutil.which("redis-server"):
        return "redis-server is not installed (make cluster-setup)"
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and not shutil.which("initdb"):
        return "postgresql is not installed (make cluster-setup)"
    return None


@dataclass
class Cluster:
    services: Services
    env: dict[str, str]
    s3_port: int
    pg_port: int
    pg_dir: Path | None = None
    workers: dict[str, object] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def settings(self):
        return load_settings(self.env)

    def start_worker(self, name: str, queues=("default",)):
        self.workers[name] = self.services.celery_worker(name, tuple(queues), self.env)
        self.services.wait_for_workers(self.env, [name])
        return self.workers[name]

    def start_s3(self):
        self.s3 = self.services.s3_server(self.s3_port, buckets=("fmtest",))


@pytest.fixture(scope="package")   # torn down (environment restored) after the last cluster test
def cluster(tmp_path_factory):
    missing = _have_binaries()
    if missing:
        pytest.skip(missing)
    base = tmp_path_factory.mktemp("cluster")
    # the postgres user must reach its data directory: outside pytest's private (0700) temporary tree
    pg_dir = Path(tempfile.mkdtemp(prefix="fmlake-cluster-pg-"))
    os.chmod(pg_dir, 0o755)
    redis_port, s3_port, pg_port = free_port(), free_port(), free_port()
    home = base / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "deploy" / "dagster.cluster.yaml", home / "dagster.yaml")
    overrides = {
        "FMLAKE_ENV": "test", "FMLAKE_EXECUTOR": "celery",
        "LAKEHOUSE_ROOT": f"s3://fmtest/run-{uuid.uuid4().hex[:8]}",
        "FMLAKE_S3_ENDPOINT": f"http://127.0.0.1:{s3_port}", "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_REGION": "us-east-1",
        "FMLAKE_CELERY_BROKER": f"redis://127.0.0.1:{redis_port}/0",
        "FMLAKE_CELERY_BACKEND": f"redis://127.0.0.1:{redis_port}/1",
        "FMLAKE_CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
        "DAGSTER_HOME": str(home), "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(pg_port),
        "DAGSTER_PG_DB": "dagster", "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": uuid.uuid4().hex,
        "FMLAKE_ARTIFACT_CACHE": str(base / "cache"), "FMLAKE_COMPUTE_LOGS_DIR": str(base / "compute_logs"),
        "LANDING_ROOT": str(base / "landing"), "DUCKDB_CATALOG": str(base / "catalog.duckdb"),
        # short object-store timeouts: a store that stops answering fails the step in seconds
        "LAKEHOUSE_STORAGE_OPTIONS": json.dumps({"timeout": "5s", "connect_timeout": "2s", "max_retries": "1",
                                                 "retry_timeout": "5s"}),
    }
    env = settings_environment(os.environ, **overrides)
    env["PYTHONPATH"] = str(PROJECT_ROOT)   # the workers load tests.cluster.cluster_defs by module name
    mp = pytest.MonkeyPatch()
    for k, v in overrides.items():
        mp.setenv(k, v)
    try:
        # as a context manager the services are stopped on a SIGTERM too (CI's time limit, a kill of the
        # test run): without it the interpreter exits at once and the postgres, redis, S3 and Celery it
        # started, each in a session of its own, stay behind
        with Services(base, env) as services:
            services.postgres(pg_port, "dagster", overrides["DAGSTER_PG_PASSWORD"], "dagster", pg_dir / "data")
            services.redis(redis_port)
            c = Cluster(services, env, s3_port, pg_port, pg_dir=pg_dir / "data")
            c.start_s3()
            for name, queues in (("w1", ("default",)), ("w2", ("default", "gpu"))):
                c.workers[name] = services.celery_worker(name, queues, env)
            services.wait_for_workers(env, ["w1", "w2"])
            yield c
    finally:
        mp.undo()
        shutil.rmtree(pg_dir, ignore_errors=True)
