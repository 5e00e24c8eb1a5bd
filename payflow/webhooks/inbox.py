"""The durable inbox of Stripe events: record, queue, sweep, prune, replay.

An event is committed to ``webhook_events`` before Stripe gets its 200, then
queued on RQ. Redis can lose what it holds (down at receipt, restarted with a
scheduled retry in it, a worker killed mid-job): the sweep, which every worker
runs on a timer, queues again whatever the database says is unfinished and
overdue. Applying is exactly-once whatever the queue does, because a job locks
the event row and skips an event that is already final.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import redis
from flask import current_app
from rq import Queue, Retry
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db, redis_client
from ..models import WebhookEvent, utcnow
from ..unit_of_work import atomic

log = logging.getLogger(__name__)

QUEUE_NAME = "payment-webhooks"
JOB_FUNCTION = "jobs.webhooks.process_event"

RECEIVED = "received"
UNQUEUED = "unqueued"
RETRYING = "retrying"
PROCESSED = "processed"
IGNORED = "ignored"
FLAGGED = "flagged"
DEAD = "dead"
FINAL = {PROCESSED, IGNORED, FLAGGED, DEAD}
STATUSES = (RECEIVED, UNQUEUED, RETRYING, PROCESSED, IGNORED, FLAGGED, DEAD)


def _insert():
    dialect = db.engine.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(WebhookEvent)


def record(event: dict, payload: str) -> bool:
    """Store a verified event; False when its id is already recorded (a redelivery)."""
    obj = (event.get("data") or {}).get("object") or {}
    created = event.get("created")
    values = {
        "id": event["id"],
        "type": event["type"],
        "account": event.get("account") if isinstance(event.get("account"), str) else None,
        "object_id": obj.get("id") if isinstance(obj, dict) and isinstance(obj.get("id"), str) else None,
        "payload": payload,
        "status": RECEIVED,
        "attempts": 0,
        "stripe_created_at": datetime.fromtimestamp(created, timezone.utc) if isinstance(created, int) else None,
        "received_at": utcnow(),
    }
    statement = _insert().values(**values).on_conflict_do_nothing(index_elements=["id"]).returning(WebhookEvent.id)
    with atomic():
        inserted = db.session.execute(statement).first()
    return inserted is not None


def queue(connection=None) -> Queue:
    return Queue(QUEUE_NAME, connection=connection or redis_client.client)


def _retry() -> Retry:
    intervals = current_app.config["WEBHOOK_RETRY_INTERVALS"]
    return Retry(max=len(intervals), interval=intervals)


def enqueue(event_id: str, *, pipeline=None) -> None:
    """Queue the job that applies ``event_id``; its job id is the event's, so a repeat replaces it."""
    queue().enqueue(
        JOB_FUNCTION,
        event_id,
        job_id=f"webhook-{event_id}",
        retry=_retry(),
        result_ttl=300,
        failure_ttl=7 * 86400,
        job_timeout=current_app.config["WEBHOOK_JOB_TIMEOUT_SECONDS"],
        pipeline=pipeline,
    )


def enqueue_or_mark(event_id: str) -> bool:
    """Queue the event; if Redis is down, mark it so the sweep queues it once Redis is back."""
    try:
        enqueue(event_id)
        return True
    except redis.RedisError as exc:
        log.warning("webhook %s recorded but not queued (Redis: %s); the sweep will queue it", event_id, exc)
        with atomic():
            db.session.execute(
                update(WebhookEvent).where(WebhookEvent.id == event_id, WebhookEvent.status == RECEIVED).values(status=UNQUEUED)
            )
        return False


def overdue_query(now: datetime, grace: timedelta, limit: int):
    """Events that should have been applied by now: never queued, lost from Redis, or abandoned."""
    return (
        select(WebhookEvent.id)
        .where(
            or_(
                WebhookEvent.status == UNQUEUED,
                and_(WebhookEvent.status == RECEIVED, WebhookEvent.received_at < now - grace),
                and_(WebhookEvent.status == RETRYING, WebhookEvent.next_attempt_at < now - grace),
            )
        )
        .order_by(WebhookEvent.received_at)
        .limit(limit)
    )


def sweep(limit: int = 500) -> int:
    """Queue overdue events again; returns how many were queued."""
    grace = timedelta(seconds=current_app.config["WEBHOOK_SWEEP_GRACE_SECONDS"])
    now = utcnow()
    event_ids = db.session.scalars(overdue_query(now, grace, limit)).all()
    db.session.rollback()
    if not event_ids:
        return 0
    with redis_client.client.pipeline(transaction=False) as pipe:
        for event_id in event_ids:
            enqueue(event_id, pipeline=pipe)
        pipe.execute()
    # Restart their clocks so that the next sweep leaves them to the queue.
    with atomic():
        db.session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(event_ids), WebhookEvent.status.in_((RECEIVED, UNQUEUED, RETRYING)))
            .values(status=RECEIVED, received_at=now, next_attempt_at=None),
            execution_options={"synchronize_session": False},
        )
    log.info("sweep queued %d overdue webhook events", len(event_ids))
    return len(event_ids)


def prune(retention_days: int | None = None) -> int:
    """Delete finished events older than the retention (at least 30 days: Stripe retries for 3)."""
    days = max(30, retention_days or current_app.config["WEBHOOK_RETENTION_DAYS"])
    cutoff = utcnow() - timedelta(days=days)
    with atomic():
        result = db.session.execute(
            delete(WebhookEvent).where(
                WebhookEvent.received_at < cutoff, WebhookEvent.status.in_((PROCESSED, IGNORED))
            )
        )
    log.info("pruned %d webhook events older than %d days", result.rowcount, days)
    return result.rowcount


def replay(event_id: str) -> WebhookEvent | None:
    """Give a dead, flagged or ignored event a fresh set of attempts and queue it."""
    with atomic():
        event = db.session.get(WebhookEvent, event_id, with_for_update=True)
        if event is None:
            return None
        if event.status == PROCESSED:
            return event
        event.status = RECEIVED
        event.attempts = 0
        event.next_attempt_at = None
        event.received_at = utcnow()
    enqueue_or_mark(event_id)
    return event


def event_object(event: WebhookEvent) -> dict:
    return (json.loads(event.payload).get("data") or {}).get("object") or {}
