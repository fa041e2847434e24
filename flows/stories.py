"""The stories rebuild flow: re-sign every article and regroup all stories from scratch."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from mediamon.config import database_path, load_sources
from mediamon.store import Warehouse


@flow(name="rebuild-stories")
def rebuild_stories(sources_path: str | None = None, db: str | None = None) -> dict:
    """Recompute signatures, links and stories with the configured story settings; returns counts."""
    sources = load_sources(sources_path)
    warehouse = Warehouse.configured(database_path(db), sources)
    warehouse.migrate()
    counts = warehouse.rebuild_stories()
    get_run_logger().info("rebuilt stories: %(articles)d articles, %(links)d links, %(stories)d stories", counts)
    create_markdown_artifact(key="rebuild-stories", markdown=(
        f"Rebuilt stories with `{sources.stories.model_dump()}`: {counts['articles']} articles, "
        f"{counts['links']} links, {counts['stories']} stories."))
    return counts
