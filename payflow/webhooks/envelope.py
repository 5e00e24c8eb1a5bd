"""What a Stripe event is, checked at the door (SPEC section 5).

A body can be correctly signed and still not be a Stripe event: a signing secret leaks,
a proxy or a test tool signs what it is given. Such a body is refused with 400 before
anything is recorded, so that nothing downstream (the inbox insert, the batch it
shares with other deliveries, the job) meets a shape it cannot hold:

* the envelope of every event: ``id`` and ``type`` as Stripe writes them, ``object``
  ``"event"``, ``created`` a Unix time in seconds between Stripe's start and tomorrow
  (not a bool, float or string), ``account`` absent or an id, ``data.object`` an object;
* for the types payflow applies, the fields it reads, with their types (amounts are
  integers in minor units, currencies three letters, ids and metadata strings);
* no string anywhere holds NUL or an unpaired UTF-16 surrogate (``"\\ud800"``), which
  PostgreSQL cannot store and UTF-8 cannot encode.

Stripe's event object: https://docs.stripe.com/api/events/object
"""
from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

# 2010-01-01: older than anything Stripe has made.
EARLIEST_CREATED = 1262304000
# A clock a day ahead of ours is a broken clock or a forged body.
MAX_CLOCK_SKEW_SECONDS = 86400
MAX_AMOUNT = 10**15

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # surrogates left after json.loads are unpaired

Ident = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
EventType = Annotated[str, StringConstraints(max_length=100, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
Metadata = dict[str, str]


class NotAStripeEvent(ValueError):
    """The body is signed but is not a Stripe event; the message says what is wrong."""


class _Shape(BaseModel):
    # strict: 1.0, True and "5000" are not the integer 5000
    model_config = ConfigDict(strict=True, extra="allow")


class _Data(_Shape):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None


class _Event(_Shape):
    id: Ident
    object: Literal["event"]
    type: EventType
    created: int
    account: Ident | None = None
    livemode: bool | None = None
    data: _Data


class _PaymentError(_Shape):
    message: str | None = None


class _PaymentIntent(_Shape):
    id: Ident
    object: Literal["payment_intent"]
    amount: Amount
    amount_received: Amount | None = None
    currency: Currency
    status: str
    metadata: Metadata = {}
    latest_charge: Ident | dict[str, Any] | None = None
    last_payment_error: _PaymentError | None = None


class _Charge(_Shape):
    id: Ident
    object: Literal["charge"]
    amount: Amount
    amount_refunded: Amount
    currency: Currency
    payment_intent: Ident | None = None
    metadata: Metadata = {}


class _Dispute(_Shape):
    id: Ident
    object: Literal["dispute"]
    amount: Amount
    currency: Currency
    status: str
    charge: Ident | dict[str, Any]
    payment_intent: Ident | None = None


class _Payout(_Shape):
    id: Ident
    object: Literal["payout"]
    amount: Amount
    currency: Currency
    status: str
    metadata: Metadata = {}
    failure_message: str | None = None


class _Refund(_Shape):
    id: Ident
    object: Literal["refund"]
    amount: Amount
    currency: Currency
    status: str
    payment_intent: Ident | None = None
    charge: Ident | dict[str, Any] | None = None
    metadata: Metadata = {}
    failure_reason: str | None = None


# The shape of ``data.object`` for each type payflow applies (other types are recorded
# and not applied, so only their envelope matters).
OBJECT_SHAPES: dict[str, type[_Shape]] = {
    "payment_intent.succeeded": _PaymentIntent,
    "payment_intent.processing": _PaymentIntent,
    "payment_intent.payment_failed": _PaymentIntent,
    "payment_intent.canceled": _PaymentIntent,
    "charge.refunded": _Charge,
    "charge.dispute.created": _Dispute,
    "charge.dispute.closed": _Dispute,
    "payout.paid": _Payout,
    "payout.failed": _Payout,
    "payout.canceled": _Payout,
    "payout.updated": _Payout,
    "charge.refund.updated": _Refund,
    "refund.updated": _Refund,
    "refund.failed": _Refund,
}


def _first_problem(error: ValidationError, prefix: str = "") -> str:
    problem = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in problem["loc"])
    return f"{prefix}{where}: {problem['msg']}" if where else f"{prefix}{problem['msg']}"


def _unstorable_text(value) -> str | None:
    """The first string (key or value) holding NUL or an unpaired surrogate, if any."""
    if isinstance(value, str):
        return value if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable_text(key) or _unstorable_text(item)
            if found is not None:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _unstorable_text(item)
            if found is not None:
                return found
    return None


def object_problem(event_type: str, obj) -> str | None:
    """What is wrong with ``obj`` as the ``data.object`` of an event of ``event_type`` (None when
    nothing is, or the type is not applied). The jobs ask again before applying an event, so a
    handler never meets a shape it cannot read, whenever and however the event was recorded."""
    shape = OBJECT_SHAPES.get(event_type)
    if shape is None:
        return None
    try:
        shape.model_validate(obj)
    except ValidationError as exc:
        return _first_problem(exc, "data.object.")
    return None


def check(event, *, now: float | None = None) -> dict:
    """``event`` (parsed JSON) if it is a Stripe event; raises ``NotAStripeEvent`` otherwise."""
    if not isinstance(event, dict):
        raise NotAStripeEvent("the body is not a JSON object")
    try:
        envelope = _Event.model_validate(event)
    except ValidationError as exc:
        raise NotAStripeEvent(_first_problem(exc)) from None
    now = time.time() if now is None else now
    if not EARLIEST_CREATED <= envelope.created <= now + MAX_CLOCK_SKEW_SECONDS:
        raise NotAStripeEvent(f"created: {envelope.created} is not a time Stripe could have made this event")
    problem = object_problem(envelope.type, event["data"]["object"])
    if problem is not None:
        raise NotAStripeEvent(problem)
    return event


def parse(payload: str, *, now: float | None = None) -> dict:
    """The Stripe event in ``payload`` (UTF-8 text of the body); raises ``NotAStripeEvent``."""
    try:
        event = json.loads(payload)
    except ValueError as exc:  # JSONDecodeError, and RecursionError's kin for absurd nesting
        raise NotAStripeEvent(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise NotAStripeEvent("the body is nested too deeply") from None
    # Only an escape can put NUL or a lone surrogate in a string that came from UTF-8 JSON.
    if "\\u" in payload and _unstorable_text(event) is not None:
        raise NotAStripeEvent("a string holds NUL or an unpaired surrogate")
    return check(event, now=now)
