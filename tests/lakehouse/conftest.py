"""Fixtures of the lakehouse tests: an S3-compatible server (moto) on 127.0.0.1 for the object-store cases."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 (conditional writes: what deltalake needs for concurrent commits).

    Yields the storage options deltalake takes; stopped by pid at the end."""
    pytest.importorskip("moto.server", reason="moto[server] is in the cluster extra: pip install -e '.[cluster]'")
    import boto3

    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = Path(sys.executable).parent / "moto_server"
    cmd = [str(server)] if server.exists() else [sys.executable, "-m", "moto.server"]
    with open(log, "wb") as out:
        proc = subprocess.Popen([*cmd, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}: {log.read_text()[-2000:]}")
                time.sleep(0.2)
        yield {
            "endpoint": endpoint,
            "options": {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
            "client": boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing"),
        }
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def s3_root(s3_server):
    """A fresh bucket: ``s3://<bucket>/lake`` and its storage options."""
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    s3_server["client"].create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake", dict(s3_server["options"])
