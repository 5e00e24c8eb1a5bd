"""Opaque, time-ordered object ids such as ``pay_01jd...``.

ULIDs sort by creation time, so "newest first" is ``ORDER BY id DESC`` and a list
cursor is simply the last id served.
"""
from __future__ import annotations

import threading

from ulid import ULID

_lock = threading.Lock()
_last = 0


def _monotonic_ulid() -> ULID:
    # Ids made in the same millisecond by one process still sort in creation order.
    global _last
    with _lock:
        value = int(ULID())
        if value <= _last:
            value = _last + 1
        _last = value
    return ULID.from_int(value)


def new_id(prefix: str) -> str:
    return f"{prefix}_{str(_monotonic_ulid()).lower()}"


def id_factory(prefix: str):
    return lambda: new_id(prefix)
