"""The typed records that travel between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the warehouse remembers about a feed between polls."""

    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    failures: int = 0
    next_poll_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """A finished HTTP exchange: the final URL, status, headers and the decoded-size-capped body."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: float

    @property
    def not_modified(self) -> bool:
        """True for a 304 answer to a conditional GET."""
        return self.status == 304

    @property
    def charset(self) -> str | None:
        """The charset parameter of the Content-Type header, if any."""
        ctype = self.headers.get("content-type", "")
        for part in ctype.split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "charset" and value.strip():
                return value.strip().strip("\"'")
        return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One feed item, parsed and canonicalised, not yet turned into an article."""

    feed_id: str
    guid: str
    url: str
    canonical_url: str
    title: str
    summary: str
    content: str
    author: str | None
    published_at: datetime | None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """An article page as fetched: its entry, raw body and HTTP charset (body None when not fetched)."""

    entry: Entry
    body: bytes | None
    charset: str | None = None
    final_url: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """One narrative (frame None) or frame an article carries: the rule that gave it, its salience (headline 3,
    lead sentence 2, other sentence 1) and the words it matched, where ('title: DeepSeek')."""

    narrative: str
    frame: str | None
    score: float
    matched: tuple[str, ...]
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Analysis:
    """An article's stored content-term counts, its narrative and frame labels, and how common each term is in
    general language (the Fightin' Words prior leans on it)."""

    terms: tuple[tuple[str, int], ...]
    labels: tuple[Label, ...]
    background: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    """A clean article, ready for the warehouse."""

    article_id: str
    source_id: str
    outlet: str
    url: str
    canonical_url: str
    title: str
    author: str | None
    published_at: datetime | None
    first_seen_at: datetime
    lang: str
    script: str
    text: str
    text_simplified: str
    text_hash: str
    word_count: int
    extraction: str
    guid: str | None = None
    topics: tuple[str, ...] = ()
    is_baseline: bool = False
    credited_origin: str | None = None
    signature: bytes | None = None  # MinHash of text_simplified (stories stage)
    analysis: Analysis | None = None  # term counts and narrative/frame labels (narratives stage)


@dataclass(slots=True)
class FeedOutcome:
    """How one feed's poll went: its status, counts, timings and the validators to store."""

    feed_id: str
    status: str = "ok"  # ok | not_modified | error | skipped
    http_status: int | None = None
    error_class: str | None = None
    error: str | None = None
    duration_ms: float = 0.0
    entries_seen: int = 0
    on_topic: int = 0
    known: int = 0
    pages_fetched: int = 0
    page_errors: int = 0
    extraction_fallbacks: int = 0
    no_text: int = 0  # pages with no usable text, and none in the feed: not stored, counted and named
    new_articles: int = 0
    duplicates: int = 0
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None
    messages: list[str] = field(default_factory=list)
    no_text_urls: list[str] = field(default_factory=list)

    def as_row(self) -> dict:
        """The outcome as a flat dict for tables and artifacts."""
        return {
            "feed_id": self.feed_id,
            "status": self.status,
            "http_status": self.http_status,
            "error_class": self.error_class,
            "error": self.error,
            "duration_ms": round(self.duration_ms, 1),
            "entries_seen": self.entries_seen,
            "on_topic": self.on_topic,
            "known": self.known,
            "pages_fetched": self.pages_fetched,
            "page_errors": self.page_errors,
            "extraction_fallbacks": self.extraction_fallbacks,
            "no_text": self.no_text,
            "no_text_urls": self.no_text_urls[:50],
            "new_articles": self.new_articles,
            "duplicates": self.duplicates,
        }


@dataclass(slots=True)
class FeedPoll:
    """A polled feed: its outcome so far and its on-topic entries."""

    outcome: FeedOutcome
    entries: list[Entry] = field(default_factory=list)


@dataclass(slots=True)
class FeedHarvest:
    """A feed's new articles and its final outcome, ready to commit together."""

    outcome: FeedOutcome
    articles: list[Article] = field(default_factory=list)
