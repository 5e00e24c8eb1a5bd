"""Verification of the ``Stripe-Signature`` header.

Stripe's library does the HMAC check; payflow adds what it leaves out: a
timestamp from the future is as suspect as an old one, and several secrets may be
valid at once while a secret is being rotated.
"""
from __future__ import annotations

import time

import stripe


class InvalidSignature(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _timestamp(header: str) -> int:
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            return int(value)
    raise ValueError("no t= element")


def verify(payload: str, header: str | None, secrets: list[str], tolerance: int, now: float | None = None) -> None:
    """Raise ``InvalidSignature`` unless ``header`` signs ``payload`` with one of ``secrets``."""
    if not header:
        raise InvalidSignature("missing_signature", "the Stripe-Signature header is missing")
    try:
        timestamp = _timestamp(header)
    except ValueError as exc:
        raise InvalidSignature("malformed_signature", "the Stripe-Signature header has no valid timestamp") from exc
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature("stale_timestamp", f"the signature timestamp is more than {tolerance}s from now")
    for secret in secrets:
        try:
            # tolerance=None: the window was checked above, in both directions.
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
            return
        except stripe.SignatureVerificationError:
            continue
        except Exception as exc:  # odd headers make the library raise more than its own error
            raise InvalidSignature("malformed_signature", "the Stripe-Signature header cannot be read") from exc
    raise InvalidSignature("bad_signature", "no v1 signature matches a configured webhook secret")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, made by Stripe's library (simulations and tests)."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
