"""Reliability (issue 7): crashes and concurrency. kill -9 of ingest runs at random points, two runs at
once, an analyst holding the warehouse, a full disk and an unwritable warehouse.

The ingest runs in a child process (tests/fixtures/crash_site.py: the real Prefect ingest flow) against
generated articles served on loopback from this process. The children talk to the session's Prefect
server (`prefect_harness`) through PREFECT_API_URL, so none of them starts its own.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fixtures.crash_site import (
    AS_OF,
    DIGEST_WEEK,
    WEEKS,
    build_crash_site,
    crash_outlets,
    crash_sources_yaml,
)
from fixtures.disk import fill

from mediamon import reporting
from mediamon.testing import project_config
from mediamon.testing.devserver import FeedServer
from mediamon.warehouse import Warehouse

RUNNER = Path(__file__).parent / "fixtures" / "crash_site.py"
FIXED_CLOCK = AS_OF


def _child_env() -> dict[str, str]:
    """The environment of an ingest child: the session's Prefect server, quiet logs."""
    from prefect.settings import PREFECT_API_URL

    return dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()), PREFECT_LOGGING_LEVEL="WARNING",
                PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))


class Zygote:
    """`crash_site.py --zygote`: a process that has imported everything and forks one child per ingest run."""

    def __init__(self, log: Path):
        """Start it (its stderr, and its children's, go to log) and wait until it is ready."""
        self.log = log
        self.proc = subprocess.Popen([sys.executable, str(RUNNER), "--zygote"], env=_child_env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(log, "ab"), text=True)
        self.lines: list[tuple[float, str]] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._wait_for(lambda line: line == "ready", 0, 120)

    def _read(self) -> None:
        """Collect stdout lines with their arrival times."""
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.strip()))

    def _wait_for(self, match, since: int, timeout: float) -> tuple[float, str] | None:
        """The first line from index `since` on that matches, waiting up to timeout seconds (None if none came)."""
        deadline = time.monotonic() + timeout
        while True:
            for at, line in self.lines[since:]:
                if match(line):
                    return at, line
            if self.proc.poll() is not None:
                raise AssertionError(f"the zygote died: {self.log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)

    def start(self, sources: Path, db: Path) -> IngestChild:
        """Fork a child that runs one ingest."""
        since = len(self.lines)
        self.proc.stdin.write(f"{sources} {db}\n")
        self.proc.stdin.flush()
        _, line = self._wait_for(lambda line: line.startswith("child "), since, 30)
        return IngestChild(self, int(line.split()[1]), since)

    def close(self) -> None:
        """Let it exit."""
        self.proc.stdin.close()
        self.proc.wait(30)


class IngestChild:
    """One ingest run in a forked child process (its own process group, so its extraction pool can be cleaned up)."""

    def __init__(self, zygote: Zygote, pid: int, since: int):
        """A child the zygote has just forked; its lines start at index `since`."""
        self.zygote, self.pid, self.since = zygote, pid, since

    def wait_started(self) -> float:
        """Block until the child is about to call the flow; the monotonic time it said so."""
        found = self.zygote._wait_for(lambda line: line == "flow starting", self.since, 60)
        assert found, f"ingest child did not start: {self.zygote.log.read_text(errors='replace')[-3000:]}"
        return found[0]

    def _exited(self, timeout: float) -> int | None:
        """The child's wait status once it has ended, waiting up to timeout seconds."""
        found = self.zygote._wait_for(lambda line: line.startswith(f"exited {self.pid} "), self.since, timeout)
        return None if found is None else int(found[1].split()[2])

    def finish(self, timeout: float = 300) -> dict:
        """Wait for the run to end; its totals."""
        status = self._exited(timeout)
        self.cleanup()
        assert status == 0, f"ingest failed ({status}): {self.zygote.log.read_text(errors='replace')[-3000:]}"
        mine = [line for _, line in self.zygote.lines[self.since:] if line.startswith("{")]
        return json.loads(mine[-1])

    def commit_times(self, since: float) -> list[float]:
        """Seconds after `since` at which the run announced committed feeds."""
        return [at - since for at, line in self.zygote.lines[self.since:] if line == "event feed"]

    def kill_at(self, commits: int, delay: float, timeout: float = 120) -> bool:
        """SIGKILL the ingest process `delay` seconds after it announced its `commits`-th committed feed (0: after
        it started), unless it ended first; True if it was killed."""
        count_from = self.since
        if commits:
            deadline = time.monotonic() + timeout
            while True:
                feeds = [at for at, line in self.zygote.lines[count_from:] if line == "event feed"]
                if len(feeds) >= commits or self._exited(0) is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.005)
        if self._exited(delay) is not None:
            self.cleanup()
            return False
        os.kill(self.pid, signal.SIGKILL)  # the ingest process itself, as `kill -9 PID` would
        assert self._exited(30) is not None
        time.sleep(0.5)
        self.orphans = _group_members(self.pid)  # its extraction pool, if it had one, outlives it
        self.cleanup()
        return True

    def cleanup(self) -> None:
        """Kill what the run left behind in its process group (its extraction pool outlives a killed parent)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _group_members(pgid: int) -> int:
    """How many live processes are in a process group."""
    count = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        count += fields[0] != "Z" and int(fields[2]) == pgid
    return count


def _stored(db: Path) -> dict:
    """What a warehouse holds: article URLs per feed, duplicates, validators, interrupted runs (opens read-write,
    so a WAL left by a crash is replayed, as the next run would)."""
    with Warehouse(db, lock_timeout=30).writer() as con:
        rows = con.execute("SELECT source_id, canonical_url FROM articles WHERE NOT is_baseline").fetchall()
        validators = dict(con.execute("SELECT feed_id, etag FROM feeds WHERE etag IS NOT NULL OR last_modified IS NOT NULL").fetchall())
        runs = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())
        twice = con.execute("SELECT count(*) - count(DISTINCT article_id) FROM articles").fetchone()[0]
    by_feed: dict[str, set[str]] = {}
    for feed, url in rows:
        by_feed.setdefault(feed, set()).add(url)
    return {"urls": {u for _, u in rows}, "rows": len(rows), "by_feed": by_feed, "validators": validators, "runs": runs,
            "twice": twice}


def _digest(db: Path):
    """The digest of DIGEST_WEEK rendered with a fixed clock."""

    return reporting.build_digest(Warehouse(db), DIGEST_WEEK, project_config(), FIXED_CLOCK)


def _check_after_crash(db: Path, reference: dict, where: str) -> dict:
    """The invariants a crash must keep: opens, nothing twice, nothing foreign, validators never ahead of entries."""
    state = _stored(db)
    assert state["rows"] == len(state["urls"]) and state["twice"] == 0, f"{where}: an article stored twice"
    assert state["urls"] <= reference["urls"], f"{where}: articles the reference run does not have"
    for feed in state["validators"]:
        missing = reference["by_feed"].get(feed, set()) - state["by_feed"].get(feed, set())
        assert not missing, f"{where}: {feed}'s validators advanced but {len(missing)} of its entries are not stored"
    return state


@pytest.fixture(scope="module")
def crash_site():
    """The generated site on loopback for the whole module: (feed URLs, outlets)."""
    with FeedServer() as server:
        yield build_crash_site(server, per_week=int(os.environ.get("MEDIAMON_CRASH_PER_WEEK", "60"))), crash_outlets(12)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(900)
@pytest.mark.reliability("warehouse opens; re-run completes with the reference's articles once each; same digest")
def test_kill_9_at_random_points_then_rerun_equals_a_crash_free_run(crash_site, tmp_path, prefect_harness):
    """kill -9 of ingest at 24 random points

    A crash-free reference run first; then chains, each on a fresh warehouse: up to three runs killed with
    SIGKILL (the ingest process itself; its orphaned extraction pool is cleaned up after), then a re-run
    left to complete. After every kill the warehouse must open (a WAL is replayed), hold no article twice,
    nothing the reference lacks, and no feed whose validators advanced without all its entries; after each
    re-run, exactly the reference's articles and validators, no run left "running", and a digest (fixed
    clock) identical to the reference's. Children are forked from a process that imported everything once
    (crash_site.py --zygote), so a kill costs the run, not 5 s of imports.
    """
    feeds, outlets = crash_site
    sources = tmp_path / "sources.yaml"
    # Small batches: many commits (and checkpoints) per run, so kills land between, inside and after them.
    sources.write_text(crash_sources_yaml(feeds, outlets, write_batch_articles=10, extract_workers=2), "utf-8")
    zygote = Zygote(tmp_path / "children.log")
    try:
        _kill_loop(zygote, sources, tmp_path)
    finally:
        zygote.close()


def _kill_loop(zygote: Zygote, sources: Path, tmp_path: Path) -> None:
    """The reference run, then chains of killed runs each ended by a completed re-run, checked against it."""
    reference_db = tmp_path / "reference.duckdb"
    child = zygote.start(sources, reference_db)
    started = child.wait_started()
    totals = child.finish()
    run_seconds = time.monotonic() - started
    reference = _stored(reference_db)
    assert totals["new_articles"] == reference["rows"] > 0 and reference["runs"] == {"completed": 1}
    reference_digest = _digest(reference_db)

    commits = child.commit_times(started)
    # Kill points are set by the run's own progress (it announces each committed feed), not by the clock, so
    # a slower or faster machine still lands them where they were drawn: k = 0 anywhere from start-up through
    # polls and extraction to the first commit; k >= 1 shortly after the k-th commit (the next batch being
    # extracted or written, the checkpoint on close), or after the last (measures, run record, shutdown).
    gap = (commits[-1] - commits[0]) / max(1, len(commits) - 1) + 0.05
    rng = random.Random(int(os.environ.get("MEDIAMON_CRASH_SEED", "7")))
    wanted = int(os.environ.get("MEDIAMON_CRASH_KILLS", "24"))
    per_chain = 3
    strata = list(range(len(commits) + 1))
    kills, chains, stored_at_kill, orphaned = 0, 0, [], 0
    loop_start = time.monotonic()
    while kills < wanted:
        chains += 1
        db = tmp_path / f"chain{chains}.duckdb"
        for attempt in range(per_chain + 1):  # up to per_chain killed runs, then a run left to complete
            child = zygote.start(sources, db)
            child.wait_started()
            if attempt == per_chain or kills == wanted:
                child.finish()
                break
            k = strata[(kills * 7) % len(strata)] if attempt == 0 else rng.choice(strata)
            delay = rng.uniform(0, commits[0]) if k == 0 else rng.uniform(0, gap if k < len(commits) else run_seconds - commits[-1])
            killed = child.kill_at(k, delay)
            if not killed:
                break  # this run completed before its kill: it is the chain's re-run
            kills += 1
            orphaned += child.orphans > 0
            state = _check_after_crash(db, reference, f"chain {chains}, kill {attempt + 1}: {delay:.2f} s after commit {k}")
            stored_at_kill.append(len(state["urls"]))
        state = _stored(db)
        assert state["urls"] == reference["urls"] and state["rows"] == reference["rows"] and state["twice"] == 0, \
            f"chain {chains}: the completed re-run stored {len(state['urls'])} articles, the reference {reference['rows']}"
        assert set(state["validators"]) == set(reference["validators"])
        assert state["runs"].get("running", 0) == 0, f"chain {chains}: killed runs still shown as running: {state['runs']}"
        digest = _digest(db)
        assert digest.text == reference_digest.text and digest.html == reference_digest.html, f"chain {chains}: digest differs"
    print(f"\nkill -9 loop: {kills} kills in {chains} chains, {time.monotonic() - loop_start:.0f} s; reference run "
          f"{run_seconds:.1f} s, {reference['rows']} articles; stored at the kills: {sorted(stored_at_kill)}; "
          f"kills that left extraction processes running: {orphaned}")
    # The kills covered the run: some before anything was stored, some part-way, some after the last commit.
    assert min(stored_at_kill) < reference["rows"] and max(stored_at_kill) > 0


# --- concurrency, disk faults: the flow in this process, on a small generated site ------------------------------

class GatedPage:
    """Make one article page wait for a gate, so a test knows the run is mid-fetch (holding the run lock)."""

    def __init__(self, server: FeedServer, path: str, on_request=None):
        """Replace the page's route by a handler that signals, runs on_request, waits for the gate, then serves."""
        self.requested = threading.Event()
        self.gate = threading.Event()
        route = server.routes[path]
        body, ctype = route.body, route.content_type

        def handler(request):
            """Signal, wait for the gate (at most 30 s), then serve the page."""
            if on_request and not self.requested.is_set():
                on_request()
            self.requested.set()
            self.gate.wait(30)
            return 200, {"Content-Type": ctype}, body

        server.add_handler(path, handler)


class _Records(logging.Handler):
    """Keep the messages of a logger (Prefect's logging setup keeps them from reaching caplog)."""

    def __init__(self):
        """Start empty."""
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted message."""
        self.messages.append(record.getMessage())
        self.times.append(record.created)


@pytest.fixture
def store_log():
    """What mediamon.warehouse logs during the test, debug lines included (`.messages`, and `.times` each was made)."""
    handler = _Records()
    logger = logging.getLogger("mediamon.warehouse")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def _seconds_to_report(log: _Records, report: str) -> float:
    """Seconds from the run asking for the run lock (the flow's first step) to it logging `report`."""
    at = next(i for i, m in enumerate(log.messages) if report in m)
    began = max((i for i, m in enumerate(log.messages[:at]) if "asks for the run lock" in m), default=None)
    assert began is not None, log.messages
    return log.times[at] - log.times[began]


@pytest.fixture
def small_site():
    """A small generated site (3 outlets, 2 weeks) on a fresh server: (server, CrashSite)."""
    from fixtures.crash_site import CrashSite

    with FeedServer() as server:
        yield server, CrashSite(server, per_week=8, outlets=3)


def _ingest(sources: Path, db: Path) -> dict:
    """One ingest flow run in this process, as of AS_OF."""
    from flows.ingest import ingest as ingest_flow

    return ingest_flow(sources_path=str(sources), db=str(db), as_of=AS_OF)


def _count(db: Path) -> int:
    """Articles stored (a read-only look, as an analyst would take)."""
    with Warehouse(db).reader() as con:
        return con.execute("SELECT count(*) FROM articles").fetchone()[0]


def _first_page(site) -> str:
    """The path of one article page of the first week."""
    return _page_of_week(site, WEEKS[0])


@pytest.mark.prefect
@pytest.mark.reliability("second run says a run is in progress within 2 s and skips; the first stores everything")
def test_a_second_ingest_while_one_runs_skips_at_once(small_site, tmp_path, prefect_harness, store_log):
    """Two ingests at once, run_lock_wait_seconds: 0"""
    server, site = small_site
    site.publish()
    sources = tmp_path / "sources.yaml"
    sources.write_text(site.sources_yaml(extract_workers=0, run_lock_wait_seconds=0), "utf-8")
    db = tmp_path / "w.duckdb"
    gated = GatedPage(server, _first_page(site))
    first: dict = {}
    runner = threading.Thread(target=lambda: first.update(_ingest(sources, db)))
    runner.start()
    try:
        assert gated.requested.wait(60), "the first run never fetched the gated page"
        start = time.monotonic()
        second = _ingest(sources, db)
        took = time.monotonic() - start
    finally:
        gated.gate.set()
        runner.join(120)
    assert second["status"] == "skipped", second
    assert any("a run is in progress" in m and "gives up" in m for m in store_log.messages)
    # Within 2 s of the run starting (the call also pays Prefect's flow-run creation, slow on a loaded machine).
    assert _seconds_to_report(store_log, "gives up") < 2 and took < 10, took
    assert first["status"] == "completed" and first["new_articles"] == len(site.stories) == _count(db)


@pytest.mark.prefect
@pytest.mark.reliability("second run logs that it waits, runs after the first, stores nothing twice")
def test_a_second_ingest_configured_to_wait_runs_after_the_first(small_site, tmp_path, prefect_harness, store_log):
    """Two ingests at once, run_lock_wait_seconds: 60"""
    server, site = small_site
    site.publish()
    sources = tmp_path / "sources.yaml"
    sources.write_text(site.sources_yaml(extract_workers=0, run_lock_wait_seconds=60), "utf-8")
    db = tmp_path / "w.duckdb"
    gated = GatedPage(server, _first_page(site))
    results: dict[str, dict] = {}
    first = threading.Thread(target=lambda: results.update(first=_ingest(sources, db)))
    first.start()
    assert gated.requested.wait(60)
    second = threading.Thread(target=lambda: results.update(second=_ingest(sources, db)))
    second.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("waits up to" in m for m in store_log.messages):
        time.sleep(0.05)
    assert any("a run is in progress" in m and "waits up to 60 s" in m for m in store_log.messages), store_log.messages
    assert _seconds_to_report(store_log, "waits up to") < 2
    assert "second" not in results, "the second run did not wait"
    gated.gate.set()
    first.join(120)
    second.join(120)
    assert results["first"]["status"] == "completed" and results["first"]["new_articles"] == len(site.stories)
    assert results["second"]["status"] == "completed" and results["second"]["new_articles"] == 0
    assert _count(db) == len(site.stories)


ANALYST = """
import sys, time, duckdb
while True:
    try:
        con = duckdb.connect(sys.argv[1], read_only=True)
        break
    except duckdb.IOException:
        time.sleep(0.05)
con.execute("SELECT count(*) FROM articles").fetchall()
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.mark.prefect
@pytest.mark.reliability("ingest logs that it waits for the reader, retries, and stores everything it fetched")
def test_an_analyst_holding_the_warehouse_delays_but_never_drops_a_commit(small_site, tmp_path, prefect_harness, store_log):
    """Analyst holds a read-only connection during a run"""
    server, site = small_site
    site.publish(WEEKS[:1])
    sources = tmp_path / "sources.yaml"
    sources.write_text(site.sources_yaml(extract_workers=0), "utf-8")
    db = tmp_path / "w.duckdb"
    assert _ingest(sources, db)["status"] == "completed"  # the warehouse exists: the analyst has something to read
    before = _count(db)
    site.publish()
    analysts = []

    def analyst_connects():
        """Another process opens the warehouse read-only and keeps it 1.5 s, while the run fetches pages."""
        proc = subprocess.Popen([sys.executable, "-c", ANALYST, str(db), "1.5"], stdout=subprocess.PIPE, text=True)
        analysts.append(proc)
        assert proc.stdout.readline().strip() == "holding"

    gated = GatedPage(server, _page_of_week(site, WEEKS[1]), on_request=analyst_connects)
    gated.gate.set()  # the page itself is served at once; the analyst is what the commit meets
    totals = _ingest(sources, db)
    analysts[0].wait(10)
    assert totals["status"] == "completed" and totals["new_articles"] == len(site.stories) - before
    assert _count(db) == len(site.stories)
    waits = [m for m in store_log.messages if "held by another process" in m]
    assert waits and str(db) in waits[0] and "waiting" in waits[0]


def _page_of_week(site, week: str) -> str:
    """The path of one article page of that week."""
    from urllib.parse import urlparse

    story = next(s for s in site.stories if s.week == week)
    return urlparse(site.site.server.url(site.site._path(story.outlet, story))).path


@pytest.mark.prefect
@pytest.mark.reliability("run fails naming the warehouse and the full disk; earlier data intact; next run stores all")
def test_a_full_disk_fails_clearly_and_the_next_run_recovers(small_site, small_disk, tmp_path, prefect_harness):
    """Disk full during an ingest (a real 64 MB tmpfs filled up)"""
    from mediamon.errors import MediamonError

    server, site = small_site
    site.publish(WEEKS[:1])
    sources = tmp_path / "sources.yaml"
    sources.write_text(site.sources_yaml(extract_workers=0), "utf-8")
    db = small_disk / "w.duckdb"
    assert _ingest(sources, db)["status"] == "completed"
    before = _count(db)
    site.publish()
    filler = fill(small_disk)
    with pytest.raises(MediamonError) as err:
        _ingest(sources, db)
    message = str(err.value)
    assert str(db) in message and "no space left" in message.lower(), message
    assert _count(db) == before, "what earlier runs stored is still there"
    filler.unlink()
    totals = _ingest(sources, db)
    assert totals["status"] == "completed" and _count(db) == len(site.stories)
    assert _stored(db)["twice"] == 0


@pytest.mark.prefect
@pytest.mark.reliability("run fails naming the warehouse as read-only; data still readable; next run stores all")
def test_an_unwritable_warehouse_fails_clearly_and_the_next_run_recovers(small_site, small_disk, tmp_path, prefect_harness):
    """Warehouse on a file system remounted read-only"""
    from mediamon.errors import MediamonError

    server, site = small_site
    site.publish(WEEKS[:1])
    sources = tmp_path / "sources.yaml"
    sources.write_text(site.sources_yaml(extract_workers=0), "utf-8")
    db = small_disk / "w.duckdb"
    assert _ingest(sources, db)["status"] == "completed"
    before = _count(db)
    site.publish()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(MediamonError) as err:
            _ingest(sources, db)
        message = str(err.value)
        assert str(db) in message and "read-only" in message.lower(), message
        assert _count(db) == before, "an analyst can still read what was stored"
        # What an operator sees: the console script in its own process, Prefect's log lines included.
        shown = subprocess.run([sys.executable, "-c", "from mediamon.cli import main; main()", "ingest",
                                "--sources", str(sources), "--db", str(db), "--allow-private"],
                               env=dict(_child_env(), PREFECT_LOGGING_LEVEL="INFO"), capture_output=True, text=True,
                               timeout=120)
        output = shown.stdout + shown.stderr
        assert shown.returncode == 2 and "error:" in output and "read-only" in output, output
        assert "Traceback" not in output, output
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert _ingest(sources, db)["status"] == "completed" and _count(db) == len(site.stories)
