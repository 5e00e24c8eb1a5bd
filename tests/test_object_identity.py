"""Events are matched by Stripe object id; metadata only finds an object whose id is not stored yet.

An event whose object disagrees with the stored one is flagged and writes nothing; an
object payflow did not create is recorded and not applied; a payout Stripe paid after
payflow itself returned its money is applied (the money leaves the wallet again) and flagged.
"""
from __future__ import annotations

import secrets

import pytest

from payflow import ledger, payouts
from payflow.extensions import db
from payflow.models import Payment, Payout, User, WebhookEvent
from payflow.unit_of_work import atomic
from payflow.wallet import wallet_view
from payflow.webhooks import simulate

from .webhook_helpers import count, deliver, event_row, ledger_kinds, run_jobs


def _apply(app, client, event) -> WebhookEvent:
    assert deliver(client, event).status_code == 200
    run_jobs(app)
    return event_row(event["id"])


def _payout(payout_id: str) -> Payout:
    db.session.expire_all()
    return db.session.get(Payout, payout_id)


def _payment(payment_id: str) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment_id)


def _requested_payout(factory, amount=3000) -> Payout:
    """A payout requested through payflow: PENDING, with the Stripe id Stripe gave it."""
    influencer = factory.funded_influencer(10000, "eur")
    payout = payouts.request_payout(influencer, amount, "eur")
    assert payout.stripe_payout_id
    return _payout(payout.id)


def _about_another_stripe_payout(event_type: str, payout: Payout) -> dict:
    event = simulate.event_for(event_type, payout=payout)
    event["data"]["object"]["id"] = f"po_{secrets.token_hex(12)}"
    return event


# --- payouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["payout.failed", "payout.paid", "payout.canceled", "payout.updated"])
def test_an_event_about_another_stripe_payout_naming_ours_in_its_metadata_is_flagged_and_writes_nothing(
    app, client, factory, event_type
):
    payout = _requested_payout(factory)
    stripe_id, influencer = payout.stripe_payout_id, payout.influencer_id
    event = _about_another_stripe_payout(event_type, payout)

    row = _apply(app, client, event)

    assert (row.status, row.flag_reason, row.applied) == ("flagged", "object_mismatch", False)
    assert stripe_id in row.outcome and event["data"]["object"]["id"] in row.outcome
    after = _payout(payout.id)
    assert (after.status, after.stripe_payout_id) == (payouts.PENDING, stripe_id)
    assert wallet_view(influencer, "eur")["availableBalance"] == 7000
    assert ledger_kinds(payout_id=payout.id) == ["payout"]


def test_the_genuine_event_still_applies_after_a_forged_one_was_flagged(app, client, factory):
    """The issue's case: a failure for po_B naming our payout, then the real paid for po_A."""
    payout = _requested_payout(factory)
    _apply(app, client, _about_another_stripe_payout("payout.failed", payout))
    assert _apply(app, client, simulate.event_for("payout.paid", payout=payout)).status == "processed"
    assert _payout(payout.id).status == payouts.COMPLETED
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 7000
    assert ledger_kinds(payout_id=payout.id) == ["payout", "payout_paid"]


def test_an_event_whose_stripe_payout_is_ours_but_whose_metadata_names_another_payout_is_flagged(
    app, client, factory
):
    payout, other = _requested_payout(factory), _requested_payout(factory)
    event = simulate.event_for("payout.failed", payout=payout)
    event["data"]["object"]["metadata"]["payout_id"] = other.id
    row = _apply(app, client, event)
    assert (row.status, row.flag_reason) == ("flagged", "object_mismatch")
    assert _payout(payout.id).status == _payout(other.id).status == payouts.PENDING


@pytest.mark.parametrize("account", [None, "acct_1SomeoneElse"])
@pytest.mark.parametrize("event_type", ["payout.paid", "payout.failed", "payout.updated"])
def test_a_payout_payflow_did_not_create_is_recorded_and_ignored_not_dead_lettered(app, client, event_type, account):
    """The connected account's owner paid out on their own: no payout_id, no stored Stripe id."""
    obj = {"id": f"po_{secrets.token_hex(12)}", "object": "payout", "amount": 1000, "currency": "eur",
           "status": {"payout.paid": "paid", "payout.failed": "failed", "payout.updated": "in_transit"}[event_type],
           "metadata": {}, "failure_message": None}
    event = simulate.build_event(event_type, obj, account=account)
    row = _apply(app, client, event)
    assert (row.status, row.attempts, row.applied) == ("ignored", 1, False)
    assert "not created by payflow" in row.outcome
    assert row.next_attempt_at is None
    assert count(Payout) == 0


def test_an_ignored_event_writes_no_stripe_id_into_a_payout(app, client, factory):
    """The old lookup stored the event's Stripe id in a payout and then ignored the event."""
    influencer = factory.funded_influencer(10000, "eur")
    payout = payouts.request_payout(influencer, 3000, "eur")
    with atomic():
        locked = payouts.lock_payout(payout.id)
        locked.stripe_payout_id = None  # as if Stripe's answer to the create call was never stored
    event = simulate.event_for("payout.updated", payout=_payout(payout.id))
    event["data"]["object"]["status"] = "pending"
    row = _apply(app, client, event)
    assert row.status == "ignored"
    assert _payout(payout.id).stripe_payout_id is None


def test_metadata_finds_a_payout_whose_stripe_id_is_not_stored_and_the_applied_event_stores_it(app, client, factory):
    influencer = factory.funded_influencer(10000, "eur")
    payout = payouts.request_payout(influencer, 3000, "eur")
    with atomic():
        payouts.lock_payout(payout.id).stripe_payout_id = None
    event = simulate.event_for("payout.paid", payout=_payout(payout.id))
    assert _apply(app, client, event).status == "processed"
    after = _payout(payout.id)
    assert (after.status, after.stripe_payout_id) == (payouts.COMPLETED, event["data"]["object"]["id"])


# --- a payout paid after payflow returned its money ------------------------------------------


def _returned_by_payflow(factory, amount=3000, status="failed") -> Payout:
    """A payout payflow failed or canceled on its own: Stripe never said so."""
    payout = _requested_payout(factory, amount)
    with atomic():
        locked = payouts.lock_payout(payout.id)
        if status == "failed":
            payouts.record_failed(locked, "Stripe did not answer")
        else:
            payouts.record_canceled(locked)
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000
    return _payout(payout.id)


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_a_payout_paid_after_payflow_returned_its_money_takes_it_from_the_wallet_again_and_is_flagged(
    app, client, factory, status
):
    payout = _returned_by_payflow(factory, status=status)
    row = _apply(app, client, simulate.event_for("payout.paid", payout=payout))

    assert (row.status, row.flag_reason, row.applied) == ("flagged", "paid_after_return", True)
    assert _payout(payout.id).status == payouts.COMPLETED
    wallet = wallet_view(payout.influencer_id, "eur")
    assert (wallet["availableBalance"], wallet["receivableBalance"]) == (7000, 0)
    assert ledger_kinds(payout_id=payout.id) == ["payout", "payout_returned", "payout_repaid"]


def test_what_the_wallet_cannot_cover_of_a_payout_paid_after_all_is_owed(app, client, factory):
    payout = _returned_by_payflow(factory, amount=8000)
    influencer = payout.influencer_id
    payouts.request_payout(db.session.get(User, influencer), 9000, "eur")  # spent meanwhile
    assert wallet_view(influencer, "eur")["availableBalance"] == 1000

    row = _apply(app, client, simulate.event_for("payout.paid", payout=payout))

    assert (row.status, row.flag_reason) == ("flagged", "paid_after_return")
    wallet = wallet_view(influencer, "eur")
    assert (wallet["availableBalance"], wallet["receivableBalance"]) == (0, 7000)
    assert "7000" in row.outcome or "70.00" in row.outcome


def test_a_payout_paid_after_all_and_then_failed_by_stripe_returns_the_money_again(app, client, factory):
    payout = _returned_by_payflow(factory)
    _apply(app, client, simulate.event_for("payout.paid", payout=payout))
    row = _apply(app, client, simulate.event_for("payout.failed", payout=_payout(payout.id)))
    assert row.status == "processed"
    assert _payout(payout.id).status == payouts.FAILED
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000
    assert ledger_kinds(payout_id=payout.id) == ["payout", "payout_returned", "payout_repaid", "payout_returned"]


def test_a_paid_delivered_after_stripes_own_failure_of_the_payout_is_the_earlier_fact_and_ignored(app, client, factory):
    """Stripe fails a paid payout, never pays a failed one: the money came back once."""
    payout = _requested_payout(factory)
    _apply(app, client, simulate.event_for("payout.failed", payout=payout))
    row = _apply(app, client, simulate.event_for("payout.paid", payout=payout))
    assert row.status == "ignored"
    assert _payout(payout.id).status == payouts.FAILED
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000


def test_the_ledger_stays_balanced_through_a_payout_paid_after_return(app, client, factory):
    payout = _returned_by_payflow(factory)
    stripe_before = ledger.balance_of(ledger.STRIPE_BALANCE, "eur")
    _apply(app, client, simulate.event_for("payout.paid", payout=payout))
    assert ledger.balance_of(ledger.STRIPE_BALANCE, "eur") == stripe_before - payout.amount
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", payout.influencer_id) == 0


# --- payments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["payment_intent.succeeded", "payment_intent.payment_failed",
                                        "payment_intent.canceled", "charge.refunded"])
def test_an_event_about_one_payments_intent_whose_metadata_names_another_is_flagged_and_writes_nothing(
    app, client, factory, event_type
):
    payment, other = factory.payment(status="HELD"), factory.payment()
    event = simulate.event_for(event_type, payment=payment)
    event["data"]["object"]["metadata"] = {"payment_id": other.id}
    row = _apply(app, client, event)
    assert (row.status, row.flag_reason, row.applied) == ("flagged", "object_mismatch", False)
    assert _payment(payment.id).status == "HELD" and _payment(payment.id).refunded_amount == 0
    assert _payment(other.id).status == "PENDING"


@pytest.mark.parametrize("event_type", ["payment_intent.succeeded", "payment_intent.payment_failed"])
def test_an_intent_payflow_did_not_create_is_recorded_and_ignored(app, client, factory, event_type):
    payment = factory.payment()
    event = simulate.event_for(event_type, payment=payment)
    event["data"]["object"]["id"] = f"pi_{secrets.token_hex(12)}"
    event["data"]["object"]["metadata"] = {}
    row = _apply(app, client, event)
    assert (row.status, row.applied) == ("ignored", False)
    assert "not one of payflow's payments" in row.outcome
    assert _payment(payment.id).status == "PENDING"
