"""Narratives and frames from configuration; per-article scores with the terms that produced them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .terms import CONFIG_DIR, load_lexicon

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


def score_article(counts: dict[str, int], narratives: dict[str, NarrativeConfig] | None = None
                  ) -> tuple[list[Score], dict[str, list[Score]]]:
    """(narratives the article carries, frames it carries per narrative), strongest first."""
    narratives = narratives or load_narratives()
    carried, frames = [], {}
    for name, n in narratives.items():
        s = _score(name, n.terms, counts)
        if s.score >= n.min_score:
            carried.append(s)
            fs = [_score(f, fc.terms, counts) for f, fc in n.frames.items()]
            frames[name] = sorted((f for f in fs if f.score >= n.frames[f.name].min_score), key=lambda f: -f.score)
    carried.sort(key=lambda s: -s.score)
    return carried, frames
