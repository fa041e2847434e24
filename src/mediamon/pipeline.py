"""One feed's journey: poll, parse, keep on-topic entries, fetch their pages, extract articles. No Prefect here."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from .analysis import AnalysisConfig, analyse_stored, default_analysis
from .config import DigestSettings, Feed, FetcherSettings, Sources
from .digest import MAX_HTML_BYTES, RenderedDigest, build_context, render
from .errors import FetchError, NotAFeed, error_kind
from .extract import ArticleRules, reset_pool, shared_pool, submit_page, warm_pool
from .fetch import FEED_ACCEPT, Fetcher
from .measures import (
    Shift,
    best_sentences,
    frame_shifts,
    narrative_shifts,
    rank_shifts,
    term_shifts,
)
from .models import FeedHarvest, FeedOutcome, FeedPoll, FeedState, Page
from .narratives import catalog_rows
from .parse import parse_feed
from .store import digest_queries
from .topics import TopicMatcher

log = logging.getLogger("mediamon.pipeline")
DIGEST_SECTIONS = ("header", "trend", "narratives", "frames", "terms", "stories", "new_terms", "new_outlets",
                   "feed_failures", "polls")
SHANGHAI = timezone(timedelta(hours=8))
_fetchers: dict[FetcherSettings, Fetcher] = {}
_fetchers_lock = threading.Lock()


def shared_fetcher(settings: FetcherSettings) -> Fetcher:
    """One Fetcher per process and settings, so keep-alive and per-host limits span all feeds."""
    with _fetchers_lock:
        if settings not in _fetchers:
            _fetchers[settings] = Fetcher(settings)
        return _fetchers[settings]


@lru_cache(maxsize=8)
def _matcher(topics: tuple[tuple[str, tuple[str, ...]], ...], protected: tuple[tuple[str, str], ...]) -> TopicMatcher:
    """The compiled topic matcher for a configuration (cached: compiling converts every term)."""
    return TopicMatcher.from_terms(dict(topics), dict(protected))


def topic_matcher(sources: Sources) -> TopicMatcher:
    """The topic matcher for these sources."""
    return _matcher(tuple(sources.topics.items()), tuple(sources.script_terms.items()))


def prepare(sources: Sources) -> None:
    """Start what every run needs before the first page arrives (the extraction processes)."""
    warm_pool(sources.pipeline.extract_workers)


def _analyse_row(row: dict):
    """Pool adapter: the Analysis of a stored article row."""
    return analyse_stored(row["title"], row["script"], row["text_simplified"], row["lang"], default_analysis())


def analyse_rows(rows: list[dict], workers: int = 0) -> list:
    """Analyses of stored article rows, in the extraction processes when workers > 0."""
    if workers and len(rows) > 1:
        return list(shared_pool(workers).map(_analyse_row, rows, chunksize=16))
    return [_analyse_row(r) for r in rows]


def ensure_analysis(warehouse, workers: int = 0, force: bool = False) -> dict | None:
    """Recount terms and relabel stored articles when config/ changed since they were analysed (or when forced)."""
    version = default_analysis().version
    stored, articles = warehouse.analysis_version()
    if stored == version and not force:
        return None
    if stored is None and articles == 0 and not force:
        warehouse.set_analysis_version(version)
        return None
    log.warning("narrative configuration changed (%s -> %s): recounting terms and labels of %d articles",
                stored, version, articles)
    return warehouse.rebuild_analysis(lambda rows: analyse_rows(rows, workers), version)


def refresh_measures(warehouse, full: bool = False) -> float:
    """Bring the weekly measures up to date (recounting only what changed unless `full`); return seconds."""
    config = default_analysis()
    return warehouse.refresh_measures(config.rulebook.measures.model_dump(), catalog_rows(config.rulebook),
                                      config.version, full)


def week_shifts(warehouse, iso_week: str, evidence: int = 3, with_evidence: int = 15,
                config: AnalysisConfig | None = None) -> list[Shift]:
    """The week's notable shifts in reading order; the first `with_evidence` get up to `evidence` sentences,
    each a sentence that mentions the shift's narrative (or frame) by its own rule."""
    config = config or default_analysis()
    rows = warehouse.week_measures(iso_week)
    labels = {c["narrative"]: c["label"] for c in rows["catalog"] if c["frame"] is None}
    top: dict[str, list[str]] = {}
    for r in rows["top_terms"]:
        if r["z_prev"] > 0:
            top.setdefault(r["narrative"], []).append(r["term"])
    shifts = rank_shifts(
        narrative_shifts(rows["narratives"], {n: top.get(n, [])[:4] for n in labels})
        + frame_shifts(rows["frames"], labels)
        + term_shifts(rows["terms"], labels, config.rulebook.measures.lookback_weeks))
    for shift in shifts[:with_evidence]:
        articles = warehouse.evidence_articles(iso_week, shift.narrative, shift.frame)
        shift.evidence = best_sentences(articles, shift, config, evidence)
    return shifts


def previous_week(now: datetime) -> str:
    """The last complete ISO week before `now`, in Asia/Shanghai time (what a Monday digest reports)."""
    local = now.astimezone(SHANGHAI).date()
    return (local - timedelta(days=local.isoweekday())).strftime("%G-W%V")


def build_digest(warehouse, iso_week: str, settings: DigestSettings, generated_at: datetime) -> RenderedDigest:
    """Render a week's digest from the warehouse; if the HTML outgrows the mail budget, show less and say so."""
    rows = warehouse.digest_rows(iso_week, DIGEST_SECTIONS)
    shifts = week_shifts(warehouse, iso_week)
    for weeks_shown in (settings.weeks_shown, 8, 4):
        context = build_context(iso_week, rows, shifts, digest_queries(), default_analysis().rulebook.measures,
                                weeks_shown, generated_at)
        digest = render(context, settings.subject_prefix)
        if len(digest.html.encode("utf-8")) <= MAX_HTML_BYTES:
            return digest
        log.warning("digest %s: HTML is %d bytes with %d weeks of trend; trying fewer", iso_week,
                    len(digest.html.encode("utf-8")), weeks_shown)
    context["reproduce"] = []
    return render(context, settings.subject_prefix)


def error_outcome(feed_id: str, exc: BaseException, duration_ms: float = 0.0) -> FeedOutcome:
    """The outcome of a feed whose poll failed."""
    detail = f"{exc.detail} ({exc.url})" if hasattr(exc, "detail") and hasattr(exc, "url") else str(exc)
    return FeedOutcome(
        feed_id, status="error", http_status=getattr(exc, "status", None), error_class=error_kind(exc),
        error=detail[:1000], duration_ms=duration_ms, retry_after=getattr(exc, "retry_after", None),
    )


def poll_feed(feed: Feed, state: FeedState, sources: Sources) -> FeedPoll:
    """Fetch a feed with its validators, parse it and keep the on-topic entries; transient errors raise."""
    start = time.monotonic()
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


def harvest_feed(poll: FeedPoll, feed: Feed, sources: Sources, known: set[str], first_seen_at: datetime) -> FeedHarvest:
    """Fetch and extract the pages of a polled feed's entries that are not stored yet."""
    outcome = poll.outcome
    start = time.monotonic()
    logged = len(outcome.messages)  # the poll's messages were logged when they were made
    new = [e for e in poll.entries if e.canonical_url not in known]
    outcome.known = len(poll.entries) - len(new)
    rules = ArticleRules(feed.outlet, feed.full_text, first_seen_at, sources.pipeline.min_text_chars,
                         dict(sources.script_terms), sources.stories)
    workers = sources.pipeline.extract_workers
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
            started[index] = (page, submit_page(page, rules, workers))

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
        if article is None:
            outcome.messages.append(f"skipped {page.entry.url}: no text on the page or in the feed")
            continue
        if article.extraction == "feed_fallback":
            outcome.extraction_fallbacks += 1
        articles.append(article)
    outcome.duration_ms += (time.monotonic() - start) * 1000
    for message in outcome.messages[logged:]:
        log.info("%s: %s", feed.id, message)
    return FeedHarvest(outcome, articles)
