"""Payments API: thin handlers over ``payflow.payments``."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_jwt_extended import current_user

from .. import payments, refunds, serializers
from ..errors import Forbidden, InvalidTransition, NotFound, PaymentDeclined, StripeOutcomeUnknown
from ..idempotency import idempotent
from ..pagination import page
from ..models import Payment
from ..stripe_api import gateway
from ..unit_of_work import atomic
from .auth import authenticated
from . import schemas
from .openapi import IDEMPOTENCY_KEY, operation
from .validation import (ConfirmPaymentBody, CreatePaymentBody, EmptyBody, PageQuery, RawCardBody, RefundBody,
                         parse)

bp = Blueprint("payments", __name__, url_prefix="/payments")


def _payment_json(payment):
    return serializers.payment(payment, viewer=current_user)


@bp.post("")
@operation("Create a payment to an influencer", tag="payments", body=CreatePaymentBody, errors=(409, 422, 502),
           headers=(IDEMPOTENCY_KEY,),
           responses={201: schemas.Payment},
           description="Creates a Stripe PaymentIntent; the payment is PENDING with a clientSecret for Stripe.js.")
@authenticated("company")
@idempotent
def create():
    body = parse(CreatePaymentBody)
    payment = payments.create_payment(current_user, body.influencerId, body.amount, body.currency, body.description)
    return jsonify(_payment_json(payment)), 201


@bp.get("")
@operation("The caller's payments, newest first", tag="payments", query=PageQuery,
           responses={200: schemas.PaymentPage})
@authenticated()
def list_payments():
    return jsonify(page(payments.visible_to(current_user), Payment.id, request.args, _payment_json))


@bp.get("/<payment_id>")
@operation("One payment", tag="payments", responses={200: schemas.Payment})
@authenticated()
def get(payment_id):
    return jsonify(_payment_json(payments.get_payment(current_user, payment_id)))


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
    except StripeOutcomeUnknown:
        # Stripe may have charged the card: the payment is being confirmed, and its webhook says how.
        return jsonify(_payment_json(payments.get_payment(current_user, payment_id))), 202
    return jsonify(_payment_json(payment))


@bp.post("/<payment_id>/confirm")
@operation("Confirm the payment server-side with a PaymentMethod", tag="payments", body=ConfirmPaymentBody,
           headers=(IDEMPOTENCY_KEY,), errors=(409, 502),
           responses={200: schemas.Payment, 202: schemas.Payment, 402: schemas.PaymentDeclined},
           description="On a FAILED payment this makes a new attempt and confirms it in one call. 202: Stripe gave "
                       "no definite answer; the payment's webhook settles it.")
@authenticated("company")
@idempotent
def confirm(payment_id):
    body = parse(ConfirmPaymentBody)
    return _confirm(payment_id, body.paymentMethod)


@bp.post("/<payment_id>/test-card")
@operation("Pay with a test card number (test mode only)", tag="payments", body=RawCardBody, errors=(409, 502),
           headers=(IDEMPOTENCY_KEY,),
           responses={200: schemas.Payment, 202: schemas.Payment, 402: schemas.PaymentDeclined},
           description="Absent (404) with a live Stripe key: live card numbers go to Stripe.js, never to payflow.")
@authenticated("company")
@idempotent
def test_card(payment_id):
    """The dashboard's test-mode card form: a PaymentMethod from raw test numbers, then /confirm.

    Absent (404) with a live Stripe key: live card numbers go to Stripe.js, never through payflow."""
    if not accepts_test_cards(current_app.config):
        raise NotFound("test cards are accepted only when Stripe is in test mode")
    body = parse(RawCardBody)
    with atomic():
        payment = payments.get_payment(current_user, payment_id)
        if payment.company_id != current_user.id:
            raise Forbidden("only the paying company can confirm this payment")
        if payment.status not in (payments.PENDING, payments.FAILED):
            raise InvalidTransition(f"payment {payment.id} is {payment.status}; only PENDING or FAILED can be paid")
    try:
        method = gateway().create_test_payment_method(body.number, body.expMonth, body.expYear, body.cvc)
    except PaymentDeclined as exc:
        exc.details = {**exc.details, "payment": _payment_json(payments.get_payment(current_user, payment_id))}
        raise
    return _confirm(payment_id, method.id)


@bp.post("/<payment_id>/retry")
@operation("A new attempt (PaymentIntent) for a FAILED payment", tag="payments", body=EmptyBody,
           body_required=False, headers=(IDEMPOTENCY_KEY,), errors=(409, 502), responses={200: schemas.Payment})
@authenticated("company")
@idempotent
def retry(payment_id):
    parse(EmptyBody, optional=True)
    return jsonify(_payment_json(payments.retry_payment(current_user, payment_id)))


@bp.post("/<payment_id>/release")
@operation("Release the escrow to the influencer, minus the platform fee", tag="payments", body=EmptyBody,
           body_required=False, headers=(IDEMPOTENCY_KEY,), errors=(409,), responses={200: schemas.Payment})
@authenticated("company")
@idempotent
def release(payment_id):
    parse(EmptyBody, optional=True)
    return jsonify(_payment_json(payments.release_payment(current_user, payment_id)))


@bp.post("/<payment_id>/refund")
@operation("Request a refund of all or part of the payment", tag="payments", body=RefundBody, body_required=False,
           headers=(IDEMPOTENCY_KEY,), errors=(409, 422, 502), responses={202: schemas.Refund},
           description="The payment changes when Stripe confirms the refund (charge.refunded).")
@authenticated("company", "admin")
@idempotent
def refund(payment_id):
    body = parse(RefundBody, optional=True)
    refund = refunds.request_refund(current_user, payment_id, body.amount)
    return jsonify(serializers.refund(refund)), 202
