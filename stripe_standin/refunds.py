"""Refunds that tell the platform what happened, as Stripe's do (https://docs.stripe.com/api/refunds).

localstripe makes the refund (and its balance transaction); the stand-in checks it first as
Stripe does (a succeeded charge, no more than is left to refund) and then sends the events
localstripe never sends: ``charge.refunded`` with the charge's cumulative ``amount_refunded``,
and ``refund.created``. ``POST /_config/refunds/{id}/fail`` makes a refund fail afterwards, as a
card issuer may refuse it days later (https://docs.stripe.com/refunds#failed-refunds): the refund
becomes ``failed`` with a ``failure_reason``, its amount counts as refundable again, and
``refund.updated``, ``charge.refund.updated`` and ``refund.failed`` are sent.
"""
from __future__ import annotations

import copy

from aiohttp import web

from . import corrections, localstripe_bridge
from .context import runtime
from .errors import StripeError, parameter_invalid, resource_missing
from .events import previous_attributes
from .ids import new_id
from .params import Params, from_request, merge_metadata
from .responses import json_response
from .runtime import Runtime

REASONS = ("duplicate", "fraudulent", "requested_by_customer")
# https://docs.stripe.com/api/refunds/object#refund_object-failure_reason
FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card", "charge_for_pending_refund_disputed",
                   "insufficient_funds", "declined", "merchant_request", "unknown")
DEFAULT_FAILURE_REASON = "expired_or_canceled_card"


def _charge_to_refund(charge_id: str | None, payment_intent_id: str | None):
    if bool(charge_id) == bool(payment_intent_id):
        if charge_id:
            raise StripeError(400, "You may only specify one of these parameters: charge, payment_intent.",
                              code="parameters_exclusive", saved=False)
        raise StripeError(400, "One of the following params should be provided for this request: payment_intent or "
                               "charge.", code="parameter_missing", saved=False)
    if payment_intent_id:
        intent = localstripe_bridge.store.get(f"payment_intent:{payment_intent_id}")
        if intent is None:
            raise resource_missing("payment_intent", payment_intent_id, "payment_intent")
        charge = intent.latest_charge
        if charge is None or charge.status != "succeeded":
            raise StripeError(400, f"This PaymentIntent ({payment_intent_id}) does not have a successful charge to "
                                   "refund.", code="charge_not_refundable", param="payment_intent")
    else:
        charge = localstripe_bridge.store.get(f"charge:{charge_id}")
        if charge is None:
            raise resource_missing("charge", charge_id, "charge")
    if charge.status != "succeeded" or not charge.captured:
        raise StripeError(400, f"Charge {charge.id} cannot be refunded: it has not succeeded.",
                          code="charge_not_refundable")
    return charge


def create(rt: Runtime, params: Params) -> dict:
    """``POST /v1/refunds`` (charge or payment_intent, amount (default: all that is left), metadata, reason)."""
    charge_id = params.string("charge")
    payment_intent_id = params.string("payment_intent")
    amount = params.amount(required=False)
    metadata = merge_metadata({}, params.metadata())
    reason = params.string("reason", choices=REASONS)
    params.no_expand()
    params.done()
    charge = _charge_to_refund(charge_id, payment_intent_id)
    left = corrections.refundable(charge)
    if left <= 0:
        raise StripeError(400, f"Charge {charge.id} has already been refunded.", code="charge_already_refunded")
    amount = left if amount is None else amount
    if amount > left:
        raise StripeError(400, f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                          code="amount_too_large", param="amount")
    refund = localstripe_bridge.Refund._api_create(charge=charge.id, amount=amount, metadata=metadata)
    refund.payment_intent = charge.payment_intent
    refund.reason = reason
    refund.failure_reason = None
    refund.failure_balance_transaction = None
    refund.receipt_number = None
    refund.source_transfer_reversal = None
    refund.transfer_reversal = None
    refunded_charge = charge._export()
    corrections.correct(refunded_charge)
    rt.emit("charge.refunded", refunded_charge)
    exported = refund._export()
    rt.emit("refund.created", exported)
    return exported


def fail(rt: Runtime, refund_id: str, failure_reason: str | None) -> dict:
    """The refund failed after it was made: its amount counts as not refunded again."""
    refund = localstripe_bridge.store.get(f"refund:{refund_id}")
    if refund is None:
        raise resource_missing("refund", refund_id)
    reason = failure_reason or DEFAULT_FAILURE_REASON
    if reason not in FAILURE_REASONS:
        raise parameter_invalid("failure_reason", f"Invalid failure_reason: must be one of {', '.join(FAILURE_REASONS)}")
    if refund.status in corrections.NOT_COUNTED:
        raise StripeError(400, f"Refund {refund_id} is already {refund.status}.")
    before = refund._export()
    refund.status = "failed"
    refund.failure_reason = reason
    refund.failure_balance_transaction = new_id("txn_")
    after = refund._export()
    previous = previous_attributes(before, after)
    for event_type in ("refund.updated", "charge.refund.updated", "refund.failed"):
        rt.emit(event_type, copy.deepcopy(after), previous=previous)
    return after


async def create_route(request: web.Request) -> web.Response:
    return json_response(create(runtime(request), await from_request(request)))


async def fail_route(request: web.Request) -> web.Response:
    """``POST /_config/refunds/{id}/fail`` (failure_reason, default ``expired_or_canceled_card``)."""
    params = await from_request(request)
    reason = params.string("failure_reason")
    params.done()
    return json_response(fail(runtime(request), request.match_info["id"], reason))
