"""The payment state machine: the one place a payment changes state.

Design
------
::

    PENDING ─▶ PROCESSING ─▶ HELD ──release──▶ RELEASED
       │   ╲        │         │  ╲                 │
       │    ╲       ▼         │   ▶ PARTIALLY_REFUNDED ─▶ REFUNDED
       ▼     ▶   FAILED ─retry▶ PENDING     (refunds, before or after release)
    CANCELED                 HELD/RELEASED/... ◀─▶ DISPUTED (won: back; lost: a refund)

A refund that fails at Stripe after it was applied takes a payment back from
(PARTIALLY_)REFUNDED to HELD, RELEASED or PARTIALLY_REFUNDED (``record_refund_reversed``):
the only way out of REFUNDED.

Two kinds of function change a payment, and both go through ``_move``, which
refuses any transition not in ``TRANSITIONS``:

* commands from people (``create_payment``, ``confirm_payment``, ``retry_payment``,
  ``release_payment``; refunds are requested through ``refunds``): authorise and write
  in one transaction, capturing the plain values the call needs, call Stripe after the
  commit, then apply what Stripe answered in a transaction of its own;
* facts from Stripe (``record_*``): applied by the webhook jobs and by confirm's
  own answer. Each is idempotent and order-tolerant: a fact already applied, or
  one that would move a payment backwards (a late failure after a success), changes
  nothing and returns False; a fact that depends on one not yet seen (a refund
  before the success) raises ``NotReady`` so that it is retried, never dropped.

Every record function expects the payment row locked (``lock_payment``) inside
``atomic()``, and writes the status, the ledger transaction and the
notifications of both sides in that one database transaction.
"""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import func, or_, select

from . import ledger, notifications
from .errors import (
    AmountMismatch,
    Forbidden,
    InvalidTransition,
    NotFound,
    NotReady,
    PaymentDeclined,
    PayflowError,
    StripeOutcomeUnknown,
    Unprocessable,
)
from .extensions import db
from .models import Payment, PaymentAttempt, User, utcnow
from .money import format_amount, platform_fee
from .stripe_api import gateway
from .unit_of_work import atomic

log = logging.getLogger(__name__)

PENDING = "PENDING"
PROCESSING = "PROCESSING"
HELD = "HELD"
RELEASED = "RELEASED"
FAILED = "FAILED"
CANCELED = "CANCELED"
REFUNDED = "REFUNDED"
PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
DISPUTED = "DISPUTED"

TRANSITIONS = {
    PENDING: {PROCESSING, HELD, FAILED, CANCELED},
    PROCESSING: {HELD, FAILED, CANCELED},
    FAILED: {PENDING, PROCESSING, HELD, CANCELED},
    HELD: {RELEASED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED},
    PARTIALLY_REFUNDED: {RELEASED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED, HELD},
    RELEASED: {PARTIALLY_REFUNDED, REFUNDED, DISPUTED},
    DISPUTED: {HELD, RELEASED, PARTIALLY_REFUNDED, REFUNDED},
    CANCELED: set(),
    # back only when a refund fails at Stripe after it was applied
    REFUNDED: {HELD, RELEASED, PARTIALLY_REFUNDED},
}
BEFORE_SUCCESS = {PENDING, PROCESSING, FAILED}
PAID = {HELD, RELEASED, PARTIALLY_REFUNDED, REFUNDED, DISPUTED}


def _move(payment: Payment, status: str) -> None:
    if status not in TRANSITIONS[payment.status]:
        raise InvalidTransition(f"payment {payment.id} cannot go from {payment.status} to {status}")
    payment.status = status
    payment.updated_at = utcnow()


def in_escrow(payment: Payment) -> int:
    """What is still held for this payment: nothing before success or after release."""
    if payment.status in BEFORE_SUCCESS or payment.status == CANCELED or payment.released_at is not None:
        return 0
    return payment.amount - payment.refunded_amount


# --- reading ---------------------------------------------------------------------


def visible_to(user: User):
    """The payments a user may read: their own, or every one for an admin."""
    if user.role == "admin":
        return select(Payment)
    return select(Payment).where(or_(Payment.company_id == user.id, Payment.influencer_id == user.id))


def get_payment(user: User, payment_id: str, *, for_update: bool = False) -> Payment:
    query = visible_to(user).where(Payment.id == payment_id)
    if for_update:
        query = query.with_for_update()
    payment = db.session.scalars(query).first()
    if payment is None:
        raise NotFound(f"no payment {payment_id}")
    return payment


def lock_payment(payment_id: str) -> Payment | None:
    return db.session.scalars(select(Payment).where(Payment.id == payment_id).with_for_update()).first()


def lock_payment_for_intent(intent_id: str) -> Payment | None:
    """Lock the payment an intent belongs to (whichever attempt it was), in one query."""
    return db.session.scalars(
        select(Payment)
        .join(PaymentAttempt, PaymentAttempt.payment_id == Payment.id)
        .where(PaymentAttempt.stripe_payment_intent_id == intent_id)
        .with_for_update(of=Payment)
    ).first()


def payment_for_intent(intent_id: str) -> str | None:
    """The payment an intent belongs to, whichever attempt it was."""
    return db.session.scalar(
        select(PaymentAttempt.payment_id).where(PaymentAttempt.stripe_payment_intent_id == intent_id)
    )


def _owned_by_company(user: User, payment_id: str, action: str) -> Payment:
    payment = get_payment(user, payment_id, for_update=True)
    if payment.company_id != user.id:
        raise Forbidden(f"only the paying company can {action} this payment")
    return payment


# --- commands --------------------------------------------------------------------


def create_payment(company: User, influencer_id: str, amount: int, currency: str, description: str) -> Payment:
    with atomic():
        influencer = db.session.get(User, influencer_id)
        if influencer is None or influencer.role != "influencer":
            raise Unprocessable(f"no influencer {influencer_id}", code="unknown_influencer")
        payment = Payment(
            company_id=company.id,
            influencer_id=influencer.id,
            amount=amount,
            currency=currency,
            description=description,
            status=PENDING,
            fee_bps=current_app.config["PLATFORM_FEE_BPS"],
        )
        db.session.add(payment)
        db.session.flush()
        payment_id, request = payment.id, _attempt_request(payment)
    _start_attempt(payment_id, request)
    return db.session.get(Payment, payment_id)


def _attempt_request(payment: Payment) -> dict:
    """The PaymentIntent request of the payment's next attempt, as plain values.

    The idempotency key names the attempt, so two concurrent retries get the same
    intent from Stripe instead of charging twice, and a retry after an unanswered
    creation finds the intent that may have been made.
    """
    attempt_number = 1 + db.session.scalar(
        select(func.count()).select_from(PaymentAttempt).where(PaymentAttempt.payment_id == payment.id)
    )
    return {
        "amount": payment.amount,
        "currency": payment.currency,
        "metadata": {
            "payment_id": payment.id,
            "company_id": payment.company_id,
            "influencer_id": payment.influencer_id,
        },
        "idempotency_key": f"payflow-payment-{payment.id}-attempt-{attempt_number}",
    }


def _start_attempt(payment_id: str, request: dict) -> str:
    """Create the PaymentIntent of ``request`` (from ``_attempt_request``) and make it the
    payment's current attempt; returns its id. Called with no transaction open."""
    try:
        intent = gateway().create_payment_intent(**request)
    except PayflowError as exc:
        # No intent is confirmed without its client secret, so nothing was charged: FAILED lets the
        # company retry, and a retry reuses this attempt's key (it was never recorded), so an intent
        # Stripe made without answering is the one the retry gets.
        with atomic():
            payment = lock_payment(payment_id)
            if payment.status == PENDING and payment.stripe_payment_intent_id is None:
                _fail(payment, f"Stripe could not start the payment: {exc.message}")
        raise
    with atomic():
        payment = lock_payment(payment_id)
        known = payment_for_intent(intent.id)
        if known is None:
            db.session.add(PaymentAttempt(payment_id=payment.id, stripe_payment_intent_id=intent.id))
        if payment.stripe_payment_intent_id != intent.id:
            if payment.status == FAILED:
                _move(payment, PENDING)
            payment.failure_message = None
            payment.stripe_payment_intent_id = intent.id
            payment.client_secret = intent.client_secret
            payment.updated_at = utcnow()
    return intent.id


def confirm_payment(company: User, payment_id: str, payment_method: str) -> Payment:
    """Confirm server-side with a saved or test payment method; a failed payment starts a new attempt.

    Raises ``PaymentDeclined`` (the payment is then FAILED) and ``StripeOutcomeUnknown`` when
    neither the confirmation nor a look-up of the intent got an answer: the payment is left as
    it is (the card may have been charged), and its webhook will say.
    """
    with atomic():
        payment = _owned_by_company(company, payment_id, "confirm")
        if payment.status not in (PENDING, FAILED):
            raise InvalidTransition(f"payment {payment.id} is {payment.status}; only PENDING or FAILED can be paid")
        needs_attempt = payment.status == FAILED or payment.stripe_payment_intent_id is None
        request = _attempt_request(payment) if needs_attempt else None
        intent_id = payment.stripe_payment_intent_id
    if request is not None:
        intent_id = _start_attempt(payment_id, request)
    try:
        intent = gateway().confirm_payment_intent(intent_id, payment_method)
    except PaymentDeclined as exc:
        with atomic():
            record_failed(lock_payment(payment_id), intent_id, exc.message)
        raise
    except StripeOutcomeUnknown:
        intent = gateway().retrieve_payment_intent(intent_id)  # what did Stripe do? (raises if still silent)
    with atomic():
        apply_intent(lock_payment(payment_id), intent)
    return db.session.get(Payment, payment_id)


def retry_payment(company: User, payment_id: str) -> Payment:
    """A new PaymentIntent for a FAILED payment; the browser pays it with its new client secret."""
    with atomic():
        payment = _owned_by_company(company, payment_id, "retry")
        if payment.status != FAILED:
            raise InvalidTransition(f"payment {payment.id} is {payment.status}; only FAILED payments are retried")
        request = _attempt_request(payment)
    _start_attempt(payment_id, request)
    return db.session.get(Payment, payment_id)


def release_payment(company: User, payment_id: str) -> Payment:
    with atomic():
        payment = _owned_by_company(company, payment_id, "release")
        remaining = in_escrow(payment)
        if payment.status not in (HELD, PARTIALLY_REFUNDED) or remaining <= 0:
            raise InvalidTransition(f"payment {payment.id} is {payment.status} with nothing in escrow to release")
        ledger.release(payment, remaining, payment.fee_bps)
        payment.fee_amount = platform_fee(remaining, payment.fee_bps)
        payment.released_at = utcnow()
        _move(payment, RELEASED)
        net = remaining - payment.fee_amount
        notifications.payment_update(payment, payment.company_id, "success", "Payment Released")
        notifications.payment_update(
            payment, payment.influencer_id, "success", f"Payment Released: {format_amount(net, payment.currency)} available"
        )
        notifications.wallet_update(payment.influencer_id, payment.currency)
    return payment


def refundable(payment: Payment) -> int:
    return payment.amount - payment.refunded_amount if payment.status in (HELD, PARTIALLY_REFUNDED, RELEASED) else 0


# --- facts from Stripe -------------------------------------------------------------


def _check_amount(payment: Payment, amount: int | None, currency: str | None) -> None:
    if currency is not None and currency.lower() != payment.currency:
        raise AmountMismatch(f"payment {payment.id} is in {payment.currency}, Stripe says {currency}")
    if amount is not None and amount != payment.amount:
        raise AmountMismatch(f"payment {payment.id} is {payment.amount}, Stripe says {amount}")


def _is_current(payment: Payment, intent_id: str | None) -> bool:
    # Facts about an earlier attempt's intent must not touch the current attempt.
    return intent_id is None or intent_id == payment.stripe_payment_intent_id


def apply_intent(payment: Payment, intent) -> bool:
    """Apply a PaymentIntent as Stripe returned it (confirm's answer, or a fetched intent)."""
    status = intent.status
    if status == "succeeded":
        return record_succeeded(payment, intent.id, intent.amount, intent.currency)
    if status == "processing":
        return record_processing(payment, intent.id)
    if status == "canceled":
        return record_canceled(payment, intent.id)
    error = getattr(intent, "last_payment_error", None)
    if status == "requires_payment_method" and error:
        return record_failed(payment, intent.id, error.get("message") or "The payment failed.")
    return False


def record_succeeded(payment: Payment, intent_id: str | None, amount: int | None, currency: str | None) -> bool:
    if payment.status in PAID:
        return False
    if payment.status == CANCELED:
        log.warning("payment %s: success reported after cancellation; ignored", payment.id)
        return False
    _check_amount(payment, amount, currency)
    ledger.capture(payment, payment.fee_bps)
    payment.held_at = utcnow()
    payment.failure_message = None
    if intent_id and intent_id != payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = intent_id
    _move(payment, HELD)
    notifications.payment_update(payment, payment.company_id, "success", "Payment Held in Escrow")
    notifications.payment_update(payment, payment.influencer_id, "success", "Payment Secured")
    notifications.wallet_update(payment.influencer_id, payment.currency)
    return True


def record_processing(payment: Payment, intent_id: str | None) -> bool:
    if payment.status not in (PENDING, FAILED) or not _is_current(payment, intent_id):
        return False
    _move(payment, PROCESSING)
    notifications.payment_update(payment, payment.company_id, "info", "Payment Processing")
    return True


def _fail(payment: Payment, message: str) -> None:
    _move(payment, FAILED)
    payment.failure_message = message
    notifications.payment_update(payment, payment.company_id, "error", f"Payment Failed: {message}")
    notifications.payment_update(payment, payment.influencer_id, "error", "Payment Failed: the company's payment did not go through")


def record_failed(payment: Payment, intent_id: str | None, message: str) -> bool:
    if payment.status not in (PENDING, PROCESSING) or not _is_current(payment, intent_id):
        return False
    _fail(payment, message)
    return True


def record_canceled(payment: Payment, intent_id: str | None) -> bool:
    if payment.status not in BEFORE_SUCCESS or not _is_current(payment, intent_id):
        return False
    _move(payment, CANCELED)
    notifications.payment_update(payment, payment.company_id, "info", "Payment Canceled")
    notifications.payment_update(payment, payment.influencer_id, "info", "Payment Canceled")
    return True


def _check_refund_total(payment: Payment, amount_refunded: int, currency: str | None) -> None:
    _check_amount(payment, None, currency)
    if amount_refunded > payment.amount or amount_refunded < 0:
        raise AmountMismatch(f"payment {payment.id}: refunded total {amount_refunded} exceeds {payment.amount}")
    if payment.status in BEFORE_SUCCESS:
        raise NotReady(f"payment {payment.id} refunded before its success was recorded")
    if payment.status == CANCELED:
        raise AmountMismatch(f"payment {payment.id} was canceled but Stripe reports a refund")


def record_refund_total(payment: Payment, amount_refunded: int, currency: str | None = None) -> bool:
    """Apply Stripe's cumulative ``amount_refunded`` (``charge.refunded``): only the part not yet
    recorded moves money, and ``refunds.attribute`` decides how much of it is explained by
    refunds (after a failed refund, a stale total is not)."""
    from . import refunds  # refunds builds on this module

    _check_refund_total(payment, amount_refunded, currency)
    increase = amount_refunded - payment.refunded_amount
    if increase <= 0:
        return False
    increase = refunds.attribute(payment, increase)
    if increase <= 0:
        return False
    _apply_refund(payment, payment.refunded_amount + increase)
    return True


def _set_refund_status(payment: Payment, status: str) -> None:
    if payment.status == DISPUTED:
        payment.status_before_dispute = status
        payment.updated_at = utcnow()
    elif payment.status == status:  # a refund from before the release put back after it: still RELEASED
        payment.updated_at = utcnow()
    else:
        _move(payment, status)


def _apply_refund(payment: Payment, amount_refunded: int) -> None:
    """Move the money of a refunded total above what is recorded: out of escrow, or clawed back."""
    released = payment.released_at is not None
    old_remaining = payment.amount - payment.refunded_amount
    new_remaining = payment.amount - amount_refunded
    ledger.refund(payment, old_remaining, new_remaining, payment.fee_bps, released=released)
    payment.refunded_amount = amount_refunded
    if released:
        payment.fee_amount = platform_fee(new_remaining, payment.fee_bps)
    new_status = REFUNDED if new_remaining == 0 else PARTIALLY_REFUNDED
    _set_refund_status(payment, new_status)
    text = format_amount(amount_refunded, payment.currency)
    label = "Payment Refunded" if new_status == REFUNDED else "Payment Partially Refunded"
    notifications.payment_update(payment, payment.company_id, "info", f"{label}: {text} returned")
    notifications.payment_update(payment, payment.influencer_id, "info", f"{label}: {text} returned to the company")
    notifications.wallet_update(payment.influencer_id, payment.currency)


def record_refund_reversed(payment: Payment, amount: int, refund_id: str) -> bool:
    """A refund of ``amount`` (minor units) that was applied failed or was canceled at Stripe.

    The money is back in the platform's Stripe balance and goes back where the refund took it
    from, as a new balanced ledger transaction keyed by the refund (so once, however often
    Stripe says so): into escrow before release; after release, to the influencer (settling
    what they owe first) and the platform's fee, in the proportions of the release. The
    payment's ``refundedAmount`` drops by ``amount`` and its status follows (SPEC §5).
    """
    if not 0 < amount <= payment.refunded_amount:
        raise AmountMismatch(f"payment {payment.id}: cannot put back {amount} of {payment.refunded_amount} refunded")
    released = payment.released_at is not None
    old_remaining = payment.amount - payment.refunded_amount
    new_remaining = old_remaining + amount
    posted = ledger.refund_reversed(payment, old_remaining, new_remaining, payment.fee_bps, released=released,
                                    refund_id=refund_id)
    if posted is None:
        return False
    payment.refunded_amount -= amount
    payment.refund_reversed_amount += amount
    if released:
        payment.fee_amount = platform_fee(new_remaining, payment.fee_bps)
        # as after any refund: refunds made before the release ended with it, only later ones show
        refunded_at_release = payment.amount - ledger.released_gross(payment.id)
        new_status = PARTIALLY_REFUNDED if payment.refunded_amount > refunded_at_release else RELEASED
    else:
        new_status = PARTIALLY_REFUNDED if payment.refunded_amount else HELD
    _set_refund_status(payment, new_status)
    text = format_amount(amount, payment.currency)
    where = "it is back with the influencer" if released else "it is back in escrow"
    notifications.payment_update(payment, payment.company_id, "error", f"Refund Failed: {text} was not returned; {where}")
    notifications.payment_update(
        payment, payment.influencer_id, "info",
        f"Refund Failed: {text} {'is back in your wallet' if released else 'is back in escrow for you'}",
    )
    notifications.wallet_update(payment.influencer_id, payment.currency)
    return True


def record_dispute_opened(payment: Payment, amount: int, currency: str | None = None) -> bool:
    _check_amount(payment, None, currency)
    if payment.status in BEFORE_SUCCESS:
        raise NotReady(f"payment {payment.id} disputed before its success was recorded")
    if payment.status in (DISPUTED, CANCELED, REFUNDED):
        return False
    payment.status_before_dispute = payment.status
    payment.disputed_amount = min(amount, payment.amount - payment.refunded_amount)
    _move(payment, DISPUTED)
    notifications.payment_update(payment, payment.company_id, "info", "Payment Disputed")
    notifications.payment_update(payment, payment.influencer_id, "info", "Payment Disputed: funds are on hold")
    return True


def record_dispute_closed(payment: Payment, won: bool) -> bool:
    """A won dispute returns the payment to where it was; a lost one is a refund of the disputed amount."""
    if payment.status != DISPUTED:
        if payment.disputed_amount == 0:
            raise NotReady(f"payment {payment.id}: dispute closed before it was opened")
        return False
    _move(payment, payment.status_before_dispute or HELD)
    payment.status_before_dispute = None
    if won:
        notifications.payment_update(payment, payment.company_id, "info", "Dispute Won: payment restored")
        notifications.payment_update(payment, payment.influencer_id, "success", "Dispute Won: funds restored")
        return True
    # A lost dispute is a refund no refund object stands for: applied as it is.
    total = min(payment.amount, payment.refunded_amount + payment.disputed_amount)
    _check_refund_total(payment, total, None)
    if total > payment.refunded_amount:
        _apply_refund(payment, total)
    return True
