"""The settings module is the one reader of the environment, documents itself in .env.example, validates once,
and keeps secrets out of everything the definitions, runs and CLIs show."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.settings import PROJECT_ROOT, SOURCE_PREFIX, SettingsError, known_variables, load_settings

INSTALLED = ("pipelines", "assets", "resources", "lakehouse")
CANARY = "canary-secret-7f3a9b"


def _environment_reads(path: Path) -> list[str]:
    """``os.environ`` / ``os.getenv`` / ``from os import environ`` uses in one file (by AST, not grep)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb", "putenv", "unsetenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} os.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "os" and \
                {a.name for a in node.names} & {"environ", "getenv", "environb"}:
            found.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} from os import ...")
    return found


def test_only_the_settings_module_reads_the_environment():
    reads = [r for pkg in INSTALLED for p in sorted((PROJECT_ROOT / pkg).rglob("*.py"))
             if p != PROJECT_ROOT / "pipelines" / "settings.py" for r in _environment_reads(p)]
    assert reads == [], "only pipelines/settings.py may read the environment:\n" + "\n".join(reads)
    # the check itself finds a read (it is not vacuous)
    assert _environment_reads(PROJECT_ROOT / "pipelines" / "settings.py")


def _documented() -> set[str]:
    names = set()
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
        if m:
            name = m.group(1)
            names.add(f"{SOURCE_PREFIX}<NAME>" if name.startswith(SOURCE_PREFIX) else name)
    return names


def test_env_example_documents_exactly_the_variables_the_settings_read():
    read, documented = known_variables(), _documented()
    assert read - documented == set(), f"read by pipelines/settings.py but not in .env.example: {read - documented}"
    assert documented - read == set(), f"in .env.example but read by nothing: {documented - read}"


def test_defaults_and_validation_live_once():
    s = load_settings({})
    assert (s.core.env, s.llm.backend, s.llm.hosts, s.search.embedder_workers) == \
        ("dev", "embedded", ("http://127.0.0.1:11434",), 2)
    assert s.core.lakehouse_root == str(PROJECT_ROOT / "data")
    assert load_settings({"FMLAKE_LLM_MODELS": " a, b ,,"}).llm.models == ("a", "b")
    assert load_settings({"OLLAMA_HOSTS": "http://g1:11434, http://g2:11434/"}).llm.hosts == \
        ("http://g1:11434", "http://g2:11434")
    for env, message in [({"FMLAKE_ENV": "staging"}, "FMLAKE_ENV must be one of"),
                         ({"FMLAKE_ENV": "prod"}, "needs LAKEHOUSE_ROOT"),
                         ({"FMLAKE_LLM_TIMEOUT_S": "soon"}, "FMLAKE_LLM_TIMEOUT_S must be a float"),
                         ({"FMLAKE_LLM_MAX_CONCURRENCY": "0"}, "FMLAKE_LLM_MAX_CONCURRENCY must be >= 1"),
                         ({"SEARCH_ALPHA": "1.5"}, r"SEARCH_ALPHA must be in \[0, 1\]"),
                         ({"LAKEHOUSE_STORAGE_OPTIONS": "[1]"}, "must be a JSON object"),
                         ({"OLLAMA_HOST": "gpu1:11434"}, "must start with http"),
                         ({"FMLAKE_LANDING_SETTLE_SECONDS": "nan"}, "FMLAKE_LANDING_SETTLE_SECONDS")]:
        with pytest.raises(SettingsError, match=message):
            load_settings(env)


def test_the_secret_is_never_shown(tmp_path, monkeypatch, sample_landing):
    """A fake object-store secret: not in any resource config the definitions expose (what the UI displays),
    not in a run's event log, not in CLI output, not in the settings' repr."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    from pipelines.definitions import build_definitions

    secret = json.dumps({"AWS_SECRET_ACCESS_KEY": CANARY})
    monkeypatch.setenv("LAKEHOUSE_STORAGE_OPTIONS", secret)
    settings = load_settings()
    assert settings.core.storage_options_value() == {"AWS_SECRET_ACCESS_KEY": CANARY}
    assert CANARY not in repr(settings) and CANARY not in str(settings.core.storage_options)

    defs = build_definitions()
    lakehouse = defs.resources["lakehouse"]
    assert isinstance(lakehouse.storage_options_json, dg.EnvVar)
    assert lakehouse.storage_options_json.env_var_name == "LAKEHOUSE_STORAGE_OPTIONS"
    snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert "LAKEHOUSE_STORAGE_OPTIONS" in snapshot      # the UI shows which variable, not its value
    assert CANARY not in snapshot

    # a run that opens the lakehouse with the secret: nothing of it in the event log
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)
              and dg.AssetKey(["bronze", "municipalities"]) in a.keys]
    with dg.instance_for_test() as instance:
        result = dg.materialize(assets, resources={"lakehouse": lakehouse}, instance=instance,
                                selection=[dg.AssetKey(["bronze", "municipalities"])])
        assert result.success
        logs = serialize_value(instance.all_logs(result.run_id))
        assert "bronze" in logs and CANARY not in logs
        run_config = serialize_value(instance.get_run_by_id(result.run_id))
        assert CANARY not in run_config

    env = {**os.environ, "LAKEHOUSE_STORAGE_OPTIONS": secret}
    for args in (["tables"], ["tables", "--json"], ["sql", "SELECT 1"], ["--help"]):
        proc = subprocess.run([str(Path(sys.executable).parent / "fmlake"), *args], capture_output=True,
                              text=True, env=env, timeout=120)
        assert CANARY not in proc.stdout + proc.stderr, args
    assert "bronze.municipalities" in subprocess.run(
        [str(Path(sys.executable).parent / "fmlake"), "tables"], capture_output=True, text=True, env=env,
        timeout=120).stdout
