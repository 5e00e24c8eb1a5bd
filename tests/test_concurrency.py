"""Races: two requests or webhook jobs acting on the same money at once, on both databases.

Each contender runs in its own thread with its own app context (so its own session
and database connection); a barrier starts them together. Row locks (PostgreSQL) and
the write lock taken at ``BEGIN IMMEDIATE`` (SQLite) must serialise them so that money
moves once and no balance goes negative.
"""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from payflow import ledger, payments, payouts, refunds, wallet
from payflow.errors import InsufficientFunds, InvalidTransition, Unprocessable
from payflow.extensions import db
from payflow.models import LedgerEntry, LedgerTransaction, Payment, Payout, Refund, User
from payflow.unit_of_work import atomic

def race(app, *contenders, timeout: float = 30.0) -> list:
    """Run the callables at the same moment, each in its own app context; their results or exceptions."""
    barrier = threading.Barrier(len(contenders))
    outcomes: list = [None] * len(contenders)

    def run(index, contender):
        with app.app_context():
            try:
                barrier.wait(timeout)
                outcomes[index] = contender()
            except BaseException as exc:  # noqa: BLE001 - the outcome is what the test checks
                outcomes[index] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, c), daemon=True) for i, c in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a contender is stuck (deadlock?)"
    db.session.expire_all()
    return outcomes


def errors(outcomes) -> list:
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


def successes(outcomes) -> list:
    return [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]


def count_transactions(kind: str, **where) -> int:
    query = select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.kind == kind)
    for column, value in where.items():
        query = query.where(getattr(LedgerTransaction, column) == value)
    return db.session.scalar(query)


def assert_books_balance() -> None:
    unbalanced = db.session.execute(
        select(LedgerEntry.transaction_id).group_by(LedgerEntry.transaction_id).having(func.sum(LedgerEntry.amount) != 0)
    ).all()
    assert unbalanced == []


def test_two_simultaneous_releases_of_one_payment_credit_the_wallet_once(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    company_id, payment_id = company.id, payment.id
    db.session.commit()

    def release():
        return payments.release_payment(db.session.get(User, company_id), payment_id).status

    outcomes = race(app, release, release)

    assert successes(outcomes) == [payments.RELEASED]
    assert [type(error) for error in errors(outcomes)] == [InvalidTransition], outcomes
    assert count_transactions("release", payment_id=payment_id) == 1
    view = wallet.wallet_view(influencer.id, "usd")
    assert (view["availableBalance"], view["pendingBalance"]) == (9000, 0)
    assert ledger.balance_of(ledger.PLATFORM_FEES, "usd") == 1000
    assert db.session.get(Payment, payment_id).status == payments.RELEASED
    assert_books_balance()


def test_two_payout_requests_that_together_exceed_the_balance_let_only_one_through(app, factory):
    influencer = factory.funded_influencer(10000, "eur")
    influencer_id = influencer.id
    db.session.commit()

    def withdraw():
        return payouts.request_payout(db.session.get(User, influencer_id), 6000, "eur").id

    outcomes = race(app, withdraw, withdraw)

    assert len(successes(outcomes)) == 1, outcomes
    assert [type(error) for error in errors(outcomes)] == [InsufficientFunds], outcomes
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 1
    assert count_transactions("payout") == 1
    assert wallet.wallet_view(influencer_id, "eur")["availableBalance"] == 4000
    assert_books_balance()


def test_many_payout_requests_at_once_never_overdraw_the_wallet(app, factory):
    influencer = factory.funded_influencer(10000, "eur")
    influencer_id = influencer.id
    db.session.commit()

    def withdraw():
        return payouts.request_payout(db.session.get(User, influencer_id), 3000, "eur").id

    outcomes = race(app, *[withdraw] * 5)

    assert len(successes(outcomes)) == 3, outcomes
    assert all(isinstance(error, InsufficientFunds) for error in errors(outcomes)), outcomes
    assert wallet.wallet_view(influencer_id, "eur")["availableBalance"] == 1000
    assert_books_balance()


def test_the_same_refund_total_recorded_twice_at_once_is_applied_once(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    payment_id = payment.id
    db.session.commit()

    def record():
        with atomic():
            return payments.record_refund_total(payments.lock_payment(payment_id), 4000, "usd")

    outcomes = race(app, record, record)

    assert sorted(outcomes) == [False, True], outcomes
    assert count_transactions("refund", payment_id=payment_id) == 1
    refreshed = db.session.get(Payment, payment_id)
    assert refreshed.refunded_amount == 4000 and refreshed.status == payments.PARTIALLY_REFUNDED
    assert wallet.wallet_view(influencer.id, "usd")["pendingBalance"] == 5400
    assert_books_balance()


def test_a_refund_racing_a_release_leaves_the_books_consistent_whichever_wins(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    company_id, payment_id = company.id, payment.id
    db.session.commit()

    def release():
        # its released_at, as committed: its status, read later, may already show the refund
        return payments.release_payment(db.session.get(User, company_id), payment_id).released_at is not None

    def refund():
        with atomic():
            return payments.record_refund_total(payments.lock_payment(payment_id), 4000, "usd")

    released, refunded = race(app, release, refund)

    assert released is True and refunded is True, (released, refunded)
    final = db.session.get(Payment, payment_id)
    assert final.refunded_amount == 4000 and final.fee_amount == 600
    view = wallet.wallet_view(influencer.id, "usd")
    # Refund first: 6000 released (net 5400). Release first: 9000 released, 3600 clawed back.
    assert (view["availableBalance"], view["pendingBalance"], view["receivableBalance"]) == (5400, 0, 0)
    assert ledger.balance_of(ledger.PLATFORM_FEES, "usd") == 600
    assert ledger.balance_of(ledger.ESCROW_FEES, "usd") == 0
    assert_books_balance()


def test_a_clawback_racing_a_payout_never_leaves_a_negative_balance(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, payment.id)
    influencer_id, payment_id = influencer.id, payment.id
    db.session.commit()

    def withdraw():
        return payouts.request_payout(db.session.get(User, influencer_id), 9000, "eur").id

    def claw_back():
        with atomic():
            return payments.record_refund_total(payments.lock_payment(payment_id), 10000, "eur")

    paid_out, clawed = race(app, withdraw, claw_back)

    assert clawed is True
    view = wallet.wallet_view(influencer_id, "eur")
    assert view["availableBalance"] == 0
    if isinstance(paid_out, BaseException):  # the clawback came first: nothing left to withdraw
        assert isinstance(paid_out, InsufficientFunds), paid_out
        assert view["receivableBalance"] == 0
    else:  # the payout came first: the influencer owes what was paid out
        assert view["receivableBalance"] == 9000
    assert_books_balance()


def test_two_payments_released_at_once_to_one_new_influencer_both_reach_the_wallet(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    first = factory.held_payment_direct(company, influencer, 10000, "usd")
    second = factory.held_payment_direct(company, influencer, 20000, "usd")
    company_id, ids = company.id, (first.id, second.id)
    db.session.commit()

    def release(payment_id):
        return lambda: payments.release_payment(db.session.get(User, company_id), payment_id).status

    outcomes = race(app, release(ids[0]), release(ids[1]))  # both create the wallet account

    assert outcomes == [payments.RELEASED, payments.RELEASED]
    view = wallet.wallet_view(influencer.id, "usd")
    assert (view["availableBalance"], view["pendingBalance"]) == (9000 + 18000, 0)
    assert_books_balance()


def test_two_releases_at_once_to_an_influencer_who_owes_settle_the_debt_only_once(app, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    owed = factory.held_payment_direct(company, influencer, 10000, "eur")
    payments.release_payment(company, owed.id)
    payouts.request_payout(influencer, 8000, "eur")
    with atomic():
        payments.record_refund_total(payments.lock_payment(owed.id), 10000, "eur")
    assert wallet.wallet_view(influencer.id, "eur")["receivableBalance"] == 8000
    first = factory.held_payment_direct(company, influencer, 10000, "eur")
    second = factory.held_payment_direct(company, influencer, 10000, "eur")
    company_id, ids = company.id, (first.id, second.id)
    db.session.commit()

    def release(payment_id):
        return lambda: payments.release_payment(db.session.get(User, company_id), payment_id).status

    outcomes = race(app, release(ids[0]), release(ids[1]))

    assert outcomes == [payments.RELEASED, payments.RELEASED]
    view = wallet.wallet_view(influencer.id, "eur")
    assert (view["availableBalance"], view["receivableBalance"]) == (9000 + 9000 - 8000, 0)
    assert_books_balance()


def test_two_refund_requests_that_together_exceed_the_payment_let_only_one_through(app, factory):
    payment = factory.payment(amount=5000, status=payments.HELD)
    company_id, payment_id = payment.company_id, payment.id
    db.session.commit()

    def refund():
        return refunds.request_refund(db.session.get(User, company_id), payment_id, 3000).id

    outcomes = race(app, refund, refund)

    assert len(successes(outcomes)) == 1, outcomes
    [refused] = errors(outcomes)
    assert isinstance(refused, Unprocessable) and refused.details == {"refundable": 2000}, refused
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
