"""RQ job: apply one recorded Stripe event."""
from __future__ import annotations

import logging

from rq import get_current_job

from payflow.webhooks import handlers

log = logging.getLogger(__name__)


def process_event(event_id: str) -> str:
    """Apply ``event_id`` once. On failure, keep the error on the event and raise, so
    RQ retries with backoff; when no retries are left the event becomes a dead letter."""
    job = get_current_job()
    log.info("job.started job_id=%s event_id=%s", job.id if job else "-", event_id)
    try:
        return handlers.apply_event(event_id)
    except Exception as exc:
        retries_left = (job.retries_left or 0) if job else 0
        retry_in = job.get_retry_interval() if job and retries_left > 0 else None
        log.warning("job.failed job_id=%s event_id=%s error=%r", job.id if job else "-", event_id, str(exc))
        handlers.record_failure(event_id, exc, retry_in=retry_in)
        raise
