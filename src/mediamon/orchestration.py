"""Prefect's API for one command: the configured server, or a local one started here with a patient timeout.

Without PREFECT_API_URL, Prefect starts a temporary server in a subprocess and waits 20 s for it
(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS). On a 2-core machine its first start imports the
server (12-15 s) and creates and migrates its SQLite database in PREFECT_HOME (about 15 s more), so
the first run of every new installation timed out. mediamon starts the same server itself, with a
timeout that fits a slow machine, says what it is doing, and fails in one line naming what to do.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote, urlsplit

import httpx

from .errors import PrefectUnavailable

# Seconds to wait for the local server; PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS overrides it.
# A cold start took 32 s on an idle 2-core machine and about 60 s while the tests ran beside it.
STARTUP_TIMEOUT_SECONDS = 180.0
TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
_ADDRESS_IN_USE = 3  # uvicorn's exit code when the port was taken between choosing and binding it
# Launcher: ask Linux to send SIGTERM when the parent dies (PR_SET_PDEATHSIG = 1), then become the server.
_EXIT_WITH_PARENT = ("import ctypes, os, signal, sys\n"
                     "if sys.platform.startswith('linux'): ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
                     "os.execv(sys.argv[1], sys.argv[1:])")

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    """Default progress output: one line on stderr."""
    print(message, file=sys.stderr, flush=True)


def startup_timeout() -> float:
    """The start-up timeout: the operator's PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, else ours."""
    value = os.environ.get(TIMEOUT_ENV)
    try:
        return float(value) if value else STARTUP_TIMEOUT_SECONDS
    except ValueError:
        raise PrefectUnavailable(f"{TIMEOUT_ENV}={value!r} is not a number of seconds") from None


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile, if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def prefect_database() -> Path | None:
    """The SQLite file of Prefect's own database (None when it is not SQLite)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    url = url.get_secret_value() if hasattr(url, "get_secret_value") else url
    if not url or not str(url).startswith("sqlite"):
        return None
    return Path(unquote(urlsplit(str(url)).path))


def is_first_start() -> bool:
    """True when Prefect's SQLite database does not exist yet (its first start creates and migrates it)."""
    database = prefect_database()
    return database is not None and not database.exists()


def _healthy(client: httpx.Client, api_url: str) -> bool:
    """Whether the API answers its health check."""
    try:
        return client.get(f"{api_url}/health").status_code == 200
    except httpx.HTTPError:
        return False


def _health_client(timeout: float, loopback: bool = False) -> httpx.Client:
    """One client for a whole wait: each new one loads the CA bundle (20-45 ms of CPU), which five polls a
    second made into up to 1.4 s of CPU taken from the server while it starts. The local server is asked
    directly, never through a proxy from the environment (HTTP_PROXY would swallow the answer); a configured
    server is checked with the TLS settings Prefect's own client uses, so a private CA works for both."""
    if loopback:
        return httpx.Client(timeout=timeout, trust_env=False)
    return httpx.Client(timeout=timeout, verify=_prefect_tls())


def _prefect_tls() -> ssl.SSLContext | bool:
    """The TLS check Prefect's client makes: none with PREFECT_API_TLS_INSECURE_SKIP_VERIFY, else against the CA
    file of PREFECT_API_SSL_CERT_FILE, else against the usual bundle (httpx's default, as Prefect's)."""
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY

    if PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value():
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    cafile = PREFECT_API_SSL_CERT_FILE.value()
    return ssl.create_default_context(cafile=cafile) if cafile else True


def wait_for_api(api_url: str, wait_seconds: float, say: Say = _stderr) -> None:
    """Wait up to wait_seconds for a running server's health check; raise PrefectUnavailable if it never answers."""
    deadline, announced = time.monotonic() + wait_seconds, False
    with _health_client(2.0) as client:
        while not _healthy(client, api_url):
            if time.monotonic() >= deadline:
                raise PrefectUnavailable(
                    f"the Prefect API at {api_url} (PREFECT_API_URL) does not answer: start it with `make server`, "
                    "or unset PREFECT_API_URL to let mediamon start a local one")
            if not announced:
                say(f"waiting up to {wait_seconds:.0f} s for the Prefect API at {api_url}…")
                announced = True
            time.sleep(1.0)


def _free_port() -> int:
    """A free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LocalServer:
    """Prefect's API server in a subprocess on loopback, as Prefect's own ephemeral mode runs it."""

    def __init__(self, log_path: Path):
        """The server's own output goes to log_path (shown when it fails)."""
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        """http://127.0.0.1:PORT/api"""
        return f"http://127.0.0.1:{self.port}/api"

    def _spawn(self) -> subprocess.Popen:
        """Start uvicorn on Prefect's app factory, without the UI (the command Prefect's ephemeral mode uses)."""
        import prefect
        from prefect.settings import get_current_settings

        self.port = _free_port()
        env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
               "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent),
                   "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                   "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        with open(self.log_path, "ab") as log:
            # Its own session, so a Ctrl-C meant for the command does not stop the API under a flow that is
            # still shutting down; and on Linux it exits with its parent, so a kill -9 leaves no server behind.
            return subprocess.Popen([sys.executable, "-c", _EXIT_WITH_PARENT, *command], env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def start(self, timeout: float, meanwhile: Callable[[], object] | None = None) -> float:
        """Start the server and wait until it answers; return the seconds it took, or raise PrefectUnavailable.

        `meanwhile` runs while the server boots (the caller's own imports overlap the server's).
        """
        started = time.monotonic()
        self.process = self._spawn()
        if meanwhile is not None:
            meanwhile()
        with _health_client(1.0, loopback=True) as client:
            while True:
                code = self.process.poll()
                if code == _ADDRESS_IN_USE:
                    self.process = self._spawn()
                    continue
                if code is not None:
                    raise PrefectUnavailable(
                        f"Prefect's local API server exited with code {code} while starting: see {self.log_path}; "
                        f"{self._tail()}")
                if _healthy(client, self.api_url):
                    return time.monotonic() - started
                if time.monotonic() - started > timeout:
                    self.stop()
                    raise PrefectUnavailable(
                        f"Prefect's local API server did not answer within {timeout:.0f} s ({TIMEOUT_ENV}): run the "
                        f"command again, raise {TIMEOUT_ENV}, or run `make server` and set "
                        f"PREFECT_API_URL=http://127.0.0.1:4200/api (server log: {self.log_path})")
                time.sleep(0.2)

    def _tail(self) -> str:
        """The last line the server wrote, for the error message."""
        try:
            lines = [l for l in self.log_path.read_text("utf-8", "replace").splitlines() if l.strip()]
        except OSError:
            return ""
        return lines[-1][:300] if lines else ""

    def stop(self) -> None:
        """Stop the server (politely, then firmly)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _ticker(say: Say, started: float, stop: threading.Event, every: float = 15.0) -> None:
    """Say every `every` seconds that the server is still starting, until stopped."""
    while not stop.wait(every):
        say(f"  … still starting ({time.monotonic() - started:.0f} s)")


@contextmanager
def prefect_api(say: Say = _stderr, timeout: float | None = None,
                meanwhile: Callable[[], object] | None = None) -> Iterator[str]:
    """Prefect's API for the commands inside: the configured server (checked first), or a local server
    started here and stopped on exit. Flows called inside use it; `meanwhile` runs while a local server boots."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

    configured = configured_api_url()
    if configured:
        wait_for_api(configured, 30.0, say)
        if meanwhile is not None:
            meanwhile()
        yield configured
        return
    timeout = startup_timeout() if timeout is None else timeout
    first = is_first_start()
    say("starting Prefect's local API server: " + (
        "its first start on this machine creates its database, about 30-60 s…" if first else "about 15-30 s…"))
    server = LocalServer(Path(PREFECT_HOME.value()) / "mediamon-local-server.log")
    stop, started = threading.Event(), time.monotonic()
    ticker = threading.Thread(target=_ticker, args=(say, started, stop), daemon=True)
    ticker.start()
    try:
        seconds = server.start(timeout, meanwhile)
    finally:
        stop.set()
    say(f"Prefect API ready in {seconds:.0f} s")
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
            finally:
                _drain_to_api()
    finally:
        server.stop()


def _drain_to_api(timeout: float = 10.0) -> None:
    """Send Prefect's queued logs and events while the local server still listens (else the exit waits on retries)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for service in (APILogWorker, EventsWorker):
        service.drain_all(timeout=timeout)


def prepare_database(say: Say = _stderr) -> bool:
    """Create and migrate Prefect's database now (`prefect server database upgrade -y`), so the first run starts
    fast; False when there is nothing to do (a configured server, or a database that exists)."""
    if configured_api_url() or not is_first_start():
        return False
    say("preparing Prefect's database (first time on this machine, about 30 s)…")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "server", "database", "upgrade", "-y"],
                            capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise PrefectUnavailable(f"could not prepare Prefect's database ({prefect_database()}): {last[0][:300]}")
    say(f"Prefect's database is ready ({time.monotonic() - started:.0f} s)")
    return True
