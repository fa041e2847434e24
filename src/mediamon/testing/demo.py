"""`make demo`: replay the bundled demo corpus week by week through the real ingest flow, offline."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

import yaml

from .. import orchestration
from ..config import load_config
from ..errors import PrefectUnavailable
from ..seeds import load_seeds
from ..warehouse import Warehouse
from ..weeks import now_utc, week_end
from .devserver import FeedServer
from .replay import ReplaySite, load_corpus

DEMO_DB = Path("warehouse") / "demo.duckdb"  # in the project folder
TRY_SQL = "SELECT iso_week, script, count(*) AS articles FROM v_articles WHERE duplicate_of IS NULL GROUP BY ALL ORDER BY ALL"


class OutboxSink:
    """A loopback SMTP server's handler that stores every message it accepts as an .eml file."""

    def __init__(self, folder: Path):
        """Messages go to `folder`."""
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        """Store the message; the file name says when and to whom."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        (self.folder / f"{stamp}-{envelope.rcpt_tos[0]}.eml").write_bytes(envelope.content)
        return "250 Message accepted for delivery"


def start_outbox(folder: Path):
    """An SMTP sink on a free loopback port: (controller, port)."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(OutboxSink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def demo_sources(feed_urls: dict[str, str], outlets, path: Path, shipped_path: Path, smtp_port: int | None = None) -> Path:
    """Write a sources file for the demo site: the shipped topics and settings, loopback allowed, the SMTP sink."""
    shipped = yaml.safe_load(shipped_path.read_text(encoding="utf-8"))
    doc = {
        "fetcher": {**shipped.get("fetcher", {}), "allow_private_addresses": True, "retries": 1, "retry_backoff_seconds": 0.5},
        "pipeline": shipped.get("pipeline", {}),
        "topics": shipped["topics"],
        "script_terms": shipped.get("script_terms", {}),
        "tracking_params": shipped.get("tracking_params", []),
        "digest": {"recipients": ["analyst@demo.invalid"], "sender": "mediamon demo <mediamon@demo.invalid>",
                   "smtp_host": "127.0.0.1", "smtp_port": smtp_port or 25, "smtp_security": "none",
                   "send_backoff_seconds": 1},
        "feeds": [{"id": o.id, "name": o.name, "outlet": o.name, "url": feed_urls[o.id], "lang": o.lang,
                   "tags": ["demo"], "full_text": o.full_text} for o in outlets.values()],
    }
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def main() -> int:
    """Run the demo and print where everything is (one clear line, no traceback, if Prefect cannot start)."""
    try:
        return _run()
    except PrefectUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run() -> int:
    """The demo proper."""
    config = load_config()
    db = Path(os.environ.get("MEDIAMON_DEMO_DB") or config.root / DEMO_DB)
    reports, outbox_dir = config.reports_dir, config.reports_dir / "outbox"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)  # the demo starts from scratch, so it always tells the same story
    outlets, stories = load_corpus()
    weeks = sorted({s.week for s in stories})
    print(f"demo corpus: {len(stories)} articles, {len(outlets)} outlets, weeks {weeks[0]} to {weeks[-1]}", flush=True)
    warehouse = Warehouse.configured(config, db)
    warehouse.migrate()
    seeds = load_seeds(now_utc(), config.seeds_dir, config.analysis, config.sources.script_terms)
    print(f"baseline: {warehouse.ingest.insert_baseline(seeds, 'demo-init')} seed articles loaded", flush=True)
    from flows.digest import weekly_digest as digest
    from flows.ingest import ingest

    outbox, smtp_port = start_outbox(outbox_dir)
    with FeedServer() as server, orchestration.prefect_api(lambda line: print(line, flush=True)):
        site = ReplaySite(outlets, server)
        sources = demo_sources(site.publish([]), outlets, db.parent / "demo-sources.yaml", config.sources_path, smtp_port)
        print(f"serving {len(outlets)} demo feeds from {server.base_url}", flush=True)
        for week in weeks:
            site.publish([s for s in stories if s.week <= week])
            totals = ingest(sources_path=str(sources), db=str(db), allow_private_addresses=True, as_of=week_end(week))
            built = digest(week=week, sources_path=str(sources), db=str(db), send=True)
            print(f"{week}: {totals['new_articles']:3d} new, {totals['duplicates']:2d} exact duplicates, "
                  f"{totals['feeds_failed']} feed(s) failed; digest {built['html']}", flush=True)
    with warehouse.reader() as con:
        rows = con.execute(TRY_SQL).fetchall()
        failed = con.execute("SELECT feed_id, last_error FROM feeds WHERE last_status = 'error'").fetchall()
    print("\narticles per week and script (duplicates excluded):")
    for row in rows:
        print(f"  {row[0]}  {row[1]:8s} {row[2]:4d}")
    for feed_id, error in failed:
        print(f"failing feed (as planted): {feed_id}: {error}")
    rel = db.relative_to(config.root) if db.is_relative_to(config.root) else db
    outbox.stop()
    print(f"\ndigests: {reports / 'index.html'}; as sent, to a loopback SMTP server: {outbox_dir}/*.eml")
    print(f"\nwarehouse: {db}\ntry:\n  .venv/bin/mediamon sql --db {rel} \"{TRY_SQL}\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
