"""RQ jobs: the Stripe calls that follow a committed payment fact (SPEC section 5, "Attempts").

Each runs after the commit that asked for it, never inside a transaction, and raises
when Stripe's answer is unknown, so that RQ retries it with backoff; the housekeeping
queues it again if it is lost (``attempts.sweep``, ``duplicates.sweep``).
"""
from __future__ import annotations

import logging

from rq import get_current_job

from payflow import attempts, duplicates

log = logging.getLogger(__name__)


def cancel_superseded_attempts(payment_id: str) -> int:
    """Cancel at Stripe the open attempts of a paid (or canceled) payment; returns how many are left."""
    job = get_current_job()
    log.info("job.started job_id=%s payment_id=%s", job.id if job else "-", payment_id)
    left = attempts.cancel_superseded(payment_id)
    if left:
        log.info("attempt.still_open payment_id=%s open=%d (the housekeeping tries again)", payment_id, left)
    return left


def refund_duplicate_capture(attempt_id: int) -> str:
    """Refund a duplicate capture; ``requested``, ``refused`` or ``nothing``."""
    job = get_current_job()
    log.info("job.started job_id=%s attempt_id=%s", job.id if job else "-", attempt_id)
    return duplicates.request_refund(attempt_id)
