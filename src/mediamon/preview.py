"""What an edit of config/ would change on the stored coverage, before `narratives rebuild` writes it: each
article that would gain or lose a narrative, with the rule and words behind a gain (`mediamon narratives
preview`). Reader labels say how good the rules are on a sample; this says what they would do to the
warehouse. No I/O here: the rows come from the warehouse's read-only connection."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from .analysis import AnalysisConfig, labels_stored


@dataclass(frozen=True)
class Change:
    """One article whose narratives would change: what it would gain or lose, and why it would gain."""

    article_id: str
    title: str
    outlet: str
    url: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]
    because: dict[str, str]  # gained narrative -> "rule: words"


@dataclass
class Preview:
    """Stored and proposed counts per narrative, and the articles that change."""

    articles: int = 0
    stored: Counter = field(default_factory=Counter)
    proposed: Counter = field(default_factory=Counter)
    changes: list[Change] = field(default_factory=list)


def preview(rows: Iterable[dict], config: AnalysisConfig) -> Preview:
    """Relabel stored articles with `config` and compare with the narratives stored for them."""
    report = Preview()
    for row in rows:
        report.articles += 1
        labels = [l for l in labels_stored(row["title"], row["script"], row["text_simplified"], config)
                  if l.frame is None]
        stored, proposed = set(row["narratives"]), {l.narrative for l in labels}
        report.stored.update(stored)
        report.proposed.update(proposed)
        if stored != proposed:
            because = {l.narrative: f"{l.rule}: {'; '.join(l.matched)}" for l in labels
                       if l.narrative in proposed - stored}
            report.changes.append(Change(row["article_id"], row["title"] or "", row.get("outlet") or "",
                                         row.get("url") or "", tuple(sorted(proposed - stored)),
                                         tuple(sorted(stored - proposed)), because))
    return report


def format_preview(report: Preview, examples: int = 10) -> str:
    """The counts per narrative, then up to `examples` gains and losses of each, with the rule behind a gain."""
    names = sorted(set(report.stored) | set(report.proposed))
    lines = [f"{report.articles} stored articles relabelled; {len(report.changes)} would change",
             "", f"{'narrative':32} {'stored':>7} {'new':>7} {'gained':>7} {'lost':>7}"]
    for name in names:
        gained = sum(name in c.gained for c in report.changes)
        lost = sum(name in c.lost for c in report.changes)
        lines.append(f"{name:32} {report.stored[name]:7} {report.proposed[name]:7} {gained:7} {lost:7}")
    for name in names:
        for kind, picked in (("GAIN", [c for c in report.changes if name in c.gained]),
                             ("LOSS", [c for c in report.changes if name in c.lost])):
            if picked:
                lines.append(f"\n{kind} {name} ({len(picked)}{', first ' + str(examples) if len(picked) > examples else ''}):")
            for change in picked[:examples]:
                lines.append(f"  {change.title[:80]}  [{change.outlet}] {change.url}")
                if name in change.because:
                    lines.append(f"      {name}: {change.because[name]}")
    return "\n".join(lines)
