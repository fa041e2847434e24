"""The fetcher's rules, against a loopback server."""

from __future__ import annotations

import gzip
import time

import pytest

from mediamon.config import FetcherSettings
from mediamon.errors import BlockedURL, FetchTimeout, HTTPStatusError, TooLarge, TooManyRedirects
from mediamon.fetch import Fetcher, check_address, parse_retry_after
from mediamon.testing.devserver import FeedServer


@pytest.fixture
def server():
    """A bare loopback server."""
    with FeedServer() as s:
        yield s


def _fetcher(**kw) -> Fetcher:
    """A fetcher allowed to reach loopback."""
    return Fetcher(FetcherSettings(allow_private_addresses=True, **kw))


def test_conditional_get_and_user_agent(server):
    """The second GET sends the validators and gets a 304 with no body."""
    url = server.add("/f.xml", "<rss/>", "application/xml")
    with _fetcher() as f:
        first = f.get(url)
        second = f.get(url, etag=first.headers["etag"], last_modified=first.headers["last-modified"])
    assert first.status == 200 and second.not_modified and second.body == b""
    sent = server.requests[-1][1]
    assert sent["if-none-match"] == first.headers["etag"]
    assert sent["user-agent"].startswith("mediamon/")
    assert "gzip" in sent["accept-encoding"]


def test_gzip_body_is_decoded(server):
    """Compressed bodies arrive decoded."""
    url = server.add("/big.html", "中" * 5000)
    with _fetcher() as f:
        assert f.get(url).body.decode() == "中" * 5000


def test_decoded_size_cap(server):
    """A body over the cap (after decompression) is refused."""
    bomb = gzip.compress(b"0" * 2_000_000)
    url = server.add_handler("/bomb", lambda req: (200, {"Content-Encoding": "gzip"}, bomb))
    with _fetcher(max_bytes=100_000) as f, pytest.raises(TooLarge):
        f.get(url)


def test_redirects_are_followed_up_to_the_limit(server):
    """Up to max_redirects hops are followed; one more is refused; loops are refused."""
    for i in range(7):
        server.add_handler(f"/r{i}", lambda req, i=i: (302, {"Location": f"/r{i + 1}"}, b""))
    server.add("/r7", "end")
    server.add_handler("/loop", lambda req: (301, {"Location": "/loop"}, b""))
    with _fetcher(max_redirects=7) as f:
        assert f.get(server.url("/r0")).url.endswith("/r7")
    with _fetcher(max_redirects=5) as f, pytest.raises(TooManyRedirects):
        f.get(server.url("/r0"))
    with _fetcher() as f, pytest.raises(TooManyRedirects, match="loop"):
        f.get(server.url("/loop"))


def test_redirect_to_another_scheme_is_blocked(server):
    """file:, ftp: and javascript: targets are refused at once."""
    server.add_handler("/evil", lambda req: (302, {"Location": "file:///etc/passwd"}, b""))
    with _fetcher() as f, pytest.raises(BlockedURL, match="scheme"):
        f.get(server.url("/evil"))


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
    "http://[::ffff:127.0.0.1]/", "http://0x7f.1/", "http://localhost/",
])
def test_private_addresses_are_refused_by_default(url):
    """With the default settings, loopback, private and link-local targets are refused before any request."""
    with pytest.raises(BlockedURL):
        check_address(url, allow_private=False)


def test_refused_private_address_sends_no_request(server):
    """The target server never sees the request."""
    with Fetcher(FetcherSettings()) as f, pytest.raises(BlockedURL):
        f.get(server.url("/x"))
    assert server.hits == {}


def test_error_statuses_are_classified(server):
    """404 is permanent; 500 and 429 are transient."""
    server.add("/gone", "x", status=404, validators=False)
    server.add("/err", "x", status=500, validators=False)
    with _fetcher() as f:
        with pytest.raises(HTTPStatusError) as gone:
            f.get(server.url("/gone"))
        with pytest.raises(HTTPStatusError) as err:
            f.get(server.url("/err"))
    assert not gone.value.transient and gone.value.status == 404
    assert err.value.transient


def test_short_retry_after_is_waited_out(server):
    """429 with a short Retry-After: the fetcher waits at least that long, then succeeds."""
    calls = []

    def flaky(req):
        calls.append(time.monotonic())
        return (429, {"Retry-After": "1"}, b"") if len(calls) == 1 else (200, {"Content-Type": "text/plain"}, b"ok")

    url = server.add_handler("/flaky", flaky)
    with _fetcher(retry_wait_cap_seconds=5) as f:
        assert f.get(url).body == b"ok"
    assert calls[1] - calls[0] >= 1.0


def test_long_retry_after_is_reported_not_waited(server):
    """A Retry-After beyond the cap is raised with its value, for the feed's next poll."""
    url = server.add_handler("/busy", lambda req: (503, {"Retry-After": "3600"}, b""))
    with _fetcher(retry_wait_cap_seconds=5) as f, pytest.raises(HTTPStatusError) as err:
        f.get(url)
    assert err.value.retry_after == 3600 and err.value.transient


def test_retry_after_as_http_date():
    """Retry-After may be an HTTP date."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == pytest.approx(30.0)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("soon") is None


def test_total_deadline(server):
    """A server that never answers is cut off at the deadline."""
    url = server.add_handler("/hang", lambda req: (time.sleep(3), (200, {}, b"late"))[1])
    start = time.monotonic()
    with _fetcher(timeout_seconds=1) as f, pytest.raises(FetchTimeout):
        f.get(url)
    assert time.monotonic() - start < 3
