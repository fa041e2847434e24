"""A tiny listener hook so the CLI can draw a progress bar while a flow runs."""

from __future__ import annotations

from typing import Callable

_listener: Callable[[str, dict], None] | None = None


def set_listener(listener: Callable[[str, dict], None] | None) -> None:
    """Install (or remove, with None) the function that receives progress events."""
    global _listener
    _listener = listener


def emit(event: str, **data: object) -> None:
    """Send an event ("start", "feed", "done") to the listener, if any."""
    if _listener is not None:
        _listener(event, data)
