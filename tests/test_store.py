"""The warehouse: batched inserts, exact-text duplicates, validators, locking, baseline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import duckdb
import pytest

from mediamon.config import Feed, PipelineSettings
from mediamon.errors import WarehouseBusy
from mediamon.models import Article, FeedHarvest, FeedOutcome
from mediamon.normalize import article_id, text_fingerprint
from mediamon.seeds import load_seeds
from mediamon.testing import project_config
from mediamon.warehouse import Warehouse
from mediamon.warehouse import ingest as ingest_store

NOW = datetime(2025, 2, 5, 8, tzinfo=UTC)
FEED = Feed(id="f1", name="F1", outlet="Outlet", url="https://example.com/f", lang="zh-Hans")


def _article(url: str, text: str, feed: str = "f1") -> Article:
    """A minimal article."""
    return Article(article_id(url), feed, "Outlet", url, url, "标题", None, NOW, NOW, "zh", "zh-Hans", text, text,
                   text_fingerprint(text), len(text), "page", guid=url)


@pytest.fixture
def warehouse(db_path) -> Warehouse:
    """A migrated warehouse with one feed."""
    wh = Warehouse(db_path, lock_timeout=1)
    wh.migrate()
    wh.ingest.sync_feeds([FEED], NOW)
    return wh


def test_same_text_under_two_urls_is_stored_once(warehouse):
    """The second URL is linked to the first copy and carries no text of its own."""
    a = _article("http://a.example.com/1", "英伟达H20芯片出口受限。")
    b = _article("http://b.example.com/2", "英伟达 H20 芯片出口受限！")
    outcome = FeedOutcome("f1", etag='"v2"')
    [o] = warehouse.ingest.commit("run1", [FeedHarvest(outcome, [a, b])], PipelineSettings(), NOW)
    assert (o.new_articles, o.duplicates) == (1, 1)
    with warehouse.reader() as con:
        rows = con.execute("SELECT url, duplicate_of, text IS NULL FROM v_articles ORDER BY url").fetchall()
    assert rows == [("http://a.example.com/1", None, False), ("http://b.example.com/2", a.article_id, True)]


def test_first_copy_is_the_earliest_published_whatever_the_order(warehouse):
    """Within one batch the earliest-published copy keeps the text, regardless of list order."""
    late = replace(_article("http://a.example.com/late", "同一篇稿件"), published_at=NOW)
    early = replace(_article("http://b.example.com/early", "同一篇稿件"), published_at=NOW.replace(hour=1))
    warehouse.ingest.commit("r", [FeedHarvest(FeedOutcome("f1"), [late, early])], PipelineSettings(), NOW)
    with warehouse.reader() as con:
        rows = dict(con.execute("SELECT url, duplicate_of FROM articles").fetchall())
    assert rows == {"http://b.example.com/early": None, "http://a.example.com/late": early.article_id}


def test_commit_is_idempotent_and_known_urls(warehouse):
    """Committing the same articles again adds nothing; known_urls reports them."""
    a = _article("http://a.example.com/1", "文本一")
    for _ in range(2):
        warehouse.ingest.commit("r", [FeedHarvest(FeedOutcome("f1"), [a])], PipelineSettings(), NOW)
    with warehouse.reader() as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
    from mediamon.models import Entry

    e = Entry("f1", "other-guid", a.url, a.canonical_url, "", "", "", None, None)
    assert warehouse.ingest.known_urls([e]) == {a.canonical_url}


def test_validators_advance_with_the_commit_and_failures_back_off(warehouse):
    """ETag is stored with the entries; errors count up and push the next poll out."""
    warehouse.ingest.commit("r1", [FeedHarvest(FeedOutcome("f1", etag='"e1"', last_modified="lm"))], PipelineSettings(), NOW)
    err = FeedOutcome("f1", status="error", error_class="http_status", error="HTTP 500")
    warehouse.ingest.commit("r2", [FeedHarvest(err)], PipelineSettings(), NOW)
    warehouse.ingest.commit("r3", [FeedHarvest(replace(err))], PipelineSettings(), NOW)
    with warehouse.reader() as con:
        etag, failures, next_poll, last_error = con.execute(
            "SELECT etag, failures, next_poll_at, last_error FROM feeds WHERE feed_id = 'f1'").fetchone()
    assert etag == '"e1"' and failures == 2 and "HTTP 500" in last_error
    assert (next_poll - NOW).total_seconds() == pytest.approx(1800)


def test_failed_commit_leaves_nothing(warehouse, monkeypatch):
    """A crash inside the transaction stores neither articles nor validators."""
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_store, "_advance_feeds", boom)
    with pytest.raises(RuntimeError):
        warehouse.ingest.commit("r", [FeedHarvest(FeedOutcome("f1", etag='"x"'), [_article("http://a.example.com/z", "t")])],
                         PipelineSettings(), NOW)
    with warehouse.reader() as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == 0
        assert con.execute("SELECT etag FROM feeds").fetchone()[0] is None


def test_writer_waits_for_a_lock_and_then_gives_up(warehouse, tmp_path):
    """While another process holds the file, the writer waits, then raises WarehouseBusy."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(warehouse.path)!r}, read_only=True); print('held', flush=True); time.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WarehouseBusy, match="locked by another process"):
            with warehouse.writer():
                pass
    finally:
        holder.kill()
        holder.wait()
    with warehouse.writer() as con:  # free again
        con.execute("SELECT 1")


def test_baseline_loads_once(warehouse):
    """The seeds load as baseline articles, idempotently."""
    seeds = load_seeds(NOW, project_config().seeds_dir, project_config().analysis, protected={"昇騰": "昇腾"})
    assert warehouse.ingest.insert_baseline(seeds, "init") == 4
    assert warehouse.ingest.insert_baseline(seeds, "init") == 0
    with warehouse.reader() as con:
        rows = con.execute("SELECT script, count(*) FROM v_articles WHERE is_baseline GROUP BY 1 ORDER BY 1").fetchall()
    assert rows == [("zh-Hans", 3), ("zh-Hant", 1)]


def test_reader_is_read_only(warehouse):
    """Analysts' connections cannot write."""
    with warehouse.reader() as con, pytest.raises(duckdb.Error):
        con.execute("DELETE FROM articles")


def _hold_lock(path, ready, release):
    """In another process: hold the warehouse's run lock until told to let go (or killed)."""
    from mediamon.warehouse import Warehouse

    with Warehouse(path).run_lock("ingest") as held:
        assert held
        ready.set()
        release.wait(30)


def test_a_second_run_sees_the_first_and_a_killed_run_frees_the_lock(tmp_path):
    """While one process holds the run lock, another gives up at once (or after its wait) and says who holds it;
    killing the holder releases the lock."""
    import multiprocessing
    import time

    from mediamon.warehouse import Warehouse

    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(tmp_path / "w.duckdb", ready, release))
    holder.start()
    assert ready.wait(30)
    wh = Warehouse(tmp_path / "w.duckdb")
    start = time.monotonic()
    with wh.run_lock("ingest", wait_seconds=0) as held:
        assert held is False
    with wh.run_lock("ingest", wait_seconds=0.5) as held:
        assert held is False
    assert time.monotonic() - start < 2
    assert "ingest run, pid" in (tmp_path / "w.duckdb.run.lock").read_text()
    holder.kill()
    holder.join(10)
    with wh.run_lock("ingest", wait_seconds=2) as held:
        assert held is True
