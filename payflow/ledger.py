"""The double-entry ledger: every money move is one balanced, immutable transaction.

Design
------
Amounts are integers in the currency's minor unit. An entry's ``amount`` is signed
(debit positive, credit negative) and the entries of a transaction sum to zero,
checked here before insert and, on PostgreSQL, again by a deferred constraint
trigger at commit. Entries are never edited: a mistake or a reversal is a new
transaction. Each transaction carries an idempotency key, so applying the same
fact twice (a webhook delivered again) posts nothing the second time.

Accounts, per currency (``user`` marks the ones kept per influencer):

=====================  ======  ==================================================
purpose                normal  holds
=====================  ======  ==================================================
stripe_balance         debit   money the platform holds at Stripe
escrow (user)          credit  an influencer's net share of payments still held
escrow_fees            credit  the platform's fee share of payments still held
wallet (user)          credit  the influencer's withdrawable balance
receivable (user)      debit   what an influencer owes after a clawback
payouts_in_transit     credit  payouts requested and not yet settled (user)
platform_fees          credit  fees the platform has earned
duplicate_captures     credit  second captures of paid payments, owed back to payers
=====================  ======  ==================================================

A payment of ``x`` still in escrow is split ``(fee(x), x - fee(x))`` between
``escrow_fees`` and the influencer's ``escrow``; the same split of what remains
after each refund makes every refund, before or after release, the difference
between two splits, so fee + net = gross holds at every step.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import UnbalancedTransaction
from .extensions import db
from .models import LedgerAccount, LedgerEntry, LedgerTransaction
from .money import split

STRIPE_BALANCE = "stripe_balance"
ESCROW = "escrow"
ESCROW_FEES = "escrow_fees"
WALLET = "wallet"
RECEIVABLE = "receivable"
PAYOUTS_IN_TRANSIT = "payouts_in_transit"
PLATFORM_FEES = "platform_fees"
DUPLICATE_CAPTURES = "duplicate_captures"

NORMAL_SIDE = {
    STRIPE_BALANCE: "debit",
    ESCROW: "credit",
    ESCROW_FEES: "credit",
    WALLET: "credit",
    RECEIVABLE: "debit",
    PAYOUTS_IN_TRANSIT: "credit",
    PLATFORM_FEES: "credit",
    DUPLICATE_CAPTURES: "credit",
}
USER_PURPOSES = {ESCROW, WALLET, RECEIVABLE, PAYOUTS_IN_TRANSIT}
# The accounts an influencer's wallet view is made of.
WALLET_PURPOSES = (WALLET, ESCROW, RECEIVABLE)


_KNOWN_ACCOUNTS = "payflow_ledger_accounts"


@event.listens_for(Session, "after_rollback")
def _forget_known_accounts(session) -> None:
    # An account created in a transaction that rolled back does not exist.
    session.info.pop(_KNOWN_ACCOUNTS, None)


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    amount: int  # signed: debit positive


def debit(account: LedgerAccount, amount: int) -> Leg:
    return Leg(account, amount)


def credit(account: LedgerAccount, amount: int) -> Leg:
    return Leg(account, -amount)


def account_code(purpose: str, currency: str, user_id: str | None = None) -> str:
    return f"{purpose}:{user_id}:{currency}" if user_id else f"{purpose}:{currency}"


def account(purpose: str, currency: str, user_id: str | None = None, *, for_update: bool = False) -> LedgerAccount:
    """The account for a purpose, created on first use; ``for_update`` locks its row.

    Locking an influencer's wallet account serialises every move that reads its
    balance before writing (payout requests, clawbacks) without a stored balance.
    """
    if (purpose in USER_PURPOSES) != (user_id is not None):
        raise ValueError(f"{purpose} accounts {'need' if purpose in USER_PURPOSES else 'take no'} user")
    code = account_code(purpose, currency, user_id)
    # Accounts are never deleted or renamed, so one lookup per transaction is enough
    # (a money move touches the same few accounts several times).
    known = db.session.info.setdefault(_KNOWN_ACCOUNTS, {})
    if not for_update and code in known:
        return known[code]
    query = select(LedgerAccount).where(LedgerAccount.code == code)
    if for_update:
        query = query.with_for_update()
    found = db.session.scalars(query).first()
    if found is not None:
        known[code] = found
        return found
    try:
        with db.session.begin_nested():
            db.session.add(
                LedgerAccount(code=code, purpose=purpose, normal=NORMAL_SIDE[purpose], currency=currency, user_id=user_id)
            )
    except IntegrityError:
        pass  # created by a concurrent transaction; read theirs below
    known[code] = db.session.scalars(query).one()
    return known[code]


def post(
    kind: str,
    idempotency_key: str,
    currency: str,
    legs: list[Leg],
    *,
    payment_id: str | None = None,
    payout_id: str | None = None,
    description: str = "",
) -> LedgerTransaction | None:
    """Write one balanced transaction; ``None`` if its key was already posted.

    Zero legs are dropped (a 0% fee gives one): they move nothing. Callers hold
    the row lock of the payment or payout the key belongs to, so two posts of one
    key cannot race.
    """
    existing = db.session.scalars(
        select(LedgerTransaction.id).where(LedgerTransaction.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return None
    legs = [leg for leg in legs if leg.amount != 0]
    if not legs:
        return None
    if sum(leg.amount for leg in legs) != 0:
        raise UnbalancedTransaction(f"{kind} {idempotency_key}: legs sum to {sum(leg.amount for leg in legs)}")
    if any(leg.account.currency != currency for leg in legs):
        raise UnbalancedTransaction(f"{kind} {idempotency_key}: legs in more than one currency")
    transaction = LedgerTransaction(
        idempotency_key=idempotency_key,
        kind=kind,
        currency=currency,
        description=description,
        payment_id=payment_id,
        payout_id=payout_id,
    )
    db.session.add(transaction)
    db.session.flush()
    db.session.add_all(
        LedgerEntry(transaction_id=transaction.id, account_id=leg.account.id, amount=leg.amount) for leg in legs
    )
    db.session.flush()
    return transaction


def balance(acct: LedgerAccount) -> int:
    """The account's balance on its normal side (positive in ordinary use)."""
    total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.account_id == acct.id))
    return int(total) if acct.normal == "debit" else -int(total)


def balance_of(purpose: str, currency: str, user_id: str | None = None) -> int:
    """Like ``balance`` but for reading: an account never used has 0 and is not created."""
    return balances_of(user_id, currency, (purpose,))[purpose]


def balances_of(user_id: str | None, currency: str, purposes) -> dict[str, int]:
    """Balances of several of one owner's accounts in one query (0 for accounts never used)."""
    codes = {account_code(purpose, currency, user_id): purpose for purpose in purposes}
    rows = db.session.execute(
        select(LedgerAccount.code, LedgerAccount.normal, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .outerjoin(LedgerEntry, LedgerEntry.account_id == LedgerAccount.id)
        .where(LedgerAccount.code.in_(codes))
        .group_by(LedgerAccount.code, LedgerAccount.normal)
    ).all()
    result = dict.fromkeys(purposes, 0)
    for code, normal, total in rows:
        result[codes[code]] = int(total) if normal == "debit" else -int(total)
    return result


def released_gross(payment_id: str) -> int:
    """What the payment's release took out of escrow (the influencer's net and the fee); 0 before it."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
        .where(LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == "release", LedgerEntry.amount > 0)
    )
    return int(total)


# --- money moves -----------------------------------------------------------------


def _credit_influencer(user_id: str, currency: str, amount: int) -> list[Leg]:
    """Credit legs paying ``amount`` to an influencer: what they owe is settled first."""
    receivable = account(RECEIVABLE, currency, user_id)
    owed = max(balance(receivable), 0)
    settle = min(owed, amount)
    return [credit(receivable, settle), credit(account(WALLET, currency, user_id), amount - settle)]


def capture(payment, fee_bps: int) -> LedgerTransaction | None:
    """Stripe collected the payment: it is held in escrow, split into net and fee."""
    currency = payment.currency
    fee, net = split(payment.amount, fee_bps)
    return post(
        "capture",
        f"capture:{payment.id}",
        currency,
        [
            debit(account(STRIPE_BALANCE, currency), payment.amount),
            credit(account(ESCROW, currency, payment.influencer_id), net),
            credit(account(ESCROW_FEES, currency), fee),
        ],
        payment_id=payment.id,
        description="Payment held in escrow",
    )


def release(payment, remaining: int, fee_bps: int) -> LedgerTransaction | None:
    """The company released what is in escrow: net to the wallet, fee to the platform."""
    currency = payment.currency
    fee, net = split(remaining, fee_bps)
    account(WALLET, currency, payment.influencer_id, for_update=True)
    return post(
        "release",
        f"release:{payment.id}",
        currency,
        [
            debit(account(ESCROW, currency, payment.influencer_id), net),
            debit(account(ESCROW_FEES, currency), fee),
            credit(account(PLATFORM_FEES, currency), fee),
            *_credit_influencer(payment.influencer_id, currency, net),
        ],
        payment_id=payment.id,
        description="Payment released",
    )


def refund(payment, old_remaining: int, new_remaining: int, fee_bps: int, *, released: bool) -> LedgerTransaction | None:
    """Money went back to the payer: ``old_remaining - new_remaining`` leaves Stripe.

    Before release it leaves escrow; after release it is clawed back in proportion,
    the influencer's share from the wallet (a shortfall becomes a receivable, never a
    negative balance) and the platform's share from earned fees.
    """
    currency = payment.currency
    refunded = old_remaining - new_remaining
    old_fee, old_net = split(old_remaining, fee_bps)
    new_fee, new_net = split(new_remaining, fee_bps)
    fee_back, net_back = old_fee - new_fee, old_net - new_net
    legs = [credit(account(STRIPE_BALANCE, currency), refunded)]
    if released:
        wallet = account(WALLET, currency, payment.influencer_id, for_update=True)
        from_wallet = min(max(balance(wallet), 0), net_back)
        legs += [
            debit(account(PLATFORM_FEES, currency), fee_back),
            debit(wallet, from_wallet),
            debit(account(RECEIVABLE, currency, payment.influencer_id), net_back - from_wallet),
        ]
    else:
        legs += [
            debit(account(ESCROW_FEES, currency), fee_back),
            debit(account(ESCROW, currency, payment.influencer_id), net_back),
        ]
    # Keyed by everything ever refunded (reversed refunds included), which only grows: the
    # same total reached again after a failed refund is a new move, not a repeat.
    return post(
        "clawback" if released else "refund",
        f"refund:{payment.id}:{payment.amount - new_remaining + (payment.refund_reversed_amount or 0)}",
        currency,
        legs,
        payment_id=payment.id,
        description="Refund clawed back" if released else "Refund from escrow",
    )


def refund_reversed(payment, old_remaining: int, new_remaining: int, fee_bps: int, *, released: bool,
                    refund_id: str) -> LedgerTransaction | None:
    """A refund failed after it was applied: ``new_remaining - old_remaining`` is back at Stripe.

    The mirror of ``refund``: before release it returns to escrow (net and fee shares);
    after release to the influencer (what they owe is settled first) and to earned fees,
    split as the release splits it. Keyed by the refund: once per refund.
    """
    currency = payment.currency
    returned = new_remaining - old_remaining
    old_fee, old_net = split(old_remaining, fee_bps)
    new_fee, new_net = split(new_remaining, fee_bps)
    fee_back, net_back = new_fee - old_fee, new_net - old_net
    legs = [debit(account(STRIPE_BALANCE, currency), returned)]
    if released:
        account(WALLET, currency, payment.influencer_id, for_update=True)
        legs += [credit(account(PLATFORM_FEES, currency), fee_back),
                 *_credit_influencer(payment.influencer_id, currency, net_back)]
    else:
        legs += [credit(account(ESCROW_FEES, currency), fee_back),
                 credit(account(ESCROW, currency, payment.influencer_id), net_back)]
    return post(
        "refund_reversed",
        f"refund-reversed:{refund_id}",
        currency,
        legs,
        payment_id=payment.id,
        description="Failed refund returned to the wallet" if released else "Failed refund returned to escrow",
    )


def payout_requested(payout) -> LedgerTransaction | None:
    currency = payout.currency
    return post(
        "payout",
        f"payout:{payout.id}",
        currency,
        [
            debit(account(WALLET, currency, payout.influencer_id), payout.amount),
            credit(account(PAYOUTS_IN_TRANSIT, currency, payout.influencer_id), payout.amount),
        ],
        payout_id=payout.id,
        description="Payout requested",
    )


def payout_settled(payout) -> LedgerTransaction | None:
    currency = payout.currency
    return post(
        "payout_paid",
        f"payout-paid:{payout.id}",
        currency,
        [
            debit(account(PAYOUTS_IN_TRANSIT, currency, payout.influencer_id), payout.amount),
            credit(account(STRIPE_BALANCE, currency), payout.amount),
        ],
        payout_id=payout.id,
        description="Payout completed",
    )


def _count(kind: str, payout_id: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LedgerTransaction)
        .where(LedgerTransaction.kind == kind, LedgerTransaction.payout_id == payout_id)
    )


def payout_returned(payout, *, after_settlement: bool) -> LedgerTransaction | None:
    """The payout failed or was canceled: its amount returns to the wallet, once per return.

    A payout returned and then paid after all (``payout_paid_after_return``) may fail
    again; each return is numbered by the payments after returns before it.
    """
    currency = payout.currency
    source = (
        account(STRIPE_BALANCE, currency)
        if after_settlement
        else account(PAYOUTS_IN_TRANSIT, currency, payout.influencer_id)
    )
    account(WALLET, currency, payout.influencer_id, for_update=True)
    repaid = _count("payout_repaid", payout.id)
    return post(
        "payout_returned",
        f"payout-returned:{payout.id}" + (f":{repaid + 1}" if repaid else ""),
        currency,
        [debit(source, payout.amount), *_credit_influencer(payout.influencer_id, currency, payout.amount)],
        payout_id=payout.id,
        description="Payout returned to wallet",
    )


def payout_paid_after_return(payout) -> tuple[LedgerTransaction | None, int]:
    """Stripe paid a payout whose amount payflow had returned to the wallet: it leaves the
    wallet again (SPEC section 5). What the wallet cannot cover is owed by the influencer
    (a receivable), as with a clawback. Returns the transaction and the amount owed."""
    currency = payout.currency
    wallet = account(WALLET, currency, payout.influencer_id, for_update=True)
    from_wallet = min(max(balance(wallet), 0), payout.amount)
    returns = _count("payout_returned", payout.id)
    transaction = post(
        "payout_repaid",
        f"payout-repaid:{payout.id}:{returns}",
        currency,
        [
            credit(account(STRIPE_BALANCE, currency), payout.amount),
            debit(wallet, from_wallet),
            debit(account(RECEIVABLE, currency, payout.influencer_id), payout.amount - from_wallet),
        ],
        payout_id=payout.id,
        description="Payout paid after all: taken from the wallet again",
    )
    return transaction, payout.amount - from_wallet


def duplicate_capture(payment_id: str, intent_id: str, amount: int, currency: str) -> LedgerTransaction | None:
    """Stripe captured a paid payment a second time (``payflow.duplicates``): the money is at
    Stripe and owed back to the payer, apart from the payment's own escrow."""
    return post(
        "duplicate_capture",
        f"duplicate-capture:{intent_id}",
        currency,
        [debit(account(STRIPE_BALANCE, currency), amount), credit(account(DUPLICATE_CAPTURES, currency), amount)],
        payment_id=payment_id,
        description="Second capture of a paid payment, owed back to the payer",
    )


def duplicate_refund_reversed(payment_id: str, intent_id: str, amount: int, currency: str,
                              stripe_refund_id: str) -> LedgerTransaction | None:
    """A refund of a duplicate capture failed or was canceled after it was booked: ``amount``
    is back at Stripe and owed to the payer again (once per Stripe refund)."""
    return post(
        "duplicate_refund_reversed",
        f"duplicate-refund-reversed:{intent_id}:{stripe_refund_id}",
        currency,
        [debit(account(STRIPE_BALANCE, currency), amount), credit(account(DUPLICATE_CAPTURES, currency), amount)],
        payment_id=payment_id,
        description="Refund of a second capture failed: owed back to the payer again",
    )


def duplicate_refund(payment_id: str, intent_id: str, old_total: int, new_total: int,
                     currency: str) -> LedgerTransaction | None:
    """Stripe refunded a duplicate capture up to ``new_total`` (cumulative): the difference leaves Stripe."""
    amount = new_total - old_total
    return post(
        "duplicate_refund",
        f"duplicate-refund:{intent_id}:{new_total}",
        currency,
        [debit(account(DUPLICATE_CAPTURES, currency), amount), credit(account(STRIPE_BALANCE, currency), amount)],
        payment_id=payment_id,
        description="Second capture refunded to the payer",
    )
