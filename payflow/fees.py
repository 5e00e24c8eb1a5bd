"""The platform fee and the influencer's net of a payment, as both sides see them before and after release.

The rule is SPEC section 3: the fee is ``ceil(amount × fee_bps / 10000)`` of what is
released, at the rate fixed when the payment was created, and the influencer gets the
exact remainder. Before release the figures say what a release of what is still in the
payment would give; after release they are what the release (and any refund after it,
which reverses fee and net in proportion) actually booked.
"""
from __future__ import annotations

from dataclasses import dataclass

from .money import split


@dataclass(frozen=True)
class Share:
    fee: int  # minor units: the platform's part
    net: int  # minor units: the influencer's part; fee + net == what remains of the payment


def share(payment) -> Share:
    """Fee and net of what remains of ``payment`` (its amount less what was refunded).

    Released: the fee the ledger booked (``fee_amount``, reduced by refunds after
    release) and the rest. Not released (any status, a failed or pending one included):
    what releasing it would book.
    """
    remaining = payment.amount - payment.refunded_amount
    if payment.released_at is not None:
        return Share(payment.fee_amount, remaining - payment.fee_amount)
    fee, net = split(remaining, payment.fee_bps)
    return Share(fee, net)


def quote(amount: int, fee_bps: int) -> Share:
    """What the influencer would receive of a new payment of ``amount`` at ``fee_bps``."""
    fee, net = split(amount, fee_bps)
    return Share(fee, net)
