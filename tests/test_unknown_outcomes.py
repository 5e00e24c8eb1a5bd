"""A Stripe call whose outcome is unknown is never taken as a refusal (SPEC §5, "Money safety").

The stand-in in front of localstripe does the work and loses the answer (or fails, or
cannot be reached): the payout or refund stays in flight with its money where a request
in flight keeps it, and is resolved by asking again with the same idempotency key
(Stripe returns what the first request made), by looking it up once the key has
expired, or by its webhook. Nothing is paid or refunded twice at Stripe.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import update

from jobs.worker import resolve_unanswered
from payflow import ledger, payments, payouts, refunds
from payflow.extensions import db
from payflow.models import Payout, Refund, utcnow
from payflow.stripe_api import StripeGateway
from payflow.unit_of_work import atomic
from payflow.wallet import wallet_view
from payflow.webhooks import inbox, simulate

from .webhook_helpers import deliver, event_row, ledger_kinds, release_test_session, run_jobs

LATER = timedelta(minutes=30)  # past any backoff, well within Stripe's 24 h for keys
KEY_EXPIRED = timedelta(hours=25)


def _at_stripe(localstripe, resource: str, **params) -> list[dict]:
    """Every object of a kind at localstripe (all pages: the session's other tests made many)."""
    found, after = [], None
    while True:
        page_params = {"limit": 100, **params, **({"starting_after": after} if after else {})}
        response = requests.get(f"{localstripe.url}/v1/{resource}", params=page_params,
                                headers={"Authorization": "Bearer sk_test_payflow"}, timeout=10)
        response.raise_for_status()
        page = response.json()
        found += page["data"]
        if not page["has_more"] or not page["data"]:
            return found
        after = page["data"][-1]["id"]


def _payouts_at_stripe(localstripe, payout_id: str) -> list[dict]:
    return [p for p in _at_stripe(localstripe, "payouts") if p["metadata"].get("payout_id") == payout_id]


def _refunds_at_stripe(localstripe, payment) -> list[dict]:
    return _at_stripe(localstripe, "refunds", payment_intent=payment.stripe_payment_intent_id)


def _payout(payout_id) -> Payout:
    db.session.expire_all()
    return db.session.get(Payout, payout_id)


def _refund(refund_id) -> Refund:
    db.session.expire_all()
    return db.session.get(Refund, refund_id)


def _in_transit(influencer_id, currency="eur") -> int:
    return ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, currency, influencer_id)


def _request_payout(client, factory, influencer, amount, currency="eur"):
    return client.post("/payouts", json={"amount": amount, "currency": currency}, headers=factory.headers(influencer))


# --- payouts ---------------------------------------------------------------------------------


def test_a_payout_whose_answer_is_lost_stays_pending_and_is_paid_once_after_the_housekeeping_asks_again(
    app, client, factory, faulty_stripe, localstripe
):
    influencer = factory.funded_influencer(10000, "eur")
    faulty_stripe.drop_answers("POST", "/v1/payouts")

    response = _request_payout(client, factory, influencer, 4000)

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "PENDING" and body["awaitingStripe"] is True
    assert len(faulty_stripe.executed("POST", "/v1/payouts")) == 1  # it reached Stripe
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 6000  # not given back
    assert _in_transit(influencer.id) == 4000

    faulty_stripe.clear()  # Stripe answers again
    release_test_session()
    assert payouts.resolve_unanswered(now=utcnow() + LATER) == 1

    [made] = _payouts_at_stripe(localstripe, body["id"])  # one payout at Stripe, not two
    payout = _payout(body["id"])
    assert payout.stripe_payout_id == made["id"] and payout.status == payouts.PENDING
    assert payouts.resolve_unanswered(now=utcnow() + LATER) == 0  # nothing left to ask about

    event = simulate.event_for("payout.paid", payout=payout)
    assert deliver(client, event).status_code == 200
    run_jobs(app)
    assert event_row(event["id"]).status == inbox.PROCESSED
    assert _payout(body["id"]).status == payouts.COMPLETED
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 6000 and _in_transit(influencer.id) == 0


def test_the_workers_housekeeping_resolves_an_unanswered_payout_when_it_is_due(
    app, client, factory, faulty_stripe, localstripe
):
    influencer = factory.funded_influencer(10000, "eur")
    faulty_stripe.drop_answers("POST", "/v1/payouts")
    payout_id = _request_payout(client, factory, influencer, 2500).get_json()["id"]
    faulty_stripe.clear()
    release_test_session()
    with atomic():
        db.session.execute(update(Payout).where(Payout.id == payout_id).values(next_resolve_at=utcnow()))

    resolve_unanswered()

    assert _payout(payout_id).stripe_payout_id == _payouts_at_stripe(localstripe, payout_id)[0]["id"]


@pytest.mark.parametrize("status, error_type", [(500, "api_error"), (503, "api_error"), (429, "rate_limit_error")])
def test_a_server_error_or_rate_limit_leaves_the_payout_pending_with_its_money_on_the_way(
    client, factory, faulty_stripe, status, error_type
):
    influencer = factory.funded_influencer(10000, "eur")
    faulty_stripe.answer_with("POST", "/v1/payouts", status, error_type)

    response = _request_payout(client, factory, influencer, 4000)

    assert response.status_code == 202 and response.get_json()["awaitingStripe"] is True
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 6000
    assert _payout(response.get_json()["id"]).stripe_error


def test_a_definite_refusal_learnt_when_asking_again_fails_the_payout_and_returns_its_money_once(
    client, factory, faulty_stripe, localstripe
):
    influencer = factory.funded_influencer(10000, "usd")  # localstripe refuses USD payouts
    faulty_stripe.drop_answers("POST", "/v1/payouts")
    payout_id = _request_payout(client, factory, influencer, 4000, "usd").get_json()["id"]
    assert wallet_view(influencer.id, "usd")["availableBalance"] == 6000

    faulty_stripe.clear()
    release_test_session()
    payouts.resolve_unanswered(now=utcnow() + LATER)
    payouts.resolve_unanswered(now=utcnow() + LATER)

    payout = _payout(payout_id)
    assert payout.status == payouts.FAILED and payout.failure_message
    assert wallet_view(influencer.id, "usd")["availableBalance"] == 10000
    assert _in_transit(influencer.id, "usd") == 0
    assert ledger_kinds(payout_id=payout_id) == ["payout", "payout_returned"]


def test_a_payout_paid_event_settles_a_payout_whose_answer_was_lost_before_the_housekeeping_asks(
    app, client, factory, faulty_stripe, localstripe
):
    influencer = factory.funded_influencer(10000, "eur")
    faulty_stripe.drop_answers("POST", "/v1/payouts")
    payout_id = _request_payout(client, factory, influencer, 3000).get_json()["id"]
    [made] = _payouts_at_stripe(localstripe, payout_id)

    event = simulate.build_event("payout.paid", {**simulate.payout_object(_payout(payout_id), "paid"), "id": made["id"]})
    assert deliver(client, event).status_code == 200
    run_jobs(app)

    payout = _payout(payout_id)
    assert payout.status == payouts.COMPLETED and payout.stripe_payout_id == made["id"]
    assert payouts.resolve_unanswered(now=utcnow() + LATER) == 0
    assert len(_payouts_at_stripe(localstripe, payout_id)) == 1


def test_after_the_key_expired_a_payout_stripe_made_is_found_by_looking_it_up_not_made_again(
    client, factory, faulty_stripe, localstripe
):
    influencer = factory.funded_influencer(10000, "eur")
    faulty_stripe.drop_answers("POST", "/v1/payouts")
    payout_id = _request_payout(client, factory, influencer, 4000).get_json()["id"]
    faulty_stripe.clear()
    release_test_session()

    payouts.resolve_unanswered(now=utcnow() + KEY_EXPIRED)

    assert len(faulty_stripe.executed("POST", "/v1/payouts")) == 1  # looked up, not sent again
    [made] = _payouts_at_stripe(localstripe, payout_id)
    assert _payout(payout_id).stripe_payout_id == made["id"]


def test_after_the_key_expired_a_payout_made_by_a_later_resend_is_still_found_by_looking_it_up(
    client, factory, faulty_stripe, localstripe
):
    """The first request never reached Stripe; the housekeeping's resend, hours later, made the
    payout and lost its answer: a lookup a day after the request must still find it."""
    influencer = factory.funded_influencer(10000, "eur")
    faulty_stripe.answer_with("POST", "/v1/payouts", 500)  # nothing made
    payout_id = _request_payout(client, factory, influencer, 4000).get_json()["id"]
    faulty_stripe.clear()
    release_test_session()
    with atomic():  # requested five hours ago
        db.session.execute(update(Payout).where(Payout.id == payout_id)
                           .values(created_at=utcnow() - timedelta(hours=5)))
    faulty_stripe.drop_answers("POST", "/v1/payouts")
    payouts.resolve_unanswered(now=utcnow() + LATER)  # the resend makes it at Stripe, and its answer is lost
    faulty_stripe.clear()
    [made] = _payouts_at_stripe(localstripe, payout_id)
    assert _payout(payout_id).stripe_payout_id is None

    payouts.resolve_unanswered(now=utcnow() + timedelta(hours=19))  # a day after the request: a lookup

    payout = _payout(payout_id)
    assert payout.stripe_payout_id == made["id"] and payout.status != payouts.FAILED
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 6000  # the money went to the bank, once
    assert len(_payouts_at_stripe(localstripe, payout_id)) == 1


def test_after_the_key_expired_a_payout_stripe_never_made_fails_and_its_money_comes_back(
    app, client, factory, faulty_stripe
):
    influencer = factory.funded_influencer(10000, "eur")
    reachable = app.extensions["payflow_stripe"]
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", "http://127.0.0.1:9", timeout=2, retries=0)
    try:
        payout_id = _request_payout(client, factory, influencer, 4000).get_json()["id"]
    finally:
        app.extensions["payflow_stripe"] = reachable
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 6000
    release_test_session()

    payouts.resolve_unanswered(now=utcnow() + KEY_EXPIRED)

    assert _payout(payout_id).status == payouts.FAILED
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 10000
    assert faulty_stripe.executed("POST", "/v1/payouts") == []


def test_a_payout_whose_request_never_returned_at_all_is_resolved_once_it_is_old_enough(
    factory, faulty_stripe, localstripe
):
    influencer = factory.funded_influencer(10000, "eur")
    with atomic():  # as a process that died during its call to Stripe left it
        payout = Payout(influencer_id=influencer.id, amount=1500, currency="eur", status=payouts.PENDING)
        db.session.add(payout)
        db.session.flush()
        ledger.payout_requested(payout)
        payout_id = payout.id

    assert payouts.resolve_unanswered(now=utcnow() + timedelta(minutes=1)) == 0  # maybe still in flight
    assert payouts.resolve_unanswered(now=utcnow() + timedelta(minutes=11)) == 1

    assert _payout(payout_id).stripe_payout_id == _payouts_at_stripe(localstripe, payout_id)[0]["id"]


# --- refunds ---------------------------------------------------------------------------------


def test_a_refund_whose_answer_is_lost_stays_requested_and_is_made_once(app, client, factory, faulty_stripe,
                                                                         localstripe):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)
    faulty_stripe.drop_answers("POST", "/v1/refunds")

    response = client.post(f"/payments/{payment.id}/refund", json={"amount": 2000}, headers=headers)

    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == refunds.REQUESTED and body["awaitingStripe"] is True and body["stripeRefundId"] is None
    assert len(faulty_stripe.executed("POST", "/v1/refunds")) == 1
    # in flight: it counts against what is left to refund, and the payment has not changed
    assert client.post(f"/payments/{payment.id}/refund", json={"amount": 3001}, headers=headers).status_code == 422
    assert client.get(f"/payments/{payment.id}", headers=headers).get_json()["status"] == "HELD"

    faulty_stripe.clear()
    release_test_session()
    assert refunds.resolve_unanswered(now=utcnow() + LATER) == 1

    [made] = _refunds_at_stripe(localstripe, payment)  # one refund at Stripe, not two
    refund = _refund(body["id"])
    assert refund.stripe_refund_id == made["id"] and refund.status == refunds.SUCCEEDED
    event = simulate.event_for("charge.refunded", payment=db.session.get(type(payment), payment.id), amount=2000)
    assert deliver(client, event).status_code == 200
    run_jobs(app)
    assert client.get(f"/payments/{payment.id}", headers=headers).get_json()["refundedAmount"] == 2000
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 2700


def test_after_the_key_expired_a_refund_is_looked_up_by_its_id_and_one_never_made_fails(
    app, client, factory, faulty_stripe, localstripe
):
    payment = factory.payment(amount=5000, status=payments.HELD)
    headers = factory.headers(payment.company)
    faulty_stripe.drop_answers("POST", "/v1/refunds")
    made_id = client.post(f"/payments/{payment.id}/refund", json={"amount": 1000}, headers=headers).get_json()["id"]
    faulty_stripe.clear()
    faulty_stripe.answer_with("POST", "/v1/refunds", 503)
    never_id = client.post(f"/payments/{payment.id}/refund", json={"amount": 1000}, headers=headers).get_json()["id"]
    faulty_stripe.clear()
    release_test_session()

    assert refunds.resolve_unanswered(now=utcnow() + KEY_EXPIRED) == 2

    assert _refund(made_id).stripe_refund_id == _refunds_at_stripe(localstripe, payment)[0]["id"]
    assert _refund(never_id).status == refunds.FAILED
    assert len(faulty_stripe.executed("POST", "/v1/refunds")) == 1
    assert refunds.refundable(db.session.get(type(payment), payment.id)) == 4000


# --- confirming a payment ------------------------------------------------------------------


def test_a_confirmation_whose_answer_is_lost_is_resolved_by_looking_the_intent_up(client, factory, faulty_stripe):
    payment = factory.payment(amount=5000)
    card = factory.card()
    faulty_stripe.drop_answers("POST", f"/v1/payment_intents/{payment.stripe_payment_intent_id}/confirm")

    response = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": card},
                           headers=factory.headers(payment.company))

    assert response.status_code == 200 and response.get_json()["status"] == "HELD"
    assert len(faulty_stripe.executed("POST", f"/v1/payment_intents/{payment.stripe_payment_intent_id}/confirm")) == 1
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500


def test_a_confirmation_stripe_stays_silent_about_is_accepted_and_settled_by_its_webhook(
    app, client, factory, faulty_stripe
):
    payment = factory.payment(amount=5000)
    card = factory.card()
    faulty_stripe.drop_answers("POST", f"/v1/payment_intents/{payment.stripe_payment_intent_id}/confirm")
    faulty_stripe.drop_answers("GET", f"/v1/payment_intents/{payment.stripe_payment_intent_id}")

    response = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": card},
                           headers=factory.headers(payment.company))

    assert response.status_code == 202 and response.get_json()["status"] == "PENDING"
    event = simulate.event_for("payment_intent.succeeded", payment=db.session.get(type(payment), payment.id))
    assert deliver(client, event).status_code == 200
    run_jobs(app)
    assert client.get(f"/payments/{payment.id}", headers=factory.headers(payment.company)).get_json()["status"] == "HELD"
