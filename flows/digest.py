"""The weekly digest flow: refresh the measures, build the week's digest, archive it in reports/, send it."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.utilities.annotations import quote

from mediamon import runs
from mediamon.config import Config, load_config
from mediamon.errors import WarehouseBusy, hide_own_tracebacks
from mediamon.warehouse import Warehouse
from mediamon.weeks import now_utc

hide_own_tracebacks()  # a full disk or a busy warehouse is reported in one line, not a stack


@task(name="refresh-measures", cache_policy=NO_CACHE, persist_result=False)
def refresh_measures(warehouse: Warehouse, config: Config) -> float:
    """Bring labels up to the configuration and the weekly measures up to date."""
    runs.ensure_analysis(warehouse, config)
    return runs.refresh_measures(warehouse, config)


@task(name="send-digest", cache_policy=NO_CACHE, persist_result=False)
def send_digest(warehouse: Warehouse, config: Config, archived: runs.ArchivedDigest, recipients: list[str]) -> None:
    """Deliver to the recipients not yet served; each acceptance is committed as it happens."""
    runs.deliver(warehouse, config, archived, recipients)


@flow(name="weekly-digest")
def weekly_digest(week: str | None = None, sources_path: str | None = None, db: str | None = None,
                  out: str | None = None, send: bool = False, force: bool = False) -> dict:
    """Build the digest of `week` (default: the last complete ISO week), archive it, and send it when asked.

    A week already accepted for every recipient is not sent again unless `force`.
    """
    logger = get_run_logger()
    config = load_config(sources=sources_path, db=db)
    if out is not None:
        config = config.with_sources(config.sources.model_copy(
            update={"digest": config.sources.digest.model_copy(update={"reports_dir": out})}))
    wait = config.sources.digest.lock_wait_seconds
    warehouse = Warehouse.configured(config)
    with warehouse.run_lock("digest", wait) as held:
        if not held:
            raise WarehouseBusy(f"{warehouse.path}: another run held the warehouse for {wait:.0f} s; "
                                "digest not built (it runs again at its next schedule, or run it by hand)")
        warehouse.migrate()
        refresh_measures(warehouse, quote(config))
        archived = runs.archive_digest(warehouse, config, week, now_utc())
        logger.info("digest %s: %s (%d bytes of HTML)", archived.iso_week, archived.html_path, archived.html_bytes)
        status = runs.send_once(warehouse, config, archived, force,
                                lambda todo: send_digest(warehouse, quote(config), quote(archived), todo), logger) if send else "archived"
    create_markdown_artifact(
        key="weekly-digest", description=f"Digest {archived.iso_week}",
        markdown=f"**{archived.digest.subject}**\n\n- web copy: `{archived.html_path}`\n- .eml: `{archived.eml_path}`\n"
                 f"- HTML: {archived.html_bytes} bytes\n- {status}")
    return {"week": archived.iso_week, "subject": archived.digest.subject, "html": str(archived.html_path),
            "eml": str(archived.eml_path), "html_bytes": archived.html_bytes, "status": status}
