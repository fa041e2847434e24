"""Parse feed bytes into entries with feedparser, after fixing the encoding ourselves."""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from datetime import UTC, datetime

import feedparser
import lxml.etree
import lxml.html

from .encoding import to_utf8_xml
from .errors import BadURL, NotAFeed
from .models import Entry, Response
from .normalize import canonical_url, clean_text

# feedparser's own sanitiser and URI resolution cost a third of its time; entries are reduced to
# plain text below (scripts and styles dropped), so no feed markup survives anyway.
_PARSE_OPTIONS = {"sanitize_html": False, "resolve_relative_uris": False}


# Feeds never need a DTD: dropping it means no external entity is ever read (XXE) and no entity expansion
# (billion laughs) is ever attempted. C0 controls are not allowed in XML and make the strict parser give up.
_DOCTYPE_START = re.compile(rb"<!DOCTYPE", re.I)
_SUBSET_END = re.compile(rb"\][ \t\r\n]*>")
_XML_CONTROLS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Numeric character references to code points that do not exist or are not allowed in XML (&#x110000;,
# &#0;, surrogates): feedparser's fallback parser raises ValueError on some of them.
_CHAR_REF = re.compile(rb"&#(?:x([0-9a-fA-F]{1,16})|([0-9]{1,20}));")
_URL_JUNK = re.compile(r"[\x00-\x20\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

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
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _content(entry: feedparser.FeedParserDict) -> str:
    """The longest full-content block of the entry (content:encoded or Atom content)."""
    blocks = [c.get("value", "") for c in entry.get("content", []) or []]
    return max(blocks, key=len, default="")


def _allowed_char_ref(match: re.Match) -> bytes:
    """A numeric character reference kept as is when XML allows its code point, else dropped."""
    point = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    allowed = point in (0x9, 0xA, 0xD) or 0x20 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD or 0x10000 <= point <= 0x10FFFF
    return match.group(0) if allowed else b""


def _without_doctype(body: bytes) -> bytes:
    """The document without its DOCTYPE declaration (found by plain scanning: a regex here can backtrack for ever)."""
    start = _DOCTYPE_START.search(body, 0, 65536)
    if start is None:
        return body
    close = body.find(b">", start.end())
    bracket = body.find(b"[", start.end(), close if close != -1 else len(body))
    if bracket != -1:  # an internal subset: it ends at "]>"
        end = _SUBSET_END.search(body, bracket)
        close = end.end() - 1 if end else -1
    return body[: start.start()] + (body[close + 1:] if close != -1 else b"")


def _safe_xml(body: bytes) -> bytes:
    """UTF-8 feed bytes without a DTD, control characters or impossible character references."""
    return _CHAR_REF.sub(_allowed_char_ref, _XML_CONTROLS.sub(b"", _without_doctype(body)))


def _canonical(link: str, extra_tracking: tuple[str, ...]) -> str:
    """The canonical form of an entry's link, or "" when there is none or it is not a readable URL."""
    if not link:
        return ""
    try:
        return canonical_url(link, extra_tracking)
    except BadURL:
        return ""


def parse_feed(response: Response, feed_id: str, extra_tracking: tuple[str, ...] = ()) -> list[Entry]:
    """Entries of a feed response; raise NotAFeed when the body is not a feed at all."""
    body, _codec = to_utf8_xml(response.body, response.charset)
    body = _safe_xml(body)
    headers = {"content-type": "application/xml; charset=utf-8", "content-location": response.url}
    try:
        parsed = feedparser.parse(body, response_headers=headers, **_PARSE_OPTIONS)
    except Exception as exc:  # feedparser's fallback parser has crashed on inputs nobody foresaw
        raise NotAFeed(response.url, f"the feed parser failed: {type(exc).__name__}: {str(exc)[:200]}") from None
    version = parsed.get("version") or ""
    if not version and not parsed.entries:
        reason = parsed.get("bozo_exception") or "no feed root element"
        raise NotAFeed(response.url, f"no RSS, Atom or RDF feed here ({str(reason)[:200]})")
    entries: list[Entry] = []
    seen: set[str] = set()
    links_of_guid: dict[str, str] = {}
    for item in parsed.entries:
        link = _URL_JUNK.sub("", item.get("link") or "")
        if not link.lower().startswith(("http://", "https://")):
            link = next((_URL_JUNK.sub("", l.get("href", "")) for l in item.get("links", [])
                         if l.get("href", "").startswith("http")), "")
        title = clean_text(html_to_text(item.get("title", "")))
        summary = html_to_text(item.get("summary", ""))
        content = html_to_text(_content(item))
        if not link and not (title or summary):
            continue
        canonical = _canonical(link, extra_tracking)
        guid = clean_text(item.get("id") or "").replace("\n", " ")[:2000]
        if guid and links_of_guid.setdefault(guid, canonical) != canonical:
            # The feed reuses one GUID for different links: it identifies nothing, so the link stands in.
            guid = canonical or link
        guid = guid or link or hashlib.sha1((title + summary).encode()).hexdigest()
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
                author=(clean_text(item.get("author") or "") or None),
                published_at=_timestamp(item),
            )
        )
    return entries
