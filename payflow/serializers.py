"""JSON shapes of the API objects (SPEC section 4): camelCase, ids as strings."""
from __future__ import annotations

from datetime import datetime

from .fees import share


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def user(u) -> dict:
    return {"id": u.id, "email": u.email, "role": u.role, "name": u.name, "createdAt": iso(u.created_at)}


def payment(p, *, viewer=None, refunding: int | None = None) -> dict:
    """A payment; ``netAmount`` is the influencer's part of what remains of it (``payflow.fees.share``):
    what a release would give until it is released, what it gave after. The platform's part of
    what remains is ``amount - refundedAmount - netAmount``; ``feeAmount`` is what was actually
    taken (0 until released). ``refundingAmount`` is what refunds requested and not yet confirmed
    by Stripe will take (``payflow.refunds.in_flight``); a list passes it in, summed for the page.
    """
    if refunding is None:
        from .refunds import in_flight  # here, not at the top: refunds' own imports lead back to this module

        refunding = in_flight(p.id)
    data = {
        "id": p.id,
        "status": p.status,
        "amount": p.amount,
        "currency": p.currency,
        "description": p.description,
        "companyId": p.company_id,
        "companyName": p.company.name,
        "influencerId": p.influencer_id,
        "influencerName": p.influencer.name,
        "feeBps": p.fee_bps,
        "feeAmount": p.fee_amount,
        "netAmount": share(p).net,
        "refundedAmount": p.refunded_amount,
        "refundingAmount": refunding,
        "failureMessage": p.failure_message,
        "stripePaymentIntentId": p.stripe_payment_intent_id,
        "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at),
        "heldAt": iso(p.held_at),
        "releasedAt": iso(p.released_at),
    }
    # The client secret lets its holder pay: only the paying company sees it.
    if viewer is not None and viewer.id == p.company_id:
        data["clientSecret"] = p.client_secret
    return data


def payout(p) -> dict:
    return {
        "id": p.id,
        "status": p.status,
        "amount": p.amount,
        "currency": p.currency,
        "influencerId": p.influencer_id,
        "stripePayoutId": p.stripe_payout_id,
        # Stripe has not answered the request yet: the amount stays on its way until it does.
        "awaitingStripe": p.status == "PENDING" and p.stripe_payout_id is None,
        "failureMessage": p.failure_message,
        "createdAt": iso(p.created_at),
        "updatedAt": iso(p.updated_at),
    }


def refund(r) -> dict:
    return {
        "id": r.id,
        "paymentId": r.payment_id,
        "status": r.status,
        "amount": r.amount,
        "currency": r.currency,
        "stripeRefundId": r.stripe_refund_id,
        "refundId": r.stripe_refund_id,  # the name earlier versions answered with
        # Stripe has not answered the request yet: it is being confirmed.
        "awaitingStripe": r.status == "REQUESTED" and r.stripe_refund_id is None,
        "failureReason": r.failure_reason,
        "requestedBy": r.requested_by,
        "createdAt": iso(r.created_at),
        "updatedAt": iso(r.updated_at),
    }


def notification(n) -> dict:
    return {
        "id": n.id,
        "kind": n.kind,
        "message": n.message,
        "paymentId": n.payment_id,
        "payoutId": n.payout_id,
        "read": n.read_at is not None,
        "readAt": iso(n.read_at),
        "createdAt": iso(n.created_at),
    }
