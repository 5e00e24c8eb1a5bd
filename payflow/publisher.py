"""Hands committed updates to the browsers of the people they concern, with an outbox.

``queue()`` writes the update to ``stream_outbox`` in the transaction of the change it
announces; once that transaction commits, the update is published (appended to the
user's history and sent live) and marked published. An update whose publish did not
happen (Redis down, or the process killed between the commit and the publish) is
published by the workers' housekeeping (``republish_overdue``), so every committed
change reaches the stream: live, from history on resume, or as part of a resync.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

import redis
from flask import current_app
from sqlalchemy import create_engine, delete, event, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import metrics
from .extensions import db
from .ids import new_id
from .models import OutboxMessage, utcnow
from .stream import history
from .unit_of_work import atomic, on_commit

log = logging.getLogger(__name__)

_PENDING = "payflow_outbox_pending"
OVERDUE_AFTER = timedelta(seconds=10)
KEEP_PUBLISHED = timedelta(days=1)


@event.listens_for(Session, "after_rollback")
def _forget_pending(session) -> None:
    session.info.pop(_PENDING, None)


def publish(user_id: str, event_name: str, data: dict) -> str | None:
    """Append and send one update now; None if Redis could not take it."""
    try:
        entry_id = history.append(user_id, event_name, data)
    except redis.RedisError as exc:
        log.warning("stream.unpublished user_id=%s event=%s error=%r", user_id, event_name, str(exc))
        return None
    metrics.STREAM_EVENTS_PUBLISHED.labels(event_name).inc()
    return entry_id


def queue(user_id: str, event_name: str, data: dict) -> None:
    """Record an update in the current transaction; it is published after the commit."""
    message = OutboxMessage(id=new_id("out"), user_id=user_id, event=event_name,
                            data=json.dumps(data, separators=(",", ":")))
    db.session.add(message)
    pending = db.session.info.get(_PENDING)
    if pending is None:
        pending = db.session.info[_PENDING] = []
        on_commit(lambda: _publish_and_mark(db.session.info.pop(_PENDING, pending)))
    pending.append((message.id, user_id, event_name, data))


def _publish_and_mark(items: list[tuple[str, str, str, dict]]) -> int:
    published = [message_id for message_id, user_id, name, data in items if publish(user_id, name, data)]
    if published:
        _mark_published(published)
    return len(published)


def _marking_engine():
    """PostgreSQL connections in autocommit mode without waiting for the commit to reach the
    disk: a mark lost in a crash only means the update is published once more, so a mark
    costs one round trip and no disk flush."""
    app = current_app._get_current_object()
    engine = app.extensions.get("payflow_outbox_engine", False)
    if engine is False:
        engine = None
        if db.engine.dialect.name == "postgresql":
            engine = create_engine(
                db.engine.url, isolation_level="AUTOCOMMIT", pool_size=5, max_overflow=10,
                connect_args={"options": "-c synchronous_commit=off"},
            )
        app.extensions["payflow_outbox_engine"] = engine
    return engine


def _mark_published(message_ids: list[str]) -> None:
    statement = update(OutboxMessage).where(OutboxMessage.id.in_(message_ids)).values(published_at=utcnow())
    try:
        engine = _marking_engine()
        if engine is not None:
            with engine.connect() as connection:
                connection.execute(statement)
            return
        with atomic():
            db.session.execute(statement, execution_options={"synchronize_session": False})
    except SQLAlchemyError as exc:
        log.warning("stream.unmarked count=%d error=%s (they will be published again)", len(message_ids),
                    type(exc).__name__)


def republish_overdue(limit: int = 500) -> int:
    """Publish the updates committed more than ``OVERDUE_AFTER`` ago that never were."""
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.user_id, OutboxMessage.event, OutboxMessage.data)
        .where(OutboxMessage.published_at.is_(None), OutboxMessage.created_at < utcnow() - OVERDUE_AFTER)
        .order_by(OutboxMessage.created_at)
        .limit(limit)
    ).all()
    db.session.rollback()
    count = _publish_and_mark([(row.id, row.user_id, row.event, json.loads(row.data)) for row in rows])
    if rows:
        log.info("stream.republished count=%d of=%d", count, len(rows))
    return count


def prune_published() -> int:
    with atomic():
        result = db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.published_at < utcnow() - KEEP_PUBLISHED)
        )
    return result.rowcount
