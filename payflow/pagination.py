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


def _cursor_key(cursor: str, key_type):
    raw = decode_cursor(cursor)
    try:
        key = key_type(raw)
    except ValueError as exc:
        raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor") from exc
    if key_type is int and not 0 <= key <= _MAX_INT_KEY:  # the database cannot compare past 64 bits
        raise InvalidRequest("cursor is not one this API gave out", code="invalid_cursor")
    return key


def fetch_page(query, key_column, args, *, key_type=str, key_of=None) -> tuple[list, str | None]:
    """One page of rows, newest first by ``key_column``, and the cursor of the next page (None at the end).

    ``args`` carries ``limit`` and ``cursor``; ``key_of(row)`` reads the key from a row
    (default: the attribute of the row's first entity). One row past the page is read
    to tell whether more exist.
    """
    limit = parse_limit(args.get("limit"))
    cursor = args.get("cursor")
    if cursor:
        query = query.where(key_column < _cursor_key(cursor, key_type))
    rows = db.session.execute(query.order_by(key_column.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    key_of = key_of or (lambda row: getattr(row[0], key_column.key))
    return rows, encode_cursor(key_of(rows[-1])) if more else None


def page(query, key_column, args, serialize, *, key_type=str) -> dict:
    """Newest first by ``key_column`` (time-ordered ids): ``{"items": [...], "nextCursor": ...}``."""
    rows, next_cursor = fetch_page(query, key_column, args, key_type=key_type)
    return {"items": [serialize(*row) for row in rows], "nextCursor": next_cursor}


def batches(query, key_column, convert, size: int = 500, *, key_of=None):
    """Every row of ``query``, newest first, in batches of ``size`` rows: yields ``convert(rows)``.

    For exports: memory stays at one batch, and each batch is read in a transaction of
    its own that ends before the batch is handed out, so a long download holds no
    transaction (nor SQLite's lock) while the client reads. Rows are converted before
    that transaction ends, while their objects can still be read.
    """
    key_of = key_of or (lambda row: getattr(row[0], key_column.key))
    last = None
    while True:
        batch_query = query if last is None else query.where(key_column < last)
        try:
            rows = db.session.execute(batch_query.order_by(key_column.desc()).limit(size)).all()
            items = convert(rows) if rows else None
            last = key_of(rows[-1]) if rows else None
        finally:
            db.session.rollback()
        if items:
            yield items
        if len(rows) < size:
            return
