"""A slow Stripe never stalls other requests or streams (SPEC §5), on SQLite as on PostgreSQL.

The product as the Procfile runs it (gunicorn with a gevent worker) talks to a Stripe
stand-in that holds the answer to a payout request until the test lets it go. While the
influencer's payout waits on Stripe, the dashboard's own requests (the wallet, the payout,
the list) and another person's money move are answered, and a stream stays live, all
before the slow answer comes back: no "database is locked", no 500.
"""
from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select

from payflow.extensions import db
from payflow.models import Notification

from .stream_helpers import SSEStream, server_environment, start_web_processes
from .faulty_stripe import FaultyStripe
from .webhook_helpers import release_test_session

ANSWER_WITHIN = 20  # seconds: a request that waited for the held call would fail only after the hold ends


@pytest.fixture
def slow_stripe(localstripe):
    standin = FaultyStripe(localstripe.url)
    yield standin
    standin.stop()


@pytest.fixture
def web(migrated_app, database_url, redis_server, slow_stripe):
    [process] = start_web_processes([server_environment(database_url, redis_server.url, slow_stripe.url)])
    yield process
    process.stop()


def test_while_a_payout_waits_on_a_slow_stripe_the_influencers_other_requests_and_streams_are_answered(
    app, factory, web, slow_stripe
):
    influencer = factory.funded_influencer(10000, "eur")
    other = factory.funded_influencer(5000, "eur")
    headers, other_headers = factory.headers(influencer), factory.headers(other)
    note_id = db.session.scalar(select(Notification.id).where(Notification.user_id == other.id))
    release_test_session()
    gate = slow_stripe.hold("POST", "/v1/payouts")
    answer = {}

    def request_payout():
        answer["response"] = requests.post(f"{web.url}/payouts", json={"amount": 4000, "currency": "eur"},
                                           headers=headers, timeout=60)

    payout_request = threading.Thread(target=request_payout)
    payout_request.start()
    try:
        gate.wait_arrived()  # the payout is committed and its request is at Stripe, waiting

        wallet = requests.get(f"{web.url}/wallet", headers=headers, timeout=ANSWER_WITHIN)
        assert wallet.status_code == 200, wallet.text
        assert wallet.json()["wallets"][0]["availableBalance"] == 6000
        listed = requests.get(f"{web.url}/payouts", headers=headers, timeout=ANSWER_WITHIN)
        assert listed.status_code == 200, listed.text
        payout_id = listed.json()["items"][0]["id"]
        one = requests.get(f"{web.url}/payouts/{payout_id}", headers=headers, timeout=ANSWER_WITHIN)
        assert one.status_code == 200, one.text
        assert one.json()["status"] == "PENDING" and one.json()["awaitingStripe"] is True
        # a write by someone else while the call is held: no lock is held across it
        marked = requests.post(f"{web.url}/notifications/{note_id}/read", headers=other_headers, timeout=ANSWER_WITHIN)
        assert marked.status_code == 200, marked.text
        stream = SSEStream(web.port, headers=headers)
        stream.wait_heartbeats(1, timeout=ANSWER_WITHIN)
        stream.close()

        assert payout_request.is_alive() and not gate.opened.is_set(), "the slow call returned too early"
    finally:
        gate.release()
        payout_request.join(30)

    assert answer["response"].status_code == 201, answer["response"].text
    assert answer["response"].json()["stripePayoutId"].startswith("po_")
    assert "database is locked" not in web.log_text()
