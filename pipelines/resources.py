"""Resources built from the settings: the ONE set of factories for definitions, CLIs, services, benches and the demo.

Each factory takes :class:`pipelines.settings.Settings` and keyword overrides (a CLI flag beats the
setting), so a default exists once. Secrets reach resources as ``dg.EnvVar`` (resolved by Dagster in the
run, never shown in the resource config the UI displays).
"""

from __future__ import annotations

from typing import Any

from assets.search.settings import SearchIndexResource
from pipelines.settings import Settings, load_settings
from resources.dbt import build_dbt_resource
from resources.duckdb import DuckDBCatalogResource
from resources.embedder import EmbedderResource
from resources.lakehouse import LakehouseResource
from resources.llm import LLMResource
from resources.namer import NamerResource
from resources.segmenter import SegmenterResource


def lakehouse_resource(settings: Settings) -> LakehouseResource:
    core, cluster = settings.core, settings.cluster
    return LakehouseResource(
        root=core.lakehouse_root,
        landing_root=core.landing_root,
        storage_options_json=core.storage_options.env_var() if core.storage_options.is_set else "{}",
        source_overrides=core.source_overrides,
        landing_settle_seconds=core.landing_settle_seconds,
        commit_retries=settings.delta.commit_retries,
        vacuum_retention_hours=settings.delta.vacuum_retention_hours,
        compact_target_mb=settings.delta.compact_target_mb,
        max_landing_file_bytes=settings.limits.max_landing_file_bytes,
        max_field_chars=settings.limits.max_field_chars,
        max_json_depth=settings.limits.max_json_depth,
        max_records_per_file=settings.limits.max_records_per_file,
        max_raster_pixels=settings.limits.max_raster_pixels,
        s3_endpoint=cluster.s3_endpoint,
        s3_region=cluster.s3_region,
        s3_access_key_id=cluster.s3_access_key_id.env_var() if cluster.s3_access_key_id.is_set else "",
        s3_secret_access_key=cluster.s3_secret_access_key.env_var() if cluster.s3_secret_access_key.is_set else "",
        artifact_cache=str(cluster.artifact_cache),
    )


def _ollama_client_fields(settings: Settings) -> dict[str, Any]:
    """The one Ollama client's settings, the same for the LLM resource, the namer and the embedder."""
    s = settings.llm
    return dict(timeout_s=s.timeout_s, max_retries=s.max_retries, max_concurrency=s.max_concurrency,
                max_answer_bytes=s.max_answer_bytes)


def _hosts_override(overrides: dict[str, Any], key: str = "host") -> dict[str, Any]:
    """A `host` flag (one URL or a comma list) replaces the settings' host list."""
    host = overrides.pop(key, None)
    if host:
        hosts = [h.strip().rstrip("/") for h in str(host).split(",") if h.strip()]
        overrides.setdefault("hosts", hosts)
    return overrides


def llm_resource(settings: Settings, **overrides: Any) -> LLMResource:
    s = settings.llm
    fields: dict[str, Any] = dict(backend=s.backend, hosts=list(s.hosts), host=s.host, models=list(s.models),
                                  options_json=s.options_json, host_failures=s.host_failures,
                                  host_cooldown_s=s.host_cooldown_s, **_ollama_client_fields(settings))
    overrides = _hosts_override({k: v for k, v in overrides.items() if v is not None})
    if "hosts" in overrides:
        fields["host"] = overrides["hosts"][0]
    return LLMResource(**{**fields, **overrides})


def segmenter_resource(settings: Settings, **overrides: Any) -> SegmenterResource:
    s = settings.imagery
    fields: dict[str, Any] = dict(
        backend=s.segmenter, band_roles=s.band_roles, window_size=s.window_size, window_overlap=s.window_overlap,
        min_mask_area_px=s.min_mask_area_px, sam_model_type=s.sam_model_type, sam_checkpoint=s.sam_checkpoint,
        sam_device=s.sam_device, sam_points_per_side=s.sam_points_per_side, sam_pred_iou_thresh=s.sam_pred_iou_thresh,
        sam_stability_score_thresh=s.sam_stability_score_thresh)
    return SegmenterResource(**{**fields, **{k: v for k, v in overrides.items() if v is not None}})


def namer_resource(settings: Settings, **overrides: Any) -> NamerResource:
    s = settings.imagery
    fields: dict[str, Any] = dict(backend=s.namer, model=s.namer_model, hosts=list(settings.llm.hosts),
                                  host=settings.llm.host, checkpoint=s.namer_checkpoint, device=s.namer_device,
                                  k_min=s.k_min, k_max=s.k_max, **_ollama_client_fields(settings))
    overrides = _hosts_override({k: v for k, v in overrides.items() if v is not None})
    if "hosts" in overrides:
        fields["host"] = overrides["hosts"][0]
    return NamerResource(**{**fields, **overrides})


def embedder_resource(settings: Settings, **overrides: Any) -> EmbedderResource:
    s = settings.search
    fields: dict[str, Any] = dict(backend=s.embedder, model_path=s.embedder_model_path, ollama_host=settings.llm.host,
                                  ollama_hosts=list(settings.llm.hosts), ollama_model=s.ollama_model,
                                  threads=s.embedder_threads, workers=s.embedder_workers,
                                  **{f"ollama_{k}": v for k, v in _ollama_client_fields(settings).items()})
    overrides = _hosts_override({k: v for k, v in overrides.items() if v is not None}, "ollama_host")
    if "hosts" in overrides:
        overrides["ollama_hosts"] = overrides.pop("hosts")
        fields["ollama_host"] = overrides["ollama_hosts"][0]
    return EmbedderResource(**{**fields, **overrides})


def search_index_resource(settings: Settings) -> SearchIndexResource:
    s = settings.search
    return SearchIndexResource(fusion=s.fusion, alpha=s.alpha, expand_weight=s.expand_weight,
                               vector_index=s.vector_index, exact_max_vectors=s.exact_max_vectors)


def catalog_resource(settings: Settings) -> DuckDBCatalogResource:
    return DuckDBCatalogResource(path=settings.core.catalog_path)


def build_resources(settings: Settings | None = None) -> dict[str, Any]:
    """Every resource the assets take, keyed by parameter name."""
    settings = settings or load_settings()
    return {
        "lakehouse": lakehouse_resource(settings),
        "catalog": catalog_resource(settings),
        "dbt": build_dbt_resource(settings.core.dbt_target),
        "llm": llm_resource(settings),
        "segmenter": segmenter_resource(settings),
        "namer": namer_resource(settings),
        "embedder": embedder_resource(settings),
        "search_index": search_index_resource(settings),
    }
