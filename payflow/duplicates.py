"""Duplicate captures: money Stripe captured a second time for one payment.

Design
------
A payment is paid once, by one of its attempts (``payflow.attempts``). When another of
its PaymentIntents is captured too (a stale tab paid an earlier attempt, a cancel came
too late), the company has paid twice. That second capture is:

* booked in the ledger apart from the payment (``ledger.duplicate_capture``: Stripe
  balance against ``duplicate_captures``, money owed back to the payer), never in
  escrow or in the influencer's wallet;
* flagged for an operator (``flags.DUPLICATE_CAPTURE``), and the company is told;
* refunded at once when ``AUTO_REFUND_DUPLICATE_CAPTURES`` is on (the default): by a job
  after the commit, never inside a transaction, with one idempotency key per duplicate
  intent, asked again (same key) while its outcome is unknown, and queued again by the
  housekeeping if the job is lost;
* settled by its own ``charge.refunded`` (``record_refund_total``), which never touches
  the payment or its escrow.

A capture on a payment that was canceled is handled the same way
(``flags.CAPTURE_AFTER_CANCEL``): no escrow exists to put it in.

``refund_status``: ``pending`` (to be asked of Stripe), ``requested`` (Stripe accepted
the refund; its ``charge.refunded`` settles it), ``refunded``, ``failed`` (Stripe
refused: an operator must look). None while automatic refunds are off.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from . import attempts, flags, ledger, notifications
from .errors import AmountMismatch, Contradiction, StripeRefused
from .extensions import db, redis_client
from .flags import Flag
from .models import Payment, PaymentAttempt, utcnow
from .money import format_amount
from .stripe_api import gateway
from .unit_of_work import atomic, on_commit

log = logging.getLogger(__name__)

PENDING = "pending"
REQUESTED = "requested"
REFUNDED = "refunded"
FAILED = "failed"

REFUND_JOB = "jobs.attempts.refund_duplicate_capture"
JOB_QUEUE = "default"


def refund_idempotency_key(intent_id: str) -> str:
    return f"payflow-duplicate-refund-{intent_id}"


def record(payment: Payment, attempt: PaymentAttempt, amount: int, currency: str, charge_id: str | None) -> Flag:
    """Stripe captured ``amount`` on ``attempt`` after the payment was paid (or canceled).

    The caller holds the payment's row lock inside ``atomic()``. Returns the flag the event
    carries: applied (the money is booked) and for an operator.
    """
    canceled = payment.status == "CANCELED"
    currency = currency.lower()
    attempt.status = attempts.DUPLICATE
    attempt.amount_captured = amount
    attempt.currency = currency
    attempts.note_charge(attempt, charge_id)
    auto = current_app.config["AUTO_REFUND_DUPLICATE_CAPTURES"]
    attempt.refund_status = PENDING if auto else None
    attempt.updated_at = utcnow()
    ledger.duplicate_capture(payment.id, attempt.stripe_payment_intent_id, amount, currency)
    text = format_amount(amount, currency)
    follow_up = "it is being refunded" if auto else "an operator will refund it"
    what = "the payment was canceled" if canceled else "the payment was already paid"
    notifications.payment_update(
        payment, payment.company_id, "error", f"Charged twice: {text} was collected again after {what}; {follow_up}"
    )
    if auto:
        attempt_id = attempt.id
        on_commit(lambda: enqueue_refund(attempt_id))
    reason = flags.CAPTURE_AFTER_CANCEL if canceled else flags.DUPLICATE_CAPTURE
    return Flag(reason, f"payment {payment.id}: PaymentIntent {attempt.stripe_payment_intent_id} captured {text} "
                        f"after {what}; booked apart from the payment, {follow_up}")


def _check_currency(attempt: PaymentAttempt, currency: str | None) -> None:
    if currency is not None and currency.lower() != attempt.currency:
        raise AmountMismatch(f"duplicate capture {attempt.stripe_payment_intent_id} is in {attempt.currency}, "
                             f"Stripe says {currency}")


def record_refund_total(attempt: PaymentAttempt, amount_refunded: int, currency: str | None) -> bool:
    """Stripe's cumulative ``amount_refunded`` of a duplicate's charge: the part not yet
    recorded leaves Stripe from ``duplicate_captures``. The payment is not touched.

    Once a refund of the duplicate has failed at Stripe, a rise of the total may be a stale
    one that still counts it: it is not booked but flagged (``Contradiction``) for an operator.
    """
    _check_currency(attempt, currency)
    if not 0 <= amount_refunded <= attempt.amount_captured:
        raise AmountMismatch(f"duplicate capture {attempt.stripe_payment_intent_id}: refunded total "
                             f"{amount_refunded} exceeds the {attempt.amount_captured} captured")
    if amount_refunded <= attempt.refunded_amount:
        return False
    if attempt.refund_status == FAILED and attempt.refund_id:
        raise Contradiction(
            f"duplicate capture {attempt.stripe_payment_intent_id}: Stripe reports {amount_refunded} refunded after "
            f"its refund {attempt.refund_id} failed; the total may still count the failed refund, so nothing is "
            "booked: check the charge at Stripe", code=flags.DUPLICATE_CAPTURE)
    ledger.duplicate_refund(attempt.payment_id, attempt.stripe_payment_intent_id, attempt.refunded_amount,
                            amount_refunded, attempt.currency)
    attempt.refunded_amount = amount_refunded
    if amount_refunded == attempt.amount_captured:
        attempt.refund_status = REFUNDED
    attempt.updated_at = utcnow()
    payment = db.session.get(Payment, attempt.payment_id)
    notifications.payment_update(
        payment, payment.company_id, "info",
        f"Second charge refunded: {format_amount(amount_refunded, attempt.currency)} returned",
    )
    return True


def record_refund_ended(attempt: PaymentAttempt, stripe_refund_id: str, amount, currency: str | None,
                        status: str | None, reason: str | None) -> bool | Flag:
    """A refund of the duplicate capture reported ``failed`` or ``canceled`` by Stripe (``refund.failed``,
    ``refund.updated``, ``charge.refund.updated``): its money is back at the platform and owed to the
    payer again. If its ``charge.refunded`` was booked, ``amount`` goes back to ``duplicate_captures``
    once (the ledger key is per Stripe refund); the refund is ``failed`` for an operator either way,
    the company is told, and the event is flagged. Other statuses change nothing (False).
    """
    if status not in ("failed", "canceled"):
        return False
    _check_currency(attempt, currency)
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= attempt.amount_captured:
        raise AmountMismatch(f"duplicate capture {attempt.stripe_payment_intent_id}: refund {stripe_refund_id} "
                             f"of {amount!r} does not fit the {attempt.amount_captured} captured")
    booked = amount <= attempt.refunded_amount
    if booked:
        if ledger.duplicate_refund_reversed(attempt.payment_id, attempt.stripe_payment_intent_id, amount,
                                            attempt.currency, stripe_refund_id) is None:
            return False  # put back already: another event reported the same failure
        attempt.refunded_amount -= amount
    elif attempt.refund_status == FAILED and attempt.refund_id == stripe_refund_id:
        return False  # reported before its charge.refunded, and already recorded
    attempt.refund_status = FAILED
    attempt.refund_id = stripe_refund_id
    attempt.refund_error = f"refund {stripe_refund_id} {status} at Stripe: {reason or 'no reason given'}"[:2000]
    attempt.updated_at = utcnow()
    text = format_amount(amount, attempt.currency)
    payment = db.session.get(Payment, attempt.payment_id)
    notifications.payment_update(
        payment, payment.company_id, "error",
        f"Refund of the second charge failed: {text} was not returned ({reason or status}); an operator will look",
    )
    where = "back in duplicate_captures, owed to the payer" if booked else "never booked as refunded"
    return Flag(flags.DUPLICATE_CAPTURE, f"payment {payment.id}: refund {stripe_refund_id} of the duplicate capture "
                                         f"{attempt.stripe_payment_intent_id} {status} ({reason}); {text} {where}")


# --- the refund: a Stripe call after the commit ----------------------------------------


def request_refund(attempt_id: int) -> str:
    """Ask Stripe to refund what is left of a duplicate capture; returns what happened
    (``requested``, ``refused``, or ``nothing`` when no refund is due).

    Outside any transaction while Stripe is called. Raises ``StripeOutcomeUnknown`` when the
    outcome is unknown: the refund stays ``pending`` and is asked again with the same key.
    """
    attempt = db.session.get(PaymentAttempt, attempt_id)
    due = attempt is not None and attempt.refund_status == PENDING
    if due:
        intent_id, payment_id = attempt.stripe_payment_intent_id, attempt.payment_id
    db.session.rollback()  # no transaction (nor SQLite's write lock) across the call to Stripe
    if not due:
        return "nothing"
    try:
        refund = gateway().refund_remaining(
            payment_intent=intent_id,
            metadata={"payment_id": payment_id, "reason": "duplicate_capture"},
            idempotency_key=refund_idempotency_key(intent_id),
        )
    except StripeRefused as exc:
        with atomic():
            attempt = _lock(attempt_id)
            if attempt.refund_status == PENDING:
                attempt.refund_status = FAILED
                attempt.refund_error = exc.message[:2000]
                attempt.updated_at = utcnow()
        log.error("duplicate.refund_refused payment_id=%s intent=%s error=%r", payment_id, intent_id, exc.message)
        return "refused"
    with atomic():
        attempt = _lock(attempt_id)
        if attempt.refund_status == PENDING:
            attempt.refund_status = REQUESTED
            attempt.refund_id = refund.id
            attempt.updated_at = utcnow()
    log.info("duplicate.refund_requested payment_id=%s intent=%s refund=%s", payment_id, intent_id, refund.id)
    return "requested"


def _lock(attempt_id: int) -> PaymentAttempt:
    return db.session.scalars(select(PaymentAttempt).where(PaymentAttempt.id == attempt_id).with_for_update()).one()


def enqueue_refund(attempt_id: int) -> None:
    from rq import Queue, Retry

    intervals = current_app.config["WEBHOOK_RETRY_INTERVALS"]
    try:
        Queue(JOB_QUEUE, connection=redis_client.client).enqueue(
            REFUND_JOB, attempt_id, job_id=f"duplicate-refund-{attempt_id}",
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            result_ttl=300, failure_ttl=7 * 86400,
        )
    except Exception as exc:  # Redis down: the housekeeping finds the pending refund
        log.warning("duplicate.refund_unqueued attempt_id=%s error=%r", attempt_id, str(exc))


def sweep(grace_seconds: float, limit: int = 200) -> int:
    """Queue again the refunds still ``pending`` after ``grace_seconds`` (a lost job, or an
    outcome that stayed unknown through the job's retries)."""
    attempt_ids = db.session.scalars(
        select(PaymentAttempt.id)
        .where(PaymentAttempt.status == attempts.DUPLICATE, PaymentAttempt.refund_status == PENDING,
               PaymentAttempt.updated_at < utcnow() - timedelta(seconds=grace_seconds))
        .limit(limit)
    ).all()
    db.session.rollback()
    for attempt_id in attempt_ids:
        enqueue_refund(attempt_id)
    return len(attempt_ids)
