"""Verification of the ``Stripe-Signature`` header.

The header is parsed once, here, and strictly: ``t=<unix seconds>`` exactly once and
one or more ``v1=<hex HMAC-SHA256>``, as Stripe writes them (no whitespace, no empty
items, lowercase keys). Anything ambiguous is refused rather than read one way here and
another way by a library, so the timestamp checked against the tolerance is the one
the signature covers. The HMAC itself is checked by Stripe's library, on a header
rebuilt from what was parsed here, with the library's one-sided age check switched off:
payflow checks the window in both directions (a timestamp from the future is as suspect
as an old one). Several secrets may be valid at once while a secret is being rotated.

Stripe's scheme: https://docs.stripe.com/webhooks#verify-manually
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import stripe

_ITEM = re.compile(r"([a-z0-9]+)=([!-+\--~]+)")  # key=value, the value visible ASCII without ","
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}")
_V1 = re.compile(r"[0-9a-f]{64}")


class InvalidSignature(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]  # the v1 ones

    def canonical(self) -> str:
        """The header as Stripe writes it, holding exactly what was parsed."""
        return ",".join([f"t={self.timestamp}", *(f"v1={signature}" for signature in self.signatures)])


def _malformed(message: str) -> InvalidSignature:
    return InvalidSignature("malformed_signature", f"the Stripe-Signature header is malformed: {message}")


def parse_header(header: str) -> SignatureHeader:
    """Parse ``t=...,v1=...[,v1=...][,v0=...]``; raises ``InvalidSignature`` for anything else.

    Refused: empty items, whitespace anywhere, keys not in lowercase, a ``t`` that is
    missing, repeated, not a plain decimal or absurdly long, a ``v1`` that is not 64
    lowercase hex digits, and a header with no ``v1`` at all (other schemes such as
    ``v0`` are allowed beside it and never count).
    """
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        match = _ITEM.fullmatch(item)
        if match is None:
            raise _malformed(f"{item!r} is not a key=value item")
        key, value = match.groups()
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            if not _V1.fullmatch(value):
                raise _malformed("a v1 signature is not 64 hexadecimal digits")
            signatures.append(value)
    if len(timestamps) != 1:
        raise _malformed(f"it has {len(timestamps)} timestamps (t=), not one")
    if not _TIMESTAMP.fullmatch(timestamps[0]):
        raise _malformed("the timestamp is not a Unix time in seconds")
    if not signatures:
        raise InvalidSignature("no_v1_signature", "the Stripe-Signature header has no v1 signature")
    return SignatureHeader(int(timestamps[0]), tuple(signatures))


def verify(payload: str, header: str | None, secrets: list[str], tolerance: int, now: float | None = None) -> None:
    """Raise ``InvalidSignature`` unless ``header`` signs ``payload`` with one of ``secrets``
    at a time within ``tolerance`` seconds of ``now`` (either side)."""
    if not header:
        raise InvalidSignature("missing_signature", "the Stripe-Signature header is missing")
    parsed = parse_header(header)
    now = time.time() if now is None else now
    if abs(now - parsed.timestamp) > tolerance:
        raise InvalidSignature("stale_timestamp", f"the signature timestamp is more than {tolerance}s from now")
    canonical = parsed.canonical()
    for secret in secrets:
        try:
            # tolerance=None: the window was checked above, on the same timestamp, in both directions.
            stripe.WebhookSignature.verify_header(payload, canonical, secret, tolerance=None)
            return
        except stripe.SignatureVerificationError:
            continue
    raise InvalidSignature("bad_signature", "no v1 signature matches a configured webhook secret")


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, made by Stripe's library (simulations and tests)."""
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp)
