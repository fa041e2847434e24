"""Read the seed articles and their manifest into baseline Articles."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, time
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from .analysis import AnalysisConfig, with_analysis
from .errors import ConfigError
from .models import Article
from .normalize import (
    article_id,
    clean_text,
    detect_script,
    text_fingerprint,
    to_simplified,
    word_count,
)
from .weeks import SHANGHAI


class SeedEntry(BaseModel):
    """One seed in seeds/manifest.yaml."""

    model_config = ConfigDict(extra="allow", frozen=True)
    file: str
    sha256: str
    outlet: str
    title: str | None
    published: date
    script: str
    lang: str
    original_url: str | None = None
    narratives: tuple[str, ...] = ()
    frames: tuple[str, ...] = ()


def read_manifest(directory: Path) -> list[SeedEntry]:
    """The validated seed manifest."""
    path = directory / "manifest.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return [SeedEntry.model_validate(s) for s in data["seeds"]]
    except (OSError, KeyError, TypeError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid seed manifest: {exc}") from exc


def _lead_title(text: str) -> str:
    """A stand-in title for a seed that prints none: its first sentence, shortened."""
    first = re.split(r"[。！？!?\n]", text, maxsplit=1)[0]
    return first[:48] + ("…" if len(first) > 48 else "")


def seed_text(seed: SeedEntry, raw: bytes) -> tuple[str, str]:
    """(title, text) of a seed's file as the pipeline reads it: the cleaned text, and its headline or a stand-in."""
    text = clean_text(raw.decode("utf-8"))
    return seed.title or _lead_title(text), text


def load_seeds(first_seen_at: datetime, directory: Path, analysis: AnalysisConfig,
               protected: dict[str, str] | None = None) -> list[Article]:
    """The seed articles as baseline Articles; a file whose hash differs from the manifest is refused."""
    articles = []
    for seed in read_manifest(directory):
        raw = (directory / seed.file).read_bytes()
        if hashlib.sha256(raw).hexdigest() != seed.sha256:
            raise ConfigError(f"{directory / seed.file}: content differs from the sha256 in manifest.yaml")
        title, text = seed_text(seed, raw)
        simplified = to_simplified(text, protected)
        lang, script = detect_script(text)
        canonical = f"seed://{seed.file}"
        published = datetime.combine(seed.published, time(12, 0), tzinfo=SHANGHAI).astimezone(UTC)
        articles.append(with_analysis(Article(
            article_id=article_id(canonical), source_id="seed", outlet=seed.outlet,
            url=seed.original_url or canonical, canonical_url=canonical,
            title=title, author=None, published_at=published,
            first_seen_at=first_seen_at, lang=lang, script=script, text=text, text_simplified=simplified,
            text_hash=text_fingerprint(simplified), word_count=word_count(text), extraction="seed",
            guid=seed.file, topics=seed.narratives, is_baseline=True,
        ), analysis))
    return articles
