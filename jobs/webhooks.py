"""RQ job: apply one recorded Stripe event."""
from __future__ import annotations

import logging

from flask import current_app
from rq import get_current_job

from payflow import logs
from payflow.webhooks import handlers, inbox

log = logging.getLogger(__name__)


def process_event(event_id: str) -> str:
    """Apply ``event_id`` once. On failure, keep the error on the event and raise, so
    RQ retries with backoff; when no retries are left the event becomes a dead letter."""
    job = get_current_job()
    with logs.bind(event_id=event_id):
        return _process_one(job, event_id)


def _process_one(job, event_id: str) -> str:
    log.info("job.started job_id=%s event_id=%s", job.id if job else "-", event_id)
    try:
        return handlers.apply_event(event_id)
    except Exception as exc:
        retries_left = (job.retries_left or 0) if job else 0
        retry_in = job.get_retry_interval() if job and retries_left > 0 else None
        log.warning("job.failed job_id=%s event_id=%s error=%r", job.id if job else "-", event_id, str(exc))
        handlers.record_failure(event_id, exc, retry_in=retry_in)
        raise


def process_events(event_ids: list[str]) -> None:
    """Apply events that were recorded together, each in its own transaction. One that
    fails keeps its error and gets a job of its own, due after the first retry interval,
    with the retries that are left; the others are not held up by it."""
    job = get_current_job()
    for event_id in event_ids:
        with logs.bind(event_id=event_id):
            _process_in_batch(job, event_id)


def _process_in_batch(job, event_id: str) -> None:
    log.info("job.started job_id=%s event_id=%s", job.id if job else "-", event_id)
    try:
        handlers.apply_event(event_id)
    except Exception as exc:
        intervals = current_app.config["WEBHOOK_RETRY_INTERVALS"]
        log.warning("job.failed job_id=%s event_id=%s error=%r", job.id if job else "-", event_id, str(exc))
        try:
            handlers.record_failure(event_id, exc, retry_in=intervals[0] if intervals else None)
            if intervals:
                inbox.enqueue_retry(event_id)
        except Exception:  # database or Redis away: the sweep finds the event unfinished
            log.exception("job.retry_not_recorded event_id=%s", event_id)
