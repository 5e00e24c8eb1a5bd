"""POST /payments/webhook: what is accepted, what is refused, and that refusals record nothing."""
from __future__ import annotations

import json
import time

import pytest
import stripe

from payflow.models import WebhookEvent
from payflow.webhooks import simulate

from .conftest import make_config
from .webhook_helpers import SECRET, count, deliver, event_row


def _event(event_type="payment_intent.created", **extra):
    return simulate.build_event(event_type, {"id": "pi_123", "object": "payment_intent", "amount": 100}, **extra)


def _post(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/payments/webhook", data=body, headers=headers)


def _assert_refused(response, status=400):
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] and error["message"]
    assert count(WebhookEvent) == 0


def test_a_verified_event_is_recorded_and_answered(client):
    event = _event()
    response = deliver(client, event)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "eventType": "payment_intent.created"}
    row = event_row(event["id"])
    assert row.type == "payment_intent.created"
    assert json.loads(row.payload) == event


def test_a_repeat_delivery_is_answered_as_a_duplicate(client):
    event = _event()
    deliver(client, event)
    response = deliver(client, event)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "eventType": event["type"], "duplicate": True}
    assert count(WebhookEvent) == 1


def test_any_configured_secret_verifies_during_rotation(migrated_app, app, redis_server, localstripe, database_url):
    rotating = make_config(database_url, redis_server.url, localstripe.url)
    rotating.STRIPE_WEBHOOK_SECRETS = ["whsec_old", "whsec_new"]
    from payflow import create_app

    client = create_app(rotating).test_client()
    assert deliver(client, _event(), secret="whsec_new").status_code == 200
    assert deliver(client, _event(), secret="whsec_old").status_code == 200
    assert deliver(client, _event(), secret="whsec_other").status_code == 400


def _signed(body: str, secret=SECRET, timestamp=None):
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)


BODY = json.dumps(_event())


@pytest.mark.parametrize(
    "case, signature",
    [
        ("missing header", None),
        ("empty header", ""),
        ("garbage header", "not a signature"),
        ("timestamp not a number", "t=abc,v1=deadbeef"),
        ("wrong secret", _signed(BODY, "whsec_wrong")),
        ("signature of another body", _signed(BODY + " ")),
        ("only a v0 signature", _signed(BODY).replace("v1=", "v0=")),
        ("non-ascii signature", f"t={int(time.time())},v1=é"),
    ],
)
def test_bad_signatures_are_refused_with_400(client, case, signature):
    _assert_refused(_post(client, BODY.encode(), signature))


@pytest.mark.parametrize("offset", [-301, 301, -86400, 86400])
def test_timestamps_outside_the_tolerance_are_refused_in_both_directions(client, offset):
    signature = _signed(BODY, timestamp=int(time.time()) + offset)
    response = _post(client, BODY.encode(), signature)
    _assert_refused(response)
    assert response.get_json()["error"]["code"] == "stale_timestamp"


def test_a_timestamp_within_the_tolerance_is_accepted(client):
    assert _post(client, BODY.encode(), _signed(BODY, timestamp=int(time.time()) - 200)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2, 3]",
        '"a string"',
        '{"type": "payment_intent.succeeded"}',
        '{"id": "evt_1"}',
        '{"id": 12, "type": "payment_intent.succeeded"}',
        '{"id": "evt_1", "type": ""}',
        "",
    ],
)
def test_bodies_that_are_not_stripe_events_are_refused(client, body):
    _assert_refused(_post(client, body.encode(), _signed(body)))


def test_a_body_that_is_not_utf8_is_refused(client):
    body = b'{"id": "evt_\xff", "type": "x"}'
    signature = _signed(body.decode("latin-1"))
    response = _post(client, body, signature)
    _assert_refused(response)
    assert response.get_json()["error"]["code"] == "invalid_encoding"


def test_a_body_over_the_limit_is_refused_with_413(client):
    body = json.dumps({**_event(), "padding": "x" * (1024 * 1024)})
    _assert_refused(_post(client, body.encode(), _signed(body)), status=413)


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_other_methods_get_405(client, method):
    response = getattr(client, method)("/payments/webhook")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_without_a_configured_secret_the_endpoint_answers_503(migrated_app, app, redis_server, localstripe, database_url):
    from payflow import create_app

    unconfigured = make_config(database_url, redis_server.url, localstripe.url)
    unconfigured.STRIPE_WEBHOOK_SECRETS = []
    response = deliver(create_app(unconfigured).test_client(), _event())
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "webhook_not_configured"
    assert count(WebhookEvent) == 0


def test_connect_events_carry_their_account(client):
    event = _event(account="acct_1Connected")
    assert deliver(client, event).status_code == 200
    assert event_row(event["id"]).account == "acct_1Connected"


def test_rejections_are_counted_by_reason(client):
    _post(client, BODY.encode(), "garbage")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'payflow_webhook_events_rejected_total{reason="malformed_signature"}' in metrics
