"""Reliability (issue 7), hostile input: encodings, malformed and hostile XML, GUID games, dates, fuzzing."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures import faults
from fixtures.faults import FaultServer, item, rss_feed, sources_doc
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mediamon import pipeline
from mediamon.config import load_sources
from mediamon.encoding import decode, to_utf8_xml
from mediamon.errors import MediamonError, NotAFeed
from mediamon.models import Entry, FeedHarvest, FeedOutcome, FeedPoll, FeedState, Response
from mediamon.normalize import canonical_url
from mediamon.parse import parse_feed
from mediamon.testing import config_for
from mediamon.warehouse import Warehouse

NOW = datetime(2025, 2, 5, 8, tzinfo=UTC)  # a Wednesday of 2025-W06

# Original texts written for these tests. GBK has no 𠮷 (U+20BB7); GB18030 does; Big5 is traditional.
TEXTS = {
    "gbk": ("英伟达H20芯片出口受限 国产算力迎来窗口期",
            "美国商务部周二公布出口管制新规，英伟达H20芯片对华出口需要许可证。业内人士认为，国产加速芯片的替代进程可能加快。"),
    "gb18030": ("𠮷祥资本：中芯国际估值已反映利好",
                "中芯国际公布季度业绩，营收同比增长超过三成。𠮷祥资本的分析师认为，其估值已经反映了大部分利好消息。"),
    "big5": ("華為昇騰晶片產量大增 恆生科技股走強",
             "華為昇騰晶片的產量今年明顯增加，多家雲服務商表示已開始大規模採用。市場人士認為，出口管制反而促使本土晶片加快發展。"),
}
RIVAL = {"gbk": "big5", "gb18030": "big5", "big5": "gbk"}


def _response(body: bytes, ctype: str = "application/xml", url: str = "http://feeds.example/f.xml") -> Response:
    """A finished response as the fetcher returns it."""
    return Response(url, 200, {"content-type": ctype}, body, 1.0)


# --- Encodings ----------------------------------------------------------------------------------------------

@pytest.mark.reliability("exact Unicode, no U+FFFD, no mojibake")
@pytest.mark.parametrize("declared", ["none", "http-header", "prolog", "wrong-rival", "wrong-latin1", "wrong-utf8"])
@pytest.mark.parametrize("codec", ["gbk", "gb18030", "big5"])
def test_feed_encodings(codec, declared):
    """Feed in GBK, GB18030 or Big5, declared nowhere, in HTTP, in the XML prolog, or wrongly."""
    title, text = TEXTS[codec]
    prolog = {"prolog": codec, "wrong-rival": RIVAL[codec], "wrong-utf8": "utf-8"}.get(declared)
    header = {"http-header": codec, "wrong-latin1": "iso-8859-1"}.get(declared)
    entry_item = {**item(1, "http://news.example/a/1", title=title), "content": f"<p>{text}</p>"}
    doc = rss_feed([entry_item], encoding=prolog, channel=title)
    body = doc.encode(codec)
    ctype = f"application/rss+xml; charset={header}" if header else "application/rss+xml"
    [entry] = parse_feed(_response(body, ctype), "f")
    assert entry.title == title
    assert text in entry.content and "\ufffd" not in entry.content + entry.title


@pytest.mark.reliability("exact Unicode, no U+FFFD, no mojibake")
@pytest.mark.parametrize("declared", ["none", "http-header", "meta", "wrong-rival", "wrong-latin1", "wrong-utf8"])
@pytest.mark.parametrize("codec", ["gbk", "gb18030", "big5"])
def test_page_encodings(codec, declared):
    """Article page in GBK, GB18030 or Big5, declared nowhere, in HTTP, in a meta tag, or wrongly."""
    title, text = TEXTS[codec]
    meta = {"meta": codec, "wrong-rival": RIVAL[codec], "wrong-utf8": "utf-8"}.get(declared)
    header = {"http-header": codec, "wrong-latin1": "iso-8859-1"}.get(declared)
    head = f'<meta charset="{meta}">' if meta else ""
    page = f"<html><head>{head}<title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>"
    decoded, _codec = decode(page.encode(codec), header)
    assert decoded == page


# --- Malformed and hostile XML ------------------------------------------------------------------------------

def _item_xml(n: int, title: str) -> str:
    """One RSS item."""
    return (f"<item><title>{title}</title><link>http://news.example/a/{n}</link>"
            f"<description>英伟达芯片出口管制 {n}</description></item>")


def _rss(items: str, doctype: str = "") -> bytes:
    """An RSS document around raw item XML."""
    return (f'<?xml version="1.0" encoding="utf-8"?>{doctype}<rss version="2.0"><channel><title>t</title>'
            f"{items}</channel></rss>").encode()


LAUGHS = "".join(f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(10))}">' for i in range(1, 10))
HOSTILE = {
    "unclosed-tags": (_rss(_item_xml(1, "<b>粗体没有关") + _item_xml(2, "第二条")), {"第二条"}),
    "bare-ampersand": (_rss(_item_xml(1, "AT&T 与 H20") + _item_xml(2, "第二条")), {"第二条"}),
    "nul-and-controls": (_rss(_item_xml(1, "标\x00题\x01一\x1b") + _item_xml(2, "第二条")), {"标题一", "第二条"}),
    "truncated": (_rss(_item_xml(1, "第一条") + _item_xml(2, "第二条"))[:-60], {"第一条"}),
    "billion-laughs": (_rss(_item_xml(1, "&l9;") + _item_xml(2, "第二条"), f'<!DOCTYPE rss [<!ENTITY l0 "ha">{LAUGHS}]>'),
                       {"第二条"}),
    "quadratic-blowup": (_rss(_item_xml(1, "&big;" * 2000) + _item_xml(2, "第二条"),
                              f'<!DOCTYPE rss [<!ENTITY big "{"x" * 100_000}">]>'), {"第二条"}),
    # an unterminated DOCTYPE that made the first DTD-stripping regex backtrack exponentially (found in review)
    "doctype-backtracking": (b'<?xml version="1.0"?><!DOCTYPE ' + b"[a]]]" * 40, None),
    "binary-garbage": (bytes(range(256)) * 64, None),
    "empty": (b"", None),
    "html-page": (b"<html><body><p>not a feed</p></body></html>", None),
}


@pytest.mark.reliability("entries recovered or NotAFeed, under 2 s")
@pytest.mark.parametrize("case", list(HOSTILE))
def test_malformed_and_hostile_xml(case):
    """Malformed, truncated, control characters, entity expansion, garbage."""
    body, titles = HOSTILE[case]
    start = time.monotonic()
    if titles is None:
        with pytest.raises(NotAFeed, match="feeds.example"):
            parse_feed(_response(body), "f")
    else:
        entries = parse_feed(_response(body), "f")
        assert titles <= {e.title for e in entries}
        assert all(len(e.title) <= 1000 and "\x00" not in e.title + e.guid + e.url for e in entries)
    assert time.monotonic() - start < 2


@pytest.mark.reliability("no file content in any field")
@pytest.mark.parametrize("form", ["general", "parameter", "in-attribute"])
def test_xxe(tmp_path, form):
    """External entities pointing at a local file (XXE)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    uri = secret.as_uri()
    doctype, title = {
        "general": (f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{uri}">]>', "泄露&x;"),
        "parameter": (f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{uri}"> %p;]>', "参数实体"),
        "in-attribute": (f'<!DOCTYPE rss SYSTEM "{uri}">', "外部DTD"),
    }[form]
    entries = parse_feed(_response(_rss(_item_xml(1, title) + _item_xml(2, "第二条"), doctype)), "f")
    assert entries
    assert not any("TOP-SECRET" in f"{e.title}{e.summary}{e.content}{e.guid}{e.url}" for e in entries)


@pytest.mark.reliability("bad items skipped and named, the rest kept")
def test_items_with_unusable_links(tmp_path):
    """Items whose links have a bad port, a broken IPv6 literal, a javascript: scheme, or none."""
    links = ["http://news.example:99999/a", "http://[::1/b", "javascript:alert(1)", "", "http://news.example/ok"]
    body = rss_feed([item(n, link, guid=f"g{n}") for n, link in enumerate(links)]).encode()
    entries = parse_feed(_response(body), "f")
    assert len(entries) == len(links)
    path = tmp_path / "sources.yaml"
    path.write_text(sources_doc({"f": "http://feeds.example/f.xml"}), encoding="utf-8")
    sources = load_sources(path)
    from unittest import mock

    with mock.patch.object(pipeline.Fetcher, "get", return_value=_response(body)):
        poll = pipeline.poll_feed(sources.feeds[0], FeedState("f"), config_for(sources))
    assert [e.canonical_url for e in poll.entries] == ["http://news.example/ok"]
    assert len(poll.outcome.messages) == 4 and "99999" in poll.outcome.messages[0] and "g1" in poll.outcome.messages[1]


# --- GUIDs and dates through the store ----------------------------------------------------------------------

@pytest.fixture
def site(tmp_path):
    """(fault server, sources, feed, warehouse) for one full-text feed at /f.xml."""
    with FaultServer() as server:
        path = tmp_path / "sources.yaml"
        path.write_text(sources_doc({"f": server.url("/f.xml")}), encoding="utf-8")
        sources = load_sources(path)
        wh = Warehouse(tmp_path / "wh.duckdb", lock_timeout=5)
        wh.migrate()
        yield server, sources, sources.feeds[0], wh


def _serve(server: FaultServer, items: list[dict]) -> None:
    """Publish these items at /f.xml."""
    server.route("/f.xml", faults.respond(200, rss_feed(items), {"Content-Type": "application/rss+xml"}))


def _run(sources, feed, wh: Warehouse, now: datetime = NOW):
    """One feed's part of an ingest run, as the flow does it, without Prefect; returns the outcome."""
    states = wh.ingest.sync_feeds(sources.feeds, now)
    poll = pipeline.poll_feed(feed, states[feed.id], config_for(sources))
    known = wh.ingest.known_urls(poll.entries)
    harvest = pipeline.harvest_feed(poll, feed, config_for(sources), known, now) if poll.entries else FeedHarvest(poll.outcome)
    return wh.ingest.commit("run", [harvest], sources.pipeline, now)[0]


def _stored(wh: Warehouse) -> list[tuple]:
    """(canonical_url, guid, iso_week) of every stored article row, as v_articles shows them."""
    with wh.reader() as con:
        return con.execute("SELECT canonical_url, guid, iso_week FROM articles JOIN v_articles USING (article_id, canonical_url) ORDER BY canonical_url").fetchall()


@pytest.mark.reliability("each link stored once, none lost")
def test_duplicate_guids_with_different_links(site):
    """One GUID on three different links, then a poll that adds a fourth."""
    server, sources, feed, wh = site
    _serve(server, [item(i, f"http://news.example/a/{i}", guid="same-guid") for i in range(3)])
    first = _run(sources, feed, wh)
    _serve(server, [item(i, f"http://news.example/a/{i}", guid="same-guid") for i in range(4)])
    second = _run(sources, feed, wh, NOW + timedelta(hours=3))
    third = _run(sources, feed, wh, NOW + timedelta(hours=6))
    urls = [r[0] for r in _stored(wh)]
    assert urls == [f"http://news.example/a/{i}" for i in range(4)]
    assert (first.new_articles, second.new_articles, third.new_articles) == (3, 1, 0)


@pytest.mark.reliability("nothing stored twice, nothing lost")
def test_feed_that_changes_every_guid(site):
    """Every poll gives every item a new GUID (same links), and one new item."""
    server, sources, feed, wh = site
    for poll in range(3):
        _serve(server, [item(i, f"http://news.example/a/{i}?utm_source=rss{poll}", guid=f"urn:uuid:{poll}-{i}")
                        for i in range(poll + 2)])
        _run(sources, feed, wh, NOW + timedelta(hours=3 * poll))
    assert [r[0] for r in _stored(wh)] == [f"http://news.example/a/{i}" for i in range(4)]


@pytest.mark.reliability("each article in exactly one week")
def test_missing_odd_and_future_dates(site):
    """Items with no date, an unparseable date, a future date, an old date, a date near midnight."""
    server, sources, feed, wh = site
    dates = {"none": None, "garbage": "sometime last week", "future": "Mon, 01 Jan 2035 00:00:00 GMT",
             "old": "Mon, 06 Jan 2025 09:00:00 GMT", "late-sunday": "Sun, 02 Feb 2025 23:30:00 -0800",
             "tomorrow": "Thu, 06 Feb 2025 07:00:00 GMT"}
    _serve(server, [item(n, f"http://news.example/{key}", published=date) for n, (key, date) in enumerate(dates.items())])
    outcome = _run(sources, feed, wh)
    rows = {r[0].rsplit("/", 1)[1]: r[2] for r in _stored(wh)}
    assert outcome.new_articles == len(dates) and len(_stored(wh)) == len(dates)
    assert rows == {"none": "2025-W06", "garbage": "2025-W06", "future": "2025-W06", "old": "2025-W02",
                    "late-sunday": "2025-W06", "tomorrow": "2025-W06"}


# --- Property-based: only the project's typed errors come out -------------------------------------------------

_URL_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
_HOSTS = st.one_of(st.from_regex(r"[a-zA-Z0-9-]{1,12}(\.[a-zA-Z0-9-]{1,10}){0,3}\.?", fullmatch=True),
                   st.sampled_from(["www.example.com", "m.sina.cn", "[::1]", "[::1", "127.0.0.1", "0x7f.1", "例子.中国",
                                    "xn--fsqu00a.xn--fiqs8s", "a..b", "", "user:pw@h.example"]))
_PORTS = st.one_of(st.just(""), st.integers(0, 70000).map(lambda p: f":{p}"), st.sampled_from([":", ":http", ":-1"]))
_QUERY = st.lists(st.tuples(st.sampled_from(["id", "utm_source", "spm", "a", "B", "from", "x y", "%26", "中"]),
                            st.text(_URL_CHARS, max_size=8)), max_size=5)


@st.composite
def urlish(draw) -> str:
    """Strings that look like URLs, and some that only nearly do."""
    scheme = draw(st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "", "http:/", "javascript:"]))
    path = draw(st.text(_URL_CHARS, max_size=30))
    query = "&".join(f"{k}={v}" for k, v in draw(_QUERY))
    fragment = draw(st.sampled_from(["", "#x", "#", "#中文"]))
    return f"{scheme}{draw(_HOSTS)}{draw(_PORTS)}/{path}" + (f"?{query}" if query else "") + fragment


_ANY_URL = st.one_of(urlish(), st.text(_URL_CHARS, max_size=80))


@pytest.mark.reliability("only BadURL; idempotent")
@settings(max_examples=200, deadline=None)
@given(_ANY_URL)
@example("http://M.M.0.0/")  # found by this test: one mobile prefix was stripped per call
@example("http://www.m.example.com/a")
def test_fuzz_canonical_url(url):
    """Canonicalisation over URL-like and arbitrary strings."""
    _canonical_is_idempotent(url)


@pytest.mark.slow
@pytest.mark.reliability("only BadURL; idempotent")
@settings(max_examples=10_000, deadline=None)
@given(_ANY_URL)
def test_fuzz_canonical_url_long(url):
    """Canonicalisation fuzzing, 10,000 examples."""
    _canonical_is_idempotent(url)


def _canonical_is_idempotent(url: str) -> None:
    """canonical_url gives a value that it maps to itself, or raises BadURL."""
    try:
        once = canonical_url(url)
    except MediamonError:
        return
    assert canonical_url(once) == once


@pytest.mark.reliability("only FetchError subclasses")
@settings(max_examples=150, deadline=None)
@given(_ANY_URL, st.booleans())
@example("http://[::1/x", False)
@example("javascript:alert(1)", True)
@example("http://例子.中国/", True)
def test_fuzz_fetch_url_handling(url, allow_private):
    """The fetcher's URL handling (checks, resolution, connection) over URL-like and arbitrary strings."""
    import socket
    from unittest import mock

    from mediamon import fetch
    from mediamon.config import FetcherSettings
    from mediamon.errors import FetchError

    def resolve(host, port, *args, **kw):
        """Names with a dot resolve to a public stand-in address; others do not resolve (no real DNS)."""
        if "." not in str(host) or any(c in str(host) for c in " \x00"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 80))]

    def refuse(family, sockaddr, timeout):
        """No connection is ever made."""
        raise ConnectionRefusedError(111, "Connection refused")

    if allow_private not in _FETCHERS:  # building a client (its TLS context) costs ~40 ms: one per setting
        _FETCHERS[allow_private] = fetch.Fetcher(FetcherSettings(allow_private_addresses=allow_private, timeout_seconds=2))
    with mock.patch.object(socket, "getaddrinfo", resolve), mock.patch.object(fetch, "_open_connection", refuse):
        with pytest.raises(FetchError):
            _FETCHERS[allow_private].get(url)


_FETCHERS: dict = {}


@pytest.mark.reliability("always text, never an exception")
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.one_of(st.none(), st.text(max_size=20),
                                           st.sampled_from(["gbk", "big5", "utf-8", "latin-1", "utf-16", "utf-32",
                                                            "hz", "utf-7", "rot13", "base64", "idna", "punycode"])))
@example(b"\x00", "PUNYCODE")  # found by this test: punycode's UnicodeError escaped
@example(b"", "\x00")  # found by this test: codecs.lookup raised ValueError
def test_fuzz_decode(body, charset):
    """Decoding arbitrary bytes under arbitrary, exotic or non-text charset labels."""
    text, codec = decode(body, charset)
    assert isinstance(text, str) and codec
    xml, _ = to_utf8_xml(body, charset)
    xml.decode("utf-8")


_XML_PIECES = st.sampled_from([
    "<rss>", "</rss>", '<rss version="2.0">', "<channel>", "</channel>", "<item>", "</item>", "<title>", "</title>",
    "<link>", "</link>", "http://news.example/a", "http://[::1", "http://h:99999/x", "<guid>", "</guid>",
    "<pubDate>", "</pubDate>", "Mon, 99 Feb 2025 25:61:00 GMT", "<![CDATA[", "]]>", "&amp;", "&bogus;", "&#0;",
    "&#x110000;", "<!DOCTYPE x [<!ENTITY e 'ee'>]>", "&e;", "<feed xmlns='http://www.w3.org/2005/Atom'>", "</feed>",
    "<entry>", "</entry>", "<link href='javascript:x'/>", "<content type='html'>", "</content>", "英伟达", "\x00",
    "\u202e", "<script>", "<?xml version='1.0' encoding='big5'?>", "<", ">", '"', "'",
])


_FEEDISH = st.one_of(st.lists(_XML_PIECES, max_size=40).map(lambda p: "".join(p).encode("utf-8")), st.binary(max_size=500))
_CTYPES = st.sampled_from(["application/xml", "text/html; charset=gbk", "application/rss+xml; charset=bogus", ""])


@pytest.mark.reliability("entries or NotAFeed only")
@settings(max_examples=300, deadline=None)
@given(_FEEDISH, _CTYPES)
@example(b"<item>&#x110000;", "application/xml")  # found by this test: feedparser raised ValueError
def test_fuzz_parse_feed(body, ctype):
    """Feed parsing over random fragments of feed syntax and random bytes."""
    _parse_gives_entries_or_not_a_feed(body, ctype)


@pytest.mark.slow
@pytest.mark.reliability("entries or NotAFeed only")
@settings(max_examples=5000, deadline=None)
@given(_FEEDISH, _CTYPES)
def test_fuzz_parse_feed_long(body, ctype):
    """Feed-parsing fuzzing, 5,000 examples."""
    _parse_gives_entries_or_not_a_feed(body, ctype)


def _parse_gives_entries_or_not_a_feed(body: bytes, ctype: str) -> None:
    """parse_feed returns clean entries or raises NotAFeed, nothing else."""
    try:
        entries = parse_feed(_response(body, ctype), "f")
    except NotAFeed:
        return
    for e in entries:
        assert isinstance(e, Entry) and "\x00" not in e.guid + e.url + e.title


_FIELD = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


_STORE_ROWS = st.lists(st.tuples(_FIELD, st.one_of(urlish(), _FIELD), st.one_of(st.none(), _FIELD),
                                 st.one_of(st.none(), st.sampled_from(["Mon, 03 Feb 2025 08:00:00 GMT", "garbage", "",
                                                                       "Fri, 31 Dec 9999 23:59:59 GMT"]))),
                       min_size=1, max_size=5)


@pytest.mark.reliability("stored or a typed error; nothing stored twice")
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STORE_ROWS)
def test_fuzz_store_path(rows):
    """Hostile titles, links, GUIDs and dates through parse, harvest and the warehouse, twice."""
    _store_path(rows)


@pytest.mark.slow
@pytest.mark.reliability("stored or a typed error; nothing stored twice")
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_STORE_ROWS)
def test_fuzz_store_path_long(rows):
    """Store-path fuzzing, 250 examples."""
    _store_path(rows)


def _store_path(rows: list[tuple]) -> None:
    """Hostile titles, links, GUIDs and dates through parse, harvest and the warehouse, twice."""
    from xml.sax.saxutils import escape

    items = "".join(
        f"<item><title>英伟达 {escape(t)}</title><link>{escape(link)}</link>"
        + (f"<guid>{escape(guid)}</guid>" if guid is not None else "")
        + (f"<pubDate>{date}</pubDate>" if date is not None else "")
        + f"<content:encoded>{escape(faults.STORY + t)}</content:encoded></item>"
        for t, link, guid, date in rows)
    doc = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/'
           f'content/"><channel><title>t</title>{items}</channel></rss>').encode("utf-8", "surrogatepass")
    sources, wh = _fuzz_warehouse()
    feed = sources.feeds[0]
    for _attempt in range(2):
        wh.ingest.sync_feeds(sources.feeds, NOW)
        try:
            entries = parse_feed(_response(doc), feed.id)
        except NotAFeed:
            return
        kept = [e for e in entries if e.canonical_url]
        poll = FeedPoll(FeedOutcome(feed.id), kept)
        known = wh.ingest.known_urls(kept)
        harvest = pipeline.harvest_feed(poll, feed, config_for(sources), known, NOW)
        wh.ingest.commit("run", [harvest], sources.pipeline, NOW)
    with wh.reader() as con:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT canonical_url) FROM articles").fetchone()
    assert total == distinct


_FUZZ: list = []


def _fuzz_warehouse():
    """(sources, warehouse) shared by the store fuzz's examples (migrating one per example costs half a second)."""
    if not _FUZZ:
        tmp = Path(tempfile.mkdtemp(prefix="mediamon-fuzz-"))
        path = tmp / "sources.yaml"
        path.write_text(sources_doc({"f": "http://feeds.example/f.xml"}), encoding="utf-8")
        wh = Warehouse(tmp / "wh.duckdb", lock_timeout=5)
        wh.migrate()
        _FUZZ.extend([load_sources(path), wh])
    return _FUZZ[0], _FUZZ[1]


@pytest.mark.reliability("a page with no usable text, nor any in the feed, is counted and named in the digest and status")
def test_a_page_without_text_is_counted_and_named_not_silently_lost(tmp_path):
    """An item whose page is empty and whose feed carries only its title: never stored, never silent."""
    with FaultServer() as server:
        path = tmp_path / "sources.yaml"
        path.write_text(sources_doc({"f": server.url("/f.xml")}, full_text=False), encoding="utf-8")
        sources = load_sources(path)
        empty, good = server.url("/empty.html"), server.url("/good.html")
        server.route("/f.xml", faults.respond(200, (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>英伟达H20芯片出口管制新规</title><link>{empty}</link></item>"
            f"<item><title>英伟达H20芯片出口管制新规 续</title><link>{good}</link></item>"
            "</channel></rss>"), {"Content-Type": "application/rss+xml"}))
        server.route("/empty.html", faults.respond(200, "<html><body><div></div></body></html>",
                                                   {"Content-Type": "text/html; charset=utf-8"}))
        server.route("/good.html", faults.respond(200, f"<html><body><article><p>{faults.STORY}</p></article></body></html>",
                                                  {"Content-Type": "text/html; charset=utf-8"}))
        wh = Warehouse(tmp_path / "wh.duckdb", lock_timeout=5)
        wh.migrate()
        outcome = _run(sources, sources.feeds[0], wh, NOW)
    assert (outcome.new_articles, outcome.no_text, outcome.no_text_urls) == (1, 1, [empty])
    with wh.reader() as con:
        assert con.execute("SELECT no_text, no_text_urls FROM v_feed_polls").fetchone() == (1, [empty])
    week = "2025-W06"  # NOW's week in Shanghai time
    from mediamon.warehouse import digest_queries

    with wh.reader() as con:
        named = con.execute(digest_queries()["pages_without_text"].replace("$week", f"'{week}'")).fetchall()
    assert named == [("f", empty, 1)]
