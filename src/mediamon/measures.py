"""What shifted in a week: notable measures as numbered statements, and the sentences that carry them.

The weekly figures themselves are SQL (warehouse/measures.sql); this module reads their rows, decides
which count as shifts, phrases them, and ranks evidence sentences. The statistics are mirrored here
in plain Python (log_odds_z, prop_z, burst_z, jsd) so tests can check the SQL against hand-computed cases.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .analysis import AnalysisConfig
from .normalize import HAN, to_simplified
from .terms import Lexicon

KIND_ORDER = ("burst", "share", "frame", "new_term", "rising_term", "falling_term")


def log_odds_delta(y_i: float, n_i: float, y_j: float, n_j: float, a_w: float, a_0: float) -> float:
    """Monroe et al. (2008) log-odds ratio of a term, focus group i against reference j, with prior a_w of a_0."""
    return math.log((y_i + a_w) / (n_i + a_0 - y_i - a_w)) - math.log((y_j + a_w) / (n_j + a_0 - y_j - a_w))


def log_odds_z(y_i: float, n_i: float, y_j: float, n_j: float, a_w: float, a_0: float) -> float:
    """The log-odds ratio divided by its approximate standard deviation sqrt(1/(y_i+a_w) + 1/(y_j+a_w))."""
    return log_odds_delta(y_i, n_i, y_j, n_j, a_w, a_0) / math.sqrt(1 / (y_i + a_w) + 1 / (y_j + a_w))


def prop_z(x1: float, n1: float, x0: float, n0: float) -> float | None:
    """Pooled two-proportion z of x1/n1 against x0/n0 (None when undefined)."""
    if n1 <= 0 or n0 <= 0 or not 0 < x1 + x0 < n1 + n0:
        return None
    pooled = (x1 + x0) / (n1 + n0)
    return (x1 / n1 - x0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))


def burst_z(x: float, history: list[float]) -> float | None:
    """This week's count against the history's mean, in units of max(sd, sqrt(mean), 1)."""
    if not history:
        return None
    mean = sum(history) / len(history)
    sd = math.sqrt(sum((h - mean) ** 2 for h in history) / len(history))
    return (x - mean) / max(sd, math.sqrt(mean), 1.0)


def jsd(p: dict[str, float], q: dict[str, float]) -> float:
    """Jensen-Shannon divergence, base 2, of two distributions given as counts or probabilities."""
    sp, sq = sum(p.values()), sum(q.values())
    total = 0.0
    for term in p.keys() | q.keys():
        a, b = p.get(term, 0) / sp, q.get(term, 0) / sq
        m = (a + b) / 2
        total += (a / 2 * math.log2(a / m) if a else 0) + (b / 2 * math.log2(b / m) if b else 0)
    return total


@dataclass(frozen=True)
class Evidence:
    """A sentence that carries a shift, and the article it comes from."""

    sentence: str
    title: str
    outlet: str
    url: str
    article_id: str


@dataclass
class Shift:
    """One notable change this week, with its figure and the terms its evidence must contain."""

    kind: str               # burst | share | frame | new_term | rising_term | falling_term
    narrative: str
    narrative_label: str
    statement: str          # always carries its number
    figure: str             # the headline number, e.g. "z = 4.2" or "+40 pts"
    strength: float         # |z| (new terms: their story count), for ranking within a kind
    frame: str | None = None
    term: str | None = None
    evidence_terms: tuple[str, ...] = ()
    evidence: list[Evidence] = field(default_factory=list)


def _pct(x: float | None) -> str:
    """A share as a whole percentage."""
    return "n/a" if x is None else f"{100 * x:.0f}%"


def narrative_shifts(rows: list[dict], top_terms: dict[str, list[str]]) -> list[Shift]:
    """Bursts and share shifts from v_weekly_narratives rows of one week."""
    shifts = []
    for r in rows:
        terms = tuple(top_terms.get(r["narrative"], ()))
        if r["is_burst"]:
            shifts.append(Shift(
                "burst", r["narrative"], r["label"],
                f"{r['label']}: {r['articles']} articles this week against an average of {r['prev_mean']:.1f} "
                f"over the previous {r['history_weeks']} weeks (burst z = {r['burst_z']:.1f}).",
                f"z = {r['burst_z']:.1f}", abs(r["burst_z"]), evidence_terms=terms))
        if r["is_share_shift"]:
            change = r["share"] - r["ref_share"]
            shifts.append(Shift(
                "share", r["narrative"], r["label"],
                f"{r['label']} {'rose' if change > 0 else 'fell'} to {_pct(r['share'])} of on-topic coverage, from "
                f"{_pct(r['ref_share'])} over the previous {r['history_weeks']} weeks "
                f"({100 * change:+.0f} points, z = {r['ref_z']:.1f}; last week {_pct(r['prev_share'])}).",
                f"{100 * change:+.0f} pts", abs(r["ref_z"]), evidence_terms=terms))
    return shifts


def frame_shifts(rows: list[dict], labels: dict[str, str]) -> list[Shift]:
    """Frame-mix shifts from v_weekly_frames rows of one week."""
    shifts = []
    for r in rows:
        if not r["is_shift"]:
            continue
        change = r["share"] - r["ref_share"]
        shifts.append(Shift(
            "frame", r["narrative"], labels.get(r["narrative"], r["narrative"]),
            f"{labels.get(r['narrative'], r['narrative'])}: the “{r['label']}” frame {'grew' if change > 0 else 'shrank'} "
            f"to {_pct(r['share'])} of the narrative's articles ({r['articles']} of {r['narrative_articles']}), from "
            f"{_pct(r['ref_share'])} in the previous weeks ({r['ref_articles']} of {r['ref_narrative_articles']}; "
            f"z = {r['ref_z']:.1f}; last week {_pct(r['prev_share'])}).",
            f"{100 * change:+.0f} pts", abs(r["ref_z"]), frame=r["frame"]))
    return shifts


def term_shifts(rows: list[dict], labels: dict[str, str], lookback_weeks: int) -> list[Shift]:
    """New, rising and falling terms from v_weekly_terms rows of one week (each term once, strongest first)."""
    shifts, seen = [], set()
    for r in sorted(rows, key=lambda r: (not r["is_new_entrant"], r["narrative"] != "all", -abs(r["z_prev"] or 0), r["term"], r["narrative"])):
        where = "all on-topic coverage" if r["narrative"] == "all" else labels.get(r["narrative"], r["narrative"])
        key = (r["term"], "new" if r["is_new_entrant"] else "rising" if r["is_rising"] else "falling")
        if key in seen:
            continue
        if r["is_new_entrant"] and r["narrative"] == "all":
            shifts.append(Shift(
                "new_term", r["narrative"], where,
                f"New term “{r['term']}”: in {r['docs']} stories from {r['new_outlets']} outlets this week, "
                f"never seen before and absent from the seed articles.",
                f"{r['docs']} stories", float(r["docs"]), term=r["term"], evidence_terms=(r["term"],)))
        elif r["is_rising"] and r["narrative"] != "all":
            shifts.append(Shift(
                "rising_term", r["narrative"], where,
                f"“{r['term']}” rose in {where}: {r['docs']} of {r['total']} term-stories this week against "
                f"{r['prev_docs']} of {r['prev_total']} in the previous {lookback_weeks} weeks (z = {r['z_prev']:.1f}).",
                f"z = {r['z_prev']:.1f}", abs(r["z_prev"]), term=r["term"], evidence_terms=(r["term"],)))
        elif r["is_falling"] and r["narrative"] != "all":
            shifts.append(Shift(
                "falling_term", r["narrative"], where,
                f"“{r['term']}” fell in {where}: {r['docs']} of {r['total']} term-stories this week against "
                f"{r['prev_docs']} of {r['prev_total']} in the previous {lookback_weeks} weeks (z = {r['z_prev']:.1f}).",
                f"z = {r['z_prev']:.1f}", abs(r["z_prev"]), term=r["term"], evidence_terms=(r["term"],)))
        else:
            continue
        seen.add(key)
    return shifts


def rank_shifts(shifts: list[Shift]) -> list[Shift]:
    """Shifts in reading order: by kind (volume, share, frames, then terms), strongest first within a kind."""
    return sorted(shifts, key=lambda s: (KIND_ORDER.index(s.kind), -s.strength))


def headline_shifts(shifts: list[Shift], limit: int = 5) -> list[Shift]:
    """Up to `limit` shifts for a digest's first screen: strongest first, at most two of a kind."""
    chosen, per_kind = [], {}
    for s in rank_shifts(shifts):
        if per_kind.get(s.kind, 0) < 2 and len(chosen) < limit:
            chosen.append(s)
            per_kind[s.kind] = per_kind.get(s.kind, 0) + 1
    return chosen


def term_variants(terms: tuple[str, ...], lexicon: Lexicon) -> dict[str, list[str]]:
    """Every surface form (lower case, simplified) of each canonical term, from the alias table."""
    variants: dict[str, set[str]] = {t: {t.lower()} for t in terms}
    for variant, canonical in lexicon.alias.items():
        if canonical in variants:
            variants[canonical].add(variant)
            variants[canonical].add(variant.replace("-", " "))
    return {t: sorted(v, key=len, reverse=True) for t, v in variants.items()}


def _contains(sentence: str, variant: str) -> bool:
    """Whether a lower-cased sentence contains a term variant (whole words for Latin script)."""
    if HAN.search(variant):
        return variant in sentence
    return re.search(r"(?<![a-z0-9])" + re.escape(variant) + r"(?![a-z0-9])", sentence) is not None


def _queries(shift: Shift, config: AnalysisConfig):
    """(the narrative's mention query, the frame's, the narrative's preferred evidence) for a shift; None where
    there is none ('all', no frame, no evidence query)."""
    if shift.narrative == "all":
        return None, None, None
    narrative = config.rulebook.narrative(shift.narrative)
    frame = next((f for f in narrative.frames if f.name == shift.frame), None) if shift.frame else None
    return narrative.mention, (frame.mention if frame is not None else None), narrative.evidence


def _illustrates(shift: Shift, doc, i: int, narrative, frame, has_terms: bool) -> bool:
    """Whether sentence i can illustrate the shift: a volume or share shift needs a sentence about the narrative;
    a frame shift a sentence arguing the frame, in a paragraph about the narrative; a term shift the term, in a
    paragraph about the narrative (any narrative for a term new to all coverage)."""
    sentence = frozenset((i,))
    paragraph = frozenset(j for j, s in enumerate(doc.sentences) if s.paragraph == doc.sentences[i].paragraph)
    if shift.kind in ("burst", "share"):
        return narrative is not None and narrative.evaluate(doc, sentence).matched
    if shift.kind == "frame":
        return (frame is not None and frame.evaluate(doc, sentence).matched
                and narrative is not None and narrative.evaluate(doc, paragraph).matched)
    return has_terms and (narrative is None or narrative.evaluate(doc, paragraph).matched)


def best_sentences(articles: list[dict], shift: Shift, config: AnalysisConfig, limit: int = 3) -> list[Evidence]:
    """Sentences that illustrate a shift and mention what it is about (see `_illustrates`), those with more of the
    shift's terms first, of readable length, at most one per story, shown in the article's own script.

    `articles` rows have article_id, story_id, title, outlet, url, text and text_simplified.
    """
    narrative, frame, preferred = _queries(shift, config)
    rulebook = config.rulebook
    variants = term_variants(shift.evidence_terms, config.lexicon) if shift.evidence_terms else {}
    scored = []
    for a in articles:
        doc = rulebook.document("", a["text_simplified"] or "")
        shown = rulebook.document("", a["text"] or "")
        same = len(shown.sentences) == len(doc.sentences)  # conversion kept the split: show the original script
        for i, sentence in enumerate(doc.sentences):
            plain = sentence.text
            if not 12 <= len(plain) <= 400:
                continue
            low = plain.lower()
            hits = sum(1 for forms in variants.values() if any(_contains(low, f) for f in forms))
            if not _illustrates(shift, doc, i, narrative, frame, hits > 0):
                continue
            fit = -abs(min(max(len(plain), 40), 160) - len(plain))  # readable: about 40-160 characters
            core = preferred is not None and shift.kind in ("burst", "share") and preferred.evaluate(doc, frozenset((i,))).matched
            scored.append((core, hits, fit, a, shown.sentences[i].text if same else plain))
    scored.sort(key=lambda s: (-s[0], -s[1], -s[2], s[3]["article_id"]))
    chosen, stories, said = [], set(), set()
    for _core, _hits, _, a, text in scored:
        key = to_simplified(text).lower()
        if a["story_id"] in stories or key in said:  # one sentence per story, and no sentence twice
            continue
        stories.add(a["story_id"])
        said.add(key)
        chosen.append(Evidence(text, a["title"], a["outlet"], a["url"], a["article_id"]))
        if len(chosen) == limit:
            break
    return chosen
