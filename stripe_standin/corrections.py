"""localstripe's objects as Stripe shows them, in answers and in events.

Two differences are corrected wherever such an object appears (nested objects included):
- a charge's ``amount_refunded`` and ``refunded``: localstripe counts every refund of the charge;
  Stripe counts only refunds that have not failed or been canceled (a failed refund gives its
  amount back to the charge: https://docs.stripe.com/refunds#failed-refunds);
- a PaymentIntent's ``latest_charge``: localstripe nests the whole charge; Stripe gives its id
  unless the request asked to expand it (https://docs.stripe.com/api/expanding_objects).
``refundable`` is what a new refund of a charge may still take.
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


def expands_latest_charge(expand) -> bool:
    """Whether an ``expand`` parameter (a string or a list of paths) asks for ``latest_charge`` anywhere."""
    paths = [expand] if isinstance(expand, str) else expand if isinstance(expand, list) else []
    return any(isinstance(path, str) and path.split(".")[-1] == "latest_charge" for path in paths)


def correct(obj, *, expand_latest_charge: bool = False) -> None:
    """Correct, in place, every charge and PaymentIntent nested in ``obj`` (an answer or an event)."""
    if isinstance(obj, list):
        for item in obj:
            correct(item, expand_latest_charge=expand_latest_charge)
        return
    if not isinstance(obj, dict):
        return
    kind = obj.get("object")
    if kind == "charge" and isinstance(obj.get("id"), str) and "amount" in obj:
        obj["amount_refunded"] = refunded_amount(obj["id"])
        obj["refunded"] = obj["amount_refunded"] >= obj["amount"]
    if kind == "payment_intent" and isinstance(obj.get("latest_charge"), dict) and not expand_latest_charge:
        obj["latest_charge"] = obj["latest_charge"]["id"]
    for value in obj.values():
        if isinstance(value, (dict, list)):
            correct(value, expand_latest_charge=expand_latest_charge)
