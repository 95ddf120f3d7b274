"""The landing sensor: new batch folders become dynamic partitions, each requested once.

The cursor remembers every batch already registered per source, and every run request carries a
``run_key`` of ``<source>:<batch>``, so a batch is registered and ingested once, never twice, even
if the cursor is lost (Dagster skips a run_key it has already seen).
"""


import json
from typing import Any

import dagster as dg

from pipelines.environment import get_environment
from pipelines.partitions import BATCH_SOURCES
from lakehouse.landing import Landing


def new_batches(landing: Landing, seen: dict[str, list[str]]) -> dict[str, list[str]]:
    """Batches present in landing/ and not yet in ``seen`` (pure; the sensor's core)."""
    found = {}
    for source in BATCH_SOURCES:
        fresh = [b for b in landing.batches(source) if b not in set(seen.get(source, []))]
        if fresh:
            found[source] = fresh
    return found


def batch_jobs(assets_defs) -> dict[str, Any]:
    """One job per batch source: every asset partitioned by that source's dynamic partitions."""
    jobs = {}
    for source, pdef in BATCH_SOURCES.items():
        keys = [key for a in assets_defs if isinstance(a, dg.AssetsDefinition)
                and getattr(a.partitions_def, "name", None) == pdef.name for key in a.keys]
        if keys:
            jobs[source] = dg.define_asset_job(
                f"{source}_batch_job", selection=dg.AssetSelection.assets(*keys), partitions_def=pdef,
                description=f"Ingest and process one landing batch of {source}.")
    return jobs


def build_landing_sensor(jobs_by_source: dict[str, Any]) -> dg.SensorDefinition:
    @dg.sensor(
        name="landing_batches_sensor",
        jobs=list(jobs_by_source.values()),
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches landing/<source>/<batch>/ folders; registers each new batch as a partition "
                    "and requests its ingestion once (cursor + run_key).",
    )
    def landing_batches_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from pipelines.resources import build_resources

        lakehouse = build_resources(get_environment())["lakehouse"]
        seen: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
        fresh = {s: b for s, b in new_batches(lakehouse.landing, seen).items() if s in jobs_by_source}
        if not fresh:
            return dg.SensorResult(skip_reason="no new landing batches")
        requests = []
        for source, batches in fresh.items():
            # Registered before the runs are requested, so each request names an existing partition.
            # Idempotent: re-adding a known partition is a no-op.
            context.instance.add_dynamic_partitions(BATCH_SOURCES[source].name, batches)
            for batch in batches:
                requests.append(dg.RunRequest(run_key=f"{source}:{batch}", partition_key=batch,
                                              job_name=jobs_by_source[source].name,
                                              tags={"fmlake/source": source}))
            seen[source] = sorted({*seen.get(source, []), *batches})
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return landing_batches_sensor
