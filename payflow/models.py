"""Tables. Behaviour lives in the domain modules (payments, payouts, ledger)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .ids import id_factory


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(db.TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, nullable=False)


class User(TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("usr"))
    # A marketplace user may have no email (or one already taken here) and has no password.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # Who the marketplace says this is (its token's iss and sub); null for payflow's own accounts.
    external_issuer: Mapped[str | None] = mapped_column(String(255))
    external_subject: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        CheckConstraint("role IN ('company', 'influencer', 'admin')", name="role"),
        UniqueConstraint("external_issuer", "external_subject", name="uq_users_external_issuer_external_subject"),
    )


class Payment(TimestampMixin, db.Model):
    """A company's payment to an influencer, from PaymentIntent to escrow to release.

    ``refunded_amount`` is what Stripe has confirmed refunded (its cumulative
    ``amount_refunded``); ``fee_amount`` is the platform fee on what was released.
    """

    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("pay"))
    company_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    influencer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    # The fee rate agreed when the payment was made; later changes to the platform's
    # rate do not reach payments already in escrow.
    fee_bps: Mapped[int] = mapped_column(Integer, nullable=False)
    fee_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Refunds that failed after they were applied and were put back (their amount is no
    # longer in ``refunded_amount``); it keeps every refund's ledger key distinct.
    refund_reversed_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    disputed_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    # Where a dispute returns the payment to when it is won.
    status_before_dispute: Mapped[str | None] = mapped_column(String(24))
    failure_message: Mapped[str | None] = mapped_column(Text)
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    client_secret: Mapped[str | None] = mapped_column(String(255))
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    company = relationship("User", foreign_keys=[company_id])
    influencer = relationship("User", foreign_keys=[influencer_id])

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_within_amount"),
        CheckConstraint("fee_amount >= 0", name="fee_not_negative"),
    )


class PaymentAttempt(db.Model):
    """Every PaymentIntent a payment has used; a retry after a failure adds one."""

    __tablename__ = "payment_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), nullable=False, index=True)
    stripe_payment_intent_id: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class StripeRequestMixin:
    """The state of a create request sent to Stripe whose answer payflow has not had yet.

    ``next_resolve_at`` is set when the call ended without a definite answer (the object
    may exist at Stripe); the housekeeping then asks again with the same idempotency key,
    or looks the object up, until it knows. ``stripe_error`` is the last such error.
    """

    next_resolve_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    stripe_error: Mapped[str | None] = mapped_column(Text)


class Payout(StripeRequestMixin, TimestampMixin, db.Model):
    __tablename__ = "payouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("po"))
    influencer_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    stripe_payout_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    failure_message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_payouts_next_resolve_at", "next_resolve_at"),
    )


class Refund(StripeRequestMixin, TimestampMixin, db.Model):
    """A refund payflow asked Stripe for (or learnt of from Stripe), by its own state machine.

    ``applied`` says whether its amount is counted in the payment's ``refunded_amount``
    (and the ledger): a refund that fails later is put back only if it was.
    """

    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("rf"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), nullable=False, index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    requested_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    failure_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_refunds_next_resolve_at", "next_resolve_at"),
    )


class IdempotencyKey(db.Model):
    """The first answer to a money-moving request sent with an ``Idempotency-Key``.

    One row per (user, key), inserted before the request runs, so a concurrent repeat
    finds it and waits; ``response_status`` is null until the first request has answered.
    """

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )


class LedgerAccount(db.Model):
    """One account per purpose and currency (and per influencer where it is theirs).

    ``code`` names it, e.g. ``wallet:usr_01..:usd``; ``normal`` says which side
    increases it, so balances read as positive numbers.
    """

    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(120), unique=True, nullable=False)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    normal: Mapped[str] = mapped_column(String(6), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (CheckConstraint("normal IN ('debit', 'credit')", name="normal"),)


class LedgerTransaction(db.Model):
    """A balanced group of entries; ``idempotency_key`` makes every money move happen once."""

    __tablename__ = "ledger_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("ltx"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"), index=True)
    payout_id: Mapped[str | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    entries = relationship("LedgerEntry", back_populates="transaction", order_by="LedgerEntry.id")


class LedgerEntry(db.Model):
    """One leg: ``amount`` is signed, debit positive and credit negative; never edited."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ForeignKey("ledger_transactions.id"), nullable=False, index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)

    transaction = relationship("LedgerTransaction", back_populates="entries")
    account = relationship("LedgerAccount")

    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )


class Notification(db.Model):
    """What a person was told (the toast), kept so it can be listed and marked read."""

    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("ntf"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"))
    payout_id: Mapped[str | None] = mapped_column(ForeignKey("payouts.id"))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (CheckConstraint("kind IN ('success', 'error', 'info')", name="kind"),)


class WebhookEvent(db.Model):
    """The durable inbox: every verified Stripe event, recorded before it is answered.

    ``status``: ``received`` (recorded, a job is or will be queued), ``unqueued``
    (Redis was down when it arrived), ``retrying`` (an attempt failed; the next is
    due at ``next_attempt_at``), ``processed`` (applied), ``ignored`` (nothing to
    apply: an unhandled type, or a fact already applied or overtaken), ``flagged``
    (amount or currency differ from ours: for an operator), ``dead`` (retries
    exhausted: for an operator to replay).
    """

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    account: Mapped[str | None] = mapped_column(String(255))
    object_id: Mapped[str | None] = mapped_column(String(255), index=True)
    # The PaymentIntent or payout the event is about (a charge's or dispute's intent), so that
    # events waiting for another one about the same thing can be woken when it is applied.
    related_id: Mapped[str | None] = mapped_column(String(255), index=True)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    stripe_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_webhook_events_status_received_at", "status", "received_at"),
        Index("ix_webhook_events_received_at", "received_at"),
    )


class OutboxMessage(db.Model):
    """A stream update, written in the transaction of the change it announces.

    Published once that transaction commits; one that could not be (Redis down, the
    process gone between commit and publish) is published by the housekeeping sweep.
    """

    __tablename__ = "stream_outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=id_factory("out"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), nullable=False)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_stream_outbox_published_at_created_at", "published_at", "created_at"),)
