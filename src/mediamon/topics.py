"""Decide whether an entry is on-topic from the configured bilingual topic terms."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .normalize import to_simplified


def _term_pattern(term: str) -> str:
    """Regex for one term: Latin terms match whole words (trailing * = prefix), Han terms as substrings."""
    term = term.strip()
    prefix = term.endswith("*")
    core = re.escape(term.rstrip("*"))
    if re.match(r"^[\x00-\x7f]+$", term):
        tail = r"[\w-]*" if prefix else r""
        return rf"(?<![A-Za-z0-9]){core}{tail}(?![A-Za-z0-9])"
    return core


@dataclass(frozen=True)
class TopicMatcher:
    """Compiled topic terms: one alternation per topic, matched against original and simplified text."""

    patterns: dict[str, re.Pattern[str]]

    @classmethod
    def from_terms(cls, topics: dict[str, tuple[str, ...]], protected: dict[str, str] | None = None) -> TopicMatcher:
        """Compile each topic's terms (and their simplified forms) into one case-insensitive regex."""
        compiled = {}
        for name, terms in topics.items():
            variants = {t for t in terms} | {to_simplified(t, protected) for t in terms}
            alternation = "|".join(_term_pattern(t) for t in sorted(variants, key=len, reverse=True))
            compiled[name] = re.compile(alternation, re.IGNORECASE)
        return cls(compiled)

    def match(self, *texts: str) -> tuple[str, ...]:
        """The topics whose terms occur in any of the texts (also tried in simplified script)."""
        joined = "\n".join(t for t in texts if t)
        if not joined:
            return ()
        simplified = to_simplified(joined)
        return tuple(
            name for name, pattern in self.patterns.items() if pattern.search(joined) or pattern.search(simplified)
        )
