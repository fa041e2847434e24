"""Turn an article page (or the feed's own content) into a clean Article."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import trafilatura

from .analysis import analyse, default_analysis, with_analysis
from .config import StorySettings
from .encoding import decode
from .models import Article, Entry, Page
from .normalize import (
    article_id,
    clean_text,
    detect_script,
    text_fingerprint,
    to_simplified,
    word_count,
)
from .stories import sign_article


@dataclass(frozen=True, slots=True)
class Extracted:
    """What trafilatura found on a page."""

    text: str
    title: str | None
    author: str | None
    date: str | None


def extract_page(html: str, url: str | None = None) -> Extracted | None:
    """Main text and metadata of an HTML page, or None when trafilatura finds no article."""
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False, fast=True
        )
    except Exception:  # trafilatura raises assorted errors on broken markup; treat as "no article"
        return None
    if doc is None or not getattr(doc, "text", None):
        return None
    return Extracted(clean_text(doc.text), doc.title or None, doc.author or None, doc.date or None)


_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """One process pool per process, started on first use (workers import trafilatura once)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            # forkserver: the parent runs Prefect's threads, and forking a threaded process is unsafe. The
            # forkserver imports this module once; workers fork from it instead of each importing it again.
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["mediamon._preload"])
            _pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_exit_with, initargs=(os.getpid(),))
            _pool_size = workers
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def _exit_with(owner: int) -> None:
    """In a worker: exit when the process that owns the pool is gone (a kill -9 of ingest leaves no orphans).

    Workers are children of the forkserver, not of the owner, so PR_SET_PDEATHSIG cannot see the owner die.
    """
    def watch() -> None:
        """Poll the owner's pid once a second."""
        while True:
            time.sleep(1)
            try:
                os.kill(owner, 0)
            except (ProcessLookupError, PermissionError):  # gone, or its pid reused by another user's process
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-owner", daemon=True).start()


def reset_pool() -> None:
    """Drop a broken pool (a worker died), so the next submit starts a fresh one."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool, _pool_size = None, 0


@dataclass(frozen=True, slots=True)
class ArticleRules:
    """How a feed's pages become articles (sent to worker processes with each batch)."""

    outlet: str
    feed_text_is_full: bool
    first_seen_at: datetime
    min_text_chars: int
    protected_terms: dict[str, str] | None = None
    story: StorySettings | None = None  # when set, the article is also signed for near-duplicate detection
    analyse: bool = True                 # count terms and label narratives (jieba) in the worker too


def page_to_article(page: Page, rules: ArticleRules) -> Article | None:
    """Decode, extract and normalise one page (or the feed's text) into an Article."""
    extracted = None
    if page.body is not None:
        html, _ = decode(page.body, page.charset)
        extracted = extract_page(html, page.final_url or page.entry.url)
    article = build_article(
        page.entry, extracted, outlet=rules.outlet, feed_text_is_full=rules.feed_text_is_full,
        first_seen_at=rules.first_seen_at, min_text_chars=rules.min_text_chars, protected_terms=rules.protected_terms,
    )
    if article is None:
        return None
    if rules.analyse:
        article = with_analysis(article, default_analysis())
    return sign_article(article, rules.story) if rules.story is not None else article


def _warm() -> int:
    """Run in a worker: import and initialise trafilatura and OpenCC before real work arrives."""
    extract_page("<html><body><article><p>" + "预热文本。" * 40 + "</p></article></body></html>")
    to_simplified("預熱")
    analyse("预热", "预热文本", "zh", default_analysis())  # jieba's dictionary takes about 2 s to load
    return os.getpid()


def warm_pool(workers: int) -> None:
    """Start the extraction processes in a background thread, so their start-up overlaps feed polling."""
    if workers:
        # The first submit blocks until the forkserver has imported trafilatura and jieba (about 2.5 s).
        threading.Thread(target=_start_pool, args=(workers,), name="extract-pool-start", daemon=True).start()


def _start_pool(workers: int) -> None:
    """Create the pool and have each worker load its libraries."""
    pool = shared_pool(workers)
    for _ in range(workers):
        pool.submit(_warm)


def _page_to_article_star(args: tuple[Page, ArticleRules]) -> Article | None:
    """Pool adapter for page_to_article."""
    return page_to_article(*args)


def submit_page(page: Page, rules: ArticleRules, workers: int = 0) -> Future:
    """Start turning one page into an Article: in the process pool when workers > 0, else right here."""
    if workers:
        return shared_pool(workers).submit(page_to_article, page, rules)
    done: Future = Future()
    try:
        done.set_result(page_to_article(page, rules))
    except Exception as exc:  # the caller sees it from .result(), as it would from the pool
        done.set_exception(exc)
    return done


def pages_to_articles(pages: list[Page], rules: ArticleRules, workers: int = 0) -> list[Article | None]:
    """Articles for pages, in a process pool when workers > 0 (extraction is CPU-bound and holds the GIL)."""
    jobs = [(p, rules) for p in pages]
    if workers and len(jobs) > 1:
        return list(shared_pool(workers).map(_page_to_article_star, jobs, chunksize=2))
    return [page_to_article(p, rules) for p in pages]


def _parse_date(value: str | None) -> datetime | None:
    """A trafilatura date string (YYYY-MM-DD) as a UTC datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value[:10]).replace(tzinfo=UTC)
    except ValueError:
        return None


def build_article(
    entry: Entry,
    extracted: Extracted | None,
    *,
    outlet: str,
    feed_text_is_full: bool,
    first_seen_at: datetime,
    min_text_chars: int,
    protected_terms: dict[str, str] | None = None,
) -> Article | None:
    """The article for an entry: page text when long enough, else the feed's own text; None if neither has text."""
    feed_text = entry.content if len(entry.content) >= len(entry.summary) else entry.summary
    page_text = extracted.text if extracted else ""
    if feed_text_is_full and feed_text:
        text, how = feed_text, "feed"
    elif len(page_text) >= min_text_chars or (page_text and len(page_text) >= len(feed_text)):
        text, how = page_text, "page"
    elif feed_text:
        text, how = feed_text, "feed_fallback"
    else:
        return None
    text = clean_text(text)
    simplified = to_simplified(text, protected_terms)
    lang, script = detect_script(text)
    title = entry.title or (extracted.title if extracted and extracted.title else "") or text[:60]
    published = entry.published_at or _parse_date(extracted.date if extracted else None)
    return Article(
        article_id=article_id(entry.canonical_url),
        source_id=entry.feed_id,
        outlet=outlet,
        url=entry.url,
        canonical_url=entry.canonical_url,
        title=clean_text(title)[:1000],
        author=entry.author or (extracted.author if extracted else None),
        published_at=published,
        first_seen_at=first_seen_at,
        lang=lang,
        script=script,
        text=text,
        text_simplified=simplified,
        text_hash=text_fingerprint(simplified),
        word_count=word_count(text),
        extraction=how,
        guid=entry.guid,
        topics=entry.topics,
    )
