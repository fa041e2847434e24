"""How well the narrative and frame rules agree with readers: precision, recall and F1, and every miss and false
label with the rule and words behind it (`mediamon narratives evaluate`). No I/O here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .analysis import AnalysisConfig, analyse
from .normalize import to_simplified
from .rules import matched_words


@dataclass(frozen=True)
class Item:
    """One reader-labelled item: its text and what the readers agreed it covers (`disputed`: left out of scores)."""

    id: str
    title: str
    text: str
    lang: str
    narratives: frozenset[str]
    disputed: frozenset[str] = frozenset()
    frames: frozenset[str] | None = None          # None: the file gives no frames for this item
    frames_disputed: frozenset[str] = frozenset()
    frame_narratives: frozenset[str] | None = None  # the narratives whose frames readers labelled (None: all)


@dataclass
class Score:
    """Counts for one narrative or frame."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float | None:
        """tp / (tp + fp)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """tp / (tp + fn)."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)


@dataclass(frozen=True)
class Error:
    """A miss (the readers say yes, the rules no) or a false label (the rules say yes, the readers no)."""

    kind: str          # "miss" | "false"
    name: str          # narrative, or narrative.frame
    item: Item
    rule: str | None
    matched: tuple[str, ...]


@dataclass
class Report:
    """Scores per narrative and per frame, and the errors behind them."""

    narratives: dict[str, Score] = field(default_factory=dict)
    frames: dict[str, Score] = field(default_factory=dict)
    errors: list[Error] = field(default_factory=list)
    items: int = 0
    framed_items: int = 0
    by_lang: dict[str, dict[str, Score]] = field(default_factory=dict)


def item_from_record(record: dict) -> Item:
    """An Item from one JSON record (id, title, text, lang, narratives; optional disputed, frames, frames_disputed,
    frame_narratives)."""
    def names(key: str) -> frozenset[str]:
        """A list field as a set of names."""
        value = record.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of names")
        return frozenset(value)

    for key in ("id", "title", "text", "lang", "narratives"):
        if key not in record:
            raise KeyError(f"missing {key!r}")
    return Item(str(record["id"]), str(record["title"] or ""), str(record["text"] or ""), str(record["lang"]),
                names("narratives"), names("disputed"), names("frames") if "frames" in record else None,
                names("frames_disputed"), names("frame_narratives") if "frame_narratives" in record else None)


def _frame_key(name: str, known: dict[str, str]) -> str:
    """'narrative.frame' for a frame given as either 'frame' or 'narrative.frame'."""
    return name if "." in name else f"{known.get(name, '?')}.{name}"


def evaluate(items: list[Item], config: AnalysisConfig) -> Report:
    """Label every item with the rules and compare with the readers' labels."""
    rulebook = config.rulebook
    narratives = [n.name for n in rulebook.narratives]
    frame_of = {f.name: n.name for n in rulebook.narratives for f in n.frames}
    frames = [f"{n.name}.{f.name}" for n in rulebook.narratives for f in n.frames]
    report = Report({n: Score() for n in narratives}, {f: Score() for f in frames})
    mentions = {n.name: n.mention for n in rulebook.narratives}
    mentions |= {f"{n.name}.{f.name}": f.mention for n in rulebook.narratives for f in n.frames}
    for item in items:
        report.items += 1
        title, text = to_simplified(item.title), to_simplified(item.text)
        analysis = analyse(title, text, "en" if item.lang == "en" else "zh", config)
        doc = rulebook.document(title, text)

        def seen(name: str, doc=doc) -> tuple[str, ...]:
            """Where the narrative's (frame's) mention matched in a missed item: mentions that were not enough."""
            mention = mentions.get(name)
            return matched_words(mention.evaluate(doc), doc) if mention is not None else ()

        got = {(l.narrative if l.frame is None else f"{l.narrative}.{l.frame}"): l for l in analysis.labels}
        lang = report.by_lang.setdefault(item.lang, {n: Score() for n in narratives})
        for n in narratives:
            if n in item.disputed:
                continue
            _count(report, report.narratives[n], n, n in item.narratives, got.get(n), item, seen, lang[n])
        if item.frames is None:
            continue
        report.framed_items += 1
        gold_frames = {_frame_key(f, frame_of) for f in item.frames}
        disputed = {_frame_key(f, frame_of) for f in item.frames_disputed}
        for f in frames:
            narrative = f.split(".")[0]
            if item.frame_narratives is not None and narrative not in item.frame_narratives:
                continue
            if f not in disputed and narrative not in item.disputed:
                _count(report, report.frames[f], f, f in gold_frames, got.get(f), item, seen)
    return report


def _count(report: Report, score: Score, name: str, gold: bool, label, item: Item, seen,
           also: Score | None = None) -> None:
    """Add one judgement to a score (and a per-language score), recording errors."""
    for s in (score, also) if also is not None else (score,):
        s.tp += gold and label is not None
        s.fp += label is not None and not gold
        s.fn += gold and label is None
    if gold and label is None:
        report.errors.append(Error("miss", name, item, None, seen(name)))
    elif label is not None and not gold:
        report.errors.append(Error("false", name, item, label.rule, label.matched))


def _num(x: float | None) -> str:
    """Two decimals, or a dash when undefined."""
    return "   –" if x is None else f"{x:.2f}"


def format_report(report: Report, show_errors: bool = True) -> str:
    """The report as text: scores per narrative, per language, per frame, then each miss and false label."""
    lines = [f"{report.items} items; precision, recall and F1 against the readers' labels (disputed ones left out)",
             "", f"{'narrative':32s} {'P':>5s} {'R':>5s} {'F1':>5s}   tp  fp  fn"]
    for name, s in report.narratives.items():
        lines.append(f"{name:32s} {_num(s.precision):>5s} {_num(s.recall):>5s} {_num(s.f1):>5s} {s.tp:4d}{s.fp:4d}{s.fn:4d}")
    for lang, scores in sorted(report.by_lang.items()):
        lines.append(f"  {lang}: " + "; ".join(f"{n} P {_num(s.precision).strip()} R {_num(s.recall).strip()} "
                                              f"({s.tp + s.fn} positive)" for n, s in scores.items()))
    if report.framed_items:
        lines += ["", f"{report.framed_items} items with frames", f"{'frame':48s} {'P':>5s} {'R':>5s} {'F1':>5s}   tp  fp  fn"]
        for name, s in report.frames.items():
            lines.append(f"{name:48s} {_num(s.precision):>5s} {_num(s.recall):>5s} {_num(s.f1):>5s} {s.tp:4d}{s.fp:4d}{s.fn:4d}")
    if show_errors and report.errors:
        counts = Counter(e.kind for e in report.errors)
        lines += ["", f"{counts['miss']} misses (readers: yes; rules: no) and {counts['false']} false labels "
                      "(rules: yes; readers: no)"]
        for e in sorted(report.errors, key=lambda e: (e.kind, e.name, e.item.id)):
            title = " ".join(e.item.title.split())[:90]
            if e.kind == "miss":
                lines.append(f"  MISS  {e.name:36s} {e.item.id}: {title}")
                lines.append("        no rule matched; " + (f"mentions only: {'; '.join(e.matched)}" if e.matched
                                                             else "no sentence matches its mention"))
            else:
                lines.append(f"  FALSE {e.name:36s} {e.item.id}: {title}")
                lines.append(f"        rule {e.rule}: {'; '.join(e.matched)}")
    return "\n".join(lines)
