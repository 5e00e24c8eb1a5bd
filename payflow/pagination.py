"""Keyset pagination: ``{"items": [...], "nextCursor": ...}`` for every list."""
from __future__ import annotations

import base64
import binascii

from .errors import InvalidRequest
from .extensions import db

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


_PREFIX = "after:"
_MAX_INT_KEY = 2**63 - 1


def encode_cursor(key) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor") from exc
    if not raw.startswith(_PREFIX) or "\x00" in raw:  # PostgreSQL refuses NUL in text
        raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor")
    return raw[len(_PREFIX):]


def parse_limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:  # "²".isdigit() yet int() refuses it
        raise InvalidRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", code="invalid_limit")
    return int(raw)


def page(query, key_column, args, serialize, *, key_type=str) -> dict:
    """Newest first by ``key_column`` (time-ordered ids), one row past the page to see if more exist."""
    limit = parse_limit(args.get("limit"))
    cursor = args.get("cursor")
    if cursor:
        raw = decode_cursor(cursor)
        try:
            key = key_type(raw)
        except ValueError as exc:
            raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor") from exc
        if key_type is int and not 0 <= key <= _MAX_INT_KEY:  # the database cannot compare past 64 bits
            raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor")
        query = query.where(key_column < key)
    rows = db.session.execute(query.order_by(key_column.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [serialize(*row) for row in rows]
    last_key = getattr(rows[-1][0], key_column.key) if rows else None
    return {"items": items, "nextCursor": encode_cursor(last_key) if more else None}
