"""Payouts: the state machine of an influencer's withdrawal.

::

    PENDING ─▶ IN_TRANSIT ─▶ COMPLETED ─▶ FAILED (Stripe may fail a paid payout later)
       │            │            ▲
       └────────────┴──▶ FAILED / CANCELED ──paid after all──┘

The amount leaves ``availableBalance`` when the payout is requested. A FAILED or
CANCELED payout returns it to the wallet exactly once, whichever state it failed
from: the ledger's idempotency key for the return is per payout (and per return).
A ``payout.paid`` for a payout payflow had already failed or canceled is never
ignored: the bank got the money, so it leaves the wallet again (a receivable where
the wallet cannot cover it) and the event is flagged for an operator (SPEC section 5).

Asking Stripe has three outcomes (``stripe_api``): accepted (the payout gets its
Stripe id), refused (FAILED, the money back at once), or no definite answer. The last
is not a refusal: Stripe may have made the payout. It stays PENDING with its money in
transit and ``next_resolve_at`` set, and ``resolve_unanswered`` (run by the workers'
housekeeping) asks Stripe again with the same idempotency key until it knows; its
webhook events settle it too. A payout whose request never returned at all (the
process died during the call) is resolved the same way once it is old enough.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from . import flags, ledger, notifications, payout_rules
from .errors import AmountMismatch, InvalidTransition, PayflowError, StripeOutcomeUnknown, StripeRefused
from .flags import Flag
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
    FAILED: {COMPLETED},  # only by record_paid: Stripe paid it after all
    CANCELED: {COMPLETED},
}

# Stripe keeps an idempotency key for at least 24 hours: within this, asking again with it
# returns the payout the first request made, if it made one; after it, only a lookup is safe.
KEY_LIFETIME = timedelta(hours=23)
# Longer than any call to Stripe can last (timeouts and the library's retries included): a
# payout still unanswered after this lost its request with its process.
ABANDONED_AFTER = timedelta(minutes=10)


def _move(payout: Payout, status: str) -> None:
    if status not in TRANSITIONS[payout.status]:
        raise InvalidTransition(f"payout {payout.id} cannot go from {payout.status} to {status}")
    payout.status = status
    payout.updated_at = utcnow()


def lock_payout(payout_id: str) -> Payout | None:
    return db.session.scalars(select(Payout).where(Payout.id == payout_id).with_for_update()).first()


def awaiting_stripe(payout: Payout) -> bool:
    """Requested, and Stripe's answer to the request is not known yet."""
    return payout.status == PENDING and payout.stripe_payout_id is None


def request_payout(influencer: User, amount: int, currency: str) -> Payout:
    """Take ``amount`` (minor units) out of the available balance and ask Stripe to pay it out.

    Returns the payout, PENDING: with its Stripe id when Stripe accepted it, without one
    (``awaiting_stripe``) when Stripe gave no definite answer (its money stays in transit
    until that is resolved). Raises ``InsufficientFunds`` or ``PayoutAmountNotPayable``
    (422, nothing written, nothing sent; SPEC §4), and ``StripeRefused`` when Stripe
    refused: the payout is then FAILED and the money is back in the wallet.
    """
    with atomic():
        influencer_id = influencer.id
        wallet = ledger.account(ledger.WALLET, currency, influencer_id, for_update=True)
        payout_rules.check(amount, ledger.balance(wallet), currency)
        payout = Payout(influencer_id=influencer_id, amount=amount, currency=currency, status=PENDING)
        db.session.add(payout)
        db.session.flush()
        ledger.payout_requested(payout)
        notifications.payout_update(payout, "info", f"Payout Requested: {format_amount(amount, currency)}")
        notifications.wallet_update(influencer_id, currency)
        payout_id, request = payout.id, _stripe_request(payout)
    try:
        _send(payout_id, request)
    except StripeRefused as exc:
        exc.details = {**exc.details, "payoutId": payout_id, "status": FAILED}
        raise
    return db.session.get(Payout, payout_id)


def _stripe_request(payout: Payout) -> dict:
    """The create request of a payout, as plain values: the same every time it is sent."""
    return {
        "amount": payout.amount,
        "currency": payout.currency,
        "metadata": {"payout_id": payout.id, "influencer_id": payout.influencer_id},
        "idempotency_key": f"payflow-payout-{payout.id}",
    }


def _send(payout_id: str, request: dict) -> None:
    """Send the create request (no transaction open) and record what came of it."""
    try:
        answer = gateway().create_payout(**request)
    except StripeRefused as exc:
        with atomic():
            record_refused(lock_payout(payout_id), exc.message)
        raise
    except StripeOutcomeUnknown as exc:
        with atomic():
            record_outcome_unknown(lock_payout(payout_id), exc.message)
        return
    with atomic():
        record_accepted(lock_payout(payout_id), answer.id, answer.status)


def record_accepted(payout: Payout, stripe_payout_id: str, stripe_status: str | None = None) -> bool:
    """Stripe made this payout (its answer to our request, or a lookup found it)."""
    if payout.stripe_payout_id not in (None, stripe_payout_id):
        log.error("payout.stripe_id_conflict payout_id=%s stored=%s answered=%s",
                  payout.id, payout.stripe_payout_id, stripe_payout_id)
        return False
    changed = payout.stripe_payout_id is None
    payout.stripe_payout_id = stripe_payout_id
    payout.next_resolve_at = None
    payout.stripe_error = None
    if stripe_status == "in_transit":
        changed = record_in_transit(payout) or changed
    elif stripe_status == "paid":
        changed = record_paid(payout) or changed
    return changed


def record_refused(payout: Payout, message: str) -> bool:
    """Stripe definitely did not make the payout: FAILED, the money back in the wallet."""
    if not awaiting_stripe(payout):
        return False
    payout.next_resolve_at = None
    payout.stripe_error = message
    return record_failed(payout, message)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 10 * 2 ** attempts))


def record_outcome_unknown(payout: Payout, message: str) -> bool:
    """Stripe may or may not have made the payout: keep it PENDING and ask again later."""
    if not awaiting_stripe(payout):
        return False
    payout.stripe_error = message
    payout.next_resolve_at = utcnow() + _backoff(payout.resolve_attempts)
    payout.resolve_attempts += 1
    if payout.resolve_attempts == 1:
        notifications.payout_update(
            payout, "info", "Payout Requested: Stripe has not confirmed it yet; the amount stays on its way"
        )
    return True


def unanswered_query(now: datetime, limit: int):
    """Payouts whose request to Stripe has no known outcome and are due to be asked about."""
    return (
        select(Payout.id)
        .where(
            Payout.status == PENDING,
            Payout.stripe_payout_id.is_(None),
            or_(
                Payout.next_resolve_at <= now,
                and_(Payout.next_resolve_at.is_(None), Payout.created_at < now - ABANDONED_AFTER),
            ),
        )
        .order_by(Payout.created_at)
        .limit(limit)
    )


def resolve_unanswered(now: datetime | None = None, limit: int = 50) -> int:
    """Ask Stripe about every payout due (``unanswered_query``); returns how many were asked.

    Within the key's lifetime the request is sent again with the same idempotency key:
    Stripe answers with the payout the first request made, or makes it now, once. After
    it, payflow looks for a payout with this payout's id in its metadata, and one that
    Stripe does not have was never made: the payout fails and its money comes back.
    """
    now = now or utcnow()
    with atomic():
        due = db.session.scalars(unanswered_query(now, limit)).all()
    for payout_id in due:
        try:
            resolve(payout_id, now=now)
        except PayflowError as exc:
            log.warning("payout.resolve_failed payout_id=%s error=%r", payout_id, exc.message)
    return len(due)


def resolve(payout_id: str, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    with atomic():
        payout = lock_payout(payout_id)
        if payout is None or not awaiting_stripe(payout):
            return
        request, created_at = _stripe_request(payout), payout.created_at
    log.info("payout.resolving payout_id=%s", payout_id)
    if now - created_at < KEY_LIFETIME:
        try:
            _send(payout_id, request)
        except StripeRefused:
            pass  # recorded by _send: FAILED, money back
        return
    try:
        found = gateway().find_payout(payout_id=payout_id, requested_at=created_at)
    except StripeOutcomeUnknown as exc:
        with atomic():
            record_outcome_unknown(lock_payout(payout_id), exc.message)
        return
    with atomic():
        payout = lock_payout(payout_id)
        if found is not None:
            record_accepted(payout, found.id, found.status)
        else:
            record_refused(payout, "Stripe never made this payout")


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


def record_paid(payout: Payout, amount: int | None = None, currency: str | None = None, *,
                reported_returned: bool = False) -> bool | Flag:
    """Stripe paid the payout. Returns True when applied, False when already applied, and a
    ``Flag`` when payflow had returned its money (failed or canceled it): applied anyway.

    ``reported_returned``: Stripe itself reported this payout failed or canceled. Stripe
    fails a paid payout (the bank returns it) but never pays a failed or canceled one, so
    this paid is the earlier fact delivered late: its money was returned by the later one.
    """
    _check_amount(payout, amount, currency)
    if payout.status in (FAILED, CANCELED):
        return False if reported_returned else _paid_after_return(payout)
    if payout.status not in (PENDING, IN_TRANSIT):
        return False
    ledger.payout_settled(payout)
    _move(payout, COMPLETED)
    notifications.payout_update(payout, "success", f"Payout Completed: {format_amount(payout.amount, payout.currency)}")
    return True


def _paid_after_return(payout: Payout) -> Flag:
    before = payout.status
    _, owed = ledger.payout_paid_after_return(payout)
    _move(payout, COMPLETED)
    payout.failure_message = None
    text = format_amount(payout.amount, payout.currency)
    owed_text = f", {format_amount(owed, payout.currency)} of it owed as the wallet could not cover it" if owed else ""
    notifications.payout_update(payout, "error", f"Payout Completed after all: {text} was paid to your bank "
                                                 f"and has left your wallet again{owed_text}")
    notifications.wallet_update(payout.influencer_id, payout.currency)
    return Flag(flags.PAID_AFTER_RETURN, f"payout {payout.id} was {before} and its {text} back in the wallet, but "
                                         f"Stripe paid it: taken from the wallet again{owed_text}")


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
