"""Property-based tests of the ledger: random histories of payments, refunds (some failing later) and payouts.

A state machine drives the domain functions (``payments.*``, ``payouts.*``) through
random sequences and keeps a plain model of what every wallet should hold. After
every step the books are checked against the model and against themselves.
"""
from __future__ import annotations

from fractions import Fraction
from math import ceil

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from payflow import ledger, payments, payouts, refunds, wallet
from payflow.payout_rules import PayoutAmountNotPayable
from payflow.errors import InsufficientFunds, InvalidTransition
from payflow.extensions import db
from payflow.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payment, Payout, Refund
from payflow.money import platform_fee, split
from payflow.unit_of_work import atomic

from .conftest import _clean
from .factories import Factory

CURRENCIES = ("usd", "jpy", "eur")
FEE_RATES = (0, 1, 250, 1000, 3333, 9999, 10000)
# Every step hits the database, so shrinking a failure can take minutes (past the
# suite's 120 s timeout): a failure is reported as found, its steps printed in full.
STATE_SETTINGS = settings(
    max_examples=25,
    stateful_step_count=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- the fee split ----------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(amount=st.integers(0, 10**9), bps=st.integers(0, 10000))
def test_split_gives_a_rounded_up_fee_and_the_exact_remainder(amount, bps):
    fee, net = split(amount, bps)
    assert fee + net == amount
    assert fee == ceil(Fraction(amount * bps, 10000))
    assert 0 <= fee <= amount and net >= 0


# --- the state machine ----------------------------------------------------------------------


class Model:
    """What each influencer's wallet should hold, worked out independently of the ledger."""

    def __init__(self):
        self.wallets: dict[tuple[str, str], dict[str, int]] = {}

    def wallet(self, user_id: str, currency: str) -> dict[str, int]:
        return self.wallets.setdefault((user_id, currency), {"available": 0, "pending": 0, "receivable": 0})

    def pay(self, user_id: str, currency: str, amount: int) -> None:
        """Credit an influencer: what they owe is settled first."""
        w = self.wallet(user_id, currency)
        settle = min(w["receivable"], amount)
        w["receivable"] -= settle
        w["available"] += amount - settle


class LedgerMachine(RuleBasedStateMachine):
    app = None  # set by the test that runs the machine

    def __init__(self):
        super().__init__()
        db.session.remove()
        _clean(self.app)
        self.factory = Factory(self.app, self.app.test_client())
        self.model = Model()
        self.payments: dict[str, dict] = {}  # id -> {"released": bool, "refunded": int, ...}
        self.payouts: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}  # id -> {"payment", "amount", "failed"}

    @initialize(
        funds=st.lists(st.integers(1, 10**6), min_size=2, max_size=2),
        fee_bps=st.sampled_from(FEE_RATES),
    )
    def make_people_with_some_euros_released(self, funds, fee_bps):
        self.company = self.factory.user("company")
        self.influencers = [self.factory.user("influencer"), self.factory.user("influencer")]
        # Payouts need released euros: start each influencer with a released payment.
        for who, amount in enumerate(funds):
            self._release(self._capture(who, amount, "eur", fee_bps))

    # --- rules -----------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        amount=st.integers(1, 10**6),
        currency=st.sampled_from(CURRENCIES),
        fee_bps=st.sampled_from(FEE_RATES),
    )
    def capture(self, who, amount, currency, fee_bps):
        self._capture(who, amount, currency, fee_bps)

    def _capture(self, who, amount, currency, fee_bps) -> str:
        influencer = self.influencers[who]
        payment = self.factory.held_payment_direct(self.company, influencer, amount, currency, fee_bps)
        assert payment.status == payments.HELD
        self.payments[payment.id] = {
            "influencer": influencer.id,
            "currency": currency,
            "amount": amount,
            "fee_bps": fee_bps,
            "refunded": 0,
            "released": False,
        }
        self.model.wallet(influencer.id, currency)["pending"] += split(amount, fee_bps)[1]
        return payment.id

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def release(self, data):
        self._release(data.draw(st.sampled_from(sorted(self.payments))))

    def _release(self, payment_id: str) -> None:
        p = self.payments[payment_id]
        remaining = p["amount"] - p["refunded"]
        if p["released"] or remaining == 0:
            with pytest.raises(InvalidTransition):
                payments.release_payment(self.company, payment_id)
            return
        payments.release_payment(self.company, payment_id)
        net = split(remaining, p["fee_bps"])[1]
        self.model.wallet(p["influencer"], p["currency"])["pending"] -= net
        self.model.pay(p["influencer"], p["currency"], net)
        p["released"] = True
        p["refunded_at_release"] = p["refunded"]

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def refund(self, data):
        payment_id = data.draw(st.sampled_from(sorted(self.payments)))
        p = self.payments[payment_id]
        # Any cumulative total: lower or equal ones are stale or repeated events.
        cumulative = data.draw(
            st.one_of(st.integers(p["refunded"], p["amount"]), st.integers(0, p["amount"])), label="cumulative refunded"
        )
        self._refund(payment_id, cumulative)

    @precondition(lambda self: any(p["released"] and p["refunded"] < p["amount"] for p in self.payments.values()))
    @rule(data=st.data())
    def claw_back(self, data):
        """A refund after release, the likeliest way to leave an influencer owing money."""
        payment_id = data.draw(
            st.sampled_from(sorted(i for i, p in self.payments.items() if p["released"] and p["refunded"] < p["amount"]))
        )
        p = self.payments[payment_id]
        self._refund(payment_id, data.draw(st.integers(p["refunded"] + 1, p["amount"]), label="cumulative refunded"))

    def _refund(self, payment_id: str, cumulative: int) -> None:
        p = self.payments[payment_id]
        if cumulative > p["refunded"]:  # a new refund: payflow asked for it and Stripe made it
            self._refund_row(payment_id, cumulative - p["refunded"])
        with atomic():
            moved = payments.record_refund_total(payments.lock_payment(payment_id), cumulative, p["currency"])
        assert moved == (cumulative > p["refunded"])
        if not moved:
            return
        old_fee, old_net = split(p["amount"] - p["refunded"], p["fee_bps"])
        new_fee, new_net = split(p["amount"] - cumulative, p["fee_bps"])
        net_back = old_net - new_net
        w = self.model.wallet(p["influencer"], p["currency"])
        if p["released"]:
            from_wallet = min(w["available"], net_back)
            w["available"] -= from_wallet
            w["receivable"] += net_back - from_wallet
        else:
            w["pending"] -= net_back
        p["refunded"] = cumulative

    def _refund_row(self, payment_id: str, amount: int) -> None:
        p = self.payments[payment_id]
        with atomic():
            refund = Refund(payment_id=payment_id, amount=amount, currency=p["currency"], status=refunds.SUCCEEDED,
                            stripe_refund_id=f"re_model_{len(self.refunds)}", idempotency_key=f"model-{len(self.refunds)}")
            db.session.add(refund)
            db.session.flush()
            self.refunds[refund.id] = {"payment": payment_id, "amount": amount, "failed": False}

    @precondition(lambda self: any(not r["failed"] for r in self.refunds.values()))
    @rule(data=st.data(), status=st.sampled_from([refunds.FAILED, refunds.CANCELED]), times=st.integers(1, 2))
    def refund_fails(self, data, status, times):
        """Stripe reports an applied refund failed (or canceled), once or twice: its money comes back once."""
        refund_id = data.draw(st.sampled_from(sorted(i for i, r in self.refunds.items() if not r["failed"])))
        r = self.refunds[refund_id]
        p = self.payments[r["payment"]]
        for attempt in range(times):
            with atomic():
                payment, refund = refunds.lock_refund(refund_id)
                moved = refunds.record_ended(payment, refund, status, "expired_or_canceled_card")
            assert moved is (attempt == 0)
        old_net = split(p["amount"] - p["refunded"], p["fee_bps"])[1]
        new_net = split(p["amount"] - p["refunded"] + r["amount"], p["fee_bps"])[1]
        if p["released"]:
            self.model.pay(p["influencer"], p["currency"], new_net - old_net)
        else:
            self.model.wallet(p["influencer"], p["currency"])["pending"] += new_net - old_net
        p["refunded"] -= r["amount"]
        r["failed"] = True

    @rule(who=st.integers(0, 1), data=st.data())
    def request_payout(self, who, data):
        influencer = self.influencers[who]
        w = self.model.wallet(influencer.id, "eur")
        available = w["available"]
        amount = data.draw(
            st.one_of(
                st.just(max(1, available)), st.integers(1, max(1, available)), st.integers(available + 1, available + 100)
            ),
            label="payout amount",
        )
        if amount > w["available"]:
            with pytest.raises(InsufficientFunds):
                payouts.request_payout(influencer, amount, "eur")
            return
        if amount < 100:  # Stripe pays out at least one euro: refused before anything moves
            with pytest.raises(PayoutAmountNotPayable) as refused:
                payouts.request_payout(influencer, amount, "eur")
            assert refused.value.details["largestPayableAmount"] == 0
            return
        payout = payouts.request_payout(influencer, amount, "eur")
        w["available"] -= amount
        self.payouts[payout.id] = {"influencer": influencer.id, "amount": amount, "status": payouts.PENDING}

    @precondition(lambda self: self.payouts)
    @rule(data=st.data())
    def payout_paid(self, data):
        self._payout_fact(data, "paid")

    @precondition(lambda self: self.payouts)
    @rule(data=st.data())
    def payout_failed(self, data):
        self._payout_fact(data, "failed")

    @precondition(lambda self: self.payouts)
    @rule(data=st.data())
    def payout_canceled(self, data):
        self._payout_fact(data, "canceled")

    def _payout_fact(self, data, fact: str) -> None:
        payout_id = data.draw(st.sampled_from(sorted(self.payouts)))
        p = self.payouts[payout_id]
        record = {"paid": payouts.record_paid, "failed": payouts.record_failed, "canceled": payouts.record_canceled}[fact]
        args = ("bank said no",) if fact == "failed" else ()
        with atomic():
            moved = record(payouts.lock_payout(payout_id), *args)
        still_open = p["status"] == payouts.PENDING
        expected = {
            "paid": still_open,
            "failed": still_open or p["status"] == payouts.COMPLETED,
            "canceled": still_open,
        }[fact]
        assert moved == expected
        if not moved:
            return
        p["status"] = {"paid": payouts.COMPLETED, "failed": payouts.FAILED, "canceled": payouts.CANCELED}[fact]
        if fact in ("failed", "canceled"):
            self.model.pay(p["influencer"], "eur", p["amount"])

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def every_transaction_sums_to_zero(self):
        db.session.rollback()
        unbalanced = db.session.execute(
            select(LedgerEntry.transaction_id, func.sum(LedgerEntry.amount))
            .group_by(LedgerEntry.transaction_id)
            .having(func.sum(LedgerEntry.amount) != 0)
        ).all()
        assert unbalanced == []

    @invariant()
    def every_currency_sums_to_zero(self):
        totals = db.session.execute(
            select(LedgerAccount.currency, func.sum(LedgerEntry.amount))
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .group_by(LedgerAccount.currency)
        ).all()
        assert all(total == 0 for _, total in totals), totals

    @invariant()
    def wallets_are_the_signed_sums_of_their_accounts_and_match_the_model(self):
        if not hasattr(self, "influencers"):
            return
        for influencer in self.influencers:
            for currency in CURRENCIES:
                view = wallet.wallet_view(influencer.id, currency)
                raw = {}
                for purpose, key in ((ledger.WALLET, "available"), (ledger.ESCROW, "pending"), (ledger.RECEIVABLE, "receivable")):
                    signed = db.session.scalar(
                        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                        .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
                        .where(LedgerAccount.code == ledger.account_code(purpose, currency, influencer.id))
                    )
                    raw[key] = int(signed) if ledger.NORMAL_SIDE[purpose] == "debit" else -int(signed)
                assert view["availableBalance"] == raw["available"]
                assert view["pendingBalance"] == raw["pending"]
                assert view["receivableBalance"] == raw["receivable"]
                assert view["availableBalance"] >= 0
                assert view["pendingBalance"] >= 0 and view["receivableBalance"] >= 0
                # money owed is settled before anything becomes withdrawable again
                assert view["availableBalance"] == 0 or view["receivableBalance"] == 0
                assert raw == self.model.wallet(influencer.id, currency)

    @invariant()
    def every_payment_splits_into_fee_and_net_that_add_up_to_its_gross(self):
        for payment_id, p in self.payments.items():
            payment = db.session.get(Payment, payment_id)
            remaining = p["amount"] - p["refunded"]
            assert payment.refunded_amount == p["refunded"]
            by_purpose = dict(
                db.session.execute(
                    select(LedgerAccount.purpose, func.sum(LedgerEntry.amount))
                    .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
                    .join(LedgerTransaction, LedgerEntry.transaction_id == LedgerTransaction.id)
                    .where(LedgerTransaction.payment_id == payment_id)
                    .group_by(LedgerAccount.purpose)
                ).all()
            )
            gross = int(by_purpose.get(ledger.STRIPE_BALANCE, 0))
            assert gross == remaining
            fee = -int(by_purpose.get(ledger.ESCROW_FEES, 0)) - int(by_purpose.get(ledger.PLATFORM_FEES, 0))
            net = -sum(int(by_purpose.get(purpose, 0)) for purpose in (ledger.ESCROW, ledger.WALLET, ledger.RECEIVABLE))
            assert fee + net == gross
            assert fee == platform_fee(remaining, p["fee_bps"])
            if p["released"]:
                assert int(by_purpose.get(ledger.ESCROW, 0)) == 0 and int(by_purpose.get(ledger.ESCROW_FEES, 0)) == 0
                assert payment.fee_amount == fee
            else:
                assert int(by_purpose.get(ledger.PLATFORM_FEES, 0)) == 0
            if remaining == 0:
                expected_status = payments.REFUNDED
            elif p["released"]:
                # refunds before the release end with the release; only later ones show
                refunded_since = p["refunded"] > p["refunded_at_release"]
                expected_status = payments.PARTIALLY_REFUNDED if refunded_since else payments.RELEASED
            else:
                expected_status = payments.PARTIALLY_REFUNDED if p["refunded"] else payments.HELD
            assert payment.status == expected_status, (payment.status, p)

    @invariant()
    def payouts_in_transit_hold_exactly_the_open_payouts(self):
        if not hasattr(self, "influencers"):
            return
        for influencer in self.influencers:
            open_total = sum(
                p["amount"]
                for p in self.payouts.values()
                if p["influencer"] == influencer.id and p["status"] == payouts.PENDING
            )
            assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == open_total
        for payout_id, p in self.payouts.items():
            status = db.session.get(Payout, payout_id).status
            if p["status"] == payouts.PENDING:
                assert status in (payouts.PENDING, payouts.IN_TRANSIT)
            else:
                assert status == p["status"]

    def teardown(self):
        db.session.remove()


def test_random_histories_keep_the_books_balanced_and_the_wallets_right(app):
    machine = type("Machine", (LedgerMachine,), {"app": app})
    run_state_machine_as_test(machine, settings=STATE_SETTINGS)


# --- a @given over whole histories, refunds before and after release ------------------------


@STATE_SETTINGS
@given(
    amount=st.integers(1, 10**6),
    currency=st.sampled_from(CURRENCIES),
    fee_bps=st.sampled_from(FEE_RATES),
    data=st.data(),
)
def test_any_refunds_around_a_release_leave_fee_plus_net_equal_to_what_was_kept(app, amount, currency, fee_bps, data):
    db.session.remove()
    _clean(app)
    factory = Factory(app, app.test_client())
    company, influencer = factory.user("company"), factory.user("influencer")
    payment_id = factory.held_payment_direct(company, influencer, amount, currency, fee_bps).id
    totals = st.lists(st.integers(0, amount), max_size=3)  # cumulative, in any order, repeats allowed

    refunded = 0
    for cumulative in data.draw(totals, label="refund totals before release"):
        with atomic():
            payments.record_refund_total(payments.lock_payment(payment_id), cumulative, currency)
        refunded = max(refunded, cumulative)
    released = refunded < amount
    if released:
        payments.release_payment(company, payment_id)
        fee, net = split(amount - refunded, fee_bps)
        assert wallet.wallet_view(influencer.id, currency)["availableBalance"] == net
        assert ledger.balance_of(ledger.PLATFORM_FEES, currency) == fee
    for cumulative in data.draw(totals, label="refund totals after release"):
        with atomic():
            payments.record_refund_total(payments.lock_payment(payment_id), cumulative, currency)
        refunded = max(refunded, cumulative)

    kept = amount - refunded
    fee, net = split(kept, fee_bps)
    view = wallet.wallet_view(influencer.id, currency)
    assert view["availableBalance"] == (net if released else 0)
    assert view["pendingBalance"] == (0 if released else net)
    assert view["receivableBalance"] == 0  # nothing was paid out, so the wallet covers every clawback
    assert ledger.balance_of(ledger.PLATFORM_FEES, currency) == (fee if released else 0)
    assert ledger.balance_of(ledger.ESCROW_FEES, currency) == (0 if released else fee)
    assert ledger.balance_of(ledger.STRIPE_BALANCE, currency) == kept
    final = db.session.get(Payment, payment_id)
    assert final.refunded_amount == refunded
    assert final.fee_amount == (fee if released else 0)
    sums = db.session.scalars(select(func.sum(LedgerEntry.amount)).group_by(LedgerEntry.transaction_id)).all()
    assert sums and all(total == 0 for total in sums)
