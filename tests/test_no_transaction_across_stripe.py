"""No database transaction is open while payflow waits on Stripe (SPEC §5): on SQLite an open
transaction is the database's write lock, so a request waiting on Stripe with one open would
stall every other request of its process (gevent workers block in SQLite's busy wait)."""
from __future__ import annotations

from payflow.extensions import db


class TransactionSpy:
    """The real gateway, noting whether a transaction was open when each call began."""

    def __init__(self, gateway):
        self.gateway = gateway
        self.calls: list[tuple[str, bool]] = []

    def __getattr__(self, name):
        method = getattr(self.gateway, name)

        def call(*args, **kwargs):
            self.calls.append((name, db.session().in_transaction()))
            return method(*args, **kwargs)

        return call


def _spy(app):
    spy = TransactionSpy(app.extensions["payflow_stripe"])
    app.extensions["payflow_stripe"] = spy
    return spy


def test_a_payout_asks_stripe_with_no_transaction_open(app, client, factory):
    influencer = factory.funded_influencer(5000, "eur")
    spy = _spy(app)
    try:
        response = client.post("/payouts", json={"amount": 1000, "currency": "eur"}, headers=factory.headers(influencer))
    finally:
        app.extensions["payflow_stripe"] = spy.gateway
    assert response.status_code == 201
    assert spy.calls == [("create_payout", False)]


def test_a_refund_asks_stripe_with_no_transaction_open(app, client, factory):
    payment = factory.payment(status="HELD")
    spy = _spy(app)
    try:
        response = client.post(f"/payments/{payment.id}/refund", json={"amount": 100}, headers=factory.headers(payment.company))
    finally:
        app.extensions["payflow_stripe"] = spy.gateway
    assert response.status_code == 202
    assert spy.calls == [("create_refund", False)]
