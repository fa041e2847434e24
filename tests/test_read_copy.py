"""The analysts' read copy: published atomically after every write run, complete, read-only, never in the way."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from fixtures.crash_site import AS_OF
from fixtures.disk import fill
from typer.testing import CliRunner

from mediamon import cli
from mediamon.errors import PublishFailed
from mediamon.seeds import load_seeds
from mediamon.testing import project_config
from mediamon.warehouse import Warehouse
from mediamon.warehouse.connection import read_copy_path, sql_text

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _seeded(db: Path) -> Warehouse:
    """A migrated warehouse with the seeds, its measures refreshed, and its copy published."""
    from mediamon import runs

    config = project_config()
    wh = Warehouse(db)
    with wh.maintenance("test"):
        wh.migrate()
        wh.ingest.insert_baseline(load_seeds(AS_OF, config.seeds_dir, config.analysis, config.sources.script_terms), "t")
        runs.refresh_measures(wh, config)
    return wh


def _articles(path: Path) -> int:
    """Articles in a warehouse file, read as an analyst would."""
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM v_articles").fetchone()[0]


def _add_article(wh: Warehouse, n: int) -> None:
    """Write one more (bare) article straight into the writers' file."""
    with wh.transaction() as con:
        con.execute("INSERT INTO articles (article_id, source_id, outlet, url, canonical_url, title, first_seen_at, lang,"
                    " script, text, text_simplified, text_hash, word_count, extraction) SELECT ?, 'seed', 'o', ?, ?, 't',"
                    " now(), 'en', 'en', 'x', 'x', ?, 1, 'page'", [f"extra{n}", f"http://x/{n}", f"http://x/{n}", f"h{n}"])


def test_every_write_run_publishes_a_complete_read_only_copy(db_path):
    """After a run the copy sits beside the warehouse, mode 0444, with every view and macro working on it."""
    wh = _seeded(db_path)
    copy = wh.read_copy
    assert copy == read_copy_path(db_path) == db_path.with_name("test.read.duckdb")
    assert copy.exists() and (copy.stat().st_mode & 0o777) == 0o444
    views = re.findall(r"CREATE OR REPLACE VIEW (\w+)", sql_text("views.sql"))
    with duckdb.connect(str(copy), read_only=True) as con:
        for view in views:
            con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
        assert con.execute("SELECT count(*) FROM v_articles WHERE is_baseline").fetchone()[0] == 4
        assert con.execute("SELECT shanghai_iso_week(TIMESTAMPTZ '2025-02-02 17:00:00+00')").fetchone()[0] == "2025-W06"
        assert con.execute("SELECT round(prop_z(10, 20, 5, 40), 2), burst_z(9, 4, 1)").fetchone() == (3.16, 2.5)  # (0.5 - 0.125) / sqrt(0.25 * 0.75 * (1/20 + 1/40))
    assert not list(copy.parent.glob(".*.tmp")), "no partial file is left behind"


def test_a_run_that_fails_does_not_publish_and_a_run_that_cannot_lock_does_not_either(db_path):
    """Only a write run that ends well publishes: the copy never shows a failed run's half."""
    wh = _seeded(db_path)
    before = wh.read_copy.stat().st_mtime_ns
    with pytest.raises(RuntimeError), wh.run_lock("ingest"):
        _add_article(wh, 1)
        raise RuntimeError("boom")
    assert wh.read_copy.stat().st_mtime_ns == before and _articles(wh.read_copy) == 4
    with wh.run_lock("ingest") as held:
        assert held
        with Warehouse(db_path).run_lock("ingest") as second:
            assert not second
    assert _articles(wh.read_copy) == 5  # the first, completed, published what the failed one had committed


def test_sql_reads_the_copy_and_status_says_where_it_is(db_path):
    """`mediamon sql` queries the copy (one run old at most), --live the writers' file; status prints analysts:."""
    wh = _seeded(db_path)
    _add_article(wh, 1)  # written after the last publish: only the live file has it
    runner = CliRunner()
    query = "SELECT count(*) AS n FROM v_articles"
    copy = runner.invoke(cli.app, ["sql", "--db", str(db_path), "--format", "csv", query])
    live = runner.invoke(cli.app, ["sql", "--db", str(db_path), "--format", "csv", "--live", query])
    assert copy.exit_code == 0 and copy.stdout.split() == ["n", "4"]
    assert live.exit_code == 0 and live.stdout.split() == ["n", "5"]
    status = runner.invoke(cli.app, ["status", "--db", str(db_path)])
    line = next(line for line in status.stdout.splitlines() if line.startswith("analysts:"))
    assert str(wh.read_copy) in line.replace("\n", "") and "published" in line


def test_sql_before_any_publish_says_what_to_do(db_path):
    """A warehouse from before the copy existed: a one-line error naming `mediamon init` and --live."""
    _seeded(db_path)
    read_copy_path(db_path).unlink()
    result = CliRunner().invoke(cli.app, ["sql", "--db", str(db_path), "SELECT 1"])
    assert result.exit_code != 0 and "mediamon init" in result.output and "--live" in result.output


@pytest.mark.skipif(shutil.which("setpriv") is None and os.geteuid() == 0, reason="setpriv is needed to test as root")
def test_opening_the_copy_for_writing_fails_clearly(db_path):
    """An analyst's tool that opens the copy read-write gets DuckDB's permission error naming the file."""
    wh = _seeded(db_path)
    probe = ("import duckdb, sys\ntry:\n    duckdb.connect(sys.argv[1])\nexcept duckdb.IOException as e:\n"
             "    print(e)\nelse:\n    print('opened for writing')\n")
    # Root ignores file modes: drop the capability that lets it, as an analyst's account would not have it.
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    out = subprocess.run([*prefix, sys.executable, "-c", probe, str(wh.read_copy)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=SRC), timeout=60)
    assert "Permission denied" in out.stdout and str(wh.read_copy) in out.stdout, out.stdout + out.stderr


def test_a_write_through_the_copy_never_reaches_the_pipelines_data(db_path):
    """Even an account that can write the copy changes only the copy; the next publish replaces it."""
    wh = _seeded(db_path)
    digest = hashlib.sha256(db_path.read_bytes()).hexdigest()
    os.chmod(wh.read_copy, 0o644)
    with duckdb.connect(str(wh.read_copy)) as con:
        con.execute("DELETE FROM articles")
        con.execute("CREATE TABLE scratch AS SELECT 1 AS x")
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == digest and _articles(db_path) == 4
    wh.publish()
    assert _articles(wh.read_copy) == 4
    with duckdb.connect(str(wh.read_copy), read_only=True) as con:
        assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'scratch'").fetchone()[0]


# --- reliability -------------------------------------------------------------------------------------------------

class _Messages(logging.Handler):
    """Collects the messages a logger emits, whatever Prefect did to logging's configuration."""

    def __init__(self):
        """Start empty."""
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the message."""
        self.messages.append(record.getMessage())


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
first = con.execute("SELECT count(*) FROM v_articles").fetchone()[0]
print("holding", first, flush=True)
sys.stdin.readline()                                  # hold until told
print("still", con.execute("SELECT count(*) FROM v_articles").fetchone()[0], flush=True)
"""


@pytest.mark.prefect
@pytest.mark.reliability("a reader holding the copy through an ingest and a digest delays neither; it keeps its view")
def test_a_reader_holding_the_copy_delays_neither_ingest_nor_digest(tmp_path, prefect_harness):
    """An analyst's connection to the copy, open for a whole ingest run and digest run."""
    from fixtures.crash_site import CrashSite

    from flows.digest import weekly_digest
    from flows.ingest import ingest as ingest_flow
    from mediamon.testing.devserver import FeedServer

    db = tmp_path / "w.duckdb"
    with FeedServer() as server:
        site = CrashSite(server, per_week=8, outlets=3)
        site.publish()
        sources = tmp_path / "sources.yaml"
        sources.write_text(site.sources_yaml(extract_workers=0), "utf-8")
        wh = _seeded(db)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(wh.read_copy)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=SRC))
        try:
            assert holder.stdout.readline().split() == ["holding", "4"]
            logger, records = logging.getLogger("mediamon.warehouse"), _Messages()
            logger.addHandler(records)
            level = logger.level
            logger.setLevel(logging.INFO)
            try:
                started = time.monotonic()
                totals = ingest_flow(sources_path=str(sources), db=str(db), as_of=AS_OF)
                digest = weekly_digest(sources_path=str(sources), db=str(db), out=str(tmp_path / "reports"))
                took = time.monotonic() - started
            finally:
                logger.removeHandler(records)
                logger.setLevel(level)
            logged = "\n".join(records.messages)
            assert totals["status"] == "completed" and totals["new_articles"] > 0 and digest["html"]
            assert holder.poll() is None, "the reader was still connected when both runs ended"
            assert "held by another process" not in logged, "a writer waited for the analyst"
            assert logged.count("published the analysts' read copy") == 2
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.stdout.readline().split() == ["still", "4"], "the held connection keeps its consistent view"
        finally:
            holder.kill()
    assert _articles(wh.read_copy) == 4 + totals["new_articles"], "a new connection sees the new copy"
    assert took < 300


READERS = """
import sys, time, duckdb
seen, errors, end = set(), 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        with duckdb.connect(sys.argv[1], read_only=True) as con:
            seen.add(con.execute("SELECT count(*) FROM v_articles").fetchone()[0])
    except Exception as e:
        errors += 1
        print("error", type(e).__name__, e, file=sys.stderr)
print(errors, *sorted(seen))
"""


@pytest.mark.reliability("many readers during repeated publishes: no reader errs, each sees a whole copy")
def test_many_readers_during_publishes_see_whole_copies(db_path):
    """Eight processes connect and count in a loop while the copy is published ten times over."""
    wh = _seeded(db_path)
    readers = [subprocess.Popen([sys.executable, "-c", READERS, str(wh.read_copy), "6"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(8)]
    time.sleep(0.5)
    for n in range(10):
        _add_article(wh, n)
        wh.publish()
    results = [r.communicate(timeout=60) for r in readers]
    for out, err in results:
        errors, *seen = (int(v) for v in out.split())
        assert errors == 0, err[-2000:]
        assert seen and set(seen) <= set(range(4, 15))


PUBLISH_SLOWLY = """
import shutil, sys, time
from mediamon.warehouse import Warehouse
from mediamon.warehouse import connection

def slow_copy(src, dst):
    with open(src, "rb") as s, open(dst, "wb") as d:
        d.write(s.read(1 << 20)); d.flush()
        print("copying", flush=True)
        time.sleep(60)
        d.write(s.read())

connection.shutil.copyfile = slow_copy
Warehouse(sys.argv[1]).publish()
"""


@pytest.mark.reliability("kill -9 during a publish: the old copy stays good; the next run publishes again")
def test_kill_9_during_a_publish_leaves_the_old_copy_good(db_path):
    """A publish killed half-way through its copy."""
    wh = _seeded(db_path)
    _add_article(wh, 1)
    proc = subprocess.Popen([sys.executable, "-c", PUBLISH_SLOWLY, str(db_path)], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=SRC))
    assert proc.stdout.readline().strip() == "copying"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert list(db_path.parent.glob(".test.read.duckdb.*.tmp")), "the killed publish left its partial file"
    assert _articles(wh.read_copy) == 4, "the old copy still opens, whole"
    with wh.run_lock("ingest") as held:  # the next write run
        assert held
    assert _articles(wh.read_copy) == 5
    assert not list(db_path.parent.glob(".*.tmp")), "the partial file was cleared"


@pytest.mark.reliability("full disk during a publish: a clear error; the writers' file untouched; the old copy kept")
def test_a_full_disk_during_a_publish_fails_clearly(small_disk):
    """The warehouse on a real 64 MB tmpfs, filled up."""
    db = small_disk / "w.duckdb"
    wh = _seeded(db)
    _add_article(wh, 1)
    with wh.writer() as con:
        con.execute("CHECKPOINT")
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    filler = fill(small_disk)
    with pytest.raises(PublishFailed, match="no space left on device") as failure:
        wh.publish()
    assert str(wh.read_copy) in str(failure.value) and "intact" in str(failure.value)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert _articles(wh.read_copy) == 4 and not list(small_disk.glob(".*.tmp"))
    filler.unlink()
    wh.publish()
    assert _articles(wh.read_copy) == 5
