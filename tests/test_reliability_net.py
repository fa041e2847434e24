"""Reliability (issue 7), network faults: the fault server on loopback against the fetcher and a feed's poll."""

from __future__ import annotations

import socket
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest
from fixtures import faults
from fixtures.faults import FaultServer, item, rss_feed, sources_doc

from mediamon import fetch, pipeline
from mediamon.config import FetcherSettings, load_sources
from mediamon.errors import (
    BlockedURL,
    FetchConnectionError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
)
from mediamon.fetch import Fetcher
from mediamon.models import FeedHarvest, FeedPoll, FeedState
from mediamon.testing import config_for
from mediamon.warehouse import Warehouse

NOW = datetime(2025, 2, 5, 8, tzinfo=UTC)
PUBLIC_IP = "93.184.215.14"  # stands for "some public host"; tests route it to loopback, nothing leaves the machine


@pytest.fixture
def server():
    """A fault server on loopback."""
    with FaultServer() as s:
        yield s


def _fetcher(**kw) -> Fetcher:
    """A fetcher allowed to reach loopback, with a short deadline."""
    return Fetcher(FetcherSettings(**{"allow_private_addresses": True, "timeout_seconds": 2, "connect_timeout_seconds": 1,
                                      **kw}))


def _sources(tmp_path, feeds: dict[str, str], **fetcher):
    """Validated sources for these feeds."""
    path = tmp_path / "sources.yaml"
    path.write_text(sources_doc(feeds, **fetcher), encoding="utf-8")
    return load_sources(path)


def _warehouse(tmp_path, sources) -> Warehouse:
    """A migrated warehouse knowing the sources' feeds."""
    wh = Warehouse(tmp_path / "wh.duckdb", lock_timeout=5)
    wh.migrate()
    wh.ingest.sync_feeds(sources.feeds, NOW)
    return wh


def _record(wh: Warehouse, sources, feed, exc_or_poll, now=NOW) -> dict:
    """Commit a poll's outcome (or the error it raised) as the flow does; return the feed's warehouse row."""
    poll = exc_or_poll if isinstance(exc_or_poll, FeedPoll) else FeedPoll(pipeline.error_outcome(feed.id, exc_or_poll))
    wh.ingest.commit("run", [FeedHarvest(poll.outcome)], sources.pipeline, now)
    with wh.reader() as con:
        cur = con.execute("SELECT * FROM feeds WHERE feed_id = ?", [feed.id])
        return dict(zip([d[0] for d in cur.description], cur.fetchone()))


def _poll(feed, sources, state=None):
    """pipeline.poll_feed, returning the FetchError instead of raising it."""
    try:
        return pipeline.poll_feed(feed, state or FeedState(feed.id), config_for(sources))
    except FetchError as exc:
        return exc


# --- Deadlines ---------------------------------------------------------------------------------------------

@pytest.mark.reliability("timeout within deadline + 2 s")
def test_hang(server):
    """Server accepts and never answers."""
    url = server.route("/hang", faults.hang(30))
    start = time.monotonic()
    with _fetcher() as f, pytest.raises(FetchTimeout):
        f.get(url)
    assert time.monotonic() - start < 2 + 2


@pytest.mark.reliability("timeout within deadline + 2 s")
@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_drip(server, in_headers):
    """Server drips one byte a second (body, or from the status line on)."""
    url = server.route("/drip", faults.drip(b"<rss>" + b"x" * 200 + b"</rss>", 1.0, in_headers))
    start = time.monotonic()
    with _fetcher() as f, pytest.raises(FetchTimeout):
        f.get(url)
    assert time.monotonic() - start < 2 + 2


@pytest.mark.slow
@pytest.mark.reliability("timeout within deadline + 2 s")
def test_slow_drip_with_a_longer_deadline(server):
    """Server drips one byte every 3 s against a 10 s deadline (the body would take 10 minutes)."""
    url = server.route("/drip", faults.drip(b"<rss>" + b"x" * 200 + b"</rss>", 3.0, in_headers=True))
    start = time.monotonic()
    with _fetcher(timeout_seconds=10, connect_timeout_seconds=5) as f, pytest.raises(FetchTimeout):
        f.get(url)
    assert 10 - 0.5 < time.monotonic() - start < 10 + 2


# --- Size ---------------------------------------------------------------------------------------------------

def _peak_during(call) -> int:
    """Peak bytes Python allocated while call() ran (its exception, if any, re-raised)."""
    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.reliability("TooLarge near the cap, memory bounded")
@pytest.mark.parametrize("route", ["huge", "bomb", "double-gzip"])
def test_huge_bodies(server, route):
    """Huge body (200 MB), gzip bomb (200 MB decoded) and double gzip (200 MB) against a 1 MB cap."""
    cap = 1_000_000
    handler = {"huge": faults.huge(200_000_000), "bomb": faults.gzip_bomb(200_000_000),
               "double-gzip": faults.gzip_bomb(200_000_000, layers=2)}[route]
    url = server.route("/big", handler)
    errors = []

    def fetch_it():
        """Fetch and keep the error."""
        with _fetcher(max_bytes=cap, timeout_seconds=10) as f:
            try:
                f.get(url)
            except TooLarge as exc:
                errors.append(exc)

    start = time.monotonic()
    peak = _peak_during(fetch_it)
    assert errors and "1000000 bytes" in errors[0].detail
    assert peak < 4 * cap, f"peak {peak} bytes while reading a body capped at {cap}"
    assert time.monotonic() - start < 10


@pytest.mark.reliability("decoded exactly")
def test_double_gzip_small_body_is_decoded(server):
    """Double gzip (Content-Encoding: gzip, gzip) of a normal page."""
    import gzip

    page = ("<html><body><p>" + faults.STORY + "</p></body></html>").encode()
    url = server.route("/g2", faults.respond(200, gzip.compress(gzip.compress(page)),
                                            {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip, gzip"}))
    with _fetcher() as f:
        assert f.get(url).body == page


@pytest.mark.reliability("classified error, no crash")
def test_corrupt_gzip_and_unknown_encoding(server):
    """Corrupt gzip body; an encoding that was not asked for (br)."""
    bad = server.route("/bad", faults.respond(200, b"\x1f\x8b\x08\x00garbage" * 10, {"Content-Encoding": "gzip"}))
    br = server.route("/br", faults.respond(200, b"\x00\x01\x02", {"Content-Encoding": "br"}))
    with _fetcher() as f:
        with pytest.raises(FetchConnectionError, match="corrupt"):
            f.get(bad)
        with pytest.raises(FetchConnectionError, match="br"):
            f.get(br)


# --- Redirects ----------------------------------------------------------------------------------------------

@pytest.mark.reliability("5 hops followed, the 6th refused; loops refused")
def test_redirect_chains_and_loops(server):
    """Redirect chain of 5 and of 6 hops, a loop, and a two-URL ping-pong."""
    for i in range(6):
        server.route(f"/r{i}", faults.redirect(f"/r{i + 1}"))
    server.route("/r6", faults.respond(200, "end"))
    server.route("/loop", faults.redirect("/loop", 301))
    server.route("/ping", faults.redirect("/pong"))
    server.route("/pong", faults.redirect("/ping"))
    with _fetcher() as f:  # default max_redirects is 5
        assert f.get(server.url("/r1")).url.endswith("/r6")
        with pytest.raises(TooManyRedirects, match="more than 5"):
            f.get(server.url("/r0"))
        for start in ("/loop", "/ping"):
            with pytest.raises(TooManyRedirects, match="loop"):
                f.get(server.url(start))
    assert server.hits("/loop") == 1 and server.hits("/ping") == 1


@pytest.mark.reliability("refused at once, target not requested")
@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/x", "javascript:alert(1)",
                                    "gopher://127.0.0.1:70/_x", "data:text/html,<p>x</p>"])
def test_redirect_to_other_schemes(server, target):
    """Redirect to file:, ftp:, javascript:, gopher:, data: URLs."""
    url = server.route("/evil", faults.redirect(target))
    with _fetcher() as f, pytest.raises(BlockedURL, match="scheme"):
        f.get(url)
    assert [r.path for r in server.requests] == ["/evil"]


# --- Statuses, validators, Retry-After ----------------------------------------------------------------------

@pytest.mark.reliability("not_modified, no body read, feed unchanged")
@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_304(server, tmp_path, validator):
    """304 answers a conditional GET (ETag or Last-Modified)."""
    url = server.route("/f.xml", faults.conditional(rss_feed([item(1, "http://news.example/a/1")])))
    sources = _sources(tmp_path, {"f": url})
    feed = sources.feeds[0]
    first = pipeline.poll_feed(feed, FeedState(feed.id), config_for(sources))
    assert first.outcome.status == "ok" and len(first.entries) == 1
    state = FeedState(feed.id, etag=first.outcome.etag if validator == "etag" else None,
                      last_modified=first.outcome.last_modified if validator == "last_modified" else None)
    second = pipeline.poll_feed(feed, state, config_for(sources))
    assert second.outcome.status == "not_modified" and second.entries == []
    wh = _warehouse(tmp_path, sources)
    row = _record(wh, sources, feed, second)
    assert row["failures"] == 0 and row["enabled"] and row["next_poll_at"] is None


@pytest.mark.reliability("no retry before Retry-After")
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_429_short_retry_after_is_waited_out(server, form):
    """429 with a short Retry-After (seconds, HTTP date), then 200."""
    # An HTTP date has whole seconds, so "3 s from now" is 2 to 3 s away when the request comes.
    value = "1" if form == "seconds" else faults.http_date(3)
    url = server.route("/limited", faults.sequence(faults.respond(429, "", {"Retry-After": value}),
                                                   faults.respond(200, "ok", {"Content-Type": "text/plain"})))
    with _fetcher(retry_wait_cap_seconds=4) as f:
        assert f.get(url).body == b"ok"
    first, second = server.requests
    assert second.at - first.at >= (1.0 if form == "seconds" else 1.5)


@pytest.mark.reliability("feed backs off until Retry-After (capped at 24 h), stays enabled")
@pytest.mark.parametrize("value", ["7200", "http-date", "999999999"])
def test_429_long_retry_after_parks_the_feed(server, tmp_path, value):
    """429 with Retry-After 2 h (seconds, HTTP date) and an absurd one."""
    header = faults.http_date(7200) if value == "http-date" else value
    url = server.route("/f.xml", faults.respond(429, "", {"Retry-After": header}))
    sources = _sources(tmp_path, {"f": url})
    feed = sources.feeds[0]
    exc = _poll(feed, sources)
    assert isinstance(exc, HTTPStatusError) and exc.transient and server.hits("/f.xml") == 1, "no in-run retry"
    expected = min(float(value), 86400) if value.isdigit() else 7200
    assert exc.retry_after == pytest.approx(expected, abs=2)
    wh = _warehouse(tmp_path, sources)
    row = _record(wh, sources, feed, exc)
    assert row["enabled"] and row["failures"] == 1
    wait = (row["next_poll_at"].replace(tzinfo=UTC) - NOW).total_seconds()
    assert wait >= expected - 2 and wait <= 86400 + 2
    due = wh.ingest.sync_feeds(sources.feeds, NOW + timedelta(seconds=expected - 60))
    assert due[feed.id].next_poll_at.replace(tzinfo=UTC) > NOW + timedelta(seconds=expected - 60)


@pytest.mark.reliability("failures rise, feed backs off")
@pytest.mark.parametrize("status", [404, 410])
def test_repeated_404_and_410(server, tmp_path, status):
    """The feed answers 404 (or 410) poll after poll."""
    url = server.route("/gone.xml", faults.respond(status, "gone"))
    sources = _sources(tmp_path, {"f": url})
    feed = sources.feeds[0]
    wh = _warehouse(tmp_path, sources)
    waits = []
    for n in range(1, 4):
        poll = _poll(feed, sources)  # permanent errors come back as an error outcome, not raised
        assert isinstance(poll, FeedPoll) and poll.outcome.status == "error" and poll.outcome.http_status == status
        row = _record(wh, sources, feed, poll, NOW + timedelta(days=n))
        assert row["failures"] == n and f"HTTP {status}" in row["last_error"]
        waits.append(row["next_poll_at"] - row["last_polled_at"])
    assert waits[0] < waits[1] < waits[2], "each failure backs off longer"


@pytest.mark.reliability("entries stored once", )
def test_503_503_200_stores_once(server, tmp_path, prefect_harness):
    """Feed answers 503, 503, then 200 (Prefect retries the poll), then 200 again on the next run."""
    from flows.ingest import ingest as ingest_flow

    feed_xml = rss_feed([item(i, f"http://news.example/a/{i}") for i in range(3)])
    url = server.route("/f.xml", faults.sequence(faults.respond(503, "busy"), faults.respond(503, "busy"),
                                                 faults.respond(200, feed_xml, {"Content-Type": "application/rss+xml"})))
    path = tmp_path / "sources.yaml"
    path.write_text(sources_doc({"f": url}, retries=2, retry_backoff_seconds=0.1), encoding="utf-8")
    ingest = ingest_flow
    first = ingest(sources_path=str(path), db=str(tmp_path / "wh.duckdb"))
    second = ingest(sources_path=str(path), db=str(tmp_path / "wh.duckdb"))
    assert server.hits("/f.xml") == 4
    assert first["new_articles"] == 3 and first["feeds_failed"] == 0
    assert second["new_articles"] == 0
    with Warehouse(tmp_path / "wh.duckdb").reader() as con:
        assert con.execute("SELECT count(*), count(DISTINCT canonical_url) FROM articles").fetchone() == (3, 3)


@pytest.mark.reliability("classified as a connection error")
@pytest.mark.parametrize("fault", ["reset", "truncated", "dns", "refused"])
def test_connection_faults_are_classified(server, monkeypatch, fault):
    """Connection reset, truncated body, DNS failure, nothing listening."""
    url = {"reset": server.route("/x", faults.reset()),
           "truncated": server.route("/x", faults.truncated(b"<rss><channel>", 5000)),
           "dns": "http://no-such-name.invalid/feed.xml",
           "refused": f"http://127.0.0.1:{_closed_port()}/x"}[fault]
    if fault == "dns":
        def no_such_name(host, *args, **kw):
            """Every lookup fails, as for a name that does not exist."""
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    for allow_private in (True, False) if fault == "dns" else (True,):
        with _fetcher(allow_private_addresses=allow_private) as f, pytest.raises(FetchConnectionError) as err:
            f.get(url)
        assert err.value.kind == "connection" and err.value.transient
        if fault == "dns":
            assert "resolve" in err.value.detail


def _closed_port() -> int:
    """A loopback port with nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Server-side request forgery ----------------------------------------------------------------------------

@pytest.fixture
def no_connections(monkeypatch):
    """Fail the test if the fetcher opens any connection at all; returns the attempts list."""
    attempts = []

    def refuse(family, sockaddr, timeout):
        """Record and refuse."""
        attempts.append(sockaddr)
        raise AssertionError(f"connection attempted to {sockaddr}")

    monkeypatch.setattr(fetch, "_open_connection", refuse)
    return attempts


def _fake_dns(monkeypatch, names: dict[str, list[str]]):
    """Resolve these names to these addresses (a list is used in turn per lookup; the last repeats)."""
    real = socket.getaddrinfo
    calls: dict[str, int] = {}

    def getaddrinfo(host, port, *args, **kw):
        """Answer for the fake names, defer to the real resolver for literals."""
        if host in names:
            n = calls[host] = calls.get(host, 0) + 1
            ip = names[host][min(n, len(names[host])) - 1]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (ip, port or 80) if family == socket.AF_INET else (ip, port or 80, 0, 0))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _route_public_ip_to(monkeypatch, server: FaultServer):
    """Connections to PUBLIC_IP go to the fault server instead (anything else fails the test)."""
    real = fetch._open_connection

    def open_connection(family, sockaddr, timeout):
        """Reroute the stand-in public address to loopback."""
        assert sockaddr[0] == PUBLIC_IP, f"unexpected connection to {sockaddr}"
        return real(socket.AF_INET, ("127.0.0.1", server.port), timeout)

    monkeypatch.setattr(fetch, "_open_connection", open_connection)


SSRF_HOSTS = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]", "0x7f.1", "2130706433",
              "0177.0.0.1", "127.1", "localhost", "intranet.example"]


@pytest.mark.reliability("refused, target sees no request")
@pytest.mark.parametrize("host", SSRF_HOSTS)
def test_ssrf_private_targets_are_refused(server, monkeypatch, no_connections, host):
    """Feed URL on a private, loopback or link-local address (literal, odd spelling or a name)."""
    _fake_dns(monkeypatch, {"intranet.example": ["127.0.0.1"]})
    url = f"http://{host}:{server.port}/latest/meta-data/"
    with Fetcher(FetcherSettings(timeout_seconds=2)) as f, pytest.raises(BlockedURL) as err:
        f.get(url)
    assert "non-public" in err.value.detail or "not a valid" in err.value.detail
    assert server.hits() == 0 and server.connections == 0 and no_connections == []


@pytest.mark.reliability("refused, loopback target sees no request")
def test_ssrf_public_url_redirecting_to_loopback(server, monkeypatch):
    """A public URL that redirects to 127.0.0.1 (and one to a name that resolves to loopback)."""
    _fake_dns(monkeypatch, {"news.example": [PUBLIC_IP], "internal.example": ["127.0.0.1"]})
    _route_public_ip_to(monkeypatch, server)
    server.route("/start", faults.redirect(server.url("/secret")))
    server.route("/start2", faults.redirect(f"http://internal.example:{server.port}/secret"))
    server.route("/secret", faults.respond(200, "secret"))
    server.route("/ok", faults.respond(200, "public page"))
    with Fetcher(FetcherSettings(timeout_seconds=2)) as f:
        assert f.get(f"http://news.example:{server.port}/ok").body == b"public page"  # the reroute itself works
        for start in ("/start", "/start2"):
            with pytest.raises(BlockedURL, match="non-public"):
                f.get(f"http://news.example:{server.port}{start}")
    assert server.hits("/secret") == 0 and server.hits("/start") == 1


@pytest.mark.reliability("refused at connect, target sees no request")
def test_ssrf_dns_rebinding(server, monkeypatch):
    """A name that resolves public when checked and to loopback when connected."""
    _fake_dns(monkeypatch, {"rebind.example": [PUBLIC_IP, "127.0.0.1"]})
    with Fetcher(FetcherSettings(timeout_seconds=2)) as f, pytest.raises(BlockedURL, match="127.0.0.1"):
        f.get(f"http://rebind.example:{server.port}/secret")
    assert server.connections == 0


@pytest.mark.reliability("feed error blocked_url; article links skipped; no request")
def test_ssrf_through_the_pipeline(server, tmp_path, monkeypatch):
    """A configured feed and a feed's article links point at loopback and the metadata address."""
    _fake_dns(monkeypatch, {"news.example": [PUBLIC_IP]})
    _route_public_ip_to(monkeypatch, server)
    links = [server.url("/admin"), "http://169.254.169.254/latest/meta-data/", f"http://[::1]:{server.port}/x"]
    feed_xml = rss_feed([item(i, link) for i, link in enumerate(links)])
    server.route("/f.xml", faults.respond(200, feed_xml, {"Content-Type": "application/rss+xml"}))
    path = tmp_path / "sources.yaml"
    path.write_text(sources_doc({"public": f"http://news.example:{server.port}/f.xml", "private": server.url("/f.xml")},
                                full_text=False, allow_private_addresses=False), encoding="utf-8")
    sources = load_sources(path)
    public, private = sources.feeds
    refused = pipeline.poll_feed(private, FeedState(private.id), config_for(sources))
    assert refused.outcome.status == "error" and refused.outcome.error_class == "blocked_url"
    poll = pipeline.poll_feed(public, FeedState(public.id), config_for(sources))
    assert len(poll.entries) == 3
    harvest = pipeline.harvest_feed(poll, public, config_for(sources), set(), NOW)
    assert harvest.articles == [] or all(a.extraction == "feed_fallback" for a in harvest.articles)
    assert harvest.outcome.pages_fetched == 0
    assert [r.path for r in server.requests] == ["/f.xml"], "only the public feed was requested"
