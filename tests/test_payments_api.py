"""The payments API against localstripe: create, confirm, decline and retry, release, refund."""
from __future__ import annotations

from payflow import payments
from payflow.extensions import db
from payflow.models import Payment

from .factories import DECLINED


def test_company_creates_a_pending_payment_with_a_stripe_intent(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    response = client.post(
        "/payments",
        json={"influencerId": influencer.id, "amount": 5000, "currency": "usd", "description": "Reel"},
        headers=factory.headers(company),
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "PENDING"
    assert body["amount"] == 5000 and body["currency"] == "usd"
    assert body["stripePaymentIntentId"].startswith("pi_")
    assert body["clientSecret"].startswith(body["stripePaymentIntentId"])
    assert body["companyId"] == company.id and body["influencerId"] == influencer.id
    assert body["feeAmount"] == 0 and body["refundedAmount"] == 0 and body["failureMessage"] is None


def test_confirm_with_a_card_holds_the_payment_in_escrow(client, factory):
    payment = factory.payment()
    company = payment.company
    response = client.post(
        f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card()}, headers=factory.headers(company)
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "HELD"
    wallets = client.get("/wallet", headers=factory.headers(payment.influencer)).get_json()["wallets"]
    assert wallets == [
        {
            "currency": "usd",
            "availableBalance": 0,
            "pendingBalance": 4500,
            "receivableBalance": 0,
            "lastTransaction": wallets[0]["lastTransaction"],
        }
    ]
    assert wallets[0]["lastTransaction"]["amount"] == 4500


def test_a_declined_card_fails_the_payment_and_a_retry_succeeds(client, factory):
    payment = factory.payment()
    headers = factory.headers(payment.company)
    declined = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(DECLINED)}, headers=headers)
    assert declined.status_code == 402
    error = declined.get_json()["error"]
    assert error["code"] == "card_declined"
    assert error["payment"]["status"] == "FAILED"
    assert "declined" in error["payment"]["failureMessage"].lower()
    first_intent = error["payment"]["stripePaymentIntentId"]

    retried = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card()}, headers=headers)
    assert retried.status_code == 200, retried.get_json()
    body = retried.get_json()
    assert body["status"] == "HELD"
    assert body["failureMessage"] is None
    assert body["stripePaymentIntentId"] != first_intent
    # a late answer about the first, failed attempt does not touch the payment
    assert payments.record_failed(db.session.get(Payment, payment.id), first_intent, "late") is False


def test_retry_endpoint_gives_a_fresh_client_secret_after_a_failure(client, factory):
    payment = factory.payment()
    first_secret = payment.client_secret
    headers = factory.headers(payment.company)
    client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(DECLINED)}, headers=headers)
    response = client.post(f"/payments/{payment.id}/retry", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "PENDING"
    assert body["clientSecret"].startswith(body["stripePaymentIntentId"])
    assert body["clientSecret"] != first_secret
    again = client.post(f"/payments/{payment.id}/retry", headers=headers)
    assert again.status_code == 409


def test_release_credits_the_wallet_minus_the_fee(client, factory):
    payment = factory.payment(amount=12345, status=payments.HELD)
    response = client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company))
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "RELEASED"
    assert body["feeAmount"] == 1235  # ceil(12345 * 10%)
    wallet = client.get("/wallet", headers=factory.headers(payment.influencer)).get_json()["wallets"][0]
    assert wallet["availableBalance"] == 12345 - 1235
    assert wallet["pendingBalance"] == 0
    assert client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company)).status_code == 409


def test_release_is_refused_before_the_payment_is_held(client, factory):
    payment = factory.payment()
    response = client.post(f"/payments/{payment.id}/release", headers=factory.headers(payment.company))
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"


def test_refund_is_requested_from_stripe_and_waits_for_its_confirmation(client, factory):
    payment = factory.payment(status=payments.HELD)
    headers = factory.headers(payment.company)
    response = client.post(f"/payments/{payment.id}/refund", json={"amount": 1000}, headers=headers)
    assert response.status_code == 202
    assert response.get_json()["refundId"].startswith("re_")
    assert client.get(f"/payments/{payment.id}", headers=headers).get_json()["status"] == "HELD"
    too_much = client.post(f"/payments/{payment.id}/refund", json={"amount": 5001}, headers=headers)
    assert too_much.status_code == 422


def test_zero_decimal_currencies_are_charged_as_given(client, factory):
    payment = factory.payment(amount=500, currency="jpy", status=payments.RELEASED)
    assert payment.amount == 500
    wallet = client.get("/wallet", headers=factory.headers(payment.influencer)).get_json()["wallets"][0]
    assert wallet == {**wallet, "currency": "jpy", "availableBalance": 450}


def test_list_is_newest_first_and_paginates_with_a_cursor(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    made = [factory.payment(company, influencer, amount=1000 + i).id for i in range(5)]
    headers = factory.headers(company)
    first = client.get("/payments?limit=2", headers=headers).get_json()
    assert [p["id"] for p in first["items"]] == made[::-1][:2]
    second = client.get(f"/payments?limit=2&cursor={first['nextCursor']}", headers=headers).get_json()
    assert [p["id"] for p in second["items"]] == made[::-1][2:4]
    third = client.get(f"/payments?limit=2&cursor={second['nextCursor']}", headers=headers).get_json()
    assert [p["id"] for p in third["items"]] == made[:1]
    assert third["nextCursor"] is None
    assert client.get("/payments?limit=0", headers=headers).status_code == 400
    assert client.get("/payments?cursor=%%%", headers=headers).status_code == 400
