"""Dagster definitions of the documents domain ("Conociendo la Industria"); no resources.

silver.industry_stats ─> gold.industry_facts ─> gold.document_drafts ─┬─> gold.published_documents (+ site/)
                                                gold.document_reviews ─┘   (reviewers, `fmlake review serve`)

``approved_documents_sensor`` watches the review table and launches ``publish_documents_job`` when
the set of approved drafts changes. The work is done by plain functions in this package.
"""


import base64
from pathlib import Path

import dagster as dg
import polars as pl

from assets.common import asset_key, markdown_preview, table_metadata, table_result, write_table
from assets.documents import service
from assets.documents.drafting import LLMWriter, TemplateWriter
from assets.documents.facts import compute_facts, verify_facts
from lakehouse.tables import documents as T
from lakehouse.tables import ingestion as ING
from resources.lakehouse import LakehouseResource
from resources.llm import LLMResource

GROUP = "documents"
K_STATS = asset_key(ING.silver_industry)
K_FACTS = asset_key(T.industry_facts)
K_DRAFTS = asset_key(T.document_drafts)
K_REVIEWS = asset_key(T.document_reviews)
K_PUBLISHED = asset_key(T.published_documents)


@dg.asset(key=K_FACTS, group_name=GROUP, kinds={"delta", "polars"}, deps=[K_STATS],
          metadata=table_metadata(T.industry_facts),
          check_specs=[dg.AssetCheckSpec("facts_match_source", asset=K_FACTS, blocking=True,
                                         description="Every census-level fact equals its silver cell; every "
                                                     "confidential fact is a blank cell (nothing invented).")])
def industry_facts(lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """Facts a sector study may cite, per SCIAN sector, geography and census year, from silver.industry_stats.

    Levels (employment, gross output, value added, remuneration, investment, assets, price index),
    ratios (value added per worker, remuneration per worker, intermediate consumption and value
    added as % of gross output), shares of the national (and state) total of the sector, growth
    between census years, change in percentage points, price-index change and real value-added
    growth. Each fact has a stable id, unit, Spanish label and the source rows it comes from; a
    blank (confidential) census cell is a ``confidential`` fact with a null value, never estimated.
    """
    lh = lakehouse.lakehouse
    stats = lh.read(ING.silver_industry)
    facts = compute_facts(stats)
    problems = verify_facts(stats, facts)
    check = dg.AssetCheckResult(check_name="facts_match_source", passed=not problems["examples"],
                                metadata={"mismatches": problems["mismatches"], "invented": problems["invented"],
                                          "examples": "; ".join(problems["examples"][:5]) or "none"})
    by_status = facts.group_by("status").len().sort("status")
    return write_table(lh, T.industry_facts, facts, check_results=[check], extra={
        "facts_by_status": dg.MetadataValue.md(markdown_preview(by_status)),
        "sectors": facts.get_column("sector_code").n_unique() if facts.height else 0,
        "geographies": facts.get_column("geo_code").n_unique() if facts.height else 0,
    })


class DraftsConfig(dg.Config):
    """Which documents to draft and with which backend."""

    backend: str = "auto"  # auto (llm when the LLM resource has a server, else template) | template | llm
    model: str = service.DEFAULT_MODEL
    sectors: list[str] = []  # empty: every sector
    geo_codes: list[str] = []  # empty: every geography at geo_levels
    geo_levels: list[str] = ["state"]
    instructions_version: int | None = None
    instructions_dir: str | None = None  # extra folder of instruction YAML files
    redraft: bool = False  # ask the LLM again even when the latest version came from the same request


def _writer(config: DraftsConfig, llm: LLMResource):
    if config.backend not in ("auto", "template", "llm"):
        raise dg.Failure(f"DraftsConfig.backend must be auto, template or llm, got {config.backend!r}")
    if config.backend == "template" or (config.backend == "auto" and not llm.enabled):
        return TemplateWriter()
    return LLMWriter(llm.get_client(), config.model)


def _png_md(path: Path, title: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"**{title}**\n\n![{title}](data:image/png;base64,{data})"


@dg.asset(key=K_DRAFTS, group_name=GROUP, kinds={"delta", "python", "matplotlib"}, deps=[K_FACTS],
          metadata=table_metadata(T.document_drafts), pool="llm",
          check_specs=[dg.AssetCheckSpec("all_numbers_grounded", asset=K_DRAFTS,
                                         description="Every number of every latest draft matches a fact "
                                                     "(a draft with flagged numbers cannot be approved).")])
def document_drafts(context: dg.AssetExecutionContext, config: DraftsConfig, lakehouse: LakehouseResource,
                    llm: LLMResource) -> dg.MaterializeResult:
    """Draft documents "Conociendo la Industria", one per (sector, geography), written from gold.industry_facts.

    The text follows the expert instructions (versioned YAML in assets/documents/instructions) and
    is written by the embedded Spanish templates or an LLM (Ollama, model from config). Every
    draft is grounding-checked: each number must match one of its facts after the formatting and
    rounding rules, else it is flagged. Charts (PNG), tables, draft.md and draft.html go under
    <root>/documents/<draft_id>/v<version>. A new version is stored only when the content changes;
    each new version opens its history in gold.document_reviews with status 'draft'. The LLM is not asked
    again for a document whose latest version answered the same request (config ``redraft`` forces it).
    """
    lh = lakehouse.lakehouse
    facts = lh.read(T.industry_facts)
    pairs = service.plan_documents(facts, config.sectors or None, config.geo_codes or None, config.geo_levels)
    writer = _writer(config, llm)
    previous = {} if config.redraft else service.latest_drafts(lh)
    drafts = service.draft_all(facts, pairs, writer, config.instructions_version, config.instructions_dir,
                               previous=previous)
    saved = service.save_drafts(lh, drafts)
    context.log.info(f"{len(drafts)} drafts ({writer.backend}); {len(saved.new_versions)} new versions")
    rows = pl.DataFrame([service.draft_summary(d) for d in saved.drafts],
                        schema={"draft_id": pl.Utf8, "version": pl.Int64, "backend": pl.Utf8,
                                "numbers_found": pl.Int64, "numbers_flagged": pl.Int64, "title": pl.Utf8})
    flagged = rows.filter(pl.col("numbers_flagged") > 0)
    check = dg.AssetCheckResult(check_name="all_numbers_grounded", passed=flagged.height == 0,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"drafts": rows.height, "drafts_with_flagged_numbers": flagged.height,
                                          "flagged": dg.MetadataValue.md(markdown_preview(flagged))})
    extra = {"dagster/row_count": dg.MetadataValue.int(lh.row_count(T.document_drafts)),
             "drafts_this_run": rows.height, "new_versions": len(saved.new_versions), "backend": writer.backend,
             "review_rows_opened": saved.review_rows}
    example = next((d for d in saved.drafts if d.artifacts_dir), None)
    if example is not None:
        chart = Path(example.artifacts_dir) / "charts" / "empleo.png"
        if chart.is_file():
            extra["example_chart"] = dg.MetadataValue.md(_png_md(chart, example.title))
    return table_result(T.document_drafts, lh, None, rows, extra=extra, check_results=[check], preview=rows)


document_reviews = dg.AssetSpec(
    K_REVIEWS, group_name=GROUP, kinds={"delta"}, deps=[K_DRAFTS], metadata=table_metadata(T.document_reviews),
    description="Append-only review history of the drafts (draft / approved / rejected / changes_requested, "
                "reviewer, comment, time). Written by the reviewers through `fmlake review serve` and by "
                "gold/document_drafts when a version is created; not materialized by Dagster.")


@dg.asset(key=K_PUBLISHED, group_name=GROUP, kinds={"delta", "html"}, deps=[K_DRAFTS, K_REVIEWS],
          metadata=table_metadata(T.published_documents))
def published_documents(lakehouse: LakehouseResource) -> dg.MaterializeResult:
    """The published static site (<root>/site): an index and one page per approved document.

    For each draft, the highest version whose latest review is 'approved' (never one with flagged
    numbers) is rendered with its charts and tables; all text is escaped. The table lists what the
    site shows, who approved it and when. Launched by approved_documents_sensor after a decision.
    """
    lh = lakehouse.lakehouse
    rows, written = service.publish(lh)
    from assets.documents.site import site_dir

    return table_result(T.published_documents, lh, written, rows, extra={
        "site": dg.MetadataValue.path(str(site_dir(lh) / "index.html")),
    })


publish_documents_job = dg.define_asset_job(
    "publish_documents_job", selection=dg.AssetSelection.assets(K_PUBLISHED),
    description="Rebuild the published site from the approved drafts.")


PUBLISH_ATTEMPTS = 3   # runs the sensor requests for one state before it waits for a person


@dg.sensor(job=publish_documents_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Publishes approved drafts: when the approved set differs from what is published, "
                       "requests publish_documents_job (run_key = review and published table versions; a failed "
                       f"run is requested again, at most {PUBLISH_ATTEMPTS} times per state).")
def approved_documents_sensor(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource):
    lh = lakehouse.lakehouse
    decision = service.publication_due(lh)
    context.update_cursor(decision.state)
    if decision.run_key is None:
        return dg.SkipReason(decision.reason)
    runs = context.instance.get_runs(filters=dg.RunsFilter(tags={"documents/publish_state": decision.state}))
    failed = [r for r in runs if r.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    others = [r for r in runs if r not in failed]
    if others:
        return dg.SkipReason(f"run {others[0].run_id} ({others[0].status.value}) already publishes {decision.state}")
    if len(failed) >= PUBLISH_ATTEMPTS:
        return dg.SkipReason(f"publishing {decision.state} failed {len(failed)} times (last run {failed[0].run_id}): "
                             "fix the cause, then re-execute publish_documents_job")
    run_key = decision.run_key + (f"-attempt{len(failed) + 1}" if failed else "")
    return dg.RunRequest(run_key=run_key, tags={"documents/approved": decision.summary,
                                                "documents/publish_state": decision.state})


defs = dg.Definitions(
    assets=[industry_facts, document_drafts, document_reviews, published_documents],
    jobs=[publish_documents_job],
    sensors=[approved_documents_sensor],
)
