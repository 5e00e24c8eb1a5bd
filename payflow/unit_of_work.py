"""Transactions around domain operations, and work that must wait for the commit.

``atomic()`` commits when the outermost block ends and rolls back on any error, so
a money move is all-or-nothing. The outermost block begins a transaction of its own:
one that reads before it (a request loading its user) is committed first, so that on
SQLite the block begins with the write lock (``extensions.configure_sqlite``) rather
than upgrading a read snapshot that another writer may have made stale. ``on_commit(fn)`` defers side effects (queueing a
job, publishing to browsers) until the data they announce is committed: a worker
or a browser must never be told about a row it cannot yet read.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from .extensions import WRITE_TRANSACTION, db

log = logging.getLogger(__name__)

_DEPTH = "payflow_atomic_depth"
_CALLBACKS = "payflow_after_commit"


@contextmanager
def atomic():
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    if depth == 0 and session.in_transaction():
        session.commit()
    session.info[_DEPTH] = depth + 1
    writing = WRITE_TRANSACTION.set(True)
    try:
        yield session
        if depth == 0:
            session.commit()
    except BaseException:
        if depth == 0:
            session.rollback()
            session.info.pop(_CALLBACKS, None)
        raise
    finally:
        session.info[_DEPTH] = depth
        WRITE_TRANSACTION.reset(writing)
    if depth == 0:
        _run_callbacks(session)


def on_commit(callback) -> None:
    session = db.session()
    if session.info.get(_DEPTH, 0) == 0:
        raise RuntimeError("on_commit() outside atomic()")
    session.info.setdefault(_CALLBACKS, []).append(callback)


def _run_callbacks(session) -> None:
    callbacks = session.info.pop(_CALLBACKS, [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the data is committed; a failed announcement must not undo the answer
            log.exception("after-commit callback %r failed", callback)
