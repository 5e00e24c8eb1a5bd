"""The Stripe-Signature header is parsed once: the timestamp checked is the one the signature covers.

An old delivery must not become fresh by adding a second ``t=``: payflow and Stripe's
library once read different ones from ``v1=<sig>, t=<now>,t=<old>``.
"""
from __future__ import annotations

import json
import time

import pytest
import stripe

from payflow.models import WebhookEvent
from payflow.webhooks import simulate
from payflow.webhooks.signature import InvalidSignature, parse_header, verify

from .webhook_helpers import SECRET, count

HOUR = 3600


def _body() -> str:
    event = simulate.build_event("payment_intent.created", {"id": "pi_sig", "object": "payment_intent", "amount": 100})
    return json.dumps(event, separators=(",", ":"))


def _v1(body: str, timestamp: int, secret: str = SECRET) -> str:
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return header.split(",v1=")[1]


def _post(client, body: str, header: str):
    return client.post("/payments/webhook", data=body.encode(),
                       headers={"Content-Type": "application/json", "Stripe-Signature": header})


def _variants_of_an_old_signature(body: str) -> dict[str, str]:
    now, old = int(time.time()), int(time.time()) - HOUR
    sig = _v1(body, old)
    return {
        "a fresh t before the signed old one, with a space": f"v1={sig}, t={now},t={old}",
        "a fresh t before the signed old one": f"v1={sig},t={now},t={old}",
        "the signed old t before a fresh one": f"t={old},t={now},v1={sig}",
        "a fresh t after the signature": f"t={old},v1={sig},t={now}",
        "a fresh t with a tab": f"t={old},\tt={now},v1={sig}",
        "an uppercase T carrying the fresh time": f"T={now},t={old},v1={sig}",
    }


@pytest.mark.parametrize("case", list(_variants_of_an_old_signature(_body())))
def test_an_hour_old_signature_with_a_fresh_timestamp_added_is_refused_and_nothing_is_recorded(client, case):
    body = _body()
    header = _variants_of_an_old_signature(body)[case]
    response = _post(client, body, header)
    assert response.status_code == 400, response.get_json()
    assert count(WebhookEvent) == 0


def test_an_hour_old_signature_alone_is_refused_as_stale(client):
    body = _body()
    old = int(time.time()) - HOUR
    response = _post(client, body, f"t={old},v1={_v1(body, old)}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "stale_timestamp"


def test_a_fresh_timestamp_with_a_signature_over_an_old_one_does_not_verify(client):
    body = _body()
    now, old = int(time.time()), int(time.time()) - HOUR
    response = _post(client, body, f"t={now},v1={_v1(body, old)}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_signature"
    assert count(WebhookEvent) == 0


def test_a_header_with_several_signatures_verifies_when_one_matches(client):
    """Stripe sends one v1 per active secret while an endpoint's secret is rolled."""
    body = _body()
    now = int(time.time())
    header = f"t={now},v1={_v1(body, now, 'whsec_other')},v1={_v1(body, now)},v0={'0' * 64}"
    assert _post(client, body, header).status_code == 200


NOW = 1_800_000_000
SIG = "a" * 64


@pytest.mark.parametrize(
    "case, header",
    [
        ("two t, the same value", f"t={NOW},t={NOW},v1={SIG}"),
        ("space after a comma", f"t={NOW}, v1={SIG}"),
        ("space before a comma", f"t={NOW} ,v1={SIG}"),
        ("space around =", f"t = {NOW},v1={SIG}"),
        ("leading space", f" t={NOW},v1={SIG}"),
        ("trailing space", f"t={NOW},v1={SIG} "),
        ("a tab", f"t={NOW},\tv1={SIG}"),
        ("an empty item", f"t={NOW},,v1={SIG}"),
        ("a trailing comma", f"t={NOW},v1={SIG},"),
        ("an item without =", f"t={NOW},v1={SIG},junk"),
        ("uppercase T", f"T={NOW},v1={SIG}"),
        ("uppercase V1", f"t={NOW},V1={SIG}"),
        ("no t", f"v1={SIG}"),
        ("an empty t", f"t=,v1={SIG}"),
        ("t not a number", f"t=abc,v1={SIG}"),
        ("t a float", f"t={NOW}.5,v1={SIG}"),
        ("t negative", f"t=-{NOW},v1={SIG}"),
        ("t with a plus sign", f"t=+{NOW},v1={SIG}"),
        ("t with leading zeros", f"t=0{NOW},v1={SIG}"),
        ("t huge", f"t={'9' * 40},v1={SIG}"),
        ("t in hexadecimal", f"t=0x6b49d200,v1={SIG}"),
        ("t in other digits", f"t=١٧٠٠,v1={SIG}"),
        ("only v0", f"t={NOW},v0={SIG}"),
        ("v1 not hexadecimal", f"t={NOW},v1={'z' * 64}"),
        ("v1 too short", f"t={NOW},v1=abc"),
        ("v1 in uppercase hex", f"t={NOW},v1={SIG.upper()}"),
        ("an empty v1", f"t={NOW},v1="),
        ("a non-ASCII character", f"t={NOW},v1={SIG},é=1"),
        ("a NUL", f"t={NOW},v1={SIG}\x00"),
        ("a newline", f"t={NOW},\nv1={SIG}"),
    ],
)
def test_ambiguous_or_malformed_headers_are_refused_before_any_hmac(case, header):
    with pytest.raises(InvalidSignature) as refused:
        parse_header(header)
    assert refused.value.reason in ("malformed_signature", "no_v1_signature")


def test_a_header_as_stripe_writes_it_is_read_with_its_one_timestamp():
    parsed = parse_header(f"t={NOW},v1={SIG},v1={'b' * 64},v0={'c' * 64}")
    assert parsed.timestamp == NOW
    assert parsed.signatures == (SIG, "b" * 64)


@pytest.mark.parametrize("offset", [-301, 301])
def test_the_window_is_checked_on_the_signed_timestamp_in_both_directions(offset):
    body = _body()
    signed_at = NOW + offset
    header = f"t={signed_at},v1={_v1(body, signed_at)}"
    with pytest.raises(InvalidSignature) as refused:
        verify(body, header, [SECRET], 300, now=NOW)
    assert refused.value.reason == "stale_timestamp"
    verify(body, header, [SECRET], 300, now=signed_at)  # the same header at its own time is good


@pytest.mark.parametrize(
    "header",
    [
        "v1={sig}, t={now},t={old}",
        "t={old},t={now},v1={sig}",
        "t={now},v1={sig},t={old}",
        " t={old},v1={sig}",
    ],
)
def test_http_deliveries_of_ambiguous_headers_over_a_valid_signature_are_answered_400(client, header):
    body = _body()
    now = int(time.time())
    text = header.format(sig=_v1(body, now), now=now, old=now - HOUR)
    response = _post(client, body, text)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "malformed_signature"
    assert count(WebhookEvent) == 0
