"""What an ingest run and a digest run do, step by step, as plain functions.

The flows in `flows/` wrap these steps in Prefect tasks. The task submission is passed in (`FeedTasks`), so the
claim set, the in-flight window, batching, run bookkeeping and the digest's resend policy run, and test, without a
Prefect server: `in_process_tasks` runs the same steps on a thread pool.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from . import mail, pipeline, progress, workers
from .config import Config, Feed
from .digest import RenderedDigest
from .errors import FetchError
from .models import FeedHarvest, FeedOutcome, FeedPoll, FeedState
from .narratives import catalog_rows
from .reporting import build_digest
from .weeks import now_utc, previous_week

log = logging.getLogger("mediamon.runs")


# --- analysis and measures -----------------------------------------------------------------------------------------

def ensure_analysis(warehouse, config: Config, force: bool = False) -> dict | None:
    """Recount terms and relabel stored articles when config/ changed since they were analysed (or when forced)."""
    version = config.analysis.version
    stored, articles = warehouse.analysis.version()
    if stored == version and not force:
        return None
    if stored is None and articles == 0 and not force:
        warehouse.analysis.set_version(version)
        return None
    if stored is None:  # articles stored before any analysis (the seeds of a new warehouse): nothing changed
        log.info("counting terms and labels of %d stored articles", articles)
    else:
        log.warning("narrative configuration changed (%s -> %s): recounting terms and labels of %d articles",
                    stored, version, articles)
    return warehouse.analysis.rebuild(lambda rows: workers.analyse_rows(rows, config), version)


def refresh_measures(warehouse, config: Config, full: bool = False) -> float:
    """Bring the weekly measures up to date (recounting only what changed unless `full`); return seconds."""
    analysis = config.analysis
    return warehouse.analysis.refresh_measures(analysis.rulebook.measures.model_dump(), catalog_rows(analysis.rulebook),
                                               analysis.version, full)


# --- ingest ------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedTasks:
    """How a run's poll and harvest steps are submitted: each call returns a future (Prefect's or concurrent's)."""

    poll: Callable[[Feed, FeedState], Any]                  # -> future of FeedPoll
    harvest: Callable[[FeedPoll, Feed, set[str]], Any]     # -> future of FeedHarvest
    first_done: Callable[[list], Any]                       # the first of these futures to finish


@dataclass(frozen=True)
class IngestRun:
    """A started ingest run: its id, the time it stands at (the replayed time in a replay) and its due feeds."""

    run_id: str
    started: datetime
    as_of: datetime | None
    due: tuple[Feed, ...]
    states: dict[str, FeedState]

    def now(self) -> datetime:
        """The run's "now": the replayed time, or the clock."""
        return self.as_of or now_utc()


def skipped_ingest(warehouse) -> dict:
    """The totals of a run that found another run holding the warehouse."""
    return {"status": "skipped", "reason": "another run holds the warehouse", "db": str(warehouse.path),
            "feeds": 0, "feeds_failed": 0, "new_articles": 0, "duplicates": 0}


def start_ingest(warehouse, config: Config, run_id: str, as_of: datetime | None = None,
                 logger: logging.Logger | logging.LoggerAdapter = log) -> IngestRun:
    """Migrate, relabel if config/ changed, close interrupted runs, record this one, and pick the due feeds."""
    warehouse.migrate()
    ensure_analysis(warehouse, config)
    started = as_of or now_utc()
    warehouse.ingest.mark_interrupted_runs("ingest", now_utc())
    warehouse.ingest.record_run(run_id, "ingest", started, None, "running")
    states = warehouse.ingest.sync_feeds(config.sources.feeds, started)
    due = []
    for feed in config.sources.enabled_feeds():
        state = states[feed.id]
        if state.next_poll_at and state.next_poll_at > started:
            logger.info("%s: backing off after %d failures; next poll at %s", feed.id, state.failures, state.next_poll_at)
        else:
            due.append(feed)
    progress.emit("start", total=len(due))
    return IngestRun(run_id, started, as_of, tuple(due), states)


def in_flight_window(config: Config) -> int:
    """How many feed tasks run at once: enough to keep the fetcher and the workers busy, few enough to bound memory."""
    pipeline_settings = config.sources.pipeline
    dask = pipeline_settings.dask_workers if pipeline_settings.on_dask else 0
    return 2 * max(2, config.sources.fetcher.per_host_concurrency, dask) + 4


def harvest_feeds(warehouse, config: Config, run: IngestRun, tasks: FeedTasks,
                  logger: logging.Logger | logging.LoggerAdapter = log) -> list[FeedOutcome]:
    """Poll the due feeds and harvest their new articles through `tasks`, committing every write batch.

    A sliding window of in-flight tasks: results are committed and dropped as they arrive, so memory depends on
    the window and the batch size, not on how many feeds or articles the run sees. An article URL is claimed by
    the first feed that lists it, so two feeds of one run never fetch the same page.
    """
    window = in_flight_window(config)
    queue, active = deque(run.due), {}
    claimed: set[str] = set()
    pending: list[FeedHarvest] = []
    outcomes: list[FeedOutcome] = []

    def flush() -> None:
        """Commit what has been harvested so far (articles, poll log and validators together)."""
        if not pending:
            return
        for o in warehouse.ingest.commit(run.run_id, pending, config.sources.pipeline, run.now()):
            outcomes.append(o)
            progress.emit("feed", outcome=o)
            logger.info("%s: %s, %d entries, %d on-topic, %d new, %d duplicate%s", o.feed_id, o.status,
                        o.entries_seen, o.on_topic, o.new_articles, o.duplicates,
                        f" ({o.error_class}: {o.error})" if o.error else "")
        # Finished Prefect futures sit in reference cycles (future <-> done callback) that only a full collection
        # frees, and their states hold these same FeedHarvest objects: release the committed articles now, or
        # every article of the run stays in memory until the flow ends.
        for h in pending:
            h.articles.clear()
        pending.clear()

    while queue or active:
        while queue and len(active) < window:
            feed = queue.popleft()
            active[tasks.poll(feed, run.states[feed.id])] = ("poll", feed, None)
        future = tasks.first_done(list(active))
        stage, feed, poll = active.pop(future)
        if stage == "poll":
            try:
                poll = future.result()
            except Exception as exc:  # a bug or an unclassified failure: record it, go on with the rest
                poll = FeedPoll(pipeline.error_outcome(feed.id, exc))
            if poll.entries:
                known = warehouse.ingest.known_urls(poll.entries) | claimed
                claimed |= {e.canonical_url for e in poll.entries}
                active[tasks.harvest(poll, feed, known)] = ("harvest", feed, poll)
            else:
                pending.append(FeedHarvest(poll.outcome))
        else:
            try:
                pending.append(future.result())
            except Exception as exc:
                pending.append(FeedHarvest(pipeline.error_outcome(feed.id, exc, poll.outcome.duration_ms)))
        del future
        if sum(len(h.articles) for h in pending) >= config.sources.pipeline.write_batch_articles:
            flush()
    flush()
    return outcomes


def finish_ingest(warehouse, run: IngestRun, outcomes: list[FeedOutcome]) -> dict:
    """Record the run as completed and return its totals."""
    warehouse.ingest.record_run(run.run_id, "ingest", run.started, run.now(), "completed", outcomes)
    return {
        "status": "completed", "run_id": run.run_id, "feeds": len(outcomes),
        "feeds_failed": sum(o.status == "error" for o in outcomes),
        "new_articles": sum(o.new_articles for o in outcomes), "duplicates": sum(o.duplicates for o in outcomes),
        "db": str(Path(warehouse.path)),
    }


def poll_or_record(feed: Feed, state: FeedState, config: Config) -> FeedPoll:
    """Poll a feed once; a transient failure is recorded as the feed's error instead of raised (no retries here)."""
    try:
        return pipeline.poll_feed(feed, state, config)
    except FetchError as exc:
        return FeedPoll(pipeline.error_outcome(feed.id, exc))


def in_process_tasks(config: Config, run: IngestRun, pool: ThreadPoolExecutor) -> FeedTasks:
    """The poll and harvest steps on a thread pool of this process (what the flow does, without Prefect)."""
    return FeedTasks(
        poll=lambda feed, state: pool.submit(poll_or_record, feed, state, config),
        harvest=lambda poll, feed, known: pool.submit(pipeline.harvest_feed, poll, feed, config, known, run.started),
        first_done=lambda futures: next(iter(wait(futures, return_when=FIRST_COMPLETED).done)),
    )


def ingest(warehouse, config: Config, run_id: str, as_of: datetime | None = None) -> dict:
    """A whole ingest run in this process, without Prefect: start, harvest, refresh the measures, finish."""
    run = start_ingest(warehouse, config, run_id, as_of)
    workers.warm_pool(config)
    with ThreadPoolExecutor(in_flight_window(config), thread_name_prefix="feeds") as pool:
        outcomes = harvest_feeds(warehouse, config, run, in_process_tasks(config, run, pool))
    refresh_measures(warehouse, config)
    return finish_ingest(warehouse, run, outcomes)


# --- digest ------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ArchivedDigest:
    """A week's digest as built, composed and archived in reports/."""

    iso_week: str
    digest: RenderedDigest
    message: EmailMessage
    html_path: Path
    eml_path: Path

    @property
    def html_bytes(self) -> int:
        """The size of the HTML that is mailed."""
        return len(self.digest.html.encode("utf-8"))


def archive_digest(warehouse, config: Config, week: str | None, now: datetime) -> ArchivedDigest:
    """Build the digest of `week` (default: the last complete week before `now`), archive it and record it."""
    settings = config.sources.digest
    iso_week = week or previous_week(now)
    digest = build_digest(warehouse, iso_week, config, now)
    message = mail.compose(digest, settings.sender, settings.recipients)
    html_path, eml_path = mail.archive(digest, message, config.reports_dir)
    archived = ArchivedDigest(iso_week, digest, message, html_path, eml_path)
    warehouse.reports.record_digest(iso_week, now, str(html_path), str(eml_path), digest.subject, archived.html_bytes)
    return archived


def deliver(warehouse, config: Config, archived: ArchivedDigest, recipients: list[str]) -> None:
    """Send to these recipients; each acceptance is committed as it happens, so a retry skips it."""
    mail.deliver(archived.message, config.sources.digest, recipients,
                 on_accepted=lambda r: warehouse.reports.record_delivery(archived.iso_week, r,
                                                                         archived.message["Message-ID"], now_utc()))


def send_once(warehouse, config: Config, archived: ArchivedDigest, force: bool,
              send: Callable[[list[str]], None], logger: logging.Logger | logging.LoggerAdapter = log) -> str:
    """The resend policy: a week accepted for every recipient is not sent again, and a retry sends only to the
    recipients not yet accepted, unless `force`. `send` delivers to a list; returns what happened, in words."""
    iso_week, recipients = archived.iso_week, config.sources.digest.recipients
    if not recipients:
        logger.warning("digest %s: --send given but no recipients are configured (sources.yaml digest.recipients)",
                       iso_week)
        return "archived"
    if warehouse.reports.digest_sent_at(iso_week) and not force:
        logger.info("digest %s was already accepted for every recipient; not sending again (force to resend)", iso_week)
        return "already sent"
    done = set() if force else warehouse.reports.deliveries(iso_week)
    todo = [r for r in recipients if r not in done]
    if todo:
        send(todo)
    warehouse.reports.mark_sent(iso_week, now_utc())
    return f"sent to {len(todo)} recipient(s)"

