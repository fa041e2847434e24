"""The weekly digest flow: refresh the measures, build the week's digest, archive it in reports/, send it."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from mediamon import mail, pipeline
from mediamon.config import database_path, load_sources
from mediamon.errors import WarehouseBusy, hide_own_tracebacks
from mediamon.fetch import now_utc
from mediamon.store import Warehouse

hide_own_tracebacks()  # a full disk or a busy warehouse is reported in one line, not a stack


@task(name="refresh-measures", cache_policy=NO_CACHE, persist_result=False)
def refresh_measures(warehouse: Warehouse, workers: int) -> float:
    """Bring labels up to the configuration and rebuild the weekly measures."""
    pipeline.ensure_analysis(warehouse, workers)
    return pipeline.refresh_measures(warehouse)


@task(name="send-digest", cache_policy=NO_CACHE, persist_result=False)
def send_digest(message, settings, warehouse: Warehouse, iso_week: str, recipients: list[str]) -> None:
    """Deliver to the recipients not yet served; each acceptance is committed as it happens."""
    mail.deliver(message, settings, recipients,
                 on_accepted=lambda r: warehouse.record_delivery(iso_week, r, message["Message-ID"], now_utc()))


@flow(name="weekly-digest")
def weekly_digest(week: str | None = None, sources_path: str | None = None, db: str | None = None,
                  out: str | None = None, send: bool = False, force: bool = False) -> dict:
    """Build the digest of `week` (default: the last complete ISO week), archive it, and send it when asked.

    A week already accepted for every recipient is not sent again unless `force`.
    """
    logger = get_run_logger()
    sources = load_sources(sources_path)
    settings = sources.digest if out is None else sources.digest.model_copy(update={"reports_dir": out})
    warehouse = Warehouse.configured(database_path(db), sources)
    with warehouse.run_lock("digest", settings.lock_wait_seconds) as held:
        if not held:
            raise WarehouseBusy(f"{warehouse.path}: another run held the warehouse for {settings.lock_wait_seconds:.0f} s; "
                               "digest not built (it runs again at its next schedule, or run it by hand)")
        iso_week, digest, html_path, eml_path, size, status = _run(warehouse, sources, settings, week, send, force, logger)
    create_markdown_artifact(
        key="weekly-digest", description=f"Digest {iso_week}",
        markdown=f"**{digest.subject}**\n\n- web copy: `{html_path}`\n- .eml: `{eml_path}`\n- HTML: {size} bytes\n- {status}")
    return {"week": iso_week, "subject": digest.subject, "html": str(html_path), "eml": str(eml_path),
            "html_bytes": size, "status": status}


def _run(warehouse: Warehouse, sources, settings, week, send: bool, force: bool, logger):
    """Build, archive and (when asked) send, under the warehouse's run lock."""
    warehouse.migrate()
    refresh_measures(warehouse, sources.pipeline.extract_workers)
    iso_week = week or pipeline.previous_week(now_utc())
    digest = pipeline.build_digest(warehouse, iso_week, settings, now_utc())
    message = mail.compose(digest, settings.sender, settings.recipients)
    html_path, eml_path = mail.archive(digest, message, settings.reports_dir)
    size = len(digest.html.encode("utf-8"))
    warehouse.record_digest(iso_week, now_utc(), str(html_path), str(eml_path), digest.subject, size)
    logger.info("digest %s: %s (%d bytes of HTML)", iso_week, html_path, size)

    status = "archived"
    if send:
        if not settings.recipients:
            logger.warning("digest %s: --send given but no recipients are configured (sources.yaml digest.recipients)", iso_week)
        elif warehouse.digest_sent_at(iso_week) and not force:
            status = "already sent"
            logger.info("digest %s was already accepted for every recipient; not sending again (force to resend)", iso_week)
        else:
            done = set() if force else warehouse.deliveries(iso_week)
            todo = [r for r in settings.recipients if r not in done]
            if todo:
                send_digest(message, settings, warehouse, iso_week, todo)
            warehouse.mark_sent(iso_week, now_utc())
            status = f"sent to {len(todo)} recipient(s)"
    return iso_week, digest, html_path, eml_path, size, status
