"""The landing sensor: new batch folders become dynamic partitions, each requested once per content.

A batch is offered when it holds files that have not changed for ``landing_settle_seconds`` (a folder
created empty, or still being copied into, waits). The cursor remembers, per source, each batch's
fingerprint (its files' names, sizes and modification times); every run request carries a ``run_key`` of
``<source>:<batch>:<fingerprint>``. So a batch is registered and ingested once, never twice, even if the
cursor is lost (Dagster skips a run_key it has already seen), and a batch whose files change later
(a file added or replaced) is ingested again: its partition is rewritten, so that rerun is idempotent.
"""


import hashlib
import json
import time
from typing import Any

import dagster as dg

from pipelines.environment import get_environment
from pipelines.partitions import BATCH_SOURCES
from lakehouse.landing import Landing


def batch_fingerprint(landing: Landing, source: str, batch: str) -> tuple[str, float] | None:
    """(fingerprint, newest modification time) of a batch's files; None when it has no file yet."""
    files = landing.files(source, batch=batch)
    if not files:
        return None
    base = landing.source_dir(source)
    stats = []
    for p in files:
        st = p.stat()
        name = p.name if base.is_file() else str(p.relative_to(base))
        stats.append((name, st.st_size, st.st_mtime_ns))
    digest = hashlib.sha1(json.dumps(stats).encode()).hexdigest()[:12]
    return digest, max(s[2] for s in stats) / 1e9


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
                    "(cursor + run_key with the batch's fingerprint).",
    )
    def landing_batches_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from pipelines.resources import build_resources

        env = get_environment()
        lakehouse = build_resources(env)["lakehouse"]
        seen = read_cursor(context.cursor)
        due, adopted = new_batches(lakehouse.landing, seen, env.landing_settle_seconds)
        due = {s: b for s, b in due.items() if s in jobs_by_source}
        for source, batches in adopted.items():
            seen.setdefault(source, {}).update(batches)
        if not due:
            return dg.SensorResult(skip_reason="no new or changed landing batches",
                                   cursor=json.dumps(seen, sort_keys=True) if adopted else None)
        requests = []
        for source, batches in due.items():
            # Registered before the runs are requested, so each request names an existing partition.
            # Idempotent: re-adding a known partition is a no-op.
            context.instance.add_dynamic_partitions(BATCH_SOURCES[source].name, sorted(batches))
            for batch, fingerprint in sorted(batches.items()):
                requests.append(dg.RunRequest(run_key=f"{source}:{batch}:{fingerprint}", partition_key=batch,
                                              job_name=jobs_by_source[source].name,
                                              tags={"fmlake/source": source, "fmlake/batch_fingerprint": fingerprint}))
            seen.setdefault(source, {}).update(batches)
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))

    return landing_batches_sensor
