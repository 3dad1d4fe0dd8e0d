"""`make ui`'s command serves the asset graph and the schedule on loopback."""

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

from orchestration.cli import prepare_dbt_manifest
from orchestration.settings import prepare_dagster_home

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def test_dagster_dev_serves_assets_checks_and_the_stopped_schedule(tmp_path):
    prepare_dbt_manifest()
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path / "dagster"), LONGTAIL_HOME=str(tmp_path))
    prepare_dagster_home(tmp_path / "dagster")
    process = subprocess.Popen(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 150
        nodes = None
        while time.monotonic() < deadline:
            try:
                nodes = _graphql(port, "{ assetNodes { assetKey { path } groupName } }")
                if nodes and nodes.get("assetNodes"):
                    break
            except OSError:
                pass
            time.sleep(2)
        assert nodes and nodes["assetNodes"], "the UI did not serve the asset graph in time"
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes["assetNodes"]}
        assert {
            "raw/order_lines",
            "marts/order_lines",
            "growth_actions",
            "published_tables",
        } <= keys
        repos = _graphql(
            port,
            "{ repositoriesOrError { ... on RepositoryConnection { nodes { "
            "schedules { name scheduleState { status } } } } } }",
        )
        schedules = repos["repositoriesOrError"]["nodes"][0]["schedules"]
        assert schedules == [{"name": "weekly_refresh", "scheduleState": {"status": "STOPPED"}}]
    finally:
        # dagster dev leaves children running on SIGTERM; stop the whole group.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
