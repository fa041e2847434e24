"""Extraction: an article page's main text and metadata (trafilatura), and the Article an entry becomes from it
(or from the feed's own text). The chain around it, and the processes it runs in, are in workers.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import trafilatura

from .models import Article, Entry
from .normalize import (
    article_id,
    clean_text,
    detect_script,
    text_fingerprint,
    to_simplified,
    word_count,
)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What trafilatura found on a page."""

    text: str
    title: str | None
    author: str | None
    date: str | None


def extract_page(html: str, url: str | None = None) -> Extracted | None:
    """Main text and metadata of an HTML page, or None when trafilatura finds no article."""
    try:
        doc = trafilatura.bare_extraction(
            html, url=url, with_metadata=True, include_comments=False, include_tables=False, fast=True
        )
    except Exception:  # trafilatura raises assorted errors on broken markup; treat as "no article"
        return None
    if doc is None or not getattr(doc, "text", None):
        return None
    return Extracted(clean_text(doc.text), doc.title or None, doc.author or None, doc.date or None)


def _parse_date(value: str | None) -> datetime | None:
    """A trafilatura date string (YYYY-MM-DD) as a UTC datetime."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value[:10]).replace(tzinfo=UTC)
    except ValueError:
        return None


def build_article(
    entry: Entry,
    extracted: Extracted | None,
    *,
    outlet: str,
    feed_text_is_full: bool,
    first_seen_at: datetime,
    min_text_chars: int,
    protected_terms: dict[str, str] | None = None,
) -> Article | None:
    """The article for an entry: page text when long enough, else the feed's own text; None if neither has text."""
    feed_text = entry.content if len(entry.content) >= len(entry.summary) else entry.summary
    page_text = extracted.text if extracted else ""
    if feed_text_is_full and feed_text:
        text, how = feed_text, "feed"
    elif len(page_text) >= min_text_chars or (page_text and len(page_text) >= len(feed_text)):
        text, how = page_text, "page"
    elif feed_text:
        text, how = feed_text, "feed_fallback"
    else:
        return None
    text = clean_text(text)
    simplified = to_simplified(text, protected_terms)
    lang, script = detect_script(text)
    title = entry.title or (extracted.title if extracted and extracted.title else "") or text[:60]
    published = entry.published_at or _parse_date(extracted.date if extracted else None)
    return Article(
        article_id=article_id(entry.canonical_url),
        source_id=entry.feed_id,
        outlet=outlet,
        url=entry.url,
        canonical_url=entry.canonical_url,
        title=clean_text(title)[:1000],
        author=entry.author or (extracted.author if extracted else None),
        published_at=published,
        first_seen_at=first_seen_at,
        lang=lang,
        script=script,
        text=text,
        text_simplified=simplified,
        text_hash=text_fingerprint(simplified),
        word_count=word_count(text),
        extraction=how,
        guid=entry.guid,
        topics=entry.topics,
    )
