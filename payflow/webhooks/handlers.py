"""From a recorded Stripe event to a state change: ``{event type: handler}``.

``apply_event`` runs one event in one database transaction: the event row and the
payment or payout are locked, the domain's ``record_*`` function applies the fact,
and the event's verdict (``lifecycle.decide``) is written in the same commit, so a
crash anywhere leaves either everything or nothing.

A handler returns True when it changed something, False when the fact was already
applied or overtaken (the event is ``ignored``), or a ``Flag`` when it applied a fact
that an operator must look at (a duplicate capture, a payout paid after payflow
returned its money: ``flagged``, applied). It raises ``Contradiction`` for a fact that
must not be applied (an amount not ours, an object that is not the stored one, a
charge that is not the payment's paid charge: ``flagged``, nothing written),
``NotOurs`` for an object payflow did not create (``ignored``), and ``NotReady`` (an
unknown object among them) to be retried with backoff.

Objects are matched by their Stripe id (SPEC section 5): metadata only finds an object
whose Stripe id payflow has not stored yet, and an event whose id disagrees with the
stored one is flagged and writes nothing.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import select

from .. import attempts, duplicates, flags, metrics, payments, payouts, refunds
from ..errors import Contradiction, ForeignCharge, NotOurs, NotReady, ObjectMismatch
from ..extensions import db
from ..flags import Flag
from ..models import Payment, PaymentAttempt, Payout, WebhookEvent
from ..unit_of_work import atomic
from . import envelope, inbox, lifecycle

log = logging.getLogger(__name__)


class ObjectNotFound(NotReady):
    """The event names an object payflow has not committed (yet): retry, then dead-letter."""


def _metadata(obj: dict) -> dict:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


# --- finding the object -------------------------------------------------------------


def _payment_for(intent_id: str | None, metadata: dict) -> tuple[Payment, PaymentAttempt]:
    """Lock the payment whose attempt ``intent_id`` is, and that attempt.

    Metadata does not find a payment: every intent payflow makes is recorded as an
    attempt. An intent that is not one is retried while its metadata names a payment
    (its attempt may not be committed yet), and is not ours when it names none.
    """
    hinted = metadata.get("payment_id")
    payment = payments.lock_payment_for_intent(intent_id) if intent_id else None
    if payment is None:
        if not hinted:
            raise NotOurs(f"PaymentIntent {intent_id} is not one of payflow's payments (no payment_id in its metadata)")
        raise ObjectNotFound(f"no payment has intent {intent_id} (metadata names {hinted}; not committed yet?)")
    if hinted and hinted != payment.id:
        raise ObjectMismatch(f"PaymentIntent {intent_id} is an attempt of payment {payment.id}, "
                             f"but the event's metadata names payment {hinted}")
    return payment, attempts.for_intent(intent_id)


def _charge_of_payment(obj: dict, charge_id: str | None) -> tuple[Payment, PaymentAttempt]:
    """The payment and captured attempt a refund or dispute of ``charge_id`` is about.

    Raises ``ForeignCharge`` when the charge is not the attempt's own, and ``NotReady``
    while the attempt has not been seen to succeed (its success may be on its way).
    """
    payment, attempt = _payment_for(obj.get("payment_intent"), _metadata(obj))
    if attempt.status not in attempts.CAPTURED:
        raise NotReady(f"payment {payment.id}: charge {charge_id} of intent {attempt.stripe_payment_intent_id}, "
                       "whose success is not recorded yet")
    if attempt.charge_id and charge_id and charge_id != attempt.charge_id:
        raise ForeignCharge(f"payment {payment.id}: charge {charge_id} is not the charge {attempt.charge_id} of "
                            f"intent {attempt.stripe_payment_intent_id}; the payment is not changed")
    attempts.note_charge(attempt, charge_id)
    return payment, attempt


def _payout_for(obj: dict) -> tuple[Payout, bool]:
    """Lock the payout an event is about; returns it and whether the event's Stripe id is
    new to it (stored once the event is applied: the webhook beat the API's answer).

    Matched by Stripe payout id; ``metadata.payout_id`` only finds a payout that has no
    Stripe id stored yet. Raises ``ObjectMismatch`` when the two disagree, ``NotOurs``
    for a payout payflow did not create, ``ObjectNotFound`` for one not committed yet.
    """
    stripe_id = obj.get("id")
    hinted = _metadata(obj).get("payout_id")
    known = db.session.scalar(select(Payout.id).where(Payout.stripe_payout_id == stripe_id)) if stripe_id else None
    if known is not None:
        if hinted and hinted != known:
            raise ObjectMismatch(f"Stripe payout {stripe_id} is payout {known}, but the event's metadata names {hinted}")
        return payouts.lock_payout(known), False
    if not hinted:
        raise NotOurs(f"Stripe payout {stripe_id} was not created by payflow (no payout_id in its metadata)")
    payout = payouts.lock_payout(hinted)
    if payout is None:
        raise ObjectNotFound(f"no payout for Stripe payout {stripe_id} (metadata names {hinted})")
    if payout.stripe_payout_id is not None and payout.stripe_payout_id != stripe_id:
        raise ObjectMismatch(f"payout {payout.id} is Stripe payout {payout.stripe_payout_id}; "
                             f"the event is about Stripe payout {stripe_id}")
    return payout, payout.stripe_payout_id is None


def _apply_to_payout(obj: dict, record):
    payout, new_id = _payout_for(obj)
    result = record(payout)
    if result and new_id:
        payout.stripe_payout_id = obj["id"]
    return result


# --- handlers -----------------------------------------------------------------------


def payment_intent_succeeded(obj: dict) -> bool | Flag:
    payment, _ = _payment_for(obj.get("id"), _metadata(obj))
    amount = obj.get("amount_received") or obj.get("amount")
    return payments.record_succeeded(payment, obj.get("id"), amount, obj.get("currency"),
                                     attempts.charge_id_of(obj.get("latest_charge")))


def payment_intent_processing(obj: dict) -> bool:
    payment, _ = _payment_for(obj.get("id"), _metadata(obj))
    return payments.record_processing(payment, obj.get("id"))


def payment_intent_payment_failed(obj: dict) -> bool:
    error = obj.get("last_payment_error") or {}
    message = error.get("message") or "The payment failed."
    payment, _ = _payment_for(obj.get("id"), _metadata(obj))
    return payments.record_failed(payment, obj.get("id"), message)


def payment_intent_canceled(obj: dict) -> bool:
    payment, attempt = _payment_for(obj.get("id"), _metadata(obj))
    attempt_canceled = attempts.mark_canceled(attempt)
    return payments.record_canceled(payment, obj.get("id")) or attempt_canceled


def charge_refunded(obj: dict) -> bool:
    payment, attempt = _charge_of_payment(obj, obj.get("id"))
    total = int(obj.get("amount_refunded") or 0)
    if attempt.status == attempts.DUPLICATE:
        return duplicates.record_refund_total(attempt, total, obj.get("currency"))
    return payments.record_refund_total(payment, total, obj.get("currency"))


def _dispute_charge(obj: dict) -> str | None:
    return attempts.charge_id_of(obj.get("charge"))


def charge_dispute_created(obj: dict) -> bool:
    payment, attempt = _charge_of_payment(obj, _dispute_charge(obj))
    if attempt.status == attempts.DUPLICATE:
        raise Contradiction(f"payment {payment.id}: dispute {obj.get('id')} of the duplicate capture "
                            f"{attempt.stripe_payment_intent_id}; the payment is not changed",
                            code=flags.DUPLICATE_DISPUTE)
    return payments.record_dispute_opened(payment, int(obj.get("amount") or 0), obj.get("currency"))


def charge_dispute_closed(obj: dict) -> bool | Flag:
    payment, attempt = _charge_of_payment(obj, _dispute_charge(obj))
    # Stripe closes a dispute as won, lost, or warning_closed (an inquiry that ended without loss).
    lost = obj.get("status") == "lost"
    if attempt.status == attempts.DUPLICATE:
        if not lost:
            return False
        owed = attempt.amount_captured - attempt.refunded_amount
        taken = min(owed, int(obj.get("amount") or 0))
        if not duplicates.record_refund_total(attempt, attempt.refunded_amount + taken, obj.get("currency")):
            raise Contradiction(f"payment {payment.id}: dispute {obj.get('id')} of the duplicate capture "
                                f"{attempt.stripe_payment_intent_id} was lost after it was refunded: the payer may "
                                "have been paid back twice", code=flags.DUPLICATE_DISPUTE)
        return Flag(flags.DUPLICATE_DISPUTE, f"payment {payment.id}: dispute {obj.get('id')} of the duplicate capture "
                                             f"{attempt.stripe_payment_intent_id} was lost; {taken} left Stripe")
    return payments.record_dispute_closed(payment, won=not lost)


def _returned_at_stripe(stripe_payout_id: str | None) -> bool:
    """Whether Stripe has reported this payout failed or canceled (an event about it is in
    the inbox, applied or not: Stripe said so either way)."""
    if not stripe_payout_id:
        return False
    return db.session.scalar(
        select(WebhookEvent.id).where(
            WebhookEvent.object_id == stripe_payout_id, WebhookEvent.type.in_(("payout.failed", "payout.canceled"))
        ).limit(1)
    ) is not None


def payout_paid(obj: dict) -> bool | Flag:
    reported = _returned_at_stripe(obj.get("id"))
    return _apply_to_payout(obj, lambda payout: payouts.record_paid(
        payout, obj.get("amount"), obj.get("currency"), reported_returned=reported))


def payout_failed(obj: dict) -> bool:
    return _apply_to_payout(obj, lambda payout: payouts.record_failed(
        payout, obj.get("failure_message"), obj.get("amount"), obj.get("currency")))


def payout_canceled(obj: dict) -> bool:
    return _apply_to_payout(obj, lambda payout: payouts.record_canceled(payout, obj.get("amount"), obj.get("currency")))


def payout_updated(obj: dict) -> bool:
    if obj.get("status") != "in_transit":
        _payout_for(obj)  # a payout that is not ours, or not the stored one, is still told apart
        return False  # paid, failed and canceled come as their own events
    return _apply_to_payout(obj, payouts.record_in_transit)


# --- refunds --------------------------------------------------------------------------


def refund_updated(obj: dict) -> bool:
    """A Refund's new status (``charge.refund.updated``, ``refund.updated``, ``refund.failed``),
    matched by its Stripe id: one that failed or was canceled puts its money back, once."""
    return refunds.record_refund_event(obj)


HANDLERS = {
    "payment_intent.succeeded": payment_intent_succeeded,
    "payment_intent.processing": payment_intent_processing,
    "payment_intent.payment_failed": payment_intent_payment_failed,
    "payment_intent.canceled": payment_intent_canceled,
    "charge.refunded": charge_refunded,
    "charge.dispute.created": charge_dispute_created,
    "charge.dispute.closed": charge_dispute_closed,
    "payout.paid": payout_paid,
    "payout.failed": payout_failed,
    "payout.canceled": payout_canceled,
    "payout.updated": payout_updated,
    "charge.refund.updated": refund_updated,
    "refund.updated": refund_updated,
    "refund.failed": refund_updated,
}


# --- applying -----------------------------------------------------------------------


def _verdict(event: WebhookEvent, result) -> lifecycle.Status:
    if isinstance(result, Flag):
        lifecycle.decide(event, lifecycle.FLAGGED, f"applied; flagged: {result.message}", applied=True, flag=result)
        return lifecycle.FLAGGED
    if result:
        lifecycle.decide(event, lifecycle.PROCESSED, "applied", applied=True)
        return lifecycle.PROCESSED
    lifecycle.decide(event, lifecycle.IGNORED, "already applied or overtaken by a later event", applied=False)
    return lifecycle.IGNORED


def _decide_apart(event_id: str, status: lifecycle.Status, outcome: str, flag: Flag | None = None) -> str:
    """A verdict reached by an exception: the handler's transaction was rolled back, so the
    verdict is written in a transaction of its own (unless a concurrent job decided first)."""
    with atomic():
        event = db.session.get(WebhookEvent, event_id, with_for_update=True)
        if event is None or event.status in lifecycle.FINAL:
            return event.status if event else "missing"
        lifecycle.decide(event, status, outcome, applied=False, flag=flag)
    return status


def apply_event(event_id: str) -> str:
    """Apply one recorded event; returns its final status. Raises to ask for a retry."""
    try:
        with atomic():
            event = db.session.get(WebhookEvent, event_id, with_for_update=True)
            if event is None:
                log.warning("webhook.missing event_id=%s reason=not-in-inbox", event_id)
                return "missing"
            if event.status in lifecycle.FINAL:
                return event.status
            handler = HANDLERS.get(event.type)
            if handler is None:
                lifecycle.decide(event, lifecycle.IGNORED, f"{event.type} is not handled", applied=False)
                return lifecycle.IGNORED
            obj = (json.loads(event.payload).get("data") or {}).get("object") or {}
            problem = envelope.object_problem(event.type, obj)
            if problem is not None:
                raise Contradiction(f"{event.type} cannot be applied: {problem}", code=flags.MALFORMED_OBJECT)
            result = handler(obj)
            status = _verdict(event, result)
            log.info("webhook.applied event_id=%s type=%s status=%s", event.id, event.type, status)
            related = event.related_id
        if result:
            inbox.wake_waiting(related, event_id)
        return status
    except Contradiction as exc:
        flag = Flag(exc.code, exc.message)
        return _decide_apart(event_id, lifecycle.FLAGGED, f"not applied; flagged: {exc.message}", flag)
    except NotOurs as exc:
        log.info("webhook.not_ours event_id=%s reason=%r", event_id, exc.message)
        return _decide_apart(event_id, lifecycle.IGNORED, f"not applied: {exc.message}")


def record_failure(event_id: str, error: BaseException, *, retry_in: float | None) -> None:
    """Keep the attempt's error; ``retry_in`` None means no attempts are left: dead letter."""
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    final = retry_in is None
    with atomic():
        event = db.session.get(WebhookEvent, event_id, with_for_update=True)
        if event is None or event.status in lifecycle.FINAL:
            return
        lifecycle.attempt_failed(event, message, retry_in=retry_in)
    metrics.WEBHOOKS_FAILED.labels("yes" if final else "no").inc()
    log.log(logging.ERROR if final else logging.WARNING, "webhook.failed event_id=%s final=%s retry_in=%s error=%r",
            event_id, "yes" if final else "no", retry_in, message)
