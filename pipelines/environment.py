"""The ONE place that decides dev / test / prod and where everything lives.

Every setting comes from an environment variable (documented in ``.env.example``); nothing is
read at import time: call :func:`get_environment`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENTS = ("dev", "test", "prod")
SOURCE_PREFIX = "FMLAKE_SOURCE_"


class EnvironmentConfigError(ValueError):
    """An environment variable has a value the project cannot use (the message names it)."""


@dataclass(frozen=True)
class Environment:
    name: str
    lakehouse_root: str
    landing_root: str
    catalog_path: str
    storage_options: dict[str, str] = field(default_factory=dict)
    # source name -> folder or file holding that source's files (e.g. real data in ../shared/data)
    source_overrides: dict[str, str] = field(default_factory=dict)
    ollama_host: str = "http://127.0.0.1:11434"
    dbt_target: str = "dev"
    # a landing batch is picked up once its files have not changed for this long (a copy may be in progress)
    landing_settle_seconds: float = 30.0

    @property
    def is_prod(self) -> bool:
        return self.name == "prod"


def env_value(env: Mapping[str, str], var: str, cast, default=None):
    """``cast(env[var])``, ``default`` when unset or empty; a value that does not convert is an error
    naming the variable."""
    raw = env.get(var)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise EnvironmentConfigError(f"{var} must be a {cast.__name__}, got {raw!r}") from None


def get_environment(env: Mapping[str, str] | None = None) -> Environment:
    """Map environment variables to an :class:`Environment`.

    ``FMLAKE_ENV`` = dev (default) | test | prod. In prod ``LAKEHOUSE_ROOT`` must be set explicitly,
    so a production run never writes into a developer's checkout.
    """
    env = os.environ if env is None else env
    name = env.get("FMLAKE_ENV", "dev")
    if name not in ENVIRONMENTS:
        raise EnvironmentConfigError(f"FMLAKE_ENV must be one of {ENVIRONMENTS}, got {name!r}")
    root = env.get("LAKEHOUSE_ROOT")
    if not root:
        if name == "prod":
            raise EnvironmentConfigError("FMLAKE_ENV=prod needs LAKEHOUSE_ROOT (a path or s3:// URI)")
        root = str(PROJECT_ROOT / "data")
    remote = "://" in root and not root.startswith("file://")
    landing = env.get("LANDING_ROOT") or (str(PROJECT_ROOT / "data" / "landing") if remote else f"{root}/landing")
    catalog = env.get("DUCKDB_CATALOG") or (str(PROJECT_ROOT / "data" / "catalog.duckdb") if remote
                                            else f"{root}/catalog.duckdb")
    raw_opts = env.get("LAKEHOUSE_STORAGE_OPTIONS", "")
    try:
        storage_options = json.loads(raw_opts) if raw_opts else {}
    except json.JSONDecodeError as exc:
        raise EnvironmentConfigError(f"LAKEHOUSE_STORAGE_OPTIONS is not valid JSON: {exc}") from None
    overrides = {k[len(SOURCE_PREFIX):].lower(): v for k, v in env.items() if k.startswith(SOURCE_PREFIX) and v}
    return Environment(
        name=name,
        lakehouse_root=root,
        landing_root=landing,
        catalog_path=catalog,
        storage_options=storage_options,
        source_overrides=overrides,
        ollama_host=env.get("OLLAMA_HOST", "http://127.0.0.1:11434"),
        dbt_target=env.get("DBT_TARGET", "prod" if name == "prod" else "dev"),
        landing_settle_seconds=env_value(env, "FMLAKE_LANDING_SETTLE_SECONDS", float,
                                         0.0 if name == "test" else 30.0),
    )


def environment_lakehouse(env: Environment | None = None):
    """The Delta tables of ``env`` (default: the current environment), for CLIs and services."""
    from lakehouse import Lakehouse

    env = env or get_environment()
    return Lakehouse(env.lakehouse_root, env.storage_options)
