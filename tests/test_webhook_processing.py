"""From a delivered Stripe event to the payment, payout, ledger and notifications: each applied once."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from payflow import payouts
from payflow.extensions import db
from payflow.models import Notification, Payment, Payout, WebhookEvent
from payflow.unit_of_work import atomic
from payflow.wallet import wallet_view
from payflow.webhooks import simulate

from .webhook_helpers import deliver, event_row, ledger_kinds, run_jobs


def _apply(app, client, event) -> str:
    assert deliver(client, event).status_code == 200
    run_jobs(app)
    return event_row(event["id"]).status


def _payment(payment_id) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment_id)


def _messages(user_id) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Notification.message).where(Notification.user_id == user_id).order_by(Notification.id)))


def test_success_holds_the_payment_and_tells_both_sides(app, client, factory):
    payment = factory.payment(amount=5000)
    assert _apply(app, client, simulate.event_for("payment_intent.succeeded", payment=payment)) == "processed"
    assert _payment(payment.id).status == "HELD"
    assert _messages(payment.company_id) == ["Payment Held in Escrow"]
    assert _messages(payment.influencer_id) == ["Payment Secured"]
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500


def test_the_same_event_applied_twice_changes_nothing_the_second_time(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    _apply(app, client, event)
    from payflow.webhooks import handlers

    assert handlers.apply_event(event["id"]) == "processed"  # a second job for the same event
    assert ledger_kinds(payment_id=payment.id) == ["capture"]
    assert len(_messages(payment.influencer_id)) == 1


def test_a_second_success_event_for_the_same_payment_is_ignored(app, client, factory):
    payment = factory.payment()
    _apply(app, client, simulate.event_for("payment_intent.succeeded", payment=payment))
    assert _apply(app, client, simulate.event_for("payment_intent.succeeded", payment=payment)) == "ignored"
    assert ledger_kinds(payment_id=payment.id) == ["capture"]


def test_failure_records_stripes_message_and_allows_a_retry(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.payment_failed", payment=payment, message="Your card has insufficient funds.")
    assert _apply(app, client, event) == "processed"
    failed = _payment(payment.id)
    assert failed.status == "FAILED"
    assert failed.failure_message == "Your card has insufficient funds."
    assert _messages(payment.company_id) == ["Payment Failed: Your card has insufficient funds."]
    response = client.post(f"/payments/{payment.id}/retry", headers=factory.headers(payment.company))
    assert response.status_code == 200 and response.get_json()["status"] == "PENDING"


def test_a_late_failure_does_not_undo_a_success(app, client, factory):
    payment = factory.payment()
    _apply(app, client, simulate.event_for("payment_intent.succeeded", payment=payment))
    assert _apply(app, client, simulate.event_for("payment_intent.payment_failed", payment=payment)) == "ignored"
    assert _payment(payment.id).status == "HELD"
    assert ledger_kinds(payment_id=payment.id) == ["capture"]


def test_a_late_processing_event_does_not_move_a_held_payment_back(app, client, factory):
    payment = factory.payment()
    _apply(app, client, simulate.event_for("payment_intent.succeeded", payment=payment))
    assert _apply(app, client, simulate.event_for("payment_intent.processing", payment=payment)) == "ignored"
    assert _payment(payment.id).status == "HELD"


def test_processing_then_canceled(app, client, factory):
    payment = factory.payment()
    _apply(app, client, simulate.event_for("payment_intent.processing", payment=payment))
    assert _payment(payment.id).status == "PROCESSING"
    _apply(app, client, simulate.event_for("payment_intent.canceled", payment=payment))
    assert _payment(payment.id).status == "CANCELED"
    assert ledger_kinds(payment_id=payment.id) == []


def test_an_unhandled_event_type_is_recorded_and_not_applied(app, client):
    event = simulate.build_event("customer.created", {"id": "cus_1", "object": "customer"})
    assert _apply(app, client, event) == "ignored"
    assert "not handled" in event_row(event["id"]).outcome


def test_a_mismatched_amount_is_flagged_and_not_applied(app, client, factory):
    payment = factory.payment(amount=5000)
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    event["data"]["object"]["amount_received"] = 4000
    assert _apply(app, client, event) == "flagged"
    assert "4000" in event_row(event["id"]).last_error
    assert _payment(payment.id).status == "PENDING"
    assert ledger_kinds(payment_id=payment.id) == []


def test_a_mismatched_currency_is_flagged(app, client, factory):
    payment = factory.payment(currency="usd")
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    event["data"]["object"]["currency"] = "eur"
    assert _apply(app, client, event) == "flagged"
    assert _payment(payment.id).status == "PENDING"


def test_connect_events_are_matched_by_object_like_the_rest(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment, account="acct_1Connected")
    assert _apply(app, client, event) == "processed"
    assert _payment(payment.id).status == "HELD"


# --- refunds -------------------------------------------------------------------------


def _held(app, client, factory, amount=10000):
    payment = factory.payment(amount=amount)
    _apply(app, client, simulate.event_for("payment_intent.succeeded", payment=payment))
    return _payment(payment.id)


def test_a_full_refund_before_release_empties_the_escrow(app, client, factory):
    payment = _held(app, client, factory)
    _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=10000))
    refunded = _payment(payment.id)
    assert refunded.status == "REFUNDED" and refunded.refunded_amount == 10000
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 0


def test_a_partial_refund_before_release_then_release_pays_what_remains(app, client, factory):
    payment = _held(app, client, factory)
    _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=3000))
    assert _payment(payment.id).status == "PARTIALLY_REFUNDED"
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 6300
    response = client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company))
    assert response.status_code == 200
    assert response.get_json()["feeAmount"] == 700
    assert wallet_view(payment.influencer_id, "usd")["availableBalance"] == 6300


def test_a_refund_after_release_claws_back_from_the_wallet_and_the_fee(app, client, factory):
    payment = _held(app, client, factory)
    client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company))
    _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=4000))
    clawed = _payment(payment.id)
    assert clawed.status == "PARTIALLY_REFUNDED" and clawed.fee_amount == 600
    wallet = wallet_view(payment.influencer_id, "usd")
    assert wallet["availableBalance"] == 5400 and wallet["receivableBalance"] == 0


def test_refund_events_out_of_order_apply_the_cumulative_total_once(app, client, factory):
    payment = _held(app, client, factory)
    assert _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=5000)) == "processed"
    assert _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=3000)) == "ignored"
    assert _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=5000)) == "ignored"
    assert _payment(payment.id).refunded_amount == 5000
    assert ledger_kinds(payment_id=payment.id) == ["capture", "refund"]


# --- disputes ------------------------------------------------------------------------


def test_a_won_dispute_returns_the_payment_to_escrow(app, client, factory):
    payment = _held(app, client, factory)
    _apply(app, client, simulate.event_for("charge.dispute.created", payment=payment))
    assert _payment(payment.id).status == "DISPUTED"
    release = client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company))
    assert release.status_code == 409
    _apply(app, client, simulate.event_for("charge.dispute.closed", payment=payment, outcome="won"))
    assert _payment(payment.id).status == "HELD"
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 9000


def test_a_lost_dispute_is_a_refund_of_the_disputed_amount(app, client, factory):
    payment = _held(app, client, factory)
    _apply(app, client, simulate.event_for("charge.dispute.created", payment=payment))
    _apply(app, client, simulate.event_for("charge.dispute.closed", payment=payment, outcome="lost"))
    lost = _payment(payment.id)
    assert lost.status == "REFUNDED" and lost.refunded_amount == 10000
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 0


# --- payouts -------------------------------------------------------------------------


def _payout(factory, amount=3000) -> Payout:
    influencer = factory.funded_influencer(10000, "eur")
    return payouts.request_payout(influencer, amount, "eur")


def _payout_row(payout_id) -> Payout:
    db.session.expire_all()
    return db.session.get(Payout, payout_id)


def test_payout_in_transit_then_paid(app, client, factory):
    payout = _payout(factory)
    _apply(app, client, simulate.event_for("payout.updated", payout=payout))
    assert _payout_row(payout.id).status == "IN_TRANSIT"
    _apply(app, client, simulate.event_for("payout.paid", payout=payout))
    assert _payout_row(payout.id).status == "COMPLETED"
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 7000
    assert _apply(app, client, simulate.event_for("payout.updated", payout=payout)) == "ignored"


def test_a_failed_payout_returns_the_money_once_even_after_it_was_paid(app, client, factory):
    payout = _payout(factory)
    _apply(app, client, simulate.event_for("payout.paid", payout=payout))
    _apply(app, client, simulate.event_for("payout.failed", payout=payout))
    assert _payout_row(payout.id).status == "FAILED"
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000
    assert _apply(app, client, simulate.event_for("payout.failed", payout=payout)) == "ignored"
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000
    assert ledger_kinds(payout_id=payout.id) == ["payout", "payout_paid", "payout_returned"]


def test_a_canceled_payout_returns_the_money(app, client, factory):
    payout = _payout(factory)
    _apply(app, client, simulate.event_for("payout.canceled", payout=payout))
    assert _payout_row(payout.id).status == "CANCELED"
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000


def test_a_paid_event_after_a_failure_does_not_take_the_money_again(app, client, factory):
    payout = _payout(factory)
    _apply(app, client, simulate.event_for("payout.failed", payout=payout))
    assert _apply(app, client, simulate.event_for("payout.paid", payout=payout)) == "ignored"
    assert _payout_row(payout.id).status == "FAILED"
    assert wallet_view(payout.influencer_id, "eur")["availableBalance"] == 10000


@pytest.mark.parametrize("event_type", ["payout.paid", "payout.failed"])
def test_a_payout_event_with_another_amount_is_flagged(app, client, factory, event_type):
    payout = _payout(factory)
    event = simulate.event_for(event_type, payout=payout)
    event["data"]["object"]["amount"] = 1
    assert _apply(app, client, event) == "flagged"
    assert _payout_row(payout.id).status == "PENDING"


def test_events_for_an_unknown_payment_are_retried_not_dropped(app, client, factory):
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    event["data"]["object"]["id"] = "pi_not_ours"
    assert _apply(app, client, event) == "retrying"
    row = event_row(event["id"])
    assert row.attempts == 1 and row.next_attempt_at is not None and "pi_not_ours" in row.last_error
    assert _payment(payment.id).status == "PENDING"


def test_a_dead_lettered_dispute_end_is_woken_when_the_dispute_it_waited_for_arrives(app, client, factory):
    payment = _held(app, client, factory)
    closed = simulate.event_for("charge.dispute.closed", payment=payment, outcome="won")
    deliver(client, closed)
    run_jobs(app)
    with atomic():
        db.session.get(WebhookEvent, closed["id"]).status = "dead"  # its retries ran out
    _apply(app, client, simulate.event_for("charge.dispute.created", payment=payment))
    assert event_row(closed["id"]).status == "processed"
    assert _payment(payment.id).status == "HELD"
