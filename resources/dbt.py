"""The dbt project as Dagster sees it, and the CLI resource that runs it.

Nothing here runs dbt at import: the manifest is produced by ``make dbt-parse`` (or by
``DbtProject.prepare_if_dev`` under ``dagster dev``) and only read when definitions load.
The lakehouse root reaches dbt as ``--vars {"lakehouse_root": ...}`` (:func:`dbt_vars`), which the
profile and the sources read with ``var('lakehouse_root', env_var('LAKEHOUSE_ROOT', ...))``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def manifest_path() -> Path:
    return Path(dbt_project.manifest_path)


def build_dbt_resource(target: str | None = None) -> DbtCliResource:
    """``target`` None: the profile's own default (``DBT_TARGET``, read by dbt)."""
    # dbt is installed in the same environment as the pipeline: use that one, not whatever is on PATH.
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), target=target,
                          dbt_executable=str(Path(sys.executable).parent / "dbt"))


def dbt_vars(lakehouse_root: str) -> list[str]:
    """The ``--vars`` arguments that point dbt's profile and sources at ``lakehouse_root``."""
    return ["--vars", json.dumps({"lakehouse_root": lakehouse_root})]
