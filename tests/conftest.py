"""Shared fixtures: the loopback fixture site, a sources file pointing at it, warehouses, the Prefect harness."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.site import build_site, sources_yaml  # noqa: E402
from mediamon.devserver import FeedServer  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPORA = SHARED / "corpora"


def require_shared(sub: str = "") -> Path:
    """The path under ../shared, or skip the test with the reason when it is absent."""
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpora are only beside the repository in development and CI")
    return path


@pytest.fixture
def feed_site():
    """The fixture news site on a fresh loopback server: (server, feed id -> URL)."""
    with FeedServer() as server:
        feeds = build_site(server)
        yield server, feeds


@pytest.fixture
def sources_file(tmp_path, feed_site) -> Path:
    """A sources.yaml for the fixture site."""
    path = tmp_path / "sources.yaml"
    path.write_text(sources_yaml(feed_site[1]), encoding="utf-8")
    return path


@pytest.fixture
def db_path(tmp_path) -> Path:
    """Where a test's warehouse lives."""
    return tmp_path / "warehouse" / "test.duckdb"


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One ephemeral Prefect server for the whole session (it takes 15-30 s to start)."""
    os.environ.setdefault("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect-home")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def smtp_server():
    """A real SMTP server on loopback: yields start(handler) -> port (handler: fixtures.smtp.Sink)."""
    from aiosmtpd.controller import Controller

    started = []

    def start(handler) -> int:
        """Start a server with this handler; return its port."""
        import socket

        with socket.socket() as probe:  # a free loopback port (aiosmtpd's self-check needs a real one)
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return port

    yield start
    for c in started:
        c.stop()
