"""W3C trace context carried in a contextvar: set by HTTP middleware and by consumers from the event."""

from __future__ import annotations

import contextvars
import re
import secrets

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
current_traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_traceparent", default=None
)


def new_traceparent(trace_id: str | None = None) -> str:
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def child_of(traceparent: str | None) -> str:
    """A new span in the same trace, or a new trace when the parent is missing or malformed."""
    match = _TRACEPARENT.match(traceparent or "")
    return new_traceparent(match.group(1) if match else None)


def child_traceparents(parents: list[str | None]) -> list[str]:
    """A new span for each parent (as `child_of`), with one call for randomness. Events without a parent
    share one new trace: they were published by the same command, which had no trace of its own."""
    randomness = secrets.token_hex(8 * len(parents) + 16)
    fresh_trace = randomness[-32:]
    children = []
    last_parent: str | None = None
    last_trace = fresh_trace
    for index, parent in enumerate(parents):
        if parent != last_parent:
            match = _TRACEPARENT.match(parent or "")
            last_parent, last_trace = parent, match.group(1) if match else fresh_trace
        children.append(f"00-{last_trace}-{randomness[16 * index:16 * index + 16]}-01")
    return children


def propagate(headers: dict[str, str]) -> dict[str, str]:
    """Headers for a call to another service, carrying the current span (not the caller's), so the trace
    started or continued here goes on downstream."""
    current = current_traceparent.get()
    if current is not None:
        headers = {key: value for key, value in headers.items() if key.lower() != "traceparent"}
        headers["traceparent"] = current
    return headers


def trace_id_of(traceparent: str | None) -> str | None:
    match = _TRACEPARENT.match(traceparent or "")
    return match.group(1) if match else None
