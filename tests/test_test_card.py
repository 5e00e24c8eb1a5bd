"""``POST /payments/{id}/test-card``: the dashboard's test-mode card form, against localstripe."""
from __future__ import annotations

import pytest

from payflow.api.payments import accepts_test_cards
from payflow.extensions import db
from payflow.models import Payment

VISA = {"number": "4242 4242 4242 4242", "expMonth": 12, "expYear": 2034, "cvc": "123"}
DECLINED = {**VISA, "number": "4000-0000-0000-0341"}


def _card(client, factory, payment, card=VISA, user=None):
    return client.post(f"/payments/{payment.id}/test-card", json=card, headers=factory.headers(user or payment.company))


def test_a_test_card_pays_the_payment_into_escrow(client, factory):
    payment = factory.payment(amount=5000)
    response = _card(client, factory, payment)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["status"] == "HELD" and body["id"] == payment.id
    wallet = client.get("/wallet", headers=factory.headers(payment.influencer)).get_json()["wallets"][0]
    assert wallet["pendingBalance"] == 4500


def test_a_declined_test_card_answers_402_with_the_failed_payment_and_a_good_card_then_pays_it(client, factory):
    payment = factory.payment()
    declined = _card(client, factory, payment, DECLINED)
    assert declined.status_code == 402
    error = declined.get_json()["error"]
    assert error["code"] == "card_declined"
    assert error["payment"]["status"] == "FAILED"
    assert "declined" in error["payment"]["failureMessage"].lower()

    retried = _card(client, factory, payment)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["status"] == "HELD"
    assert retried.get_json()["failureMessage"] is None


def test_after_the_retry_endpoint_a_test_card_pays_the_new_attempt(client, factory):
    payment = factory.payment()
    _card(client, factory, payment, DECLINED)
    fresh = client.post(f"/payments/{payment.id}/retry", headers=factory.headers(payment.company)).get_json()
    assert fresh["status"] == "PENDING"
    paid = _card(client, factory, payment)
    assert paid.status_code == 200 and paid.get_json()["status"] == "HELD"
    assert paid.get_json()["stripePaymentIntentId"] == fresh["stripePaymentIntentId"]


def test_only_the_paying_company_may_use_a_test_card_on_a_payment(client, factory):
    payment = factory.payment()
    assert client.post(f"/payments/{payment.id}/test-card", json=VISA).status_code == 401
    assert _card(client, factory, payment, user=payment.influencer).status_code == 403
    other = _card(client, factory, payment, user=factory.user("company"))
    assert other.status_code == 404  # someone else's payment does not exist for them
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "PENDING"


def test_a_paid_payment_is_not_paid_again(client, factory):
    payment = factory.payment(status="HELD")
    response = _card(client, factory, payment)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize("card, field", [
    ({**VISA, "number": "4242 4242 abcd 4242"}, "number"),
    ({**VISA, "number": "4242"}, "number"),
    ({**VISA, "number": "4242 4242 4242 4242 4242 4242"}, "number"),
    ({**VISA, "expMonth": 13}, "expMonth"),
    ({**VISA, "expMonth": "12"}, "expMonth"),
    ({**VISA, "expYear": 34}, "expYear"),
    ({**VISA, "cvc": "12"}, "cvc"),
    ({**VISA, "cvc": 123}, "cvc"),
    ({key: value for key, value in VISA.items() if key != "cvc"}, "cvc"),
    ({**VISA, "name": "extra"}, "name"),
])
def test_a_malformed_card_is_a_400_that_names_the_field(client, factory, card, field):
    payment = factory.payment()
    response = _card(client, factory, payment, card)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["message"]


def test_with_a_live_stripe_key_the_endpoint_does_not_exist(app, client, factory, monkeypatch):
    payment = factory.payment()
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_live_abc")
    monkeypatch.setitem(app.config, "STRIPE_API_BASE", None)
    response = _card(client, factory, payment)
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "PENDING"


@pytest.mark.parametrize("key, base, allowed", [
    ("sk_test_123", None, True),
    ("rk_test_123", None, True),
    ("sk_live_123", "http://localhost:8420", True),
    ("sk_live_123", None, False),
    ("rk_live_123", None, False),
    (None, None, False),
])
def test_raw_test_cards_are_accepted_only_in_test_mode(key, base, allowed):
    assert accepts_test_cards({"STRIPE_SECRET_KEY": key, "STRIPE_API_BASE": base}) is allowed
