"""Ingest writes: the configured feeds and their poll state, new articles with their stories and analysis (one
transaction per batch), the poll log, runs, and the seed baseline."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Sequence

import pyarrow as pa

from ..config import Feed, PipelineSettings, StorySettings
from ..models import Article, Entry, FeedHarvest, FeedOutcome, FeedState
from ..stories import sign_article
from . import analysis, stories
from .connection import Database, statements

log = logging.getLogger("mediamon.warehouse")


def _sql(name: str) -> str:
    """A named statement of sql/ingest.sql."""
    return statements("ingest.sql")[name]


def arrow_table(con, table: str, rows: list[dict]) -> pa.Table:
    """Rows as an Arrow table typed by the warehouse table's own columns (the DDL is the one schema)."""
    schema = con.execute(f"SELECT * FROM {table} LIMIT 0").fetch_arrow_table().schema
    names = [n for n in schema.names if not rows or n in rows[0]]
    return pa.Table.from_pylist(rows, schema=pa.schema([schema.field(n) for n in names]))


def article_row(a: Article) -> dict:
    """An Article as a row of the articles table (plus its signature and analysis, stored elsewhere)."""
    return {
        "article_id": a.article_id, "source_id": a.source_id, "outlet": a.outlet, "url": a.url,
        "canonical_url": a.canonical_url, "guid": a.guid, "title": a.title, "author": a.author,
        "published_at": a.published_at, "first_seen_at": a.first_seen_at, "lang": a.lang, "script": a.script,
        "text": a.text, "text_simplified": a.text_simplified, "text_hash": a.text_hash, "word_count": a.word_count,
        "extraction": a.extraction, "topics": list(a.topics), "is_baseline": a.is_baseline, "duplicate_of": None,
        "credited_origin": a.credited_origin, "signature": a.signature, "analysis": a.analysis,
    }


class IngestStore:
    """What an ingest run writes: feeds, articles (with stories and analysis, atomically), polls and runs."""

    def __init__(self, db: Database, story_settings: StorySettings):
        """Write through `db`; group stories with `story_settings`."""
        self.db = db
        self.story_settings = story_settings

    def sync_feeds(self, feeds: Sequence[Feed], now: datetime) -> dict[str, FeedState]:
        """Record the configured feeds and return each one's remembered poll state."""
        rows = [{"feed_id": f.id, "name": f.name, "outlet": f.outlet, "url": f.url, "lang": f.lang,
                 "tags": list(f.tags), "enabled": f.enabled} for f in feeds]
        with self.db.writer() as con:
            con.register("cfg", arrow_table(con, "feeds", rows))
            con.execute(_sql("upsert_feeds"), [now])
            result = con.execute(_sql("feed_states")).fetchall()
        return {r[0]: FeedState(r[0], r[1], r[2], r[3], r[4]) for r in result}

    def known_urls(self, entries: Sequence[Entry]) -> set[str]:
        """The canonical URLs among entries that are already stored (by URL, or by the feed's GUID)."""
        if not entries:
            return set()
        batch = pa.table({"canonical_url": [e.canonical_url for e in entries],
                          "source_id": [e.feed_id for e in entries], "guid": [e.guid for e in entries]})
        with self.db.writer() as con:
            con.register("batch", batch)
            return {r[0] for r in con.execute(_sql("known_urls")).fetchall()}

    def commit(self, run_id: str, harvests: Sequence[FeedHarvest], settings: PipelineSettings,
               now: datetime) -> list[FeedOutcome]:
        """Store a batch of feeds' articles, their stories and analysis, the poll log and the feeds' validators in
        one transaction; return the final outcomes (validators never advance past uncommitted entries)."""
        with self.db.transaction() as con:
            stored = self._insert_articles(con, dedupe(con, [a for h in harvests for a in h.articles]), run_id)
            counts: dict[str, tuple[int, int]] = {}
            for r in stored:  # count what was stored, not what was offered
                new, dup = counts.get(r["source_id"], (0, 0))
                counts[r["source_id"]] = (new + (r["duplicate_of"] is None), dup + (r["duplicate_of"] is not None))
            outcomes = []
            for h in harvests:
                h.outcome.new_articles, h.outcome.duplicates = counts.get(h.outcome.feed_id, (0, 0))
                outcomes.append(h.outcome)
            _log_polls(con, run_id, outcomes, now)
            _advance_feeds(con, outcomes, settings, now)
        return outcomes

    def _insert_articles(self, con, rows: list[dict], run_id: str) -> list[dict]:
        """Insert new article rows (a canonical URL already stored is skipped), store their analysis and group them
        into stories; return the rows stored."""
        if not rows:
            return []
        con.register("candidates", pa.table({"canonical_url": [r["canonical_url"] for r in rows]}))
        stored = {r[0] for r in con.execute(_sql("stored_urls")).fetchall()}
        con.unregister("candidates")
        rows = [r for r in rows if r["canonical_url"] not in stored]  # the single writer keeps canonical_url unique
        if not rows:
            return []
        table = arrow_table(con, "articles", [{k: v for k, v in r.items() if k not in ("signature", "analysis")}
                                              | {"run_id": run_id} for r in rows])
        con.register("new_articles", table)
        con.execute(_sql("insert_articles"))
        con.unregister("new_articles")
        analysis.insert_rows(con, rows)
        stories.assign(con, rows, self.story_settings)
        return rows

    def insert_baseline(self, articles: Sequence[Article], run_id: str) -> int:
        """Store the seed articles (idempotently: already stored ones are skipped); return how many were new."""
        with self.db.transaction() as con:
            before = con.execute(_sql("baseline_count")).fetchone()[0]
            signed = [sign_article(replace(a, is_baseline=True), self.story_settings) for a in articles]
            self._insert_articles(con, dedupe(con, signed), run_id)
            after = con.execute(_sql("baseline_count")).fetchone()[0]
        return after - before

    def record_run(self, run_id: str, flow: str, started_at: datetime, finished_at: datetime | None,
                   status: str, outcomes: Sequence[FeedOutcome] = ()) -> None:
        """Insert or finish the run's row with its totals."""
        ok = sum(o.status in ("ok", "not_modified") for o in outcomes)
        failed = sum(o.status == "error" for o in outcomes)
        with self.db.writer() as con:
            con.execute(_sql("record_run"), [run_id, flow, started_at, finished_at, status, ok, failed,
                                             sum(o.new_articles for o in outcomes), sum(o.duplicates for o in outcomes)])

    def mark_interrupted_runs(self, flow: str, at: datetime) -> int:
        """Mark the flow's runs still shown as running as interrupted; return how many.

        Call it under the run lock: no other run of the flow is alive then, so such rows were left by a run
        that was killed or crashed before it could record its end.
        """
        with self.db.writer() as con:
            stale = con.execute(_sql("running_runs"), [flow]).fetchone()[0]
            if stale:
                con.execute(_sql("mark_interrupted"), [at, flow])
        if stale:
            log.warning("%s: %d earlier %s run(s) ended without recording their end (killed or crashed); "
                        "marked interrupted", self.db.path, stale, flow)
        return stale


def dedupe(con, articles: Sequence[Article]) -> list[dict]:
    """Rows to insert, with exact-text copies pointing at the first copy."""
    seen_urls: set[str] = set()
    unique = []
    # Earliest published first, so "the first copy" does not depend on which feed finished first.
    for a in sorted(articles, key=lambda a: (a.published_at or a.first_seen_at, a.canonical_url)):
        if a.canonical_url not in seen_urls:
            seen_urls.add(a.canonical_url)
            unique.append(a)
    con.register("hashes", pa.table({"text_hash": sorted({a.text_hash for a in unique})}))
    first = dict(con.execute(_sql("first_copies")).fetchall())
    con.unregister("hashes")
    rows = []
    for a in unique:
        original = first.get(a.text_hash)
        row = article_row(a)
        if original and original != a.article_id:
            row.update(text=None, text_simplified=None, duplicate_of=original)
        else:
            first[a.text_hash] = a.article_id
        rows.append(row)
    return rows


def _log_polls(con, run_id: str, outcomes: Sequence[FeedOutcome], now: datetime) -> None:
    """Append one row per feed to the poll log."""
    rows = [o.as_row() | {"run_id": run_id, "polled_at": now} for o in outcomes]
    con.register("polls", arrow_table(con, "feed_polls", rows))
    con.execute(_sql("insert_polls"))
    con.unregister("polls")


def _advance_feeds(con, outcomes: Sequence[FeedOutcome], settings: PipelineSettings, now: datetime) -> None:
    """Move validators forward for fetched feeds; count failures and back off failing ones."""
    for o in outcomes:
        if o.status in ("ok", "not_modified"):
            con.execute(_sql("feed_succeeded"), [o.etag, o.last_modified, now, now, o.status, now, o.feed_id])
        elif o.status == "error":
            failures = con.execute(_sql("feed_failures"), [o.feed_id]).fetchone()
            n = (failures[0] if failures else 0) + 1
            wait_h = min(settings.backoff_max_hours, 0.25 * 2 ** (n - 1))
            if o.retry_after:
                wait_h = max(wait_h, o.retry_after / 3600)
            con.execute(_sql("feed_failed"), [now, f"{o.error_class}: {o.error}"[:1000], n,
                                              now + timedelta(hours=wait_h), now, o.feed_id])
