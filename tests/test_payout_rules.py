"""Payout amounts Stripe cannot pay are refused before anything is written or sent (SPEC §4)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from payflow import payout_rules
from payflow.errors import InsufficientFunds
from payflow.extensions import db
from payflow.models import Payout
from payflow.payout_rules import PayoutAmountNotPayable, rule_for
from payflow.wallet import wallet_view


@pytest.mark.parametrize("currency, minimum, step", [
    ("eur", 100, 1),
    ("usd", 100, 1),
    ("jpy", 1, 1),  # zero-decimal: one yen
    ("huf", 100, 100),  # whole forints only
    ("twd", 100, 100),  # whole dollars only
    ("isk", 100, 100),
    ("clp", 23000, 1),  # zero-decimal, with Stripe's higher minimum
    ("ars", 460000, 1),
    ("aud", 1, 1),
])
def test_each_currency_has_its_minimum_and_step(currency, minimum, step):
    assert rule_for(currency) == payout_rules.PayoutRule(minimum=minimum, step=step)


@pytest.mark.parametrize("currency, at_most, largest", [
    ("huf", 12345, 12300),
    ("huf", 99, 0),
    ("twd", 100, 100),
    ("eur", 12345, 12345),
    ("eur", 99, 0),
    ("clp", 22999, 0),
    ("clp", 23001, 23001),
])
def test_the_largest_payable_amount_is_the_most_stripe_can_pay_within_the_cap(currency, at_most, largest):
    assert rule_for(currency).largest_payable(at_most) == largest


@pytest.mark.parametrize("amount, available, currency, largest", [
    (12345, 50000, "huf", 12300),  # not whole forints
    (12345, 12399, "twd", 12300),
    (50, 10000, "eur", 0),  # below one euro
    (150, 120, "huf", 100),  # over the balance too: the most it can pay now
])
def test_an_amount_stripe_cannot_pay_is_refused_naming_the_largest_payable_amount(amount, available, currency, largest):
    with pytest.raises((PayoutAmountNotPayable, InsufficientFunds)) as refused:
        payout_rules.check(amount, available, currency)
    assert refused.value.status == 422
    assert refused.value.details["largestPayableAmount"] == largest
    assert refused.value.details["largestPayableAmount"] <= min(amount, available)


def test_a_payable_amount_passes(app):
    payout_rules.check(12300, 50000, "huf")
    payout_rules.check(100, 100, "eur")


def test_post_payouts_refuses_a_huf_amount_in_minor_forints_with_422_before_stripe_is_asked(
    client, factory, faulty_stripe
):
    influencer = factory.funded_influencer(50000, "huf")
    response = client.post("/payouts", json={"amount": 12345, "currency": "huf"}, headers=factory.headers(influencer))

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "payout_amount_not_payable"
    assert error["largestPayableAmount"] == 12300 and "123.00 HUF" in error["message"]
    assert faulty_stripe.executed("POST", "/v1/payouts") == []
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert wallet_view(influencer.id, "huf")["availableBalance"] == 50000


def test_post_payouts_refuses_an_amount_below_the_minimum_and_says_nothing_can_be_paid_yet(
    client, factory, faulty_stripe
):
    influencer = factory.funded_influencer(80, "eur")
    response = client.post("/payouts", json={"amount": 80, "currency": "eur"}, headers=factory.headers(influencer))

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["largestPayableAmount"] == 0 and error["minimumAmount"] == 100
    assert faulty_stripe.executed("POST", "/v1/payouts") == []


def test_more_than_available_also_names_the_largest_payable_amount(client, factory):
    influencer = factory.funded_influencer(12399, "twd")
    response = client.post("/payouts", json={"amount": 20000, "currency": "twd"}, headers=factory.headers(influencer))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "insufficient_funds" and error["largestPayableAmount"] == 12300


def test_the_largest_payable_amount_offered_is_accepted(client, factory, faulty_stripe):
    influencer = factory.funded_influencer(50000, "huf")
    headers = factory.headers(influencer)
    offered = client.post("/payouts", json={"amount": 12345, "currency": "huf"}, headers=headers).get_json()
    response = client.post("/payouts", json={"amount": offered["error"]["largestPayableAmount"], "currency": "huf"},
                           headers=headers)
    assert response.status_code != 422
    assert len(faulty_stripe.executed("POST", "/v1/payouts")) == 1  # asked Stripe (localstripe pays only EUR)
