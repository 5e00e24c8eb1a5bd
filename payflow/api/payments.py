"""Payments API: thin handlers over ``payflow.payments``."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_jwt_extended import current_user

from .. import payments, serializers
from ..errors import PaymentDeclined
from ..pagination import page
from ..models import Payment
from .auth import authenticated
from .validation import ConfirmPaymentBody, CreatePaymentBody, EmptyBody, RefundBody, parse

bp = Blueprint("payments", __name__, url_prefix="/payments")


def _payment_json(payment):
    return serializers.payment(payment, viewer=current_user)


@bp.post("")
@authenticated("company")
def create():
    body = parse(CreatePaymentBody)
    payment = payments.create_payment(current_user, body.influencerId, body.amount, body.currency, body.description)
    return jsonify(_payment_json(payment)), 201


@bp.get("")
@authenticated()
def list_payments():
    return jsonify(page(payments.visible_to(current_user), Payment.id, request.args, _payment_json))


@bp.get("/<payment_id>")
@authenticated()
def get(payment_id):
    return jsonify(_payment_json(payments.get_payment(current_user, payment_id)))


@bp.post("/<payment_id>/confirm")
@authenticated("company")
def confirm(payment_id):
    body = parse(ConfirmPaymentBody)
    try:
        payment = payments.confirm_payment(current_user, payment_id, body.paymentMethod)
    except PaymentDeclined as exc:
        # The decline is recorded (FAILED, retry allowed); the client gets the payment with it.
        exc.details = {**exc.details, "payment": _payment_json(payments.get_payment(current_user, payment_id))}
        raise
    return jsonify(_payment_json(payment))


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
