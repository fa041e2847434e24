"""The `mediamon` command line."""

from __future__ import annotations

import csv
import importlib
import json
import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from . import orchestration, progress
from .config import database_path, load_config, load_sources
from .errors import MediamonError
from .weeks import now_utc

# The warehouse, the runs and the seeds load DuckDB and pyarrow (about 1 s): the commands that need
# them import them, so `mediamon ingest` starts Prefect's server first and imports them while it boots.

app = typer.Typer(add_completion=False, help="Monitor how the press tells the story of Chinese AI, chip controls and AI valuations.")
sources_app = typer.Typer(help="Check the configured feeds.")
app.add_typer(sources_app, name="sources")
stories_app = typer.Typer(help="Near-duplicate stories.")
app.add_typer(stories_app, name="stories")
narratives_app = typer.Typer(help="Narratives, frames and the weekly measures.")
app.add_typer(narratives_app, name="narratives")
prefect_app = typer.Typer(help="Prefect's API, which the ingest and digest flows report to.")
app.add_typer(prefect_app, name="prefect")
console = Console(stderr=True)

DbOption = typer.Option(None, "--db", help="Warehouse file (default: $MEDIAMON_DB or warehouse/mediamon.duckdb).")
SourcesOption = typer.Option(None, "--sources", help="Sources file (default: $MEDIAMON_SOURCES or sources.yaml).")


def _fail(exc: Exception) -> None:
    """Print a mediamon error plainly and exit non-zero."""
    console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _say(message: str) -> None:
    """Progress for the operator, on stderr."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def run_flow(name: str, flow_name: str, **parameters):
    """Run a flow of flows/ against Prefect's API (the configured server, or a local one started for it); the
    flow's module (seconds of imports) loads while a local server boots."""
    module: dict = {}
    with orchestration.prefect_api(_say, meanwhile=lambda: module.setdefault("flows", importlib.import_module(f"flows.{name}"))):
        return getattr(module["flows"], flow_name)(**parameters)


@app.command()
def init(db: Optional[Path] = DbOption, sources: Optional[Path] = SourcesOption) -> None:
    """Create or migrate the warehouse and load the seed articles as the baseline."""
    from . import runs
    from .seeds import load_seeds
    from .warehouse import Warehouse
    try:
        config = load_config(sources=sources, db=db)
        warehouse = Warehouse.configured(config)
        with warehouse.maintenance("init"):
            applied = warehouse.migrate()
            seeds = load_seeds(now_utc(), config.seeds_dir, config.analysis, config.sources.script_terms)
            added = warehouse.ingest.insert_baseline(seeds, run_id="init")
            runs.ensure_analysis(warehouse, config)
            runs.refresh_measures(warehouse, config)
        orchestration.prepare_database(_say)  # so the first ingest does not wait for Prefect's migrations
    except MediamonError as exc:
        _fail(exc)
    typer.echo(f"warehouse {warehouse.path}: migrations applied now: {', '.join(applied) or 'none'}; "
               f"baseline articles added: {added}")
    typer.echo(_analysts_line(warehouse.read_copy))


def _progress_listener():
    """A rich progress bar on a terminal; None elsewhere (the flow's log lines suffice)."""
    if not sys.stderr.isatty():
        return None, None
    from rich.progress import Progress

    bar = Progress(console=console, transient=False)
    state: dict = {}

    def listen(event: str, data: dict) -> None:
        """Advance the bar on each committed feed."""
        if event == "start":
            bar.start()
            state["task"] = bar.add_task("feeds", total=data["total"])
        elif event == "feed" and "task" in state:
            bar.advance(state["task"])
        elif event == "done":
            bar.stop()

    return listen, bar


@app.command()
def ingest(
    sources: Optional[Path] = SourcesOption,
    db: Optional[Path] = DbOption,
    allow_private: bool = typer.Option(False, "--allow-private", help="Allow loopback and private addresses (demo, tests)."),
) -> None:
    """Poll the feeds once through the Prefect ingest flow and store new articles."""
    try:
        pipeline = load_sources(sources).pipeline  # fail fast, before Prefect starts, on a bad file
    except MediamonError as exc:
        _fail(exc)
    if pipeline.extract_workers and not pipeline.on_dask:
        from . import forkserver

        forkserver.start()  # the extraction processes' libraries load on the other core while the flow imports
    listener, _ = _progress_listener()
    progress.set_listener(listener)
    try:
        totals = run_flow("ingest", "ingest",
                          sources_path=str(sources) if sources else None, db=str(db) if db else None,
                          allow_private_addresses=True if allow_private else None)
    except MediamonError as exc:  # a full or read-only disk, a warehouse held too long: say so, no traceback
        _fail(exc)
    finally:
        progress.set_listener(None)
    typer.echo(json.dumps(totals, ensure_ascii=False))


def _jsonable(value):
    """JSON-friendly form of a DuckDB value."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value if isinstance(value, (str, int, float, bool, type(None), list, dict)) else str(value)


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL to run (read-only)."),
    db: Optional[Path] = DbOption,
    fmt: str = typer.Option("table", "--format", help="table | csv | json"),
    limit: int = typer.Option(200, help="Rows shown in table format."),
    live: bool = typer.Option(False, "--live", help="Read the writers' file instead of the analysts' copy "
                                                     "(a running ingest waits while the query runs)."),
) -> None:
    """Run a read-only query against the analysts' read copy of the warehouse (at most one run old)."""
    from .warehouse import Warehouse
    if fmt not in ("table", "csv", "json"):
        _fail(ValueError("--format must be table, csv or json"))
    import duckdb

    warehouse = Warehouse(database_path(db))
    path = warehouse.path if live else warehouse.read_copy
    if not live and not path.exists() and warehouse.path.exists():
        _fail(FileNotFoundError(f"{path}: no analysts' copy yet; it is published after every write run "
                                "(`mediamon init` publishes it now), or query the writers' file with --live"))
    try:
        with Warehouse(path).reader() as con:
            cursor = con.execute(query)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchall()
    except (duckdb.Error, FileNotFoundError) as exc:
        _fail(exc)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif fmt == "json":
        typer.echo(json.dumps([{c: _jsonable(v) for c, v in zip(columns, r)} for r in rows], ensure_ascii=False, indent=1))
    else:
        table = Table(*columns, show_lines=False)
        for r in rows[:limit]:
            table.add_row(*("" if v is None else str(v)[:120] for v in r))
        Console().print(table)
        if len(rows) > limit:
            typer.echo(f"({len(rows) - limit} more rows; use --format csv for all)")


@stories_app.command("rebuild")
def stories_rebuild(sources: Optional[Path] = SourcesOption, db: Optional[Path] = DbOption) -> None:
    """Regroup every article into stories from scratch, with the story settings in sources.yaml."""
    try:
        load_sources(sources)
        counts = run_flow("stories", "rebuild_stories", sources_path=str(sources) if sources else None,
                          db=str(db) if db else None)
    except MediamonError as exc:
        _fail(exc)
    typer.echo(json.dumps(counts))


@app.command()
def digest(
    week: Optional[str] = typer.Option(None, help="ISO week such as 2025-W06 (default: the last complete week)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Reports folder (default: digest.reports_dir, reports/)."),
    send: bool = typer.Option(False, "--send", help="Email it to digest.recipients over SMTP."),
    force: bool = typer.Option(False, "--force", help="Send even if this week was already delivered."),
    sources: Optional[Path] = SourcesOption,
    db: Optional[Path] = DbOption,
) -> None:
    """Build a week's digest through the Prefect digest flow: archive it in reports/, and send it with --send."""
    try:
        load_sources(sources)
    except MediamonError as exc:
        _fail(exc)
    try:
        result = run_flow("digest", "weekly_digest", week=week, sources_path=str(sources) if sources else None,
                          db=str(db) if db else None, out=str(out) if out else None, send=send, force=force)
    except MediamonError as exc:
        _fail(exc)
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command()
def status(db: Optional[Path] = DbOption) -> None:
    """Each feed's last success, last error, failures and next poll; the last runs; articles by week; size."""
    from .warehouse import Warehouse
    try:
        warehouse = Warehouse(database_path(db))
        report = warehouse.reports.status()
    except (MediamonError, FileNotFoundError) as exc:
        _fail(exc)
    out = Console()
    typer.echo(_analysts_line(warehouse.read_copy))
    titles = {"feeds": "Feeds (failing first)", "runs": "Last runs", "weeks": "Articles by week",
              "no_text": "Pages with no usable text, last 7 days (not stored; retried each run)",
              "digests": "Digests", "size": "Warehouse"}
    for name, rows in report.items():
        table = Table(*(rows[0].keys() if rows else ["(none)"]), title=titles[name], title_justify="left")
        for r in rows:
            table.add_row(*("" if v is None else str(v)[:60] for v in r.values()))
        out.print(table)


def _analysts_line(copy: Path) -> str:
    """Where analysts connect, and how old the copy is."""
    if not copy.exists():
        return f"analysts: {copy} (not published yet: the next write run publishes it)"
    age = now_utc().timestamp() - copy.stat().st_mtime
    when = f"{age / 3600:.1f} h" if age >= 3600 else f"{age / 60:.0f} min"
    return f"analysts: {copy} (read-only copy, published {when} ago, {copy.stat().st_size / 2**20:.1f} MB)"


@narratives_app.command("rebuild")
def narratives_rebuild(db: Optional[Path] = DbOption, sources: Optional[Path] = SourcesOption,
                       workers: int = typer.Option(2, help="Processes for jieba.")) -> None:
    """Recount every article's terms and relabel it with config/ as it is now, then refresh the measures."""
    from . import runs
    from .warehouse import Warehouse
    try:
        config = load_config(sources=sources, db=db)
        config = config.with_sources(config.sources.with_pipeline(extract_workers=workers))
        warehouse = Warehouse.configured(config)
        with warehouse.maintenance("narratives rebuild"):
            warehouse.migrate()
            counts = runs.ensure_analysis(warehouse, config, force=True)
            seconds = runs.refresh_measures(warehouse, config, full=True)
    except MediamonError as exc:
        _fail(exc)
    typer.echo(json.dumps({**(counts or {}), "measures_seconds": round(seconds, 2)}))


@narratives_app.command("refresh")
def narratives_refresh(db: Optional[Path] = DbOption, sources: Optional[Path] = SourcesOption,
                       full: bool = typer.Option(False, "--full", help="Recount every week, not only the changed ones.")) -> None:
    """Bring the weekly measures (v_weekly_*) up to date from the stored labels and terms."""
    from . import runs
    from .warehouse import Warehouse
    try:
        config = load_config(sources=sources, db=db)
        warehouse = Warehouse.configured(config)
        with warehouse.maintenance("narratives refresh"):
            seconds = runs.refresh_measures(warehouse, config, full)
    except MediamonError as exc:
        _fail(exc)
    typer.echo(f"weekly measures refreshed in {seconds:.2f} s")


@narratives_app.command("shifts")
def narratives_shifts(
    week: Optional[str] = typer.Option(None, help="ISO week such as 2025-W06 (default: the latest)."),
    db: Optional[Path] = DbOption,
    sources: Optional[Path] = SourcesOption,
    evidence: int = typer.Option(2, help="Evidence sentences per shift."),
) -> None:
    """Print the week's notable shifts, each with its figure and evidence sentences."""
    from .reporting import week_shifts
    from .warehouse import Warehouse

    try:
        config = load_config(sources=sources, db=db)
        warehouse = Warehouse(config.db_path)
        week = week or warehouse.reports.latest_week()
        shifts = week_shifts(warehouse, week, config, evidence) if week else []
    except (MediamonError, FileNotFoundError) as exc:
        _fail(exc)
    typer.echo(f"{week or 'no weeks yet'}: {len(shifts)} notable shift(s)")
    for i, s in enumerate(shifts, 1):
        typer.echo(f"{i}. [{s.kind}] {s.statement}")
        for e in s.evidence:
            typer.echo(f"     “{e.sentence}” ({e.outlet}: {e.title}, {e.url})")


@narratives_app.command("evaluate")
def narratives_evaluate(
    labels: Path = typer.Option(..., "--labels", exists=True, dir_okay=False,
                                help="JSON lines: id, title, text, lang, narratives (the readers' labels); "
                                     "optional disputed, frames, frames_disputed."),
    config_dir: Optional[Path] = typer.Option(None, "--config", help="Config folder (default: the project's config/)."),
    errors: bool = typer.Option(True, "--errors/--no-errors", help="List every miss and false label."),
) -> None:
    """Score the narrative and frame rules against reader labels: P, R, F1, then each miss and false label."""
    from .analysis import load_analysis
    from .evaluation import evaluate, format_report, item_from_record

    try:
        config = load_analysis(config_dir) if config_dir else load_config().analysis
        items = []
        for number, line in enumerate(labels.read_text("utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    items.append(item_from_record(json.loads(line)))
                except (ValueError, KeyError, TypeError) as exc:
                    raise MediamonError(f"{labels}:{number}: not a labelled item: {exc}") from None
    except MediamonError as exc:
        _fail(exc)
    typer.echo(format_report(evaluate(items, config), show_errors=errors))


@narratives_app.command("preview")
def narratives_preview(
    config_dir: Optional[Path] = typer.Option(None, "--config", help="Config folder to try (default: the project's config/)."),
    db: Optional[Path] = DbOption,
    sources: Optional[Path] = SourcesOption,
    examples: int = typer.Option(10, help="Articles shown per narrative for its gains and for its losses."),
) -> None:
    """What an edit of config/ would change on the stored articles: each gain and loss, before `rebuild` writes it."""
    from .analysis import load_analysis
    from .preview import format_preview, preview
    from .warehouse import Warehouse

    try:
        config = load_config(sources=sources, db=db)
        analysis = load_analysis(config_dir) if config_dir else config.analysis
        warehouse = Warehouse(config.db_path)
        # The analysts' copy, so a run that holds the writer does not block the preview (at most one run old).
        source = Warehouse(warehouse.read_copy) if warehouse.read_copy.exists() else warehouse
        report = preview(source.analysis.stored_narratives(), analysis)
    except (MediamonError, FileNotFoundError) as exc:
        _fail(exc)
    typer.echo(f"from {source.path}")
    typer.echo(format_preview(report, examples))


@sources_app.command("check")
def sources_check(sources: Optional[Path] = SourcesOption) -> None:
    """Validate the sources file and list its feeds."""
    try:
        cfg = load_sources(sources)
    except MediamonError as exc:
        _fail(exc)
    table = Table("id", "lang", "outlet", "enabled", "full_text", "keep_all", "url")
    for f in cfg.feeds:
        table.add_row(f.id, f.lang, f.outlet, str(f.enabled), str(f.full_text), str(f.keep_all), f.url)
    Console().print(table)
    typer.echo(f"ok: {len(cfg.feeds)} feeds ({len(cfg.enabled_feeds())} enabled), "
               + ", ".join(f"{k}: {len(v)} terms" for k, v in cfg.topics.items()))


@prefect_app.command("check")
def prefect_check(wait: float = typer.Option(0, help="Seconds to wait for a configured server to answer.")) -> None:
    """Say which Prefect API the flows use, and whether it answers (make worker waits for `make server` this way)."""
    try:
        url = orchestration.configured_api_url()
        if url is None:
            typer.echo("no PREFECT_API_URL: each command starts a local Prefect API server for its run"
                       + (" (its first start creates Prefect's database)" if orchestration.is_first_start() else ""))
            return
        orchestration.wait_for_api(url, wait, _say)
    except MediamonError as exc:
        _fail(exc)
    typer.echo(f"Prefect API at {url} answers")


def main() -> None:
    """Entry point with plain logging when not on a terminal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Prefect API request is noise
    app()
