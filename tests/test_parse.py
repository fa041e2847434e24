"""Feed parsing from bytes and headers."""

from __future__ import annotations

import pytest
from fixtures.site import ITEMS, atom, rss

from mediamon.errors import NotAFeed
from mediamon.models import Response
from mediamon.parse import html_to_text, parse_feed


def _response(body: bytes, ctype: str = "application/xml") -> Response:
    """A fake finished response."""
    return Response("http://feeds.example.com/f.xml", 200, {"content-type": ctype}, body, 1.0)


def test_rss_in_undeclared_big5():
    """A Big5 feed with no declaration parses to exact traditional text."""
    item = ITEMS["hk_ascend"]
    body = rss([(item, "http://hk.example.com/a?utm_source=rss")], "香港", None).encode("big5hkscs")
    [entry] = parse_feed(_response(body), "hk")
    assert entry.title == item.title
    assert entry.summary == item.paragraphs[0]
    assert entry.canonical_url == "http://hk.example.com/a"
    assert entry.published_at.isoformat() == "2025-02-03T00:00:00+00:00"


def test_rss_with_http_charset_only():
    """The HTTP charset counts when the document declares nothing."""
    item = ITEMS["qwen"]
    body = rss([(item, "http://x.example.com/q")], "科技", None).encode("gb18030")
    [entry] = parse_feed(_response(body, "application/rss+xml; charset=gbk"), "gb")
    assert entry.title == item.title


def test_atom():
    """Atom entries give link, id, author and updated time."""
    item = ITEMS["nvidia_en"]
    [entry] = parse_feed(_response(atom([(item, "https://en.example.com/n")], "Markets").encode()), "en")
    assert entry.url == "https://en.example.com/n" and entry.author == item.author
    assert entry.published_at is not None


def test_duplicate_items_in_one_feed_are_listed_once():
    """The same canonical link twice in a feed yields one entry."""
    item = ITEMS["deepseek"]
    body = rss([(item, "http://a.example.com/x"), (item, "http://a.example.com/x#c")], "dup").encode()
    assert len(parse_feed(_response(body), "dup")) == 1


def test_html_page_is_not_a_feed():
    """An HTML page raises the project's NotAFeed error, naming the URL."""
    with pytest.raises(NotAFeed, match="f.xml"):
        parse_feed(_response(b"<html><body><p>hello</p><div></body></html>", "text/html"), "x")


def test_feed_markup_is_reduced_to_text():
    """Scripts, styles and tags from a feed never reach the text; paragraphs are kept."""
    text = html_to_text('<p>第一段<script>alert(1)</script></p><style>p{}</style><p onclick="x()">第二段<br>续</p>')
    assert text == "第一段\n第二段\n续"
    assert html_to_text("AT&amp;T &lt;b&gt;") == "AT&T <b>"
