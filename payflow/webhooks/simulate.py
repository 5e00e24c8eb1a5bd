"""Realistic Stripe events for payflow's own payments and payouts, signed like Stripe's.

The offline stand-in for ``stripe trigger``: ``flask --app wsgi webhooks simulate``
and the tests build events here, in the shape Stripe sends them (API objects under
``data.object``), and sign them with the Stripe library's helper.
"""
from __future__ import annotations

import json
import secrets
import time

from .signature import sign

API_VERSION = "2024-06-20"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def build_event(event_type: str, obj: dict, *, account: str | None = None, event_id: str | None = None,
                created: int | None = None) -> dict:
    event = {
        "id": event_id or _id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    if account:
        event["account"] = account
    return event


def payment_intent(payment, status: str, *, failure_message: str | None = None, intent_id: str | None = None) -> dict:
    succeeded = status == "succeeded"
    error = None
    if failure_message:
        error = {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": failure_message}
    return {
        "id": intent_id or payment.stripe_payment_intent_id,
        "object": "payment_intent",
        "amount": payment.amount,
        "amount_received": payment.amount if succeeded else 0,
        "currency": payment.currency,
        "status": status,
        "metadata": {"payment_id": payment.id},
        "client_secret": None,
        "last_payment_error": error,
        "latest_charge": _id("ch") if succeeded else None,
        "livemode": False,
        "created": int(time.time()),
    }


def charge(payment, *, amount_refunded: int) -> dict:
    return {
        "id": _id("ch"),
        "object": "charge",
        "amount": payment.amount,
        "amount_captured": payment.amount,
        "amount_refunded": amount_refunded,
        "currency": payment.currency,
        "paid": True,
        "captured": True,
        "refunded": amount_refunded == payment.amount,
        "payment_intent": payment.stripe_payment_intent_id,
        "metadata": {"payment_id": payment.id},
        "status": "succeeded",
        "livemode": False,
        "created": int(time.time()),
    }


def dispute(payment, *, status: str, amount: int | None = None) -> dict:
    return {
        "id": _id("dp"),
        "object": "dispute",
        "amount": payment.amount if amount is None else amount,
        "currency": payment.currency,
        "charge": _id("ch"),
        "payment_intent": payment.stripe_payment_intent_id,
        "reason": "fraudulent",
        "status": status,
        "livemode": False,
        "created": int(time.time()),
    }


def payout_object(payout, status: str, *, failure_message: str | None = None) -> dict:
    return {
        "id": payout.stripe_payout_id or _id("po"),
        "object": "payout",
        "amount": payout.amount,
        "currency": payout.currency,
        "status": status,
        "metadata": {"payout_id": payout.id},
        "failure_code": "account_closed" if failure_message else None,
        "failure_message": failure_message,
        "arrival_date": int(time.time()) + 86400,
        "livemode": False,
        "created": int(time.time()),
    }


PAYMENT_EVENTS = {
    "payment_intent.succeeded": lambda p, o: payment_intent(p, "succeeded"),
    "payment_intent.processing": lambda p, o: payment_intent(p, "processing"),
    "payment_intent.payment_failed": lambda p, o: payment_intent(
        p, "requires_payment_method", failure_message=o.get("message") or "Your card was declined."
    ),
    "payment_intent.canceled": lambda p, o: payment_intent(p, "canceled"),
    "charge.refunded": lambda p, o: charge(p, amount_refunded=o.get("amount") or p.amount),
    "charge.dispute.created": lambda p, o: dispute(p, status="needs_response", amount=o.get("amount")),
    "charge.dispute.closed": lambda p, o: dispute(p, status=o.get("outcome") or "lost", amount=o.get("amount")),
}

PAYOUT_EVENTS = {
    "payout.paid": lambda p, o: payout_object(p, "paid"),
    "payout.failed": lambda p, o: payout_object(p, "failed", failure_message=o.get("message") or "The bank account has been closed."),
    "payout.canceled": lambda p, o: payout_object(p, "canceled"),
    "payout.updated": lambda p, o: payout_object(p, "in_transit"),
}


def event_for(event_type: str, *, payment=None, payout=None, **options) -> dict:
    """A full event of ``event_type`` about ``payment`` or ``payout``; options: amount, message, outcome."""
    builders = PAYMENT_EVENTS if payment is not None else PAYOUT_EVENTS
    if event_type not in builders:
        raise ValueError(f"cannot simulate {event_type} for a {'payment' if payment is not None else 'payout'}; "
                         f"choose from {', '.join(sorted(builders))}")
    return build_event(event_type, builders[event_type](payment if payment is not None else payout, options),
                       account=options.get("account"))


def signed(event: dict, secret: str, *, timestamp: int | None = None) -> tuple[bytes, dict]:
    """The body and headers of a delivery of ``event``, as Stripe would post it."""
    body = json.dumps(event, separators=(",", ":"))
    return body.encode(), {"Content-Type": "application/json", "Stripe-Signature": sign(body, secret, timestamp)}


# --- refunds -----------------------------------------------------------------------------

REFUND_EVENTS = ("charge.refund.updated", "refund.updated", "refund.failed")


def refund_object(refund, payment, status: str, *, failure_reason: str | None = None) -> dict:
    """A Stripe Refund for payflow's ``refund`` of ``payment``, as refund events carry it."""
    return {
        "id": refund.stripe_refund_id or _id("re"),
        "object": "refund",
        "amount": refund.amount,
        "currency": refund.currency,
        "charge": _id("ch"),
        "payment_intent": payment.stripe_payment_intent_id,
        "status": status,
        "failure_reason": (failure_reason or "expired_or_canceled_card") if status == "failed" else None,
        "metadata": {"payment_id": payment.id, "refund_id": refund.id},
        "reason": None,
        "created": int(time.time()),
    }


def refund_event(event_type: str, refund, payment, status: str, **options) -> dict:
    """``charge.refund.updated``, ``refund.updated`` or ``refund.failed`` about a refund."""
    if event_type not in REFUND_EVENTS:
        raise ValueError(f"cannot simulate {event_type} for a refund; choose from {', '.join(REFUND_EVENTS)}")
    return build_event(event_type, refund_object(refund, payment, status, **options))
