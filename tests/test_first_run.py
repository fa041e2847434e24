"""A new user's first run: the console script in its own process, an empty Prefect home, first try green."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

MEDIAMON = str(Path(sys.executable).with_name("mediamon"))
pytestmark = pytest.mark.first_run


def fresh_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a new machine: no Prefect setting at all (not the suite's harness), an empty home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", **extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the console script as a user would, and capture what it prints."""
    return subprocess.run([MEDIAMON, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)


def test_ingest_on_a_cold_prefect_home_works_first_time(tmp_path, sources_file):
    """`mediamon ingest` with a brand-new PREFECT_HOME starts Prefect, says so, and stores the fixture site."""
    home = tmp_path / "prefect-home"
    result = run(["ingest", "--sources", str(sources_file), "--db", str(tmp_path / "w.duckdb"), "--allow-private"],
                 fresh_env(home), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    totals = json.loads(result.stdout.strip().splitlines()[-1])
    assert totals["status"] == "completed" and totals["new_articles"] >= 5
    assert "starting Prefect's local API server" in result.stderr and "first start" in result.stderr
    assert "Prefect API ready in" in result.stderr
    assert "Traceback" not in result.stderr
    assert (home / "prefect.db").exists()


def test_init_prepares_prefect_so_the_first_ingest_starts_warm(tmp_path, sources_file):
    """`mediamon init` creates Prefect's database; the ingest after it is not a first start."""
    home, db = tmp_path / "prefect-home", tmp_path / "w.duckdb"
    init = run(["init", "--db", str(db), "--sources", str(sources_file)], fresh_env(home), tmp_path)
    assert init.returncode == 0, init.stderr[-3000:]
    assert "preparing Prefect's database" in init.stderr and (home / "prefect.db").exists()
    again = run(["init", "--db", str(db), "--sources", str(sources_file)], fresh_env(home), tmp_path)
    assert again.returncode == 0 and "preparing Prefect's database" not in again.stderr
    ingest = run(["ingest", "--sources", str(sources_file), "--db", str(db), "--allow-private"], fresh_env(home), tmp_path)
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    assert "first start" not in ingest.stderr and "Traceback" not in ingest.stderr


def test_a_start_that_fails_ends_in_one_clear_line(tmp_path, sources_file):
    """When Prefect cannot start in time, the user gets one `error:` line naming the setting, no traceback."""
    result = run(["ingest", "--sources", str(sources_file), "--db", str(tmp_path / "w.duckdb"), "--allow-private"],
                 fresh_env(tmp_path / "prefect-home", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1"), tmp_path)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "w.duckdb").exists() or "new_articles" not in result.stdout


def test_the_local_servers_health_check_ignores_a_proxy_from_the_environment(monkeypatch):
    """HTTP_PROXY pointing nowhere must not hide the local server's answer (the run would wait its whole timeout)."""
    import http.server
    import threading

    from mediamon import orchestration

    class Health(http.server.BaseHTTPRequestHandler):
        """Answers every GET with 200."""

        def do_GET(self):  # noqa: N802 (the standard library's name)
            """The health check's answer."""
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            """Quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    url = f"http://127.0.0.1:{server.server_address[1]}/api"
    try:
        with orchestration._health_client(1.0, loopback=True) as client:
            assert orchestration._healthy(client, url)
        with orchestration._health_client(1.0) as client:  # a configured server is reached as the user's env says
            assert not orchestration._healthy(client, url)
    finally:
        server.shutdown()


def test_a_configured_https_server_is_checked_with_prefects_tls_settings():
    """A server behind a private CA answers the health check when PREFECT_API_SSL_CERT_FILE names that CA, or
    when PREFECT_API_TLS_INSECURE_SKIP_VERIFY is set, as Prefect's own client would reach it; not otherwise."""
    import http.server
    import ssl
    import threading

    import trustme
    from prefect.settings import (
        PREFECT_API_SSL_CERT_FILE,
        PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
        temporary_settings,
    )

    from mediamon import orchestration

    class Health(http.server.BaseHTTPRequestHandler):
        """Answers every GET with 200."""

        def do_GET(self):  # noqa: N802 (the standard library's name)
            """The health check's answer."""
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            """Quiet."""

    ca = trustme.CA()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"https://127.0.0.1:{server.server_address[1]}/api"

    def answers() -> bool:
        """Whether the health check, as mediamon makes it for a configured server, gets its answer."""
        with orchestration._health_client(2.0) as client:
            return orchestration._healthy(client, url)

    try:
        with ca.cert_pem.tempfile() as ca_file:
            with temporary_settings({PREFECT_API_SSL_CERT_FILE: ca_file}):
                assert answers()
        with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
            assert answers()
        assert not answers(), "an unknown CA is refused by default"
    finally:
        server.shutdown()
