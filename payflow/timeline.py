"""A payment's timeline: what happened to it and when, for the detail view of both parties.

Each step comes from where the fact is kept:

* the payment and its attempts (created, each failed attempt and retry, canceled), and
  the refunds asked for (requested, and failed when they did);
* the ledger, which keeps every money move for good (held in escrow, released with its
  fee and net, each refund before or after release, with the clawback and any debt);
* the recorded Stripe events (processing, dispute opened and closed), while they are
  retained (``WEBHOOK_RETENTION_DAYS``; the money of a lost dispute stays in the ledger);
* for the influencer (and admins) only, the payouts that carried the payment's net to
  the bank, attributed first in, first out (``payflow.attribution``). A company never
  sees an influencer's payouts.

Steps are ``{"type", "at", ...}`` with amounts in minor units of the payment's currency,
ordered by time. Types: ``created``, ``processing``, ``failed``, ``retried``,
``canceled``, ``held``, ``released``, ``refund_requested`` (with the refund's ``status``
now), ``refunded`` (the money moved: Stripe confirmed it), ``refund_failed``,
``refund_reversed`` (a refund that had moved money failed: it came back),
``dispute_opened``, ``dispute_closed``, ``paid_out``; a ledger transaction of a kind this
module does not know is given with its kind as type and its description.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from . import attribution, ledger
from .extensions import db
from .models import (LedgerAccount, LedgerEntry, LedgerTransaction, Payment, PaymentAttempt, Payout, Refund, User,
                     WebhookEvent)
from .money import split
from .serializers import iso
from .webhooks import inbox

FAILED, CANCELED = "FAILED", "CANCELED"


@dataclass
class Step:
    type: str
    at: datetime
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"type": self.type, "at": iso(self.at), **self.details}


# --- recorded Stripe events ----------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    type: str
    object_id: str | None
    status: str
    at: datetime
    obj: dict


def _events(intent_ids: list[str]) -> list[_Event]:
    """Recorded events about the payment's intents (and their charges and disputes), oldest first."""
    if not intent_ids:
        return []
    rows = db.session.scalars(
        select(WebhookEvent).where(WebhookEvent.related_id.in_(intent_ids)).order_by(WebhookEvent.received_at)
    ).all()
    events = []
    for row in rows:
        try:
            obj = (json.loads(row.payload).get("data") or {}).get("object") or {}
        except (ValueError, AttributeError):
            obj = {}
        events.append(_Event(row.type, row.object_id, row.status, _event_time(row), obj))
    return events


def _event_time(row: WebhookEvent) -> datetime:
    """When the event happened, as closely as known.

    Stripe's ``created`` is whole seconds, so the event happened in ``[created,
    created + 1 s)`` and before payflow received it: the earlier of the end of that
    second and the receipt is the closest bound, and keeps the step after the steps
    that were booked earlier in the same second.
    """
    if row.stripe_created_at is None:
        return row.received_at
    return max(row.stripe_created_at, min(row.received_at, row.stripe_created_at + timedelta(seconds=1)))


def _applied(events: list[_Event], event_type: str) -> list[_Event]:
    return [event for event in events if event.type == event_type and event.status == inbox.PROCESSED]


# --- the payment and its attempts -------------------------------------------------------------


def _attempt_steps(payment: Payment, attempts: list[PaymentAttempt], events: list[_Event]) -> list[Step]:
    """A failure per failed attempt, and a retry per attempt after the first.

    A retry starts only from FAILED, so every attempt but the last one failed; the
    last one failed if the payment is FAILED now. Stripe's message and time come from
    the attempt's ``payment_intent.payment_failed`` event when it is recorded.
    """
    failures = {event.object_id: event for event in events if event.type == "payment_intent.payment_failed"
                and event.status != inbox.FLAGGED}
    steps = []
    for number, attempt in enumerate(attempts, start=1):
        if number > 1:
            steps.append(Step("retried", attempt.created_at, {"attempt": number}))
        last = number == len(attempts)
        if last and payment.status != FAILED:
            continue
        event = failures.get(attempt.stripe_payment_intent_id)
        message = ((event.obj.get("last_payment_error") or {}).get("message") if event else None)
        if last:
            at, message = (event.at if event else payment.updated_at), payment.failure_message or message
        else:
            at = event.at if event else attempts[number].created_at
        steps.append(Step("failed", at, {"attempt": number, "message": message}))
    if not attempts and payment.status == FAILED:  # Stripe could not even start an attempt
        steps.append(Step("failed", payment.updated_at, {"attempt": 1, "message": payment.failure_message}))
    return steps


def _event_steps(payment: Payment, events: list[_Event]) -> list[Step]:
    steps = [Step("processing", event.at) for event in _applied(events, "payment_intent.processing")]
    if payment.status == CANCELED:
        canceled = _applied(events, "payment_intent.canceled")
        steps.append(Step("canceled", canceled[0].at if canceled else payment.updated_at))
    for event in _applied(events, "charge.dispute.created"):
        steps.append(Step("dispute_opened", event.at, {"amount": event.obj.get("amount"),
                                                        "reason": event.obj.get("reason")}))
    for event in _applied(events, "charge.dispute.closed"):
        steps.append(Step("dispute_closed", event.at, {"outcome": event.obj.get("status")}))
    return steps


# --- the ledger ---------------------------------------------------------------------------------


def _ledger_steps(payment: Payment) -> list[Step]:
    rows = db.session.execute(
        select(LedgerTransaction, LedgerAccount.purpose, LedgerEntry.amount)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerTransaction.payment_id == payment.id)
        .order_by(LedgerTransaction.id, LedgerEntry.id)
    ).all()
    legs: dict[str, tuple[LedgerTransaction, dict[str, int]]] = {}
    for transaction, purpose, amount in rows:
        by_purpose = legs.setdefault(transaction.id, (transaction, {}))[1]
        by_purpose[purpose] = by_purpose.get(purpose, 0) + amount
    return [_ledger_step(payment, transaction, by_purpose) for transaction, by_purpose in legs.values()]


def _ledger_step(payment: Payment, transaction: LedgerTransaction, legs: dict[str, int]) -> Step:
    """One money move, read from its legs (debit positive, credit negative)."""
    at = transaction.created_at
    if transaction.kind == "capture":
        fee, net = split(payment.amount, payment.fee_bps)
        return Step("held", at, {"amount": legs.get(ledger.STRIPE_BALANCE, 0), "feeAmount": fee, "netAmount": net})
    if transaction.kind == "release":
        fee = -legs.get(ledger.PLATFORM_FEES, 0)
        net = -(legs.get(ledger.WALLET, 0) + legs.get(ledger.RECEIVABLE, 0))
        return Step("released", at, {"amount": fee + net, "feeAmount": fee, "netAmount": net})
    if transaction.kind == "refund_reversed":
        after_release = any(purpose in legs for purpose in (ledger.WALLET, ledger.RECEIVABLE, ledger.PLATFORM_FEES))
        details = {"amount": legs.get(ledger.STRIPE_BALANCE, 0), "afterRelease": after_release}
        if details["afterRelease"]:
            details.update(feeAmount=-legs.get(ledger.PLATFORM_FEES, 0),
                           netAmount=-(legs.get(ledger.WALLET, 0) + legs.get(ledger.RECEIVABLE, 0)))
        return Step("refund_reversed", at, details)
    if transaction.kind in ("refund", "clawback"):
        details = {"amount": -legs.get(ledger.STRIPE_BALANCE, 0), "afterRelease": transaction.kind == "clawback"}
        if transaction.kind == "clawback":
            details.update(
                feeAmount=legs.get(ledger.PLATFORM_FEES, 0),
                netAmount=legs.get(ledger.WALLET, 0) + legs.get(ledger.RECEIVABLE, 0),
                owedAmount=legs.get(ledger.RECEIVABLE, 0),
            )
        return Step("refunded", at, details)
    return Step(transaction.kind, at, {"description": transaction.description})


# --- refunds asked for -------------------------------------------------------------------------


def _refund_steps(payment: Payment) -> list[Step]:
    """Each refund asked for (or made at Stripe), with its state now, and each that failed.

    The money of a refund moves when Stripe confirms it (a ``refunded`` step from the
    ledger); a failed one that had moved money comes back (``refund_reversed``).
    """
    steps = []
    for refund in db.session.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.created_at)):
        steps.append(Step("refund_requested", refund.created_at, {
            "amount": refund.amount, "status": refund.status, "refundId": refund.id}))
        if refund.status in ("FAILED", "CANCELED"):
            steps.append(Step("refund_failed", refund.updated_at, {
                "amount": refund.amount, "status": refund.status, "refundId": refund.id,
                "reason": refund.failure_reason}))
    return steps


# --- payouts ---------------------------------------------------------------------------------------


def _payout_steps(payment: Payment) -> list[Step]:
    carried = attribution.payouts_carrying(payment.id, payment.influencer_id, payment.currency)
    if not carried:
        return []
    payouts = {payout.id: payout for payout in db.session.scalars(select(Payout).where(Payout.id.in_(carried)))}
    return [
        Step("paid_out", payouts[payout_id].created_at, {
            "payoutId": payout_id,
            "amount": share,
            "payoutAmount": payouts[payout_id].amount,
            "payoutStatus": payouts[payout_id].status,
        })
        for payout_id, share in carried.items()
    ]


def timeline(payment: Payment, viewer: User) -> list[dict]:
    """The payment's steps as JSON, oldest first; payouts only for the influencer and admins."""
    attempts = list(db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.payment_id == payment.id).order_by(PaymentAttempt.id)
    ))
    events = _events([attempt.stripe_payment_intent_id for attempt in attempts])
    steps = [Step("created", payment.created_at, {"amount": payment.amount})]
    steps += _attempt_steps(payment, attempts, events)
    steps += _ledger_steps(payment)
    steps += _refund_steps(payment)
    steps += _event_steps(payment, events)
    if viewer.role == "admin" or viewer.id == payment.influencer_id:
        steps += _payout_steps(payment)
    ordered = sorted(enumerate(steps), key=lambda item: (item[1].at, item[0]))
    return [step.to_json() for _, step in ordered]
