"""`make ui` (`dg dev`): the Dagster UI serves the code location with its groups, checks and schedule."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from nextsale.config import REPO_ROOT

QUERY = """{
  assetNodes { assetKey { path } groupName assetChecksOrError { ... on AssetChecks { checks { name } } } }
  repositoriesOrError { ... on RepositoryConnection { nodes { location { name }
    schedules { name cronSchedule } sensors { name } } } }
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def test_ui_shows_the_asset_graph_checks_and_schedule(tmp_path, pipeline_settings):
    home = tmp_path / "dagster_home"  # made by `make ui` itself, with the instance settings
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PATH": "/usr/bin:/bin",  # as from a shell without the venv activated
        "NEXTSALE_LANDING_DIR": str(pipeline_settings.landing_dir),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_project.serve", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        data = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                data = graphql(port, QUERY)
                if data["assetNodes"]:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert data and data["assetNodes"], "the UI did not serve the asset graph"
        groups = {n["groupName"] for n in data["assetNodes"]}
        assert {"ingest", "staging", "marts"} <= groups
        checks = {c["name"] for n in data["assetNodes"] for c in n["assetChecksOrError"]["checks"]}
        assert {"rows_reconcile", "files_loaded", "unique_customer_360_customer_key"} <= checks
        (repo,) = data["repositoriesOrError"]["nodes"]
        assert repo["location"]["name"] == "nextsale"  # dg dev, from [tool.dg.project]
        assert sorted(repo["schedules"], key=lambda s: s["name"]) == [
            {"name": "daily_refresh", "cronSchedule": "0 6 * * *"},
            {"name": "weekly_retrain", "cronSchedule": "0 3 * * 0"},
        ]
        assert repo["sensors"] == [{"name": "new_landing_files"}]
        assert "max_concurrent_runs: 1" in (home / "dagster.yaml").read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # one TERM stops the whole tree
        server.wait(timeout=60)
