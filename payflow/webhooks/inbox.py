"""The durable inbox of Stripe events: record, queue, sweep, prune, replay.

An event is committed to ``webhook_events`` before Stripe gets its 200, then
queued on RQ. Redis can lose what it holds (down at receipt, restarted with a
scheduled retry in it, a worker killed mid-job): the sweep, which every worker
runs on a timer, queues again whatever the database says is unfinished and
overdue. Applying is exactly-once whatever the queue does, because a job locks
the event row and skips an event that is already final. Statuses and their
transitions belong to ``lifecycle``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timedelta, timezone

from flask import current_app
from rq import Queue, Retry
from sqlalchemy import and_, create_engine, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from ..extensions import db, redis_client
from ..models import WebhookEvent, utcnow
from ..unit_of_work import atomic
from . import lifecycle
from .lifecycle import DEAD, FINAL, FLAGGED, IGNORED, PROCESSED, RECEIVED, RETRYING, UNQUEUED  # noqa: F401

log = logging.getLogger(__name__)

QUEUE_NAME = "payment-webhooks"
JOB_FUNCTION = "jobs.webhooks.process_event"
BATCH_JOB_FUNCTION = "jobs.webhooks.process_events"

_JOB_ID_SAFE = re.compile(r"[A-Za-z0-9_-]{1,100}")
STATUSES = tuple(lifecycle.Status)


class RecordFailed(Exception):
    """The database could not record the event. ``transient`` when the database itself is
    away (down, or it dropped the connection), rather than refusing this one row."""

    def __init__(self, message: str, *, transient: bool = True):
        super().__init__(message)
        self.transient = transient


class InvalidDelivery(ValueError):
    """A delivery whose inbox row cannot even be built: refused (400), alone."""


def _autocommit_engine():
    """A pool of PostgreSQL connections in autocommit mode for the inbox insert.

    It is the hot path of every delivery: one autocommitted statement is as durable
    as a transaction and costs one round trip instead of three (BEGIN, INSERT,
    COMMIT), with no ping and no reset on checkout. A connection broken by a
    database restart fails one delivery (503, which Stripe retries) and is replaced.
    """
    app = current_app._get_current_object()
    engine = app.extensions.get("payflow_inbox_engine", False)
    if engine is False:
        engine = None
        if db.engine.dialect.name == "postgresql":
            engine = create_engine(
                db.engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False, pool_reset_on_return=None,
                pool_size=10, max_overflow=20,
            )
        app.extensions["payflow_inbox_engine"] = engine
    return engine


_COLUMNS = ("id", "type", "account", "object_id", "related_id", "payload", "status", "attempts",
            "stripe_created_at", "received_at")
_ROW_PLACEHOLDERS = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"


def _insert():
    dialect = db.engine.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(WebhookEvent)


def _row(event: dict, payload: str) -> dict:
    """The inbox row of a delivery checked by ``envelope``; raises ``InvalidDelivery`` for
    anything else, so that the caller can refuse that one delivery."""
    try:
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            obj = {}
        created = event.get("created")
        event_id, event_type = event["id"], event["type"]
        if _text(event_id) != event_id or _text(event_type) != event_type:
            raise InvalidDelivery("the event's id or type cannot be stored")
        return {
            "id": event_id,
            "type": event_type,
            "account": _text(event.get("account")),
            "object_id": _text(obj.get("id")),
            "related_id": related_id(event_type, obj),
            "payload": payload,
            "status": lifecycle.INITIAL.value,
            "attempts": 0,
            "stripe_created_at": (
                datetime.fromtimestamp(created, timezone.utc)
                if isinstance(created, int) and not isinstance(created, bool) else None
            ),
            "received_at": utcnow(),
        }
    except InvalidDelivery:
        raise
    except Exception as exc:  # a shape the envelope check should have refused
        raise InvalidDelivery(f"the event cannot be recorded: {type(exc).__name__}: {exc}") from exc


def _insert_rows(rows: list[dict]) -> set[str]:
    """Insert events not yet recorded, in one statement; returns the ids that were new.

    Raises ``RecordFailed`` (or SQLAlchemy's error) when the database cannot record them.
    """
    engine = _autocommit_engine()
    if engine is None:
        inserted = set()
        try:
            with atomic():
                for row in rows:
                    statement = _insert().values(**row).on_conflict_do_nothing(index_elements=["id"]).returning(
                        WebhookEvent.id)
                    inserted.update(db.session.scalars(statement))
        except SQLAlchemyError as exc:
            raise RecordFailed(str(exc), transient=isinstance(exc, (OperationalError, InterfaceError))) from exc
        return inserted
    # Plain SQL on the driver's connection (prepared by the driver once it recurs), one
    # autocommitted statement: one round trip and one commit for every event in it.
    values = ", ".join([_ROW_PLACEHOLDERS] * len(rows))
    sql = f"INSERT INTO webhook_events ({', '.join(_COLUMNS)}) VALUES {values} ON CONFLICT (id) DO NOTHING RETURNING id"
    params = [row[column] for row in rows for column in _COLUMNS]
    dbapi = engine.dialect.loaded_dbapi
    try:
        connection = engine.raw_connection()
    except (dbapi.Error, SQLAlchemyError) as exc:
        raise RecordFailed(str(exc)) from exc
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {row[0] for row in cursor.fetchall()}
    except dbapi.Error as exc:
        transient = isinstance(exc, (dbapi.OperationalError, dbapi.InterfaceError))
        if transient:
            connection.invalidate()  # a connection the database dropped is not reused
        else:
            try:
                connection.rollback()  # the row was refused; the connection itself is fine
            except dbapi.Error:
                connection.invalidate()
        raise RecordFailed(str(exc), transient=transient) from exc
    finally:
        connection.close()


def _insert_isolating(rows: list[dict]) -> tuple[set[str], dict[str, Exception]]:
    """Insert rows together; if the database refuses the statement, insert them one by one,
    so a row it refuses fails alone. Returns the ids inserted and the error of each row
    that was not. A database that is away fails every row at once, without a retry each."""
    try:
        return _insert_rows(rows), {}
    except Exception as exc:
        if len(rows) == 1 or getattr(exc, "transient", False):
            return set(), {row["id"]: exc for row in rows}
    inserted: set[str] = set()
    failed: dict[str, Exception] = {}
    for index, row in enumerate(rows):
        try:
            inserted |= _insert_rows([row])
        except Exception as exc:
            log.error("webhook.unrecorded event_id=%s error=%r", row["id"], str(exc)[:500])
            failed[row["id"]] = exc
            if getattr(exc, "transient", False):
                failed.update({rest["id"]: exc for rest in rows[index + 1:]})
                break
    return inserted, failed


def record(event: dict, payload: str) -> bool:
    """Store a verified event; False when its id is already recorded (a redelivery)."""
    return bool(_insert_rows([_row(event, payload)]))


def _text(value) -> str | None:
    """``value`` when it is a string the inbox can store in an id column, else None."""
    if not isinstance(value, str) or not value or len(value) > 255 or "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # an unpaired surrogate
        return None
    return value


def related_id(event_type: str, obj: dict) -> str | None:
    """The PaymentIntent or payout an event is about, whatever object it carries."""
    if event_type.startswith("payout."):
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        return _text(metadata.get("payout_id")) or _text(obj.get("id"))
    if event_type.startswith("payment_intent."):
        return _text(obj.get("id"))
    return _text(obj.get("payment_intent"))


def wake_waiting(related: str | None, applied_event_id: str) -> int:
    """Queue at once the events about ``related`` that were waiting for this one (a refund
    before its payment's success, a dispute's end before its start), even dead-lettered ones:
    what they waited for has now happened."""
    if not related:
        return 0
    with atomic():
        waiting = db.session.scalars(
            select(WebhookEvent.id).where(
                WebhookEvent.related_id == related,
                WebhookEvent.id != applied_event_id,
                WebhookEvent.status.in_((RETRYING, DEAD)),
            )
        ).all()
        lifecycle.requeued(waiting, utcnow(), only_from={RETRYING, DEAD}, fresh_attempts=True)
    for event_id in waiting:
        enqueue_or_mark(event_id)
    return len(waiting)


def queue(connection=None) -> Queue:
    return Queue(QUEUE_NAME, connection=connection or redis_client.client)


def _retry() -> Retry:
    intervals = current_app.config["WEBHOOK_RETRY_INTERVALS"]
    return Retry(max=len(intervals), interval=intervals)


def job_id(event_id: str) -> str:
    """The RQ job id of an event: derived from it, so queueing it again replaces the job."""
    if _JOB_ID_SAFE.fullmatch(event_id):
        return f"webhook-{event_id}"
    return f"webhook-{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


def enqueue(event_id: str, *, pipeline=None) -> None:
    """Queue the job that applies ``event_id``."""
    queue().enqueue(
        JOB_FUNCTION,
        event_id,
        job_id=job_id(event_id),
        retry=_retry(),
        result_ttl=300,
        failure_ttl=7 * 86400,
        job_timeout=current_app.config["WEBHOOK_JOB_TIMEOUT_SECONDS"],
        pipeline=pipeline,
    )


def enqueue_batch(event_ids: list[str], *, pipeline=None) -> None:
    """One job applying several events recorded together, each in its own transaction."""
    queue().enqueue(
        BATCH_JOB_FUNCTION,
        list(event_ids),
        result_ttl=300,
        failure_ttl=7 * 86400,
        job_timeout=current_app.config["WEBHOOK_JOB_TIMEOUT_SECONDS"] * max(1, len(event_ids)),
        pipeline=pipeline,
    )


def enqueue_retry(event_id: str) -> None:
    """After a first failed attempt in a batch: the event's own job, due after the first
    interval, with the retries that are left."""
    intervals = current_app.config["WEBHOOK_RETRY_INTERVALS"]
    later = intervals[1:]
    queue().enqueue_in(
        timedelta(seconds=intervals[0]),
        JOB_FUNCTION,
        event_id,
        job_id=job_id(event_id),
        retry=Retry(max=len(later), interval=later) if later else None,
        result_ttl=300,
        failure_ttl=7 * 86400,
        job_timeout=current_app.config["WEBHOOK_JOB_TIMEOUT_SECONDS"],
    )


def _mark_unqueued(event_ids: list[str], exc: Exception) -> None:
    log.warning("webhook.unqueued event_ids=%s error=%r (the sweep will queue them)", ",".join(event_ids), str(exc))
    try:
        with atomic():
            lifecycle.mark_unqueued(event_ids)
    except SQLAlchemyError as db_exc:  # the database went too: the sweep still finds them, after its grace
        log.warning("webhook.unmarked event_ids=%s error=%s", ",".join(event_ids), type(db_exc).__name__)


class DeliveryBatcher:
    """Under gevent (the web process), deliveries that arrive together are recorded with one
    INSERT and queued with one RQ job.

    A delivery's cost is mostly fixed costs: a statement and a commit, and RQ building and
    storing a job. Paid once per batch, they no longer cap how many deliveries a process
    answers. Each request still answers only once its event is committed and queued.

    Every request is answered whatever happens to its batch: a delivery whose row cannot
    be built is refused alone (``InvalidDelivery``), a row the database refuses fails alone
    (the others are inserted one by one), and anything unexpected answers every request
    still waiting with that error (the route turns it into a 503 that Stripe retries). A
    request that waits longer than ``ANSWER_TIMEOUT`` seconds gives up with ``RecordFailed``.
    """

    MAX_BATCH = 100
    ANSWER_TIMEOUT = 25.0

    def __init__(self, app):
        self.app = app
        self.pending: list = []
        self.flush_scheduled = False

    def submit(self, event: dict, payload: str) -> bool:
        import gevent
        from gevent.event import AsyncResult

        result = AsyncResult()
        self.pending.append((event, payload, result))
        if not self.flush_scheduled:
            self.flush_scheduled = True
            gevent.spawn(self._flush)
        try:
            return result.get(timeout=self.ANSWER_TIMEOUT)
        except gevent.Timeout:
            raise RecordFailed(f"the event was not recorded within {self.ANSWER_TIMEOUT}s") from None

    def _flush(self) -> None:
        """One flusher at a time, as a database does group commit: deliveries that arrive
        while a batch is being written wait for it and go together in the next one."""
        import gevent

        gevent.sleep(0)  # deliveries that are ready to record join the first batch
        try:
            with self.app.app_context():
                while self.pending:
                    batch, self.pending = self.pending[:self.MAX_BATCH], self.pending[self.MAX_BATCH:]
                    try:
                        self._record_and_queue(batch)
                    except BaseException as exc:  # answer before anything else, even if the greenlet is killed
                        _answer_unanswered(batch, exc if isinstance(exc, Exception) else RecordFailed(repr(exc)))
                        if not isinstance(exc, Exception):
                            raise
                        log.exception("webhook.batch_failed deliveries=%d", len(batch))
        finally:
            self.flush_scheduled = False
            if self.pending:  # arrived while the last batch was finishing
                self.flush_scheduled = True
                gevent.spawn(self._flush)

    def _record_and_queue(self, part: list) -> None:
        rows: dict[str, dict] = {}
        for event, payload, result in part:
            try:
                event_id = event["id"]
                if event_id not in rows:  # the same event twice in one batch: the second is a redelivery
                    rows[event_id] = _row(event, payload)
            except Exception as exc:
                result.set_exception(exc if isinstance(exc, InvalidDelivery) else InvalidDelivery(str(exc)))
        inserted, failed = _insert_isolating(list(rows.values())) if rows else (set(), {})
        created = []
        for event, _, result in part:
            if result.ready():
                continue
            event_id = event["id"]
            if event_id in failed:  # not recorded: this request answers 503, Stripe retries it
                result.set_exception(failed[event_id])
                continue
            is_new = event_id in inserted
            inserted.discard(event_id)
            if is_new:
                created.append(event_id)
            result.set(is_new)
        if created:
            try:
                enqueue_batch(created)
            except Exception as exc:  # Redis down: the events are safe in the database
                _mark_unqueued(created, exc)


def _answer_unanswered(part: list, exc: Exception) -> None:
    for _, _, result in part:
        if not result.ready():
            result.set_exception(exc)


def _batcher() -> DeliveryBatcher | None:
    app = current_app._get_current_object()
    batcher = app.extensions.get("payflow_delivery_batcher", False)
    if batcher is False:
        batcher = None
        try:
            from gevent import monkey

            if monkey.is_module_patched("socket"):
                batcher = DeliveryBatcher(app)
        except ImportError:
            pass
        app.extensions["payflow_delivery_batcher"] = batcher
    return batcher


def record_and_queue(event: dict, payload: str) -> bool:
    """Record a verified delivery and queue its event; False for a redelivery.

    Batched with the deliveries arriving alongside under gevent, alone otherwise. Raises
    ``RecordFailed`` (or SQLAlchemy's error) when the event could not be recorded.
    """
    batcher = _batcher()
    if batcher is not None:
        return batcher.submit(event, payload)
    created = record(event, payload)
    if created:
        enqueue_or_mark(event["id"])
    return created


def enqueue_or_mark(event_id: str) -> bool:
    """Queue the event; if Redis is down, mark it so the sweep queues it once Redis is back."""
    try:
        enqueue(event_id)
        return True
    except Exception as exc:  # Redis down, or anything else: the event is safe in the database
        _mark_unqueued([event_id], exc)
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
        lifecycle.requeued(event_ids, now, only_from=lifecycle.PENDING)
    log.info("webhook.sweep queued=%d", len(event_ids))
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
    log.info("webhook.prune deleted=%d retention_days=%d", result.rowcount, days)
    return result.rowcount


def replay(event_id: str) -> tuple[WebhookEvent | None, bool]:
    """Give a dead, ignored, flagged (not applied) or waiting event a fresh set of attempts
    and queue it. Returns the event (None if unknown) and whether it was queued: a
    processed event, or one applied and flagged, has nothing left to apply."""
    with atomic():
        event = db.session.get(WebhookEvent, event_id, with_for_update=True)
        if event is None:
            return None, False
        queued = lifecycle.replay(event)
    if queued:
        enqueue_or_mark(event_id)
    return event, queued


def event_object(event: WebhookEvent) -> dict:
    return (json.loads(event.payload).get("data") or {}).get("object") or {}
