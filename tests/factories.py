"""Objects the tests start from, made through the same code paths users take."""
from __future__ import annotations

import itertools
from datetime import datetime

from flask_jwt_extended import create_access_token
from sqlalchemy import update
from werkzeug.security import generate_password_hash

from payflow import payments, payouts
from payflow.extensions import db
from payflow.models import LedgerTransaction, Payment, Payout, User
from payflow.stripe_api import gateway
from payflow.unit_of_work import atomic

PASSWORD = "correct horse battery"
# Hashed once: scrypt per user would make the suite slow without testing anything new.
_PASSWORD_HASH = generate_password_hash(PASSWORD)
_counter = itertools.count()

VISA = "4242424242424242"
DECLINED = "4000000000000341"


class Factory:
    def __init__(self, app, client):
        self.app = app
        self.client = client

    def user(self, role: str = "company", name: str | None = None) -> User:
        number = next(_counter)
        with atomic():
            user = User(
                email=f"{role}{number}@example.test", password_hash=_PASSWORD_HASH, role=role, name=name or f"{role} {number}"
            )
            db.session.add(user)
        return user

    def headers(self, user: User) -> dict:
        return {"Authorization": f"Bearer {create_access_token(identity=user)}"}

    def card(self, number: str = VISA) -> str:
        db.session.rollback()  # the test's own read transaction: no call to Stripe inside one
        return gateway().create_test_payment_method(number, 12, 2034, "123").id

    def payment(self, company=None, influencer=None, amount=5000, currency="usd", status=payments.PENDING) -> Payment:
        """A payment made through the API, driven to ``status`` by Stripe's own answers."""
        company = company or self.user("company")
        influencer = influencer or self.user("influencer")
        response = self.client.post(
            "/payments",
            json={"influencerId": influencer.id, "amount": amount, "currency": currency, "description": "Campaign"},
            headers=self.headers(company),
        )
        assert response.status_code == 201, response.get_json()
        payment_id = response.get_json()["id"]
        if status in (payments.HELD, payments.RELEASED):
            confirmed = self.client.post(
                f"/payments/{payment_id}/confirm", json={"paymentMethod": self.card()}, headers=self.headers(company)
            )
            assert confirmed.status_code == 200, confirmed.get_json()
        if status == payments.RELEASED:
            released = self.client.post(f"/payments/{payment_id}/release", headers=self.headers(company))
            assert released.status_code == 200, released.get_json()
        return db.session.get(Payment, payment_id)

    def held_payment_direct(self, company, influencer, amount=5000, currency="usd", fee_bps=None) -> Payment:
        """A HELD payment without Stripe, as the webhook job would leave it (for ledger tests)."""
        from flask import current_app

        fee_bps = current_app.config["PLATFORM_FEE_BPS"] if fee_bps is None else fee_bps
        with atomic():
            payment = Payment(
                company_id=company.id,
                influencer_id=influencer.id,
                amount=amount,
                currency=currency,
                status=payments.PENDING,
                fee_bps=fee_bps,
            )
            db.session.add(payment)
            db.session.flush()
            payments.record_succeeded(payment, None, amount, currency)
        return payment

    def released_payment_direct(self, company, influencer, amount=5000, currency="usd") -> Payment:
        """A payment paid (as the webhook job would record it) and released by its company."""
        payment = self.held_payment_direct(company, influencer, amount, currency)
        return payments.release_payment(company, payment.id)

    def refund_confirmed(self, payment_id: str, cumulative: int) -> bool:
        """Stripe confirmed refunds of ``cumulative`` in all (``charge.refunded``'s ``amount_refunded``)."""
        with atomic():
            return payments.record_refund_total(payments.lock_payment(payment_id), cumulative)

    def payout_failed(self, payout_id: str, message: str = "The bank account was closed.") -> bool:
        with atomic():
            return payouts.record_failed(payouts.lock_payout(payout_id), message)

    def funded_influencer(self, amount=10000, currency="eur"):
        """An influencer with ``amount`` net available in ``currency`` (a payment released to them)."""
        company, influencer = self.user("company"), self.user("influencer")
        fee_bps = self.app.config["PLATFORM_FEE_BPS"]
        gross = amount
        # find the gross whose net is exactly `amount`
        while gross - (-(-gross * fee_bps // 10000)) < amount:
            gross += 1
        payment = self.held_payment_direct(company, influencer, gross, currency)
        payments.release_payment(company, payment.id)
        return influencer

    def payout(self, influencer, amount=1000, currency="eur") -> Payout:
        return payouts.request_payout(influencer, amount, currency)


def backdate(when: datetime, *, payment_id: str | None = None, payout_id: str | None = None) -> None:
    """Move the ledger transactions of a payment (or payout) to ``when``, as if they were booked then."""
    column, value = (LedgerTransaction.payment_id, payment_id) if payment_id else (LedgerTransaction.payout_id, payout_id)
    with atomic():
        db.session.execute(update(LedgerTransaction).where(column == value).values(created_at=when))
