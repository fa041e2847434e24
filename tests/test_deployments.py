"""Run it for real: a Prefect server on loopback, the deployments of prefect.yaml, a process worker.

The ingest and weekly-digest deployments are triggered against the fixture site and a loopback SMTP
server; the worker runs both; the warehouse holds the articles and the digest is written and delivered.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from fixtures.smtp import Sink

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.prefect


def _free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    """`prefect server start` on loopback with its own home; yields the environment for CLI calls."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "MEDIAMON_HOME": str(ROOT),
           "PREFECT_LOGGING_LEVEL": "WARNING"}
    log = open(home / "server.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (home / "server.log").read_text()[-2000:]
            time.sleep(1)
        else:
            pytest.fail("prefect server did not start in 180 s")
        yield env
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _prefect(env, *args, timeout=180) -> str:
    """Run the prefect CLI in the project; fail with its output."""
    result = subprocess.run([sys.executable, "-m", "prefect", *args], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _run_deployment(api: str, name: str, parameters: dict) -> str:
    """Create a flow run of a deployment with parameters; return its id."""
    deployment = httpx.get(f"{api}/deployments/name/{name}", timeout=10).json()
    for _ in range(5):
        run = httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters},
                         timeout=10)
        if run.status_code != 503:  # the server's SQLite busy under a worker's polling: retried, as Prefect's client does
            break
        time.sleep(2)
    assert run.status_code == 201, run.text
    return run.json()["id"]


def _wait(api: str, run_id: str, timeout: float = 240) -> dict:
    """Wait until a flow run is final; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    pytest.fail(f"flow run {run_id} did not finish in {timeout} s")


def test_deployments_run_on_a_worker_end_to_end(prefect_server, sources_file, tmp_path, smtp_server):
    """Deploy prefect.yaml, trigger ingest then the digest, run a process worker: both complete, the warehouse
    holds the articles, the digest is archived and accepted by the SMTP server."""
    env = prefect_server
    api = env["PREFECT_API_URL"]
    sink = Sink()
    port = smtp_server(sink)
    doc = yaml.safe_load(sources_file.read_text("utf-8"))
    doc["digest"] = {"recipients": ["ana@example.org"], "smtp_host": "127.0.0.1", "smtp_port": port,
                     "smtp_security": "none", "send_backoff_seconds": 0.1}
    sources_file.write_text(yaml.safe_dump(doc, allow_unicode=True), "utf-8")
    db = tmp_path / "warehouse.duckdb"
    reports = tmp_path / "reports"

    _prefect(env, "work-pool", "create", "mediamon", "--type", "process")
    out = _prefect(env, "--no-prompt", "deploy", "--all")
    assert "ingest" in out and "weekly-digest" in out
    deployment = httpx.get(f"{api}/deployments/name/ingest/ingest", timeout=10).json()
    assert deployment["schedules"] and deployment["schedules"][0]["schedule"]["interval"] == 10800
    assert deployment["concurrency_limit"] == 1 or deployment.get("global_concurrency_limit")

    worker_log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", "mediamon"],
                              env=env, cwd=ROOT, stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        ingest_id = _run_deployment(api, "ingest/ingest", {"sources_path": str(sources_file), "db": str(db),
                                                           "allow_private_addresses": True})
        ingest = _wait(api, ingest_id)
        assert ingest["state"]["type"] == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
        from mediamon.warehouse import Warehouse

        wh = Warehouse(db)
        with wh.reader() as con:
            stored = con.execute("SELECT count(*) FROM articles WHERE NOT is_baseline").fetchone()[0]
        week = wh.reports.latest_week()
        assert stored > 0 and week
        digest_id = _run_deployment(api, "weekly-digest/weekly-digest", {
            "week": week, "sources_path": str(sources_file), "db": str(db), "out": str(reports), "send": True})
        digest = _wait(api, digest_id)
        assert digest["state"]["type"] == "COMPLETED", (tmp_path / "worker.log").read_text()[-4000:]
    finally:
        worker.terminate()
        worker.wait(30)
        worker_log.close()
    assert (reports / week.split("-W")[0] / f"{week}.html").exists() and (reports / "index.html").exists()
    assert len(sink.messages) == 1 and sink.messages[0][0] == ["ana@example.org"]
    assert wh.reports.digest_sent_at(week) is not None
