"""Resources built from the environment (the only place resources are configured)."""

from __future__ import annotations

import json
from typing import Any

from pipelines.environment import Environment, get_environment
from resources.dbt import build_dbt_resource
from resources.duckdb import DuckDBCatalogResource
from resources.lakehouse import LakehouseResource


def build_resources(env: Environment | None = None) -> dict[str, Any]:
    """Every resource the assets take, keyed by parameter name."""
    env = env or get_environment()
    resources: dict[str, Any] = {
        "lakehouse": LakehouseResource(
            root=env.lakehouse_root,
            landing_root=env.landing_root,
            storage_options_json=json.dumps(env.storage_options),
            source_overrides=env.source_overrides,
        ),
        "catalog": DuckDBCatalogResource(path=env.catalog_path),
        "dbt": build_dbt_resource(env),
    }
    from pipelines import domain_resources

    resources.update(domain_resources.build(env))
    return resources
