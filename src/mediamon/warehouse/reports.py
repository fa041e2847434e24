"""Reads for reports and the operator: the digest's sections and the rows behind "What shifted", evidence
articles, `mediamon status`; and the digests' own records (built, accepted per recipient, sent)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Sequence

from .connection import Database, rows_as_dicts, statements

SHIFT_SECTIONS = ("narratives", "frames", "shifted_terms", "top_terms", "catalog")
STATUS_SECTIONS = {"feeds": "status_feeds", "runs": "status_runs", "weeks": "status_weeks", "no_text": "status_no_text",
                   "digests": "status_digests"}


def digest_queries() -> dict[str, str]:
    """The named queries behind the digest's sections (sql/digest.sql), as the digest prints them to reproduce."""
    return statements("digest.sql")


def _sql(name: str) -> str:
    """A named statement of sql/reports.sql."""
    return statements("reports.sql")[name]


class ReportStore:
    """What reports read, and the records of digests built and delivered."""

    def __init__(self, db: Database):
        """Read and write through `db`."""
        self.db = db

    def digest_rows(self, iso_week: str, names: Sequence[str] | None = None,
                    params: dict | None = None) -> dict[str, list[dict]]:
        """The rows behind the digest's sections (sql/digest.sql): the named ones, or every one whose parameters are
        given. Queries take $week and, for some, $narrative, $frame and $limit (named parameters)."""
        out = {}
        values = {"week": iso_week, **(params or {})}
        with self.db.reader() as con:
            for name, sql in digest_queries().items():
                wanted = set(re.findall(r"\$([a-z_]+)", sql))
                if (names is not None and name not in names) or (names is None and not wanted <= values.keys()):
                    continue
                out[name] = rows_as_dicts(con.execute(sql, {k: values[k] for k in wanted}))
        return out

    def week_measures(self, iso_week: str) -> dict[str, list[dict]]:
        """One week's rows behind "What shifted": v_weekly_narratives, v_weekly_frames, the flagged
        v_weekly_terms, the top rising terms per narrative, and the narrative catalog."""
        rows = self.digest_rows(iso_week, SHIFT_SECTIONS)
        rows["terms"] = rows.pop("shifted_terms")
        return rows

    def evidence_articles(self, iso_week: str, narrative: str, frame: str | None, limit: int = 40) -> list[dict]:
        """The week's articles that carry the narrative (and frame; 'all': any narrative), most salient first."""
        return self.digest_rows(iso_week, ("evidence",), {"narrative": narrative, "frame": frame, "limit": limit})["evidence"]

    def latest_week(self) -> str | None:
        """The last ISO week with measures (None before any article is stored)."""
        with self.db.reader() as con:
            row = con.execute(_sql("latest_week")).fetchone()
        return row[0] if row else None

    def status(self) -> dict[str, list[dict]]:
        """The operator's view: each feed's state, the last runs, articles by week, digests, the warehouse's size."""
        with self.db.reader() as con:
            out = {name: rows_as_dicts(con.execute(_sql(statement))) for name, statement in STATUS_SECTIONS.items()}
        out["size"] = [{"file": str(self.db.path), "megabytes": round(self.db.path.stat().st_size / 2**20, 1)}]
        return out

    def deliveries(self, iso_week: str) -> set[str]:
        """Recipients the server has accepted this week's digest for."""
        with self.db.reader() as con:
            return {r[0] for r in con.execute(_sql("deliveries"), [iso_week]).fetchall()}

    def record_digest(self, iso_week: str, built_at: datetime, html_path: str | None, eml_path: str | None,
                      subject: str, html_bytes: int) -> None:
        """Record (or update) a built digest."""
        with self.db.writer() as con:
            con.execute(_sql("record_digest"), [iso_week, built_at, html_path, eml_path, subject, html_bytes])

    def record_delivery(self, iso_week: str, recipient: str, message_id: str, at: datetime) -> None:
        """Record that the server accepted the week's digest for one recipient (committed at once)."""
        with self.db.writer() as con:
            con.execute(_sql("record_delivery"), [iso_week, recipient, at, message_id])

    def mark_sent(self, iso_week: str, at: datetime) -> None:
        """Mark the week's digest sent (every recipient accepted)."""
        with self.db.writer() as con:
            con.execute(_sql("mark_sent"), [at, iso_week])

    def digest_sent_at(self, iso_week: str) -> datetime | None:
        """When the week's digest was accepted for every recipient, if it was."""
        with self.db.reader() as con:
            row = con.execute(_sql("digest_sent_at"), [iso_week]).fetchone()
        return row[0] if row else None
