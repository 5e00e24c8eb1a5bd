"""From a recorded Stripe event to a state change: ``{event type: handler}``.

``apply_event`` runs one event in one database transaction: the event row and the
payment or payout are locked, the domain's ``record_*`` function applies the fact,
and the event is marked final in the same commit, so a crash anywhere leaves
either everything or nothing. A handler returns True when it changed something
and False when the fact was already applied or overtaken (the event is then
``ignored``). ``NotReady`` and an unknown object are retried by the job with
backoff; ``AmountMismatch`` flags the event for an operator.
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select

from .. import metrics, payments, payouts, refunds
from ..errors import AmountMismatch, NotReady
from ..extensions import db
from ..models import Payout, WebhookEvent, utcnow
from ..unit_of_work import atomic
from . import inbox

log = logging.getLogger(__name__)


class ObjectNotFound(NotReady):
    """The event names an object payflow has not committed (yet): retry, then dead-letter."""


# --- finding the object -------------------------------------------------------------


def _payment_for(intent_id: str | None, metadata: dict | None):
    """Lock the payment an intent belongs to; the intent must be a recorded attempt of it."""
    payment = payments.lock_payment_for_intent(intent_id) if intent_id else None
    if payment is None:
        hinted = (metadata or {}).get("payment_id")
        raise ObjectNotFound(
            f"no payment has intent {intent_id}" + (f" (metadata names {hinted}; not committed yet?)" if hinted else "")
        )
    return payment


def _payout_for(obj: dict) -> Payout:
    payout_id = (obj.get("metadata") or {}).get("payout_id")
    if not payout_id and obj.get("id"):
        payout_id = db.session.scalar(select(Payout.id).where(Payout.stripe_payout_id == obj["id"]))
    payout = payouts.lock_payout(payout_id) if payout_id else None
    if payout is None:
        hinted = f" (metadata names {payout_id})" if payout_id else ""
        raise ObjectNotFound(f"no payout for Stripe payout {obj.get('id')}{hinted}")
    if payout.stripe_payout_id is None and obj.get("id"):
        payout.stripe_payout_id = obj["id"]  # the webhook beat the API's own update
    return payout


# --- handlers -----------------------------------------------------------------------


def payment_intent_succeeded(obj: dict) -> bool:
    payment = _payment_for(obj.get("id"), obj.get("metadata"))
    amount = obj.get("amount_received") or obj.get("amount")
    return payments.record_succeeded(payment, obj.get("id"), amount, obj.get("currency"))


def payment_intent_processing(obj: dict) -> bool:
    return payments.record_processing(_payment_for(obj.get("id"), obj.get("metadata")), obj.get("id"))


def payment_intent_payment_failed(obj: dict) -> bool:
    error = obj.get("last_payment_error") or {}
    message = error.get("message") or "The payment failed."
    return payments.record_failed(_payment_for(obj.get("id"), obj.get("metadata")), obj.get("id"), message)


def payment_intent_canceled(obj: dict) -> bool:
    return payments.record_canceled(_payment_for(obj.get("id"), obj.get("metadata")), obj.get("id"))


def charge_refunded(obj: dict) -> bool:
    payment = _payment_for(obj.get("payment_intent"), obj.get("metadata"))
    return payments.record_refund_total(payment, int(obj.get("amount_refunded") or 0), obj.get("currency"))


def charge_dispute_created(obj: dict) -> bool:
    payment = _payment_for(obj.get("payment_intent"), obj.get("metadata"))
    return payments.record_dispute_opened(payment, int(obj.get("amount") or 0), obj.get("currency"))


def charge_dispute_closed(obj: dict) -> bool:
    payment = _payment_for(obj.get("payment_intent"), obj.get("metadata"))
    # Stripe closes a dispute as won, lost, or warning_closed (an inquiry that ended without loss).
    return payments.record_dispute_closed(payment, won=obj.get("status") != "lost")


def payout_paid(obj: dict) -> bool:
    return payouts.record_paid(_payout_for(obj), obj.get("amount"), obj.get("currency"))


def payout_failed(obj: dict) -> bool:
    return payouts.record_failed(_payout_for(obj), obj.get("failure_message"), obj.get("amount"), obj.get("currency"))


def payout_canceled(obj: dict) -> bool:
    return payouts.record_canceled(_payout_for(obj), obj.get("amount"), obj.get("currency"))


def payout_updated(obj: dict) -> bool:
    if obj.get("status") != "in_transit":
        return False  # paid, failed and canceled come as their own events
    return payouts.record_in_transit(_payout_for(obj))


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


def _finish(event: WebhookEvent, status: str, outcome: str) -> None:
    event.status = status
    event.outcome = outcome
    event.attempts += 1
    event.processed_at = utcnow()
    event.next_attempt_at = None
    metrics.WEBHOOKS_APPLIED.labels(status).inc()
    metrics.WEBHOOK_LATENCY.observe((event.processed_at - event.received_at).total_seconds())


def apply_event(event_id: str) -> str:
    """Apply one recorded event; returns its final status. Raises to ask for a retry."""
    try:
        with atomic():
            event = db.session.get(WebhookEvent, event_id, with_for_update=True)
            if event is None:
                log.warning("webhook.missing event_id=%s reason=not-in-inbox", event_id)
                return "missing"
            if event.status in inbox.FINAL:
                return event.status
            handler = HANDLERS.get(event.type)
            if handler is None:
                _finish(event, inbox.IGNORED, f"{event.type} is not handled")
                return inbox.IGNORED
            obj = (json.loads(event.payload).get("data") or {}).get("object") or {}
            changed = handler(obj)
            status = inbox.PROCESSED if changed else inbox.IGNORED
            _finish(event, status, "applied" if changed else "already applied or overtaken by a later event")
            log.info("webhook.applied event_id=%s type=%s status=%s", event.id, event.type, status)
            related = event.related_id
        if changed:
            inbox.wake_waiting(related, event_id)
        return status
    except AmountMismatch as exc:
        with atomic():
            event = db.session.get(WebhookEvent, event_id, with_for_update=True)
            _finish(event, inbox.FLAGGED, exc.message)
            event.last_error = exc.message
        log.error("webhook.flagged event_id=%s error=%r", event_id, exc.message)
        return inbox.FLAGGED


def record_failure(event_id: str, error: BaseException, *, retry_in: float | None) -> None:
    """Keep the attempt's error; ``retry_in`` None means no attempts are left: dead letter."""
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    final = retry_in is None
    metrics.WEBHOOKS_FAILED.labels("yes" if final else "no").inc()
    with atomic():
        event = db.session.get(WebhookEvent, event_id, with_for_update=True)
        if event is None or event.status in inbox.FINAL:
            return
        event.attempts += 1
        event.last_error = message[:2000]
        if final:
            event.status = inbox.DEAD
            event.next_attempt_at = None
        else:
            event.status = inbox.RETRYING
            event.next_attempt_at = utcnow() + timedelta(seconds=retry_in)
    log.log(logging.ERROR if final else logging.WARNING, "webhook.failed event_id=%s final=%s retry_in=%s error=%r",
            event_id, "yes" if final else "no", retry_in, message)
