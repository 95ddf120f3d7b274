"""Worker scaling of the Celery executor (``python -m pipelines.benches.cluster --json``, in ``make bench``).

On loopback: Redis (broker), a scratch SQLite instance every worker on this machine reads, and 1 then 2 Celery
workers (``-P solo``, queue ``default``). Two jobs of 4 independent steps (:mod:`pipelines.benches.cluster_defs`):

- news extraction: N synthetic articles split in 4 slices, each slice asked through the real client and
  extraction code to a loopback Ollama-compatible server that answers after a fixed latency (latency-bound);
- tile segmentation: 4 synthetic tiles, the default (scikit-image) segmenter (CPU-bound).

Each job runs once to warm the workers (code loaded), then is timed with 1 and with 2 workers. Reported: wall
seconds and the speedup 2 workers / 1 worker. The several-hosts half (1 vs 2 Ollama hosts) is the news bench's.
Needs the ``cluster`` extra and ``redis-server``; without them it says what is missing and reports nothing.
"""

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

INSTANCE_YAML = """telemetry:
  enabled: false
"""


def _job():
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    return ReconstructableRepository.for_module("pipelines.benches.cluster_defs", "defs").get_reconstructable_job(
        "__ASSET_JOB")


def _time_run(instance, keys, run_config) -> float:
    t0 = time.perf_counter()
    result = dg.execute_job(_job(), instance, run_config=run_config, asset_selection=keys)
    seconds = time.perf_counter() - t0
    if not result.success:
        raise RuntimeError(f"bench run {result.run_id} failed")
    return seconds


def run_bench(n_articles: int, latency_ms: float, concurrency: int, tile_size: int) -> dict:
    from pipelines.benches.cluster_defs import N_STEPS, NEWS_KEYS, TILE_KEYS
    from pipelines.cluster.services import Services, free_port
    from pipelines.loopback.ollama_server import Behaviour, OllamaServer
    from pipelines.settings import PROJECT_ROOT, settings_environment

    if not shutil.which("redis-server"):
        return {"skipped": "redis-server is not installed (make cluster-setup)"}
    work = Path(tempfile.mkdtemp(prefix="fmlake-cluster-bench-"))
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    port = free_port()
    broker, backend = f"redis://127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/1"
    env = settings_environment(FMLAKE_CELERY_BROKER=broker, FMLAKE_CELERY_BACKEND=backend, DAGSTER_HOME=str(home),
                               LAKEHOUSE_ROOT=str(work / "lake"), FMLAKE_EXECUTOR="celery")
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    execution = {"execution": {"config": {"broker": broker, "backend": backend}}}
    out: dict = {"steps_per_job": N_STEPS, "articles": n_articles, "latency_ms": latency_ms,
                 "client_concurrency_per_step": concurrency, "tile_size": tile_size, "jobs": {}}
    model = {"bench": Behaviour.clean(delay_s=latency_ms / 1000.0)}
    try:
        with OllamaServer(model) as server, Services(work, env) as svc, \
                dg.DagsterInstance.from_config(str(home)) as instance:
            svc.redis(port)
            news_cfg = {**execution, "ops": {f"bench__news_slice_{i}": {"config": {
                "host": server.url, "n_articles": n_articles, "concurrency": concurrency}} for i in range(N_STEPS)}}
            tile_cfg = {**execution, "ops": {f"bench__tile_{i}": {"config": {"size": tile_size}}
                                             for i in range(N_STEPS)}}
            workers = []
            for n_workers in (1, 2):
                while len(workers) < n_workers:
                    name = f"b{len(workers) + 1}"
                    workers.append(svc.celery_worker(name, ("default",), env))
                    svc.wait_for_workers(env, [name])
                for job, keys, cfg in (("news_extraction", NEWS_KEYS, news_cfg),
                                       ("tile_segmentation", TILE_KEYS, tile_cfg)):
                    _time_run(instance, keys, cfg)   # warm-up: every worker has loaded the code
                    seconds = _time_run(instance, keys, cfg)
                    out["jobs"].setdefault(job, {})[f"{n_workers}_worker{'s' if n_workers > 1 else ''}_s"] = \
                        round(seconds, 2)
            out["server_max_concurrent"] = server.max_concurrent
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for job, times in out["jobs"].items():
        times["speedup"] = round(times["1_worker_s"] / times["2_workers_s"], 2)
    out["limits"] = ("2 cores shared by the orchestrating process, the workers and the loopback server; each step "
                     "also pays the Celery round trip and Dagster's per-step events (~0.5-1 s); the latency-bound "
                     "news slices scale with workers, the CPU-bound tiles at most with the free cores")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=80)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--tile-size", type=int, default=768)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        print(json.dumps({"skipped": "the cluster extra is not installed (make cluster-setup)"}))
        return 0
    print(json.dumps(run_bench(args.articles, args.latency_ms, args.concurrency, args.tile_size)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
