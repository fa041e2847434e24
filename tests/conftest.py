"""Shared fixtures: the loopback fixture site, a sources file pointing at it, warehouses, the Prefect harness."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixtures.site import build_site, sources_yaml  # noqa: E402

from mediamon.testing.devserver import FeedServer  # noqa: E402

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


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MB tmpfs (room for a warehouse, its read copy and DuckDB's spill) mounted for the test (root in a container), or skip with the reason."""
    from fixtures.disk import small_tmpfs

    with small_tmpfs(tmp_path / "disk") as mounted:
        if isinstance(mounted, str):
            pytest.skip(mounted)
        yield mounted


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


# --- Reliability cases (issue 7): `make reliability` runs them all and prints one table. ---------------
# Mark a test `@pytest.mark.reliability("what must happen")`; its docstring's first line names the case.
# Tests also marked `slow` (the kill -9 loop) run only with --slow, which `make reliability` passes.

_RELIABILITY_ROWS: list[tuple[str, str, str]] = []


def pytest_addoption(parser):
    """--slow runs the slow reliability cases; --reliability-table prints the table at the end."""
    parser.addoption("--slow", action="store_true", help="also run tests marked slow (make reliability)")
    parser.addoption("--reliability-table", action="store_true", help="print the reliability cases as a table")


def pytest_collection_modifyitems(config, items):
    """Skip slow tests unless --slow."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow reliability case: run by `make reliability` (pytest --slow)")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record each reliability case's outcome (its call phase, or a setup skip or error)."""
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("reliability")
    if marker is None or not (report.when == "call" or report.outcome != "passed"):
        return
    doc = (item.function.__doc__ or item.name).strip().splitlines()[0]
    case = doc if "[" not in item.name else f"{doc} [{item.name.split('[', 1)[1]}"
    expected = marker.args[0] if marker.args else marker.kwargs.get("expected", "")
    _RELIABILITY_ROWS.append((case, expected, report.outcome))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The reliability table: case, expected behaviour, result."""
    if not config.getoption("--reliability-table") or not _RELIABILITY_ROWS:
        return
    tr = terminalreporter
    tr.section("reliability cases")
    width = min(70, max(len(c) for c, _, _ in _RELIABILITY_ROWS))
    tr.write_line(f"{'case':<{width}}  {'result':<7}  expected")
    for case, expected, result in _RELIABILITY_ROWS:
        tr.write_line(f"{case[:width]:<{width}}  {result:<7}  {expected}")
    passed = sum(r == "passed" for _, _, r in _RELIABILITY_ROWS)
    tr.write_line(f"{passed} of {len(_RELIABILITY_ROWS)} cases passed")
