"""The DuckDB warehouse: short-lived writer connections, read-only readers, batched Arrow inserts."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from string import Template
from typing import Callable, Iterator, Sequence

import duckdb
import pyarrow as pa

from .config import (
    PROJECT_ROOT,
    WAREHOUSE_MEMORY_MB,
    Feed,
    PipelineSettings,
    Sources,
    StorySettings,
)
from .errors import MediamonError, WarehouseBusy
from .migrate import migrate
from .models import Article, Entry, FeedHarvest, FeedOutcome, FeedState
from .stories import (
    Member,
    band_keys,
    credited_origin,
    group_stories,
    sign_article,
    signature,
    similarity,
)

log = logging.getLogger("mediamon.store")

ARTICLE_SCHEMA = pa.schema([
    ("article_id", pa.string()), ("source_id", pa.string()), ("outlet", pa.string()), ("url", pa.string()),
    ("canonical_url", pa.string()), ("guid", pa.string()), ("title", pa.string()), ("author", pa.string()),
    ("published_at", pa.timestamp("us", tz="UTC")), ("first_seen_at", pa.timestamp("us", tz="UTC")),
    ("lang", pa.string()), ("script", pa.string()), ("text", pa.string()), ("text_simplified", pa.string()),
    ("text_hash", pa.string()), ("word_count", pa.int32()), ("extraction", pa.string()),
    ("topics", pa.list_(pa.string())), ("is_baseline", pa.bool_()), ("duplicate_of", pa.string()), ("run_id", pa.string()),
    ("credited_origin", pa.string()),
])
POLL_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("feed_id", pa.string()), ("polled_at", pa.timestamp("us", tz="UTC")),
    ("status", pa.string()), ("http_status", pa.int32()), ("error_class", pa.string()), ("error", pa.string()),
    ("duration_ms", pa.float64()), ("entries_seen", pa.int32()), ("on_topic", pa.int32()), ("known", pa.int32()),
    ("pages_fetched", pa.int32()), ("page_errors", pa.int32()), ("extraction_fallbacks", pa.int32()),
    ("new_articles", pa.int32()), ("duplicates", pa.int32()),
])
MEASURES_FILE = PROJECT_ROOT / "warehouse" / "measures.sql"
MIGRATIONS = PROJECT_ROOT / "warehouse" / "migrations"
DIGEST_QUERIES_FILE = PROJECT_ROOT / "warehouse" / "digest_queries.sql"
# Rows per row group for new data: small groups keep each checkpoint's rewrite small (DuckDB's minimum).
WRITER_ROW_GROUP_SIZE = 2048
_LOCK_MARKERS = ("Could not set lock", "Conflicting lock", "database is locked")
# How the operating system's storage errors read in DuckDB's and Python's messages, and what to tell the operator.
_STORAGE_PROBLEMS = {
    "No space left on device": "no space left on device",
    "Disk quota exceeded": "disk quota exceeded",
    "File too large": "file size limit reached",
    "Read-only file system": "the file system is read-only",
    "Permission denied": "permission denied",
}


class WarehouseUnwritable(MediamonError):
    """The warehouse's disk refused a write (full, read-only, no permission); nothing of that step was committed."""


def storage_problem(exc: BaseException) -> str | None:
    """What a storage error means for the operator (None if exc, and what caused it, is no storage error)."""
    seen: BaseException | None = exc
    while seen is not None:
        text = str(seen)
        for marker, meaning in _STORAGE_PROBLEMS.items():
            if marker in text:
                return meaning
        seen = seen.__cause__ or seen.__context__
    return None


class Warehouse:
    """A DuckDB file that is held only while a batch is written, so analysts can read between runs."""

    def __init__(self, path: str | Path, lock_timeout: float = 300.0, stories: StorySettings | None = None,
                 memory_mb: int = WAREHOUSE_MEMORY_MB):
        """Point at a warehouse file; writers wait up to lock_timeout seconds for another process, use memory_mb."""
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.stories = stories or StorySettings()
        self.memory_mb = memory_mb

    @classmethod
    def configured(cls, path: str | Path, sources: Sources) -> Warehouse:
        """The warehouse at path with the story settings and writer memory of a sources file."""
        return cls(path, stories=sources.stories, memory_mb=sources.pipeline.warehouse_memory_mb)

    @contextmanager
    def writer(self, unlimited: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection (DuckDB within memory_mb unless unlimited), waiting with a log line while
        another process holds the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay, warned = 0.2, False
        while True:
            try:
                con = self._connect_writer(None if unlimited else self.memory_mb)
                break
            except duckdb.IOException as exc:
                if not any(m in str(exc) for m in _LOCK_MARKERS):
                    raise self._unwritable(exc) from exc
                if time.monotonic() + delay > deadline:
                    raise WarehouseBusy(f"{self.path}: still locked by another process after {self.lock_timeout:g} s: {exc}") from None
                if not warned:
                    log.warning("warehouse %s is held by another process (a reader or another run); waiting", self.path)
                    warned = True
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            yield con
        except (duckdb.Error, OSError, MediamonError) as exc:
            raise self._unwritable(exc) from exc
        finally:
            try:
                con.close()  # closing checkpoints, which writes too
            except (duckdb.Error, OSError) as exc:
                if sys.exc_info()[0] is None:  # do not hide the error already on its way out
                    raise self._unwritable(exc) from exc

    def _unwritable(self, exc: BaseException) -> BaseException:
        """A storage error as WarehouseUnwritable naming the file and what to do; any other error unchanged."""
        problem = storage_problem(exc)
        if problem is None or isinstance(exc, WarehouseUnwritable):
            return exc
        log.error("warehouse %s: a write failed: %s", self.path, exc)
        return WarehouseUnwritable(
            f"{self.path}: cannot write the warehouse: {problem}. Nothing of this step was committed and what "
            f"earlier runs stored is intact; make room or fix the file system, then run again. ({exc})")

    def _connect_writer(self, memory_mb: int | None) -> duckdb.DuckDBPyConnection:
        """A read-write connection whose appends fill row groups of WRITER_ROW_GROUP_SIZE rows.

        Every checkpoint rewrites the last row group; with DuckDB's default size (122,880 rows) that group
        held every article stored so far, so a commit's memory and time grew with the warehouse. The memory
        limit bounds the rest: DuckDB's default (80% of RAM) let the measures refresh grow with the run.
        """
        config = {"temp_directory": f"{self.path}.tmp"} | ({"memory_limit": f"{memory_mb}MB"} if memory_mb else {})
        con = duckdb.connect(config=config)
        try:
            path = str(self.path).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS warehouse (ROW_GROUP_SIZE {WRITER_ROW_GROUP_SIZE})")
            con.execute("USE warehouse")
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def run_lock(self, flow: str, wait_seconds: float = 0.0) -> Iterator[bool]:
        """Hold the warehouse's run lock for a whole flow run; yields False if another run still held it after
        wait_seconds. An OS lock (flock): a crashed or killed run releases it with its process."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        path = self.path.with_name(self.path.name + ".run.lock")
        log.debug("%s: a %s run asks for the run lock", self.path, flow)
        try:
            handle = open(path, "a+")
        except OSError as exc:
            raise self._unwritable(exc) from exc
        deadline = time.monotonic() + wait_seconds
        announced = False
        try:
            while True:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    if time.monotonic() >= deadline:
                        log.warning("%s: a run is in progress (%s); this %s run gives up", self.path, holder, flow)
                        yield False
                        return
                    if not announced:
                        log.warning("%s: a run is in progress (%s); this %s run waits up to %.0f s", self.path, holder,
                                    flow, wait_seconds)
                        announced = True
                    time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
            handle.seek(0)
            handle.truncate()
            handle.write(f"{flow} run, pid {os.getpid()}, since {datetime.now().astimezone().isoformat(timespec='seconds')}")
            handle.flush()
            yield True
        finally:
            handle.close()  # closing releases the lock

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (fails clearly if the warehouse does not exist yet)."""
        if not self.path.exists():
            raise FileNotFoundError(f"{self.path}: no warehouse here yet; run `mediamon init`")
        con = duckdb.connect(str(self.path), read_only=True)
        try:
            yield con
        finally:
            con.close()

    def migrate(self) -> list[str]:
        """Create or upgrade the schema and views."""
        with self.writer() as con:
            return migrate(con)

    def sync_feeds(self, feeds: Sequence[Feed], now: datetime) -> dict[str, FeedState]:
        """Record the configured feeds and return each one's remembered poll state."""
        rows = pa.Table.from_pylist(
            [{"feed_id": f.id, "name": f.name, "outlet": f.outlet, "url": f.url, "lang": f.lang,
              "tags": list(f.tags), "enabled": f.enabled} for f in feeds],
            schema=pa.schema([("feed_id", pa.string()), ("name", pa.string()), ("outlet", pa.string()),
                              ("url", pa.string()), ("lang", pa.string()), ("tags", pa.list_(pa.string())),
                              ("enabled", pa.bool_())]),
        )
        with self.writer() as con:
            con.register("cfg", rows)
            con.execute(
                "INSERT INTO feeds (feed_id, name, outlet, url, lang, tags, enabled, updated_at) "
                "SELECT feed_id, name, outlet, url, lang, tags, enabled, ? FROM cfg "
                "ON CONFLICT (feed_id) DO UPDATE SET name = excluded.name, outlet = excluded.outlet, "
                "url = excluded.url, lang = excluded.lang, tags = excluded.tags, enabled = excluded.enabled, "
                "updated_at = excluded.updated_at",
                [now],
            )
            result = con.execute(
                "SELECT feed_id, etag, last_modified, failures, next_poll_at FROM feeds WHERE feed_id IN (SELECT feed_id FROM cfg)"
            ).fetchall()
        return {r[0]: FeedState(r[0], r[1], r[2], r[3], r[4]) for r in result}

    def known_urls(self, entries: Sequence[Entry]) -> set[str]:
        """The canonical URLs among entries that are already stored (by URL, or by the feed's GUID)."""
        if not entries:
            return set()
        batch = pa.table({
            "canonical_url": [e.canonical_url for e in entries],
            "source_id": [e.feed_id for e in entries],
            "guid": [e.guid for e in entries],
        })
        with self.writer() as con:
            con.register("batch", batch)
            rows = con.execute(
                "SELECT b.canonical_url FROM batch b WHERE EXISTS (SELECT 1 FROM articles a WHERE a.canonical_url = b.canonical_url) "
                "OR EXISTS (SELECT 1 FROM articles a WHERE a.source_id = b.source_id AND a.guid = b.guid)"
            ).fetchall()
        return {r[0] for r in rows}

    def commit(self, run_id: str, harvests: Sequence[FeedHarvest], settings: PipelineSettings, now: datetime) -> list[FeedOutcome]:
        """Store a batch of feeds' articles, poll log and validators in one transaction; return final outcomes."""
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                outcomes = self._commit(con, run_id, harvests, settings, now)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return outcomes

    def _commit(self, con, run_id, harvests, settings, now) -> list[FeedOutcome]:
        """The body of commit(), inside its transaction."""
        articles = [a for h in harvests for a in h.articles]
        rows = self._dedupe(con, articles)
        counts: dict[str, tuple[int, int]] = {}
        for r in self._insert_articles(con, rows, run_id):  # count what was stored, not what was offered
            new, dup = counts.get(r["source_id"], (0, 0))
            counts[r["source_id"]] = (new + (r["duplicate_of"] is None), dup + (r["duplicate_of"] is not None))
        outcomes = []
        for h in harvests:
            o = h.outcome
            o.new_articles, o.duplicates = counts.get(o.feed_id, (0, 0))
            outcomes.append(o)
        self._log_polls(con, run_id, outcomes, now)
        self._advance_feeds(con, outcomes, settings, now)
        return outcomes

    def _insert_articles(self, con, rows: list[dict], run_id: str) -> list[dict]:
        """Insert new article rows (a canonical URL already stored is skipped), group them into stories; return those stored."""
        if not rows:
            return []
        con.register("candidates", pa.table({"canonical_url": [r["canonical_url"] for r in rows]}))
        stored = {r[0] for r in con.execute(
            "SELECT canonical_url FROM articles WHERE canonical_url IN (SELECT canonical_url FROM candidates)").fetchall()}
        con.unregister("candidates")
        rows = [r for r in rows if r["canonical_url"] not in stored]  # the single writer keeps canonical_url unique
        if not rows:
            return []
        table = pa.Table.from_pylist([{k: v for k, v in r.items() if k not in ("signature", "analysis")} | {"run_id": run_id}
                                      for r in rows], schema=ARTICLE_SCHEMA)
        con.register("new_articles", table)
        con.execute("INSERT INTO articles BY NAME SELECT * FROM new_articles")
        con.unregister("new_articles")
        insert_analysis(con, rows)
        assign_stories(con, rows, self.stories)
        return rows

    @staticmethod
    def _dedupe(con, articles: Sequence[Article]) -> list[dict]:
        """Rows to insert, with exact-text copies pointing at the first copy."""
        seen_urls: set[str] = set()
        unique = []
        # Earliest published first, so "the first copy" does not depend on which feed finished first.
        for a in sorted(articles, key=lambda a: (a.published_at or a.first_seen_at, a.canonical_url)):
            if a.canonical_url not in seen_urls:
                seen_urls.add(a.canonical_url)
                unique.append(a)
        hashes = pa.table({"text_hash": sorted({a.text_hash for a in unique})})
        con.register("hashes", hashes)
        first = dict(con.execute(
            "SELECT text_hash, min(article_id) FROM articles WHERE duplicate_of IS NULL "
            "AND text_hash IN (SELECT text_hash FROM hashes) GROUP BY text_hash"
        ).fetchall())
        con.unregister("hashes")
        rows = []
        for a in unique:
            original = first.get(a.text_hash)
            row = _article_row(a)
            if original and original != a.article_id:
                row.update(text=None, text_simplified=None, duplicate_of=original)
            else:
                first[a.text_hash] = a.article_id
            rows.append(row)
        return rows

    @staticmethod
    def _log_polls(con, run_id: str, outcomes: Sequence[FeedOutcome], now: datetime) -> None:
        """Append one row per feed to the poll log."""
        table = pa.Table.from_pylist(
            [{**{k: v for k, v in o.as_row().items() if k in POLL_SCHEMA.names}, "run_id": run_id, "polled_at": now}
             for o in outcomes],
            schema=POLL_SCHEMA,
        )
        con.register("polls", table)
        con.execute("INSERT INTO feed_polls SELECT * FROM polls")
        con.unregister("polls")

    @staticmethod
    def _advance_feeds(con, outcomes: Sequence[FeedOutcome], settings: PipelineSettings, now: datetime) -> None:
        """Move validators forward for fetched feeds; count failures and back off failing ones."""
        for o in outcomes:
            if o.status in ("ok", "not_modified"):
                con.execute(
                    "UPDATE feeds SET etag = coalesce(?, etag), last_modified = coalesce(?, last_modified), "
                    "last_polled_at = ?, last_success_at = ?, last_status = ?, last_error = NULL, failures = 0, "
                    "next_poll_at = NULL, updated_at = ? WHERE feed_id = ?",
                    [o.etag, o.last_modified, now, now, o.status, now, o.feed_id],
                )
            elif o.status == "error":
                failures = con.execute("SELECT failures FROM feeds WHERE feed_id = ?", [o.feed_id]).fetchone()
                n = (failures[0] if failures else 0) + 1
                wait_h = min(settings.backoff_max_hours, 0.25 * 2 ** (n - 1))
                if o.retry_after:
                    wait_h = max(wait_h, o.retry_after / 3600)
                con.execute(
                    "UPDATE feeds SET last_polled_at = ?, last_status = 'error', last_error = ?, failures = ?, "
                    "next_poll_at = ?, updated_at = ? WHERE feed_id = ?",
                    [now, f"{o.error_class}: {o.error}"[:1000], n, now + timedelta(hours=wait_h), now, o.feed_id],
                )

    def rebuild_stories(self, batch: int = 2000) -> dict[str, int]:
        """Re-sign every article and regroup all stories from scratch (after changing story settings)."""
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                for table in ("article_links", "article_bands", "article_signatures", "article_stories"):
                    con.execute(f"DELETE FROM {table}")
                con.execute("DELETE FROM analysis_state WHERE key = 'measures_key'")  # stories change: recount all weeks
                order = con.execute(
                    "SELECT article_id FROM articles ORDER BY CASE WHEN published_at IS NULL OR "
                    "published_at > first_seen_at + INTERVAL 1 DAY THEN first_seen_at ELSE published_at END, article_id"
                ).fetchall()
                links = 0
                for start in range(0, len(order), batch):
                    con.register("chunk", pa.table({"article_id": [r[0] for r in order[start:start + batch]]}))
                    cur = con.execute(
                        "SELECT article_id, published_at, first_seen_at, word_count, duplicate_of, text, text_simplified "
                        "FROM articles WHERE article_id IN (SELECT article_id FROM chunk)")
                    rows = [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
                    con.unregister("chunk")
                    for r in rows:
                        r["signature"] = signature(r["text_simplified"] or "", self.stories) if not r["duplicate_of"] else None
                        r["credited_origin"] = credited_origin(r["text"])
                    con.register("credits", pa.table({"article_id": [r["article_id"] for r in rows],
                                                      "credited_origin": [r["credited_origin"] for r in rows]}))
                    con.execute("UPDATE articles SET credited_origin = c.credited_origin FROM credits c "
                                "WHERE articles.article_id = c.article_id AND articles.credited_origin IS DISTINCT FROM c.credited_origin")
                    con.unregister("credits")
                    links += assign_stories(con, rows, self.stories)
                stories = con.execute("SELECT count(DISTINCT story_id) FROM article_stories").fetchone()[0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return {"articles": len(order), "links": links, "stories": stories}

    def analysis_version(self) -> tuple[str | None, int]:
        """(config version the stored terms and labels were computed with, number of articles)."""
        with self.writer() as con:
            version = con.execute("SELECT value FROM analysis_state WHERE key = 'config_version'").fetchone()
            articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        return (version[0] if version else None), articles

    def set_analysis_version(self, version: str) -> None:
        """Record the config version that stored terms and labels match."""
        with self.writer() as con:
            _set_version(con, version)

    def rebuild_analysis(self, analyse_rows: Callable[[list[dict]], list], version: str, batch: int = 2000) -> dict[str, int]:
        """Recount every article's terms and relabel it (after editing config/), in one transaction.

        `analyse_rows` maps rows (article_id, title, script, lang, text_simplified) to Analysis objects.
        """
        with self.writer() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute("DELETE FROM article_terms")
                con.execute("DELETE FROM article_labels")
                con.execute("DELETE FROM term_background")
                con.execute("DELETE FROM analysis_state WHERE key = 'measures_key'")
                ids = [r[0] for r in con.execute(
                    "SELECT article_id FROM articles WHERE duplicate_of IS NULL ORDER BY article_id").fetchall()]
                for start in range(0, len(ids), batch):
                    con.register("chunk", pa.table({"article_id": ids[start:start + batch]}))
                    cur = con.execute("SELECT article_id, title, script, lang, text_simplified, duplicate_of FROM articles "
                                      "WHERE article_id IN (SELECT article_id FROM chunk)")
                    rows = [dict(zip([d[0] for d in cur.description], r)) for r in cur.fetchall()]
                    con.unregister("chunk")
                    for row, analysis in zip(rows, analyse_rows(rows)):
                        row["analysis"] = analysis
                    insert_analysis(con, rows)
                # An exact copy carries its original's labels (its text is stored once, with the original).
                con.execute("INSERT INTO article_labels BY NAME SELECT a.article_id, l.narrative, l.frame, l.score, "
                            "l.matched, l.rule FROM articles a JOIN article_labels l ON l.article_id = a.duplicate_of")
                _set_version(con, version)
                labels = con.execute("SELECT count(*) FROM article_labels").fetchone()[0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return {"articles": len(ids), "labels": labels}

    def refresh_measures(self, settings: dict[str, float], catalog: list[dict], version: str, full: bool = False) -> float:
        """Bring the weekly measure tables up to date in one transaction; return seconds.

        Only the weeks whose stories gained articles since the last refresh are recounted, unless `full`,
        or the configuration (`version`), the measures SQL or the schema changed since then.
        """
        text = MEASURES_FILE.read_text("utf-8")
        key = hashlib.sha256(f"{version}\0{text}\0{sorted(MIGRATIONS.glob('*.sql'))[-1].name}".encode()).hexdigest()[:16]
        start = time.monotonic()
        try:
            self._refresh_measures_once(False, key, text, settings, catalog, full)
        except duckdb.OutOfMemoryException as exc:
            # A full recount of a large warehouse can need more than the writer's budget: finish it rather than fail.
            log.warning("warehouse %s: the measures need more than %d MB (%s); recounting without the limit "
                        "(raise pipeline.warehouse_memory_mb to skip the first attempt)",
                        self.path, self.memory_mb, str(exc).splitlines()[0])
            self._refresh_measures_once(True, key, text, settings, catalog, full)
        return time.monotonic() - start

    def _refresh_measures_once(self, unlimited: bool, key: str, text: str, settings: dict[str, float],
                               catalog: list[dict], full: bool) -> None:
        """One attempt at refresh_measures, in one transaction, within memory_mb unless unlimited."""
        with self.writer(unlimited) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                state = dict(con.execute("SELECT key, value FROM analysis_state WHERE key IN ('measures_key', 'measures_rowid')").fetchall())
                full = full or state.get("measures_key") != key
                watermark = -1 if full else int(state.get("measures_rowid", -1))
                if full:
                    for table in ("term_week_masks", "term_first_seen", "narrative_week_jsd", "weekly_terms"):
                        con.execute(f"DELETE FROM {table}")
                top = con.execute("SELECT coalesce(max(rowid), -1) FROM articles").fetchone()[0]
                con.execute("DELETE FROM narrative_catalog")
                con.register("catalog", pa.Table.from_pylist(catalog, schema=CATALOG_SCHEMA))
                con.execute("INSERT INTO narrative_catalog BY NAME SELECT * FROM catalog")
                con.unregister("catalog")
                values = {k: repr(v) for k, v in settings.items()} | {"watermark": str(watermark)}
                con.execute(Template(text).substitute(values))
                for k, v in (("measures_key", key), ("measures_rowid", str(top))):
                    con.execute("INSERT INTO analysis_state VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [k, v])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def latest_week(self) -> str | None:
        """The last ISO week with measures (None before any article is stored)."""
        with self.reader() as con:
            row = con.execute("SELECT max(iso_week) FROM weekly_narratives").fetchone()
        return row[0] if row else None

    def week_measures(self, iso_week: str) -> dict[str, list[dict]]:
        """One week's rows behind "What shifted": v_weekly_narratives, v_weekly_frames, the flagged
        v_weekly_terms, the top rising terms per narrative, and the narrative catalog."""
        rows = self.digest_rows(iso_week, ("narratives", "frames", "shifted_terms", "top_terms", "catalog"))
        rows["terms"] = rows.pop("shifted_terms")
        return rows

    def evidence_articles(self, iso_week: str, narrative: str, frame: str | None, limit: int = 40) -> list[dict]:
        """The week's articles that carry the narrative (and frame; 'all': any narrative), most salient first."""
        rows = self.digest_rows(iso_week, ("evidence",), {"narrative": narrative, "frame": frame, "limit": limit})
        return rows["evidence"]

    def status(self) -> dict[str, list[dict]]:
        """The operator's view: each feed's state, the last runs, articles by week, the warehouse's size."""
        queries = {
            "feeds": "SELECT feed_id, enabled, last_success_at, last_status, last_error, failures, next_poll_at, articles "
                     "FROM v_feed_status ORDER BY failures DESC, feed_id",
            "runs": "SELECT run_id, flow, started_at, finished_at, status, feeds_ok, feeds_failed, new_articles, duplicates "
                    "FROM runs ORDER BY started_at DESC LIMIT 10",
            "weeks": "SELECT iso_week, count(*) AS articles, count(DISTINCT story_id) AS stories, "
                     "count(*) FILTER (WHERE duplicate_of IS NOT NULL) AS exact_copies FROM v_articles "
                     "WHERE NOT is_baseline GROUP BY iso_week ORDER BY iso_week DESC LIMIT 12",
            "digests": "SELECT iso_week, built_at, sent_at, html_path FROM digests ORDER BY iso_week DESC LIMIT 5",
        }
        out = {}
        with self.reader() as con:
            for name, sql in queries.items():
                cur = con.execute(sql)
                cols = [d[0] for d in cur.description]
                out[name] = [dict(zip(cols, r)) for r in cur.fetchall()]
        out["size"] = [{"file": str(self.path), "megabytes": round(self.path.stat().st_size / 2**20, 1)}]
        return out

    def digest_rows(self, iso_week: str, names: Sequence[str] | None = None,
                    params: dict | None = None) -> dict[str, list[dict]]:
        """The rows behind the digest's sections (warehouse/digest_queries.sql): the named ones, or every one whose
        parameters are given. Queries take $week and, for some, $narrative, $frame and $limit (named parameters).
        """
        out = {}
        values = {"week": iso_week, **(params or {})}
        with self.reader() as con:
            for name, sql in digest_queries().items():
                wanted = set(re.findall(r"\$([a-z_]+)", sql))
                if (names is not None and name not in names) or (names is None and not wanted <= values.keys()):
                    continue
                cur = con.execute(sql, {k: values[k] for k in wanted})
                cols = [d[0] for d in cur.description]
                out[name] = [dict(zip(cols, r)) for r in cur.fetchall()]
        return out

    def deliveries(self, iso_week: str) -> set[str]:
        """Recipients the server has accepted this week's digest for."""
        with self.reader() as con:
            return {r[0] for r in con.execute("SELECT recipient FROM digest_deliveries WHERE iso_week = ?", [iso_week]).fetchall()}

    def record_digest(self, iso_week: str, built_at: datetime, html_path: str | None, eml_path: str | None,
                      subject: str, html_bytes: int) -> None:
        """Record (or update) a built digest."""
        with self.writer() as con:
            con.execute(
                "INSERT INTO digests VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (iso_week) DO UPDATE SET "
                "built_at = excluded.built_at, html_path = excluded.html_path, eml_path = excluded.eml_path, "
                "subject = excluded.subject, html_bytes = excluded.html_bytes",
                [iso_week, built_at, html_path, eml_path, subject, html_bytes])

    def record_delivery(self, iso_week: str, recipient: str, message_id: str, at: datetime) -> None:
        """Record that the server accepted the week's digest for one recipient (committed at once)."""
        with self.writer() as con:
            con.execute("INSERT INTO digest_deliveries VALUES (?, ?, ?, ?)", [iso_week, recipient, at, message_id])

    def mark_sent(self, iso_week: str, at: datetime) -> None:
        """Mark the week's digest sent (every recipient accepted)."""
        with self.writer() as con:
            con.execute("UPDATE digests SET sent_at = ? WHERE iso_week = ?", [at, iso_week])

    def digest_sent_at(self, iso_week: str) -> datetime | None:
        """When the week's digest was accepted for every recipient, if it was."""
        with self.reader() as con:
            row = con.execute("SELECT sent_at FROM digests WHERE iso_week = ?", [iso_week]).fetchone()
        return row[0] if row else None

    def record_run(self, run_id: str, flow: str, started_at: datetime, finished_at: datetime | None,
                   status: str, outcomes: Sequence[FeedOutcome] = ()) -> None:
        """Insert or finish the run's row with its totals."""
        ok = sum(o.status in ("ok", "not_modified") for o in outcomes)
        failed = sum(o.status == "error" for o in outcomes)
        with self.writer() as con:
            con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
                "finished_at = excluded.finished_at, status = excluded.status, feeds_ok = excluded.feeds_ok, "
                "feeds_failed = excluded.feeds_failed, new_articles = excluded.new_articles, duplicates = excluded.duplicates",
                [run_id, flow, started_at, finished_at, status, ok, failed,
                 sum(o.new_articles for o in outcomes), sum(o.duplicates for o in outcomes)],
            )

    def mark_interrupted_runs(self, flow: str, at: datetime) -> int:
        """Mark the flow's runs still shown as running as interrupted; return how many.

        Call it under the run lock: no other run of the flow is alive then, so such rows were left by a run
        that was killed or crashed before it could record its end.
        """
        with self.writer() as con:
            stale = con.execute("SELECT count(*) FROM runs WHERE flow = ? AND status = 'running'", [flow]).fetchone()[0]
            if stale:
                con.execute("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE flow = ? AND status = 'running'",
                            [at, flow])
        if stale:
            log.warning("%s: %d earlier %s run(s) ended without recording their end (killed or crashed); "
                        "marked interrupted", self.path, stale, flow)
        return stale

    def insert_baseline(self, articles: Sequence[Article], run_id: str) -> int:
        """Store the seed articles (idempotently: already stored ones are skipped); return how many were new."""
        with self.writer() as con:
            before = con.execute("SELECT count(*) FROM articles WHERE is_baseline").fetchone()[0]
            con.execute("BEGIN TRANSACTION")
            rows = self._dedupe(con, [sign_article(replace(a, is_baseline=True), self.stories) for a in articles])
            self._insert_articles(con, rows, run_id)
            con.execute("COMMIT")
            after = con.execute("SELECT count(*) FROM articles WHERE is_baseline").fetchone()[0]
        return after - before


def _article_row(a: Article) -> dict:
    """An Article as a row of the articles table."""
    return {
        "article_id": a.article_id, "source_id": a.source_id, "outlet": a.outlet, "url": a.url,
        "canonical_url": a.canonical_url, "guid": a.guid, "title": a.title, "author": a.author,
        "published_at": a.published_at, "first_seen_at": a.first_seen_at, "lang": a.lang, "script": a.script,
        "text": a.text, "text_simplified": a.text_simplified, "text_hash": a.text_hash, "word_count": a.word_count,
        "extraction": a.extraction, "topics": list(a.topics), "is_baseline": a.is_baseline, "duplicate_of": None,
        "credited_origin": a.credited_origin, "signature": a.signature, "analysis": a.analysis,
    }


CATALOG_SCHEMA = pa.schema([("narrative", pa.string()), ("frame", pa.string()), ("label", pa.string()),
                            ("mention", pa.string()), ("rules", pa.list_(pa.string()))])
TERM_SCHEMA = pa.schema([("article_id", pa.string()), ("term", pa.string()), ("n", pa.int16())])
LABEL_SCHEMA = pa.schema([("article_id", pa.string()), ("narrative", pa.string()), ("frame", pa.string()),
                          ("score", pa.float64()), ("matched", pa.list_(pa.string())), ("rule", pa.string())])
BACKGROUND_SCHEMA = pa.schema([("term", pa.string()), ("share", pa.float64())])


def digest_queries() -> dict[str, str]:
    """The named queries of warehouse/digest_queries.sql ('-- name: x' starts each)."""
    queries, name = {}, None
    for line in DIGEST_QUERIES_FILE.read_text("utf-8").splitlines():
        if line.startswith("-- name:"):
            name = line.split(":", 1)[1].strip()
            queries[name] = ""
        elif name and not line.startswith("--"):
            queries[name] += line + "\n"
    return {k: v.strip().rstrip(";") for k, v in queries.items()}


def _set_version(con, version: str) -> None:
    """Upsert the analysis config version."""
    con.execute("INSERT INTO analysis_state VALUES ('config_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [version])


def insert_analysis(con, rows: Sequence[dict]) -> None:
    """Store the term counts (texts stored once: not for exact copies) and the labels of analysed rows."""
    terms = {"article_id": [], "term": [], "n": []}
    labels = {"article_id": [], "narrative": [], "frame": [], "score": [], "matched": [], "rule": []}
    background: dict[str, float] = {}
    for r in rows:
        analysis = r.get("analysis")
        if analysis is None:
            continue
        if r["duplicate_of"] is None:
            for term, n in analysis.terms:
                terms["article_id"].append(r["article_id"])
                terms["term"].append(term)
                terms["n"].append(min(n, 32767))
            background.update(analysis.background)
        for label in analysis.labels:
            labels["article_id"].append(r["article_id"])
            labels["narrative"].append(label.narrative)
            labels["frame"].append(label.frame)
            labels["score"].append(label.score)
            labels["matched"].append(list(label.matched))
            labels["rule"].append(label.rule)
    for table, data, schema in (("article_terms", terms, TERM_SCHEMA), ("article_labels", labels, LABEL_SCHEMA)):
        if data["article_id"]:
            con.register("analysed", pa.table(data, schema=schema))
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM analysed")
            con.unregister("analysed")
    if background:  # only terms the warehouse has not seen: term_background stays one row per term
        con.register("background", pa.table({"term": list(background), "share": list(background.values())},
                                             schema=BACKGROUND_SCHEMA))
        con.execute("INSERT INTO term_background SELECT b.* FROM background b "
                    "WHERE NOT EXISTS (SELECT 1 FROM term_background t WHERE t.term = b.term)")
        con.unregister("background")


def effective_at(published_at: datetime | None, first_seen_at: datetime) -> datetime:
    """The time an article counts at: its date, unless missing or more than a day after it was first seen (as in v_articles)."""
    if published_at is None or published_at > first_seen_at + timedelta(days=1):
        return first_seen_at
    return published_at


def assign_stories(con, rows: Sequence[dict], params: StorySettings) -> int:
    """Sign, link and group rows just inserted (and not yet in a story), touching only the stories they join.

    Returns the number of links made.
    """
    if not rows:
        return 0
    fresh = {r["article_id"] for r in rows}
    signed = [r for r in rows if r["duplicate_of"] is None and r.get("signature")]
    at = {r["article_id"]: effective_at(r["published_at"], r["first_seen_at"]) for r in rows}
    links: list[tuple[str, str, float, str]] = [(r["article_id"], r["duplicate_of"], 1.0, "exact")
                                                for r in rows if r["duplicate_of"]]
    if signed:
        con.register("sigs", pa.table({
            "article_id": [r["article_id"] for r in signed],
            "effective_at": pa.array([at[r["article_id"]] for r in signed], pa.timestamp("us", tz="UTC")),
            "params": [params.key()] * len(signed),
            "signature": pa.array([r["signature"] for r in signed], pa.binary()),
        }))
        con.execute("INSERT INTO article_signatures BY NAME SELECT * FROM sigs")
        con.unregister("sigs")
        band_rows = [(b, key, r["article_id"], at[r["article_id"]])
                     for r in signed for b, key in enumerate(band_keys(r["signature"], params))]
        con.register("new_bands", pa.table({
            "band": pa.array([x[0] for x in band_rows], pa.int16()), "band_key": pa.array([x[1] for x in band_rows], pa.int64()),
            "article_id": [x[2] for x in band_rows], "effective_at": pa.array([x[3] for x in band_rows], pa.timestamp("us", tz="UTC")),
        }))
        con.execute("INSERT INTO article_bands SELECT * FROM new_bands")
        window = timedelta(days=params.window_days)
        times = [at[r["article_id"]] for r in signed]
        # Constant bounds let DuckDB skip row groups outside the window (rows arrive in time order).
        pairs = con.execute(
            "SELECT DISTINCT n.article_id, s.article_id FROM new_bands n JOIN article_bands s "
            "ON s.band = n.band AND s.band_key = n.band_key "
            "WHERE s.effective_at BETWEEN ? AND ? AND s.article_id <> n.article_id "
            "AND abs(epoch(s.effective_at) - epoch(n.effective_at)) <= ?",
            [min(times) - window, max(times) + window, window.total_seconds()],
        ).fetchall()
        con.unregister("new_bands")
        new_sigs = {r["article_id"]: r["signature"] for r in signed}
        others = sorted({b for _, b in pairs} - new_sigs.keys())
        stored = {}
        if others:
            con.register("wanted", pa.table({"article_id": others}))
            stored = dict(con.execute(
                "SELECT article_id, signature FROM article_signatures WHERE effective_at BETWEEN ? AND ? "
                "AND article_id IN (SELECT article_id FROM wanted)", [min(times) - window, max(times) + window]).fetchall())
            con.unregister("wanted")
        seen_pairs: set[tuple[str, str]] = set()
        for a, b in pairs:
            key = (min(a, b), max(a, b))
            if key in seen_pairs:
                continue
            seen_pairs.add(key)
            sim = similarity(new_sigs[a], new_sigs.get(b) or stored[b])
            if sim >= params.threshold:
                later, earlier = (a, b) if b not in new_sigs or (at[a], a) > (at[b], b) else (b, a)
                links.append((later, earlier, sim, "near"))
    if links:
        con.register("links", pa.table({"article_id": [l[0] for l in links], "linked_id": [l[1] for l in links],
                                        "similarity": [l[2] for l in links], "kind": [l[3] for l in links]}))
        con.execute("INSERT INTO article_links SELECT * FROM links")
        con.unregister("links")
    # Only the stories the new rows join are regrouped: cost depends on the batch, not the warehouse.
    touched = sorted({l[1] for l in links} - fresh)
    existing: list[tuple[str, str]] = []
    if touched:
        con.register("touched", pa.table({"article_id": touched}))
        existing = con.execute(
            "SELECT article_id, story_id FROM article_stories WHERE story_id IN "
            "(SELECT story_id FROM article_stories WHERE article_id IN (SELECT article_id FROM touched))").fetchall()
        con.unregister("touched")
    members = {a: Member(a, at[a], r["word_count"]) for r in rows for a in [r["article_id"]]}
    if existing:
        con.register("old", pa.table({"article_id": [e[0] for e in existing]}))
        for aid, published, first_seen, words in con.execute(
                "SELECT article_id, published_at, first_seen_at, word_count FROM articles "
                "WHERE article_id IN (SELECT article_id FROM old)").fetchall():
            members[aid] = Member(aid, effective_at(published, first_seen), words)
        con.unregister("old")
    assignment = group_stories(members, [(l[0], l[1]) for l in links] + existing, members)
    previous = dict(existing)
    changed = {a: s for a, s in assignment.items() if a in previous and previous[a] != s}
    if changed:  # only stories that merged are rewritten; new articles are simply appended
        con.register("changed", pa.table({"article_id": list(changed), "story_id": list(changed.values())}))
        con.execute("UPDATE article_stories SET story_id = c.story_id FROM changed c "
                    "WHERE article_stories.article_id = c.article_id")
        con.unregister("changed")
    added = [a for a in assignment if a not in previous]
    con.register("assigned", pa.table({"article_id": added, "story_id": [assignment[a] for a in added]}))
    con.execute("INSERT INTO article_stories SELECT * FROM assigned")
    con.unregister("assigned")
    return len(links)
