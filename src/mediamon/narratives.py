"""Narratives and frames as Boolean rules (config/narratives.yaml): which an article covers, by which rule and words.

An article carries a narrative when one of the narrative's rules matches and none of its exclusions
does; it carries a frame of a carried narrative the same way. Rules are written in the query language
of `rules.py`, with salience built in: the headline and lead count on their own (`hlp:`), the body only
when the narrative runs through several sentences (`ATLEAST2`), so a passing mention is not coverage.
No I/O here: the file is read by `load_rulebook`, the rest works on text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .models import Label
from .rules import (
    Compiled,
    Document,
    Match,
    Node,
    PieceIndex,
    RuleError,
    compile_query,
    concept_node,
    fields_in,
    matched_words,
)


class _Strict(BaseModel):
    """A block of narratives.yaml that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TextSettings(_Strict):
    """Lines that are not the article's own words: ignored by rules (lists of other stories, credits, captions)."""

    skip_lines: tuple[str, ...] = ()
    stop_at: tuple[str, ...] = ()
    strip: tuple[str, ...] = ()

    @field_validator("skip_lines", "stop_at", "strip")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each entry is a regular expression."""
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value


class FrameSpec(_Strict):
    """A frame as written: its label, the sentence it is argued in (`mention`), rules and exclusions."""

    label: str
    mention: str | None = None
    rules: dict[str, str] = Field(min_length=1)
    exclude: dict[str, str] = {}


class NarrativeSpec(FrameSpec):
    """A narrative as written, with its frames; `evidence` (optional) is what the digest's evidence sentences
    should match first, when the mention alone is broader than what a reader calls the story."""

    mention: str
    evidence: str | None = None
    frames: dict[str, FrameSpec] = {}


class MeasureSettings(_Strict):
    """Thresholds of the weekly measures (narratives.yaml `measures:`), shared by the SQL and the digest."""

    lookback_weeks: int = Field(8, ge=1, le=52)       # "previous weeks": the pooled reference and the burst history
    prior_weight: float = Field(300, gt=0)            # alpha_0 of the informative Dirichlet prior (Monroe et al. 2008)
    term_z: float = Field(4.0, gt=0)                  # |z| a term needs to be called rising/falling (many terms are tested)
    term_min_docs: int = Field(3, ge=1)               # ... and the stories it must appear in this week
    term_min_outlets: int = Field(2, ge=1)            # ... from this many outlets
    new_term_min_docs: int = Field(4, ge=1)           # a never-seen term needs this many stories ...
    new_term_min_outlets: int = Field(2, ge=1)        # ... from this many outlets
    # ... and is rarer in general language than this share (jieba frequency 30 of ~60 million): a name, not a word
    new_term_max_background: float = Field(5e-7, ge=0, le=1)
    # Terms are judged only when the previous weeks pooled hold at least this share of this week's term-documents:
    # against a history of a few articles, every word of a busy week would look new or rising. A burst likewise
    # needs the previous weeks to have heard, on average, this share of this week's outlets.
    min_reference_ratio: float = Field(0.5, ge=0)
    burst_z: float = Field(3.0, gt=0)                 # volume z against the previous weeks' mean and spread
    burst_min_articles: int = Field(8, ge=1)
    min_history_weeks: int = Field(4, ge=1)           # weeks of history before a burst or a share change is judged
    # Frame and share shifts: this week against the previous `lookback_weeks` weeks pooled (the reference).
    frame_z: float = Field(2.84, gt=0)                # two-proportion z for a frame's share against the reference
    frame_min_change: float = Field(0.15, gt=0, le=1)
    frame_min_articles: int = Field(4, ge=1)          # articles of the narrative this week ...
    reference_min_articles: int = Field(10, ge=1)     # ... and in the reference weeks; the digest draws a week of fewer
                                                      # on-topic articles light in the share trend
    share_z: float = Field(2.84, gt=0)                # the same test for a narrative's share of on-topic coverage
    share_min_change: float = Field(0.10, gt=0, le=1)


class RulesFile(_Strict):
    """The whole of narratives.yaml."""

    text: TextSettings = TextSettings()
    concepts: dict[str, str | list[str]] = {}
    narratives: dict[str, NarrativeSpec] = Field(min_length=1)
    measures: MeasureSettings = MeasureSettings()


@dataclass(frozen=True)
class RuleSet:
    """A narrative's or frame's compiled rules."""

    name: str
    label: str
    mention: Compiled | None
    rules: tuple[tuple[str, Compiled], ...]
    exclude: tuple[tuple[str, Compiled], ...]
    frames: tuple[RuleSet, ...] = ()
    evidence: Compiled | None = None

    def verdict(self, doc: Document) -> tuple[str, Match] | None:
        """(the first rule that matches, the union of every matching rule's hits), or None (no rule, or excluded)."""
        if any(q.evaluate(doc).matched for _, q in self.exclude):
            return None
        first, hits = None, []
        for name, query in self.rules:
            match = query.evaluate(doc)
            if match.matched:
                first = first or name
                hits.extend(match.hits)
        return (first, Match(True, tuple(dict.fromkeys(hits)))) if first else None


@dataclass(frozen=True)
class Rulebook:
    """Every narrative with its frames, compiled, plus what rules ignore in a text and the measures' thresholds."""

    narratives: tuple[RuleSet, ...]
    skip_lines: re.Pattern[str] | None
    stop_at: re.Pattern[str] | None
    measures: MeasureSettings
    source: str
    strip: re.Pattern[str] | None = None
    index: PieceIndex | None = None  # every rule's literal pieces, found in a document in one pass

    def narrative(self, name: str) -> RuleSet:
        """One narrative by name."""
        return next(n for n in self.narratives if n.name == name)

    def document(self, title: str, text: str) -> Document:
        """The simplified-script title and text as rules see them: cut where the article's own words end
        (`stop_at`), without lines that are not its words (`skip_lines`)."""
        if self.stop_at and (end := self.stop_at.search(text)):
            text = text[:end.start()]
        lines = (line.strip() for line in text.split("\n"))
        if self.strip:
            lines = (self.strip.sub("", line).strip() for line in lines)
        kept = [line for line in lines if line and not (self.skip_lines and self.skip_lines.search(line))]
        return Document.from_text(title, "\n".join(kept), self.index)

    def label(self, doc: Document) -> tuple[Label, ...]:
        """The narratives and frames a document carries, each with its rule, salience and the words behind it."""
        labels = []
        for narrative in self.narratives:
            found = narrative.verdict(doc)
            if found is None:
                continue
            labels.append(_label(narrative.name, None, *found, doc))
            for frame in narrative.frames:
                if (framed := frame.verdict(doc)) is not None:
                    labels.append(_label(narrative.name, frame.name, *framed, doc))
        return tuple(labels)


def salience(match: Match, doc: Document) -> float:
    """How much of the article the match covers: 3 for the headline, 2 for a lead sentence, 1 for any other."""
    return float(sum(3 if doc.sentences[i].in_title else 2 if doc.sentences[i].in_lead else 1
                     for i in match.sentences()))


def _label(narrative: str, frame: str | None, rule: str, match: Match, doc: Document) -> Label:
    """A stored label: which rule made it and the words it matched, where."""
    return Label(narrative, frame, salience(match, doc), matched_words(match, doc), rule)


def _line(root: yaml.Node | None, loc: tuple[Any, ...]) -> str:
    """':LINE' of the YAML node at a location, or '' when it cannot be found."""
    node = root
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        node = next((v for k, v in node.value if k.value == str(key)), None)
        if node is None:
            break
    return f":{node.start_mark.line + 1}" if node is not None else ""


def _compile_file(spec: RulesFile, root: yaml.Node | None, path: Path, simplify) -> Rulebook:
    """Compile every concept and rule; the first problem becomes a ConfigError naming file, line, rule and why."""
    concepts: dict[str, Node] = {}
    interned: dict[Node, Node] = {}  # one table for the file: rules share the subtrees of the concepts they use

    def fail(loc: tuple[Any, ...], exc: Exception) -> ConfigError:
        """A ConfigError at a location of the file."""
        return ConfigError(f"{path}{_line(root, loc)}: {'.'.join(map(str, loc))}: {exc}")

    for name, value in spec.concepts.items():
        try:
            concepts[name] = concept_node(name, value)
        except RuleError as exc:
            raise fail(("concepts", name), exc) from None

    def build(name: str, body: FrameSpec, loc: tuple[Any, ...], frames=()) -> RuleSet:
        """Compile one narrative or frame; its `mention` is @mention inside its own rules."""
        local = dict(concepts)
        mention = None
        if body.mention is not None:
            try:
                mention = compile_query(body.mention, concepts, simplify, interned, mention=True)
                if scoped := fields_in(mention.root):
                    # A mention is asked of one sentence at a time: a field would make every sentence match.
                    raise RuleError(f"a mention is one sentence's query and cannot use {', '.join(sorted(scoped))}: "
                                    f"put a headline or lead test in a rule")
                local["mention"] = mention.root
            except RuleError as exc:
                raise fail((*loc, "mention"), exc) from None
        compiled = {}
        for part in ("rules", "exclude"):
            compiled[part] = []
            for rule, text in getattr(body, part).items():
                try:
                    compiled[part].append((rule, compile_query(text, local, simplify, interned)))
                except RuleError as exc:
                    raise fail((*loc, part, rule), exc) from None
        evidence = None
        if getattr(body, "evidence", None):
            try:
                evidence = compile_query(body.evidence, local, simplify, interned)
            except RuleError as exc:
                raise fail((*loc, "evidence"), exc) from None
        return RuleSet(name, body.label, mention, tuple(compiled["rules"]), tuple(compiled["exclude"]), tuple(frames),
                       evidence)

    narratives = []
    for name, body in spec.narratives.items():
        frames = [build(f, fb, ("narratives", name, "frames", f)) for f, fb in body.frames.items()]
        narratives.append(build(name, body, ("narratives", name), frames))
    join = (lambda patterns: re.compile("|".join(f"(?:{p})" for p in patterns), re.I | re.M) if patterns else None)
    queries = [q for n in narratives for s in (n, *n.frames)
               for q in (s.mention, s.evidence, *(c for _, c in s.rules), *(c for _, c in s.exclude)) if q is not None]
    return Rulebook(tuple(narratives), join(spec.text.skip_lines), join(spec.text.stop_at), spec.measures, str(path),
                    join(spec.text.strip), PieceIndex(q.root for q in queries))


def load_rulebook(path: Path, simplify=lambda s: s) -> Rulebook:
    """Read, validate and compile narratives.yaml; ConfigError names the file, line, rule and problem."""
    try:
        text = path.read_text("utf-8")
        root, doc = yaml.compose(text), yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    try:
        spec = RulesFile.model_validate(doc or {})
    except ValidationError as exc:
        raise ConfigError("invalid narratives file:\n  " + "\n  ".join(
            f"{path}{_line(root, tuple(e['loc']))}: {'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}"
            for e in exc.errors())) from None
    return _compile_file(spec, root, path, simplify)


def catalog_rows(rulebook: Rulebook) -> list[dict]:
    """The configured narratives and frames as rows of the warehouse's narrative_catalog, with their rules."""
    rows = []
    for n in rulebook.narratives:
        for ruleset, frame in ((n, None), *((f, f.name) for f in n.frames)):
            rows.append({"narrative": n.name, "frame": frame, "label": ruleset.label,
                         "mention": ruleset.mention.source if ruleset.mention else None,
                         "rules": [f"{name}: {q.source}" for name, q in ruleset.rules]
                                  + [f"exclude {name}: {q.source}" for name, q in ruleset.exclude]})
    return rows
