"""Hands committed updates to whoever streams them to browsers.

Publishing is best effort by design: the change is already committed and stored
as a notification, and a browser that misses a live event refetches its state.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_sinks = []


def add_sink(sink) -> None:
    """Register ``sink(user_id, event, data)``; the stream registers its broker here."""
    if sink not in _sinks:
        _sinks.append(sink)


def remove_sink(sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def publish(user_id: str, event: str, data: dict) -> None:
    log.info("publish %s to %s", event, user_id)
    for sink in list(_sinks):
        sink(user_id, event, data)
