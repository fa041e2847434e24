"""HTTP fetching for feeds and pages: deadlines, size caps, redirects, validators and address checks."""

from __future__ import annotations

import email.utils
import ipaddress
import socket
import threading
import time
import zlib
from collections import defaultdict
from datetime import UTC
from typing import Iterable, Iterator
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from httpcore._backends.sync import (
    SyncStream,  # httpcore's socket stream (not re-exported at the top level)
)

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
# The longest Retry-After believed (as long as the default back-off ceiling): the feed stays enabled.
_PIECE = 65536  # decompressed bytes produced per step, so a gzip bomb never inflates all at once
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
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged by its IPv4 address)."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[tuple[int, tuple]]:
    """(family, socket address) for every address a host name or literal resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(info[0], info[4]) for info in infos]


def _non_public(addresses: Iterable[tuple[int, tuple]]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The first address that is not public, or None."""
    for _family, sockaddr in addresses:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if not _is_public(ip):
            return ip
    return None


def check_address(url: str, allow_private: bool) -> None:
    """Refuse non-HTTP schemes, and hosts that resolve to private, loopback or link-local addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedURL(url, f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedURL(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    host = parts.hostname
    if not host:
        raise BlockedURL(url, "no host")
    if allow_private:
        return
    try:
        # getaddrinfo also reads numeric spellings (0x7f.1, 2130706433, 0177.0.0.1) as the address they mean
        addresses = _resolve(host, port or (443 if parts.scheme.lower() == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchConnectionError(url, f"name does not resolve: {exc}") from None
    bad = _non_public(addresses)
    if bad is not None:
        raise BlockedURL(url, f"{host} resolves to non-public address {bad}")


# --- The network layer under httpx: every socket read, write and connect is held to the request's ----------
# total deadline (a server that drips one byte a second cannot stretch it), and, unless private addresses
# are allowed, the address actually connected to is checked (a name that re-resolves to loopback between
# the check above and the connection, DNS rebinding, is refused too).

_deadline = threading.local()


class _AddressRefused(Exception):
    """Raised inside the transport when a host resolves to a non-public address; becomes BlockedURL."""


def _time_left(timeout: float | None) -> float:
    """The smaller of an operation's own timeout and what is left of the current request's deadline."""
    deadline = getattr(_deadline, "at", None)
    if deadline is None:
        return timeout if timeout is not None else 60.0
    left = deadline - time.monotonic()
    return left if timeout is None else min(timeout, left)


def _open_connection(family: int, sockaddr: tuple, timeout: float) -> socket.socket:
    """A connected TCP socket (one place for tests to route a mocked public address to loopback)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes never outlast the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        """Wrap a stream."""
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        """Read, within the deadline."""
        left = _time_left(timeout)
        if left <= 0:
            raise httpcore.ReadTimeout("total deadline passed")
        return self._inner.read(max_bytes, left)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        """Write, within the deadline."""
        left = _time_left(timeout)
        if left <= 0:
            raise httpcore.WriteTimeout("total deadline passed")
        self._inner.write(buffer, left)

    def close(self) -> None:
        """Close the socket."""
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        """TLS over this stream, still under the deadline."""
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, max(0.001, _time_left(timeout))))

    def get_extra_info(self, info: str):
        """Socket details from the wrapped stream."""
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend: resolves once, refuses non-public peers, connects to the checked address."""

    def __init__(self, allow_private: bool):
        """Remember whether private addresses may be reached."""
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        """Connect to the first reachable address of host, after checking every address it resolves to."""
        left = _time_left(timeout)
        if left <= 0:
            raise httpcore.ConnectTimeout("total deadline passed")
        try:
            addresses = _resolve(host, port)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"name does not resolve: {exc}") from None
        if not self.allow_private:
            bad = _non_public(addresses)
            if bad is not None:
                raise _AddressRefused(f"{host} resolves to non-public address {bad}")
        last: Exception = httpcore.ConnectError(f"no address for {host}")
        for family, sockaddr in addresses:
            try:
                sock = _open_connection(family, sockaddr, max(0.001, _time_left(timeout)))
            except TimeoutError:
                last = httpcore.ConnectTimeout(f"connecting to {host} timed out")
                continue
            except OSError as exc:
                last = httpcore.ConnectError(f"{type(exc).__name__}: {exc}")
                continue
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _DeadlineStream(SyncStream(sock))
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        """Never used: feeds and pages are fetched over TCP only."""
        raise httpcore.ConnectError("unix sockets are not used")

    def sleep(self, seconds: float) -> None:
        """Sleep (httpcore's retry pauses)."""
        time.sleep(seconds)


def _guarded_transport(allow_private: bool, limits: httpx.Limits) -> httpx.HTTPTransport:
    """httpx's transport over the guarded backend (httpx exposes no backend option, so its pool is replaced)."""
    transport = httpx.HTTPTransport(limits=limits, trust_env=False)
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_GuardedBackend(allow_private),
    )
    return transport


# --- Content decoding with bounded memory: httpx would inflate each network read whole (a 64 KB read of a ---
# gzip bomb is 64 MB); here each coding yields at most _PIECE bytes at a time and reading stops at the cap.

class _Inflater:
    """One gzip or deflate layer, inflated in bounded pieces."""

    def __init__(self, coding: str):
        """gzip (or x-gzip) or deflate (zlib-wrapped, or raw as some servers send it)."""
        self.coding = coding
        self._raw_fallback = coding == "deflate"
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Inflate data, yielding pieces of at most _PIECE bytes."""
        while True:
            try:
                out = self._z.decompress(data, _PIECE)
            except zlib.error:
                if not self._raw_fallback:
                    raise
                self._raw_fallback = False  # only the first bytes may decide that deflate was sent raw
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                continue
            self._raw_fallback = False
            data = self._z.unconsumed_tail
            if out:
                yield out
            if self._z.eof or (not data and not out):
                return


def _decoders(content_encoding: str) -> list[_Inflater]:
    """The layers to undo, outermost first (`Content-Encoding: gzip, gzip` is double gzip)."""
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    layers = []
    for coding in reversed(codings):
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ValueError(f"unsupported Content-Encoding {coding!r}")
        layers.append(_Inflater(coding))
    return layers


def _through(layer: _Inflater, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces after one layer is undone."""
    for piece in pieces:
        yield from layer.feed(piece)


def _decoded(raw: Iterable[bytes], layers: list[_Inflater]) -> Iterator[bytes]:
    """The decoded body, lazily, one bounded piece at a time."""
    pieces: Iterable[bytes] = raw
    for layer in layers:
        pieces = _through(layer, pieces)
    return iter(pieces)


_LOCATION = "x-mediamon-location"


def _set_aside_location(response: httpx.Response) -> None:
    """Move Location aside: httpx parses it even when not following, and raises on javascript: and the like."""
    if "location" in response.headers:
        response.headers[_LOCATION] = response.headers.pop("location")


class Fetcher:
    """A thread-safe HTTP client with the pipeline's rules; one per process is enough."""

    def __init__(self, settings: FetcherSettings, transport: httpx.BaseTransport | None = None):
        """Build the client from fetcher settings (a transport may be injected for tests)."""
        self.settings = settings
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self._client = httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=limits,
            transport=transport or _guarded_transport(settings.allow_private_addresses, limits),
            trust_env=False,
            event_hooks={"response": [_set_aside_location]},
        )
        self._hosts: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(settings.per_host_concurrency)
        )
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        """Close pooled connections."""
        self._client.close()

    def __enter__(self) -> Fetcher:
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
                _deadline.at = deadline  # every socket operation below is cut off at the deadline
                try:
                    with self._client.stream("GET", current, headers=headers, timeout=timeout) as r:
                        location = r.headers.get(_LOCATION, "").strip()
                        if r.status_code in _REDIRECTS and location:
                            if len(visited) > s.max_redirects:
                                raise TooManyRedirects(url, f"more than {s.max_redirects} redirects")
                            current = urljoin(current, location)
                            continue
                        body = self._read_capped(r, url, deadline) if r.status_code != 304 else b""
                        status = r.status_code
                        resp_headers = {("location" if k.lower() == _LOCATION else k.lower()): v
                                        for k, v in r.headers.items()}
                except FetchError:
                    raise
                except _AddressRefused as exc:
                    raise BlockedURL(url, str(exc)) from None
                except httpx.TimeoutException:
                    raise FetchTimeout(url, f"no answer within {s.timeout_seconds:g} s") from None
                except httpx.InvalidURL as exc:
                    raise BlockedURL(url, f"not a valid URL: {exc}") from None
                except (httpx.TransportError, httpx.DecodingError, OSError) as exc:
                    raise FetchConnectionError(url, f"{type(exc).__name__}: {exc}"[:300]) from None
                finally:
                    _deadline.at = None
            elapsed = (time.monotonic() - start) * 1000
            if status >= 400:
                retry_after = parse_retry_after(resp_headers.get("retry-after"))
                if retry_after is not None:
                    retry_after = min(retry_after, s.max_retry_after_seconds)  # a server cannot park a feed for a year
                raise HTTPStatusError(url, f"HTTP {status}", status=status, retry_after=retry_after)
            return Response(current, status, resp_headers, body, elapsed)

    def _read_capped(self, r: httpx.Response, url: str, deadline: float) -> bytes:
        """Read and decode the body in bounded pieces, stopping at the decoded-size cap or the deadline."""
        cap = self.settings.max_bytes
        try:
            layers = _decoders(r.headers.get("content-encoding", ""))
        except ValueError as exc:
            raise FetchConnectionError(url, str(exc)) from None
        chunks, total = [], 0
        try:
            for chunk in _decoded(r.iter_raw(), layers):
                total += len(chunk)
                if total > cap:
                    raise TooLarge(url, f"body larger than {cap} bytes decoded")
                if time.monotonic() > deadline:
                    raise FetchTimeout(url, f"body not complete within {self.settings.timeout_seconds:g} s")
                chunks.append(chunk)
        except zlib.error as exc:
            raise FetchConnectionError(url, f"corrupt {r.headers.get('content-encoding')} body: {exc}") from None
        return b"".join(chunks)

