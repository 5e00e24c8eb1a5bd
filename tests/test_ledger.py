"""Worked accounting examples: exact numbers for every money move (SPEC §3).

The platform fee is 10% (``PLATFORM_FEE_BPS=1000``). After every test the whole
ledger is checked: each transaction's entries sum to zero, and so do all entries of
each currency.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from payflow import ledger, payments, payouts, refunds, serializers, wallet
from payflow.errors import InsufficientFunds, InvalidTransition, StripeRefused, UnbalancedTransaction
from payflow.extensions import db
from payflow.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Payout, Refund
from payflow.unit_of_work import atomic

# --- helpers ------------------------------------------------------------------------


def unbalanced_transactions() -> list:
    return db.session.execute(
        select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id)
        .having(func.sum(LedgerEntry.amount) != 0)
    ).all()


def unbalanced_currencies() -> list:
    return db.session.execute(
        select(LedgerAccount.currency, func.sum(LedgerEntry.amount))
        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.currency)
        .having(func.sum(LedgerEntry.amount) != 0)
    ).all()


@pytest.fixture(autouse=True)
def books_balance_after_every_test(app):
    yield
    db.session.rollback()
    assert unbalanced_transactions() == []
    assert unbalanced_currencies() == []
    single_legged = db.session.execute(
        select(LedgerEntry.transaction_id).group_by(LedgerEntry.transaction_id).having(func.count() < 2)
    ).all()
    assert single_legged == []


def balances(user, currency: str) -> dict:
    view = wallet.wallet_view(user.id, currency)
    return {key: view[key] for key in ("availableBalance", "pendingBalance", "receivableBalance")}


def wallet_of(available=0, pending=0, receivable=0) -> dict:
    return {"availableBalance": available, "pendingBalance": pending, "receivableBalance": receivable}


def platform(currency: str) -> dict:
    return {
        purpose: ledger.balance_of(purpose, currency)
        for purpose in (ledger.STRIPE_BALANCE, ledger.ESCROW_FEES, ledger.PLATFORM_FEES)
    }


def refund_total(payment_id: str, cumulative: int, currency: str | None = None) -> bool:
    with atomic():
        return payments.record_refund_total(payments.lock_payment(payment_id), cumulative, currency)


def dispute_opened(payment_id: str, amount: int) -> bool:
    with atomic():
        return payments.record_dispute_opened(payments.lock_payment(payment_id), amount)


def dispute_closed(payment_id: str, won: bool) -> bool:
    with atomic():
        return payments.record_dispute_closed(payments.lock_payment(payment_id), won)


def payout_fact(record, payout_id: str, *args) -> bool:
    with atomic():
        return record(payouts.lock_payout(payout_id), *args)


def reload(payment_or_payout):
    db.session.expire_all()
    return db.session.get(type(payment_or_payout), payment_or_payout.id)


def legs(transaction_kind: str, payment_id: str | None = None, payout_id: str | None = None) -> dict:
    """{account purpose: signed amount} of the one transaction of that kind."""
    query = select(LedgerTransaction).where(LedgerTransaction.kind == transaction_kind)
    if payment_id:
        query = query.where(LedgerTransaction.payment_id == payment_id)
    if payout_id:
        query = query.where(LedgerTransaction.payout_id == payout_id)
    (transaction,) = db.session.scalars(query).all()
    return {entry.account.purpose: entry.amount for entry in transaction.entries}


def ledger_size() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(LedgerTransaction)),
        db.session.scalar(select(func.count()).select_from(LedgerEntry)),
        db.session.scalar(select(func.count()).select_from(LedgerAccount)),
    )


@pytest.fixture
def parties(factory):
    return factory.user("company"), factory.user("influencer")


# --- capture and release -----------------------------------------------------------------


def test_a_captured_payment_is_held_in_escrow_split_into_net_and_fee(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")

    assert reload(payment).status == payments.HELD
    assert balances(influencer, "usd") == wallet_of(pending=9000)
    assert platform("usd") == {"stripe_balance": 10000, "escrow_fees": 1000, "platform_fees": 0}
    assert legs("capture", payment.id) == {"stripe_balance": 10000, "escrow": -9000, "escrow_fees": -1000}


def test_release_moves_the_net_to_the_wallet_and_the_fee_to_the_platform(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")

    payments.release_payment(company, payment.id)

    payment = reload(payment)
    assert payment.status == payments.RELEASED and payment.fee_amount == 1000
    assert balances(influencer, "usd") == wallet_of(available=9000)
    assert platform("usd") == {"stripe_balance": 10000, "escrow_fees": 0, "platform_fees": 1000}
    assert legs("release", payment.id) == {"escrow": 9000, "escrow_fees": 1000, "platform_fees": -1000, "wallet": -9000}


def test_the_fee_is_rounded_up_and_the_influencer_gets_the_exact_remainder(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 12345, "usd")
    assert balances(influencer, "usd") == wallet_of(pending=11110)
    assert platform("usd")["escrow_fees"] == 1235

    payments.release_payment(company, payment.id)

    assert reload(payment).fee_amount == 1235
    assert balances(influencer, "usd") == wallet_of(available=11110)
    assert platform("usd") == {"stripe_balance": 12345, "escrow_fees": 0, "platform_fees": 1235}


def test_a_released_payment_cannot_be_released_twice(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    payments.release_payment(company, payment.id)

    with pytest.raises(InvalidTransition):
        payments.release_payment(company, payment.id)

    assert balances(influencer, "usd") == wallet_of(available=9000)
    assert db.session.scalar(select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == "release")) == 1


def test_zero_decimal_currencies_take_the_fee_in_whole_units(factory, parties):
    company, influencer = parties
    even = factory.held_payment_direct(company, influencer, 500, "jpy")
    assert balances(influencer, "jpy") == wallet_of(pending=450)
    payments.release_payment(company, even.id)
    assert reload(even).fee_amount == 50
    assert balances(influencer, "jpy") == wallet_of(available=450)

    odd = factory.held_payment_direct(company, influencer, 505, "jpy")  # 50.5 yen of fee rounds up to 51
    payments.release_payment(company, odd.id)
    assert reload(odd).fee_amount == 51
    assert balances(influencer, "jpy") == wallet_of(available=450 + 454)
    assert platform("jpy") == {"stripe_balance": 1005, "escrow_fees": 0, "platform_fees": 101}
    assert balances(influencer, "usd") == wallet_of()


# --- refunds -------------------------------------------------------------------------------


def test_a_partial_refund_before_release_leaves_the_rest_to_be_released_with_its_own_fee(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")

    assert refund_total(payment.id, 3000, "usd") is True
    payment = reload(payment)
    assert payment.status == payments.PARTIALLY_REFUNDED and payment.refunded_amount == 3000
    assert balances(influencer, "usd") == wallet_of(pending=6300)
    assert platform("usd") == {"stripe_balance": 7000, "escrow_fees": 700, "platform_fees": 0}
    assert legs("refund", payment.id) == {"stripe_balance": -3000, "escrow": 2700, "escrow_fees": 300}

    payments.release_payment(company, payment.id)

    body = serializers.payment(reload(payment))
    assert body["status"] == "RELEASED"
    assert body["refundedAmount"] == 3000 and body["feeAmount"] == 700
    assert balances(influencer, "usd") == wallet_of(available=6300)
    assert platform("usd") == {"stripe_balance": 7000, "escrow_fees": 0, "platform_fees": 700}


def test_a_full_refund_before_release_empties_escrow_and_nothing_is_left_to_release(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")

    assert refund_total(payment.id, 10000, "usd") is True

    payment = reload(payment)
    assert payment.status == payments.REFUNDED and payment.refunded_amount == 10000
    assert balances(influencer, "usd") == wallet_of()
    assert platform("usd") == {"stripe_balance": 0, "escrow_fees": 0, "platform_fees": 0}
    with pytest.raises(InvalidTransition):
        payments.release_payment(company, payment.id)
    assert balances(influencer, "usd") == wallet_of()


def test_a_refund_after_release_claws_back_net_and_fee_in_proportion(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    payments.release_payment(company, payment.id)

    assert refund_total(payment.id, 4000, "usd") is True

    payment = reload(payment)
    assert payment.status == payments.PARTIALLY_REFUNDED
    assert payment.refunded_amount == 4000 and payment.fee_amount == 600
    assert balances(influencer, "usd") == wallet_of(available=9000 - 3600)
    assert platform("usd") == {"stripe_balance": 6000, "escrow_fees": 0, "platform_fees": 1000 - 400}
    assert legs("clawback", payment.id) == {"stripe_balance": -4000, "platform_fees": 400, "wallet": 3600}


def test_a_clawback_larger_than_the_wallet_becomes_a_receivable_never_a_negative_balance(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, payment.id)
    payout = payouts.request_payout(influencer, 8000, "eur")
    assert balances(influencer, "eur") == wallet_of(available=1000)

    assert refund_total(payment.id, 10000, "eur") is True

    assert reload(payment).status == payments.REFUNDED
    assert balances(influencer, "eur") == wallet_of(available=0, receivable=8000)
    assert legs("clawback", payment.id) == {
        "stripe_balance": -10000,
        "platform_fees": 1000,
        "wallet": 1000,
        "receivable": 8000,
    }
    assert ledger.balance_of(ledger.PLATFORM_FEES, "eur") == 0
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 8000
    assert reload(payout).status in (payouts.PENDING, payouts.IN_TRANSIT)


def test_a_later_release_pays_the_receivable_before_the_wallet(factory, parties):
    company, influencer = parties
    first = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, first.id)
    payouts.request_payout(influencer, 8000, "eur")
    refund_total(first.id, 10000, "eur")
    assert balances(influencer, "eur") == wallet_of(receivable=8000)

    small = factory.held_payment_direct(company, influencer, 5000, "eur")
    payments.release_payment(company, small.id)  # net 4500: all of it settles the debt
    assert balances(influencer, "eur") == wallet_of(receivable=3500)
    assert legs("release", small.id) == {"escrow": 4500, "escrow_fees": 500, "platform_fees": -500, "receivable": -4500}

    large = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, large.id)  # net 9000: 3500 settles the rest, 5500 is withdrawable
    assert balances(influencer, "eur") == wallet_of(available=5500)
    assert legs("release", large.id) == {
        "escrow": 9000,
        "escrow_fees": 1000,
        "platform_fees": -1000,
        "receivable": -3500,
        "wallet": -5500,
    }


def test_a_payout_returned_after_a_clawback_settles_the_receivable_first(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, payment.id)
    payout = payouts.request_payout(influencer, 8000, "eur")
    refund_total(payment.id, 10000, "eur")

    assert payout_fact(payouts.record_failed, payout.id, "bank account closed") is True

    assert balances(influencer, "eur") == wallet_of()
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 0


@pytest.mark.parametrize("released", [False, True], ids=["before-release", "after-release"])
def test_repeated_or_reordered_refund_totals_move_money_only_once(factory, parties, released):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    if released:
        payments.release_payment(company, payment.id)

    assert refund_total(payment.id, 5000, "usd") is True
    after_first = (ledger_size(), balances(influencer, "usd"), platform("usd"))
    assert refund_total(payment.id, 3000, "usd") is False  # an older event delivered late
    assert refund_total(payment.id, 5000, "usd") is False  # the same event delivered again

    assert (ledger_size(), balances(influencer, "usd"), platform("usd")) == after_first
    payment = reload(payment)
    assert payment.refunded_amount == 5000 and payment.status == payments.PARTIALLY_REFUNDED
    if released:
        assert balances(influencer, "usd") == wallet_of(available=4500)
        assert platform("usd") == {"stripe_balance": 5000, "escrow_fees": 0, "platform_fees": 500}
    else:
        assert balances(influencer, "usd") == wallet_of(pending=4500)
        assert platform("usd") == {"stripe_balance": 5000, "escrow_fees": 500, "platform_fees": 0}

    assert refund_total(payment.id, 10000, "usd") is True
    assert reload(payment).status == payments.REFUNDED
    assert balances(influencer, "usd") == wallet_of()
    assert platform("usd") == {"stripe_balance": 0, "escrow_fees": 0, "platform_fees": 0}


def test_successive_partial_refunds_keep_fee_plus_net_equal_to_what_remains(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 999, "usd")  # fee 100, net 899
    for cumulative, fee, net in [(1, 100, 898), (2, 100, 897), (11, 99, 889), (998, 1, 0), (999, 0, 0)]:
        refund_total(payment.id, cumulative, "usd")
        assert balances(influencer, "usd") == wallet_of(pending=net)
        assert platform("usd")["escrow_fees"] == fee
        assert platform("usd")["stripe_balance"] == 999 - cumulative
    assert reload(payment).status == payments.REFUNDED


# --- refunds that fail after they were applied ------------------------------------------------

_stripe_ids = iter(range(10**6))


def refund_made(payment_id: str, amount: int) -> str:
    """A refund as payflow records it once Stripe made it (``refunds.request_refund`` and Stripe's answer)."""
    with atomic():
        payment = db.session.get(Payment, payment_id)
        refund = Refund(payment_id=payment_id, amount=amount, currency=payment.currency, status=refunds.SUCCEEDED,
                        stripe_refund_id=f"re_worked_{next(_stripe_ids)}", idempotency_key=f"worked-{next(_stripe_ids)}")
        db.session.add(refund)
        db.session.flush()
        return refund.id


def refund_ended(refund_id: str, status: str = refunds.FAILED) -> bool:
    with atomic():
        payment, refund = refunds.lock_refund(refund_id)
        return refunds.record_ended(payment, refund, status, "expired_or_canceled_card")


def test_a_full_refund_that_fails_before_release_returns_net_and_fee_to_escrow_once(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    refund_id = refund_made(payment.id, 10000)
    refund_total(payment.id, 10000, "usd")
    assert balances(influencer, "usd") == wallet_of()
    assert platform("usd") == {"stripe_balance": 0, "escrow_fees": 0, "platform_fees": 0}

    assert refund_ended(refund_id) is True
    assert refund_ended(refund_id) is False

    payment = reload(payment)
    assert payment.status == payments.HELD and payment.refunded_amount == 0 and payment.refund_reversed_amount == 10000
    assert balances(influencer, "usd") == wallet_of(pending=9000)
    assert platform("usd") == {"stripe_balance": 10000, "escrow_fees": 1000, "platform_fees": 0}
    assert legs("refund_reversed", payment.id) == {"stripe_balance": 10000, "escrow": -9000, "escrow_fees": -1000}

    payments.release_payment(company, payment.id)
    assert balances(influencer, "usd") == wallet_of(available=9000)


def test_a_partial_refund_that_fails_after_release_returns_its_share_to_the_wallet_and_the_fee(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    payments.release_payment(company, payment.id)
    refund_id = refund_made(payment.id, 4000)
    refund_total(payment.id, 4000, "usd")
    assert balances(influencer, "usd") == wallet_of(available=5400)
    assert reload(payment).fee_amount == 600

    assert refund_ended(refund_id) is True

    payment = reload(payment)
    assert payment.status == payments.RELEASED and payment.refunded_amount == 0 and payment.fee_amount == 1000
    assert balances(influencer, "usd") == wallet_of(available=9000)
    assert platform("usd") == {"stripe_balance": 10000, "escrow_fees": 0, "platform_fees": 1000}
    assert legs("refund_reversed", payment.id) == {"stripe_balance": 4000, "platform_fees": -400, "wallet": -3600}


def test_a_failed_refund_after_a_clawback_the_wallet_could_not_cover_cancels_what_is_owed_first(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, payment.id)
    payouts.request_payout(influencer, 8000, "eur")
    refund_id = refund_made(payment.id, 10000)
    refund_total(payment.id, 10000, "eur")
    assert balances(influencer, "eur") == wallet_of(receivable=8000)

    assert refund_ended(refund_id) is True

    assert balances(influencer, "eur") == wallet_of(available=1000)
    assert reload(payment).status == payments.RELEASED
    assert legs("refund_reversed", payment.id) == {
        "stripe_balance": 10000, "platform_fees": -1000, "receivable": -8000, "wallet": -1000,
    }


def test_of_two_refunds_only_the_one_that_failed_is_put_back(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    first, second = refund_made(payment.id, 3000), refund_made(payment.id, 2000)
    refund_total(payment.id, 3000, "usd")
    refund_total(payment.id, 5000, "usd")

    assert refund_ended(first, refunds.CANCELED) is True

    payment = reload(payment)
    assert payment.status == payments.PARTIALLY_REFUNDED and payment.refunded_amount == 2000
    assert balances(influencer, "usd") == wallet_of(pending=7200)
    assert platform("usd") == {"stripe_balance": 8000, "escrow_fees": 800, "platform_fees": 0}
    assert db.session.get(Refund, second).status == refunds.SUCCEEDED


def test_a_refund_made_before_release_that_fails_after_it_goes_to_the_wallet(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    refund_id = refund_made(payment.id, 2000)
    refund_total(payment.id, 2000, "usd")
    payments.release_payment(company, payment.id)
    assert balances(influencer, "usd") == wallet_of(available=7200)

    assert refund_ended(refund_id) is True

    payment = reload(payment)
    assert payment.status == payments.RELEASED and payment.fee_amount == 1000
    assert balances(influencer, "usd") == wallet_of(available=9000)
    assert platform("usd") == {"stripe_balance": 10000, "escrow_fees": 0, "platform_fees": 1000}


@pytest.mark.parametrize("stripe_total_after_failure", [5000, 10000], ids=["total-drops", "total-keeps-failed"])
def test_after_a_failed_refund_only_refunds_known_by_id_move_money_whatever_total_stripe_reports(
    factory, parties, stripe_total_after_failure
):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    failed = refund_made(payment.id, 5000)
    refund_total(payment.id, 5000, "usd")
    refund_ended(failed)
    assert refund_total(payment.id, 5000, "usd") is False  # the old total again: stale

    refund_made(payment.id, 5000)
    assert refund_total(payment.id, stripe_total_after_failure, "usd") is True

    payment = reload(payment)
    assert payment.refunded_amount == 5000 and payment.status == payments.PARTIALLY_REFUNDED
    assert balances(influencer, "usd") == wallet_of(pending=4500)
    assert platform("usd") == {"stripe_balance": 5000, "escrow_fees": 500, "platform_fees": 0}


# --- disputes ----------------------------------------------------------------------------


def test_a_lost_dispute_on_a_held_payment_is_a_refund_from_escrow(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")

    assert dispute_opened(payment.id, 10000) is True
    assert reload(payment).status == payments.DISPUTED
    assert balances(influencer, "usd") == wallet_of(pending=9000)  # on hold, not yet gone
    with pytest.raises(InvalidTransition):
        payments.release_payment(company, payment.id)

    assert dispute_closed(payment.id, won=False) is True

    payment = reload(payment)
    assert payment.status == payments.REFUNDED and payment.refunded_amount == 10000
    assert balances(influencer, "usd") == wallet_of()
    assert platform("usd") == {"stripe_balance": 0, "escrow_fees": 0, "platform_fees": 0}


def test_a_lost_partial_dispute_after_release_claws_back_like_a_refund(factory, parties):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    payments.release_payment(company, payment.id)

    dispute_opened(payment.id, 4000)
    assert dispute_closed(payment.id, won=False) is True

    payment = reload(payment)
    assert payment.status == payments.PARTIALLY_REFUNDED
    assert payment.refunded_amount == 4000 and payment.fee_amount == 600
    assert balances(influencer, "usd") == wallet_of(available=5400)
    assert platform("usd") == {"stripe_balance": 6000, "escrow_fees": 0, "platform_fees": 600}
    assert dispute_closed(payment.id, won=False) is False  # the close delivered again
    assert balances(influencer, "usd") == wallet_of(available=5400)


@pytest.mark.parametrize("released", [False, True], ids=["held", "released"])
def test_a_won_dispute_returns_the_payment_to_where_it_was_without_moving_money(factory, parties, released):
    company, influencer = parties
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    if released:
        payments.release_payment(company, payment.id)
    before = (ledger_size(), balances(influencer, "usd"), platform("usd"))

    dispute_opened(payment.id, 10000)
    assert dispute_closed(payment.id, won=True) is True

    assert reload(payment).status == (payments.RELEASED if released else payments.HELD)
    assert (ledger_size()[:2], balances(influencer, "usd"), platform("usd")) == (before[0][:2], before[1], before[2])
    if not released:
        payments.release_payment(company, payment.id)
        assert balances(influencer, "usd") == wallet_of(available=9000)


# --- payouts -----------------------------------------------------------------------------


def test_a_requested_payout_leaves_the_available_balance_at_once(factory):
    influencer = factory.funded_influencer(10000, "eur")
    assert balances(influencer, "eur") == wallet_of(available=10000)

    payout = payouts.request_payout(influencer, 4000, "eur")

    assert reload(payout).status in (payouts.PENDING, payouts.IN_TRANSIT)
    assert reload(payout).stripe_payout_id.startswith("po_")
    assert balances(influencer, "eur") == wallet_of(available=6000)
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 4000
    assert legs("payout", payout_id=payout.id) == {"wallet": 4000, "payouts_in_transit": -4000}


def test_a_paid_payout_completes_and_leaves_the_platform_stripe_balance(factory):
    influencer = factory.funded_influencer(10000, "eur")
    stripe_before = ledger.balance_of(ledger.STRIPE_BALANCE, "eur")
    payout = payouts.request_payout(influencer, 4000, "eur")

    assert payout_fact(payouts.record_paid, payout.id, 4000, "eur") is True
    assert payout_fact(payouts.record_paid, payout.id, 4000, "eur") is False

    assert reload(payout).status == payouts.COMPLETED
    assert balances(influencer, "eur") == wallet_of(available=6000)
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 0
    assert ledger.balance_of(ledger.STRIPE_BALANCE, "eur") == stripe_before - 4000


def test_a_payout_failing_after_it_completed_returns_the_funds_exactly_once(factory):
    influencer = factory.funded_influencer(10000, "eur")
    stripe_before = ledger.balance_of(ledger.STRIPE_BALANCE, "eur")
    payout = payouts.request_payout(influencer, 4000, "eur")
    payout_fact(payouts.record_paid, payout.id)

    assert payout_fact(payouts.record_failed, payout.id, "account closed") is True
    assert reload(payout).status == payouts.FAILED
    assert balances(influencer, "eur") == wallet_of(available=10000)
    after_first = ledger_size()

    assert payout_fact(payouts.record_failed, payout.id, "account closed") is False
    assert payout_fact(payouts.record_canceled, payout.id) is False
    assert payout_fact(payouts.record_paid, payout.id) is False

    assert ledger_size() == after_first
    assert balances(influencer, "eur") == wallet_of(available=10000)
    assert ledger.balance_of(ledger.STRIPE_BALANCE, "eur") == stripe_before
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 0
    assert reload(payout).status == payouts.FAILED


def test_a_payout_failing_before_it_was_paid_returns_the_funds_and_a_late_paid_is_ignored(factory):
    influencer = factory.funded_influencer(10000, "eur")
    payout = payouts.request_payout(influencer, 4000, "eur")

    assert payout_fact(payouts.record_failed, payout.id, "insufficient funds at Stripe") is True
    assert payout_fact(payouts.record_paid, payout.id) is False

    assert reload(payout).status == payouts.FAILED
    assert balances(influencer, "eur") == wallet_of(available=10000)
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 0


def test_a_canceled_payout_returns_the_funds_to_the_wallet(factory):
    influencer = factory.funded_influencer(10000, "eur")
    payout = payouts.request_payout(influencer, 4000, "eur")
    payout_fact(payouts.record_in_transit, payout.id)

    assert payout_fact(payouts.record_canceled, payout.id) is True
    assert payout_fact(payouts.record_canceled, payout.id) is False

    assert reload(payout).status == payouts.CANCELED
    assert balances(influencer, "eur") == wallet_of(available=10000)
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 0
    assert legs("payout_returned", payout_id=payout.id) == {"payouts_in_transit": 4000, "wallet": -4000}


def test_a_payout_stripe_refuses_is_failed_at_once_with_the_money_back_in_the_wallet(factory):
    influencer = factory.funded_influencer(10000, "usd")  # localstripe pays out in EUR only

    with pytest.raises(StripeRefused) as refused:
        payouts.request_payout(influencer, 4000, "usd")

    assert refused.value.details["status"] == payouts.FAILED
    payout = db.session.get(Payout, refused.value.details["payoutId"])
    assert payout.status == payouts.FAILED and payout.failure_message
    assert balances(influencer, "usd") == wallet_of(available=10000)
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "usd", influencer.id) == 0
    assert legs("payout_returned", payout_id=payout.id) == {"payouts_in_transit": 4000, "wallet": -4000}


def test_requesting_more_than_is_available_is_refused_and_writes_nothing(factory):
    influencer = factory.funded_influencer(10000, "eur")
    before = ledger_size()

    with pytest.raises(InsufficientFunds) as refused:
        payouts.request_payout(influencer, 10001, "eur")

    assert refused.value.details == {"availableBalance": 10000, "largestPayableAmount": 10000}
    assert ledger_size() == before
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert balances(influencer, "eur") == wallet_of(available=10000)


def test_an_influencer_with_no_wallet_cannot_withdraw_and_gets_no_accounts_created(factory):
    influencer = factory.user("influencer")
    before = ledger_size()

    with pytest.raises(InsufficientFunds):
        payouts.request_payout(influencer, 1, "eur")

    assert ledger_size() == before
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


def test_money_in_escrow_or_owed_cannot_be_withdrawn(factory, parties):
    company, influencer = parties
    factory.held_payment_direct(company, influencer, 10000, "eur")
    assert balances(influencer, "eur") == wallet_of(pending=9000)

    with pytest.raises(InsufficientFunds):
        payouts.request_payout(influencer, 1, "eur")
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0


# --- the ledger's own guards ---------------------------------------------------------------


def test_the_ledger_refuses_to_post_an_unbalanced_transaction(app, factory):
    influencer = factory.user("influencer")
    before = ledger_size()

    with pytest.raises(UnbalancedTransaction):
        with atomic():
            ledger.post(
                "test",
                "test:unbalanced",
                "usd",
                [
                    ledger.debit(ledger.account(ledger.STRIPE_BALANCE, "usd"), 500),
                    ledger.credit(ledger.account(ledger.WALLET, "usd", influencer.id), 400),
                ],
            )

    assert ledger_size() == before


def test_the_ledger_refuses_a_transaction_mixing_currencies(app, factory):
    influencer = factory.user("influencer")
    before = ledger_size()

    with pytest.raises(UnbalancedTransaction):
        with atomic():
            ledger.post(
                "test",
                "test:mixed",
                "usd",
                [
                    ledger.debit(ledger.account(ledger.STRIPE_BALANCE, "usd"), 500),
                    ledger.credit(ledger.account(ledger.WALLET, "eur", influencer.id), 500),
                ],
            )

    assert ledger_size() == before


def _insert_raw_transaction(key: str, entries: list[tuple[int, int]]) -> None:
    db.session.execute(
        text(
            "INSERT INTO ledger_transactions (id, idempotency_key, kind, currency, description, created_at) "
            "VALUES (:key, :key, 'raw', 'usd', '', now())"
        ),
        {"key": key},
    )
    for account_id, amount in entries:
        db.session.execute(
            text("INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES (:tx, :account, :amount)"),
            {"tx": key, "account": account_id, "amount": amount},
        )


@pytest.mark.backends("postgresql")
def test_the_database_rejects_unbalanced_entries_written_behind_the_ledgers_back(app, factory):
    influencer = factory.user("influencer")
    with atomic():
        stripe_id = ledger.account(ledger.STRIPE_BALANCE, "usd").id
        wallet_id = ledger.account(ledger.WALLET, "usd", influencer.id).id

    # A balanced pair is accepted: the trigger is not simply refusing every insert.
    _insert_raw_transaction("ltx_raw_balanced", [(stripe_id, 500), (wallet_id, -500)])
    db.session.commit()

    _insert_raw_transaction("ltx_raw_unbalanced", [(stripe_id, 500), (wallet_id, -400)])
    db.session.flush()  # the check is deferred: nothing is refused before the commit
    with pytest.raises(IntegrityError, match="unbalanced"):
        db.session.commit()
    db.session.rollback()

    keys = db.session.scalars(select(LedgerTransaction.idempotency_key)).all()
    assert keys == ["ltx_raw_balanced"]
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 2


@pytest.mark.backends("postgresql")
def test_the_database_rejects_an_entry_added_later_to_a_balanced_transaction(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    capture_id = db.session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.payment_id == payment.id))
    wallet_id = ledger.account(ledger.WALLET, "usd", influencer.id).id
    db.session.commit()

    db.session.execute(
        text("INSERT INTO ledger_entries (transaction_id, account_id, amount) VALUES (:tx, :account, -1)"),
        {"tx": capture_id, "account": wallet_id},
    )
    with pytest.raises(IntegrityError, match="unbalanced"):
        db.session.commit()
    db.session.rollback()

    assert balances(influencer, "usd") == wallet_of(pending=9000)
