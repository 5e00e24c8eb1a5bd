"""Delivering signed events and running real RQ workers, for the webhook tests."""
from __future__ import annotations

import threading
import time

from rq import Queue
from sqlalchemy import func, select
from werkzeug.serving import make_server

from jobs.worker import PayflowWorker, QUEUES
from payflow.extensions import db, redis_client
from payflow.models import LedgerTransaction, WebhookEvent
from payflow.webhooks import simulate

SECRET = "whsec_test_payflow"


def release_test_session() -> None:
    """End the test's own read transaction: on SQLite it holds the write lock (BEGIN
    IMMEDIATE) that the request or worker about to run needs."""
    db.session.rollback()


def deliver(client, event: dict, *, secret: str = SECRET, timestamp: int | None = None):
    release_test_session()
    body, headers = simulate.signed(event, secret, timestamp=timestamp)
    return client.post("/payments/webhook", data=body, headers=headers)


def run_jobs(app) -> None:
    """Process everything queued, in this process, with payflow's real worker class."""
    release_test_session()
    connection = redis_client.client
    worker = PayflowWorker([Queue(name, connection=connection) for name in QUEUES], connection=connection, app=app)
    worker.work(burst=True)


def event_row(event_id: str) -> WebhookEvent | None:
    db.session.expire_all()
    return db.session.get(WebhookEvent, event_id)


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def ledger_kinds(payment_id=None, payout_id=None) -> list[str]:
    db.session.expire_all()
    query = select(LedgerTransaction.kind).order_by(LedgerTransaction.created_at)
    if payment_id:
        query = query.where(LedgerTransaction.payment_id == payment_id)
    if payout_id:
        query = query.where(LedgerTransaction.payout_id == payout_id)
    return list(db.session.scalars(query))


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        release_test_session()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


class ServedApp:
    """The app on a real port (threaded), so that other processes can post to it."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
