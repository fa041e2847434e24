"""Extraction: an article page's main text and metadata (trafilatura), and the Article an entry becomes from it
(or from the feed's own text). The chain around it, and the processes it runs in, are in workers.py."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import lxml.html
import readability
import trafilatura

from .models import Article, Entry
from .normalize import (
    HAN_CHARS,
    article_id,
    clean_text,
    detect_script,
    text_fingerprint,
    to_simplified,
    word_count,
)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What the extractors found on a page, and which one's text was kept."""

    text: str
    title: str | None
    author: str | None
    date: str | None
    method: str = "trafilatura"  # trafilatura | readability


# Tokens for comparing two extractions: each Han character alone, every other letter or digit run.
_TOKEN = re.compile(f"[{HAN_CHARS}]|[^\\W_{HAN_CHARS}]+")
# A finished sentence: a Chinese full stop anywhere, or a Latin one followed by a space or the line's end.
_SENTENCE_END = re.compile(r"[。！？]|[.!?…][”\"’』」)）]*(?:\s|$)")
_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "pre", "section", "article"}
logging.getLogger("readability.readability").setLevel(logging.ERROR)  # it warns on every page it finds hard


def tokens(text: str) -> Counter:
    """The bag of tokens of a text (Han characters singly, other words lower-cased)."""
    return Counter(_TOKEN.findall(text.lower()))


def _share(part: Counter, whole: Counter) -> float:
    """The share of one bag's tokens that another bag also has (0 for an empty bag)."""
    return sum((part & whole).values()) / max(1, part.total())


def contained(part: str, whole: str) -> float:
    """The share of part's tokens that whole also has (0 for an empty part)."""
    return _share(tokens(part), tokens(whole))


def prose_share(text: str) -> float:
    """The share of a text's characters in lines that hold a finished sentence (prose), not headline-like
    fragments, which have no full stop."""
    lines = [line for line in text.split("\n") if line.strip()]
    return sum(len(line) for line in lines if _SENTENCE_END.search(line)) / max(1, sum(len(line) for line in lines))


def choose_text(trafilatura_text: str, readability_text: str, description: str | None) -> tuple[str, str]:
    """The cascade, as measured on ../shared's pages (bench/extraction_bench.py): trafilatura's text, unless
    readability's is that text minus blocks around it (comment notices, related-story lists, menus), or the
    two disagree wholesale and only readability's reads as prose (a photo page), or trafilatura cut text that
    the page's own summary (og:description) has and readability kept."""
    trafilatura_bag, readability_bag = tokens(trafilatura_text), tokens(readability_text)  # each text's once
    if not trafilatura_bag or not readability_bag:
        return (trafilatura_text, "trafilatura") if trafilatura_bag else (readability_text, "readability")
    readability_in_trafilatura = _share(readability_bag, trafilatura_bag)
    trafilatura_in_readability = _share(trafilatura_bag, readability_bag)
    if readability_in_trafilatura >= 0.95 and trafilatura_in_readability < 0.85:
        return readability_text, "readability"
    # Wholesale disagreement (a photo or video page: one took the caption, the other the list of other items):
    # the text that reads as sentences is the article, a column of headlines is not.
    if (readability_in_trafilatura < 0.5 and trafilatura_in_readability < 0.5
            and prose_share(readability_text) >= prose_share(trafilatura_text) + 0.3):
        return readability_text, "readability"
    if trafilatura_in_readability >= 0.95 and readability_in_trafilatura < 0.85 and description:
        description_bag = tokens(description)
        if _share(description_bag, trafilatura_bag) < 0.8 and _share(description_bag, readability_bag) >= 0.9:
            return readability_text, "readability"
    return trafilatura_text, "trafilatura"


def _readability_text(html: str) -> str:
    """readability-lxml's article, as text with a line break after each block."""
    try:
        markup = readability.Document(html).summary(html_partial=True)
        root = lxml.html.fromstring(markup or "<p></p>")
    except Exception:  # readability and lxml raise assorted errors on broken markup: no second opinion then
        return ""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    return clean_text(root.text_content())


def _date_params(extensive: bool) -> dict:
    """htmldate's settings: the page's original date, none after today; `extensive` lets dateparser read dates
    written out in the text (about 5 ms a page)."""
    return {"original_date": True, "extensive_search": extensive, "max_date": datetime.now(UTC).strftime("%Y-%m-%d")}


def extract_page(html: str, url: str | None = None, need_date: bool = True) -> Extracted | None:
    """Main text and metadata of an HTML page (trafilatura, checked against readability), or None when neither
    finds an article. The page's date is searched for in full only when it is needed (the feed's entry has
    none); otherwise the quick search runs, and the entry's date wins anyway."""
    try:
        # trafilatura's fast=True would switch htmldate's extensive search on for every page: the date settings
        # are given instead.
        doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                          include_tables=False, fast=True,
                                          date_extraction_params=_date_params(need_date))
    except Exception:  # trafilatura raises assorted errors on broken markup; readability may still find text
        doc = None
    primary = clean_text(doc.text) if doc is not None and getattr(doc, "text", None) else ""
    text, method = choose_text(primary, _readability_text(html), getattr(doc, "description", None))
    if not text:
        return None
    return Extracted(text, getattr(doc, "title", None) or None, getattr(doc, "author", None) or None,
                     getattr(doc, "date", None) or None, method)


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
