"""Who paid whom and how much each side gets, before money moves: names, fee rate and net on every
payment, the fee quote for a payment not made yet, and the currency table (SPEC §3, §4, §11)."""
from __future__ import annotations

import pytest

from payflow import payments
from payflow.api import schemas


def _payment(client, factory, user, payment_id) -> dict:
    response = client.get(f"/payments/{payment_id}", headers=factory.headers(user))
    assert response.status_code == 200
    return response.get_json()


def test_a_payment_names_both_parties_for_both_of_them(client, factory):
    company, influencer = factory.user("company", name="Acme Studios"), factory.user("influencer", name="Riley Creator")
    payment = factory.held_payment_direct(company, influencer, 5000, "usd")
    for viewer in (company, influencer):
        body = _payment(client, factory, viewer, payment.id)
        assert (body["companyName"], body["influencerName"]) == ("Acme Studios", "Riley Creator")
        schemas.Payment.model_validate(body)
    listed = client.get("/payments", headers=factory.headers(company)).get_json()["items"]
    assert [(item["companyName"], item["influencerName"]) for item in listed] == [("Acme Studios", "Riley Creator")]


def test_fee_and_net_are_known_before_the_money_moves_and_exact_after_release(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    pending = factory.payment(company, influencer, 5001)
    body = _payment(client, factory, influencer, pending.id)
    assert (body["status"], body["feeBps"], body["feeAmount"], body["netAmount"]) == ("PENDING", 1000, 0, 4500)

    held = factory.held_payment_direct(company, influencer, 5000, "usd")
    factory.refund_confirmed(held.id, 1000)  # 4000 left in escrow: fee 400, net 3600
    assert _payment(client, factory, company, held.id)["netAmount"] == 3600

    payments.release_payment(company, held.id)
    released = _payment(client, factory, company, held.id)
    assert (released["feeAmount"], released["netAmount"]) == (400, 3600)
    factory.refund_confirmed(held.id, 2000)  # after release: fee and net shrink in proportion
    after = _payment(client, factory, influencer, held.id)
    assert (after["feeAmount"], after["netAmount"], after["amount"] - after["refundedAmount"]) == (300, 2700, 3000)
    factory.refund_confirmed(held.id, 5000)
    assert _payment(client, factory, influencer, held.id)["netAmount"] == 0


def test_a_requested_refund_shows_as_refunding_until_stripe_confirms_it(client, factory):
    payment = factory.payment(status="HELD")
    headers = factory.headers(payment.company)
    other = factory.payment(payment.company, payment.influencer, 3000, status="HELD")
    assert client.post(f"/payments/{payment.id}/refund", json={"amount": 1200}, headers=headers).status_code == 202
    body = _payment(client, factory, payment.company, payment.id)
    assert (body["refundingAmount"], body["refundedAmount"], body["status"]) == (1200, 0, "HELD")
    listed = {item["id"]: item["refundingAmount"] for item in client.get("/payments", headers=headers).get_json()["items"]}
    assert listed == {payment.id: 1200, other.id: 0}
    factory.refund_confirmed(payment.id, 1200)  # charge.refunded: the money moves, nothing is in flight any more
    body = _payment(client, factory, payment.influencer, payment.id)
    assert (body["refundingAmount"], body["refundedAmount"], body["status"]) == (0, 1200, "PARTIALLY_REFUNDED")


def test_the_fee_rate_is_the_one_agreed_when_the_payment_was_made(app, client, factory, monkeypatch):
    company, influencer = factory.user("company"), factory.user("influencer")
    payment = factory.held_payment_direct(company, influencer, 10000, "usd")
    monkeypatch.setitem(app.config, "PLATFORM_FEE_BPS", 2500)
    body = _payment(client, factory, company, payment.id)
    assert (body["feeBps"], body["netAmount"]) == (1000, 9000)


@pytest.mark.parametrize("amount, currency, fee, net", [
    (5000, "usd", 500, 4500),
    (1, "usd", 1, 0),  # the fee rounds up (ceil), the influencer gets the exact remainder
    (999, "usd", 100, 899),
    (1234, "jpy", 124, 1110),
    (99_999_999, "usd", 10_000_000, 89_999_999),
])
def test_the_quote_says_what_the_influencer_would_receive(client, factory, amount, currency, fee, net):
    response = client.get(f"/payments/quote?amount={amount}&currency={currency}", headers=factory.headers(factory.user()))
    assert response.status_code == 200
    assert response.get_json() == {"amount": amount, "currency": currency, "feeBps": 1000, "feeAmount": fee, "netAmount": net}
    schemas.FeeQuote.model_validate(response.get_json())


def test_the_quote_follows_the_platforms_rate_and_refuses_bad_input(app, client, factory, monkeypatch):
    headers = factory.headers(factory.user())
    monkeypatch.setitem(app.config, "PLATFORM_FEE_BPS", 250)
    assert client.get("/payments/quote?amount=1000&currency=eur", headers=headers).get_json()["netAmount"] == 975
    for query, field in [("amount=0&currency=usd", "amount"), ("amount=12.5&currency=usd", "amount"),
                         ("amount=100000000&currency=usd", "amount"), ("amount=100&currency=xx", "currency"),
                         ("currency=usd", "amount")]:
        response = client.get(f"/payments/quote?{query}", headers=headers)
        assert response.status_code == 400 and field in response.get_json()["error"]["message"], query
    assert client.get("/payments/quote?amount=100&currency=usd").status_code == 401


def test_the_payments_list_filters_by_currency_and_creation_date(client, factory):
    company, influencer = factory.user("company"), factory.user("influencer")
    usd = factory.held_payment_direct(company, influencer, 1000, "usd")
    eur = factory.held_payment_direct(company, influencer, 2000, "eur")
    headers = factory.headers(company)
    assert [item["id"] for item in client.get("/payments?currency=eur", headers=headers).get_json()["items"]] == [eur.id]
    assert [item["id"] for item in client.get("/payments?from=2000-01-01&currency=", headers=headers).get_json()[
        "items"]] == [eur.id, usd.id]
    assert client.get("/payments?to=2000-01-01", headers=headers).get_json()["items"] == []
    assert client.get("/payments?from=tomorrow", headers=headers).status_code == 400


def test_the_currency_table_gives_stripes_minor_unit_exponents(client):
    response = client.get("/currencies")
    assert response.status_code == 200
    schemas.Currencies.model_validate(response.get_json())
    table = {item["code"]: item["exponent"] for item in response.get_json()["items"]}
    assert (table["usd"], table["eur"], table["jpy"], table["krw"], table["isk"]) == (2, 2, 0, 0, 2)
    assert len(table) > 100 and all(code == code.lower() and len(code) == 3 for code in table)
