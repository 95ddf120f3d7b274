"""``make demo`` / ``fmlake demo``: sample data, then every asset materialized in-process.

Order: unpartitioned reference data, then each partitioned asset set for every partition present
in the landing zone (dynamic batches registered first, as the landing sensor would), then
everything else (applications, dbt marts, the analysts' catalog). The runs are recorded in the
Dagster instance of ``DAGSTER_HOME`` (default ``.dagster_home/`` of the project, as in the Makefile), the
one ``make ui`` opens: the UI shows them, and the landing sensor finds the batches the demo ingested
(each batch run is tagged with its files' fingerprint, the bronze assets record it too) and does not
ingest them a second time.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

import dagster as dg

# Runs still go to the instance's event log (and the UI); the console gets warnings only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def dagster_home(home: Path) -> Path:
    """The instance folder ``home`` (settings: ``DAGSTER_HOME``, default the project's ``.dagster_home/``, the
    Makefile's and so ``make ui``'s), created with the project's ``dagster.yaml`` when it has none."""
    from pipelines.settings import PROJECT_ROOT

    home.mkdir(parents=True, exist_ok=True)
    config = PROJECT_ROOT / "dagster.yaml"
    if not (home / "dagster.yaml").exists() and config.is_file():
        shutil.copyfile(config, home / "dagster.yaml")
    return home


def partition_plan(defs: dg.Definitions, instance: dg.DagsterInstance, landing, keys: set | None = None):
    """Split asset keys into (reference, rest) unpartitioned lists and {partitions_def: (keys, partition keys)}.

    Dynamic batches present in landing/ are registered on ``instance`` (what the sensor does).
    """
    from assets.partitions import BATCH_SOURCES, news_daily

    graph = defs.resolve_asset_graph()
    by_pdef: dict = defaultdict(list)
    unpartitioned = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable or (keys is not None and key not in keys):
            continue
        if node.partitions_def is None:
            unpartitioned.append(key)
        else:
            by_pdef[node.partitions_def].append(key)
    plan = {}
    for pdef, pkeys in by_pdef.items():
        if isinstance(pdef, dg.DynamicPartitionsDefinition):
            source = next(s for s, d in BATCH_SOURCES.items() if d.name == pdef.name)
            batches = landing.batches(source)
            new = [b for b in batches if not instance.has_dynamic_partition(pdef.name, b)]
            if new:
                instance.add_dynamic_partitions(pdef.name, new)
            plan[pdef] = (sorted(pkeys, key=lambda k: k.path), batches)
        elif pdef == news_daily:
            days = sorted({rec["date"] for p in landing.files("news", ("*.json",))
                           for rec in _json_records(p) if _is_day(rec.get("date"))})
            plan[pdef] = (sorted(pkeys, key=lambda k: k.path), days)
        else:
            raise RuntimeError(f"no rule to pick partitions for {pdef}")
    # reference data: unpartitioned assets that partitioned assets read (catalogues, statistics), run first
    partitioned = [k for pkeys, _ in plan.values() for k in pkeys]
    ancestors = dg.AssetSelection.assets(*partitioned).upstream().resolve(graph) if partitioned else set()
    reference = sorted((k for k in unpartitioned if k in ancestors), key=lambda k: k.path)
    rest = sorted((k for k in unpartitioned if k not in ancestors), key=lambda k: k.path)
    return reference, rest, plan


def _is_day(value) -> bool:
    from datetime import date

    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _json_records(path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):   # bad encoding or syntax, nested past the parser
        return []  # the ingestion asset quarantines it with the reason; here we only pick partitions
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def run_plan(defs: dg.Definitions, instance: dg.DagsterInstance, landing, run: Callable[..., None],
             keys: set | None = None) -> None:
    """Call ``run(selection, label, tags, partition_key)`` for every run of the plan of ``make demo``, in
    dependency order: the reference data, each partitioned group (a single-run backfill as one range run, else a run
    per partition in landing/), then the applications, marts and catalog. A landing batch's run carries the tags the
    landing sensor gives its own runs (``fmlake/source``, ``fmlake/batch_fingerprint``, taken before the run reads
    the files), so the sensor knows the batch is ingested. ``run`` executes one run (in process, or through the
    definitions' executor)."""
    from assets.partitions import BATCH_SOURCES
    from lakehouse.batches import FINGERPRINT_KEY, batch_fingerprint

    source_of = {pdef.name: source for source, pdef in BATCH_SOURCES.items()}
    graph = defs.resolve_asset_graph()
    reference, rest, plan = partition_plan(defs, instance, landing, keys)
    run(reference, "reference data", {}, None)
    for pdef, (pkeys, partition_keys) in plan.items():
        policies = {graph.get(k).backfill_policy for k in pkeys}
        name = getattr(pdef, "name", None) or "daily news"
        if partition_keys and policies == {dg.BackfillPolicy.single_run()}:
            run(pkeys, f"{name} [{partition_keys[0]} .. {partition_keys[-1]}]", {
                "dagster/asset_partition_range_start": partition_keys[0],
                "dagster/asset_partition_range_end": partition_keys[-1]}, None)
            continue
        source = source_of.get(getattr(pdef, "name", None))
        for pk in partition_keys:
            tags = {}
            if source is not None:
                state = batch_fingerprint(landing, source, pk)
                tags = {"fmlake/source": source, **({FINGERPRINT_KEY: state[0]} if state else {})}
            run(pkeys, f"{name} [{pk}]", tags, pk)
    run(rest, "applications, marts and catalog", {}, None)


def materialize_everything(defs: dg.Definitions, resources: dict, instance: dg.DagsterInstance,
                           keys: set | None = None, report: Callable[[str], None] = lambda _: None,
                           raise_on_error: bool = True, guard: bool = False) -> list[dg.ExecuteInProcessResult]:
    """Materialize ``keys`` (default: every asset) in process, in dependency order, every partition in landing/
    (:func:`run_plan`).

    ``guard`` (the demo): each run carries this process in its tags and runs under
    :func:`pipelines.runs.run_guarded`, so a step waiting for a pool says what holds it, slots of dead runs
    are freed, and Ctrl-C / SIGTERM stop the run (:class:`pipelines.runs.RunInterrupted`)."""
    import uuid

    from pipelines.runs import guard_tags, run_guarded

    assets = [a for a in (defs.assets or []) if isinstance(a, (dg.AssetsDefinition, dg.AssetSpec))]
    checks = list(defs.asset_checks or [])
    results = []

    def run(selection, label, tags, partition_key):
        if not selection:
            return
        t0 = time.time()
        token = uuid.uuid4().hex
        extra = guard_tags(token) if guard else {}

        def go():
            return dg.materialize([*assets, *checks], selection=selection, resources=resources, instance=instance,
                                  tags={"fmlake/demo": "true", **extra, **tags}, run_config=QUIET,
                                  raise_on_error=raise_on_error, partition_key=partition_key)

        result = run_guarded(instance, token, go, report=report) if guard else go()
        results.append(result)
        n = len(result.get_asset_materialization_events())
        report(f"  {label}: {n} materializations in {time.time() - t0:.1f}s")

    run_plan(defs, instance, resources["lakehouse"].landing, run, keys)
    return results


def run_demo(seed: int = 7) -> int:
    from assets.ingestion.sample_data import generate
    from lakehouse.catalog import table_infos
    from pipelines.definitions import defs
    from pipelines.resources import build_resources
    from pipelines.runs import reclaim_slots
    from pipelines.settings import load_settings

    started = time.time()
    settings = load_settings()
    env = settings.core
    summary = generate(env.landing_root, seed=seed)
    print(f"sample data written to {summary.root}: {summary.files}")
    resources = build_resources(settings)
    home = dagster_home(env.dagster_home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for holder in reclaim_slots(instance):
            print(f"freed a pool slot of a run that is no longer alive: {holder.describe()}")
        materialize_everything(defs, resources, instance, report=print, guard=True)

    lh = resources["lakehouse"].lakehouse
    infos = table_infos(lh)
    print(f"\n{len(infos)} tables under {lh.root}:")
    for info in infos:
        version = "-" if info.version is None else info.version
        print(f"  {info.layer + '.' + info.name:<45} {info.rows:>8,} rows  v{version}")
    print(f"\nDuckDB catalog for analysts: {env.catalog_path}")
    print("  fmlake sql \"SELECT * FROM marts.mart_municipality_profile LIMIT 5\"")
    print("  fmlake tables --json")
    print(f"Dagster UI with these runs (instance {home}): make ui  ->  http://127.0.0.1:3000")
    print(f"demo finished in {time.time() - started:.0f}s")
    return 0
