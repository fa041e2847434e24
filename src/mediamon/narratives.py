"""Narratives and frames from configuration; per-article scores with the terms that produced them."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .models import Analysis, Article, Label
from .normalize import to_simplified
from .terms import CONFIG_DIR, load_lexicon, tokens

TOP_TERMS = 50  # terms stored per article: bounded storage; matched narrative terms are always kept
COUNT_CAP = 3  # a term repeated more than three times adds nothing: long articles do not win by length


class FrameConfig(BaseModel):
    """One frame of a narrative."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    min_score: float = Field(3, gt=0)
    terms: dict[str, float] = Field(min_length=1)


class NarrativeConfig(BaseModel):
    """One tracked narrative with its weighted terms and frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    min_score: float = Field(4, gt=0)
    terms: dict[str, float] = Field(min_length=1)
    frames: dict[str, FrameConfig] = {}


@dataclass(frozen=True)
class Score:
    """A narrative's or frame's score for one article, and the terms behind it (term, count, weight)."""

    name: str
    score: float
    matched: tuple[tuple[str, int, float], ...]

    def explain(self) -> str:
        """e.g. 'export controls×2 (w3) + H20×1 (w2) = 8'."""
        parts = " + ".join(f"{t}×{n} (w{w:g})" for t, n, w in self.matched)
        return f"{parts} = {self.score:g}"


@lru_cache(maxsize=2)
def load_narratives(path: Path = CONFIG_DIR / "narratives.yaml") -> dict[str, NarrativeConfig]:
    """The narratives, with every term mapped to its canonical form through the alias table."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))["narratives"]
        narratives = {}
        for name, body in doc.items():
            try:
                narratives[name] = NarrativeConfig.model_validate(body)
            except ValidationError as exc:
                raise ConfigError(f"{path}: " + "; ".join(
                    f"{name}.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read narratives: {exc}") from exc
    lex = load_lexicon()

    def canon(terms: dict[str, float]) -> dict[str, float]:
        """Canonical terms; variants of one term keep the highest weight."""
        out: dict[str, float] = {}
        for term, weight in terms.items():
            key = lex.canonical(str(term))
            out[key] = max(out.get(key, 0), weight)
        return out

    return {
        name: n.model_copy(update={
            "terms": canon(n.terms),
            "frames": {f: fc.model_copy(update={"terms": canon(fc.terms)}) for f, fc in n.frames.items()},
        })
        for name, n in narratives.items()
    }


def _score(name: str, weights: dict[str, float], counts: dict[str, int]) -> Score:
    """Sum of weight x min(count, cap) over matched terms."""
    matched = sorted(((t, counts[t], w) for t, w in weights.items() if counts.get(t)),
                     key=lambda m: (-m[2] * min(m[1], COUNT_CAP), m[0]))
    return Score(name, sum(w * min(n, COUNT_CAP) for _, n, w in matched), tuple(matched))


class LabelSettings(BaseModel):
    """How many narratives and frames one article carries (narratives.yaml `labels:`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # A passing mention is not coverage: a second narrative needs this share of the article's strongest
    # narrative score, and a second frame this share of the narrative's strongest frame (near-ties keep both).
    secondary_narrative_ratio: float = Field(0.35, ge=0, le=1)
    secondary_frame_ratio: float = Field(0.6, ge=0, le=1)


def _strong(scores: list[Score], ratio: float) -> list[Score]:
    """The scores within `ratio` of the strongest, strongest first."""
    scores = sorted(scores, key=lambda s: (-s.score, s.name))
    return [s for s in scores if s.score >= ratio * scores[0].score] if scores else []


def score_article(counts: dict[str, int], narratives: dict[str, NarrativeConfig] | None = None,
                  settings: LabelSettings | None = None) -> tuple[list[Score], dict[str, list[Score]]]:
    """(narratives the article carries, frames it carries per narrative), strongest first."""
    narratives = narratives or load_narratives()
    settings = settings or load_label_settings()
    passing = [s for name, n in narratives.items() if (s := _score(name, n.terms, counts)).score >= n.min_score]
    carried = _strong(passing, settings.secondary_narrative_ratio)
    frames = {}
    for s in carried:
        n = narratives[s.name]
        fs = [f for fname, fc in n.frames.items() if (f := _score(fname, fc.terms, counts)).score >= fc.min_score]
        frames[s.name] = _strong(fs, settings.secondary_frame_ratio)
    return carried, frames


class MeasureSettings(BaseModel):
    """Thresholds of the weekly measures (narratives.yaml `measures:`), shared by the SQL and the digest."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    lookback_weeks: int = Field(8, ge=1, le=52)       # "previous weeks": the pooled reference and the burst history
    prior_weight: float = Field(500, gt=0)            # alpha_0 of the informative Dirichlet prior (Monroe et al. 2008)
    term_z: float = Field(4.0, gt=0)                  # |z| a term needs to be called rising/falling (many terms are tested)
    term_min_docs: int = Field(3, ge=1)               # ... and the stories it must appear in this week
    new_term_min_docs: int = Field(4, ge=1)           # a never-seen term needs this many stories ...
    new_term_min_outlets: int = Field(2, ge=1)        # ... from this many outlets
    burst_z: float = Field(3.0, gt=0)                 # volume z against the previous weeks' mean and spread
    burst_min_articles: int = Field(8, ge=1)
    min_history_weeks: int = Field(4, ge=1)           # weeks of history before a burst or a share change is judged
    # Frame and share shifts: this week against the previous `lookback_weeks` weeks pooled (the reference).
    frame_z: float = Field(2.84, gt=0)                # two-proportion z for a frame's share against the reference
    frame_min_change: float = Field(0.15, gt=0, le=1)
    frame_min_articles: int = Field(4, ge=1)          # articles of the narrative this week ...
    reference_min_articles: int = Field(12, ge=1)     # ... and in the reference weeks
    share_z: float = Field(2.84, gt=0)                # the same test for a narrative's share of on-topic coverage
    share_min_change: float = Field(0.10, gt=0, le=1)


@lru_cache(maxsize=2)
def load_measure_settings(path: Path = CONFIG_DIR / "narratives.yaml") -> MeasureSettings:
    """The `measures:` block of narratives.yaml (defaults where absent)."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        return MeasureSettings.model_validate(doc.get("measures") or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(
            f"measures.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except (OSError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read measures: {exc}") from exc


@lru_cache(maxsize=2)
def load_label_settings(path: Path = CONFIG_DIR / "narratives.yaml") -> LabelSettings:
    """The `labels:` block of narratives.yaml (defaults where absent)."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        return LabelSettings.model_validate(doc.get("labels") or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: " + "; ".join(
            f"labels.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    except (OSError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read labels: {exc}") from exc


def analyse(title: str, text_simplified: str, lang: str, top: int = TOP_TERMS) -> Analysis:
    """Count the terms of a simplified title and text, and label the article with narratives and frames."""
    counts = Counter(tokens(f"{title}\n{text_simplified}", lang))
    carried, frames = score_article(counts)
    labels = []
    for s in carried:
        labels.append(Label(s.name, None, s.score, tuple(f"{t}×{n}" for t, n, _ in s.matched)))
        labels.extend(Label(s.name, f.name, f.score, tuple(f"{t}×{n}" for t, n, _ in f.matched)) for f in frames[s.name])
    # Keep the top terms, plus every term a label matched, so each stored label is explained by stored counts.
    kept = dict(counts.most_common(top))
    for s in carried + [f for fs in frames.values() for f in fs]:
        kept.update({t: n for t, n, _ in s.matched})
    return Analysis(tuple(sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))), tuple(labels))


def analyse_stored(title: str | None, script: str, text_simplified: str | None, lang: str) -> Analysis:
    """The Analysis of an article as stored (its title in its own script, its simplified text)."""
    title = title or ""
    return analyse(to_simplified(title) if script == "zh-Hant" else title, text_simplified or "", lang)


def with_analysis(article: Article) -> Article:
    """The article with its term counts and labels."""
    return replace(article, analysis=analyse_stored(article.title, article.script, article.text_simplified, article.lang))


def config_version(directory: Path = CONFIG_DIR) -> str:
    """A hash of every file that decides terms and labels (stored labels older than it need a rebuild)."""
    digest = hashlib.sha256()
    for name in ("narratives.yaml", "aliases.yaml", "userdict.txt", "stopwords_zh.txt", "stopwords_en.txt"):
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def catalog_rows(narratives: dict[str, NarrativeConfig] | None = None) -> list[dict]:
    """The configured narratives and frames as rows of the warehouse's narrative_catalog."""
    narratives = narratives or load_narratives()
    rows = []
    for name, n in narratives.items():
        rows.append({"narrative": name, "frame": None, "label": n.label, "min_score": n.min_score,
                     "terms": [f"{t}:{w:g}" for t, w in n.terms.items()]})
        rows.extend({"narrative": name, "frame": f, "label": fc.label, "min_score": fc.min_score,
                     "terms": [f"{t}:{w:g}" for t, w in fc.terms.items()]} for f, fc in n.frames.items())
    return rows
