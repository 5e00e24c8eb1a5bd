"""Wallet, payouts and notifications of the signed-in user."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_jwt_extended import current_user
from sqlalchemy import select

from .. import payouts, serializers, wallet
from ..errors import NotFound
from ..extensions import db
from ..idempotency import idempotent
from ..models import LedgerEntry, Notification, Payout, utcnow
from ..pagination import page
from ..unit_of_work import atomic
from .auth import authenticated
from . import schemas
from .openapi import IDEMPOTENCY_KEY, operation
from .validation import EmptyBody, NotificationsQuery, PageQuery, PayoutBody, WalletLinesQuery, parse

bp = Blueprint("wallet", __name__)


@bp.get("/wallet")
@operation("The caller's balances, one wallet per currency", tag="wallet", responses={200: schemas.Wallets})
@authenticated("influencer")
def get_wallet():
    return jsonify({"wallets": wallet.wallets_for(current_user.id)})


@bp.get("/wallet/transactions")
@operation("Ledger lines of the caller's wallet, newest first", tag="wallet", query=WalletLinesQuery,
           responses={200: schemas.WalletLinePage})
@authenticated("influencer")
def wallet_transactions():
    currency = request.args.get("currency")
    query = wallet.wallet_lines_query(current_user.id, currency.lower() if currency else None)
    return jsonify(page(query, LedgerEntry.id, request.args, wallet.serialize_line, key_type=int))


@bp.post("/payouts")
@operation("Withdraw available balance to the bank", tag="payouts", body=PayoutBody, headers=(IDEMPOTENCY_KEY,),
           errors=(409, 422, 502), responses={201: schemas.Payout, 202: schemas.Payout},
           description="The amount leaves availableBalance at once; 422 insufficient_funds over the balance, or "
                       "an amount Stripe cannot pay out (with largestPayableAmount). 202: Stripe gave no definite "
                       "answer; the payout stays PENDING with awaitingStripe and payflow asks again.")
@authenticated("influencer")
@idempotent
def create_payout():
    body = parse(PayoutBody)
    payout = payouts.request_payout(current_user, body.amount, body.currency)
    # 202: Stripe has not confirmed it yet (no definite answer); it stays PENDING, money on its way.
    return jsonify(serializers.payout(payout)), 202 if payouts.awaiting_stripe(payout) else 201


@bp.get("/payouts")
@operation("The caller's payouts (all of them for an admin), newest first", tag="payouts", query=PageQuery,
           responses={200: schemas.PayoutPage})
@authenticated("influencer", "admin")
def list_payouts():
    query = select(Payout)
    if current_user.role != "admin":
        query = query.where(Payout.influencer_id == current_user.id)
    return jsonify(page(query, Payout.id, request.args, serializers.payout))


@bp.get("/payouts/<payout_id>")
@operation("One payout", tag="payouts", responses={200: schemas.Payout})
@authenticated("influencer", "admin")
def get_payout(payout_id):
    payout = db.session.get(Payout, payout_id)
    if payout is None or (current_user.role != "admin" and payout.influencer_id != current_user.id):
        raise NotFound(f"no payout {payout_id}")
    return jsonify(serializers.payout(payout))


@bp.get("/notifications")
@operation("What the caller was told (the toasts), newest first", tag="notifications", query=NotificationsQuery,
           responses={200: schemas.NotificationPage})
@authenticated()
def list_notifications():
    query = select(Notification).where(Notification.user_id == current_user.id)
    if request.args.get("unread") in ("1", "true"):
        query = query.where(Notification.read_at.is_(None))
    return jsonify(page(query, Notification.id, request.args, serializers.notification))


@bp.post("/notifications/<notification_id>/read")
@operation("Mark a notification read", tag="notifications", body=EmptyBody, body_required=False,
           responses={200: schemas.Notification})
@authenticated()
def mark_read(notification_id):
    parse(EmptyBody, optional=True)
    with atomic():
        note = db.session.scalars(
            select(Notification).where(Notification.id == notification_id, Notification.user_id == current_user.id)
        ).first()
        if note is None:
            raise NotFound(f"no notification {notification_id}")
        if note.read_at is None:
            note.read_at = utcnow()
    return jsonify(serializers.notification(note))


