"""Payouts: the state machine of an influencer's withdrawal.

::

    PENDING ─▶ IN_TRANSIT ─▶ COMPLETED ─▶ FAILED (Stripe may fail a paid payout later)
       │            │
       └────────────┴──▶ FAILED / CANCELED

The amount leaves ``availableBalance`` when the payout is requested. A FAILED or
CANCELED payout returns it to the wallet exactly once, whichever state it failed
from: the ledger's idempotency key for the return is per payout.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from . import ledger, notifications
from .errors import AmountMismatch, InsufficientFunds, InvalidTransition, PayflowError
from .extensions import db
from .models import Payout, User, utcnow
from .money import format_amount
from .stripe_api import gateway
from .unit_of_work import atomic

log = logging.getLogger(__name__)

PENDING = "PENDING"
IN_TRANSIT = "IN_TRANSIT"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELED = "CANCELED"

TRANSITIONS = {
    PENDING: {IN_TRANSIT, COMPLETED, FAILED, CANCELED},
    IN_TRANSIT: {COMPLETED, FAILED, CANCELED},
    COMPLETED: {FAILED},
    FAILED: set(),
    CANCELED: set(),
}


def _move(payout: Payout, status: str) -> None:
    if status not in TRANSITIONS[payout.status]:
        raise InvalidTransition(f"payout {payout.id} cannot go from {payout.status} to {status}")
    payout.status = status
    payout.updated_at = utcnow()


def lock_payout(payout_id: str) -> Payout | None:
    return db.session.scalars(select(Payout).where(Payout.id == payout_id).with_for_update()).first()


def request_payout(influencer: User, amount: int, currency: str) -> Payout:
    """Take ``amount`` out of the available balance and ask Stripe to pay it out.

    If Stripe refuses or cannot be reached, the payout is FAILED and the money is
    back in the wallet before this returns (the error is re-raised for the caller).
    """
    influencer_id = influencer.id  # read now: after the commit it would be reloaded, opening a transaction
    with atomic():
        wallet = ledger.account(ledger.WALLET, currency, influencer.id, for_update=True)
        available = ledger.balance(wallet)
        if amount > available:
            raise InsufficientFunds(
                f"{format_amount(amount, currency)} is more than the available {format_amount(available, currency)}",
                details={"availableBalance": available},
            )
        payout = Payout(influencer_id=influencer.id, amount=amount, currency=currency, status=PENDING)
        db.session.add(payout)
        db.session.flush()
        ledger.payout_requested(payout)
        notifications.payout_update(payout, "info", f"Payout Requested: {format_amount(amount, currency)}")
        notifications.wallet_update(influencer.id, currency)
        payout_id = payout.id
    try:
        stripe_payout = gateway().create_payout(
            amount=amount,
            currency=currency,
            metadata={"payout_id": payout_id, "influencer_id": influencer_id},
            idempotency_key=f"payflow-payout-{payout_id}",
        )
    except PayflowError as exc:
        with atomic():
            record_failed(lock_payout(payout_id), exc.message)
        exc.details = {**exc.details, "payoutId": payout_id, "status": FAILED}
        raise
    with atomic():
        payout = lock_payout(payout_id)
        payout.stripe_payout_id = stripe_payout.id
        if stripe_payout.status == "in_transit":
            record_in_transit(payout)
    return payout


def _check_amount(payout: Payout, amount: int | None, currency: str | None) -> None:
    if (amount is not None and amount != payout.amount) or (currency is not None and currency.lower() != payout.currency):
        raise AmountMismatch(
            f"payout {payout.id} is {payout.amount} {payout.currency}, Stripe says {amount} {currency}"
        )


def record_in_transit(payout: Payout) -> bool:
    if payout.status != PENDING:
        return False
    _move(payout, IN_TRANSIT)
    notifications.payout_update(payout, "info", "Payout In Transit")
    return True


def record_paid(payout: Payout, amount: int | None = None, currency: str | None = None) -> bool:
    _check_amount(payout, amount, currency)
    if payout.status not in (PENDING, IN_TRANSIT):
        return False
    ledger.payout_settled(payout)
    _move(payout, COMPLETED)
    notifications.payout_update(payout, "success", f"Payout Completed: {format_amount(payout.amount, payout.currency)}")
    return True


def _return_funds(payout: Payout, status: str, message: str | None) -> None:
    ledger.payout_returned(payout, after_settlement=payout.status == COMPLETED)
    _move(payout, status)
    payout.failure_message = message
    notifications.wallet_update(payout.influencer_id, payout.currency)


def record_failed(payout: Payout, message: str | None, amount: int | None = None, currency: str | None = None) -> bool:
    _check_amount(payout, amount, currency)
    if payout.status not in (PENDING, IN_TRANSIT, COMPLETED):
        return False
    message = message or "The payout failed."
    _return_funds(payout, FAILED, message)
    notifications.payout_update(payout, "error", f"Payout Failed: {message} The amount is back in your wallet.")
    return True


def record_canceled(payout: Payout, amount: int | None = None, currency: str | None = None) -> bool:
    _check_amount(payout, amount, currency)
    if payout.status not in (PENDING, IN_TRANSIT):
        return False
    _return_funds(payout, CANCELED, None)
    notifications.payout_update(payout, "info", "Payout Canceled: the amount is back in your wallet")
    return True
