"""Where articles are made: the extraction processes, their configuration, and the one chain every page goes
through: decode → extract → normalise → analyse → sign.

trafilatura, readability and the rules are CPU-bound and hold the GIL, so pages are turned into articles in a
pool of processes (pipeline.extract_workers; 0 works in-process). The pool forks from a forkserver that has
already loaded trafilatura, OpenCC, jieba's dictionary and tags and jieba-rs (`_preload`), receives the
configuration once through its initializer, and exits with the process that owns it. The shared Fetcher
lives here too: one per process and settings, so keep-alive and per-host limits span every feed of a run.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from . import forkserver
from .analysis import analyse, analyse_stored, with_analysis
from .config import Config, FetcherSettings
from .encoding import decode
from .extract import build_article, extract_page
from .fetch import Fetcher
from .models import Analysis, Article, Page
from .normalize import detect_script, to_simplified
from .stories import StoryParams, sign_article, signature

_config: Config | None = None  # this process's configuration: set by configure(), or by a pool's initializer
_pool: ProcessPoolExecutor | None = None
_pool_key: tuple | None = None
_pool_lock = threading.Lock()
_fetchers: dict[FetcherSettings, Fetcher] = {}
_fetchers_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class FeedRules:
    """What a page needs to know about its feed (the rest comes from the process's configuration)."""

    outlet: str
    feed_text_is_full: bool
    first_seen_at: datetime


def configure(config: Config) -> None:
    """Set this process's configuration (in-process extraction, and the pool's workers through the initializer)."""
    global _config
    _config = config


def page_to_article(page: Page, rules: FeedRules) -> Article | None:
    """One page (or the feed's own text) made into an article: decode → extract → normalise → analyse → sign."""
    config = _config
    if config is None:
        raise RuntimeError("workers.configure(config) was not called in this process")
    extracted = None
    if page.body is not None:
        html, _ = decode(page.body, page.charset)
        extracted = extract_page(html, page.final_url or page.entry.url, need_date=page.entry.published_at is None)
    article = build_article(page.entry, extracted, outlet=rules.outlet, feed_text_is_full=rules.feed_text_is_full,
                            first_seen_at=rules.first_seen_at, min_text_chars=config.sources.pipeline.min_text_chars,
                            protected_terms=dict(config.sources.script_terms))
    if article is None:
        return None
    return sign_article(with_analysis(article, config.analysis), config.sources.stories)


def analyse_row(row: dict) -> Analysis:
    """The Analysis of a stored article row (relabelling after config/ changed)."""
    return analyse_stored(row["title"], row["script"], row["text_simplified"], row["lang"], _config.analysis)


def _warm_libraries() -> None:
    """Load trafilatura, readability, OpenCC, jieba's dictionary and tags, jieba-rs, dateparser's locales and
    the MinHash permutations (each otherwise paid by every worker, on every run)."""
    import jieba
    from htmldate.extractors import get_external_parser

    extract_page("<html><body><article><p>" + "预热文本。" * 40 + "</p></article></body></html>")
    # htmldate's written-out-date search: dateparser compiles its locales' patterns on first use (0.3-3 s).
    get_external_parser().get_date_data("4 février 2024")
    to_simplified("預熱")
    detect_script("預熱文本")  # its table of one-script characters (0.1 s)
    signature("".join(map(chr, range(0x4E00, 0x4F00))), StoryParams())  # the MinHash permutations, drawn on first use
    jieba.setLogLevel(30)
    jieba.initialize()
    import jieba.posseg  # noqa: F401  (its import reads the dictionary's tags, which terms._tags needs)
    import rjieba  # noqa: F401  (its library and default dictionary; each worker adds the user and alias words)


def _start_worker(config: Config, owner: int) -> None:
    """In a worker: take the configuration, load the user dictionary, and exit when the owner is gone.

    Workers are children of the forkserver, not of the owner, so PR_SET_PDEATHSIG cannot see the owner die:
    a thread polls the owner's pid once a second instead.
    """
    configure(config)
    analyse("预热", "预热文本", "zh", config.analysis)

    def watch() -> None:
        """Exit when the owner's pid is gone (or reused by another user's process)."""
        while True:
            time.sleep(1)
            try:
                os.kill(owner, 0)
            except (ProcessLookupError, PermissionError):
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-owner", daemon=True).start()


def _ready() -> int:
    """A task that only reports the worker's pid (the pool has started it and configured it)."""
    return os.getpid()


def shared_pool(config: Config) -> ProcessPoolExecutor:
    """One process pool per process and configuration, started on first use."""
    global _pool, _pool_key
    workers = config.sources.pipeline.extract_workers
    key = (workers, id(config))
    with _pool_lock:
        if _pool is None or _pool_key != key:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            # Workers fork from a forkserver that has imported _preload once (forkserver.py says why).
            _pool = ProcessPoolExecutor(workers, mp_context=forkserver.context(), initializer=_start_worker,
                                        initargs=(config, os.getpid()))
            _pool_key = key
            atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
        return _pool


def reset_pool() -> None:
    """Drop a broken pool (a worker died), so the next submit starts a fresh one."""
    global _pool, _pool_key
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown(wait=False, cancel_futures=True)
        _pool, _pool_key = None, None


def warm_pool(config: Config) -> None:
    """Configure this process and start the extraction processes in the background, so their start-up overlaps
    feed polling."""
    configure(config)
    if config.sources.pipeline.extract_workers:
        threading.Thread(target=_start_pool, args=(config,), name="extract-pool-start", daemon=True).start()


def _start_pool(config: Config) -> None:
    """Create the pool and have every worker start."""
    pool = shared_pool(config)
    for _ in range(config.sources.pipeline.extract_workers):
        pool.submit(_ready)


def submit_page(page: Page, rules: FeedRules, config: Config) -> Future:
    """Start turning one page into an Article: in the process pool when extract_workers > 0, else right here."""
    if config.sources.pipeline.extract_workers:
        return shared_pool(config).submit(page_to_article, page, rules)
    configure(config)
    done: Future = Future()
    try:
        done.set_result(page_to_article(page, rules))
    except Exception as exc:  # the caller sees it from .result(), as it would from the pool
        done.set_exception(exc)
    return done


def pages_to_articles(pages: list[Page], rules: FeedRules, config: Config) -> list[Article | None]:
    """Articles for pages, in the process pool when extract_workers > 0, in order."""
    return [f.result() for f in [submit_page(p, rules, config) for p in pages]]


def analyse_rows(rows: list[dict], config: Config) -> list[Analysis]:
    """Analyses of stored article rows, in the extraction processes when there are some."""
    if config.sources.pipeline.extract_workers and len(rows) > 1:
        return list(shared_pool(config).map(analyse_row, rows, chunksize=16))
    configure(config)
    return [analyse_row(r) for r in rows]


def shared_fetcher(settings: FetcherSettings) -> Fetcher:
    """One Fetcher per process and settings, so keep-alive and per-host limits span all feeds."""
    with _fetchers_lock:
        if settings not in _fetchers:
            _fetchers[settings] = Fetcher(settings)
        return _fetchers[settings]
