"""Robustness: every real feed in ../shared/corpora/feeds parses without an exception escaping."""

from __future__ import annotations

import re

import pytest
from conftest import CORPORA, require_shared

from mediamon.errors import MediamonError
from mediamon.models import Response
from mediamon.parse import parse_feed

pytestmark = pytest.mark.shared
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".html"}


def _feed_files():
    """The corpus's feed-like files (skipping expected-output JSON)."""
    root = CORPORA / "feeds"
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in FEED_SUFFIXES) if root.exists() else []


def test_every_shared_feed_parses_or_fails_cleanly():
    """Each file gives entries, or the project's typed error; never another exception."""
    require_shared("corpora/feeds")
    files = _feed_files()
    assert len(files) > 300
    parsed = refused = entries = lossy = 0
    for path in files:
        body = path.read_bytes()
        header = re.search(rb"Header:\s*Content-type:\s*([^\r\n]+?)\s*(?:-->|\n)", body[:2000], re.I)
        ctype = header.group(1).decode("ascii", "replace") if header else "application/xml"
        try:
            result = parse_feed(Response(f"http://feeds.example.com/{path.name}", 200, {"content-type": ctype}, body, 0.0), "x")
        except MediamonError:
            refused += 1
            continue
        parsed += 1
        entries += len(result)
        lossy += sum("\ufffd" in e.title for e in result)
    print(f"\n{len(files)} shared feed files: {parsed} parsed ({entries} entries), {refused} refused as not a feed, "
          f"{lossy} titles with replacement characters")
    assert parsed > 0.8 * len(files)


def test_feedparser_encoding_cases_decode_as_expected():
    """feedparser's own encoding tests (Big5, GB2312, declared or not) come out as their expected titles."""
    root = require_shared("corpora/feeds/feedparser")
    cases = [p for p in root.rglob("*.xml") if re.search(rb"Expect:.*(big5|gb2312|gbk|gb18030)", p.read_bytes()[:1500], re.I)]
    checked = 0
    for path in cases:
        body = path.read_bytes()
        header = re.search(rb"Header:\s*Content-type:\s*([^\r\n]+?)\s*(?:-->|\n)", body[:2000], re.I)
        ctype = header.group(1).decode() if header else "application/xml"
        try:
            entries = parse_feed(Response("http://f.example.com/x", 200, {"content-type": ctype}, body, 0.0), "x")
        except MediamonError:
            continue
        texts = " ".join(e.title + e.summary for e in entries)
        assert "\ufffd" not in texts, path.name
        checked += 1
    print(f"\n{checked} CJK-encoded feedparser cases decoded without replacement characters")
