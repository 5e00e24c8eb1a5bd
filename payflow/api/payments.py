"""Payments API: thin handlers over ``payflow.payments``."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_jwt_extended import current_user
from sqlalchemy.orm import selectinload

from .. import fees, payments, serializers, timeline
from ..errors import Forbidden, InvalidTransition, NotFound, PaymentDeclined
from ..extensions import db
from ..pagination import page
from ..models import Payment, User
from ..stripe_api import gateway
from .auth import authenticated
from .validation import (ConfirmPaymentBody, CreatePaymentBody, EmptyBody, PeriodQuery, QuoteQuery, RawCardBody,
                         RefundBody, parse, parse_query)

bp = Blueprint("payments", __name__, url_prefix="/payments")


def _payment_json(payment):
    return serializers.payment(payment, viewer=current_user)


@bp.post("")
@authenticated("company")
def create():
    body = parse(CreatePaymentBody)
    payment = payments.create_payment(current_user, body.influencerId, body.amount, body.currency, body.description)
    return jsonify(_payment_json(payment)), 201


def listed(user: User, filters: PeriodQuery):
    """The payments ``user`` may read, narrowed by ``?currency=&from=&to=`` (on ``createdAt``),
    with both parties loaded in one more query rather than two per row."""
    query = payments.visible_to(user).options(selectinload(Payment.company), selectinload(Payment.influencer))
    if filters.currency:
        query = query.where(Payment.currency == filters.currency)
    return filters.period.where(query, Payment.created_at)


@bp.get("")
@authenticated()
def list_payments():
    query = listed(current_user, parse_query(PeriodQuery))
    return jsonify(page(query, Payment.id, request.args, _payment_json))


@bp.get("/quote")
@authenticated()
def quote():
    """``?amount=&currency=`` → what the influencer would receive of a new payment at today's fee."""
    query = parse_query(QuoteQuery)
    fee_bps = current_app.config["PLATFORM_FEE_BPS"]
    share = fees.quote(query.amount, fee_bps)
    return jsonify({"amount": query.amount, "currency": query.currency, "feeBps": fee_bps,
                    "feeAmount": share.fee, "netAmount": share.net})


@bp.get("/<payment_id>")
@authenticated()
def get(payment_id):
    return jsonify(_payment_json(payments.get_payment(current_user, payment_id)))


@bp.get("/<payment_id>/timeline")
@authenticated()
def payment_timeline(payment_id):
    payment = payments.get_payment(current_user, payment_id)
    return jsonify({"paymentId": payment.id, "currency": payment.currency,
                    "items": timeline.timeline(payment, current_user)})


def accepts_test_cards(config) -> bool:
    """Raw card numbers may be sent only to test-mode Stripe or a stand-in such as localstripe."""
    key = config.get("STRIPE_SECRET_KEY") or ""
    return key.startswith(("sk_test_", "rk_test_")) or bool(config.get("STRIPE_API_BASE"))


def _confirm(payment_id: str, payment_method: str):
    try:
        payment = payments.confirm_payment(current_user, payment_id, payment_method)
    except PaymentDeclined as exc:
        # The decline is recorded (FAILED, retry allowed); the client gets the payment with it.
        exc.details = {**exc.details, "payment": _payment_json(payments.get_payment(current_user, payment_id))}
        raise
    return jsonify(_payment_json(payment))


@bp.post("/<payment_id>/confirm")
@authenticated("company")
def confirm(payment_id):
    body = parse(ConfirmPaymentBody)
    return _confirm(payment_id, body.paymentMethod)


@bp.post("/<payment_id>/test-card")
@authenticated("company")
def test_card(payment_id):
    """The dashboard's test-mode card form: a PaymentMethod from raw test numbers, then /confirm.

    Absent (404) with a live Stripe key: live card numbers go to Stripe.js, never through payflow."""
    if not accepts_test_cards(current_app.config):
        raise NotFound("test cards are accepted only when Stripe is in test mode")
    body = parse(RawCardBody)
    payment = payments.get_payment(current_user, payment_id)
    if payment.company_id != current_user.id:
        raise Forbidden("only the paying company can confirm this payment")
    if payment.status not in (payments.PENDING, payments.FAILED):
        raise InvalidTransition(f"payment {payment.id} is {payment.status}; only PENDING or FAILED can be paid")
    db.session.rollback()  # hold no transaction (nor SQLite's write lock) across the call to Stripe
    try:
        method = gateway().create_test_payment_method(body.number, body.expMonth, body.expYear, body.cvc)
    except PaymentDeclined as exc:
        exc.details = {**exc.details, "payment": _payment_json(payments.get_payment(current_user, payment_id))}
        raise
    return _confirm(payment_id, method.id)


@bp.post("/<payment_id>/retry")
@authenticated("company")
def retry(payment_id):
    parse(EmptyBody, optional=True)
    return jsonify(_payment_json(payments.retry_payment(current_user, payment_id)))


@bp.post("/<payment_id>/release")
@authenticated("company")
def release(payment_id):
    parse(EmptyBody, optional=True)
    return jsonify(_payment_json(payments.release_payment(current_user, payment_id)))


@bp.post("/<payment_id>/refund")
@authenticated("company", "admin")
def refund(payment_id):
    body = parse(RefundBody, optional=True)
    result = payments.request_refund(
        current_user, payment_id, body.amount, idempotency_key=request.headers.get("Idempotency-Key")
    )
    return jsonify(result), 202
