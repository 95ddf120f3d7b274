"""The documents assets in-process against a temporary lakehouse, and the publishing sensor."""

import dagster as dg
import polars as pl
import pytest

from assets.documents import defs as D
from assets.documents import review
from assets.ingestion import defs as ING
from lakehouse.tables import documents as T
from resources.llm import LLMResource
from pipelines.loopback.ollama_server import Behaviour

ASSETS = [ING.bronze_industry, ING.silver_industry, D.industry_facts, D.document_drafts, D.document_reviews,
          D.published_documents]
RUN_CONFIG = {"ops": {"gold__document_drafts": {"config": {"sectors": ["31-33", "46"]}}}}


def none_or(version):
    return "none" if version is None else version


def run(resources, selection, run_config=RUN_CONFIG):
    return dg.materialize(ASSETS, resources=resources, selection=selection, run_config=run_config,
                          raise_on_error=True)


@pytest.fixture
def materialized(sample_landing, resources):
    result = run(resources, [ING.bronze_industry.key, ING.silver_industry.key, D.K_FACTS, D.K_DRAFTS])
    return result, resources


def test_facts_and_drafts_materialize_with_checks(materialized):
    result, resources = materialized
    lh = resources["lakehouse"].lakehouse
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["facts_match_source"].passed and checks["all_numbers_grounded"].passed
    facts = lh.read(T.industry_facts)
    assert facts.get_column("fact_id").is_unique().all() and facts.filter(pl.col("status") == "confidential").height
    drafts = lh.read(T.document_drafts)
    assert sorted(drafts.get_column("draft_id")) == ["conociendo_la_industria-31-33-28",
                                                     "conociendo_la_industria-46-28"]
    assert drafts.get_column("numbers_flagged").to_list() == [0, 0]
    assert drafts.get_column("backend").unique().to_list() == ["template"]  # LLM resource is 'embedded'
    md = result.asset_materializations_for_node("gold__document_drafts")[0].metadata
    assert md["new_versions"].value == 2 and "data:image/png;base64," in md["example_chart"].value
    assert lh.read(T.document_reviews).get_column("status").to_list() == ["draft", "draft"]
    # idempotent rerun: same facts, same drafts, no new version, no new review row
    again = run(resources, [D.K_FACTS, D.K_DRAFTS])
    md = again.asset_materializations_for_node("gold__document_drafts")[0].metadata
    assert md["new_versions"].value == 0 and lh.row_count(T.document_reviews) == 2


def test_sensor_publishes_approved_drafts(materialized):
    _, resources = materialized
    lh = resources["lakehouse"].lakehouse
    defs = dg.Definitions(assets=ASSETS, jobs=[D.publish_documents_job], sensors=[D.approved_documents_sensor],
                          resources=resources)
    sensor_resources = {"lakehouse": resources["lakehouse"]}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=sensor_resources, definitions=defs) as ctx:
            first = D.approved_documents_sensor(ctx)
            cursor = ctx.cursor
        assert isinstance(first, dg.SkipReason)
        review.record_review(lh, "conociendo_la_industria-46-28", 1, "approved", "Ana", "Publicar.")
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=sensor_resources,
                                     definitions=defs) as ctx:
            request = D.approved_documents_sensor(ctx)
        assert isinstance(request, dg.RunRequest)
        state = f"reviews-v{lh.version(T.document_reviews)}-published-v{none_or(lh.version(T.published_documents))}"
        assert request.run_key == f"documents-publish-{state}" and request.tags["documents/publish_state"] == state

        def tick():
            with dg.build_sensor_context(instance=instance, resources=sensor_resources, definitions=defs) as ctx:
                return D.approved_documents_sensor(ctx)

        # the requested run fails: the next tick asks again under a new key, up to PUBLISH_ATTEMPTS runs
        for attempt in range(1, D.PUBLISH_ATTEMPTS + 1):
            instance.add_run(dg.DagsterRun(job_name="publish_documents_job", status=dg.DagsterRunStatus.FAILURE,
                                           tags=request.tags))
            again = tick()
            if attempt < D.PUBLISH_ATTEMPTS:
                assert isinstance(again, dg.RunRequest) and again.run_key == f"{request.run_key}-attempt{attempt + 1}"
            else:
                assert isinstance(again, dg.SkipReason) and "failed 3 times" in again.skip_message
        # a run in progress for the state is not doubled
        with dg.instance_for_test() as other:
            other.add_run(dg.DagsterRun(job_name="publish_documents_job", status=dg.DagsterRunStatus.STARTED,
                                        tags=request.tags))
            with dg.build_sensor_context(instance=other, resources=sensor_resources, definitions=defs) as ctx:
                busy = D.approved_documents_sensor(ctx)
            assert isinstance(busy, dg.SkipReason) and "already publishes" in busy.skip_message
        job = defs.resolve_job_def("publish_documents_job")
        assert job.execute_in_process(instance=instance, tags=request.tags).success
        assert isinstance(tick(), dg.SkipReason)   # published: nothing due
    published = lh.read(T.published_documents)
    assert published.select("draft_id", "version", "approved_by").rows() == [
        ("conociendo_la_industria-46-28", 1, "Ana")]
    assert (lh.local_dir("site") / "conociendo_la_industria-46-28" / "index.html").is_file()


def test_llm_backend_through_the_resource(sample_landing, resources, ollama_server):
    ollama_server.add_model("mixtral:8x7b", Behaviour.clean(
        lambda p: "## Panorama general\n\nEn 2023 el sector ocupó a 9,999,999 personas."))
    resources = dict(resources, llm=LLMResource(backend="ollama", host=ollama_server.url, max_retries=0,
                                                timeout_s=10))
    config = {"ops": {"gold__document_drafts": {"config": {"sectors": ["46", "23"], "backend": "auto"}}}}
    result = run(resources, [ING.bronze_industry.key, ING.silver_industry.key, D.K_FACTS, D.K_DRAFTS], config)
    check = [e for e in result.get_asset_check_evaluations() if e.check_name == "all_numbers_grounded"][0]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    lh = resources["lakehouse"].lakehouse
    drafts = lh.read(T.document_drafts).sort("draft_id")
    assert drafts.select("draft_id", "backend", "model", "numbers_flagged").rows() == [
        ("conociendo_la_industria-23-28", "llm", "mixtral:8x7b", 1),
        ("conociendo_la_industria-46-28", "llm", "mixtral:8x7b", 1)]
    assert ollama_server.calls["mixtral:8x7b"] == 2


def test_definitions_register_the_domain():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in (D.K_FACTS, D.K_DRAFTS, D.K_PUBLISHED):
        node = graph.get(key)
        assert node.group_name == "documents" and node.description and node.kinds
    assert D.K_REVIEWS in graph.get(D.K_PUBLISHED).parent_keys
    assert any(s.name == "approved_documents_sensor" for s in defs.sensors)
