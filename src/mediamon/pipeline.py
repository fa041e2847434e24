"""One feed's journey: poll, parse, keep on-topic entries, fetch their pages, make articles. No Prefect here."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from datetime import datetime
from functools import lru_cache

from .config import Config, Feed, Sources
from .errors import FetchError, NotAFeed, error_kind
from .fetch import FEED_ACCEPT, Fetcher
from .models import FeedHarvest, FeedOutcome, FeedPoll, FeedState, Page
from .parse import parse_feed
from .topics import TopicMatcher
from .workers import FeedRules, reset_pool, shared_fetcher, submit_page

log = logging.getLogger("mediamon.pipeline")


@lru_cache(maxsize=8)
def _matcher(topics: tuple[tuple[str, tuple[str, ...]], ...], protected: tuple[tuple[str, str], ...]) -> TopicMatcher:
    """The compiled topic matcher for a configuration (cached: compiling converts every term)."""
    return TopicMatcher.from_terms(dict(topics), dict(protected))


def topic_matcher(sources: Sources) -> TopicMatcher:
    """The topic matcher for these sources."""
    return _matcher(tuple(sources.topics.items()), tuple(sources.script_terms.items()))


def error_outcome(feed_id: str, exc: BaseException, duration_ms: float = 0.0) -> FeedOutcome:
    """The outcome of a feed whose poll failed."""
    detail = f"{exc.detail} ({exc.url})" if hasattr(exc, "detail") and hasattr(exc, "url") else str(exc)
    return FeedOutcome(
        feed_id, status="error", http_status=getattr(exc, "status", None), error_class=error_kind(exc),
        error=detail[:1000], duration_ms=duration_ms, retry_after=getattr(exc, "retry_after", None),
    )


def poll_feed(feed: Feed, state: FeedState, config: Config) -> FeedPoll:
    """Fetch a feed with its validators, parse it and keep the on-topic entries; transient errors raise."""
    start = time.monotonic()
    sources = config.sources
    fetcher = shared_fetcher(sources.fetcher)
    try:
        response = fetcher.get(feed.url, etag=state.etag, last_modified=state.last_modified, accept=FEED_ACCEPT)
    except FetchError as exc:
        if exc.transient:
            raise
        return FeedPoll(error_outcome(feed.id, exc, (time.monotonic() - start) * 1000))
    outcome = FeedOutcome(feed.id, http_status=response.status)
    if response.not_modified:
        outcome.status = "not_modified"
        outcome.duration_ms = (time.monotonic() - start) * 1000
        return FeedPoll(outcome)
    try:
        entries = parse_feed(response, feed.id, sources.tracking_params)
    except NotAFeed as exc:
        return FeedPoll(error_outcome(feed.id, exc, (time.monotonic() - start) * 1000))
    matcher = topic_matcher(sources)
    kept = []
    for entry in entries:
        topics = matcher.match(entry.title, entry.summary)
        if (topics or feed.keep_all) and not entry.canonical_url:
            # One broken item costs only itself; the message names it and its link.
            outcome.messages.append(f"skipped entry {entry.guid[:100]!r}: link {entry.url[:200]!r} is not a usable http(s) URL")
            log.info("%s: %s", feed.id, outcome.messages[-1])
        elif topics or feed.keep_all:
            kept.append(replace(entry, topics=topics))
    outcome.entries_seen = len(entries)
    outcome.on_topic = len(kept)
    outcome.etag = response.headers.get("etag")
    outcome.last_modified = response.headers.get("last-modified")
    outcome.duration_ms = (time.monotonic() - start) * 1000
    return FeedPoll(outcome, kept)


def _fetch_page(fetcher: Fetcher, entry) -> Page:
    """An entry's article page, or the error that stopped it."""
    try:
        response = fetcher.get(entry.url)
    except FetchError as exc:
        return Page(entry, None, error=f"{exc.kind}: {exc.detail}")
    return Page(entry, response.body, response.charset, final_url=response.url)


def harvest_feed(poll: FeedPoll, feed: Feed, config: Config, known: set[str], first_seen_at: datetime) -> FeedHarvest:
    """Fetch and extract the pages of a polled feed's entries that are not stored yet."""
    outcome = poll.outcome
    start = time.monotonic()
    logged = len(outcome.messages)  # the poll's messages were logged when they were made
    new = [e for e in poll.entries if e.canonical_url not in known]
    outcome.known = len(poll.entries) - len(new)
    sources = config.sources
    rules = FeedRules(feed.outlet, feed.full_text, first_seen_at)
    started: dict[int, tuple] = {}  # entry index -> (page, extraction future)

    def start_extraction(index: int, page: Page) -> None:
        """Hand a fetched page to the extraction pool at once, so workers start while other pages download."""
        outcome.pages_fetched += page.body is not None
        feed_text = max(page.entry.content, page.entry.summary, key=len)
        if page.error and len(feed_text) < sources.pipeline.min_text_chars:
            # Keep the entry unstored so the next run tries the page again.
            outcome.page_errors += 1
            outcome.messages.append(f"skipped {page.entry.url}: {page.error}")
        else:
            started[index] = (page, submit_page(page, rules, config))

    if feed.full_text:
        for index, entry in enumerate(new):
            start_extraction(index, Page(entry, None))
    else:
        fetcher = shared_fetcher(sources.fetcher)
        with ThreadPoolExecutor(sources.fetcher.per_host_concurrency, thread_name_prefix=f"pages-{feed.id}") as pool:
            fetching = {pool.submit(_fetch_page, fetcher, e): i for i, e in enumerate(new)}
            for done in as_completed(fetching):
                start_extraction(fetching[done], done.result())
    articles = []
    for index in sorted(started):  # entry order, whatever order the pages arrived in
        page, future = started[index]
        try:
            article = future.result()
        except Exception as exc:  # one page that breaks the extractor (or kills its worker) costs only itself
            if isinstance(exc, BrokenProcessPool):
                reset_pool()
            outcome.page_errors += 1
            outcome.messages.append(f"skipped {page.entry.url}: extraction failed: {error_kind(exc)}: {exc}")
            continue
        if article is None:  # counted and named (feed_polls.no_text_urls), not only logged
            outcome.no_text += 1
            outcome.no_text_urls.append(page.entry.url)
            outcome.messages.append(f"skipped {page.entry.url}: no usable text on the page or in the feed")
            continue
        if article.extraction == "feed_fallback":
            outcome.extraction_fallbacks += 1
        articles.append(article)
    outcome.duration_ms += (time.monotonic() - start) * 1000
    for message in outcome.messages[logged:]:
        log.info("%s: %s", feed.id, message)
    return FeedHarvest(outcome, articles)
