"""A loopback HTTP server for tests, the demo and benchmarks: static routes, ETag/304, gzip, handlers."""

from __future__ import annotations

import gzip
import hashlib
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Handler = Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]


@dataclass
class Route:
    """What one path answers: a fixed body with validators, or a handler function."""

    body: bytes = b""
    content_type: str = "text/html"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    validators: bool = True
    handler: Handler | None = None
    gzipped: bytes | None = None  # compressed once, on first request


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer with daemon threads and fast rebinding."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class FeedServer:
    """Serve a route table on 127.0.0.1 in a background thread; counts hits per path."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        """Bind now (port 0 picks a free port); call start() to serve."""
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                """Disable Nagle: header and body go out without waiting for a delayed ACK."""
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args) -> None:
                """Stay quiet."""

            def do_GET(self) -> None:
                """Answer from the route table."""
                path = self.path
                server.hits[path] += 1
                server.requests.append((path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(path) or server.routes.get(path.split("?")[0])
                if route is None:
                    return self._send(404, {"Content-Type": "text/plain"}, b"not found")
                if route.handler is not None:
                    status, headers, body = route.handler(self)
                    return self._send(status, headers, body)
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.validators and route.status == 200:
                    etag = '"' + hashlib.sha1(route.body).hexdigest()[:16] + '"'
                    headers.setdefault("ETag", etag)
                    headers.setdefault("Last-Modified", "Mon, 03 Feb 2025 08:00:00 GMT")
                    if self.headers.get("If-None-Match") == headers["ETag"]:
                        return self._send(304, {"ETag": headers["ETag"]}, b"")
                body = route.body
                if "gzip" in (self.headers.get("Accept-Encoding") or "") and len(body) > 512:
                    if route.gzipped is None:
                        route.gzipped = gzip.compress(body, compresslevel=6)
                    body = route.gzipped
                    headers["Content-Encoding"] = "gzip"
                self._send(route.status, headers, body)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                """Write status, headers and body in one buffer."""
                head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
                head += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "content-length"]
                head.append(f"Content-Length: {len(body)}")
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

        self._httpd = _Server((host, port), _Handler)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        """Absolute URL of a path on this server."""
        return self.base_url + path

    def add(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8", **kw) -> str:
        """Serve a fixed body at path; return its URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, content_type=content_type, **kw)
        return self.url(path)

    def add_handler(self, path: str, handler: Handler) -> str:
        """Serve path with a function of the request; return its URL."""
        self.routes[path] = Route(handler=handler)
        return self.url(path)

    def start(self) -> FeedServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        """Start on entry."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop on exit."""
        self.stop()
