"""The cluster shape on loopback: Celery workers on Redis, the instance on Postgres, the lakehouse on S3.

Each test fails on its own claim: a killed worker's step is retried on the other worker and the table holds
each row once; a step of a GPU pool runs on the gpu worker; wrong S3 credentials are one error naming the
endpoint with nothing written; an S3 outage fails the step and leaves the table's versions intact, and a
rerun succeeds; 4 writers rewriting partitions of one table at once lose nothing; the webserver on the
Postgres instance lists the runs and answers again after Postgres restarts.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import time
import urllib.request
from concurrent.futures import Future

import dagster as dg
import polars as pl
import pytest

from lakehouse import Lakehouse, LakehouseError
from pipelines.cluster.services import free_port, wait_for_port
# (not tests.cluster.cluster_defs: the workers and the runs load it by module name once the cluster's settings
# are in the environment, so that its executor is the Celery one)
from tests.cluster import tables as C
from tests.cluster.tables import write_partition

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]


def _job():
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    return ReconstructableRepository.for_module("tests.cluster.cluster_defs", "defs").get_reconstructable_job(
        "__ASSET_JOB")


def _instance(cluster) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(cluster.env["DAGSTER_HOME"])


def _run_in_thread(instance, partition: str, seconds: float, keys=(("silver", "cluster_parts"),)) -> Future:
    """execute_job in a thread; its result (or exception) comes back through the future."""
    fut: Future = Future()

    def target():
        try:
            fut.set_result(dg.execute_job(
                _job(), instance, asset_selection=[dg.AssetKey(list(k)) for k in keys],
                tags={"dagster/partition": partition} if partition else {},
                run_config={"ops": {"silver__cluster_parts": {"config": {"seconds": seconds}}}}
                if partition else {}))
        except BaseException as exc:  # noqa: BLE001 - re-raised by fut.result()
            fut.set_exception(exc)

    threading.Thread(target=target, daemon=True).start()
    return fut


def _workers_of(instance, run_id: str) -> list[tuple[str, str]]:
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        md = record.dagster_event.engine_event_data.metadata or {}
        if "Celery worker" in md:   # "Executing steps ... in celery worker", reported by the worker
            out.append((record.step_key, str(md["Celery worker"].value).split("@")[0]))
    return out


def _wait(predicate, timeout: float, what: str, fut: Future | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if fut is not None and fut.done():
            fut.result()   # the run ended (or raised) before what we wait for: show why
            raise AssertionError(f"the run ended before {what}")
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def test_killed_worker_step_is_retried_on_the_other_worker(cluster):
    lh = cluster.settings().lakehouse()
    with _instance(cluster) as instance:
        fut = _run_in_thread(instance, "p1", seconds=6)
        run_id = _wait(lambda: next((r.run_id for r in instance.get_runs(limit=1)
                                     if r.tags.get("dagster/partition") == "p1"), None), 120, "the run", fut)
        first = _wait(lambda: _workers_of(instance, run_id), 120, "a worker to take the step", fut)[0][1]
        cluster.services.kill(cluster.workers.pop(first))   # SIGKILL mid-step (it sleeps 6 s before writing)
        result = fut.result(timeout=240)
        assert result.success
        workers = [w for _, w in _workers_of(instance, run_id)]
        assert workers[0] == first and workers[-1] != first, workers
    df = lh.read(C.PARTS).filter(pl.col("part") == "p1")
    assert df.height == C.ROWS_PER_PART and df.select("part", "row").is_unique().all()
    cluster.start_worker(first, ("default",) if first == "w1" else ("default", "gpu"))


def test_gpu_pool_step_goes_to_the_gpu_worker(cluster):
    with _instance(cluster) as instance:
        result = _run_in_thread(instance, "", 0, keys=(("silver", "cluster_gpu_step"),)).result(timeout=180)
        assert result.success
        assert [w for _, w in _workers_of(instance, result.run_id)] == ["w2"]   # only w2 listens to gpu


def _authenticating_s3(cluster):
    """A second S3 server that checks signatures (moto: after 3 unauthenticated IAM calls that create the
    one valid key). Returns (service, endpoint, good options)."""
    import sys

    import boto3

    port = free_port()
    svc = cluster.services.spawn("s3-auth", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                 env={**cluster.env, "INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    wait_for_port(port, 60, svc)
    endpoint = f"http://127.0.0.1:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, aws_access_key_id="x", aws_secret_access_key="y",
                       region_name="us-east-1")
    iam.create_user(UserName="lake")
    iam.put_user_policy(UserName="lake", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="lake")["AccessKey"]
    good = {"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key["AccessKeyId"],
                 aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1").create_bucket(Bucket="lake")
    return svc, endpoint, good


def test_wrong_s3_credentials_are_one_clear_error_and_nothing_written(cluster):
    from resources.lakehouse import LakehouseResource

    svc, endpoint, good = _authenticating_s3(cluster)
    try:
        ok = Lakehouse("s3://lake/fm", good)
        ok.artifacts.check_access()   # the right key passes
        resource = LakehouseResource(root="s3://lake/fm", landing_root=str(cluster.services.workdir / "landing"),
                                     s3_endpoint=endpoint, s3_access_key_id=good["AWS_ACCESS_KEY_ID"],
                                     s3_secret_access_key="not-the-secret")
        with pytest.raises(LakehouseError) as err:
            resource.lakehouse.write(C.PARTS, C.rows("p0"), mode="partitions")
        message = str(err.value)
        assert endpoint in message and "refused the credentials" in message and "not-the-secret" not in message
        assert ok.artifacts.list() == [] and not ok.exists(C.PARTS)   # nothing written
    finally:
        cluster.services.stop(svc)


def test_s3_outage_fails_the_step_cleanly_and_a_rerun_succeeds(cluster):
    import os
    import signal

    lh = cluster.settings().lakehouse()
    lh.write(C.PARTS, C.rows("p2"), mode="partitions")
    before, history = lh.version(C.PARTS), len(lh.history(C.PARTS))
    with _instance(cluster) as instance:
        fut = _run_in_thread(instance, "p2", seconds=3)
        run_id = _wait(lambda: next((r.run_id for r in instance.get_runs(limit=1)
                                     if r.tags.get("dagster/partition") == "p2"), None), 120, "the run", fut)
        _wait(lambda: _workers_of(instance, run_id), 120, "a worker to take the step", fut)
        os.killpg(cluster.s3.pid, signal.SIGSTOP)   # the object store stops answering mid-step
        try:
            result = fut.result(timeout=300)
        finally:
            os.killpg(cluster.s3.pid, signal.SIGCONT)
        assert not result.success
        failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert [e.step_key for e in failures] == ["silver__cluster_parts"]
    assert lh.version(C.PARTS) == before and len(lh.history(C.PARTS)) == history   # versions intact
    assert lh.read(C.PARTS).filter(pl.col("part") == "p2").height == C.ROWS_PER_PART
    with _instance(cluster) as instance:
        assert _run_in_thread(instance, "p2", seconds=0).result(timeout=180).success
    assert lh.version(C.PARTS) == before + 1
    assert lh.read(C.PARTS).filter(pl.col("part") == "p2").height == C.ROWS_PER_PART


def test_four_writers_rewriting_partitions_of_one_table_lose_nothing(cluster):
    lh = cluster.settings().lakehouse()
    parts = ["p4", "p5", "p6", "p7"]
    ctx = mp.get_context("spawn")   # deltalake must not run in a forked child
    with ctx.Pool(4) as pool:
        versions = pool.starmap(write_partition, [(lh.root, lh.storage_options, p) for p in parts])
    assert len(set(versions)) == 4
    df = lh.read(C.PARTS).filter(pl.col("part").is_in(parts))
    assert df.height == 4 * C.ROWS_PER_PART and df.select("part", "row").is_unique().all()


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


RUNS_QUERY = "{ runsOrError(limit: 50) { ... on Runs { results { runId status } } } }"


def test_webserver_on_postgres_lists_the_runs_and_recovers_after_a_postgres_restart(cluster):
    with _instance(cluster) as instance:
        assert _run_in_thread(instance, "p3", seconds=0).result(timeout=180).success
        run_ids = {r.run_id for r in instance.get_runs(limit=50)}
    port = free_port()
    web = cluster.services.dagster_webserver(port, cluster.env)
    daemon = cluster.services.dagster_daemon(cluster.env)
    try:
        listed = {r["runId"] for r in _graphql(port, RUNS_QUERY)["data"]["runsOrError"]["results"]}
        assert run_ids <= listed
        pg = next(s for s in cluster.services.started if s.name == "postgres")
        cluster.services.stop(pg, grace=10)
        cluster.services.postgres(cluster.pg_port, "dagster", cluster.env["DAGSTER_PG_PASSWORD"], "dagster",
                                  cluster.pg_dir)
        listed = _wait(lambda: _try_runs(port), 60, "the webserver to answer after the restart")
        assert run_ids <= listed
        time.sleep(3)
        assert daemon.proc.poll() is None, daemon.tail()
        assert web.proc.poll() is None, web.tail()
    finally:
        cluster.services.stop(daemon)
        cluster.services.stop(web)


def _try_runs(port: int):
    try:
        return {r["runId"] for r in _graphql(port, RUNS_QUERY)["data"]["runsOrError"]["results"]}
    except Exception:  # noqa: BLE001 - not yet
        return None
