"""The ingest flow: poll every due feed (one task per feed), harvest new on-topic articles, commit in batches."""

from __future__ import annotations

import uuid
from datetime import datetime

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.runtime import task_run
from prefect.utilities.annotations import quote

from mediamon import pipeline, progress, runs, workers
from mediamon.config import Config, Feed, PipelineSettings, load_config
from mediamon.errors import FetchError, hide_own_tracebacks
from mediamon.models import FeedHarvest, FeedPoll, FeedState
from mediamon.warehouse import Warehouse

hide_own_tracebacks()  # a full disk or a busy warehouse is reported in one line, not a stack


@task(name="poll-feed", task_run_name="poll-{feed.id}", cache_policy=NO_CACHE, persist_result=False)
def poll_feed(feed: Feed, state: FeedState, config: Config) -> FeedPoll:
    """Fetch and parse one feed; transient errors are raised for Prefect to retry, the last one is recorded."""
    fetcher = config.sources.fetcher
    try:
        return pipeline.poll_feed(feed, state, config)
    except FetchError as exc:
        if exc.transient and (exc.retry_after or 0) <= fetcher.retry_wait_cap_seconds and task_run.run_count <= fetcher.retries:
            raise
        get_run_logger().warning("%s: giving up after %d attempt(s): %s", feed.id, task_run.run_count, exc)
        return FeedPoll(pipeline.error_outcome(feed.id, exc))


@task(name="harvest-feed", task_run_name="harvest-{feed.id}", cache_policy=NO_CACHE, persist_result=False)
def harvest_feed(poll: FeedPoll, feed: Feed, config: Config, known: set[str], first_seen_at: datetime) -> FeedHarvest:
    """Fetch and extract one feed's new article pages."""
    return pipeline.harvest_feed(poll, feed, config, known, first_seen_at)


@task(name="refresh-measures", cache_policy=NO_CACHE, persist_result=False)
def refresh_measures(warehouse: Warehouse, config: Config) -> float:
    """Bring the weekly narrative, frame and term measures up to date."""
    return runs.refresh_measures(warehouse, config)


def prefect_tasks(config: Config, run: runs.IngestRun) -> runs.FeedTasks:
    """The run's poll and harvest steps as Prefect tasks (poll retried with backoff)."""
    fetcher = config.sources.fetcher
    poller = poll_feed.with_options(
        retries=fetcher.retries,
        retry_delay_seconds=[fetcher.retry_backoff_seconds * 2**i for i in range(max(1, fetcher.retries))])
    # quote(): Prefect would otherwise walk the whole configuration (lexicon included) on every submit. Dask's
    # runner ships the arguments as they are, and a quoted one arrives as a bare tuple, so it gets them plain.
    wrap = (lambda value: value) if config.sources.pipeline.on_dask else quote
    return runs.FeedTasks(
        poll=lambda feed, state: poller.submit(feed, state, wrap(config)),
        harvest=lambda poll, feed, known: harvest_feed.submit(poll, feed, wrap(config), wrap(known), run.started),
        first_done=lambda futures: next(as_completed(futures)))


@flow(name="ingest")
def ingest(sources_path: str | None = None, db: str | None = None, allow_private_addresses: bool | None = None,
           as_of: datetime | None = None) -> dict:
    """Poll the configured feeds and store new on-topic articles; returns the run's totals.

    `as_of` replays an archive: it stands in for "now" (first-seen times, back-off), as the demo does.
    """
    logger = get_run_logger()
    config = load_config(sources=sources_path, db=db)
    if allow_private_addresses is not None:
        config = config.with_sources(config.sources.with_overrides(allow_private_addresses=allow_private_addresses))
    warehouse = Warehouse.configured(config)
    with warehouse.run_lock("ingest", config.sources.pipeline.run_lock_wait_seconds) as held:
        if held:
            run = runs.start_ingest(warehouse, config, _run_id(), as_of, logger)
            outcomes = _harvest_on_dask(warehouse, config, run) if config.sources.pipeline.on_dask else \
                _harvest_here(warehouse, config, run)
            logger.info("weekly measures refreshed in %.2f s", refresh_measures(warehouse, quote(config)))
            create_table_artifact(key="ingest-feeds", table=sorted((o.as_row() for o in outcomes), key=lambda r: r["feed_id"]),
                                  description=f"Feed outcomes of ingest run {run.run_id}")
            totals = runs.finish_ingest(warehouse, run, outcomes)
        else:
            totals = runs.skipped_ingest(warehouse)
    progress.emit("done", **totals)
    return totals


def _harvest_here(warehouse: Warehouse, config: Config, run: runs.IngestRun) -> list:
    """Poll and harvest on Prefect's threads, extraction in this process's pool."""
    workers.warm_pool(config)
    return runs.harvest_feeds(warehouse, config, run, prefect_tasks(config, run), get_run_logger())


def _harvest_on_dask(warehouse: Warehouse, config: Config, run: runs.IngestRun) -> list:
    """Poll and harvest on a Dask cluster: each Dask worker fetches and extracts in-process; this process commits."""
    on_workers = config.with_sources(config.sources.with_pipeline(extract_workers=0))

    @flow(name="ingest-feeds-on-dask", task_runner=_dask_runner(config.sources.pipeline))
    def feeds_on_dask() -> list:
        """The poll-and-harvest loop as a subflow whose tasks run on the Dask cluster."""
        return runs.harvest_feeds(warehouse, on_workers, run, prefect_tasks(on_workers, run), get_run_logger())

    return feeds_on_dask()


def _dask_runner(settings: PipelineSettings):
    """Prefect's Dask task runner: the configured scheduler, or a local cluster on loopback for this run."""
    from prefect_dask import DaskTaskRunner  # optional dependency (the `dask` group)

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": settings.dask_workers, "threads_per_worker": 1,
                                          "processes": True, "host": "127.0.0.1", "dashboard_address": None})


def _run_id() -> str:
    """The Prefect flow run id, or a fresh one outside Prefect."""
    try:
        return str(get_run_context().flow_run.id)
    except Exception:
        return str(uuid.uuid4())
