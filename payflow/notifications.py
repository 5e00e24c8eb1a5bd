"""What each person is told about their money: stored, then announced after commit.

A notification row and the matching stream update (``publisher.queue``) are written
in the same transaction as the change they describe, so a committed change always has
its message, and its update reaches the browsers once that transaction has committed.
"""
from __future__ import annotations


from .extensions import db
from .models import Notification, Payment, Payout, utcnow
from .publisher import queue
from .serializers import iso
from .wallet import wallet_view

SUCCESS, ERROR, INFO = "success", "error", "info"


def _record(user_id: str, kind: str, message: str, *, payment_id=None, payout_id=None) -> Notification:
    note = Notification(user_id=user_id, kind=kind, message=message, payment_id=payment_id, payout_id=payout_id)
    db.session.add(note)
    return note


def payment_update(payment: Payment, user_id: str, kind: str, message: str) -> None:
    _record(user_id, kind, message, payment_id=payment.id)
    data = {
        "paymentId": payment.id,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "message": message,
        "kind": kind,
        "timestamp": iso(utcnow()),
    }
    queue(user_id, "payment:update", data)


def payout_update(payout: Payout, kind: str, message: str) -> None:
    _record(payout.influencer_id, kind, message, payout_id=payout.id)
    data = {
        "payoutId": payout.id,
        "status": payout.status,
        "amount": payout.amount,
        "currency": payout.currency,
        "message": message,
        "kind": kind,
        "timestamp": iso(utcnow()),
    }
    queue(payout.influencer_id, "payout:update", data)


def wallet_update(user_id: str, currency: str) -> None:
    """Announce the influencer's balances as this transaction leaves them."""
    view = wallet_view(user_id, currency)
    data = {
        "currency": currency,
        "availableBalance": view["availableBalance"],
        "pendingBalance": view["pendingBalance"],
        "receivableBalance": view["receivableBalance"],
        "lastTransaction": view["lastTransaction"],
        "timestamp": iso(utcnow()),
    }
    queue(user_id, "wallet:update", data)
