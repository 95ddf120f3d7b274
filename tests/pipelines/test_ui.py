"""`make ui`: the Dagster webserver starts on the workspace and serves the asset graph with lineage."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def test_dagster_dev_serves_assets_with_lineage(tmp_path):
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_ROOT": str(tmp_path / "lh")}
    dagster = str(Path(sys.executable).parent / "dagster")
    proc = subprocess.Popen([dagster, "dev", "-w", "workspace.yaml", "-p", str(port), "-h", "127.0.0.1"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        nodes = None
        while time.time() < deadline:
            try:
                status = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { "
                                       "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
                entries = status["data"]["workspaceOrError"]["locationEntries"]
                errors = [e["locationOrLoadError"] for e in entries
                          if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
                assert not errors, f"code location failed to load: {errors}"
                data = graphql(port, "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }")
                nodes = data.get("data", {}).get("assetNodes")
                if nodes:
                    break
            except OSError:
                pass
            time.sleep(2)
        assert nodes, "the webserver did not serve the asset graph within 120 s"
        by_key = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        assert by_key["silver/municipalities"]["groupName"] == "ingestion"
        assert {"path": ["bronze", "municipalities"]} in by_key["silver/municipalities"]["dependencyKeys"]
        assert {"path": ["silver", "municipalities"]} in by_key["marts/mart_municipality_profile"]["dependencyKeys"] \
            or any(d["path"][0] == "staging" for d in by_key["marts/mart_municipality_profile"]["dependencyKeys"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
