"""A correctly signed body that is not a Stripe event is refused with 400, and nothing is recorded."""
from __future__ import annotations

import copy
import json
import time

import pytest

from payflow.models import WebhookEvent
from payflow.webhooks import handlers, simulate
from payflow.webhooks.envelope import OBJECT_SHAPES, NotAStripeEvent, parse

from .webhook_helpers import SECRET, count, deliver, event_row


def _intent() -> dict:
    return {
        "id": "pi_envelope", "object": "payment_intent", "amount": 5000, "amount_received": 5000, "currency": "usd",
        "status": "succeeded", "metadata": {"payment_id": "pay_1"}, "latest_charge": "ch_1", "last_payment_error": None,
    }


def _event(event_type="payment_intent.succeeded", obj=None) -> dict:
    return simulate.build_event(event_type, obj if obj is not None else _intent())


def _with(path: str, value, event_type="payment_intent.succeeded", obj=None) -> dict:
    event = _event(event_type, obj)
    *parents, last = path.split(".")
    target = event
    for key in parents:
        target = target[key]
    if value is _DROP:
        del target[last]
    else:
        target[last] = value
    return event


def _refund() -> dict:
    return {
        "id": "re_1", "object": "refund", "amount": 4000, "currency": "usd", "charge": "ch_1", "payment_intent": "pi_1",
        "status": "failed", "failure_reason": "expired_or_canceled_card",
        "metadata": {"payment_id": "pay_1", "refund_id": "rf_1"},
    }


_DROP = object()
NOW = int(time.time())


def _post_raw(client, body: str):
    """Post ``body`` correctly signed: only its content can be wrong."""
    headers = {"Content-Type": "application/json", "Stripe-Signature": simulate.sign(body, SECRET)}
    return client.post("/payments/webhook", data=body.encode(), headers=headers)


ENVELOPES = {
    "data is a string": lambda: _with("data", "oops"),
    "data is a list": lambda: _with("data", [1, 2]),
    "data is null": lambda: _with("data", None),
    "no data": lambda: _with("data", _DROP),
    "data.object is a string": lambda: _with("data.object", "oops"),
    "data.object is a list": lambda: _with("data.object", [{"id": "pi_1"}]),
    "data.object is null": lambda: _with("data.object", None),
    "no data.object": lambda: _with("data.object", _DROP),
    "created is missing": lambda: _with("created", _DROP),
    "created is a bool": lambda: _with("created", True),
    "created is a float": lambda: _with("created", float(NOW)),
    "created is a string": lambda: _with("created", str(NOW)),
    "created is negative": lambda: _with("created", -NOW),
    "created is zero": lambda: _with("created", 0),
    "created is absurdly large": lambda: _with("created", 10**30),
    "created is years ahead": lambda: _with("created", NOW + 5 * 365 * 86400),
    "created is before Stripe": lambda: _with("created", 946684800),
    "object is not event": lambda: _with("object", "payment_intent"),
    "account is a number": lambda: _with("account", 42),
    "account is empty": lambda: _with("account", ""),
    "account is an object": lambda: _with("account", {"id": "acct_1"}),
    "account holds a space": lambda: _with("account", "acct 1"),
    "id holds NUL": lambda: _with("id", "evt_\x00x"),
    "id holds an unpaired surrogate": lambda: _with("id", "evt_\ud800"),
    "id holds a low surrogate": lambda: _with("id", "evt_\udc00x"),
    "id holds a space": lambda: _with("id", "evt 1"),
    "id is too long": lambda: _with("id", "evt_" + "x" * 300),
    "type holds NUL": lambda: _with("type", "payment_intent.succeeded\x00"),
    "type holds an unpaired surrogate": lambda: _with("type", "payment_intent.\ud800"),
    "type is in uppercase": lambda: _with("type", "PAYMENT_INTENT.SUCCEEDED"),
    "type has no dot": lambda: _with("type", "succeeded"),
    "type is a list": lambda: _with("type", ["payment_intent.succeeded"]),
    "a nested string holds NUL": lambda: _with("data.object.description", "a\x00b"),
    "a key holds an unpaired surrogate": lambda: _with("data.object.\ud800", "x"),
    "a string in a list holds a surrogate": lambda: _with("data.object.payment_method_types", ["card", "\udfff"]),
}

OBJECTS = {
    "amount is a string": lambda: _with("data.object.amount", "5000"),
    "amount is a bool": lambda: _with("data.object.amount", True),
    "amount is a float": lambda: _with("data.object.amount", 5000.0),
    "amount is negative": lambda: _with("data.object.amount", -1),
    "amount is absurd": lambda: _with("data.object.amount", 10**40),
    "amount_received is a string": lambda: _with("data.object.amount_received", "5000"),
    "currency is a number": lambda: _with("data.object.currency", 840),
    "currency is not three letters": lambda: _with("data.object.currency", "usdollar"),
    "the intent has no id": lambda: _with("data.object.id", _DROP),
    "the intent's id is a number": lambda: _with("data.object.id", 12),
    "the object is not an intent": lambda: _with("data.object.object", "charge"),
    "metadata is a string": lambda: _with("data.object.metadata", "payment_id=pay_1"),
    "a metadata value is a number": lambda: _with("data.object.metadata", {"payment_id": 1}),
    "latest_charge is a number": lambda: _with("data.object.latest_charge", 7),
    "a refund total is a string": lambda: _with("data.object.amount_refunded", "100", "charge.refunded", {
        "id": "ch_1", "object": "charge", "amount": 5000, "amount_refunded": 0, "currency": "usd",
        "payment_intent": "pi_1"}),
    "a charge's intent is a number": lambda: _with("data.object.payment_intent", 5, "charge.refunded", {
        "id": "ch_1", "object": "charge", "amount": 5000, "amount_refunded": 10, "currency": "usd",
        "payment_intent": "pi_1"}),
    "a dispute has no charge": lambda: _with("data.object.charge", _DROP, "charge.dispute.created", {
        "id": "dp_1", "object": "dispute", "amount": 5000, "currency": "usd", "status": "needs_response",
        "charge": "ch_1", "payment_intent": "pi_1"}),
    "a payout's amount is a float": lambda: _with("data.object.amount", 10.5, "payout.paid", {
        "id": "po_1", "object": "payout", "amount": 1000, "currency": "eur", "status": "paid",
        "metadata": {"payout_id": "po_x"}}),
    "a payout's metadata is a list": lambda: _with("data.object.metadata", ["po_x"], "payout.failed", {
        "id": "po_1", "object": "payout", "amount": 1000, "currency": "eur", "status": "failed", "metadata": {}}),
    "a failed payment's message is an object": lambda: _with(
        "data.object.last_payment_error", {"message": {"text": "declined"}}, "payment_intent.payment_failed"),
    "a failed payment's error is a string": lambda: _with(
        "data.object.last_payment_error", "declined", "payment_intent.payment_failed"),
    "a refund's metadata is a list": lambda: _with("data.object.metadata", ["rf_1"], "refund.failed", _refund()),
    "a refund's status is a list": lambda: _with("data.object.status", ["failed"], "charge.refund.updated", _refund()),
    "a refund's currency is a number": lambda: _with("data.object.currency", 840, "refund.updated", _refund()),
    "a refund's amount is a string": lambda: _with("data.object.amount", "4000", "refund.failed", _refund()),
    "a refund's failure reason is an object": lambda: _with(
        "data.object.failure_reason", {"code": "lost"}, "refund.failed", _refund()),
    "a refund's id is a number": lambda: _with("data.object.id", 7, "refund.updated", _refund()),
    "a refund's intent is a list": lambda: _with("data.object.payment_intent", ["pi_1"], "refund.failed", _refund()),
    "the refund object is a charge": lambda: _with("data.object.object", "charge", "refund.failed", _refund()),
}


@pytest.mark.parametrize("case", list(ENVELOPES) + list(OBJECTS))
def test_a_signed_body_that_is_not_a_stripe_event_is_refused_with_400_and_nothing_is_recorded(client, case):
    event = (ENVELOPES.get(case) or OBJECTS[case])()
    body = json.dumps(event)  # ensure_ascii: NUL and surrogates travel as \\u escapes, as an attacker would send them
    response = _post_raw(client, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == "invalid_event"
    assert count(WebhookEvent) == 0


@pytest.mark.parametrize("case", list(ENVELOPES) + list(OBJECTS))
def test_the_envelope_check_names_what_is_wrong(case):
    event = (ENVELOPES.get(case) or OBJECTS[case])()
    with pytest.raises(NotAStripeEvent) as refused:
        parse(json.dumps(event))
    assert str(refused.value)


def test_a_body_nested_absurdly_deep_is_refused_with_400(client):
    body = '{"id": "evt_1", "object": "event", "type": "a.b", "created": 1, "data": {"object": ' + "[" * 100000 \
        + "]" * 100000 + "}}"
    response = _post_raw(client, body)
    assert response.status_code == 400
    assert count(WebhookEvent) == 0


def test_an_event_of_a_type_payflow_does_not_apply_needs_only_a_sound_envelope(client):
    event = simulate.build_event("customer.created", {"id": "cus_1", "object": "customer", "email": None})
    assert deliver(client, event).status_code == 200
    assert event_row(event["id"]).status == "received"


def test_non_ascii_text_and_paired_surrogate_escapes_are_accepted(client):
    intent = _intent()
    intent["description"] = "Café 😀 — ☕"
    event = _event(obj=intent)
    body = json.dumps(event)  # "😀" travels as the escaped pair \\ud83d\\ude00
    assert "\\ud83d\\ude00" in body
    assert _post_raw(client, body).status_code == 200
    assert json.loads(event_row(event["id"]).payload)["data"]["object"]["description"] == "Café 😀 — ☕"


def test_every_shape_refused_here_would_otherwise_be_accepted_without_its_fault():
    """The cases change one thing each: the event they start from is itself accepted."""
    for event_type, obj in [
        ("payment_intent.succeeded", _intent()),
        ("charge.refunded", {"id": "ch_1", "object": "charge", "amount": 5000, "amount_refunded": 10,
                             "currency": "usd", "payment_intent": "pi_1"}),
        ("charge.dispute.created", {"id": "dp_1", "object": "dispute", "amount": 5000, "currency": "usd",
                                    "status": "needs_response", "charge": "ch_1", "payment_intent": "pi_1"}),
        ("payout.paid", {"id": "po_1", "object": "payout", "amount": 1000, "currency": "eur", "status": "paid",
                         "metadata": {"payout_id": "po_x"}}),
        ("payment_intent.payment_failed", {**_intent(), "status": "requires_payment_method",
                                           "last_payment_error": {"message": "Your card was declined."}}),
        *((event_type, _refund()) for event_type in simulate.REFUND_EVENTS),
    ]:
        assert parse(json.dumps(copy.deepcopy(_event(event_type, obj))))


def test_every_event_type_payflow_applies_has_the_fields_its_handler_reads_checked_at_the_door():
    """A handler meets only objects of the shape it reads: a type added to the handlers without
    a shape here would let a signed body with an odd field crash its job."""
    assert set(handlers.HANDLERS) <= set(OBJECT_SHAPES)
