"""Webhook processing under faults: Redis down, a worker killed mid-job, the database down,
retries and dead letters, events out of order, a burst of redeliveries, and pruning.

Everything here is real: PostgreSQL or SQLite, redis-server processes, RQ workers
(in-process burst workers, or ``flask --app wsgi worker`` subprocesses).

On SQLite every transaction takes the write lock (``BEGIN IMMEDIATE``), so the test's
own session is released (``_release``) before another session (a worker, a second
app, a served request) has to write.
"""
from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from rq import Queue
from sqlalchemy import update

from devstack import RedisServer, WorkerProcess
from jobs.worker import QUEUES, PayflowWorker, housekeeping_once
from payflow import create_app, ledger, payments, payouts
from payflow.extensions import db, redis_client
from payflow.models import LedgerTransaction, Notification, Payment, Payout, WebhookEvent, utcnow
from payflow.money import split
from payflow.unit_of_work import atomic
from payflow.wallet import wallet_view
from payflow.webhooks import inbox, simulate

from .conftest import make_config
from .services import process_environment
from .webhook_helpers import SECRET, ServedApp, count, deliver, event_row, ledger_kinds, wait_until

# --- helpers ---------------------------------------------------------------------------


def _release() -> None:
    """End the test's own transaction (on SQLite it holds the database's write lock)."""
    db.session.remove()


def _work(app) -> None:
    """Run a real burst worker for ``app`` (on ``app``'s Redis) until its queues are empty."""
    _release()
    with app.app_context():
        connection = redis_client.client
        worker = PayflowWorker([Queue(name, connection=connection) for name in QUEUES], connection=connection, app=app)
        worker.work(burst=True)
        db.session.remove()


def _app_with(database_url, redis_url, stripe_url, **overrides):
    return create_app(make_config(database_url, redis_url, stripe_url, **overrides))


def _dispose(app) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _payment(payment_id: str) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment_id)


def _payout(payout_id: str) -> Payout:
    db.session.expire_all()
    return db.session.get(Payout, payout_id)


def _captures(payment_id: str) -> int:
    return count(LedgerTransaction, LedgerTransaction.payment_id == payment_id, LedgerTransaction.kind == "capture")


def _payout_event(event_type: str, payout_id: str, *, amount=1000, currency="eur", status="paid") -> dict:
    """A payout event in Stripe's shape for a payflow payout id that may not exist."""
    now = int(time.time())
    return simulate.build_event(event_type, {
        "id": f"po_{secrets.token_hex(12)}",
        "object": "payout",
        "amount": amount,
        "currency": currency,
        "status": status,
        "metadata": {"payout_id": payout_id},
        "failure_code": None,
        "failure_message": None,
        "arrival_date": now + 86400,
        "livemode": False,
        "created": now,
    })


def _payout_row(factory, payout_id: str, amount=1000, currency="eur") -> Payout:
    """A PENDING payout with a chosen id, its money moved out of a funded wallet."""
    influencer = factory.funded_influencer(amount=10000, currency=currency)
    with atomic():
        payout = Payout(id=payout_id, influencer_id=influencer.id, amount=amount, currency=currency, status=payouts.PENDING)
        db.session.add(payout)
        db.session.flush()
        ledger.payout_requested(payout)
    return payout


def _make_due(event_id: str) -> None:
    """Move a retrying event's next attempt into the past, as if its backoff had elapsed."""
    with atomic():
        db.session.execute(
            update(WebhookEvent).where(WebhookEvent.id == event_id).values(next_attempt_at=utcnow() - timedelta(minutes=5))
        )


@pytest.fixture
def private_redis():
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


# --- 1. Redis down ---------------------------------------------------------------------


def test_events_that_arrive_while_redis_is_down_are_answered_recorded_and_applied_once_it_is_back(
    migrated_app, app, factory, database_url, localstripe, private_redis
):
    """Redis dies: deliveries still get 200 and wait in the inbox; the sweep queues them when it is back."""
    events, payment_ids = [], []
    for _ in range(4):
        payment = factory.payment()
        events.append(simulate.event_for("payment_intent.succeeded", payment=payment))
        payment_ids.append(payment.id)
    _release()
    app2 = _app_with(database_url, private_redis.url, localstripe.url)
    try:
        client2 = app2.test_client()
        assert deliver(client2, events[0]).status_code == 200

        private_redis.kill()  # the queued job dies with it: this Redis keeps nothing on disk
        for event in events[1:]:
            response = deliver(client2, event)
            assert response.status_code == 200, response.get_data(as_text=True)
            assert response.get_json() == {"received": True, "eventType": "payment_intent.succeeded"}

        assert count(WebhookEvent) == 4
        assert event_row(events[0]["id"]).status == inbox.RECEIVED
        assert [event_row(e["id"]).status for e in events[1:]] == [inbox.UNQUEUED] * 3
        assert {_payment(pid).status for pid in payment_ids} == {payments.PENDING}

        # The first event's job was lost with Redis; once the sweep's grace has passed it is overdue too.
        grace = app2.config["WEBHOOK_SWEEP_GRACE_SECONDS"]
        with atomic():
            db.session.execute(
                update(WebhookEvent).where(WebhookEvent.id == events[0]["id"])
                .values(received_at=utcnow() - timedelta(seconds=grace + 1))
            )
        _release()

        private_redis.start()
        housekeeping_once(app2)
        with app2.app_context():
            assert inbox.queue().count == 4
        _work(app2)

        for payment_id, event in zip(payment_ids, events):
            assert _payment(payment_id).status == payments.HELD
            assert _captures(payment_id) == 1
            assert event_row(event["id"]).status == inbox.PROCESSED
    finally:
        _dispose(app2)


# --- 2. worker killed mid-job ----------------------------------------------------------


def _worker_env(database_url, redis_url, stripe_url) -> dict:
    return process_environment(database_url, redis_url, stripe_url,
                               WEBHOOK_SWEEP_INTERVAL_SECONDS=1, WEBHOOK_SWEEP_GRACE_SECONDS=2)


def _waiting_on_payment_lock(monitor) -> bool:
    row = monitor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query ILIKE '%FROM payments%FOR UPDATE%'"
    ).fetchone()
    return row[0] > 0


@pytest.mark.backends("postgresql")
def test_a_worker_killed_mid_job_leaves_nothing_applied_and_a_new_worker_applies_the_event_once(
    app, client, factory, database_url, redis_server, localstripe
):
    """SIGKILL while the job waits inside its transaction: nothing half-done, then applied exactly once."""
    import psycopg

    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    payment_id, parties = payment.id, (payment.company_id, payment.influencer_id)
    env = _worker_env(database_url, redis_server.url, localstripe.url)
    log = Path(tempfile.mkdtemp(prefix="payflow-workers-")) / "workers.log"
    workers: list[WorkerProcess] = []

    def start_worker() -> WorkerProcess:
        # killed below with the scheduler RQ forks beside it, as with the machine or container
        process = WorkerProcess(env, log=log)
        workers.append(process)
        return process

    blocker = psycopg.connect(database_url)
    monitor = psycopg.connect(database_url, autocommit=True)
    try:
        blocker.execute("SELECT id FROM payments WHERE id = %s FOR UPDATE", (payment_id,))
        first = start_worker()
        assert deliver(client, event).status_code == 200
        _release()
        try:
            wait_until(lambda: _waiting_on_payment_lock(monitor), timeout=30, interval=0.1)
        except AssertionError:
            pytest.fail(f"the worker never reached the payment lock; its log:\n{log.read_text()}")

        first.kill()
        row = event_row(event["id"])
        assert (row.status, row.attempts) == (inbox.RECEIVED, 0)
        assert _payment(payment_id).status == payments.PENDING
        _release()
        blocker.rollback()  # the killed worker's orphaned transaction ends as soon as it gets the lock

        start_worker()
        try:
            wait_until(lambda: event_row(event["id"]).status in inbox.FINAL, timeout=30, interval=0.2)
        except AssertionError:
            pytest.fail(f"the event was never applied; worker log:\n{log.read_text()}")
        assert event_row(event["id"]).status == inbox.PROCESSED
        assert _payment(payment_id).status == payments.HELD
        assert _captures(payment_id) == 1
        for user_id in parties:
            assert count(Notification, Notification.payment_id == payment_id, Notification.user_id == user_id) == 1
    finally:
        for process in workers:
            process.close()
        blocker.close()
        monitor.close()
        shutil.rmtree(log.parent, ignore_errors=True)
        _release()


# --- 3. database down ------------------------------------------------------------------


def test_a_webhook_is_answered_503_with_a_json_error_when_the_database_is_down(redis_server, localstripe):
    """Stripe retries a 503; a 500 would say the event itself is broken."""
    down = create_app(make_config("postgresql://postgres@127.0.0.1:1/nothing", redis_server.url, localstripe.url))
    client = down.test_client()
    event = simulate.build_event("payment_intent.succeeded", {
        "id": "pi_123", "object": "payment_intent", "amount": 100, "currency": "usd", "status": "succeeded"})

    body, headers = simulate.signed(event, SECRET)
    response = client.post("/payments/webhook", data=body, headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"

    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["database"].startswith("unreachable")
    assert ready.get_json()["checks"]["redis"] == "ok"


# --- 4. retries, dead letters, flags, replay -------------------------------------------


@pytest.fixture
def fast_retry_app(app, database_url, redis_server, localstripe):
    """The app with retries that are due at once, so a burst worker runs every attempt."""
    fast = _app_with(database_url, redis_server.url, localstripe.url, WEBHOOK_RETRY_INTERVALS=[0, 0])
    yield fast
    _dispose(fast)


def test_an_event_that_keeps_failing_is_retried_then_dead_lettered(fast_retry_app):
    """Three attempts (one plus two retries), then 'dead' with the last error kept for an operator."""
    event = _payout_event("payout.paid", "po_missing")
    _release()
    assert deliver(fast_retry_app.test_client(), event).status_code == 200
    _work(fast_retry_app)

    row = event_row(event["id"])
    assert row.status == inbox.DEAD
    assert row.attempts == 3
    assert row.next_attempt_at is None
    assert event["data"]["object"]["id"] in row.last_error
    assert count(LedgerTransaction) == 0


def test_a_success_whose_amount_differs_from_the_payment_is_flagged_and_not_applied(app, client, factory):
    """Stripe says 51.00 for a 50.00 payment: an operator looks; nothing moves."""
    payment = factory.payment(amount=5000)
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    event["data"]["object"]["amount"] = event["data"]["object"]["amount_received"] = 5100
    payment_id = payment.id
    assert deliver(client, event).status_code == 200
    _work(app)

    row = event_row(event["id"])
    assert row.status == inbox.FLAGGED
    assert "5100" in row.last_error
    assert _payment(payment_id).status == payments.PENDING
    assert ledger_kinds(payment_id=payment_id) == []


def test_a_dead_event_replayed_from_the_cli_is_queued_again_and_applied(fast_retry_app, factory):
    """Once the operator has fixed the cause, ``flask webhooks replay ID`` applies the dead event."""
    event = _payout_event("payout.paid", "po_replayed")
    _release()
    assert deliver(fast_retry_app.test_client(), event).status_code == 200
    _work(fast_retry_app)
    assert event_row(event["id"]).status == inbox.DEAD

    _payout_row(factory, "po_replayed")
    _release()
    result = fast_retry_app.test_cli_runner().invoke(args=["webhooks", "replay", event["id"]])
    assert result.exit_code == 0, result.output
    assert "queued" in result.output
    row = event_row(event["id"])
    assert (row.status, row.attempts) == (inbox.RECEIVED, 0)

    _work(fast_retry_app)
    assert event_row(event["id"]).status == inbox.PROCESSED
    assert _payout("po_replayed").status == payouts.COMPLETED
    assert ledger_kinds(payout_id="po_replayed") == ["payout", "payout_paid"]


def test_replaying_an_unknown_event_from_the_cli_fails(fast_retry_app):
    result = fast_retry_app.test_cli_runner().invoke(args=["webhooks", "replay", "evt_never_recorded"])
    assert result.exit_code != 0
    assert "no recorded event evt_never_recorded" in result.output


# --- 5, 6. out of order ----------------------------------------------------------------


def test_a_payout_event_that_arrives_before_its_payout_row_is_retried_and_then_applied(app, client, factory):
    """Not dropped: 'retrying' with a due time, and applied once the row exists."""
    event = _payout_event("payout.paid", "po_later", amount=1000, currency="eur")
    assert deliver(client, event).status_code == 200
    _work(app)

    row = event_row(event["id"])
    assert row.status == inbox.RETRYING
    assert row.attempts == 1
    assert row.next_attempt_at is not None and row.next_attempt_at > utcnow()
    assert event["data"]["object"]["id"] in row.last_error

    payout = _payout_row(factory, "po_later", amount=1000, currency="eur")
    influencer_id = payout.influencer_id
    _make_due(event["id"])
    _release()
    assert inbox.sweep() == 1
    _work(app)

    assert event_row(event["id"]).status == inbox.PROCESSED
    assert _payout("po_later").status == payouts.COMPLETED
    assert _payout("po_later").stripe_payout_id == event["data"]["object"]["id"]
    assert ledger_kinds(payout_id="po_later") == ["payout", "payout_paid"]
    assert wallet_view(influencer_id, "eur")["availableBalance"] == 9000


def test_a_refund_that_arrives_before_its_payments_success_waits_for_it_and_then_applies(app, client, factory):
    payment = factory.payment(amount=5000, currency="usd")
    refund = simulate.event_for("charge.refunded", payment=payment, amount=1000)
    success = simulate.event_for("payment_intent.succeeded", payment=payment)
    payment_id, influencer_id, fee_bps = payment.id, payment.influencer_id, payment.fee_bps

    assert deliver(client, refund).status_code == 200
    _work(app)
    assert event_row(refund["id"]).status == inbox.RETRYING
    assert _payment(payment_id).status == payments.PENDING

    # The success wakes the refund that waited for it: no need to wait for its next retry.
    assert deliver(client, success).status_code == 200
    _work(app)

    assert event_row(success["id"]).status == inbox.PROCESSED
    assert event_row(refund["id"]).status == inbox.PROCESSED
    paid = _payment(payment_id)
    assert paid.status == payments.PARTIALLY_REFUNDED
    assert paid.refunded_amount == 1000
    assert ledger_kinds(payment_id=payment_id) == ["capture", "refund"]
    assert wallet_view(influencer_id, "usd")["pendingBalance"] == split(4000, fee_bps)[1]
    response = client.get(f"/payments/{payment_id}", headers=factory.headers(db.session.get(Payment, payment_id).company))
    assert response.get_json()["refundedAmount"] == 1000


# --- 7. a burst of redeliveries --------------------------------------------------------


def test_twenty_simultaneous_deliveries_of_one_event_are_recorded_and_applied_once(app, factory):
    """Over real HTTP, all at once: one recorded delivery, nineteen duplicates, one capture."""
    payment = factory.payment()
    event = simulate.event_for("payment_intent.succeeded", payment=payment)
    payment_id, event_id = payment.id, event["id"]
    body, headers = simulate.signed(event, SECRET)
    _release()

    served = ServedApp(app)
    barrier = threading.Barrier(20)
    answers: list = [None] * 20

    def post(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            response = requests.post(f"{served.url}/payments/webhook", data=body, headers=headers, timeout=60)
            answers[index] = (response.status_code, response.json())
        except Exception as exc:  # kept for the assertion below
            answers[index] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    finally:
        served.stop()

    assert all(isinstance(answer, tuple) and answer[0] == 200 for answer in answers), answers
    assert sum(1 for _, answer in answers if not answer.get("duplicate")) == 1
    assert count(WebhookEvent) == 1
    _work(app)
    assert event_row(event_id).status == inbox.PROCESSED
    assert _payment(payment_id).status == payments.HELD
    assert _captures(payment_id) == 1


# --- 8. pruning ------------------------------------------------------------------------


def _recorded(status: str, age: timedelta) -> str:
    event = simulate.build_event("customer.created", {"id": f"cus_{secrets.token_hex(8)}", "object": "customer"})
    inbox.record(event, json.dumps(event))
    with atomic():
        db.session.execute(
            update(WebhookEvent).where(WebhookEvent.id == event["id"]).values(status=status, received_at=utcnow() - age)
        )
    return event["id"]


def test_pruning_deletes_only_finished_events_older_than_30_days(app):
    old, recent = timedelta(days=31), timedelta(days=29)
    _recorded(inbox.PROCESSED, old)
    _recorded(inbox.IGNORED, timedelta(days=90))
    kept = {
        _recorded(inbox.DEAD, old),
        _recorded(inbox.FLAGGED, old),
        _recorded(inbox.RETRYING, old),
        _recorded(inbox.PROCESSED, recent),
        _recorded(inbox.IGNORED, recent),
    }

    assert inbox.prune(retention_days=7) == 2  # a shorter retention is raised to 30 days
    db.session.expire_all()
    assert set(db.session.scalars(db.select(WebhookEvent.id))) == kept


def test_the_worker_housekeeping_prunes_old_events(app):
    """Pruning runs on the worker's schedule, not only by hand."""
    gone = _recorded(inbox.PROCESSED, timedelta(days=40))
    stays = _recorded(inbox.PROCESSED, timedelta(days=1))
    _release()
    housekeeping_once(app)
    assert event_row(gone) is None
    assert event_row(stays) is not None
