"""Attempts: the PaymentIntents of one payment, and which one of them paid it.

Design
------
A payment may use several PaymentIntents: a retry after a failure makes a new one
(``payments.retry_payment``). An earlier one can still be paid by a stale browser tab
or a slow bank, so each attempt has a status of its own::

    open ──cancel at Stripe──▶ canceled
      │
      ├──first success of the payment──▶ paid        (one per paid payment)
      └──success once another has paid──▶ duplicate  (payflow.duplicates)

* Before a new attempt, the current intent is canceled at Stripe
  (``supersede_current``), outside any database transaction. A cancel that Stripe
  refuses because the intent succeeded is itself the news that the payment was paid:
  it is recorded and no new attempt is made.
* The first attempt that succeeds pays the payment, whichever it is. Every other open
  attempt of a paid payment is then canceled at Stripe by a job after the commit
  (``cancel_superseded``, queued again by the housekeeping until none is left open); one
  that succeeds anyway is a duplicate capture.
* Refunds and disputes are matched to the charge of the attempt they are about: only
  the charge of the paid attempt ever changes the payment (SPEC section 5, "Attempts").

Stripe: cancel a PaymentIntent, https://docs.stripe.com/api/payment_intents/cancel
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select

from .errors import InvalidTransition
from .extensions import db, redis_client
from .models import Payment, PaymentAttempt, utcnow
from .stripe_api import gateway
from .unit_of_work import atomic, on_commit

log = logging.getLogger(__name__)

OPEN = "open"
CANCELED = "canceled"
PAID = "paid"
DUPLICATE = "duplicate"
CAPTURED = (PAID, DUPLICATE)

CANCEL_JOB = "jobs.attempts.cancel_superseded_attempts"
JOB_QUEUE = "default"


# --- reading ---------------------------------------------------------------------------


def for_intent(intent_id: str | None) -> PaymentAttempt | None:
    if not intent_id:
        return None
    return db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.stripe_payment_intent_id == intent_id)
    ).first()


def paid_attempt(payment_id: str) -> PaymentAttempt | None:
    return db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.payment_id == payment_id, PaymentAttempt.status == PAID)
    ).first()


def charge_id_of(charge) -> str | None:
    """The id of a charge as Stripe gives it: an id, or the expanded object (a dict or a StripeObject)."""
    if isinstance(charge, str):
        return charge or None
    if charge is None:
        return None
    try:
        value = charge.get("id")
    except AttributeError:
        value = getattr(charge, "id", None)
    return value if isinstance(value, str) and value else None


# --- facts ----------------------------------------------------------------------------


def note_charge(attempt: PaymentAttempt, charge_id: str | None) -> None:
    """Learn the charge of a captured attempt, the first time an event or answer names it."""
    if charge_id and attempt.charge_id is None:
        attempt.charge_id = charge_id
        attempt.updated_at = utcnow()


def mark_paid(attempt: PaymentAttempt, charge_id: str | None, amount: int, currency: str) -> None:
    """This attempt paid its payment; every other open one is canceled at Stripe after the commit."""
    attempt.status = PAID
    attempt.amount_captured = amount
    attempt.currency = currency
    note_charge(attempt, charge_id)
    attempt.updated_at = utcnow()
    if superseded(attempt.payment_id):
        payment_id = attempt.payment_id
        on_commit(lambda: enqueue_cancel(payment_id))


def mark_canceled(attempt: PaymentAttempt | None) -> bool:
    """Stripe canceled the attempt's intent (our cancel's answer, or its event)."""
    if attempt is None or attempt.status != OPEN:
        return False
    attempt.status = CANCELED
    attempt.updated_at = utcnow()
    return True


_SETTLED_PAYMENT_STATUSES = ("HELD", "RELEASED", "PARTIALLY_REFUNDED", "REFUNDED", "DISPUTED", "CANCELED")


def superseded(payment_id: str) -> list[PaymentAttempt]:
    """The open attempts of a payment that another attempt has paid, or that was canceled."""
    open_attempts = list(db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.payment_id == payment_id, PaymentAttempt.status == OPEN)
    ))
    if not open_attempts:
        return []
    settled = db.session.scalar(select(Payment.status).where(Payment.id == payment_id)) == "CANCELED" or \
        paid_attempt(payment_id) is not None
    return open_attempts if settled else []


# --- Stripe calls (never inside a database transaction) --------------------------------


def supersede_current(payment_id: str) -> None:
    """Cancel the payment's current intent at Stripe before a new attempt replaces it.

    Raises ``InvalidTransition`` (409) when Stripe says the intent was paid after all (the
    payment is then recorded as paid, once) or is still being processed, and
    ``StripeOutcomeUnknown`` (502) when Stripe's answer is unknown: no new attempt is made
    while the old one could still be paid.
    """
    from . import payments

    with atomic():  # ended before the call to Stripe
        payment = db.session.get(Payment, payment_id)
        intent_id = payment.stripe_payment_intent_id if payment else None
        current = for_intent(intent_id)
        needs_cancel = current is not None and current.status == OPEN
    if not needs_cancel:
        return
    intent = gateway().cancel_payment_intent(intent_id)
    with atomic():
        payment = payments.lock_payment(payment_id)
        if intent.status == "canceled":
            mark_canceled(for_intent(intent_id))
            return
        if intent.status == "succeeded":
            payments.apply_intent(payment, intent)
    if intent.status == "succeeded":
        raise InvalidTransition(f"payment {payment_id} was paid by its earlier attempt after all; nothing to retry")
    raise InvalidTransition(f"payment {payment_id}: its earlier attempt is still {intent.status} at Stripe; "
                            "retry once it has ended")


def cancel_superseded(payment_id: str) -> int:
    """Cancel at Stripe every open attempt of a paid payment; returns how many are left open.

    An intent Stripe will not cancel because it succeeded is applied at once (a duplicate
    capture, refunded); one still processing is left for a later try. Raises
    ``StripeOutcomeUnknown`` when an answer is unknown, so that the job is retried.
    """
    from . import payments

    with atomic():
        intents = [attempt.stripe_payment_intent_id for attempt in superseded(payment_id)]
    left = 0
    for intent_id in intents:
        intent = gateway().cancel_payment_intent(intent_id)
        with atomic():
            payment = payments.lock_payment(payment_id)
            attempt = for_intent(intent_id)
            if attempt is None or attempt.status != OPEN:
                continue
            attempt.updated_at = utcnow()
            if intent.status == "canceled":
                mark_canceled(attempt)
                log.info("attempt.canceled payment_id=%s intent=%s", payment_id, intent_id)
            elif intent.status == "succeeded":
                payments.apply_intent(payment, intent)
            else:
                left += 1
    return left


def enqueue_cancel(payment_id: str) -> None:
    """Queue the job that cancels a paid payment's other attempts (one job per payment)."""
    from rq import Queue, Retry

    intervals = current_app.config["WEBHOOK_RETRY_INTERVALS"]
    try:
        Queue(JOB_QUEUE, connection=redis_client.client).enqueue(
            CANCEL_JOB, payment_id, job_id=f"cancel-attempts-{payment_id}",
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            result_ttl=300, failure_ttl=7 * 86400,
        )
    except Exception as exc:  # Redis down: the housekeeping finds the open attempts
        log.warning("attempt.cancel_unqueued payment_id=%s error=%r", payment_id, str(exc))


def sweep(grace_seconds: float, limit: int = 200) -> int:
    """Queue the cancel job of every paid or canceled payment with an attempt left open, untouched
    for ``grace_seconds`` (its job was lost, or the intent was still processing)."""
    before = utcnow() - timedelta(seconds=grace_seconds)
    payment_ids = db.session.scalars(
        select(PaymentAttempt.payment_id).distinct()
        .join(Payment, Payment.id == PaymentAttempt.payment_id)
        .where(PaymentAttempt.status == OPEN, Payment.status.in_(_SETTLED_PAYMENT_STATUSES))
        .where(or_(PaymentAttempt.updated_at.is_(None), PaymentAttempt.updated_at < before))
        .limit(limit)
    ).all()
    db.session.rollback()
    for payment_id in payment_ids:
        enqueue_cancel(payment_id)
    return len(payment_ids)

