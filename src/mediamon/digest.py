"""The weekly digest: a week's measures, shifts and evidence laid out as email-safe HTML and plain text.

Everything shown comes from the warehouse's rows (store.digest_rows) and the week's shifts
(measures.py); feed text is untrusted: Jinja2 escapes it, `display_text` strips invisible and bidi
characters, and only http(s) links without tracking parameters are kept. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import css_inline
import jinja2

from .measures import Shift, headline_shifts
from .narratives import MeasureSettings
from .normalize import display_text, link_url
from .weeks import SHANGHAI, week_dates

GMAIL_CLIP_BYTES = 102_000  # Gmail clips an HTML part larger than about 102 KB
MAX_HTML_BYTES = 100_000
SHOWN_TERM_Z = 2.0  # terms listed per narrative; the "What shifted" statements use the stricter term_z
NOT_REPRODUCED = ("evidence", "catalog")  # per-shift article lists and configuration, not figures


@dataclass(frozen=True)
class RenderedDigest:
    """A week's digest, ready to archive and send."""

    iso_week: str
    subject: str
    html: str
    text: str


def _autoescape(name: str | None) -> bool:
    """Escape in every template except the plain-text ones (*.txt.j2)."""
    return not (name or "").endswith(".txt.j2")


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    """The template environment: autoescape on, unknown names are errors."""
    # HTML templates escape everything; the plain-text twin is not HTML, so it is not escaped.
    env = jinja2.Environment(loader=jinja2.PackageLoader("mediamon", "templates"), autoescape=_autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, pts=pts, num=num, short=display_text, link=link_url)
    return env


def pct(x: float | None) -> str:
    """0.453 -> '45%'."""
    return "–" if x is None else f"{100 * x:.0f}%"


def pts(x: float | None) -> str:
    """0.12 -> '+12 pts'."""
    return "–" if x is None else f"{100 * x:+.0f} pts"


def num(x: float | None, digits: int = 1) -> str:
    """A z-score or ratio with a fixed number of digits."""
    return "–" if x is None else f"{x:.{digits}f}"


def _bar(share: float | None) -> int:
    """A share as a bar width in percent (at least 1 so a non-zero share shows)."""
    if not share:
        return 0
    return max(1, min(100, round(100 * share)))


def _shift_view(s: Shift) -> dict:
    """A shift as the templates show it."""
    return {
        "kind": s.kind.replace("_", " "), "statement": display_text(s.statement, 400), "figure": s.figure,
        "evidence": [{"sentence": display_text(e.sentence, 240), "title": display_text(e.title, 120),
                      "outlet": display_text(e.outlet, 60), "url": link_url(e.url)} for e in s.evidence],
    }


def _fewer_sources_note(now: dict, limits: MeasureSettings) -> str | None:
    """Why a volume z past the burst threshold is not a burst: the previous weeks heard too few of this week's outlets."""
    before, this_week = now.get("prev_outlets_collected"), now.get("outlets_collected")
    if (before is None or not this_week or (now.get("burst_z") or 0) < limits.burst_z
            or before >= limits.min_reference_ratio * this_week):
        return None
    return f"not a burst: the previous weeks heard {num(before)} outlets a week, this week {this_week}"


def _narrative_section(name: str, rows: dict[str, list[dict]], weeks_shown: int, limits: MeasureSettings) -> dict:
    """One narrative's section: figures, trend, frame mix, terms, top stories, zh against en."""
    now = next(r for r in rows["narratives"] if r["narrative"] == name)
    trend = [r for r in rows["trend"] if r["narrative"] == name][-weeks_shown:]
    frames = [f for f in rows["frames"] if f["narrative"] == name]
    terms = [t for t in rows["terms"] if t["narrative"] == name]

    def lead(share_key: str) -> dict | None:
        """The frame with the largest share within one language's coverage."""
        ranked = sorted((f for f in frames if f[share_key]), key=lambda f: -f[share_key])
        return {"label": ranked[0]["label"], "share": ranked[0][share_key]} if ranked else None

    return {
        "name": name, "label": now["label"], "articles": now["articles"], "stories": now["stories"],
        "share": now["share"], "share_change": now["share_change"], "share_z": now["share_z"],
        "burst_z": now["burst_z"], "prev_mean": now["prev_mean"], "fewer_sources_note": _fewer_sources_note(now, limits),
        "jsd_baseline": now["jsd_baseline"],
        "jsd_prev": now["jsd_prev"],
        "baseline": {"share": now["baseline_share"], "bar": _bar(now["baseline_share"])},
        # A share of a week with few on-topic articles (1 of 1 is 100%) is drawn light and says its counts.
        "trend": [{"week": r["iso_week"], "share": r["share"], "articles": r["articles"], "bar": _bar(r["share"]),
                   "on_topic": r.get("on_topic_articles") or 0,
                   "thin": (r.get("on_topic_articles") or 0) < limits.reference_min_articles,
                   "current": r["iso_week"] == now["iso_week"]} for r in trend],
        "frames": [{"label": f["label"], "share": f["share"], "prev_share": f["prev_share"], "bar": _bar(f["share"]),
                    "prev_bar": _bar(f["prev_share"]), "articles": f["articles"], "z": f["ref_z"],
                    "ref_share": f["ref_share"],
                    "is_shift": f["is_shift"]} for f in frames],
        "rising": [{"term": display_text(t["term"], 40), "docs": t["docs"], "z": t["z_prev"]} for t in terms if t["z_prev"] >= SHOWN_TERM_Z],
        "falling": [{"term": display_text(t["term"], 40), "docs": t["docs"], "z": t["z_prev"]} for t in terms if t["z_prev"] <= -SHOWN_TERM_Z],
        "top_stories": [{"title": display_text(s["title"], 140), "url": link_url(s["url"]),
                     "outlets": [display_text(o, 40) for o in s["outlets"]], "articles": s["articles"],
                     "date": _story_date(s),
                     "credited_origin": display_text(s["credited_origin"], 60) if s["credited_origin"] else None}
                    for s in rows["stories"] if s["narrative"] == name],
        "zh": {"articles": now["articles_zh"], "share": now["share_zh"], "lead": lead("share_zh")},
        "en": {"articles": now["articles_en"], "share": now["share_en"], "lead": lead("share_en")},
    }


def _story_date(story: dict) -> str:
    """When the story's lead was published, in Shanghai time; its first sighting only when it has no date."""
    if story["published_at"]:
        return "published " + story["published_at"].astimezone(SHANGHAI).date().isoformat()
    if story["first_seen_at"]:
        return "undated, first seen " + story["first_seen_at"].astimezone(SHANGHAI).date().isoformat()
    return "undated"


def build_context(iso_week: str, rows: dict[str, list[dict]], shifts: list[Shift], queries: dict[str, str],
                  limits: MeasureSettings, weeks_shown: int = 12, generated_at: datetime | None = None) -> dict:
    """Everything the templates show for one week."""
    monday, sunday = week_dates(iso_week)
    header = rows["header"][0]
    polls = rows["polls"][0]
    articles = header["articles"] or 0
    headline = headline_shifts(shifts)
    if not headline:
        # Nothing crossed a threshold: say so, with the largest moves of a narrative or a frame and their numbers.
        labels = {r["narrative"]: r["label"] for r in rows["narratives"]}

        def why(z: float, threshold: float, prev_share: float | None) -> str:
            """Why a move is not a shift: too weak, or the level was already reached last week."""
            if abs(z) < threshold:
                return f"z = {num(z)}, below the threshold"
            return f"z = {num(z)}, but already {pct(prev_share)} last week: not new"

        moves = [(r["ref_z"], f"{r['label']}: {pct(r['share'])} of on-topic coverage against {pct(r['ref_share'])} "
                              f"in the previous weeks ({why(r['ref_z'], limits.share_z, r['prev_share'])})")
                 for r in rows["narratives"] if r["ref_z"] is not None]
        moves += [(f["ref_z"], f"{labels.get(f['narrative'], f['narrative'])}, “{f['label']}” frame: {pct(f['share'])} of "
                               f"the narrative's articles ({f['articles']} of {f['narrative_articles']}) against "
                               f"{pct(f['ref_share'])} in the previous weeks ({why(f['ref_z'], limits.frame_z, f['prev_share'])})")
                  for f in rows["frames"] if f["ref_z"] is not None]
        quiet = [text for _, text in sorted(moves, key=lambda m: -abs(m[0]))[:3]]
    else:
        quiet = []
    narratives = [r["narrative"] for r in rows["narratives"]]
    return {
        "iso_week": iso_week, "monday": monday.isoformat(), "sunday": sunday.isoformat(),
        "generated_at": (generated_at or datetime.now()).strftime("%Y-%m-%d %H:%M"),
        "header": {"articles": articles, "stories": header["stories"] or 0, "outlets": header["outlets"] or 0,
                   "scripts": ", ".join(header["scripts"] or []) or "–"},
        "shifts": [_shift_view(s) for s in headline], "more_shifts": max(0, len(shifts) - len(headline)), "quiet": quiet,
        "narratives": [_narrative_section(n, rows, weeks_shown, limits) for n in narratives],
        "new_terms": [{"term": display_text(t["term"], 40), "docs": t["docs"], "outlets": t["new_outlets"]} for t in rows["new_terms"]],
        "new_outlets": [{"outlet": display_text(o["outlet"], 60), "articles": o["articles"]} for o in rows["new_outlets"]],
        "quality": {
            "feeds_failed": [{"feed": display_text(f["feed_id"], 60), "polls": f["failed_polls"],
                              "error": display_text(f["last_error"], 160)} for f in rows["feed_failures"]],
            "polls": polls["polls"], "failed_polls": polls["failed"], "page_errors": polls["page_errors"],
            "fallbacks": polls["fallbacks"], "pages_fetched": polls["pages_fetched"],
            "no_text": polls["no_text"],
            "pages_without_text": [{"feed": display_text(p["feed_id"], 60), "url": link_url(p["url"]),
                                    "shown": display_text(p["url"], 100)} for p in rows["pages_without_text"]],
            "exact_copies": header["exact_copies"] or 0,
            "copy_share": (header["exact_copies"] or 0) / articles if articles else None,
            "reprint_share": 1 - (header["stories"] or 0) / articles if articles else None,
            "undated": header["undated"] or 0,
        },
        "first_week": header["first_week"], "thin_below": limits.reference_min_articles,
        "reproduce": [{"section": name.replace("_", " "), "sql": sql.replace("$week", f"'{iso_week}'")}
                      for name, sql in queries.items() if name not in NOT_REPRODUCED],
    }


def subject_line(context: dict, prefix: str) -> str:
    """The subject: prefix, week, and the first shift's figure (or that the week was quiet)."""
    first = context["shifts"][0]["statement"] if context["shifts"] else "no new shift"
    return display_text(f"{prefix} {context['iso_week']}: {first}", 160)


def render(context: dict, subject_prefix: str = "mediamon weekly digest") -> RenderedDigest:
    """The HTML (CSS inlined, one column, no script, no remote resource) and plain-text twins of a digest."""
    env = _env()
    subject = subject_line(context, subject_prefix)
    raw = env.get_template("digest.html.j2").render(subject=subject, **context)
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    html = inliner.inline(raw)
    text = env.get_template("digest.txt.j2").render(subject=subject, **context)
    return RenderedDigest(context["iso_week"], subject, html, text)


def render_index(entries: list[dict]) -> str:
    """reports/index.html: every archived digest, newest first (entries have iso_week, href, subject)."""
    raw = _env().get_template("index.html.j2").render(entries=sorted(entries, key=lambda e: e["iso_week"], reverse=True))
    return css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False).inline(raw)
