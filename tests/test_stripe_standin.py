"""The offline Stripe (``stripe_standin``) against Stripe's own Python library, as payflow will call it.

Each test drives a running stand-in over HTTP with ``stripe.StripeClient`` and checks what
real Stripe would answer and send: shapes, refusals, idempotency, balances, and the events
delivered (and signed per endpoint) to a receiver standing in for payflow's webhook.
"""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
import stripe

from .services import ROOT, StripeStandin, free_port
from .standin_helpers import (Receiver, available, client_for, config, endpoint, onboarded_account,
                              paid_intent, transfer, wait_until)

PAYOUT_DELAY = 1.0


@pytest.fixture(scope="module")
def standin():
    server = StripeStandin("--payout-delay", str(PAYOUT_DELAY), "--webhook-delay", "0",
                           "--webhook-retries", "0.2,0.2,0.5")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(standin):
    return client_for(standin.url)


@pytest.fixture(scope="module", autouse=True)
def hooks(client, receiver):
    """A platform endpoint at /platform and a Connect endpoint at /connect, with their secrets."""
    platform = endpoint(client, f"{receiver.url}/platform", connect=False)
    connect = endpoint(client, f"{receiver.url}/connect", connect=True)
    return {"platform": platform.secret, "connect": connect.secret}


@pytest.fixture
def account(client, standin):
    return onboarded_account(client, standin.url)


# --- connected accounts and onboarding ----------------------------------------------


def test_a_new_express_account_can_do_nothing_until_onboarded(client):
    account = client.v1.accounts.create(params={
        "type": "express", "country": "US", "email": "sam@example.com",
        "capabilities": {"transfers": {"requested": True}},
        "settings": {"payouts": {"schedule": {"interval": "manual"}}}, "metadata": {"influencer_id": "u_1"},
    })
    assert account.id.startswith("acct_") and account.object == "account" and account.type == "express"
    assert account.country == "US" and account.default_currency == "usd" and account.email == "sam@example.com"
    assert account.capabilities.to_dict() == {"transfers": "inactive"}
    assert (account.details_submitted, account.charges_enabled, account.payouts_enabled) == (False, False, False)
    assert "external_account" in account.requirements.currently_due
    assert account.requirements.disabled_reason == "requirements.past_due"
    assert account.settings.payouts.schedule.interval == "manual"
    assert account.metadata.to_dict() == {"influencer_id": "u_1"}
    assert client.v1.accounts.retrieve(account.id).to_dict() == account.to_dict()


def test_an_account_created_again_with_its_idempotency_key_is_the_same_account(client):
    params = {"type": "express", "country": "DE", "capabilities": {"transfers": {"requested": True}},
              "metadata": {"influencer_id": "u_2"}}
    first = client.v1.accounts.create(params=params, options={"idempotency_key": "account-u_2"})
    again = client.v1.accounts.create(params=params, options={"idempotency_key": "account-u_2"})
    assert again.id == first.id and first.default_currency == "eur"
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError) as refused:
        client.v1.accounts.create(params={**params, "country": "FR"}, options={"idempotency_key": "account-u_2"})
    assert refused.value.http_status == 400 and "same parameters" in refused.value.user_message


def test_the_onboarding_page_completes_the_account_and_sends_account_updated_to_connect_endpoints(
    client, standin, receiver, hooks
):
    account = client.v1.accounts.create(params={"type": "express", "country": "US",
                                                "capabilities": {"transfers": {"requested": True}}})
    link = client.v1.account_links.create(params={
        "account": account.id, "type": "account_onboarding",
        "return_url": "http://localhost:5000/?onboarding=done", "refresh_url": "http://localhost:5000/?onboarding=again",
    })
    assert link.object == "account_link" and link.expires_at - link.created == 300
    assert link.url.startswith(standin.url)

    page = requests.get(link.url, timeout=5)
    assert page.status_code == 200 and "Complete onboarding" in page.text and account.id in page.text
    done = requests.post(link.url, data={"action": "complete"}, allow_redirects=False, timeout=5)
    assert done.status_code == 303 and done.headers["Location"] == "http://localhost:5000/?onboarding=done"

    onboarded = client.v1.accounts.retrieve(account.id)
    assert (onboarded.details_submitted, onboarded.charges_enabled, onboarded.payouts_enabled) == (True, True, True)
    assert onboarded.capabilities.to_dict() == {"transfers": "active"}
    assert onboarded.requirements.currently_due == [] and onboarded.requirements.past_due == []
    assert onboarded.requirements.disabled_reason is None
    assert onboarded.external_accounts.data[0].currency == "usd"

    [delivery] = receiver.wait("/connect", "account.updated", account.id)
    event = delivery.verified(hooks["connect"])
    assert event.account == account.id and event.data.object.payouts_enabled is True
    assert event.data.previous_attributes.payouts_enabled is False
    with pytest.raises(stripe.SignatureVerificationError):
        delivery.verified(hooks["platform"])
    receiver.wait("/connect", "capability.updated", "transfers")
    time.sleep(0.3)
    assert receiver.at("/platform", "account.updated", account.id) == []

    # An account link serves once: opened again it sends the person to refresh_url for a new one.
    again = requests.get(link.url, allow_redirects=False, timeout=5)
    assert again.status_code == 302 and again.headers["Location"] == "http://localhost:5000/?onboarding=again"


def test_leaving_the_onboarding_page_returns_to_the_platform_with_the_account_unchanged(client):
    account = client.v1.accounts.create(params={"type": "express", "capabilities": {"transfers": {"requested": True}}})
    link = client.v1.account_links.create(params={"account": account.id, "type": "account_onboarding",
                                                  "return_url": "http://localhost:5000/back",
                                                  "refresh_url": "http://localhost:5000/again"})
    left = requests.post(link.url, data={"action": "leave"}, allow_redirects=False, timeout=5)
    assert left.status_code == 303 and left.headers["Location"] == "http://localhost:5000/back"
    assert client.v1.accounts.retrieve(account.id).details_submitted is False


def test_an_account_link_needs_an_existing_account_and_both_urls(client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.account_links.create(params={"account": "acct_nope", "type": "account_onboarding",
                                               "return_url": "http://x/r", "refresh_url": "http://x/f"})
    assert missing.value.code == "resource_missing" and missing.value.param == "account"
    account = client.v1.accounts.create(params={"type": "express"})
    with pytest.raises(stripe.InvalidRequestError) as no_refresh:
        client.v1.account_links.create(params={"account": account.id, "type": "account_onboarding",
                                               "return_url": "http://x/r"})
    assert no_refresh.value.code == "parameter_missing" and no_refresh.value.param == "refresh_url"


def test_a_restricted_account_stops_receiving_transfers_and_payouts(client, standin, account):
    config(standin.url, f"accounts/{account.id}/restrict")
    restricted = client.v1.accounts.retrieve(account.id)
    assert restricted.payouts_enabled is False and restricted.capabilities.transfers == "inactive"
    assert restricted.requirements.past_due
    with pytest.raises(stripe.InvalidRequestError) as refused:
        transfer(client, account.id, 100, "usd")
    assert refused.value.code == "insufficient_capabilities_for_transfer"


# --- transfers and reversals -----------------------------------------------------------


def test_a_transfer_to_an_account_without_active_transfers_is_refused_in_stripes_shape(client):
    account = client.v1.accounts.create(params={"type": "express", "capabilities": {"transfers": {"requested": True}}})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        transfer(client, account.id, 1000, "usd")
    error = refused.value
    assert error.http_status == 400 and error.code == "insufficient_capabilities_for_transfer"
    assert error.param == "destination" and error.json_body["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        transfer(client, "acct_missing", 1000, "usd")
    assert unknown.value.code == "resource_missing" and unknown.value.param == "destination"


def test_a_transfer_repeated_with_its_idempotency_key_moves_the_money_once(client, account, receiver, hooks):
    params = {"amount": 4500, "currency": "usd", "destination": account.id, "transfer_group": "pay_42",
              "metadata": {"payment_id": "pay_42"}}
    first = client.v1.transfers.create(params=params, options={"idempotency_key": "release-pay_42"})
    again = client.v1.transfers.create(params=params, options={"idempotency_key": "release-pay_42"})
    assert again.id == first.id and again.to_dict() == first.to_dict()
    assert first.object == "transfer" and first.amount == 4500 and first.destination == account.id
    assert first.transfer_group == "pay_42" and first.metadata.payment_id == "pay_42"
    assert first.amount_reversed == 0 and first.reversed is False and first.destination_payment.startswith("py_")
    assert available(client, account.id) == {"usd": 4500}
    listed = client.v1.transfers.list(params={"transfer_group": "pay_42"})
    assert [t.id for t in listed.data] == [first.id]

    with pytest.raises(stripe.IdempotencyError):
        client.v1.transfers.create(params={**params, "amount": 4600}, options={"idempotency_key": "release-pay_42"})
    assert available(client, account.id) == {"usd": 4500}
    [created] = receiver.wait("/platform", "transfer.created", first.id)
    assert "account" not in created.event and created.verified(hooks["platform"])


def test_a_transfer_from_a_charge_is_limited_to_the_charge_and_its_currency(client, account):
    intent = paid_intent(client, 5000, "usd")
    charge = intent.latest_charge
    with pytest.raises(stripe.InvalidRequestError) as other_currency:
        transfer(client, account.id, 1000, "eur", source_transaction=charge)
    assert other_currency.value.param == "currency"
    made = transfer(client, account.id, 4000, "usd", source_transaction=charge)
    assert made.source_transaction == charge
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        transfer(client, account.id, 1001, "usd", source_transaction=charge)
    assert too_much.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as no_charge:
        transfer(client, account.id, 10, "usd", source_transaction="ch_missing")
    assert no_charge.value.code == "resource_missing" and no_charge.value.param == "source_transaction"


def test_reversals_take_back_at_most_what_is_left_of_the_transfer(client, account, receiver):
    made = transfer(client, account.id, 1000, "usd")
    first = client.v1.transfers.reversals.create(made.id, params={"amount": 600, "metadata": {"refund": "r1"}})
    assert first.object == "transfer_reversal" and first.amount == 600 and first.transfer == made.id
    assert first.metadata.refund == "r1"
    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.transfers.reversals.create(made.id, params={"amount": 401})
    assert too_much.value.code == "amount_too_large" and too_much.value.param == "amount"
    rest = client.v1.transfers.reversals.create(made.id)
    assert rest.amount == 400
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.transfers.reversals.create(made.id, params={"amount": 1})

    reversed_transfer = client.v1.transfers.retrieve(made.id)
    assert reversed_transfer.amount_reversed == 1000 and reversed_transfer.reversed is True
    assert [r.id for r in reversed_transfer.reversals.data] == [rest.id, first.id]
    assert available(client, account.id) == {"usd": 0}
    events = receiver.wait("/platform", "transfer.reversed", made.id, count=2)
    assert sorted(d.event["data"]["object"]["amount_reversed"] for d in events) == [600, 1000]


def test_a_reversal_idempotency_key_reverses_once(client, account):
    made = transfer(client, account.id, 1000, "usd")
    key = {"idempotency_key": f"reverse-{made.id}-300"}
    first = client.v1.transfers.reversals.create(made.id, params={"amount": 300}, options=key)
    again = client.v1.transfers.reversals.create(made.id, params={"amount": 300}, options=key)
    assert again.id == first.id
    assert client.v1.transfers.retrieve(made.id).amount_reversed == 300


def test_a_reversal_is_refused_when_the_account_has_paid_the_money_out(client, account):
    made = transfer(client, account.id, 1000, "usd")
    client.v1.payouts.create(params={"amount": 800, "currency": "usd"}, options={"stripe_account": account.id})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.transfers.reversals.create(made.id, params={"amount": 500})
    assert refused.value.code == "balance_insufficient"
    assert client.v1.transfers.reversals.create(made.id, params={"amount": 200}).amount == 200
    assert available(client, account.id) == {"usd": 0}


def test_the_connected_balance_counts_transfers_in_and_reversals_and_payouts_out_per_currency(client, standin, account):
    dollars = transfer(client, account.id, 5000, "usd")
    transfer(client, account.id, 3000, "eur")
    client.v1.transfers.reversals.create(dollars.id, params={"amount": 1000})
    client.v1.payouts.create(params={"amount": 500, "currency": "eur"}, options={"stripe_account": account.id})
    balance = client.v1.balance.retrieve(options={"stripe_account": account.id})
    assert balance.object == "balance"
    assert {item.currency: item.amount for item in balance.available} == {"usd": 4000, "eur": 2500}
    assert {item.currency: item.amount for item in balance.pending} == {"usd": 0, "eur": 0}
    other = onboarded_account(client, standin.url)
    assert available(client, other.id) == {"usd": 0}


# --- payouts on connected accounts -------------------------------------------------------


@pytest.mark.parametrize(("currency", "amount"), [("usd", 2500), ("jpy", 3000), ("huf", 150000)])
def test_a_payout_in_any_currency_is_paid_after_the_delay_with_connect_events(
    client, account, receiver, hooks, currency, amount
):
    transfer(client, account.id, amount, currency)
    on_account = {"stripe_account": account.id}
    started = time.monotonic()
    payout = client.v1.payouts.create(params={"amount": amount, "currency": currency,
                                              "metadata": {"payout_id": f"p_{currency}"}},
                                      options={**on_account, "idempotency_key": f"payout-{account.id}-{currency}"})
    assert payout.id.startswith("po_") and payout.status == "pending" and payout.currency == currency
    assert payout.amount == amount and payout.metadata.payout_id == f"p_{currency}"
    assert available(client, account.id)[currency] == 0

    paid = wait_until(lambda: (p := client.v1.payouts.retrieve(payout.id, options=on_account)).status == "paid" and p)
    assert time.monotonic() - started >= PAYOUT_DELAY * 0.9
    assert paid.amount == amount
    [created] = receiver.wait("/connect", "payout.created", payout.id)
    [paid_event] = receiver.wait("/connect", "payout.paid", payout.id)
    for delivery in (created, paid_event):
        event = delivery.verified(hooks["connect"])
        assert event.account == account.id and event.data.object.currency == currency
    assert paid_event.event["request"] == {"id": None, "idempotency_key": None}
    assert created.event["request"]["idempotency_key"] == f"payout-{account.id}-{currency}"
    assert receiver.at("/platform", None, payout.id) == []


def test_a_payout_is_refused_beyond_the_balance_before_onboarding_and_in_part_forints(client, standin, account):
    transfer(client, account.id, 10050, "huf")
    on_account = {"stripe_account": account.id}
    with pytest.raises(stripe.InvalidRequestError) as over:
        client.v1.payouts.create(params={"amount": 10100, "currency": "huf"}, options=on_account)
    assert over.value.code == "balance_insufficient"
    with pytest.raises(stripe.InvalidRequestError) as part:
        client.v1.payouts.create(params={"amount": 10050, "currency": "huf"}, options=on_account)
    assert part.value.param == "amount" and "divisible by 100" in part.value.user_message
    assert client.v1.payouts.create(params={"amount": 10000, "currency": "huf"}, options=on_account).amount == 10000

    new = client.v1.accounts.create(params={"type": "express", "capabilities": {"transfers": {"requested": True}}})
    with pytest.raises(stripe.InvalidRequestError) as not_enabled:
        client.v1.payouts.create(params={"amount": 100, "currency": "usd"}, options={"stripe_account": new.id})
    assert not_enabled.value.code == "payouts_not_allowed"


def test_a_payout_failed_on_demand_returns_its_amount_and_is_never_paid(client, standin, account, receiver, hooks):
    transfer(client, account.id, 2000, "usd")
    on_account = {"stripe_account": account.id}
    payout = client.v1.payouts.create(params={"amount": 2000, "currency": "usd"}, options=on_account)
    failed = config(standin.url, f"payouts/{payout.id}/fail", failure_code="account_closed")
    assert failed["status"] == "failed" and failed["failure_code"] == "account_closed"
    assert failed["failure_message"] and failed["failure_balance_transaction"].startswith("txn_")
    assert available(client, account.id) == {"usd": 2000}
    [delivery] = receiver.wait("/connect", "payout.failed", payout.id)
    assert delivery.verified(hooks["connect"]).data.object.status == "failed"
    time.sleep(PAYOUT_DELAY + 0.5)
    assert client.v1.payouts.retrieve(payout.id, options=on_account).status == "failed"
    assert receiver.at("/connect", "payout.paid", payout.id) == []


def test_a_paid_payout_can_fail_later_and_its_amount_comes_back(client, standin, account, receiver):
    transfer(client, account.id, 3000, "usd")
    on_account = {"stripe_account": account.id}
    payout = client.v1.payouts.create(params={"amount": 3000, "currency": "usd"}, options=on_account)
    receiver.wait("/connect", "payout.paid", payout.id)
    config(standin.url, f"payouts/{payout.id}/fail")
    [failed] = receiver.wait("/connect", "payout.failed", payout.id)
    assert failed.event["data"]["object"]["failure_code"] == "could_not_process"
    assert failed.event["data"]["previous_attributes"]["status"] == "paid"
    assert available(client, account.id) == {"usd": 3000}


def test_payouts_to_a_failing_bank_account_fail_after_the_delay(client, standin, account, receiver):
    config(standin.url, f"accounts/{account.id}/payout_failure", failure_code="no_account")
    transfer(client, account.id, 1500, "usd")
    payout = client.v1.payouts.create(params={"amount": 1500, "currency": "usd"},
                                      options={"stripe_account": account.id})
    [failed] = receiver.wait("/connect", "payout.failed", payout.id)
    assert failed.event["data"]["object"]["failure_code"] == "no_account"
    assert receiver.at("/connect", "payout.paid", payout.id) == []
    assert available(client, account.id) == {"usd": 1500}


def test_a_pending_payout_can_be_canceled_and_a_paid_one_cannot(client, account, receiver):
    transfer(client, account.id, 1000, "usd")
    on_account = {"stripe_account": account.id}
    payout = client.v1.payouts.create(params={"amount": 600, "currency": "usd"}, options=on_account)
    canceled = client.v1.payouts.cancel(payout.id, options=on_account)
    assert canceled.status == "canceled" and available(client, account.id) == {"usd": 1000}
    receiver.wait("/connect", "payout.canceled", payout.id)

    paid = client.v1.payouts.create(params={"amount": 400, "currency": "usd"}, options=on_account)
    receiver.wait("/connect", "payout.paid", paid.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.cancel(paid.id, options=on_account)


def test_a_payout_belongs_to_its_account_only(client, standin, account):
    transfer(client, account.id, 100, "usd")
    payout = client.v1.payouts.create(params={"amount": 100, "currency": "usd"}, options={"stripe_account": account.id})
    other = onboarded_account(client, standin.url)
    with pytest.raises(stripe.InvalidRequestError) as elsewhere:
        client.v1.payouts.retrieve(payout.id, options={"stripe_account": other.id})
    assert elsewhere.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payouts.retrieve(payout.id)  # the platform's own payouts are another list
    listed = client.v1.payouts.list(options={"stripe_account": account.id})
    assert [p.id for p in listed.data] == [payout.id]


# --- refunds ---------------------------------------------------------------------------------


def test_a_payment_intent_names_its_latest_charge_by_id_unless_asked_to_expand_it(client, receiver):
    intent = paid_intent(client, 1200)
    assert isinstance(intent.latest_charge, str) and intent.latest_charge.startswith("ch_")
    expanded = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert expanded.latest_charge.id == intent.latest_charge and expanded.latest_charge.amount == 1200
    [succeeded] = receiver.wait("/platform", "payment_intent.succeeded", intent.id)
    assert succeeded.event["data"]["object"]["latest_charge"] == intent.latest_charge


def _charge_of(intent) -> str:
    return intent.latest_charge


def test_each_refund_sends_charge_refunded_with_the_cumulative_amount_refunded(client, receiver, hooks):
    intent = paid_intent(client, 5000)
    first = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000,
                                             "metadata": {"refund_total": "1000"}},
                                     options={"idempotency_key": f"refund-{intent.id}-1000"})
    again = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000,
                                             "metadata": {"refund_total": "1000"}},
                                     options={"idempotency_key": f"refund-{intent.id}-1000"})
    assert again.id == first.id and first.status == "succeeded" and first.payment_intent == intent.id
    client.v1.refunds.create(params={"charge": _charge_of(intent), "amount": 1500})

    charge_id = _charge_of(intent)
    deliveries = receiver.wait("/platform", "charge.refunded", charge_id, count=2)
    totals = sorted(d.verified(hooks["platform"]).data.object.amount_refunded for d in deliveries)
    assert totals == [1000, 2500]
    assert all(d.event["data"]["object"]["payment_intent"] == intent.id for d in deliveries)
    [created] = receiver.wait("/platform", "refund.created", first.id)
    assert created.event["data"]["object"]["amount"] == 1000
    time.sleep(0.3)
    assert len(receiver.at("/platform", "refund.created", first.id)) == 1

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2501})
    assert too_much.value.param == "amount"
    client.v1.refunds.create(params={"payment_intent": intent.id})
    with pytest.raises(stripe.InvalidRequestError) as done:
        client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1})
    assert done.value.code == "charge_already_refunded"


def test_a_refund_that_fails_afterwards_gives_its_amount_back_to_the_charge(client, standin, receiver, hooks):
    intent = paid_intent(client, 3000)
    refund = client.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2000})
    failed = config(standin.url, f"refunds/{refund.id}/fail", failure_reason="expired_or_canceled_card")
    assert failed["status"] == "failed" and failed["failure_reason"] == "expired_or_canceled_card"
    for event_type in ("refund.updated", "charge.refund.updated", "refund.failed"):
        [delivery] = receiver.wait("/platform", event_type, refund.id)
        event = delivery.verified(hooks["platform"])
        assert event.data.object.status == "failed" and event.data.previous_attributes.status == "succeeded"
    charge = client.v1.charges.retrieve(_charge_of(intent))
    assert charge.amount_refunded == 0 and charge.refunded is False
    assert client.v1.refunds.create(params={"payment_intent": intent.id}).amount == 3000


# --- webhook endpoints and the events API ----------------------------------------------------


def test_each_endpoint_gets_its_kind_of_events_signed_with_its_own_secret(client, standin, receiver, account):
    url = receiver.url
    platform = endpoint(client, f"{url}/own-platform", connect=False, events=["transfer.created"])
    connect = endpoint(client, f"{url}/own-connect", connect=True, events=["payout.created", "payout.paid"])
    assert platform.secret.startswith("whsec_") and connect.secret != platform.secret
    assert platform.object == "webhook_endpoint" and platform.status == "enabled"
    assert platform.enabled_events == ["transfer.created"] and platform.livemode is False
    assert "secret" not in client.v1.webhook_endpoints.retrieve(platform.id)
    requests.post(f"{standin.url}/_config/webhooks/everything", data={"url": f"{url}/config", "secret": "whsec_cfg"},
                  timeout=5).raise_for_status()

    made = transfer(client, account.id, 700, "usd")
    payout = client.v1.payouts.create(params={"amount": 700, "currency": "usd"},
                                      options={"stripe_account": account.id})
    [to_platform] = receiver.wait("/own-platform", "transfer.created", made.id)
    assert to_platform.verified(platform.secret).id == to_platform.event["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        to_platform.verified(connect.secret)
    [to_connect] = receiver.wait("/own-connect", "payout.paid", payout.id)
    assert to_connect.verified(connect.secret).account == account.id
    assert to_connect.headers["Stripe-Signature"].startswith("t=") and ",v1=" in to_connect.headers["Stripe-Signature"]
    # a localstripe-style registration receives both kinds
    receiver.wait("/config", "transfer.created", made.id)[0].verified("whsec_cfg")
    receiver.wait("/config", "payout.paid", payout.id)[0].verified("whsec_cfg")
    assert receiver.at("/own-platform", None, payout.id) == []
    assert receiver.at("/own-connect", "transfer.created", made.id) == []
    requests.delete(f"{standin.url}/_config/webhooks/everything", timeout=5).raise_for_status()


def test_a_disabled_or_updated_endpoint_gets_what_its_settings_say(client, receiver, account):
    hook = endpoint(client, f"{receiver.url}/switch", connect=False, events=["transfer.created"])
    client.v1.webhook_endpoints.update(hook.id, params={"disabled": True})
    quiet = transfer(client, account.id, 100, "usd")
    updated = client.v1.webhook_endpoints.update(hook.id, params={"disabled": False, "url": f"{receiver.url}/moved",
                                                                  "enabled_events": ["transfer.reversed"]})
    assert updated.status == "enabled" and updated.url.endswith("/moved")
    client.v1.transfers.reversals.create(quiet.id, params={"amount": 50})
    receiver.wait("/moved", "transfer.reversed", quiet.id)
    assert receiver.at("/switch") == [] and receiver.at("/moved", "transfer.created") == []
    assert client.v1.webhook_endpoints.delete(hook.id).deleted is True
    assert hook.id not in [e.id for e in client.v1.webhook_endpoints.list(params={"limit": 100}).data]


def test_a_delivery_the_receiver_refuses_is_retried_until_it_is_accepted(client, standin, receiver, account):
    hook = endpoint(client, f"{receiver.url}/flaky", connect=False, events=["transfer.created"])
    receiver.refusals["/flaky"] = 2
    made = transfer(client, account.id, 100, "usd")
    [delivery] = receiver.wait("/flaky", "transfer.created", made.id)
    event_id = delivery.event["id"]
    wait_until(lambda: client.v1.events.retrieve(event_id).pending_webhooks == 0)
    client.v1.webhook_endpoints.delete(hook.id)


def test_the_events_api_lists_the_platform_and_each_account_apart_newest_first(client, account):
    # a second of its own: events of earlier tests made in the current second would match created[gte]
    since = int(time.time()) + 1
    while time.time() < since:
        time.sleep(0.02)
    made = [transfer(client, account.id, 10 + n, "usd") for n in range(3)]
    payout = client.v1.payouts.create(params={"amount": 5, "currency": "usd"}, options={"stripe_account": account.id})

    listed = client.v1.events.list(params={"type": "transfer.created", "created": {"gte": since}, "limit": 2})
    assert [e.data.object.id for e in listed.data] == [made[2].id, made[1].id] and listed.has_more is True
    rest = client.v1.events.list(params={"type": "transfer.created", "created": {"gte": since},
                                         "starting_after": listed.data[-1].id})
    assert [e.data.object.id for e in rest.data] == [made[0].id] and rest.has_more is False
    event = listed.data[0].to_dict()
    assert set(event) >= {"id", "object", "api_version", "created", "data", "livemode", "pending_webhooks",
                          "request", "type"}
    assert event["object"] == "event" and "account" not in event and event["request"]["id"].startswith("req_")

    platform_types = {e.type for e in client.v1.events.list(params={"created": {"gte": since}, "limit": 100}).data}
    assert "payout.created" not in platform_types
    connected = client.v1.events.list(params={"type": "payout.*"}, options={"stripe_account": account.id})
    assert payout.id in {e.data.object.id for e in connected.data}
    assert all(e.account == account.id for e in connected.data)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(connected.data[0].id)  # a Connect event is not the platform's


# --- requests Stripe refuses ------------------------------------------------------------------


def test_a_stripe_account_header_naming_no_account_is_refused_with_403(client):
    with pytest.raises(stripe.PermissionError) as refused:
        client.v1.balance.retrieve(options={"stripe_account": "acct_nobody"})
    assert refused.value.http_status == 403 and refused.value.json_body["error"]["code"] == "account_invalid"


def test_unknown_or_malformed_parameters_are_refused_and_can_be_retried_with_the_same_key(client, account):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": account.id,
                                           "colour": "blue"}, options={"idempotency_key": "retry-me"})
    assert unknown.value.code == "parameter_unknown" and unknown.value.param == "colour"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.transfers.create(params={"currency": "usd", "destination": account.id})
    assert missing.value.code == "parameter_missing" and missing.value.param == "amount"
    with pytest.raises(stripe.InvalidRequestError) as not_a_number:
        client.v1.transfers.create(params={"amount": "12.5", "currency": "usd", "destination": account.id})
    assert not_a_number.value.code == "parameter_invalid_integer"
    # a request refused while its parameters were checked saved nothing under its key
    fixed = client.v1.transfers.create(params={"amount": 100, "currency": "usd", "destination": account.id},
                                       options={"idempotency_key": "retry-me"})
    assert fixed.amount == 100


def test_requests_without_an_api_key_are_refused(standin):
    assert requests.get(f"{standin.url}/v1/accounts", timeout=5).status_code == 401


# --- state across restarts ------------------------------------------------------------------


def test_everything_survives_a_restart_with_the_same_state_file(tmp_path, receiver):
    state_file = str(tmp_path / "stripe-standin.pickle")
    server = StripeStandin("--payout-delay", "2", "--webhook-delay", "0", state_file=state_file)
    try:
        client = client_for(server.url)
        hook = endpoint(client, f"{receiver.url}/restart", connect=True)
        account = onboarded_account(client, server.url)
        made = transfer(client, account.id, 9000, "usd", transfer_group="pay_7")
        client.v1.transfers.reversals.create(made.id, params={"amount": 1000})
        payout = client.v1.payouts.create(params={"amount": 3000, "currency": "usd"},
                                          options={"stripe_account": account.id, "idempotency_key": "payout-7"})
        intent = paid_intent(client, 2500)
        events_before = [e.id for e in client.v1.events.list(params={"limit": 100}).data]

        server.restart()  # killed: what it had answered must already be on disk

        assert client.v1.accounts.retrieve(account.id).payouts_enabled is True
        assert client.v1.transfers.retrieve(made.id).amount_reversed == 1000
        assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
        assert [e.id for e in client.v1.events.list(params={"limit": 100}).data] == events_before
        assert client.v1.webhook_endpoints.retrieve(hook.id).url.endswith("/restart")
        replay = client.v1.payouts.create(params={"amount": 3000, "currency": "usd"},
                                          options={"stripe_account": account.id, "idempotency_key": "payout-7"})
        assert replay.id == payout.id
        # the payout due while the stand-in was down is paid once it is back, and announced with the old secret
        [paid] = receiver.wait("/restart", "payout.paid", payout.id)
        assert paid.verified(hook.secret).account == account.id
        assert available(client, account.id) == {"usd": 5000}
    finally:
        server.stop()


def test_a_state_file_that_cannot_be_read_stops_the_start_with_a_message(tmp_path):
    state_file = tmp_path / "damaged.pickle"
    state_file.write_bytes(b"not a pickle")
    result = subprocess.run([sys.executable, "-m", "stripe_standin", "--port", str(free_port()),
                             "--state-file", str(state_file)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--from-scratch" in result.stderr and str(state_file) in result.stderr
    server = StripeStandin(state_file=str(state_file))  # --from-scratch ignores it, then overwrites it
    try:
        client_for(server.url).v1.accounts.create(params={"type": "express"})
        assert state_file.read_bytes() != b"not a pickle"
    finally:
        server.stop()

