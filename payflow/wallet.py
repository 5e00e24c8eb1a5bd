"""The influencer's wallet: balances and history read from the ledger, never stored."""
from __future__ import annotations

from sqlalchemy import select

from . import ledger
from .extensions import db
from .models import LedgerAccount, LedgerEntry, LedgerTransaction
from .serializers import iso

BUCKETS = {ledger.WALLET: "available", ledger.ESCROW: "pending", ledger.RECEIVABLE: "receivable"}


def wallet_lines_query(user_id: str, currency: str | None = None):
    query = (
        select(LedgerEntry, LedgerAccount, LedgerTransaction)
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerAccount.user_id == user_id, LedgerAccount.purpose.in_(ledger.WALLET_PURPOSES))
    )
    if currency:
        query = query.where(LedgerAccount.currency == currency)
    return query


def serialize_line(entry: LedgerEntry, account: LedgerAccount, transaction: LedgerTransaction) -> dict:
    # Signed as the balance it belongs to moved: +500 on "available" is 5.00 more to withdraw.
    amount = entry.amount if account.normal == "debit" else -entry.amount
    return {
        "id": f"le_{entry.id}",
        "type": transaction.kind,
        "bucket": BUCKETS[account.purpose],
        "amount": amount,
        "currency": account.currency,
        "description": transaction.description,
        "paymentId": transaction.payment_id,
        "payoutId": transaction.payout_id,
        "createdAt": iso(transaction.created_at),
    }


def last_line(user_id: str, currency: str) -> dict | None:
    row = db.session.execute(wallet_lines_query(user_id, currency).order_by(LedgerEntry.id.desc()).limit(1)).first()
    return serialize_line(*row) if row else None


def wallet_view(user_id: str, currency: str) -> dict:
    balances = ledger.balances_of(user_id, currency, ledger.WALLET_PURPOSES)
    return {
        "currency": currency,
        "availableBalance": balances[ledger.WALLET],
        "pendingBalance": balances[ledger.ESCROW],
        "receivableBalance": balances[ledger.RECEIVABLE],
        "lastTransaction": last_line(user_id, currency),
    }


def wallets_for(user_id: str) -> list[dict]:
    currencies = db.session.scalars(
        select(LedgerAccount.currency)
        .where(LedgerAccount.user_id == user_id, LedgerAccount.purpose.in_(ledger.WALLET_PURPOSES))
        .distinct()
        .order_by(LedgerAccount.currency)
    ).all()
    return [wallet_view(user_id, currency) for currency in currencies]
