"""The week's digest from the warehouse: its shifts with their evidence, rendered within the mail budget."""

from __future__ import annotations

import logging
from datetime import datetime

from .config import Config
from .digest import MAX_HTML_BYTES, RenderedDigest, build_context, render
from .measures import (
    Shift,
    best_sentences,
    frame_shifts,
    narrative_shifts,
    rank_shifts,
    term_shifts,
)
from .warehouse import digest_queries

log = logging.getLogger("mediamon.reporting")
DIGEST_SECTIONS = ("header", "trend", "narratives", "frames", "terms", "stories", "new_terms", "new_outlets",
                   "feed_failures", "polls", "pages_without_text")


def week_shifts(warehouse, iso_week: str, config: Config, evidence: int = 3, with_evidence: int = 15) -> list[Shift]:
    """The week's notable shifts in reading order; the first `with_evidence` get up to `evidence` sentences,
    each a sentence that mentions the shift's narrative (or frame) by its own rule."""
    rows = warehouse.reports.week_measures(iso_week)
    labels = {c["narrative"]: c["label"] for c in rows["catalog"] if c["frame"] is None}
    top: dict[str, list[str]] = {}
    for r in rows["top_terms"]:
        if r["z_prev"] > 0:
            top.setdefault(r["narrative"], []).append(r["term"])
    shifts = rank_shifts(
        narrative_shifts(rows["narratives"], {n: top.get(n, [])[:4] for n in labels})
        + frame_shifts(rows["frames"], labels)
        + term_shifts(rows["terms"], labels, config.analysis.rulebook.measures.lookback_weeks))
    for shift in shifts[:with_evidence]:
        articles = warehouse.reports.evidence_articles(iso_week, shift.narrative, shift.frame)
        shift.evidence = best_sentences(articles, shift, config.analysis, evidence)
    return shifts


def build_digest(warehouse, iso_week: str, config: Config, generated_at: datetime) -> RenderedDigest:
    """Render a week's digest from the warehouse; if the HTML outgrows the mail budget, show less and say so."""
    settings = config.sources.digest
    rows = warehouse.reports.digest_rows(iso_week, DIGEST_SECTIONS)
    shifts = week_shifts(warehouse, iso_week, config)
    for weeks_shown in (settings.weeks_shown, 8, 4):
        context = build_context(iso_week, rows, shifts, digest_queries(), config.analysis.rulebook.measures,
                                weeks_shown, generated_at)
        digest = render(context, settings.subject_prefix)
        if len(digest.html.encode("utf-8")) <= MAX_HTML_BYTES:
            return digest
        log.warning("digest %s: HTML is %d bytes with %d weeks of trend; trying fewer", iso_week,
                    len(digest.html.encode("utf-8")), weeks_shown)
    context["reproduce"] = []
    return render(context, settings.subject_prefix)
