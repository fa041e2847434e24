"""HTTP fetching for feeds and pages: deadlines, size caps, redirects, validators and address checks."""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import threading
import time
from collections import defaultdict
from datetime import datetime, timezone
from urllib.parse import urljoin, urlsplit

import httpx

from .config import FetcherSettings
from .errors import (
    BlockedURL,
    FetchConnectionError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
)
from .models import Response

_REDIRECTS = {301, 302, 303, 307, 308}
FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header given in seconds or as an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def check_address(url: str, allow_private: bool) -> None:
    """Refuse non-HTTP schemes, and hosts that resolve to private, loopback or link-local addresses."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedURL(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    host = parts.hostname
    if not host:
        raise BlockedURL(url, "no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchConnectionError(url, f"name does not resolve: {exc}") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        if mapped is not None:
            ip = mapped
        if not ip.is_global or ip.is_multicast:
            raise BlockedURL(url, f"{host} resolves to non-public address {ip}")


class Fetcher:
    """A thread-safe HTTP client with the pipeline's rules; one per process is enough."""

    def __init__(self, settings: FetcherSettings, transport: httpx.BaseTransport | None = None):
        """Build the client from fetcher settings (a transport may be injected for tests)."""
        self.settings = settings
        self._client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
            trust_env=False,
        )
        self._hosts: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(settings.per_host_concurrency)
        )
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __enter__(self) -> "Fetcher":
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        """The semaphore that caps concurrent requests to one host."""
        with self._hosts_lock:
            return self._hosts[(urlsplit(url).hostname or "").lower()]

    def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None, accept: str = PAGE_ACCEPT
    ) -> Response:
        """GET a URL under the rules; waits out a short Retry-After on 429/503; raises FetchError subclasses."""
        for attempt in range(3):
            try:
                return self._get_once(url, etag=etag, last_modified=last_modified, accept=accept)
            except HTTPStatusError as exc:
                wait = exc.retry_after
                if exc.status in (429, 503) and wait is not None and wait <= self.settings.retry_wait_cap_seconds and attempt < 2:
                    time.sleep(wait)  # honour Retry-After: never come back sooner
                    continue
                raise
        raise AssertionError("unreachable")

    def _get_once(self, url: str, *, etag: str | None, last_modified: str | None, accept: str) -> Response:
        """One request with its redirect chain, within one total deadline."""
        s = self.settings
        start = time.monotonic()
        deadline = start + s.timeout_seconds
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        visited: list[str] = []
        current = url
        while True:
            check_address(current, s.allow_private_addresses)
            if current in visited:
                raise TooManyRedirects(url, f"redirect loop back to {current}")
            visited.append(current)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FetchTimeout(url, f"no answer within {s.timeout_seconds:g} s")
            timeout = httpx.Timeout(remaining, connect=min(s.connect_timeout_seconds, remaining))
            with self._host_slot(current):
                try:
                    with self._client.stream("GET", current, headers=headers, timeout=timeout) as r:
                        if r.status_code in _REDIRECTS and r.headers.get("location"):
                            if len(visited) > s.max_redirects:
                                raise TooManyRedirects(url, f"more than {s.max_redirects} redirects")
                            current = urljoin(current, r.headers["location"].strip())
                            continue
                        body = self._read_capped(r, url, deadline) if r.status_code != 304 else b""
                        status = r.status_code
                        resp_headers = {k.lower(): v for k, v in r.headers.items()}
                except FetchError:
                    raise
                except httpx.TimeoutException:
                    raise FetchTimeout(url, f"no answer within {s.timeout_seconds:g} s") from None
                except (httpx.TransportError, httpx.DecodingError, OSError) as exc:
                    raise FetchConnectionError(url, f"{type(exc).__name__}: {exc}"[:300]) from None
            elapsed = (time.monotonic() - start) * 1000
            if status >= 400:
                raise HTTPStatusError(
                    url, f"HTTP {status}", status=status, retry_after=parse_retry_after(resp_headers.get("retry-after"))
                )
            return Response(current, status, resp_headers, body, elapsed)

    def _read_capped(self, r: httpx.Response, url: str, deadline: float) -> bytes:
        """Read the decoded body, stopping at the size cap or the deadline."""
        cap = self.settings.max_bytes
        chunks, total = [], 0
        for chunk in r.iter_bytes(chunk_size=65536):
            total += len(chunk)
            if total > cap:
                raise TooLarge(url, f"body larger than {cap} bytes decoded")
            if time.monotonic() > deadline:
                raise FetchTimeout(url, f"body not complete within {self.settings.timeout_seconds:g} s")
            chunks.append(chunk)
        return b"".join(chunks)


def now_utc() -> datetime:
    """The current time in UTC (one place to freeze in tests)."""
    return datetime.now(timezone.utc)
