"""Facts from Stripe that contradict payflow's records: what an operator must look at.

A contradiction comes in two kinds. One that cannot be applied (an amount that is not
ours, an object whose Stripe id disagrees with the stored one) is raised as a
``payflow.errors.Contradiction``: nothing of it is written. One that must be applied
because money really moved (a second capture of a paid payment, a payout paid after
payflow returned its money) is applied and returned as a ``Flag``, so the event is
recorded as applied *and* held for an operator.

Each has a reason class, a short stable word that operators filter and count by
(``/metrics``, ``webhooks list --status flagged``, ``GET /admin/webhook-events``).
"""
from __future__ import annotations

from dataclasses import dataclass

AMOUNT_MISMATCH = "amount_mismatch"
OBJECT_MISMATCH = "object_mismatch"
DUPLICATE_CAPTURE = "duplicate_capture"
CAPTURE_AFTER_CANCEL = "capture_after_cancel"
PAID_AFTER_RETURN = "paid_after_return"
FOREIGN_CHARGE = "foreign_charge"
DUPLICATE_DISPUTE = "duplicate_dispute"
# The event's object lacks a field its handler reads, or has it with another type: recorded
# before its shape was checked at the door (or fetched by reconcile). Not applied.
MALFORMED_OBJECT = "malformed_object"

REASONS = (
    AMOUNT_MISMATCH,
    OBJECT_MISMATCH,
    DUPLICATE_CAPTURE,
    CAPTURE_AFTER_CANCEL,
    PAID_AFTER_RETURN,
    FOREIGN_CHARGE,
    DUPLICATE_DISPUTE,
    MALFORMED_OBJECT,
)


@dataclass(frozen=True)
class Flag:
    """Applied, but an operator must look: ``reason`` is one of ``REASONS``."""

    reason: str
    message: str

    def __bool__(self) -> bool:  # a handler's result is truthy when it changed something
        return True
