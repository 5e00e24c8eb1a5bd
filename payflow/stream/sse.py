"""The text/event-stream wire format."""
from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the only breaks SSE knows; never U+2028 and friends


def event(name: str, data: str, event_id: str | None = None) -> str:
    lines = []
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {name}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return "\n".join(lines) + "\n\n"


def comment(text: str) -> str:
    return "".join(f": {line}\n" for line in _LINE_BREAK.split(text)) + "\n"


def retry(milliseconds: int) -> str:
    return f"retry: {milliseconds}\n"


def position(event_id: str) -> str:
    """A bare id: sets the browser's Last-Event-ID without dispatching an event."""
    return f"id: {event_id}\n\n"
