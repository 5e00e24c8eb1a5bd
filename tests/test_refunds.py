"""Refunds (``payflow.refunds``): requested once, applied when Stripe confirms, put back once if they fail.

A refund is requested through the API (localstripe makes it), ``charge.refunded`` applies
it to the payment, and ``charge.refund.updated`` / ``refund.updated`` / ``refund.failed``
report that it failed or was canceled afterwards (SPEC §5, "refund that fails").
"""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from payflow import ledger, payments, refunds
from payflow.extensions import db
from payflow.models import LedgerTransaction, Notification, Payment, Refund
from payflow.wallet import wallet_view
from payflow.webhooks import inbox, simulate

from .webhook_helpers import deliver, event_row, ledger_kinds, run_jobs

FAILURE_EVENTS = simulate.REFUND_EVENTS


def _apply(app, client, event) -> str:
    assert deliver(client, event).status_code == 200
    run_jobs(app)
    return event_row(event["id"]).status


def _payment(payment_id) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment_id)


def _refund(refund_id) -> Refund:
    db.session.expire_all()
    return db.session.get(Refund, refund_id)


def _request(client, factory, payment, amount=None):
    body = {} if amount is None else {"amount": amount}
    response = client.post(f"/payments/{payment.id}/refund", json=body, headers=factory.headers(payment.company))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def _charge_refunded(app, client, payment, total) -> str:
    return _apply(app, client, simulate.event_for("charge.refunded", payment=_payment(payment.id), amount=total))


def _fails(app, client, payment, refund_id, event_type="refund.failed", status="failed") -> str:
    event = simulate.refund_event(event_type, _refund(refund_id), _payment(payment.id), status)
    return _apply(app, client, event)


def _platform(currency):
    return {purpose: ledger.balance_of(purpose, currency)
            for purpose in (ledger.STRIPE_BALANCE, ledger.ESCROW_FEES, ledger.PLATFORM_FEES)}


# --- requesting ------------------------------------------------------------------------------


def test_a_refund_request_is_recorded_with_stripes_refund_and_leaves_the_payment_until_stripe_confirms(
    client, factory
):
    payment = factory.payment(amount=5000, status=payments.HELD)
    body = _request(client, factory, payment, 2000)
    assert body["id"].startswith("rf_") and body["paymentId"] == payment.id
    assert body["amount"] == 2000 and body["status"] == refunds.SUCCEEDED  # localstripe refunds at once
    assert body["stripeRefundId"].startswith("re_") and body["awaitingStripe"] is False
    refund = _refund(body["id"])
    assert refund.idempotency_key == f"payflow-refund-{refund.id}" and refund.applied is False
    assert _payment(payment.id).status == payments.HELD and _payment(payment.id).refunded_amount == 0


def test_refunds_in_flight_count_against_what_is_left_to_refund(client, factory):
    payment = factory.payment(amount=5000, status=payments.HELD)
    _request(client, factory, payment, 3000)
    headers = factory.headers(payment.company)
    too_much = client.post(f"/payments/{payment.id}/refund", json={"amount": 2001}, headers=headers)
    assert too_much.status_code == 422
    assert too_much.get_json()["error"] == {**too_much.get_json()["error"], "code": "refund_exceeds_payment",
                                            "refundable": 2000}
    rest = _request(client, factory, payment)  # no amount: all that is left
    assert rest["amount"] == 2000
    nothing_left = client.post(f"/payments/{payment.id}/refund", json={}, headers=headers)
    assert nothing_left.status_code == 409
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 2


def test_a_refund_confirmed_by_charge_refunded_is_applied_and_marked(app, client, factory):
    payment = factory.payment(amount=5000, status=payments.HELD)
    body = _request(client, factory, payment, 2000)
    assert _charge_refunded(app, client, payment, 2000) == inbox.PROCESSED
    assert _refund(body["id"]).applied is True
    assert _payment(payment.id).status == payments.PARTIALLY_REFUNDED
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 2700


# --- a refund that fails after charge.refunded ------------------------------------------------


@pytest.mark.parametrize("event_type", FAILURE_EVENTS)
def test_a_full_refund_that_fails_after_charge_refunded_puts_the_money_back_in_escrow(
    app, client, factory, event_type
):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment)
    _charge_refunded(app, client, payment, 10000)
    assert _payment(payment.id).status == payments.REFUNDED
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 0

    assert _fails(app, client, payment, body["id"], event_type) == inbox.PROCESSED

    restored = _payment(payment.id)
    assert restored.status == payments.HELD and restored.refunded_amount == 0
    assert _refund(body["id"]).status == refunds.FAILED
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 9000
    assert _platform("usd") == {"stripe_balance": 10000, "escrow_fees": 1000, "platform_fees": 0}
    released = client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company))
    assert released.status_code == 200 and released.get_json()["feeAmount"] == 1000
    assert wallet_view(payment.influencer_id, "usd")["availableBalance"] == 9000


def test_a_refund_failure_delivered_twice_and_reported_by_all_three_event_types_is_put_back_once(
    app, client, factory
):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment, 4000)
    _charge_refunded(app, client, payment, 4000)
    first = simulate.refund_event("charge.refund.updated", _refund(body["id"]), _payment(payment.id), "failed")

    assert _apply(app, client, first) == inbox.PROCESSED
    assert deliver(client, first).get_json()["duplicate"] is True
    for event_type in ("refund.updated", "refund.failed"):
        assert _fails(app, client, payment, body["id"], event_type) == inbox.IGNORED

    assert ledger_kinds(payment_id=payment.id).count("refund_reversed") == 1
    assert _payment(payment.id).refunded_amount == 0
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 9000


def test_a_refund_that_fails_after_release_goes_back_to_the_wallet_and_the_platform_fee(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.RELEASED)
    body = _request(client, factory, payment, 4000)
    _charge_refunded(app, client, payment, 4000)
    assert wallet_view(payment.influencer_id, "usd")["availableBalance"] == 5400
    assert _platform("usd")["platform_fees"] == 600

    assert _fails(app, client, payment, body["id"]) == inbox.PROCESSED

    restored = _payment(payment.id)
    assert restored.status == payments.RELEASED and restored.refunded_amount == 0 and restored.fee_amount == 1000
    assert wallet_view(payment.influencer_id, "usd")["availableBalance"] == 9000
    assert _platform("usd") == {"stripe_balance": 10000, "escrow_fees": 0, "platform_fees": 1000}


def test_a_canceled_refund_is_put_back_like_a_failed_one(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment, 2500)
    _charge_refunded(app, client, payment, 2500)
    assert _fails(app, client, payment, body["id"], "charge.refund.updated", status="canceled") == inbox.PROCESSED
    assert _refund(body["id"]).status == refunds.CANCELED
    assert _payment(payment.id).status == payments.HELD


def test_only_the_refund_that_failed_is_put_back_matched_by_its_stripe_id_not_its_amount(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.HELD)
    first = _request(client, factory, payment, 3000)
    second = _request(client, factory, payment, 3000)
    _charge_refunded(app, client, payment, 3000)
    _charge_refunded(app, client, payment, 6000)

    assert _fails(app, client, payment, second["id"]) == inbox.PROCESSED

    assert _refund(first["id"]).status == refunds.SUCCEEDED and _refund(second["id"]).status == refunds.FAILED
    assert _payment(payment.id).refunded_amount == 3000
    assert _payment(payment.id).status == payments.PARTIALLY_REFUNDED
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 6300


def test_a_failure_reported_before_charge_refunded_moves_nothing_and_the_stale_total_is_not_applied(
    app, client, factory
):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment, 4000)

    assert _fails(app, client, payment, body["id"]) == inbox.PROCESSED  # nothing was applied: nothing to put back
    assert _charge_refunded(app, client, payment, 4000) == inbox.IGNORED  # its total still counted the refund

    assert _payment(payment.id).status == payments.HELD and _payment(payment.id).refunded_amount == 0
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 9000
    assert "refund_reversed" not in ledger_kinds(payment_id=payment.id)
    messages = db.session.scalars(select(Notification.message).where(Notification.user_id == payment.company_id))
    assert any(message.startswith("Refund Failed") for message in messages)


def test_after_a_failed_refund_a_new_refund_moves_money_again_and_a_stale_total_does_not(
    app, client, factory, localstripe
):
    payment = factory.payment(amount=10000, status=payments.HELD)
    failed = _request(client, factory, payment)
    stale = simulate.event_for("charge.refunded", payment=_payment(payment.id), amount=10000)
    assert _apply(app, client, stale) == inbox.PROCESSED
    # the refund fails at Stripe too, so that the charge can be refunded again there
    requests.post(f"{localstripe.url}/_config/refunds/{failed['stripeRefundId']}/fail", timeout=10).raise_for_status()
    _fails(app, client, payment, failed["id"])

    again = _request(client, factory, payment, 5000)
    assert _charge_refunded(app, client, payment, 5000) == inbox.PROCESSED
    # the first total, delivered again after all that, counts the refund that failed: not applied
    stale_again = simulate.build_event("charge.refunded", stale["data"]["object"])
    assert _apply(app, client, stale_again) == inbox.IGNORED

    assert _refund(again["id"]).applied is True
    final = _payment(payment.id)
    assert final.status == payments.PARTIALLY_REFUNDED and final.refunded_amount == 5000
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500
    assert sorted(ledger_kinds(payment_id=payment.id)) == ["capture", "refund", "refund", "refund_reversed"]
    keys = db.session.scalars(select(LedgerTransaction.idempotency_key).where(LedgerTransaction.kind == "refund"))
    assert len(set(keys)) == 2


def test_a_refund_made_in_stripes_dashboard_that_fails_is_recorded_and_put_back(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.HELD)
    _charge_refunded(app, client, payment, 3000)  # a refund payflow never asked for
    unknown = Refund(id="rf_unknown", payment_id=payment.id, amount=3000, currency="usd", status="REQUESTED",
                     idempotency_key="unused")  # only to build the event; never stored
    event = simulate.refund_event("charge.refund.updated", unknown, _payment(payment.id), "failed")
    event["data"]["object"]["metadata"] = {}

    assert _apply(app, client, event) == inbox.PROCESSED

    recorded = db.session.scalars(select(Refund).where(Refund.stripe_refund_id == event["data"]["object"]["id"])).one()
    assert recorded.status == refunds.FAILED and recorded.requested_by is None
    assert _payment(payment.id).status == payments.HELD and _payment(payment.id).refunded_amount == 0


def test_a_refund_event_whose_amount_differs_from_ours_is_flagged_and_not_applied(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment, 4000)
    _charge_refunded(app, client, payment, 4000)
    event = simulate.refund_event("refund.failed", _refund(body["id"]), _payment(payment.id), "failed")
    event["data"]["object"]["amount"] = 400

    assert _apply(app, client, event) == inbox.FLAGGED
    assert _payment(payment.id).refunded_amount == 4000


def test_a_refund_event_naming_our_refund_in_metadata_but_another_stripe_id_is_flagged(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment, 4000)
    _charge_refunded(app, client, payment, 4000)
    event = simulate.refund_event("refund.failed", _refund(body["id"]), _payment(payment.id), "failed")
    event["data"]["object"]["id"] = "re_someone_elses"

    assert _apply(app, client, event) == inbox.FLAGGED
    assert _refund(body["id"]).status == refunds.SUCCEEDED
    assert _payment(payment.id).refunded_amount == 4000


def test_a_refund_event_whose_metadata_names_another_payments_refund_is_flagged_and_changes_neither(
    app, client, factory
):
    """Metadata only finds a refund whose Stripe id is not stored yet, and only on its own payment's charge."""
    ours = factory.payment(amount=10000, status=payments.HELD)
    theirs = factory.payment(amount=10000, status=payments.HELD)
    waiting = Refund(payment_id=theirs.id, amount=4000, currency="usd", status=refunds.REQUESTED,
                     idempotency_key="payflow-refund-waiting")  # its create answer was lost: no Stripe id yet
    db.session.add(waiting)
    db.session.commit()
    body = _request(client, factory, ours, 4000)
    _charge_refunded(app, client, ours, 4000)
    # a refund of our payment's charge whose metadata names their refund
    event = simulate.refund_event("refund.failed", _refund(body["id"]), _payment(ours.id), "failed")
    event["data"]["object"]["id"] = "re_unknown_to_payflow"
    event["data"]["object"]["metadata"] = {"payment_id": theirs.id, "refund_id": waiting.id}

    row_status = _apply(app, client, event)

    assert row_status == inbox.FLAGGED
    assert event_row(event["id"]).flag_reason == "object_mismatch"
    assert _refund(waiting.id).stripe_refund_id is None and _refund(waiting.id).status == refunds.REQUESTED
    assert _payment(ours.id).refunded_amount == 4000 and _payment(theirs.id).refunded_amount == 0


def test_a_refund_event_for_our_refund_with_another_stripe_id_is_flagged_as_another_object(app, client, factory):
    payment = factory.payment(amount=10000, status=payments.HELD)
    body = _request(client, factory, payment, 4000)
    event = simulate.refund_event("refund.failed", _refund(body["id"]), _payment(payment.id), "failed")
    event["data"]["object"]["id"] = "re_someone_elses"
    assert _apply(app, client, event) == inbox.FLAGGED
    assert event_row(event["id"]).flag_reason == "object_mismatch"
