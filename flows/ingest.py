"""The ingest flow: poll every due feed (one task per feed), harvest new on-topic articles, commit in batches."""

from __future__ import annotations

import uuid
from collections import deque
from datetime import datetime
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.runtime import task_run

from mediamon import pipeline, progress
from mediamon.config import Feed, PipelineSettings, Sources, database_path, load_sources
from mediamon.errors import FetchError, hide_own_tracebacks
from mediamon.fetch import now_utc
from mediamon.models import FeedHarvest, FeedOutcome, FeedPoll, FeedState
from mediamon.store import Warehouse

hide_own_tracebacks()  # a full disk or a busy warehouse is reported in one line, not a stack


def _worth_retrying(exc: Exception, sources: Sources) -> bool:
    """Transient fetch errors whose Retry-After (if any) is short enough to wait out within the run."""
    return isinstance(exc, FetchError) and exc.transient and (exc.retry_after or 0) <= sources.fetcher.retry_wait_cap_seconds


@task(name="poll-feed", task_run_name="poll-{feed.id}", cache_policy=NO_CACHE, persist_result=False)
def poll_feed(feed: Feed, state: FeedState, sources: Sources) -> FeedPoll:
    """Fetch and parse one feed; transient errors are raised for Prefect to retry, the last one is recorded."""
    try:
        return pipeline.poll_feed(feed, state, sources)
    except FetchError as exc:
        if _worth_retrying(exc, sources) and task_run.run_count <= sources.fetcher.retries:
            raise
        get_run_logger().warning("%s: giving up after %d attempt(s): %s", feed.id, task_run.run_count, exc)
        return FeedPoll(pipeline.error_outcome(feed.id, exc))


@task(name="harvest-feed", task_run_name="harvest-{feed.id}", cache_policy=NO_CACHE, persist_result=False)
def harvest_feed(poll: FeedPoll, feed: Feed, sources: Sources, known: set[str], first_seen_at) -> FeedHarvest:
    """Fetch and extract one feed's new article pages."""
    return pipeline.harvest_feed(poll, feed, sources, known, first_seen_at)


@task(name="refresh-measures", cache_policy=NO_CACHE, persist_result=False)
def refresh_measures(warehouse: Warehouse) -> float:
    """Rebuild the weekly narrative, frame and term measures from what is stored."""
    return pipeline.refresh_measures(warehouse)


def _run_id() -> str:
    """The Prefect flow run id, or a fresh one outside Prefect."""
    try:
        return str(get_run_context().flow_run.id)
    except Exception:
        return str(uuid.uuid4())


@flow(name="ingest")
def ingest(
    sources_path: str | None = None,
    db: str | None = None,
    allow_private_addresses: bool | None = None,
    as_of: datetime | None = None,
) -> dict:
    """Poll the configured feeds and store new on-topic articles; returns the run's totals.

    `as_of` replays an archive: it stands in for "now" (first-seen times, back-off), as the demo does.
    """
    logger = get_run_logger()
    sources = load_sources(sources_path)
    if allow_private_addresses is not None:
        sources = sources.with_overrides(allow_private_addresses=allow_private_addresses)
    warehouse = Warehouse.configured(database_path(db), sources)
    with warehouse.run_lock("ingest", sources.pipeline.run_lock_wait_seconds) as held:
        if not held:
            totals = {"status": "skipped", "reason": "another run holds the warehouse", "db": str(warehouse.path),
                      "feeds": 0, "feeds_failed": 0, "new_articles": 0, "duplicates": 0}
            progress.emit("done", **totals)
            return totals
        totals = _run(warehouse, sources, as_of, logger)
    progress.emit("done", **totals)
    return totals


def _run(warehouse: Warehouse, sources: Sources, as_of: datetime | None, logger) -> dict:
    """The ingest run proper, under the warehouse's run lock."""
    warehouse.migrate()
    pipeline.ensure_analysis(warehouse, sources.pipeline.extract_workers)
    run_id, started = _run_id(), as_of or now_utc()
    warehouse.mark_interrupted_runs("ingest", now_utc())
    warehouse.record_run(run_id, "ingest", started, None, "running")
    states = warehouse.sync_feeds(sources.feeds, started)
    feeds = {f.id: f for f in sources.enabled_feeds()}
    due = [f for f in feeds.values() if not (states[f.id].next_poll_at and states[f.id].next_poll_at > started)]
    for f in feeds.values():
        if f not in due:
            logger.info("%s: backing off after %d failures; next poll at %s", f.id, states[f.id].failures, states[f.id].next_poll_at)
    progress.emit("start", total=len(due))
    if sources.pipeline.on_dask:
        # Each Dask worker fetches and extracts in its own process; the flow's process only commits.
        on_workers = sources.with_pipeline(extract_workers=0)

        @flow(name="ingest-feeds-on-dask", task_runner=_dask_runner(sources.pipeline))
        def feeds_on_dask() -> list[FeedOutcome]:
            """The poll-and-harvest loop as a subflow whose tasks run on the Dask cluster."""
            return _harvest(warehouse, on_workers, due, states, run_id, started, as_of, get_run_logger())

        outcomes = feeds_on_dask()
    else:
        pipeline.prepare(sources)
        outcomes = _harvest(warehouse, sources, due, states, run_id, started, as_of, logger)
    seconds = refresh_measures(warehouse)
    logger.info("weekly measures refreshed in %.2f s", seconds)

    rows = sorted((o.as_row() for o in outcomes), key=lambda r: r["feed_id"])
    create_table_artifact(key="ingest-feeds", table=rows, description=f"Feed outcomes of ingest run {run_id}")
    warehouse.record_run(run_id, "ingest", started, as_of or now_utc(), "completed", outcomes)
    totals = {
        "status": "completed", "run_id": run_id, "feeds": len(outcomes), "feeds_failed": sum(o.status == "error" for o in outcomes),
        "new_articles": sum(o.new_articles for o in outcomes), "duplicates": sum(o.duplicates for o in outcomes),
        "db": str(Path(warehouse.path)),
    }
    return totals


def _dask_runner(settings: PipelineSettings):
    """Prefect's Dask task runner: the configured scheduler, or a local cluster on loopback for this run."""
    from prefect_dask import DaskTaskRunner  # optional dependency (the `dask` group)

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "host": "127.0.0.1", "dashboard_address": None})


def _harvest(warehouse: Warehouse, sources: Sources, due: list[Feed], states: dict[str, FeedState], run_id: str,
             started: datetime, as_of: datetime | None, logger) -> list[FeedOutcome]:
    """Poll the due feeds and harvest their new articles on the current task runner, committing in batches."""
    poller = poll_feed.with_options(
        retries=sources.fetcher.retries,
        retry_delay_seconds=[sources.fetcher.retry_backoff_seconds * 2**i for i in range(max(1, sources.fetcher.retries))],
    )
    # A sliding window of in-flight tasks: results are committed and dropped as they arrive, so memory
    # depends on the window and the batch size, not on how many feeds or articles the run sees.
    window = 2 * max(2, sources.fetcher.per_host_concurrency, sources.pipeline.dask_workers if sources.pipeline.on_dask else 0) + 4
    queue, active = deque(due), {}
    claimed: set[str] = set()
    pending: list[FeedHarvest] = []
    outcomes: list[FeedOutcome] = []

    def flush() -> None:
        """Commit what has been harvested so far (articles, poll log and validators together)."""
        if pending:
            for o in warehouse.commit(run_id, pending, sources.pipeline, as_of or now_utc()):
                outcomes.append(o)
                progress.emit("feed", outcome=o)
                logger.info("%s: %s, %d entries, %d on-topic, %d new, %d duplicate%s", o.feed_id, o.status,
                            o.entries_seen, o.on_topic, o.new_articles, o.duplicates,
                            f" ({o.error_class}: {o.error})" if o.error else "")
            # Finished Prefect futures sit in reference cycles (future <-> done callback) that only a full
            # collection frees, and their states hold these same FeedHarvest objects: release the
            # committed articles now, or every article of the run stays in memory until the flow ends.
            for h in pending:
                h.articles.clear()
            pending.clear()

    while queue or active:
        while queue and len(active) < window:
            feed = queue.popleft()
            active[poller.submit(feed, states[feed.id], sources)] = ("poll", feed, None)
        future = next(as_completed(list(active)))
        stage, feed, poll = active.pop(future)
        if stage == "poll":
            try:
                poll = future.result()
            except Exception as exc:  # a bug or an unclassified failure: record it, go on with the rest
                poll = FeedPoll(pipeline.error_outcome(feed.id, exc))
            if poll.entries:
                known = warehouse.known_urls(poll.entries) | claimed
                claimed |= {e.canonical_url for e in poll.entries}
                active[harvest_feed.submit(poll, feed, sources, known, started)] = ("harvest", feed, poll)
            else:
                pending.append(FeedHarvest(poll.outcome))
        else:
            try:
                pending.append(future.result())
            except Exception as exc:
                pending.append(FeedHarvest(pipeline.error_outcome(feed.id, exc, poll.outcome.duration_ms)))
        del future
        if sum(len(h.articles) for h in pending) >= sources.pipeline.write_batch_articles:
            flush()
    flush()
    return outcomes
