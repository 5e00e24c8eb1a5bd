"""The whole loop driven by localstripe: it signs and sends the events, payflow applies them."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from payflow.extensions import db
from payflow.models import Payment, WebhookEvent
from payflow.stripe_api import gateway
from payflow.wallet import wallet_view
from payflow.webhooks import inbox

from .factories import DECLINED
from .services import free_port
from .webhook_helpers import SECRET, ServedApp, release_test_session, run_jobs, wait_until


@pytest.fixture
def served(app, localstripe):
    server = ServedApp(app)
    response = requests.post(
        f"{localstripe.url}/_config/webhooks/payflow",
        data={"url": f"{server.url}/payments/webhook", "secret": SECRET},
        timeout=5,
    )
    response.raise_for_status()
    yield server
    server.stop()


def _recorded(event_type: str, object_id: str):
    def check():
        db.session.expire_all()
        return db.session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.type == event_type, WebhookEvent.object_id == object_id)
        ).first()

    return check


def _pay_in_browser(intent_id: str, card: str) -> None:
    """What Stripe.js does with the client secret: confirm the intent directly at Stripe."""
    release_test_session()
    try:
        gateway().confirm_payment_intent(intent_id, card)
    except Exception:
        pass  # a decline is Stripe's answer to the browser; payflow learns it from the webhook


def test_a_card_payment_confirmed_in_the_browser_is_held_when_stripe_says_so(app, factory, served):
    payment = factory.payment(amount=7500)
    _pay_in_browser(payment.stripe_payment_intent_id, factory.card())
    event_id = wait_until(_recorded("payment_intent.succeeded", payment.stripe_payment_intent_id))
    run_jobs(app)
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event_id).status == inbox.PROCESSED
    assert db.session.get(Payment, payment.id).status == "HELD"
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 6750


def test_a_declined_card_reported_by_stripe_fails_the_payment_with_its_message(app, factory, served):
    payment = factory.payment()
    _pay_in_browser(payment.stripe_payment_intent_id, factory.card(DECLINED))
    wait_until(_recorded("payment_intent.payment_failed", payment.stripe_payment_intent_id))
    run_jobs(app)
    db.session.expire_all()
    failed = db.session.get(Payment, payment.id)
    assert failed.status == "FAILED"
    assert "declined" in failed.failure_message.lower()


def test_the_success_event_after_a_server_side_confirm_changes_nothing_more(app, client, factory, served):
    payment = factory.payment(status="HELD")
    event_id = wait_until(_recorded("payment_intent.succeeded", payment.stripe_payment_intent_id))
    run_jobs(app)
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event_id).status == inbox.IGNORED
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500


def test_reconcile_fetches_events_that_never_arrived(app, factory, localstripe):
    # No webhook endpoint registered for this payment: the event exists only at Stripe.
    requests.post(f"{localstripe.url}/_config/webhooks/payflow",
                  data={"url": "http://127.0.0.1:9/nowhere", "secret": SECRET}, timeout=5)
    payment = factory.payment()
    _pay_in_browser(payment.stripe_payment_intent_id, factory.card())
    result = app.test_cli_runner().invoke(args=["webhooks", "reconcile", "--since", "10m"])
    assert result.exit_code == 0, result.output
    run_jobs(app)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "HELD"
    release_test_session()  # the command shares this test's session; a real one starts with none
    again = app.test_cli_runner().invoke(args=["webhooks", "reconcile", "--since", "10m"])
    assert "0 were missing" in again.output


def test_simulate_posts_a_signed_event_that_payflow_applies(app, factory, served):
    payment = factory.payment()
    release_test_session()
    result = app.test_cli_runner().invoke(
        args=["webhooks", "simulate", "payment_intent.succeeded", "--payment", payment.id,
              "--url", f"{served.url}/payments/webhook"]
    )
    assert result.exit_code == 0, result.output
    assert "-> 200" in result.output
    run_jobs(app)
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "HELD"


def test_simulate_refuses_an_event_type_it_cannot_build(app, factory):
    payment = factory.payment()
    result = app.test_cli_runner().invoke(args=["webhooks", "simulate", "payout.paid", "--payment", payment.id])
    assert result.exit_code != 0
    assert "cannot simulate" in result.output


def test_simulate_says_what_to_do_when_nothing_answers_at_the_webhook_address(app, factory):
    payment = factory.payment()
    release_test_session()
    url = f"http://127.0.0.1:{free_port()}/payments/webhook"
    result = app.test_cli_runner().invoke(
        args=["webhooks", "simulate", "payment_intent.succeeded", "--payment", payment.id, "--url", url])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"nothing answers at {url}" in result.output and "--url" in result.output and "PORT" in result.output
