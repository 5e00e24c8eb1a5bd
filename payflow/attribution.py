"""Which payouts carried a payment's money to the bank: first in, first out over the wallet.

A wallet is one pot: Stripe (and the ledger) never say which payment a payout paid
out. The usual answer in accounting is FIFO, and it is the one used here: the wallet's
credits are lots queued in the order they arrived (a release is a lot of its payment's
net), and each debit takes from the oldest lots first. Two refinements keep the answer
about the payment rather than about arithmetic:

* a clawback (refund after release) takes back its own payment's lot first, since it is
  that payment's money leaving; only what that lot no longer holds comes from the oldest;
* a payout that failed or was canceled gives back the very lots it took, to the end of
  the queue, so the payout that later carries that money is the one named.

Only the wallet account counts: the part of a release that settled a debt never
reached the wallet, so no payout carried it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sqlalchemy import select

from . import ledger
from .extensions import db
from .models import LedgerAccount, LedgerEntry, LedgerTransaction

RELEASE, CLAWBACK, PAYOUT, PAYOUT_RETURNED = "release", "clawback", "payout", "payout_returned"


@dataclass
class _Lot:
    payment_id: str | None
    amount: int


def _take(queue: deque, amount: int, first_from: str | None = None) -> list[_Lot]:
    """Remove ``amount`` from the queue's lots (``first_from``'s lot first, then the oldest)."""
    taken = []
    if first_from is not None:
        for lot in queue:
            if lot.payment_id == first_from and amount > 0:
                part = min(lot.amount, amount)
                lot.amount -= part
                amount -= part
                taken.append(_Lot(lot.payment_id, part))
    while amount > 0 and queue:
        lot = queue[0]
        part = min(lot.amount, amount)
        lot.amount -= part
        amount -= part
        taken.append(_Lot(lot.payment_id, part))
        if lot.amount == 0:
            queue.popleft()
    for lot in [lot for lot in queue if lot.amount == 0]:
        queue.remove(lot)
    return taken


def _give_back(queue: deque, lots: list[_Lot], amount: int) -> None:
    """A returned payout's lots go back to the end of the queue, as far as ``amount`` reached the
    wallet (the rest settled a debt first)."""
    for lot in lots:
        part = min(lot.amount, amount)
        if part > 0:
            queue.append(_Lot(lot.payment_id, part))
            amount -= part
    if amount > 0:
        queue.append(_Lot(None, amount))


def payouts_carrying(payment_id: str, influencer_id: str, currency: str) -> dict[str, int]:
    """``{payout id: minor units of this payment's net it carried}``, in payout order.

    Payouts that were returned to the wallet are not listed (their lots went back).
    """
    wallet = db.session.scalar(
        select(LedgerAccount.id).where(LedgerAccount.code == ledger.account_code(ledger.WALLET, currency, influencer_id))
    )
    if wallet is None:
        return {}
    legs = db.session.execute(
        select(LedgerEntry.amount, LedgerTransaction.kind, LedgerTransaction.payment_id, LedgerTransaction.payout_id)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerEntry.account_id == wallet)
        .order_by(LedgerEntry.id)
    )
    queue: deque[_Lot] = deque()
    taken_by_payout: dict[str, list[_Lot]] = {}
    for amount, kind, leg_payment, leg_payout in legs:
        if amount < 0:  # a credit to the wallet
            if kind == PAYOUT_RETURNED and leg_payout in taken_by_payout:
                _give_back(queue, taken_by_payout.pop(leg_payout), -amount)
            else:
                queue.append(_Lot(leg_payment if kind == RELEASE else None, -amount))
        elif kind == PAYOUT and leg_payout:
            taken_by_payout[leg_payout] = _take(queue, amount)
        else:
            _take(queue, amount, first_from=leg_payment if kind == CLAWBACK else None)
    carried = {}
    for payout_id, lots in taken_by_payout.items():
        share = sum(lot.amount for lot in lots if lot.payment_id == payment_id)
        if share:
            carried[payout_id] = share
    return carried
