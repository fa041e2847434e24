"""Text to terms: jieba segmentation with the project's dictionary, stopwords and aliases."""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .config import PROJECT_ROOT
from .errors import ConfigError

CONFIG_DIR = PROJECT_ROOT / "config"
_TOKEN_OK = re.compile(r"[\u3400-\u9fffA-Za-z]")
_EN_WORD = re.compile(r"[a-z][a-z0-9]*(?:[-'][a-z0-9]+)*|[a-z]?\d+[a-z0-9]*")
_HAN = re.compile(r"[\u3400-\u9fff]")
_jieba_lock = threading.Lock()


@dataclass(frozen=True)
class Lexicon:
    """Stopwords and the alias table, loaded from config/ (files a user can edit)."""

    stop_zh: frozenset[str]
    stop_en: frozenset[str]
    alias: dict[str, str]                    # variant (lower case) -> canonical term
    phrases: tuple[tuple[re.Pattern[str], str], ...]  # multi-word English variants -> joined token

    def canonical(self, token: str) -> str:
        """The canonical term of a token (itself when it has no alias)."""
        return self.alias.get(token.lower(), token)


def _lines(path: Path) -> frozenset[str]:
    """Non-comment lines of a word-list file."""
    return frozenset(l.strip().lower() for l in path.read_text("utf-8").splitlines() if l.strip() and not l.startswith("#"))


@lru_cache(maxsize=2)
def load_lexicon(directory: Path = CONFIG_DIR) -> Lexicon:
    """Read stopwords_zh.txt, stopwords_en.txt and aliases.yaml."""
    try:
        doc = yaml.safe_load((directory / "aliases.yaml").read_text("utf-8"))
        alias, phrases = {}, []
        for canonical, variants in doc["aliases"].items():
            for v in [canonical, *variants]:
                v = str(v).lower()
                alias[v] = canonical
                if "-" in v and not _HAN.search(v):
                    words = [re.escape(w) for w in v.split("-")]
                    phrases.append((re.compile(r"\b" + r"[\s-]+".join(words) + r"\b"), v))
        phrases.sort(key=lambda p: -len(p[1]))
        return Lexicon(_lines(directory / "stopwords_zh.txt"), _lines(directory / "stopwords_en.txt"), alias, tuple(phrases))
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{directory}: cannot read the lexicon (stopwords_*.txt, aliases.yaml): {exc}") from exc


@lru_cache(maxsize=1)
def _jieba(userdict: str):
    """jieba, initialised once per process with the project's user dictionary (it takes about 2 s)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    with _jieba_lock:
        jieba.initialize()
        jieba.load_userdict(userdict)
    return jieba


def tokens(text_simplified: str, lang: str, lexicon: Lexicon | None = None) -> list[str]:
    """Canonical terms of a simplified-script text, stopwords and punctuation removed."""
    lex = lexicon or load_lexicon()
    lowered = text_simplified.lower()
    for pattern, joined in lex.phrases:
        lowered = pattern.sub(joined, lowered)
    if lang == "zh" or _HAN.search(lowered):
        raw = _jieba(str(CONFIG_DIR / "userdict.txt")).lcut(lowered, HMM=False)
    else:
        raw = _EN_WORD.findall(lowered)
    out = []
    for tok in raw:
        tok = tok.strip()
        if tok.endswith("'s"):
            tok = tok[:-2]  # nvidia's -> nvidia
        if not tok or not _TOKEN_OK.search(tok) or tok in lex.stop_zh or tok in lex.stop_en:
            continue
        if len(tok) == 1 and tok not in lex.alias:
            continue  # single characters (and the s of a curly ’s) carry little on their own
        out.append(lex.canonical(tok))
    return out


def term_counts(text_simplified: str | None, lang: str, top: int = 150) -> dict[str, int]:
    """The article's most frequent canonical terms and their counts (top N keeps storage bounded)."""
    if not text_simplified:
        return {}
    return dict(Counter(tokens(text_simplified, lang)).most_common(top))
