"""Parse feed bytes into entries with feedparser, after fixing the encoding ourselves."""

from __future__ import annotations

import calendar
import hashlib
from datetime import datetime, timezone

import html
import re

import feedparser
import lxml.etree
import lxml.html

from .encoding import to_utf8_xml
from .errors import NotAFeed
from .models import Entry, Response
from .normalize import canonical_url, clean_text

# feedparser's own sanitiser and URI resolution cost a third of its time; entries are reduced to
# plain text below (scripts and styles dropped), so no feed markup survives anyway.
_PARSE_OPTIONS = {"sanitize_html": False, "resolve_relative_uris": False}


_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section", "article")
_DROP = "//script|//style|//iframe|//noscript|//object|//embed|//template|//svg|//math"


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment from a feed (title, summary or content), paragraphs kept."""
    if not fragment or "<" not in fragment:
        return clean_text(html.unescape(fragment or ""))
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return clean_text(html.unescape(re.sub(r"<[^>]*>", " ", fragment)))
    for node in root.xpath(_DROP):
        node.drop_tree()
    for node in root.iter(*_BLOCKS):
        node.tail = "\n" + (node.tail or "")
    return clean_text(root.text_content())


def _timestamp(entry: feedparser.FeedParserDict) -> datetime | None:
    """The entry's publication time in UTC, or None when it gives none that parses."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=timezone.utc)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _content(entry: feedparser.FeedParserDict) -> str:
    """The longest full-content block of the entry (content:encoded or Atom content)."""
    blocks = [c.get("value", "") for c in entry.get("content", []) or []]
    return max(blocks, key=len, default="")


def parse_feed(response: Response, feed_id: str, extra_tracking: tuple[str, ...] = ()) -> list[Entry]:
    """Entries of a feed response; raise NotAFeed when the body is not a feed at all."""
    body, _codec = to_utf8_xml(response.body, response.charset)
    headers = {"content-type": "application/xml; charset=utf-8", "content-location": response.url}
    parsed = feedparser.parse(body, response_headers=headers, **_PARSE_OPTIONS)
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no feed root element"
        raise NotAFeed(response.url, f"no RSS, Atom or RDF feed here ({str(reason)[:200]})")
    entries: list[Entry] = []
    seen: set[str] = set()
    for item in parsed.entries:
        link = (item.get("link") or "").strip()
        if not link.lower().startswith(("http://", "https://")):
            link = next((l.get("href", "") for l in item.get("links", []) if l.get("href", "").startswith("http")), "")
        title = clean_text(html_to_text(item.get("title", "")))
        summary = html_to_text(item.get("summary", ""))
        content = html_to_text(_content(item))
        if not link and not (title or summary):
            continue
        canonical = canonical_url(link, extra_tracking) if link else ""
        guid = (item.get("id") or link or hashlib.sha1((title + summary).encode()).hexdigest()).strip()
        key = canonical or guid
        if key in seen:  # the same item listed twice in one feed
            continue
        seen.add(key)
        entries.append(
            Entry(
                feed_id=feed_id,
                guid=guid[:2000],
                url=link,
                canonical_url=canonical,
                title=title[:1000],
                summary=summary,
                content=content,
                author=(item.get("author") or None),
                published_at=_timestamp(item),
            )
        )
    return entries
