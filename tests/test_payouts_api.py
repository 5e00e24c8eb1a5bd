"""POST /payouts and GET /payouts: the money leaves the wallet at once, and comes back if Stripe refuses
(never merely because Stripe did not answer)."""
from __future__ import annotations

from datetime import timedelta

from payflow import ledger, payouts
from payflow.extensions import db
from payflow.models import Payout, utcnow
from payflow.stripe_api import StripeGateway
from payflow.wallet import wallet_view


def test_a_payout_takes_the_amount_from_the_available_balance_at_once(client, factory):
    influencer = factory.funded_influencer(10000, "eur")
    response = client.post("/payouts", json={"amount": 2500, "currency": "eur"}, headers=factory.headers(influencer))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "PENDING" and body["amount"] == 2500 and body["currency"] == "eur"
    assert body["stripePayoutId"].startswith("po_")
    wallet = client.get("/wallet", headers=factory.headers(influencer)).get_json()["wallets"][0]
    assert wallet["availableBalance"] == 7500
    listed = client.get("/payouts", headers=factory.headers(influencer)).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]] and listed["nextCursor"] is None


def test_more_than_the_available_balance_is_refused_and_nothing_changes(client, factory):
    influencer = factory.funded_influencer(1000, "eur")
    response = client.post("/payouts", json={"amount": 1001, "currency": "eur"}, headers=factory.headers(influencer))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_funds" and error["availableBalance"] == 1000
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 1000
    assert db.session.query(Payout).count() == 0


def test_a_payout_in_a_currency_never_earned_is_refused(client, factory):
    influencer = factory.funded_influencer(1000, "eur")
    response = client.post("/payouts", json={"amount": 10, "currency": "usd"}, headers=factory.headers(influencer))
    assert response.status_code == 422


def test_when_stripe_refuses_the_payout_fails_and_the_money_is_back_in_the_same_request(client, factory):
    # localstripe pays out only in EUR: a USD payout is refused by Stripe itself.
    influencer = factory.funded_influencer(5000, "usd")
    response = client.post("/payouts", json={"amount": 3000, "currency": "usd"}, headers=factory.headers(influencer))
    assert response.status_code == 502
    error = response.get_json()["error"]
    assert error["code"] == "stripe_error" and error["status"] == "FAILED"
    payout = db.session.get(Payout, error["payoutId"])
    assert payout.status == "FAILED" and payout.failure_message
    assert wallet_view(influencer.id, "usd")["availableBalance"] == 5000


def test_when_stripe_cannot_be_reached_the_payout_stays_pending_with_its_money_on_the_way(app, client, factory):
    influencer = factory.funded_influencer(5000, "eur")
    reachable = app.extensions["payflow_stripe"]
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", "http://127.0.0.1:9", timeout=2, retries=0)
    try:
        response = client.post("/payouts", json={"amount": 3000, "currency": "eur"}, headers=factory.headers(influencer))
    finally:
        app.extensions["payflow_stripe"] = reachable
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "PENDING" and body["awaitingStripe"] is True and body["stripePayoutId"] is None
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 2000
    assert ledger.balance_of(ledger.PAYOUTS_IN_TRANSIT, "eur", influencer.id) == 3000

    # Once Stripe answers again, the housekeeping asks with the same key and the payout is made.
    db.session.rollback()
    assert payouts.resolve_unanswered(now=utcnow() + timedelta(hours=1)) == 1
    payout = client.get(f"/payouts/{body['id']}", headers=factory.headers(influencer)).get_json()
    assert payout["status"] == "PENDING" and payout["stripePayoutId"].startswith("po_")
    assert payout["awaitingStripe"] is False
    assert wallet_view(influencer.id, "eur")["availableBalance"] == 2000


def test_a_payment_cannot_be_created_when_stripe_cannot_be_reached(app, client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    reachable = app.extensions["payflow_stripe"]
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", "http://127.0.0.1:9", timeout=2, retries=0)
    try:
        response = client.post(
            "/payments", json={"influencerId": influencer.id, "amount": 100, "currency": "usd"}, headers=factory.headers(company)
        )
    finally:
        app.extensions["payflow_stripe"] = reachable
    assert response.status_code == 502
    listed = client.get("/payments", headers=factory.headers(company)).get_json()["items"]
    assert [p["status"] for p in listed] == ["FAILED"]
    retried = client.post(f"/payments/{listed[0]['id']}/retry", headers=factory.headers(company))
    assert retried.status_code == 200 and retried.get_json()["status"] == "PENDING"
