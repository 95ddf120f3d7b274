"""The dbt project as Dagster sees it, and the CLI resource that runs it.

Nothing here runs dbt at import: the manifest is produced by ``make dbt-parse`` (or by
``DbtProject.prepare_if_dev`` under ``dagster dev``) and only read when definitions load.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from pipelines.environment import PROJECT_ROOT, Environment

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def manifest_path() -> Path:
    return Path(dbt_project.manifest_path)


def build_dbt_resource(env: Environment) -> DbtCliResource:
    # dbt is installed in the same environment as the pipeline: use that one, not whatever is on PATH.
    return DbtCliResource(project_dir=dbt_project, profiles_dir=str(DBT_PROJECT_DIR), target=env.dbt_target,
                          dbt_executable=str(Path(sys.executable).parent / "dbt"))


def dbt_env(env: Environment) -> dict[str, str]:
    """Variables the dbt profile and sources read (paths of this environment's lakehouse)."""
    return {"LAKEHOUSE_ROOT": env.lakehouse_root, "DBT_TARGET": env.dbt_target}
