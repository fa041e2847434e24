"""The project's typed errors: every failure names what failed and where."""

from __future__ import annotations

import logging


class MediamonError(Exception):
    """Base of every error mediamon raises on purpose."""


class ConfigError(MediamonError):
    """A configuration file is invalid; the message names the file, the key or line, and the problem."""


class FetchError(MediamonError):
    """A request failed; `kind` classifies it and `transient` says whether a retry may help."""

    kind = "fetch_error"
    transient = False

    def __init__(self, url: str, detail: str, *, status: int | None = None, retry_after: float | None = None):
        """Record the URL, a human detail, and the HTTP status and Retry-After when there were any."""
        self.url = url
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{self.kind}: {detail} ({url})")

    def __reduce__(self):
        """Pickle with keyword arguments, so errors cross process and Dask boundaries intact."""
        return (_rebuild_fetch_error, (type(self), self.url, self.detail, self.status, self.retry_after))


def _rebuild_fetch_error(cls, url, detail, status, retry_after):
    """Rebuild a FetchError subclass from its pickled fields."""
    return cls(url, detail, status=status, retry_after=retry_after)


class FetchTimeout(FetchError):
    """The request did not finish within its total deadline."""

    kind = "timeout"
    transient = True


class FetchConnectionError(FetchError):
    """The connection failed, was reset, or the name did not resolve."""

    kind = "connection"
    transient = True


class HTTPStatusError(FetchError):
    """The server answered with an error status; 429 and 5xx are transient."""

    kind = "http_status"

    @property
    def transient(self) -> bool:  # type: ignore[override]
        """429 and 5xx may clear up; other statuses will not."""
        return self.status is not None and (self.status == 429 or self.status >= 500)


class TooLarge(FetchError):
    """The decoded body passed the configured size cap."""

    kind = "too_large"


class TooManyRedirects(FetchError):
    """The redirect chain was longer than allowed, or looped."""

    kind = "too_many_redirects"


class BlockedURL(FetchError):
    """The URL's scheme or address is not allowed (non-HTTP scheme, private or loopback address)."""

    kind = "blocked_url"


class NotAFeed(MediamonError):
    """The body is not an RSS, Atom or RDF feed."""

    kind = "not_a_feed"

    def __init__(self, url: str, detail: str):
        """Name the URL and what was found instead of a feed."""
        self.url = url
        self.detail = detail
        super().__init__(f"not_a_feed: {detail} ({url})")

    def __reduce__(self):
        """Pickle with both fields."""
        return (NotAFeed, (self.url, self.detail))


class BadURL(MediamonError, ValueError):
    """A URL that cannot be read as a URL at all (bad port, broken IPv6 literal, …)."""

    kind = "bad_url"

    def __init__(self, url: str, detail: str):
        """Name the URL and what is wrong with it."""
        self.url = url
        self.detail = detail
        super().__init__(f"bad_url: {detail} ({url[:300]!r})")

    def __reduce__(self):
        """Pickle with both fields."""
        return (BadURL, (self.url, self.detail))


class WarehouseBusy(MediamonError):
    """Another process holds the warehouse and did not let go in time."""


class MigrationError(MediamonError):
    """A migration failed, or an applied migration was edited afterwards."""


class WarehouseUnwritable(MediamonError):
    """The warehouse's disk refused a write (full, read-only, no permission); nothing of that step was committed."""


class PublishFailed(MediamonError):
    """The analysts' read copy could not be published (full disk, permissions); the warehouse itself is intact."""


class DeliveryError(MediamonError):
    """The SMTP server did not accept the digest for some recipients; `replies` maps each to the server's reply."""

    def __init__(self, message: str, replies: dict[str, str], transient: bool):
        """Keep the per-recipient replies and whether retrying may help."""
        super().__init__(message)
        self.replies = replies
        self.transient = transient

    def __reduce__(self):
        """Pickle with every field, so the error crosses process boundaries intact."""
        return (DeliveryError, (str(self), self.replies, self.transient))


class PrefectUnavailable(MediamonError):
    """Prefect's API could not be reached or started; the message says which and what to do."""


def error_kind(exc: BaseException) -> str:
    """A short, stable class name for an error, as stored in the warehouse."""
    return getattr(exc, "kind", None) or type(exc).__name__


class _HideOwnTracebacks(logging.Filter):
    """Drop the traceback from records that carry a MediamonError: its message already names what and where."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record; strip exc_info only for mediamon's own errors."""
        if record.exc_info and isinstance(record.exc_info[1], MediamonError):
            record.exc_info = None
            record.exc_text = None
        return True


def hide_own_tracebacks() -> None:
    """Keep Prefect's run loggers from printing a traceback for a full disk or a busy warehouse (idempotent)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HideOwnTracebacks) for f in logger.filters):
            logger.addFilter(_HideOwnTracebacks())
