"""Every call payflow makes to Stripe, in one place.

The rest of the code sees domain errors, never Stripe's exception classes: a
declined card is ``PaymentDeclined`` (402), anything else that stops Stripe from
answering is ``StripeUnavailable`` (502).
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import stripe
from flask import Flask, current_app

from .errors import PaymentDeclined, StripeRefused, StripeUnavailable

log = logging.getLogger(__name__)


@contextmanager
def _translated_errors(action: str):
    try:
        yield
    except stripe.CardError as exc:
        raise PaymentDeclined(exc.user_message or "Your card was declined.", details={"declineCode": exc.code}) from exc
    except stripe.StripeError as exc:
        log.warning("stripe %s failed: %s", action, exc)
        message = getattr(exc, "user_message", None) or str(exc) or "Stripe did not answer"
        raise StripeUnavailable(f"Stripe {action} failed: {message}") from exc


@contextmanager
def _refusal_or_unknown(action: str):
    """Tell Stripe's refusals (an answer: nothing happened) from unknown outcomes (no answer,
    5xx, 429 after the library's retries: it may have happened), which are never refusals."""
    try:
        yield
    except (stripe.InvalidRequestError, stripe.CardError) as exc:
        message = getattr(exc, "user_message", None) or str(exc) or "refused"
        raise StripeRefused(f"Stripe refused the {action}: {message}") from exc
    except stripe.StripeError as exc:
        log.warning("stripe %s: outcome unknown: %s", action, exc)
        raise StripeUnavailable(f"Stripe {action}: no answer ({type(exc).__name__}); its outcome is unknown") from exc


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
        with _translated_errors("PaymentIntent creation"):
            return self.client.v1.payment_intents.create(
                params={"amount": amount, "currency": currency, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def confirm_payment_intent(self, intent_id: str, payment_method: str):
        # Attached with an update first: some Stripe stand-ins refuse it on confirm.
        with _translated_errors("confirmation"):
            self.client.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
            return self.client.v1.payment_intents.confirm(intent_id)

    def retrieve_payment_intent(self, intent_id: str):
        with _translated_errors("PaymentIntent lookup"):
            return self.client.v1.payment_intents.retrieve(intent_id)

    def cancel_payment_intent(self, intent_id: str):
        """Cancel a PaymentIntent; returns the intent as Stripe has it after the call.

        When Stripe refuses because the intent can no longer be canceled (it succeeded,
        is processing, or was canceled already), the intent is looked up and returned:
        its status is the answer. Raises ``StripeUnavailable`` when the outcome is unknown.
        """
        try:
            with _refusal_or_unknown("PaymentIntent cancellation"):
                return self.client.v1.payment_intents.cancel(intent_id)
        except StripeRefused:
            with _refusal_or_unknown("PaymentIntent lookup"):
                return self.client.v1.payment_intents.retrieve(intent_id)

    def refund_remaining(self, *, payment_intent: str, metadata: dict, idempotency_key: str):
        """Refund what is left of a PaymentIntent's charge (no amount: Stripe refunds the rest,
        so a repeat with the same key asks exactly the same). Raises ``StripeRefused`` when
        Stripe answers no, ``StripeUnavailable`` when the outcome is unknown."""
        with _refusal_or_unknown("refund"):
            return self.client.v1.refunds.create(
                params={"payment_intent": payment_intent, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def create_refund(self, *, payment_intent: str, amount: int, metadata: dict, idempotency_key: str):
        with _translated_errors("refund"):
            return self.client.v1.refunds.create(
                params={"payment_intent": payment_intent, "amount": amount, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def create_payout(self, *, amount: int, currency: str, metadata: dict, idempotency_key: str):
        with _translated_errors("payout"):
            return self.client.v1.payouts.create(
                params={"amount": amount, "currency": currency, "metadata": metadata},
                options={"idempotency_key": idempotency_key},
            )

    def create_test_payment_method(self, card_number: str, exp_month: int, exp_year: int, cvc: str):
        """A card PaymentMethod from raw test numbers: only test-mode Stripe and stand-ins allow it."""
        with _translated_errors("card setup"):
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
        with _translated_errors("event listing"):
            return self.client.v1.events.list(params=params)


def init_app(app: Flask) -> None:
    app.extensions["payflow_stripe"] = StripeGateway(app.config["STRIPE_SECRET_KEY"], app.config["STRIPE_API_BASE"])


def gateway() -> StripeGateway:
    return current_app.extensions["payflow_stripe"]
