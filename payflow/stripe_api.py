"""Every call payflow makes to Stripe, in one place.

Each call takes plain values (ids, amounts, strings), never ORM objects: a caller
captures what it needs inside its ``atomic()`` block, so that reading an expired
attribute after the commit cannot open a new transaction just before the call.

No call is made while the database session holds a transaction, nor inside an
``atomic()`` block (which would hold one as soon as it touched a row): on SQLite that
would be the database's write lock (every transaction begins ``IMMEDIATE``), on
PostgreSQL row locks and a snapshot, held for as long as Stripe takes to answer.
``_refuse_inside_transaction`` enforces it on every call, in production as in tests
(it costs one attribute read), and raises ``TransactionOpenDuringNetworkCall``.

The rest of the code sees domain errors, never Stripe's exception classes, sorted
by what they mean for money (Stripe's "Error handling" and "Idempotent requests"
docs):

* ``PaymentDeclined`` (402): a card error, a definite answer;
* ``StripeRefused``: Stripe answered with one of its 4xx errors (invalid request,
  authentication, permission, idempotency): nothing was done at Stripe;
* ``StripeOutcomeUnknown``: no definite answer (connection lost or refused, timeout,
  5xx, 409 for a concurrent request with the same key, 429 after the library's own
  retries): Stripe may have done it. Callers keep the object in flight and resolve
  it with the same idempotency key (Stripe keeps keys at least 24 hours) or a lookup.
"""
from __future__ import annotations

import logging
from collections import deque
from contextlib import contextmanager
from datetime import datetime

import stripe
from flask import Flask, current_app, has_app_context

from .errors import PaymentDeclined, StripeOutcomeUnknown, StripeRefused, TransactionOpenDuringNetworkCall
from .extensions import WRITE_TRANSACTION, db

log = logging.getLogger(__name__)

# Stripe's 4xx errors that it raises only from a parsed Stripe error body: a definite answer.
_REFUSALS = (
    stripe.InvalidRequestError,
    stripe.AuthenticationError,
    stripe.PermissionError,
    stripe.IdempotencyError,
)

# Calls the guard refused, newest last. The test suite fails any test that leaves one here,
# also when the error was caught and logged on its way up.
REFUSED_CALLS: deque[str] = deque(maxlen=100)


def _refuse_inside_transaction(action: str) -> None:
    if not has_app_context():
        return
    if WRITE_TRANSACTION.get() or db.session().in_transaction():
        REFUSED_CALLS.append(action)
        log.error("stripe.call_in_transaction action=%r", action)
        raise TransactionOpenDuringNetworkCall(
            f"Stripe {action} called with a database transaction open; commit or roll back first"
        )


def _metadata(obj) -> dict:
    metadata = getattr(obj, "metadata", None)
    return metadata.to_dict() if metadata else {}


def _message(exc: stripe.StripeError) -> str:
    return getattr(exc, "user_message", None) or str(exc) or type(exc).__name__


@contextmanager
def _call(action: str):
    _refuse_inside_transaction(action)
    try:
        yield
    except stripe.CardError as exc:
        raise PaymentDeclined(exc.user_message or "Your card was declined.", details={"declineCode": exc.code}) from exc
    except _REFUSALS as exc:
        log.warning("stripe.refused action=%r status=%s error=%s", action, exc.http_status, exc)
        raise StripeRefused(f"Stripe refused the {action}: {_message(exc)}") from exc
    except stripe.StripeError as exc:
        log.warning("stripe.outcome_unknown action=%r status=%s error=%s", action, exc.http_status, exc)
        raise StripeOutcomeUnknown(f"Stripe gave no definite answer to the {action}: {_message(exc)}") from exc


class StripeGateway:
    def __init__(self, api_key: str, api_base: str | None = None, *, timeout: float = 30, retries: int = 2):
        self.api_base = api_base
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def create_payment_intent(self, *, amount: int, currency: str, metadata: dict, idempotency_key: str):
        with _call("PaymentIntent creation"):
            return self.client.v1.payment_intents.create(
                params={"amount": amount, "currency": currency, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def confirm_payment_intent(self, intent_id: str, payment_method: str):
        # Attached with an update first: some Stripe stand-ins refuse it on confirm.
        with _call("confirmation"):
            self.client.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
            return self.client.v1.payment_intents.confirm(intent_id)

    def retrieve_payment_intent(self, intent_id: str):
        with _call("PaymentIntent lookup"):
            return self.client.v1.payment_intents.retrieve(intent_id)

    def cancel_payment_intent(self, intent_id: str):
        """Cancel a PaymentIntent; returns the intent as Stripe has it after the call.

        When Stripe refuses because the intent can no longer be canceled (it succeeded,
        is processing, or was canceled already), the intent is looked up and returned:
        its status is the answer. Raises ``StripeOutcomeUnknown`` when the outcome is unknown.
        """
        try:
            with _call("PaymentIntent cancellation"):
                return self.client.v1.payment_intents.cancel(intent_id)
        except StripeRefused:
            with _call("PaymentIntent lookup"):
                return self.client.v1.payment_intents.retrieve(intent_id)

    def refund_remaining(self, *, payment_intent: str, metadata: dict, idempotency_key: str):
        """Refund what is left of a PaymentIntent's charge (no amount: Stripe refunds the rest,
        so a repeat with the same key asks exactly the same). Raises ``StripeRefused`` when
        Stripe answers no, ``StripeOutcomeUnknown`` when the outcome is unknown."""
        with _call("refund"):
            return self.client.v1.refunds.create(
                params={"payment_intent": payment_intent, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def create_refund(self, *, payment_intent: str, amount: int, metadata: dict, idempotency_key: str):
        """A Refund of ``amount`` (minor units) of the intent's charge; the same key gives the same refund."""
        with _call("refund"):
            return self.client.v1.refunds.create(
                params={"payment_intent": payment_intent, "amount": amount, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def find_refund(self, *, payment_intent: str, refund_id: str):
        """The refund of the intent's charge whose metadata names ``refund_id``; None if Stripe has none."""
        with _call("refund lookup"):
            refunds = self.client.v1.refunds.list(params={"payment_intent": payment_intent, "limit": 100})
            for refund in refunds.auto_paging_iter():
                if _metadata(refund).get("refund_id") == refund_id:
                    return refund
        return None

    def create_payout(self, *, amount: int, currency: str, metadata: dict, idempotency_key: str):
        """A Payout of ``amount`` (minor units); the same key gives the same payout for 24 hours."""
        with _call("payout"):
            return self.client.v1.payouts.create(
                params={"amount": amount, "currency": currency, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def find_payout(self, *, payout_id: str, requested_at: datetime):
        """The payout whose metadata names ``payout_id``, made at Stripe since ``requested_at``
        (less an hour of clock skew; Stripe's ``created`` filter); None if Stripe has none.

        No upper bound: a resend of the request with its idempotency key may have made the payout
        hours after it was first requested."""
        params = {"created": {"gte": int(requested_at.timestamp()) - 3600}, "limit": 100}
        with _call("payout lookup"):
            for payout in self.client.v1.payouts.list(params=params).auto_paging_iter():
                if _metadata(payout).get("payout_id") == payout_id:
                    return payout
        return None

    def create_test_payment_method(self, card_number: str, exp_month: int, exp_year: int, cvc: str):
        """A card PaymentMethod from raw test numbers: only test-mode Stripe and stand-ins allow it."""
        with _call("card setup"):
            return self.client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"number": card_number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
                }
            )

    def list_events(self, *, created_gte: int, starting_after: str | None = None, limit: int = 100):
        params = {"created": {"gte": created_gte}, "limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        with _call("event listing"):
            return self.client.v1.events.list(params=params)


def init_app(app: Flask) -> None:
    app.extensions["payflow_stripe"] = StripeGateway(app.config["STRIPE_SECRET_KEY"], app.config["STRIPE_API_BASE"])


def gateway() -> StripeGateway:
    return current_app.extensions["payflow_stripe"]
