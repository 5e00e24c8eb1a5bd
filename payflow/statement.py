"""The influencer's statement: one line per movement of their money, with a running balance.

The ledger books a release as several legs (escrow debited, wallet credited, fee to the
platform, a debt settled first); a person reads it as one thing: "+45.00, payment from
Acme released". A statement line is therefore one ledger transaction, seen from the
influencer's own money: the sum of its legs on their ``wallet`` (what they can withdraw)
and ``receivable`` (what they owe) accounts, so

    line amount  = change of (available − owed)            (minor units, signed)
    line balance = available − owed right after that line  (running balance)

Money still held in escrow is not theirs yet and has no lines; a payout completing at
the bank moves nothing of theirs (the amount left their balance when they asked for it).
The lines today are ``release`` (+net), ``payout`` (−amount), ``payout_returned``
(+amount: the payout failed or was canceled) and ``clawback`` (−their share of a refund
after release, part of it owed when the wallet could not cover it).

Lines are ordered newest first by ledger transaction id (time-ordered), which is also
the keyset of the pages, and a balance is the sum of every line up to and including it,
in its currency, whatever the filters show.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from . import ledger
from .extensions import db
from .models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, User
from .pagination import batches, fetch_page
from .periods import DateRange
from .serializers import iso

# The accounts whose sum (wallet − receivable) is the influencer's own money.
OWN_MONEY = (ledger.WALLET, ledger.RECEIVABLE)


@dataclass(frozen=True)
class Line:
    id: str  # the ledger transaction
    type: str  # its kind: release, payout, payout_returned, clawback
    description: str
    amount: int  # minor units, signed: + more of their money, − less
    currency: str
    balance: int  # minor units: available − owed after this line
    fee_amount: int | None  # the platform's share moved in the same transaction (release, clawback)
    payment_id: str | None
    payout_id: str | None
    counterparty_name: str | None  # the company of the payment
    payment_description: str | None
    created_at: datetime

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "description": self.description,
            "amount": self.amount,
            "currency": self.currency,
            "balance": self.balance,
            "feeAmount": self.fee_amount,
            "paymentId": self.payment_id,
            "payoutId": self.payout_id,
            "counterpartyName": self.counterparty_name,
            "paymentDescription": self.payment_description,
            "createdAt": iso(self.created_at),
        }


def _own_legs(user_id: str, currency: str | None):
    """Join condition parts: legs on this influencer's own-money accounts (in ``currency``)."""
    conditions = [LedgerAccount.user_id == user_id, LedgerAccount.purpose.in_(OWN_MONEY)]
    if currency:
        conditions.append(LedgerAccount.currency == currency)
    return conditions


def lines_query(user_id: str, currency: str | None = None, period: DateRange = DateRange()):
    """Rows ``(LedgerTransaction, amount)``: the transactions that moved this influencer's money.

    ``amount`` is the change of available − owed: both accounts' legs negated, since
    a credit (negative entry) raises the wallet and a debit raises what is owed.
    """
    change = -func.sum(LedgerEntry.amount)
    query = (
        select(LedgerTransaction, change.label("amount"))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(*_own_legs(user_id, currency))
        .group_by(LedgerTransaction.id)
        .having(func.sum(LedgerEntry.amount) != 0)
    )
    return period.where(query, LedgerTransaction.created_at)


def balances_through(user_id: str, transaction_id: str, currencies) -> dict[str, int]:
    """Available − owed per currency after transaction ``transaction_id`` (ids are time-ordered)."""
    rows = db.session.execute(
        select(LedgerAccount.currency, -func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(*_own_legs(user_id, None), LedgerAccount.currency.in_(set(currencies)),
               LedgerEntry.transaction_id <= transaction_id)
        .group_by(LedgerAccount.currency)
    ).all()
    balances = dict.fromkeys(currencies, 0)
    balances.update({currency: int(total) for currency, total in rows})
    return balances


def _fees(transaction_ids) -> dict[str, int]:
    """The platform's share moved by each transaction, as a positive amount."""
    rows = db.session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.purpose == ledger.PLATFORM_FEES, LedgerEntry.transaction_id.in_(transaction_ids))
        .group_by(LedgerEntry.transaction_id)
    ).all()
    return {transaction_id: abs(int(total)) for transaction_id, total in rows}


def _payments(payment_ids) -> dict[str, tuple[str, str]]:
    """``{payment id: (company name, description)}``."""
    if not payment_ids:
        return {}
    rows = db.session.execute(
        select(Payment.id, User.name, Payment.description)
        .join(User, User.id == Payment.company_id)
        .where(Payment.id.in_(payment_ids))
    ).all()
    return {payment_id: (name, description) for payment_id, name, description in rows}


def _lines(user_id: str, rows, balances: dict[str, int] | None = None) -> tuple[list[Line], dict[str, int]]:
    """Lines of ``rows`` (newest first) with running balances.

    ``balances`` are the balances after the first row, per currency, when the caller
    already knows them (the previous batch of an export); otherwise they are summed
    from the ledger. Returns the balances before the last row, for the next batch.
    """
    if not rows:
        return [], balances or {}
    transactions = [transaction for transaction, _ in rows]
    currencies = {transaction.currency for transaction in transactions}
    balances = dict(balances or {})
    missing = currencies - balances.keys()
    if missing:
        balances.update(balances_through(user_id, transactions[0].id, missing))
    fees = _fees([transaction.id for transaction in transactions])
    payments = _payments({transaction.payment_id for transaction in transactions if transaction.payment_id})
    lines = []
    for transaction, amount in rows:
        amount = int(amount)
        company, description = payments.get(transaction.payment_id, (None, None))
        lines.append(Line(
            id=transaction.id,
            type=transaction.kind,
            description=transaction.description,
            amount=amount,
            currency=transaction.currency,
            balance=balances[transaction.currency],
            fee_amount=fees.get(transaction.id),
            payment_id=transaction.payment_id,
            payout_id=transaction.payout_id,
            counterparty_name=company,
            payment_description=description,
            created_at=transaction.created_at,
        ))
        balances[transaction.currency] -= amount
    return lines, balances


def page(user_id: str, currency: str | None, period: DateRange, args) -> dict:
    """``{"items": [line JSON...], "nextCursor": ...}``, newest first (``?cursor=&limit=`` in ``args``)."""
    rows, next_cursor = fetch_page(lines_query(user_id, currency, period), LedgerTransaction.id, args)
    lines, _ = _lines(user_id, rows)
    return {"items": [line.to_json() for line in lines], "nextCursor": next_cursor}


def every_line(user_id: str, currency: str | None, period: DateRange, batch_size: int = 500):
    """Every line of the statement, newest first, read in keyset batches (for the CSV export).

    The running balances are summed from the ledger once, then carried from batch to batch.
    """
    carried: dict[str, int] = {}

    def convert(rows):
        nonlocal carried
        lines, carried = _lines(user_id, rows, carried)
        return lines

    for lines in batches(lines_query(user_id, currency, period), LedgerTransaction.id, convert, batch_size):
        yield from lines
