"""Hands committed updates to the browsers of the people they concern.

Called after the database commit (``unit_of_work.on_commit``). Best effort by
design: the change and its notification are already committed, and a browser
that misses a live event gets it from history on reconnect or refetches on
``resync``.
"""
from __future__ import annotations

import logging

import redis

from . import metrics
from .stream import history

log = logging.getLogger(__name__)


def publish(user_id: str, event: str, data: dict) -> str | None:
    try:
        entry_id = history.append(user_id, event, data)
    except redis.RedisError as exc:
        log.warning("could not publish %s to %s: %s", event, user_id, exc)
        return None
    metrics.STREAM_EVENTS_PUBLISHED.labels(event).inc()
    return entry_id
