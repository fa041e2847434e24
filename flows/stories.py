"""The stories rebuild flow: re-sign every article and regroup all stories from scratch."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from mediamon.config import load_config
from mediamon.warehouse import Warehouse


@flow(name="rebuild-stories")
def rebuild_stories(sources_path: str | None = None, db: str | None = None) -> dict:
    """Recompute signatures, links and stories with the configured story settings; returns counts."""
    config = load_config(sources=sources_path, db=db)
    warehouse = Warehouse.configured(config)
    with warehouse.maintenance("stories rebuild"):
        warehouse.migrate()
        counts = warehouse.stories.rebuild()
    get_run_logger().info("rebuilt stories: %(articles)d articles, %(links)d links, %(stories)d stories", counts)
    create_markdown_artifact(key="rebuild-stories", markdown=(
        f"Rebuilt stories with `{config.sources.stories.model_dump()}`: {counts['articles']} articles, "
        f"{counts['links']} links, {counts['stories']} stories."))
    return counts
