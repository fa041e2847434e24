"""An article's analysis: its content terms (for the weekly term statistics) and its narrative and frame labels."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from .models import Analysis, Article
from .narratives import Rulebook, load_rulebook
from .normalize import to_simplified
from .terms import Lexicon, load_lexicon, tokens

TOP_TERMS = 50  # content terms stored per article: bounded storage, enough for the weekly statistics
CONFIG_FILES = ("narratives.yaml", "aliases.yaml", "userdict.txt", "stopwords_zh.txt", "stopwords_en.txt")


@dataclass(frozen=True)
class AnalysisConfig:
    """What decides terms and labels: the lexicon and the compiled rules, and a hash of the files they came from."""

    lexicon: Lexicon
    rulebook: Rulebook
    version: str
    directory: Path


def config_version(directory: Path) -> str:
    """A hash of every file that decides terms and labels (stored labels older than it need a rebuild)."""
    digest = hashlib.sha256()
    for name in CONFIG_FILES:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def load_analysis(directory: Path) -> AnalysisConfig:
    """Read and check the lexicon and the narrative rules of a config folder (ConfigError on any problem)."""
    return AnalysisConfig(load_lexicon(directory), load_rulebook(directory / "narratives.yaml", to_simplified),
                          config_version(directory), directory)


def analyse(title_simplified: str, text_simplified: str, lang: str, config: AnalysisConfig,
            top: int = TOP_TERMS) -> Analysis:
    """The content terms of a simplified title and text, and the narratives and frames the article carries."""
    doc = config.rulebook.document(title_simplified, text_simplified)  # without credits and lists of other stories
    body = "\n".join(s.text for s in doc.sentences if not s.in_title)
    counts = Counter(tokens(doc.joined, lang, config.lexicon, names_from=body))
    labels = config.rulebook.label(doc)
    terms = tuple(sorted(counts.most_common(top), key=lambda kv: (-kv[1], kv[0])))
    background = tuple((t, config.lexicon.background_share(t)) for t, _ in terms)
    return Analysis(terms, labels, background)


def _simplified_title(title: str | None, script: str) -> str:
    """A stored title (kept in its own script) in simplified script, as the rules and terms read it."""
    title = title or ""
    return to_simplified(title) if script == "zh-Hant" else title


def analyse_stored(title: str | None, script: str, text_simplified: str | None, lang: str,
                   config: AnalysisConfig) -> Analysis:
    """The Analysis of an article as stored (its title in its own script, its simplified text)."""
    return analyse(_simplified_title(title, script), text_simplified or "", lang, config)


def labels_stored(title: str | None, script: str, text_simplified: str | None, config: AnalysisConfig) -> tuple:
    """The narrative and frame labels of an article as stored, without counting its terms."""
    return config.rulebook.label(config.rulebook.document(_simplified_title(title, script), text_simplified or ""))


def with_analysis(article: Article, config: AnalysisConfig) -> Article:
    """The article with its term counts and labels."""
    return replace(article, analysis=analyse_stored(article.title, article.script, article.text_simplified,
                                                    article.lang, config))
