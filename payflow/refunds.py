"""Refunds: the state machine of one refund of a payment.

::

    REQUESTED ─▶ PENDING ─▶ SUCCEEDED ─▶ FAILED / CANCELED (a card refund can fail days later)
        │           │
        └───────────┴──▶ SUCCEEDED / FAILED / CANCELED

A refund is written REQUESTED, with the idempotency key it is sent with, in the
transaction that checks the payment's refundable amount (counting refunds still in
flight), so two requests cannot together refund more than was paid. Stripe is asked
after the commit; its answer gives the refund its Stripe id and status. With no
definite answer the refund stays REQUESTED and ``resolve_unanswered`` (the workers'
housekeeping) asks again with the same key; a definite refusal makes it FAILED.

The payment changes only when Stripe confirms a refund: ``charge.refunded`` carries
the charge's cumulative refunded total, which ``payments.record_refund_total`` applies
and ``attribute`` marks against the refunds it covers (``applied``). A refund that
fails or is canceled after it was applied is put back exactly once by
``payments.record_refund_reversed``, matched by its Stripe refund id, never by amount.
Stripe's statuses: pending, requires_action, succeeded, failed, canceled (Refund object,
Stripe API reference).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select

from . import attempts, duplicates, notifications, payments
from .errors import (
    AmountMismatch,
    Forbidden,
    InvalidTransition,
    NotReady,
    ObjectMismatch,
    PayflowError,
    StripeOutcomeUnknown,
    StripeRefused,
    Unprocessable,
)
from .extensions import db
from .ids import new_id
from .models import Payment, Refund, User, utcnow
from .money import format_amount
from .stripe_api import gateway
from .unit_of_work import atomic

log = logging.getLogger(__name__)

REQUESTED = "REQUESTED"
PENDING = "PENDING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELED = "CANCELED"

TRANSITIONS = {
    REQUESTED: {PENDING, SUCCEEDED, FAILED, CANCELED},
    PENDING: {SUCCEEDED, FAILED, CANCELED},
    SUCCEEDED: {FAILED, CANCELED},
    FAILED: set(),
    CANCELED: set(),
}
# Refunds that count against what is left to refund.
LIVE = (REQUESTED, PENDING, SUCCEEDED)
ENDED = (FAILED, CANCELED)

STRIPE_STATUSES = {
    "pending": PENDING,
    "requires_action": PENDING,
    "succeeded": SUCCEEDED,
    "failed": FAILED,
    "canceled": CANCELED,
}

KEY_LIFETIME = timedelta(hours=23)  # Stripe keeps idempotency keys at least 24 hours
ABANDONED_AFTER = timedelta(minutes=10)  # longer than any call to Stripe lasts


def _move(refund: Refund, status: str) -> None:
    if status not in TRANSITIONS[refund.status]:
        raise InvalidTransition(f"refund {refund.id} cannot go from {refund.status} to {status}")
    refund.status = status
    refund.updated_at = utcnow()


def awaiting_stripe(refund: Refund) -> bool:
    """Requested, and Stripe's answer to the request is not known yet."""
    return refund.status == REQUESTED and refund.stripe_refund_id is None


def lock_refund(refund_id: str) -> tuple[Payment, Refund]:
    """Lock a refund and its payment, the payment first (the order every refund change uses)."""
    payment_id = db.session.scalar(select(Refund.payment_id).where(Refund.id == refund_id))
    payment = payments.lock_payment(payment_id)
    refund = db.session.scalars(select(Refund).where(Refund.id == refund_id).with_for_update()).one()
    return payment, refund


def in_flight(payment_id: str) -> int:
    """What refunds of the payment will take once Stripe confirms them (minor units)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment_id, Refund.status.in_(LIVE), Refund.applied.is_(False)
        )
    )
    return int(total)


def in_flight_by_payment(payment_ids) -> dict[str, int]:
    """``in_flight`` of several payments in one query (0 for those with none)."""
    rows = db.session.execute(
        select(Refund.payment_id, func.sum(Refund.amount))
        .where(Refund.payment_id.in_(list(payment_ids)), Refund.status.in_(LIVE), Refund.applied.is_(False))
        .group_by(Refund.payment_id)
    ).all()
    totals = dict.fromkeys(payment_ids, 0)
    totals.update({payment_id: int(total) for payment_id, total in rows})
    return totals


def refundable(payment: Payment) -> int:
    """What may still be refunded: the payment's own refundable amount less refunds in flight."""
    return max(0, payments.refundable(payment) - in_flight(payment.id))


# --- the command ----------------------------------------------------------------------


def request_refund(actor: User, payment_id: str, amount: int | None) -> Refund:
    """Ask Stripe to refund ``amount`` (minor units; all that is left when None).

    Returns the refund: PENDING or SUCCEEDED as Stripe answered, or REQUESTED when Stripe
    gave no definite answer (it is then resolved later). The payment itself changes when
    Stripe confirms (``charge.refunded``, SPEC §5). Raises ``Forbidden``,
    ``InvalidTransition`` (nothing to refund), ``Unprocessable`` ``refund_exceeds_payment``
    (more than is left, refunds in flight counted) and ``StripeRefused`` (the refund is
    then FAILED; nothing moved).
    """
    with atomic():
        actor_id = actor.id
        payment = payments.get_payment(actor, payment_id, for_update=True)
        if actor.role != "admin" and payment.company_id != actor_id:
            raise Forbidden("only the paying company or an admin can refund this payment")
        available = refundable(payment)
        if available <= 0:
            in_progress = " (refunds in progress take the rest)" if payments.refundable(payment) else ""
            raise InvalidTransition(f"payment {payment.id} is {payment.status}; nothing can be refunded{in_progress}")
        amount = available if amount is None else amount
        if amount > available:
            raise Unprocessable(
                f"at most {format_amount(available, payment.currency)} can be refunded",
                code="refund_exceeds_payment",
                details={"refundable": available},
            )
        refund_id = new_id("rf")
        refund = Refund(
            id=refund_id,
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            status=REQUESTED,
            requested_by=actor_id,
            idempotency_key=f"payflow-refund-{refund_id}",
        )
        db.session.add(refund)
        db.session.flush()
        request = _stripe_request(refund, payment.stripe_payment_intent_id)
    try:
        _send(refund_id, request)
    except StripeRefused as exc:
        exc.details = {**exc.details, "refundId": refund_id, "status": FAILED}
        raise
    log.info("refund.requested refund_id=%s payment_id=%s amount=%s", refund_id, payment_id, amount)
    return db.session.get(Refund, refund_id)


def _stripe_request(refund: Refund, intent_id: str) -> dict:
    """The create request of a refund, as plain values: the same every time it is sent."""
    metadata = {"payment_id": refund.payment_id, "refund_id": refund.id}
    if refund.requested_by:
        metadata["requested_by"] = refund.requested_by
    return {"payment_intent": intent_id, "amount": refund.amount, "metadata": metadata,
            "idempotency_key": refund.idempotency_key}


def _send(refund_id: str, request: dict) -> None:
    """Send the create request (no transaction open) and record what came of it."""
    try:
        answer = gateway().create_refund(**request)
    except StripeRefused as exc:
        with atomic():
            _, refund = lock_refund(refund_id)
            record_refused(refund, exc.message)
        raise
    except StripeOutcomeUnknown as exc:
        with atomic():
            _, refund = lock_refund(refund_id)
            record_outcome_unknown(refund, exc.message)
        return
    with atomic():
        payment, refund = lock_refund(refund_id)
        record_stripe_refund(payment, refund, answer.id, answer.status, getattr(answer, "failure_reason", None))


# --- what Stripe says -------------------------------------------------------------------


def record_refused(refund: Refund, message: str) -> bool:
    """Stripe definitely made no refund: FAILED. Nothing moved, so nothing is put back."""
    if not awaiting_stripe(refund):
        return False
    _move(refund, FAILED)
    refund.failure_reason = message
    refund.stripe_error = message
    refund.next_resolve_at = None
    return True


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 10 * 2 ** attempts))


def record_outcome_unknown(refund: Refund, message: str) -> bool:
    """Stripe may or may not have made the refund: it stays REQUESTED and is asked about later."""
    if not awaiting_stripe(refund):
        return False
    refund.stripe_error = message
    refund.next_resolve_at = utcnow() + _backoff(refund.resolve_attempts)
    refund.resolve_attempts += 1
    return True


def record_stripe_refund(payment: Payment, refund: Refund, stripe_refund_id: str, stripe_status: str | None,
                         failure_reason: str | None = None) -> bool:
    """A Stripe refund object for this refund (an answer, a lookup or an event): its id and status.

    Expects the payment and the refund locked (``lock_refund``). A status never moves a
    refund backwards (a late ``pending`` after ``succeeded`` changes nothing).
    """
    if refund.stripe_refund_id not in (None, stripe_refund_id):
        raise ObjectMismatch(f"refund {refund.id} is Stripe refund {refund.stripe_refund_id}, not {stripe_refund_id}")
    changed = refund.stripe_refund_id is None
    refund.stripe_refund_id = stripe_refund_id
    refund.next_resolve_at = None
    refund.stripe_error = None
    status = STRIPE_STATUSES.get(stripe_status or "")
    if status is None or status == refund.status or status not in TRANSITIONS[refund.status]:
        return changed
    if status in ENDED:
        return record_ended(payment, refund, status, failure_reason)
    _move(refund, status)
    return True


def record_ended(payment: Payment, refund: Refund, status: str, reason: str | None) -> bool:
    """The refund failed or was canceled at Stripe: its money is back at the platform.

    If it was applied to the payment, ``payments.record_refund_reversed`` puts its amount back
    where it came from (escrow; or, after release, the influencer's wallet or receivable and
    the platform's fee), exactly once: the refund's own status and the ledger key per refund.
    """
    if refund.status in ENDED:
        return False
    _move(refund, status)
    refund.failure_reason = reason or ("canceled" if status == CANCELED else "unknown")
    refund.next_resolve_at = None
    if refund.applied:
        payments.record_refund_reversed(payment, refund.amount, refund.id)
    else:
        notifications.payment_update(
            payment, payment.company_id, "error",
            f"Refund Failed: {format_amount(refund.amount, refund.currency)} was not returned ({refund.failure_reason})",
        )
    return True


def attribute(payment: Payment, increase: int) -> int:
    """How much of an increase of Stripe's refunded total to apply, marking the refunds it covers.

    ``charge.refunded`` carries a total, not refund ids. Refunds still to be applied are
    marked ``applied`` in the order they were made, as far as the increase covers them.
    Once a refund of this payment has failed at Stripe, a total may be stale (sent before
    the failure, so still counting the failed refund): from then on only refunds payflow
    knows by id move money, never an unexplained rise of the total.
    """
    waiting = db.session.scalars(
        select(Refund)
        .where(Refund.payment_id == payment.id, Refund.status.in_(LIVE), Refund.applied.is_(False))
        .order_by(Refund.created_at, Refund.id)
        .with_for_update()
    ).all()
    explained = 0
    for refund in waiting:
        if explained + refund.amount > increase:
            break
        refund.applied = True
        explained += refund.amount
    if _has_failed_at_stripe(payment.id):
        if explained < increase:
            log.warning("refund.unexplained payment_id=%s increase=%s explained=%s (stale total after a failed refund)",
                        payment.id, increase, explained)
        return explained
    return increase


def _has_failed_at_stripe(payment_id: str) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Refund).where(
            Refund.payment_id == payment_id, Refund.status.in_(ENDED), Refund.stripe_refund_id.is_not(None)
        )
    ) > 0


def record_refund_event(obj: dict) -> bool:
    """A Stripe Refund object from ``charge.refund.updated``, ``refund.updated`` or ``refund.failed``.

    Matched by its Stripe id; the ``refund_id`` in its metadata only finds a refund whose
    Stripe id payflow has not stored yet (its create answer was lost). A refund payflow never
    asked for (made in Stripe's Dashboard) is recorded from the event, as applied when the
    payment's refunded total already counts it. Raises ``AmountMismatch`` (flagged) when the
    amount or currency disagree, ``ObjectMismatch`` (flagged) when the event's refund is not the one
    stored, or its metadata names a refund of another payment than the one whose charge it refunds,
    and ``NotReady`` when the payment is not known yet.
    """
    stripe_refund_id = obj.get("id")
    if not isinstance(stripe_refund_id, str) or not stripe_refund_id:
        raise AmountMismatch("refund event without a refund id")
    payment, refund = _lock_for_event(stripe_refund_id, obj)
    if refund is None:
        # a refund of another attempt's charge: only a duplicate capture's refund matters (to it alone)
        attempt = attempts.for_intent(obj.get("payment_intent")) if payment is not None else None
        if attempt is not None and attempt.payment_id == payment.id and attempt.status == attempts.DUPLICATE:
            return duplicates.record_refund_ended(attempt, stripe_refund_id, obj.get("amount"), obj.get("currency"),
                                                  obj.get("status"), obj.get("failure_reason"))
        return False
    if refund.amount != obj.get("amount") or (obj.get("currency") or "").lower() != refund.currency:
        raise AmountMismatch(
            f"refund {refund.id} is {refund.amount} {refund.currency}, Stripe says {obj.get('amount')} {obj.get('currency')}"
        )
    return record_stripe_refund(payment, refund, stripe_refund_id, obj.get("status"), obj.get("failure_reason"))


def _lock_for_event(stripe_refund_id: str, obj: dict) -> tuple[Payment | None, Refund | None]:
    refund_id = db.session.scalar(select(Refund.id).where(Refund.stripe_refund_id == stripe_refund_id))
    if refund_id is not None:
        return lock_refund(refund_id)
    hinted = (obj.get("metadata") or {}).get("refund_id")
    if isinstance(hinted, str):
        refund_id = db.session.scalar(select(Refund.id).where(Refund.id == hinted))
    if refund_id is None:
        return _discovered(stripe_refund_id, obj)
    payment, refund = lock_refund(refund_id)
    intent_id = obj.get("payment_intent")
    if intent_id is not None and payments.payment_for_intent(intent_id) != payment.id:
        # the refund is of another payment's charge: metadata never makes it ours
        raise ObjectMismatch(f"Stripe refund {stripe_refund_id} is of PaymentIntent {intent_id}, not of payment "
                             f"{payment.id}, whose refund {refund.id} its metadata names")
    return payment, refund


def _discovered(stripe_refund_id: str, obj: dict) -> tuple[Payment | None, Refund | None]:
    intent_id = obj.get("payment_intent")
    payment = payments.lock_payment_for_intent(intent_id) if isinstance(intent_id, str) else None
    if payment is None:
        raise NotReady(f"no payment has intent {intent_id} (refund {stripe_refund_id})")
    known = db.session.scalar(select(Refund.id).where(Refund.stripe_refund_id == stripe_refund_id))
    if known is not None:  # recorded by a concurrent event while this one waited for the payment
        return lock_refund(known)
    if intent_id != payment.stripe_payment_intent_id:
        log.warning("refund.other_attempt refund=%s intent=%s payment_id=%s", stripe_refund_id, intent_id, payment.id)
        return payment, None  # a refund of another attempt's charge never touches the payment
    amount = obj.get("amount")
    if not isinstance(amount, int) or amount <= 0:
        raise AmountMismatch(f"refund {stripe_refund_id} has no valid amount")
    applied_total = db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.payment_id == payment.id, Refund.status.in_(LIVE), Refund.applied.is_(True)
        )
    )
    refund = Refund(
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        status=REQUESTED,
        stripe_refund_id=stripe_refund_id,
        idempotency_key=f"stripe-{stripe_refund_id}",
        applied=payment.refunded_amount - int(applied_total) >= amount,
    )
    db.session.add(refund)
    db.session.flush()
    log.info("refund.discovered refund_id=%s stripe_refund_id=%s payment_id=%s", refund.id, stripe_refund_id, payment.id)
    return payment, refund


# --- resolving refunds Stripe did not answer about ------------------------------------------


def unanswered_query(now: datetime, limit: int):
    return (
        select(Refund.id)
        .where(
            Refund.status == REQUESTED,
            Refund.stripe_refund_id.is_(None),
            or_(
                Refund.next_resolve_at <= now,
                and_(Refund.next_resolve_at.is_(None), Refund.created_at < now - ABANDONED_AFTER),
            ),
        )
        .order_by(Refund.created_at)
        .limit(limit)
    )


def resolve_unanswered(now: datetime | None = None, limit: int = 50) -> int:
    """Ask Stripe about every refund due; returns how many were asked.

    Within the key's lifetime the request is sent again with the same idempotency key
    (Stripe answers with the refund the first request made, or makes it once); after it,
    the intent's refunds are searched for this refund's id, and one Stripe does not have
    was never made (FAILED: nothing moved).
    """
    now = now or utcnow()
    with atomic():
        due = db.session.scalars(unanswered_query(now, limit)).all()
    for refund_id in due:
        try:
            resolve(refund_id, now=now)
        except PayflowError as exc:
            log.warning("refund.resolve_failed refund_id=%s error=%r", refund_id, exc.message)
    return len(due)


def resolve(refund_id: str, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    with atomic():
        payment, refund = lock_refund(refund_id)
        if not awaiting_stripe(refund):
            return
        request, created_at = _stripe_request(refund, payment.stripe_payment_intent_id), refund.created_at
    log.info("refund.resolving refund_id=%s", refund_id)
    if now - created_at < KEY_LIFETIME:
        try:
            _send(refund_id, request)
        except StripeRefused:
            pass  # recorded by _send: FAILED
        return
    try:
        found = gateway().find_refund(payment_intent=request["payment_intent"], refund_id=refund_id)
    except StripeOutcomeUnknown as exc:
        with atomic():
            _, refund = lock_refund(refund_id)
            record_outcome_unknown(refund, exc.message)
        return
    with atomic():
        payment, refund = lock_refund(refund_id)
        if found is not None:
            record_stripe_refund(payment, refund, found.id, found.status, getattr(found, "failure_reason", None))
        else:
            record_refused(refund, "Stripe never made this refund")
