"""The landing sensor: new batch folders become dynamic partitions, each requested once per content.

A batch is offered when it holds files that have not changed for ``landing_settle_seconds`` (a folder
created empty, or still being copied into, waits). The cursor remembers, per source, each batch's
fingerprint (its files' names, sizes and modification times); every run request carries a ``run_key`` of
``<source>:<batch>:<fingerprint>``. So a batch is registered and ingested once, never twice, even if the
cursor is lost (Dagster skips a run_key it has already seen), and a batch whose files change later
(a file added or replaced) is ingested again: its partition is rewritten, so that rerun is idempotent.

A batch may also be ingested without the sensor (``make demo``, a launch from the UI or the CLI). Its first
asset records the fingerprint of the files it read in its materialization metadata
(``fmlake/batch_fingerprint``; the run tag of the same name where an asset records none). Before
requesting a new or changed batch, the sensor reads the latest materialization of that partition in the
instance: when it recorded the batch's current fingerprint, the batch is adopted into the cursor, no run.
"""


import json
import time
from typing import Any

import dagster as dg

from assets.partitions import BATCH_SOURCES
from lakehouse.batches import FINGERPRINT_KEY, batch_fingerprint
from lakehouse.landing import Landing
from resources.lakehouse import LakehouseResource


def read_cursor(raw: str | None) -> dict[str, dict[str, str | None]]:
    """The cursor as {source: {batch: fingerprint}}; the older {source: [batch, ...]} form maps to
    fingerprint None (registered before fingerprints: adopted as it is now, not ingested again)."""
    data = json.loads(raw) if raw else {}
    return {source: ({b: None for b in batches} if isinstance(batches, list) else dict(batches))
            for source, batches in data.items()}


def new_batches(landing: Landing, seen: dict[str, dict[str, str | None]], settle_seconds: float = 0.0,
                now: float | None = None) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(due, adopted) for every batch source (pure but for reading the landing folder; the sensor's core).

    ``due``: batches with files, unchanged for ``settle_seconds``, that are new or whose fingerprint changed
    since ``seen`` -> {source: {batch: fingerprint}}. ``adopted``: batches ``seen`` lists without a
    fingerprint (an older cursor), with their current fingerprint, to record without a run."""
    now = time.time() if now is None else now
    due: dict[str, dict[str, str]] = {}
    adopted: dict[str, dict[str, str]] = {}
    for source in BATCH_SOURCES:
        known = seen.get(source, {})
        for batch in landing.batches(source):
            state = batch_fingerprint(landing, source, batch)
            if state is None:
                continue   # an empty folder: its files have not arrived yet
            fingerprint, newest = state
            if batch in known and known[batch] is None:
                adopted.setdefault(source, {})[batch] = fingerprint
            elif known.get(batch) != fingerprint and now - newest >= settle_seconds:
                due.setdefault(source, {})[batch] = fingerprint
    return due, adopted


def landing_assets(asset_graph, partitions_name: str) -> list[dg.AssetKey]:
    """The assets that read a batch from landing/: partitioned by ``partitions_name``, no parent partitioned
    by it (bronze.crime_narratives, bronze.economic_activity_text, silver.tiles)."""
    def pname(key):
        return getattr(asset_graph.get(key).partitions_def, "name", None)

    return sorted((k for k in asset_graph.get_all_asset_keys()
                   if asset_graph.get(k).is_materializable and pname(k) == partitions_name
                   and not any(pname(p) == partitions_name for p in asset_graph.get(k).parent_keys)),
                  key=lambda k: k.path)


def recorded_fingerprint(instance: dg.DagsterInstance, asset_key: dg.AssetKey, batch: str) -> str | None:
    """The batch fingerprint recorded by the latest materialization of ``asset_key``'s partition ``batch``:
    its metadata ``fmlake/batch_fingerprint``, else its run's tag of that name; None when neither (or never
    materialized)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[batch]), limit=1).records
    if not records:
        return None
    record = records[0]
    value = record.asset_materialization.metadata.get(FINGERPRINT_KEY) if record.asset_materialization else None
    if value is not None:
        return str(getattr(value, "value", value))
    run = instance.get_run_by_id(record.run_id)
    return run.tags.get(FINGERPRINT_KEY) if run is not None else None


def already_ingested(instance: dg.DagsterInstance, asset_keys: list[dg.AssetKey], batch: str,
                     fingerprint: str) -> bool:
    """Whether every landing asset's latest materialization of ``batch`` read the files it holds now."""
    return bool(asset_keys) and all(recorded_fingerprint(instance, k, batch) == fingerprint for k in asset_keys)


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
                    "and requests its ingestion once its files have settled, again when they change "
                    "(cursor + run_key with the batch's fingerprint); a batch already ingested with its "
                    "current files (demo, UI, CLI: fingerprint in the materialization) is adopted, no run.",
    )
    def landing_batches_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
        seen = read_cursor(context.cursor)
        due, adopted = new_batches(lakehouse.landing, seen, lakehouse.landing_settle_seconds)
        due = {s: b for s, b in due.items() if s in jobs_by_source}
        # ingested without this sensor (the demo, a launch from the UI or the CLI): adopted, no second run
        graph = context.repository_def.asset_graph if context.repository_def is not None else None
        ingested: dict[str, dict[str, str]] = {}
        for source, batches in due.items():
            keys = landing_assets(graph, BATCH_SOURCES[source].name) if graph is not None else []
            for batch, fingerprint in list(batches.items()):
                if already_ingested(context.instance, keys, batch, fingerprint):
                    ingested.setdefault(source, {})[batch] = batches.pop(batch)
        due = {s: b for s, b in due.items() if b}
        for source, batches in ingested.items():
            context.instance.add_dynamic_partitions(BATCH_SOURCES[source].name, sorted(batches))
        for source, batches in [*adopted.items(), *ingested.items()]:
            seen.setdefault(source, {}).update(batches)
        if not due:
            reason = "no new or changed landing batches"
            if ingested:
                reason += "; already ingested, adopted: " + ", ".join(
                    f"{s}/{b}" for s, batches in sorted(ingested.items()) for b in sorted(batches))
            return dg.SensorResult(skip_reason=reason,
                                   cursor=json.dumps(seen, sort_keys=True) if adopted or ingested else None)
        requests = []
        for source, batches in due.items():
            # Registered before the runs are requested, so each request names an existing partition.
            # Idempotent: re-adding a known partition is a no-op.
            context.instance.add_dynamic_partitions(BATCH_SOURCES[source].name, sorted(batches))
            for batch, fingerprint in sorted(batches.items()):
                requests.append(dg.RunRequest(run_key=f"{source}:{batch}:{fingerprint}", partition_key=batch,
                                              job_name=jobs_by_source[source].name,
                                              tags={"fmlake/source": source, FINGERPRINT_KEY: fingerprint}))
            seen.setdefault(source, {}).update(batches)
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return landing_batches_sensor
