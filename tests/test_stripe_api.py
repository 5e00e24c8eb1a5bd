"""``payflow.stripe_api``: no call inside a transaction, and what each kind of Stripe error means."""
from __future__ import annotations

import pytest

from payflow import stripe_api
from payflow.errors import PaymentDeclined, StripeOutcomeUnknown, StripeRefused, TransactionOpenDuringNetworkCall
from payflow.extensions import db
from payflow.models import User
from payflow.stripe_api import StripeGateway, gateway
from payflow.unit_of_work import atomic

PAYOUT = {"amount": 1000, "currency": "eur", "metadata": {"payout_id": "po_test"}, "idempotency_key": "k-1"}


@pytest.fixture
def expect_refusals():
    """For the tests that make the guard refuse on purpose: they check the refusal themselves."""
    yield
    stripe_api.REFUSED_CALLS.clear()


def test_a_call_to_stripe_inside_atomic_is_refused_before_anything_is_sent(app, faulty_stripe, expect_refusals):
    with pytest.raises(TransactionOpenDuringNetworkCall):
        with atomic():
            gateway().create_payout(**PAYOUT)
    assert faulty_stripe.log == []
    assert list(stripe_api.REFUSED_CALLS) == ["payout"]


def test_reading_an_expired_attribute_after_the_commit_opens_a_transaction_and_the_call_is_refused(
    app, factory, faulty_stripe, expect_refusals
):
    influencer = factory.user("influencer")  # committed: its attributes are expired
    db.session.rollback()
    with pytest.raises(TransactionOpenDuringNetworkCall):
        gateway().create_payout(**{**PAYOUT, "metadata": {"influencer_id": influencer.id}})
    assert faulty_stripe.log == []


def test_with_the_transaction_ended_the_same_call_goes_through(app, factory, faulty_stripe):
    influencer = factory.user("influencer")
    with atomic():
        influencer_id = db.session.get(User, influencer.id).id
    payout = gateway().create_payout(**{**PAYOUT, "metadata": {"influencer_id": influencer_id}})
    assert payout.id.startswith("po_")
    assert len(faulty_stripe.executed("POST", "/v1/payouts")) == 1


@pytest.mark.parametrize("status, error_type, expected", [
    (400, "invalid_request_error", StripeRefused),
    (404, "invalid_request_error", StripeRefused),
    (401, "invalid_request_error", StripeRefused),
    (403, "invalid_request_error", StripeRefused),
    (400, "idempotency_error", StripeRefused),
    (402, "card_error", PaymentDeclined),
    (409, "idempotency_error", StripeOutcomeUnknown),
    (429, "rate_limit_error", StripeOutcomeUnknown),
    (500, "api_error", StripeOutcomeUnknown),
    (503, "api_error", StripeOutcomeUnknown),
])
def test_each_kind_of_stripe_answer_means_a_refusal_or_an_unknown_outcome(app, faulty_stripe, status, error_type,
                                                                          expected):
    faulty_stripe.answer_with("POST", "/v1/payouts", status, error_type)
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", faulty_stripe.url, retries=0)
    with pytest.raises(expected):
        gateway().create_payout(**PAYOUT)


def test_an_answer_lost_after_stripe_did_the_work_is_an_unknown_outcome_not_a_refusal(app, faulty_stripe):
    faulty_stripe.drop_answers("POST", "/v1/payouts")
    with pytest.raises(StripeOutcomeUnknown):
        gateway().create_payout(**PAYOUT)
    assert len(faulty_stripe.executed("POST", "/v1/payouts")) == 1  # done once, despite the library's retries


def test_a_stripe_that_cannot_be_reached_is_an_unknown_outcome(app):
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", "http://127.0.0.1:9", retries=0)
    try:
        with pytest.raises(StripeOutcomeUnknown):
            gateway().create_payout(**PAYOUT)
    finally:
        stripe_api.init_app(app)


def test_a_timeout_is_an_unknown_outcome(app, faulty_stripe):
    gate = faulty_stripe.hold("POST", "/v1/payouts")
    app.extensions["payflow_stripe"] = StripeGateway("sk_test_payflow", faulty_stripe.url, timeout=0.5, retries=0)
    with pytest.raises(StripeOutcomeUnknown):
        gateway().create_payout(**PAYOUT)
    gate.release()
