"""The ONE composition point: every asset, check, job, schedule, sensor and resource of the project.

Cross-cutting policy lives here: key checks on every silver table, the catalog asset that depends
on every table asset, and the executor: local processes by default, Celery workers with
``FMLAKE_EXECUTOR=celery``, where the steps of the GPU pools (segmentation, naming, model training, LLM
answers and drafts) go to the ``gpu`` queue and every other step to ``default``.
"""

from __future__ import annotations

import dagster as dg

from assets.common import TABLE_METADATA_KEY, build_key_check
from assets.coding import defs as coding
from assets.documents import defs as documents
from assets.imagery import defs as imagery
from assets.ingestion.defs import ingestion_assets
from assets.maintenance.defs import lakehouse_maintenance_job
from assets.news import defs as news
from assets.search import defs as search
from assets.transform.defs import build_transform_defs
from lakehouse import get_table
from pipelines.jobs import jobs
from pipelines.resources import build_resources
from pipelines.schedules import schedules
from pipelines.runs import build_dead_run_slots_sensor
from pipelines.sensors import batch_jobs, build_landing_sensor
from pipelines.settings import Settings, load_settings

# Steps that need a GPU node on a cluster, by pool (the pools the assets declare): the Celery executor
# sends them to the `gpu` queue (workers on GPU nodes listen to it), every other step to `default`.
GPU_POOLS = ("imagery_segmenter", "imagery_namer", "coding_model", "llm")


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor of every job: local processes (default) or the Celery workers of the cluster profile."""
    if settings.cluster.celery:
        from pipelines.cluster.executor import routed_celery_executor

        return routed_celery_executor(settings.cluster, GPU_POOLS)
    return dg.multiprocess_executor


def _key_checks(defs: dg.Definitions) -> list[dg.AssetChecksDefinition]:
    """A blocking not-null/unique primary-key check for every silver table asset."""
    checks = []
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition):
            continue
        for key in assets_def.keys:
            table = assets_def.specs_by_key[key].metadata.get(TABLE_METADATA_KEY)
            if table and key.path[0] == "silver":
                spec = get_table(table)
                if spec.primary_key:
                    checks.append(build_key_check(key, spec))
    return checks


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or load_settings()
    apps = dg.Definitions.merge(
        dg.Definitions(assets=ingestion_assets),
        # each domain module exposes its own Definitions (assets, checks, jobs, sensors; no resources)
        coding.build_defs(settings.coding.retrain_after_decisions), news.defs, imagery.defs, documents.defs,
        search.defs,
    )
    transform = build_transform_defs(apps)
    merged = dg.Definitions.merge(apps, transform)
    per_batch = batch_jobs(merged.assets or [])
    return dg.Definitions.merge(
        merged,
        dg.Definitions(
            asset_checks=_key_checks(merged),
            jobs=[*jobs, lakehouse_maintenance_job, *per_batch.values()],
            schedules=schedules,
            sensors=[build_landing_sensor(per_batch), build_dead_run_slots_sensor()],
            resources=build_resources(settings),
            executor=build_executor(settings),
        ),
    )


defs = build_definitions()
