"""The shapes of the API's answers (SPEC section 4), as pydantic models.

They are what ``/openapi.json`` says each route answers, and the tests hold the
serializers (``payflow.serializers``, ``payflow.wallet``) to them: a field added to an
answer but not here, or a type that differs, fails the tests rather than surprising a
client generated from the document. Amounts are integers in the currency's minor unit;
timestamps are ISO 8601 UTC strings ending in ``Z``.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .. import payments as payment_states
from .. import payouts as payout_states
from .. import refunds as refund_states

Timestamp = Annotated[str, Field(description="ISO 8601 UTC, e.g. 2026-11-27T05:13:34.209765Z",
                                 pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")]
MinorUnits = Annotated[int, Field(description="integer amount in the currency's minor unit (5000 = 50.00 USD)")]
Currency = Annotated[str, Field(description="lowercase ISO 4217", pattern=r"^[a-z]{3}$")]
Cursor = Annotated[str | None, Field(description="pass as ?cursor= for the next page; null on the last page")]

PaymentStatus = Literal[payment_states.PENDING, payment_states.PROCESSING, payment_states.HELD,
                        payment_states.RELEASED, payment_states.FAILED, payment_states.CANCELED,
                        payment_states.REFUNDED, payment_states.PARTIALLY_REFUNDED, payment_states.DISPUTED]
PayoutStatus = Literal[payout_states.PENDING, payout_states.IN_TRANSIT, payout_states.COMPLETED,
                       payout_states.FAILED, payout_states.CANCELED]


class Answer(BaseModel):
    # Exactly these fields: an answer that grows a field must say so here first.
    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    code: str = Field(description="machine-readable reason, e.g. invalid_request, insufficient_funds")
    message: str = Field(description="what went wrong, for a person")


class Error(Answer):
    """Every error: ``{"error": {"code", "message"}}``; some add details (``payment`` on a decline)."""

    error: ErrorDetail


class User(Answer):
    id: str
    email: str | None = Field(description="null for a marketplace user whose token carried no email")
    role: Literal["company", "influencer", "admin"]
    name: str
    createdAt: Timestamp


class Session(Answer):
    user: User
    access_token: str
    refresh_token: str


class AccessToken(Answer):
    access_token: str


class Me(Answer):
    user: User


class LoggedOut(Answer):
    loggedOut: Literal[True]


class Payment(Answer):
    id: str
    status: PaymentStatus
    amount: MinorUnits
    currency: Currency
    description: str
    companyId: str
    companyName: str
    influencerId: str
    influencerName: str
    feeBps: int = Field(description="the platform fee agreed when the payment was made, in basis points")
    feeAmount: MinorUnits = Field(description="the fee actually taken: 0 until released")
    netAmount: MinorUnits = Field(description="the influencer's part of what remains (amount - refundedAmount): "
                                              "what a release would give until it is released, what it gave after")
    refundedAmount: MinorUnits
    refundingAmount: MinorUnits = Field(description="refunds requested and not yet confirmed by Stripe: they "
                                                    "change the payment when charge.refunded arrives")
    failureMessage: str | None
    stripePaymentIntentId: str | None
    createdAt: Timestamp
    updatedAt: Timestamp
    heldAt: Timestamp | None
    releasedAt: Timestamp | None
    clientSecret: str | None = Field(None, description="for Stripe.js; only the paying company sees it")


class PaymentPage(Answer):
    items: list[Payment]
    nextCursor: Cursor


class PaymentDeclinedDetail(ErrorDetail):
    payment: Payment


class PaymentDeclined(Answer):
    """402 ``card_declined``: the payment, now FAILED (a retry is allowed), comes with the error."""

    error: PaymentDeclinedDetail


RefundStatus = Literal[refund_states.REQUESTED, refund_states.PENDING, refund_states.SUCCEEDED,
                       refund_states.FAILED, refund_states.CANCELED]


class Refund(Answer):
    """A refund payflow asked Stripe for; the payment changes when Stripe confirms it."""

    id: str
    paymentId: str
    status: RefundStatus
    amount: MinorUnits
    currency: Currency
    stripeRefundId: str | None
    refundId: str | None = Field(description="the same as stripeRefundId (the name earlier versions answered with)")
    awaitingStripe: bool = Field(description="Stripe has not answered yet: payflow asks again with the same key")
    failureReason: str | None
    requestedBy: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class Payout(Answer):
    id: str
    status: PayoutStatus
    amount: MinorUnits
    currency: Currency
    influencerId: str
    stripePayoutId: str | None
    awaitingStripe: bool = Field(description="Stripe has not answered the request yet: the amount stays on its "
                                             "way and payflow asks again with the same key")
    failureMessage: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class PayoutPage(Answer):
    items: list[Payout]
    nextCursor: Cursor


class WalletLine(Answer):
    """One ledger line of the wallet, signed as the balance it belongs to moved."""

    id: str
    type: str = Field(description="the ledger transaction's kind, e.g. release, payout, refund_clawback")
    bucket: Literal["available", "pending", "receivable"]
    amount: int = Field(description="signed, in minor units: +500 on available is 5.00 more to withdraw")
    currency: Currency
    description: str
    paymentId: str | None
    payoutId: str | None
    createdAt: Timestamp


class WalletLinePage(Answer):
    items: list[WalletLine]
    nextCursor: Cursor


class Wallet(Answer):
    currency: Currency
    availableBalance: MinorUnits
    pendingBalance: MinorUnits = Field(description="net of this influencer's payments still held in escrow")
    receivableBalance: MinorUnits = Field(description="owed by the influencer (a refund after release the wallet "
                                                      "could not cover)")
    lastTransaction: WalletLine | None


class Wallets(Answer):
    wallets: list[Wallet]


class Notification(Answer):
    id: str
    kind: Literal["success", "error", "info"]
    message: str
    paymentId: str | None
    payoutId: str | None
    read: bool
    readAt: Timestamp | None
    createdAt: Timestamp


class NotificationPage(Answer):
    items: list[Notification]
    nextCursor: Cursor


class WebhookEventRecord(Answer):
    """A recorded Stripe event as an operator sees it (``GET /admin/webhook-events``)."""

    id: str
    type: str
    status: Literal["received", "unqueued", "retrying", "processed", "ignored", "flagged", "dead"]
    flagReason: str | None = Field(description="why it is flagged: amount_mismatch, object_mismatch, duplicate_capture, ...")
    applied: bool = Field(description="whether its money move was applied (a flagged event may have been)")
    outcome: str | None
    lastError: str | None
    attempts: int
    account: str | None = Field(description="the connected account of a Connect event")
    objectId: str | None
    relatedId: str | None
    stripeCreatedAt: Timestamp | None
    receivedAt: Timestamp
    processedAt: Timestamp | None
    nextAttemptAt: Timestamp | None


class WebhookEventPage(Answer):
    items: list[WebhookEventRecord]
    nextCursor: Cursor


class StreamToken(Answer):
    token: str = Field(description="for ?token= on GET /payments/stream; opens streams only")
    expiresAt: Timestamp
    expiresIn: int = Field(description="seconds")


class WebhookReceived(Answer):
    received: Literal[True]
    eventType: str
    duplicate: Literal[True] | None = Field(None, description="present when the event id was already recorded")


class Health(Answer):
    status: Literal["ok"]


class Readiness(Answer):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="database and redis: ok, or why not")


class InfluencerRef(Answer):
    id: str
    name: str


class StripeEvent(BaseModel):
    """A Stripe Event object (https://docs.stripe.com/api/events/object), signed by Stripe."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str
    data: dict = Field(description="{object: the Stripe object the event is about}")


# --- the read side of the dashboard (statement, timeline, earnings, quote, currencies) ------


class FeeQuote(Answer):
    """What the influencer would receive of a new payment at today's fee."""

    amount: MinorUnits
    currency: Currency
    feeBps: int = Field(description="the platform fee in basis points (1000 = 10%)")
    feeAmount: MinorUnits = Field(description="ceil(amount × feeBps / 10000)")
    netAmount: MinorUnits = Field(description="amount - feeAmount: what the influencer receives")


class TimelineStep(Answer):
    """One thing that happened to a payment; the fields beside type and at depend on the type."""

    type: str = Field(description="created, processing, failed, retried, canceled, held, released, refund_requested, "
                                  "refund_failed, refunded, dispute_opened, dispute_closed, paid_out (or a ledger "
                                  "transaction's kind)")
    at: Timestamp
    amount: MinorUnits | None = None
    feeAmount: MinorUnits | None = None
    netAmount: MinorUnits | None = None
    owedAmount: MinorUnits | None = Field(None, description="refunded after release: what the wallet could not cover")
    afterRelease: bool | None = None
    attempt: int | None = None
    message: str | None = None
    reason: str | None = None
    outcome: str | None = None
    status: str | None = Field(None, description="a refund's status")
    refundId: str | None = None
    payoutId: str | None = None
    payoutAmount: MinorUnits | None = None
    payoutStatus: PayoutStatus | None = None
    description: str | None = None


class Timeline(Answer):
    """What happened to a payment and when, oldest first."""

    paymentId: str
    currency: Currency
    items: list[TimelineStep]


class StatementLine(Answer):
    """One movement of the influencer's money (one ledger transaction, not its legs)."""

    id: str
    type: str = Field(description="release, payout, payout_returned, clawback, or another ledger transaction's kind")
    description: str
    amount: int = Field(description="signed, in minor units: the change of available − owed")
    currency: Currency
    balance: int = Field(description="available − owed right after this line, in minor units")
    feeAmount: MinorUnits | None = Field(description="the platform's share moved in the same transaction")
    paymentId: str | None
    payoutId: str | None
    counterpartyName: str | None = Field(description="the company of the payment")
    paymentDescription: str | None
    createdAt: Timestamp


class StatementPage(Answer):
    items: list[StatementLine]
    nextCursor: Cursor


class EarningsBucket(Answer):
    date: str = Field(description="2024-05-31 (a day) or 2024-05 (a month) in the requested time zone")
    amount: MinorUnits


class EarningsSeries(Answer):
    currency: Currency
    total: MinorUnits
    items: list[EarningsBucket]


class Earnings(Answer):
    """The net released to the influencer per day (30) or month (12), zero-filled."""

    period: Literal["day", "month"]
    timeZone: str
    currencies: list[EarningsSeries]


class CurrencyExponent(Answer):
    code: Currency
    exponent: int = Field(description="digits of the minor unit: 2 for usd, 0 for jpy")


class Currencies(Answer):
    """Every currency payflow takes, with Stripe's minor-unit exponent."""

    items: list[CurrencyExponent]
