"""Attempt identity: a payment is paid once, by one of its PaymentIntents.

A retry cancels the previous intent at Stripe; the first intent that succeeds pays the
payment and the others are canceled; a capture of another intent after that is a
duplicate capture: flagged, the company told, booked apart from the payment's escrow,
and refunded at once (``AUTO_REFUND_DUPLICATE_CAPTURES``) by a job after the commit,
asked again with the same idempotency key while the refund's outcome is unknown. A
refund or dispute of a charge that is not the payment's own paid charge never changes
the payment.

Stripe here is localstripe (alone, or behind a proxy that loses answers); events Stripe
would send that localstripe does not are built in Stripe's shape and signed.
"""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select, update

from jobs.worker import housekeeping_once
from payflow import attempts, create_app, flags, ledger, payments
from payflow.extensions import db, redis_client
from payflow.models import LedgerTransaction, Notification, Payment, PaymentAttempt, utcnow
from payflow.stripe_api import gateway
from payflow.unit_of_work import atomic
from payflow.wallet import wallet_view
from payflow.webhooks import handlers, simulate

from .conftest import make_config
from .factories import DECLINED
from .unreliable_stripe import UnreliableStripe
from .webhook_helpers import deliver, event_row, ledger_kinds, run_jobs


# --- helpers ----------------------------------------------------------------------------------


def _payment(payment_id: str) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment_id)


def _attempt(intent_id: str) -> PaymentAttempt:
    db.session.expire_all()
    return db.session.scalars(select(PaymentAttempt).where(PaymentAttempt.stripe_payment_intent_id == intent_id)).one()


def _attempts(payment_id: str) -> list[PaymentAttempt]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(PaymentAttempt).where(PaymentAttempt.payment_id == payment_id).order_by(PaymentAttempt.id)))


def _messages(user_id: str) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(Notification.message).where(Notification.user_id == user_id).order_by(Notification.id)))


def _apply(app, client, event):
    assert deliver(client, event).status_code == 200, event["id"]
    run_jobs(app)
    return event_row(event["id"])


def _stripe_event(event_type: str, stripe_object) -> dict:
    """An event carrying the object exactly as Stripe (here localstripe) has it now."""
    return simulate.build_event(event_type, stripe_object.to_dict())


def _intent_at_stripe(intent_id: str):
    db.session.rollback()  # no transaction open across a call to Stripe, in tests as in payflow
    return gateway().retrieve_payment_intent(intent_id)


def _charge_event(intent_id: str, payment, amount_refunded: int, charge_id: str | None = None) -> dict:
    """``charge.refunded`` for the charge of ``intent_id`` (one of the payment's attempts)."""
    about = SimpleNamespace(id=payment.id, amount=payment.amount, currency=payment.currency,
                            stripe_payment_intent_id=intent_id)
    obj = simulate.charge(about, amount_refunded=amount_refunded)
    if charge_id:
        obj["id"] = charge_id
    return simulate.build_event("charge.refunded", obj)


def _captured_anyway(factory, payment: Payment) -> str:
    """An earlier attempt of ``payment`` that Stripe captured although another one paid it
    (made before payflow canceled superseded intents, or whose cancel came too late)."""
    payment_id, amount, currency = payment.id, payment.amount, payment.currency  # read before the rollback
    db.session.rollback()
    intent = gateway().create_payment_intent(
        amount=amount, currency=currency, metadata={"payment_id": payment_id},
        idempotency_key=f"test-stray-{payment_id}",
    )
    with atomic():
        db.session.add(PaymentAttempt(payment_id=payment_id, stripe_payment_intent_id=intent.id))
    db.session.rollback()
    gateway().confirm_payment_intent(intent.id, factory.card())
    assert _intent_at_stripe(intent.id).status == "succeeded"
    return intent.id


def _refunds_at_stripe(intent_id: str) -> list:
    db.session.rollback()
    return list(gateway().client.v1.refunds.list(params={"payment_intent": intent_id}).data)


def _declined_then_retried(client, factory, amount=5000):
    """A payment whose first intent was declined and that the company retried: (payment, first intent)."""
    payment = factory.payment(amount=amount)
    first = payment.stripe_payment_intent_id
    declined = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card(DECLINED)},
                           headers=factory.headers(payment.company))
    assert declined.status_code == 402
    retried = client.post(f"/payments/{payment.id}/retry", headers=factory.headers(payment.company))
    assert retried.status_code == 200, retried.get_json()
    return _payment(payment.id), first


@pytest.fixture
def no_auto_refund(app, monkeypatch):
    monkeypatch.setitem(app.config, "AUTO_REFUND_DUPLICATE_CAPTURES", False)


# --- a retry cancels the previous intent -------------------------------------------------------


def test_a_retry_cancels_the_previous_intent_at_stripe_so_a_stale_tab_cannot_pay_it(app, client, factory):
    payment, first = _declined_then_retried(client, factory)
    assert payment.stripe_payment_intent_id != first
    assert _intent_at_stripe(first).status == "canceled"
    assert [(a.stripe_payment_intent_id, a.status) for a in _attempts(payment.id)] == [
        (first, "canceled"), (payment.stripe_payment_intent_id, "open")]


def test_a_retry_whose_previous_intent_was_paid_meanwhile_records_the_payment_and_makes_no_new_attempt(
    app, client, factory
):
    """The cancel Stripe refuses because the intent succeeded is the news that the payment was paid."""
    payment = factory.payment(amount=5000)
    first = payment.stripe_payment_intent_id
    # Stripe reported a failure (the browser may still pay the intent), then the stale tab paid it.
    failed = simulate.event_for("payment_intent.payment_failed", payment=payment)
    assert _apply(app, client, failed).status == "processed"
    db.session.rollback()
    gateway().confirm_payment_intent(first, factory.card())

    retried = client.post(f"/payments/{payment.id}/retry", headers=factory.headers(payment.company))

    assert retried.status_code == 409
    paid = _payment(payment.id)
    assert (paid.status, paid.stripe_payment_intent_id) == ("HELD", first)
    assert [(a.stripe_payment_intent_id, a.status) for a in _attempts(payment.id)] == [(first, "paid")]
    assert ledger_kinds(payment_id=payment.id) == ["capture"]
    # The intent's own success event changes nothing more.
    assert _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(first))).status == "ignored"


# --- the first success pays; the others are canceled ---------------------------------------------


def _superseded_without_cancel(payment: Payment) -> str:
    """A new current intent for a FAILED payment, its previous one left open at Stripe (as a
    retry did before payflow canceled superseded intents)."""
    payment_id, amount, currency = payment.id, payment.amount, payment.currency  # read before the rollback
    db.session.rollback()
    intent = gateway().create_payment_intent(
        amount=amount, currency=currency, metadata={"payment_id": payment_id},
        idempotency_key=f"test-second-{payment_id}",
    )
    with atomic():
        locked = payments.lock_payment(payment_id)
        db.session.add(PaymentAttempt(payment_id=payment_id, stripe_payment_intent_id=intent.id))
        locked.stripe_payment_intent_id = intent.id
        locked.status = payments.PENDING
    return intent.id


def test_a_success_of_an_earlier_attempt_while_the_current_one_waits_pays_once_and_cancels_the_current(
    app, client, factory
):
    payment = factory.payment(amount=5000)
    first = payment.stripe_payment_intent_id
    _apply(app, client, simulate.event_for("payment_intent.payment_failed", payment=payment))
    second = _superseded_without_cancel(_payment(payment.id))
    db.session.rollback()
    gateway().confirm_payment_intent(first, factory.card())  # the stale tab

    row = _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(first)))

    assert row.status == "processed"
    paid = _payment(payment.id)
    assert (paid.status, paid.stripe_payment_intent_id) == ("HELD", first)
    assert ledger_kinds(payment_id=payment.id) == ["capture"]
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500
    # The job queued after the commit canceled the other intent at Stripe.
    assert _intent_at_stripe(second).status == "canceled"
    assert {a.stripe_payment_intent_id: a.status for a in _attempts(payment.id)} == {first: "paid", second: "canceled"}


def test_an_open_attempt_of_a_paid_payment_is_canceled_by_the_housekeeping_when_its_job_was_lost(
    app, client, factory
):
    payment = factory.payment(amount=5000)
    first = payment.stripe_payment_intent_id
    _apply(app, client, simulate.event_for("payment_intent.payment_failed", payment=payment))
    second = _superseded_without_cancel(_payment(payment.id))
    db.session.rollback()
    gateway().confirm_payment_intent(first, factory.card())
    event = _stripe_event("payment_intent.succeeded", _intent_at_stripe(first))
    assert deliver(client, event).status_code == 200
    handlers.apply_event(event["id"])
    redis_client.client.flushdb()  # Redis lost the cancel job
    grace = app.config["WEBHOOK_SWEEP_GRACE_SECONDS"]
    with atomic():
        db.session.execute(update(PaymentAttempt).where(PaymentAttempt.stripe_payment_intent_id == second)
                           .values(updated_at=utcnow() - timedelta(seconds=grace + 1)))
    db.session.remove()

    housekeeping_once(app)
    run_jobs(app)

    assert _intent_at_stripe(second).status == "canceled"
    assert _attempt(second).status == "canceled"


# --- duplicate captures ------------------------------------------------------------------------


def test_a_capture_of_another_attempt_of_a_paid_payment_is_a_flagged_duplicate_booked_apart_and_refunded(
    app, client, factory
):
    payment = factory.payment(amount=5000, status="HELD")
    paid_intent = payment.stripe_payment_intent_id
    stray = _captured_anyway(factory, payment)
    stripe_before = ledger.balance_of(ledger.STRIPE_BALANCE, "usd")

    row = _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))

    assert (row.status, row.flag_reason, row.applied) == ("flagged", "duplicate_capture", True)
    assert stray in row.outcome
    # The payment and its escrow are untouched.
    held = _payment(payment.id)
    assert (held.status, held.stripe_payment_intent_id, held.refunded_amount) == ("HELD", paid_intent, 0)
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500
    # The money is booked apart: at Stripe, owed back to the payer.
    assert ledger_kinds(payment_id=payment.id) == ["capture", "duplicate_capture"]
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000
    assert ledger.balance_of(ledger.STRIPE_BALANCE, "usd") == stripe_before + 5000
    # The company is told.
    assert any(message.startswith("Charged twice: 50.00 USD") and "being refunded" in message
               for message in _messages(payment.company_id))
    assert not any("Charged twice" in message for message in _messages(payment.influencer_id))
    # The refund was asked of Stripe after the commit, once.
    attempt = _attempt(stray)
    assert (attempt.status, attempt.refund_status) == ("duplicate", "requested")
    refunds = _refunds_at_stripe(stray)
    assert [refund.id for refund in refunds] == [attempt.refund_id]
    assert refunds[0].amount == 5000

    # Its charge.refunded settles the duplicate's own entries, never the payment's.
    db.session.rollback()
    charge = gateway().client.v1.charges.retrieve(attempt.charge_id)
    refunded = _stripe_event("charge.refunded", charge)
    refunded["data"]["object"]["amount_refunded"] = 5000
    assert _apply(app, client, refunded).status == "processed"
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 0
    assert ledger.balance_of(ledger.STRIPE_BALANCE, "usd") == stripe_before
    assert _attempt(stray).refund_status == "refunded"
    held = _payment(payment.id)
    assert (held.status, held.refunded_amount) == ("HELD", 0)
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500
    assert ledger_kinds(payment_id=payment.id) == ["capture", "duplicate_capture", "duplicate_refund"]


def test_the_issue_case_a_refund_of_the_stale_tabs_capture_does_not_refund_the_payment(
    app, client, factory, no_auto_refund
):
    """Intent A declined, B (the retry) paid, A captured anyway, then the operator refunds A's charge."""
    payment, first = _declined_then_retried(client, factory, amount=5000)
    confirmed = client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card()},
                            headers=factory.headers(payment.company))
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "HELD"
    payment = _payment(payment.id)

    success = simulate.build_event("payment_intent.succeeded",
                                   simulate.payment_intent(payment, "succeeded", intent_id=first))
    row = _apply(app, client, success)
    assert (row.status, row.flag_reason) == ("flagged", "duplicate_capture")
    assert _attempt(first).refund_status is None  # left to an operator
    assert any("an operator will refund it" in message for message in _messages(payment.company_id))

    assert _apply(app, client, _charge_event(first, payment, amount_refunded=5000)).status == "processed"
    held = _payment(payment.id)
    assert (held.status, held.refunded_amount) == ("HELD", 0)
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 0


def test_a_refund_of_a_stale_attempt_that_arrives_before_its_capture_waits_and_then_settles_the_duplicate(
    app, client, factory, no_auto_refund
):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    refund = _charge_event(stray, payment, amount_refunded=5000, charge_id=attempts.charge_id_of(_intent_at_stripe(stray).latest_charge))

    waiting = _apply(app, client, refund)
    assert waiting.status == "retrying"
    assert _payment(payment.id).status == "HELD"

    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))
    assert event_row(refund["id"]).status == "processed"
    held = _payment(payment.id)
    assert (held.status, held.refunded_amount) == ("HELD", 0)
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 0


def test_a_capture_of_another_attempt_of_a_canceled_payment_is_booked_apart_and_refunded(app, client, factory):
    payment = factory.payment(amount=5000)
    _apply(app, client, simulate.event_for("payment_intent.canceled", payment=payment))
    assert _payment(payment.id).status == "CANCELED"
    stray = _captured_anyway(factory, payment)

    row = _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))

    assert (row.status, row.flag_reason, row.applied) == ("flagged", "capture_after_cancel", True)
    assert _payment(payment.id).status == "CANCELED"
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000
    assert _attempt(stray).refund_status == "requested"
    assert len(_refunds_at_stripe(stray)) == 1


def test_a_duplicate_found_by_the_cancel_job_is_booked_then_and_its_event_is_flagged(app, client, factory):
    """The stale tab paid A, and B too before B's cancel reached Stripe."""
    payment = factory.payment(amount=5000)
    first = payment.stripe_payment_intent_id
    _apply(app, client, simulate.event_for("payment_intent.payment_failed", payment=payment))
    second = _superseded_without_cancel(_payment(payment.id))
    db.session.rollback()
    gateway().confirm_payment_intent(first, factory.card())
    gateway().confirm_payment_intent(second, factory.card())

    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(first)))

    assert _attempt(second).status == "duplicate"
    assert ledger_kinds(payment_id=payment.id) == ["capture", "duplicate_capture"]
    assert len(_refunds_at_stripe(second)) == 1
    row = _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(second)))
    assert (row.status, row.flag_reason, row.applied) == ("flagged", "duplicate_capture", False)
    assert ledger_kinds(payment_id=payment.id) == ["capture", "duplicate_capture"]


# --- refunds and disputes of a charge that is not the payment's paid charge --------------------


def test_a_refund_of_another_charge_on_the_paid_intent_is_flagged_and_never_changes_the_payment(app, client, factory):
    payment = factory.payment(amount=5000, status="HELD")
    event = _charge_event(payment.stripe_payment_intent_id, payment, amount_refunded=5000, charge_id="ch_not_the_paid_one")
    row = _apply(app, client, event)
    assert (row.status, row.flag_reason, row.applied) == ("flagged", "foreign_charge", False)
    held = _payment(payment.id)
    assert (held.status, held.refunded_amount) == ("HELD", 0)
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500


def test_a_refund_of_the_paid_charge_still_refunds_the_payment(app, client, factory):
    payment = factory.payment(amount=5000, status="HELD")
    row = _apply(app, client, simulate.event_for("charge.refunded", payment=payment, amount=2000))
    assert row.status == "processed"
    assert _payment(payment.id).refunded_amount == 2000


def test_a_dispute_of_a_duplicate_capture_is_flagged_and_never_disputes_the_payment(app, client, factory,
                                                                                    no_auto_refund):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))
    about = SimpleNamespace(id=payment.id, amount=5000, currency="usd", stripe_payment_intent_id=stray)

    opened = _apply(app, client, simulate.build_event("charge.dispute.created", simulate.dispute(about, status="needs_response")))
    assert (opened.status, opened.flag_reason, opened.applied) == ("flagged", "duplicate_dispute", False)
    assert _payment(payment.id).status == "HELD"

    lost = _apply(app, client, simulate.build_event("charge.dispute.closed", simulate.dispute(about, status="lost")))
    assert (lost.status, lost.flag_reason, lost.applied) == ("flagged", "duplicate_dispute", True)
    assert _payment(payment.id).status == "HELD"
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 0


def test_a_dispute_lost_on_a_duplicate_already_refunded_is_flagged_as_money_paid_back_twice(app, client, factory,
                                                                                             no_auto_refund):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))
    charge_id = _attempt(stray).charge_id
    _apply(app, client, _charge_event(stray, payment, amount_refunded=5000, charge_id=charge_id))
    about = SimpleNamespace(id=payment.id, amount=5000, currency="usd", stripe_payment_intent_id=stray)
    dispute = simulate.dispute(about, status="lost")
    dispute["charge"] = charge_id

    row = _apply(app, client, simulate.build_event("charge.dispute.closed", dispute))

    assert (row.status, row.flag_reason, row.applied) == ("flagged", "duplicate_dispute", False)
    assert "paid back twice" in row.outcome
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 0
    assert _payment(payment.id).status == "HELD"


def test_a_dispute_of_another_charge_on_the_paid_intent_is_flagged(app, client, factory):
    payment = factory.payment(amount=5000, status="HELD")
    dispute = simulate.dispute(payment, status="needs_response")
    dispute["charge"] = "ch_not_the_paid_one"
    row = _apply(app, client, simulate.build_event("charge.dispute.created", dispute))
    assert (row.status, row.flag_reason) == ("flagged", "foreign_charge")
    assert _payment(payment.id).status == "HELD"


# --- the refund when Stripe's answer is lost -----------------------------------------------------


@pytest.fixture
def unreliable(localstripe):
    proxy = UnreliableStripe(localstripe.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def app_behind_unreliable_stripe(app, database_url, redis_server, unreliable):
    other = create_app(make_config(database_url, redis_server.url, unreliable.url, WEBHOOK_RETRY_INTERVALS=[0, 0, 0]))
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_duplicate_refund_whose_answer_is_lost_is_asked_again_with_the_same_key_and_made_once(
    app, client, factory, unreliable, app_behind_unreliable_stripe
):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    event = _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray))
    payment_id = payment.id
    # The refund reaches Stripe, and the answers to it and to the library's own retries are lost.
    unreliable.drop_answers("POST", "/v1/refunds", times=3)
    other = app_behind_unreliable_stripe
    db.session.remove()
    with other.app_context():
        body, headers = simulate.signed(event, "whsec_test_payflow")
        assert other.test_client().post("/payments/webhook", data=body, headers=headers).status_code == 200
        run_jobs(other)
        db.session.remove()

    assert unreliable.count("POST", "/v1/refunds") >= 4  # three unanswered, then an answer
    attempt = _attempt(stray)
    assert (attempt.status, attempt.refund_status) == ("duplicate", "requested")
    refunds = _refunds_at_stripe(stray)
    assert [refund.id for refund in refunds] == [attempt.refund_id]
    assert ledger_kinds(payment_id=payment_id) == ["capture", "duplicate_capture"]


def test_a_duplicate_refund_stays_pending_while_its_outcome_is_unknown_and_the_housekeeping_asks_again(
    app, client, factory, unreliable, app_behind_unreliable_stripe
):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    event = _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray))
    unreliable.drop_answers("POST", "/v1/refunds", times=1000)  # Stripe never answers, for now
    other = app_behind_unreliable_stripe
    db.session.remove()
    with other.app_context():
        body, headers = simulate.signed(event, "whsec_test_payflow")
        other.test_client().post("/payments/webhook", data=body, headers=headers)
        run_jobs(other)
        db.session.remove()
    assert _attempt(stray).refund_status == "pending"  # not taken as a refusal
    assert len(_refunds_at_stripe(stray)) == 1  # it did happen at Stripe

    unreliable.rules.clear()  # Stripe answers again
    grace = other.config["WEBHOOK_SWEEP_GRACE_SECONDS"]
    with atomic():
        db.session.execute(update(PaymentAttempt).where(PaymentAttempt.stripe_payment_intent_id == stray)
                           .values(updated_at=utcnow() - timedelta(seconds=grace + 1)))
    db.session.remove()
    with other.app_context():
        redis_client.client.flushdb()
        housekeeping_once(other)
        run_jobs(other)
        db.session.remove()

    attempt = _attempt(stray)
    assert attempt.refund_status == "requested"
    assert [refund.id for refund in _refunds_at_stripe(stray)] == [attempt.refund_id]


def test_a_duplicate_refund_stripe_refuses_is_marked_failed_for_an_operator_and_not_asked_again(app, client, factory):
    """Stripe answers no (here: the intent's charge failed, so there is nothing to refund)."""
    payment, first = _declined_then_retried(client, factory, amount=5000)
    client.post(f"/payments/{payment.id}/confirm", json={"paymentMethod": factory.card()},
                headers=factory.headers(payment.company))
    payment = _payment(payment.id)
    success = simulate.build_event("payment_intent.succeeded",
                                   simulate.payment_intent(payment, "succeeded", intent_id=first))

    row = _apply(app, client, success)

    assert (row.status, row.flag_reason) == ("flagged", "duplicate_capture")
    attempt = _attempt(first)
    assert attempt.refund_status == "failed"
    assert "refused" in attempt.refund_error
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000  # still owed: an operator must look
    db.session.remove()
    housekeeping_once(app)
    run_jobs(app)
    assert _attempt(first).refund_status == "failed"


def test_every_duplicate_ledger_transaction_is_balanced(app, client, factory):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))
    db.session.expire_all()
    for transaction in db.session.scalars(select(LedgerTransaction).where(LedgerTransaction.payment_id == payment.id)):
        assert sum(entry.amount for entry in transaction.entries) == 0
    assert flags.DUPLICATE_CAPTURE in flags.REASONS


# --- a refund of a duplicate capture that fails ------------------------------------------------


@pytest.mark.parametrize("event_type", simulate.REFUND_EVENTS)
def test_a_duplicate_refund_that_fails_after_its_charge_refunded_is_owed_to_the_payer_again_once(
    app, client, factory, localstripe, event_type
):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))
    attempt = _attempt(stray)
    db.session.rollback()
    refunded = _stripe_event("charge.refunded", gateway().client.v1.charges.retrieve(attempt.charge_id))
    assert _apply(app, client, refunded).status == "processed"
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 0
    stripe_after_refund = ledger.balance_of(ledger.STRIPE_BALANCE, "usd")

    # The card refund fails at Stripe: the money is back at the platform, still the payer's.
    requests.post(f"{localstripe.url}/_config/refunds/{attempt.refund_id}/fail", timeout=10).raise_for_status()
    db.session.rollback()
    failed = _stripe_event(event_type, gateway().client.v1.refunds.retrieve(attempt.refund_id))
    row = _apply(app, client, failed)

    assert row.status == "flagged" and row.applied and row.flag_reason == flags.DUPLICATE_CAPTURE
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000
    assert ledger.balance_of(ledger.STRIPE_BALANCE, "usd") == stripe_after_refund + 5000
    attempt = _attempt(stray)
    assert (attempt.refunded_amount, attempt.refund_status) == (0, "failed")
    assert any(message.startswith("Refund of the second charge failed") for message in _messages(payment.company_id))
    held = _payment(payment.id)
    assert (held.status, held.refunded_amount) == ("HELD", 0)
    assert wallet_view(payment.influencer_id, "usd")["pendingBalance"] == 4500

    # Delivered again, or reported by another of the refund events: nothing more moves.
    assert deliver(client, failed).get_json()["duplicate"] is True
    for other_type in simulate.REFUND_EVENTS:
        if other_type != event_type:
            assert _apply(app, client, simulate.build_event(other_type, failed["data"]["object"])).status == "ignored"
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000

    # A refunded total after that may still count the failed refund: held for an operator, not booked.
    stale = simulate.build_event("charge.refunded", refunded["data"]["object"])
    row = _apply(app, client, stale)
    assert (row.status, row.flag_reason, row.applied) == ("flagged", flags.DUPLICATE_CAPTURE, False)
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000


def test_a_duplicate_refund_that_fails_before_its_charge_refunded_books_nothing_and_its_stale_total_is_held(
    app, client, factory, localstripe
):
    payment = factory.payment(amount=5000, status="HELD")
    stray = _captured_anyway(factory, payment)
    _apply(app, client, _stripe_event("payment_intent.succeeded", _intent_at_stripe(stray)))
    attempt = _attempt(stray)
    db.session.rollback()
    refunded = _stripe_event("charge.refunded", gateway().client.v1.charges.retrieve(attempt.charge_id))
    requests.post(f"{localstripe.url}/_config/refunds/{attempt.refund_id}/fail", timeout=10).raise_for_status()
    db.session.rollback()
    failed = _stripe_event("refund.failed", gateway().client.v1.refunds.retrieve(attempt.refund_id))

    row = _apply(app, client, failed)
    assert (row.status, row.flag_reason) == ("flagged", flags.DUPLICATE_CAPTURE)
    assert (_attempt(stray).refund_status, _attempt(stray).refunded_amount) == ("failed", 0)
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000

    assert _apply(app, client, refunded).status == "flagged"  # its total still counts the failed refund
    assert ledger.balance_of(ledger.DUPLICATE_CAPTURES, "usd") == 5000
    assert "duplicate_refund_reversed" not in ledger_kinds(payment_id=payment.id)
    assert _payment(payment.id).refunded_amount == 0
