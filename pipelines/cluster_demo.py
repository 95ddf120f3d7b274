"""``make cluster-demo``: the whole demo through a cluster on loopback, ending with one JSON summary line.

Starts (by pid, :mod:`pipelines.cluster.services`) Postgres, Redis, the S3-compatible server and 2 Celery
workers (``w1`` on queue ``default``, ``w2`` on ``default`` and ``gpu``), writes the cluster profile of the
instance (deploy/dagster.cluster.yaml) into ``DAGSTER_HOME``, generates the sample landing files, materializes
every asset through the Celery executor (the same runs, partitions and order as ``make demo``) into the
``s3://`` root, rebuilds the analysts' catalog from S3, queries it, prints the summary

    {"instance_storage": "postgres", "executor": "celery", "steps_by_worker": {...}, "lakehouse_root": "s3://...",
     "tables_by_layer": {"bronze": n_nonempty, ...}, "catalog_query": {...}, "wall_seconds": s}

as its last line, and stops everything it started on success, failure or Ctrl-C.

Every setting comes from the environment as everywhere (the Makefile's ``cluster-demo`` target exports the
loopback cluster's values); the workers get theirs explicitly (:func:`pipelines.settings.settings_environment`).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

from pipelines.cluster.services import Services, ServiceError, postgres_data_dir
from pipelines.settings import PROJECT_ROOT, Settings, SettingsError, load_settings, settings_environment

WORKERS = {"w1": ("default",), "w2": ("default", "gpu")}
CATALOG_SQL = ("SELECT table_schema AS layer, count(*) AS views FROM information_schema.tables "
               "WHERE table_type = 'VIEW' GROUP BY 1 ORDER BY 1")


def check_cluster_settings(settings: Settings) -> None:
    c, core = settings.cluster, settings.core
    problems = []
    if not c.celery:
        problems.append("FMLAKE_EXECUTOR=celery")
    if not core.lakehouse_root.startswith("s3://"):
        problems.append("LAKEHOUSE_ROOT=s3://bucket/prefix")
    if not c.s3_endpoint:
        problems.append("FMLAKE_S3_ENDPOINT=http://127.0.0.1:<port>")
    if not c.pg_password.is_set:
        problems.append("DAGSTER_PG_PASSWORD")
    if problems:
        raise SettingsError("the cluster demo needs " + ", ".join(problems) + " (make cluster-demo sets them)")


def write_instance_yaml(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    shutil.copyfile(PROJECT_ROOT / "deploy" / "dagster.cluster.yaml", target)
    return target


def asset_job():
    """The project's asset job as a reconstructable pointer: the workers load it by module name."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    repo = ReconstructableRepository.for_module("pipelines.definitions", "defs", working_directory=str(PROJECT_ROOT))
    return repo.get_reconstructable_job("__ASSET_JOB")


def materialize_through_executor(instance: dg.DagsterInstance, report=print) -> list[str]:
    """Every asset, every partition in landing/ (the plan of ``make demo``), each run executed by the definitions'
    executor (Celery here): returns the run ids. A failed run raises, naming it and its failed steps."""
    from pipelines.definitions import defs
    from pipelines.demo import QUIET, run_plan

    job = asset_job()
    run_ids: list[str] = []

    def run(keys, label, tags, partition_key):
        if not keys:
            return
        t0 = time.time()
        if partition_key is not None:
            tags = {**tags, "dagster/partition": partition_key}
        result = dg.execute_job(job, instance, run_config=QUIET, asset_selection=list(keys),
                                tags={"fmlake/demo": "cluster", **tags})
        run_ids.append(result.run_id)
        failed = [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        if not result.success:
            raise RuntimeError(f"run {result.run_id} ({label}) failed; failed steps: {failed or 'none (see the run)'}")
        n = sum(1 for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION")
        report(f"  {label}: {n} materializations in {time.time() - t0:.1f}s (run {result.run_id[:8]})")

    run_plan(defs, instance, defs.resources["lakehouse"].landing, run)
    return run_ids


def steps_by_worker(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, int]:
    """Steps each Celery worker executed (the "Executing steps ... in celery worker" engine events)."""
    counts: Counter = Counter()
    for run_id in run_ids:
        for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            event = record.dagster_event
            data = getattr(event, "engine_event_data", None) if event is not None else None
            worker = (data.metadata or {}).get("Celery worker") if data is not None else None
            if worker is not None:
                counts[str(getattr(worker, "value", worker)).split("@")[0]] += 1
    return dict(sorted(counts.items()))


def run_cluster_demo(seed: int = 7) -> dict:
    from assets.ingestion.sample_data import generate
    from lakehouse.catalog import build_catalog, open_catalog, table_infos

    started = time.time()
    settings = load_settings()
    check_cluster_settings(settings)
    c, core = settings.cluster, settings.core
    workdir = PROJECT_ROOT / "data" / "cluster"
    env = settings_environment()
    bucket = urlparse(core.lakehouse_root).netloc
    pg_data = postgres_data_dir(workdir / "postgres")
    with Services(workdir, env) as svc:
        print(f"starting Postgres on {c.pg_host}:{c.pg_port} (data {pg_data})", flush=True)
        svc.postgres(c.pg_port, c.pg_user, c.pg_password.reveal() or "", c.pg_db, data_dir=pg_data)
        broker = urlparse(c.broker_url)
        print(f"starting Redis on {broker.hostname}:{broker.port}", flush=True)
        svc.redis(broker.port or 6379)
        endpoint = urlparse(c.s3_endpoint)
        print(f"starting the S3 server on {c.s3_endpoint} (bucket {bucket})", flush=True)
        svc.s3_server(endpoint.port or 80, buckets=(bucket,))
        write_instance_yaml(core.dagster_home)
        c.compute_logs_dir.mkdir(parents=True, exist_ok=True)
        for name, queues in WORKERS.items():
            print(f"starting Celery worker {name} on queue(s) {', '.join(queues)}", flush=True)
            svc.celery_worker(name, queues, env)
        svc.wait_for_workers(env, list(WORKERS))
        summary = generate(core.landing_root, seed=seed)
        print(f"sample data written to {summary.root}: {summary.files}", flush=True)
        with dg.DagsterInstance.from_config(str(core.dagster_home)) as instance:
            storage = type(instance.run_storage).__name__
            run_ids = materialize_through_executor(instance)
            by_worker = steps_by_worker(instance, run_ids)
        lh = settings.lakehouse()
        infos = build_catalog(lh, core.catalog_path)   # the analysts' catalog, rebuilt from the tables on S3
        con = open_catalog(core.catalog_path, settings.storage_options())
        try:
            views = {row[0]: int(row[1]) for row in con.execute(CATALOG_SQL).fetchall()}
            top = con.execute("SELECT municipality_name, round(intensity_0_100, 1) FROM "
                              "marts.mart_news_migration_intensity ORDER BY rank LIMIT 3").fetchall()
        finally:
            con.close()
        layers: Counter = Counter()   # non-empty tables under the s3:// root, read back from the object store
        for info in table_infos(lh):
            if info.rows > 0 and info.path.startswith("s3://"):
                layers[info.layer] += 1
    return {
        "instance_storage": "postgres" if "Postgres" in storage else storage,
        "executor": "celery",
        "steps_by_worker": by_worker,
        "lakehouse_root": core.lakehouse_root,
        "tables_by_layer": dict(sorted(layers.items())),
        "catalog_query": {"sql": CATALOG_SQL, "views_by_schema": views, "catalog_views": len(infos),
                          "top_migration_intensity": [list(r) for r in top]},
        "wall_seconds": round(time.time() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    # dagster-celery registers its task again for every step it submits (celery warns each time)
    warnings.filterwarnings("ignore", module="dagster_celery.executor")
    warnings.filterwarnings("ignore", message=".*is currently in beta.*")
    try:
        summary = run_cluster_demo()
    except (SettingsError, ServiceError, RuntimeError) as exc:
        print(f"cluster demo failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cluster demo interrupted: every service it started was stopped", file=sys.stderr)
        return 130
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
