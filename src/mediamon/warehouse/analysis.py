"""Analysis and measures: each article's terms and labels stored, relabelling after a configuration change, and the
weekly measures (sql/measures.sql) brought up to date in one transaction."""

from __future__ import annotations

import hashlib
import logging
import time
from string import Template
from typing import Callable, Iterator, Sequence

import duckdb
import pyarrow as pa

from .connection import Database, latest_migration, rows_as_dicts, sql_text, statements

log = logging.getLogger("mediamon.warehouse")
FULL_RECOUNT_TABLES = ("clear_term_week_masks", "clear_term_first_seen", "clear_narrative_week_jsd", "clear_weekly_terms")


def _sql(name: str) -> str:
    """A named statement of sql/analysis.sql."""
    return statements("analysis.sql")[name]


def insert_rows(con, rows: Sequence[dict]) -> None:
    """Store the term counts (texts stored once: not for exact copies), labels and terms' general-language shares
    of analysed rows."""
    terms: dict[str, list] = {"article_id": [], "term": [], "n": []}
    labels: dict[str, list] = {"article_id": [], "narrative": [], "frame": [], "score": [], "matched": [], "rule": []}
    background: dict[str, float] = {}
    for r in rows:
        analysis = r.get("analysis")
        if analysis is None:
            continue
        if r["duplicate_of"] is None:
            for term, n in analysis.terms:
                terms["article_id"].append(r["article_id"])
                terms["term"].append(term)
                terms["n"].append(min(n, 32767))
            background.update(analysis.background)
        for label in analysis.labels:
            labels["article_id"].append(r["article_id"])
            labels["narrative"].append(label.narrative)
            labels["frame"].append(label.frame)
            labels["score"].append(label.score)
            labels["matched"].append(list(label.matched))
            labels["rule"].append(label.rule)
    for data, statement, schema in (
            (terms, "insert_terms", pa.schema([("article_id", pa.string()), ("term", pa.string()), ("n", pa.int16())])),
            (labels, "insert_labels", pa.schema([("article_id", pa.string()), ("narrative", pa.string()),
                                                 ("frame", pa.string()), ("score", pa.float64()),
                                                 ("matched", pa.list_(pa.string())), ("rule", pa.string())]))):
        if data["article_id"]:
            con.register("analysed", pa.table(data, schema=schema))
            con.execute(_sql(statement))
            con.unregister("analysed")
    if background:
        con.register("background", pa.table({"term": list(background), "share": list(background.values())}))
        con.execute(_sql("insert_background"))
        con.unregister("background")


class AnalysisStore:
    """The analysis the warehouse holds: which configuration made it, relabelling, and the weekly measures."""

    def __init__(self, db: Database):
        """Write through `db`."""
        self.db = db

    def version(self) -> tuple[str | None, int]:
        """(config version the stored terms and labels were computed with, number of articles)."""
        with self.db.writer() as con:
            version = con.execute(_sql("config_version")).fetchone()
            articles = con.execute(_sql("article_count")).fetchone()[0]
        return (version[0] if version else None), articles

    def set_version(self, version: str) -> None:
        """Record the config version that stored terms and labels match."""
        with self.db.writer() as con:
            con.execute(_sql("set_state"), ["config_version", version])

    def rebuild(self, analyse_rows: Callable[[list[dict]], list], version: str, batch: int = 2000) -> dict[str, int]:
        """Recount every article's terms and relabel it (after editing config/), in one transaction.

        `analyse_rows` maps rows (article_id, title, script, lang, text_simplified) to Analysis objects.
        """
        with self.db.transaction() as con:
            for name in ("clear_terms", "clear_labels", "clear_background", "forget_measures"):
                con.execute(_sql(name))
            ids = [r[0] for r in con.execute(_sql("originals")).fetchall()]
            for start in range(0, len(ids), batch):
                con.register("chunk", pa.table({"article_id": ids[start:start + batch]}))
                rows = rows_as_dicts(con.execute(_sql("chunk")))
                con.unregister("chunk")
                for row, analysis in zip(rows, analyse_rows(rows)):
                    row["analysis"] = analysis
                insert_rows(con, rows)
            con.execute(_sql("copy_labels"))
            con.execute(_sql("set_state"), ["config_version", version])
            labels = con.execute(_sql("label_count")).fetchone()[0]
        return {"articles": len(ids), "labels": labels}

    def stored_narratives(self, batch: int = 1000) -> Iterator[dict]:
        """Each original article (title, script, lang, simplified text, outlet, url) with the narratives stored
        for it, read in batches from a read-only connection."""
        with self.db.reader() as con:
            cursor = con.execute(_sql("stored_narratives"))
            columns = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(batch):
                for row in rows:
                    record = dict(zip(columns, row))
                    record["narratives"] = record["narratives"] or []
                    yield record

    def refresh_measures(self, settings: dict[str, float], catalog: list[dict], version: str, full: bool = False) -> float:
        """Bring the weekly measure tables up to date in one transaction; return seconds.

        Only the weeks whose stories gained articles since the last refresh are recounted, unless `full`,
        or the configuration (`version`), the measures SQL or the schema changed since then.
        """
        text = sql_text("measures.sql")
        key = hashlib.sha256(f"{version}\0{text}\0{latest_migration()}".encode()).hexdigest()[:16]
        start = time.monotonic()
        try:
            self._refresh_once(False, key, text, settings, catalog, full)
        except duckdb.OutOfMemoryException as exc:
            # A full recount of a large warehouse can need more than the writer's budget: finish it rather than fail.
            log.warning("warehouse %s: the measures need more than %d MB (%s); recounting without the limit "
                        "(raise pipeline.warehouse_memory_mb to skip the first attempt)",
                        self.db.path, self.db.memory_mb, str(exc).splitlines()[0])
            self._refresh_once(True, key, text, settings, catalog, full)
        return time.monotonic() - start

    def _refresh_once(self, unlimited: bool, key: str, text: str, settings: dict[str, float],
                      catalog: list[dict], full: bool) -> None:
        """One attempt at refresh_measures, in one transaction, within memory_mb unless unlimited."""
        with self.db.transaction(unlimited) as con:
            state = dict(con.execute(_sql("measures_state")).fetchall())
            full = full or state.get("measures_key") != key
            watermark = -1 if full else int(state.get("measures_rowid", -1))
            if full:
                for name in FULL_RECOUNT_TABLES:
                    con.execute(_sql(name))
            top = con.execute(_sql("last_rowid")).fetchone()[0]
            con.execute(_sql("clear_catalog"))
            con.register("catalog", pa.Table.from_pylist(catalog, schema=pa.schema([
                ("narrative", pa.string()), ("frame", pa.string()), ("label", pa.string()),
                ("mention", pa.string()), ("rules", pa.list_(pa.string()))])))
            con.execute(_sql("insert_catalog"))
            con.unregister("catalog")
            con.execute(Template(text).substitute({k: repr(v) for k, v in settings.items()} | {"watermark": str(watermark)}))
            for k, v in (("measures_key", key), ("measures_rowid", str(top))):
                con.execute(_sql("set_state"), [k, v])
