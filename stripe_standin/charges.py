"""Charges as Stripe shows them once a refund can fail.

localstripe counts every refund of a charge in ``amount_refunded``; Stripe counts only refunds
that have not failed or been canceled (a failed refund gives its amount back to the charge:
https://docs.stripe.com/refunds#failed-refunds). ``correct`` rewrites every charge inside an
answer or an event accordingly, and ``refundable`` is what a new refund may still take.
"""
from __future__ import annotations

from . import localstripe_bridge

NOT_COUNTED = ("failed", "canceled")


def refunded_amount(charge_id: str) -> int:
    """Minor units refunded on the charge by refunds that stand (pending or succeeded)."""
    return sum(refund.amount for refund in localstripe_bridge.refunds_of(charge_id)
               if getattr(refund, "status", "succeeded") not in NOT_COUNTED)


def refundable(charge) -> int:
    """Minor units of a localstripe Charge that a new refund may still take."""
    return charge.amount - refunded_amount(charge.id)


def correct(obj) -> None:
    """Fix ``amount_refunded`` and ``refunded`` of every charge object nested in ``obj``, in place."""
    if isinstance(obj, list):
        for item in obj:
            correct(item)
    elif isinstance(obj, dict):
        if obj.get("object") == "charge" and isinstance(obj.get("id"), str) and "amount" in obj:
            obj["amount_refunded"] = refunded_amount(obj["id"])
            obj["refunded"] = obj["amount_refunded"] >= obj["amount"]
        for value in obj.values():
            if isinstance(value, (dict, list)):
                correct(value)
